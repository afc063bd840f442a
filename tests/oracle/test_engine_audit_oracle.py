"""Core-engine differences from PyTorch found by an audit, each checked against torch (float64 where values and
gradients are compared): dtype promotion across categories, pow's gradients at exponent 0 and base <= 0,
reductions over an empty ``dim``, var/std of too few elements, max/min over dim 0 of a 0-d tensor, casts to
integer dtypes leaving the graph."""
from __future__ import annotations

import numpy as np
import pytest

import scratchcnn as sc
import scratchcnn.functional as F

from .helpers import compare_with_torch

F32, F64, I64, I32, B = np.float32, np.float64, np.int64, np.int32, np.bool_

# (name, left operand, right operand): arrays become tensors (0-d ones stay 0-d); Python numbers stay scalars
PROMOTION_CASES = [
    ("f32 tensor * i64 tensor", np.array([1.5, 2.5], F32), np.array([2, 3], I64)),
    ("i64 tensor + f32 tensor", np.array([2, 3], I64), np.array([1.5, 2.5], F32)),
    ("f64 tensor - i32 tensor", np.array([1.5, 2.5], F64), np.array([2, 3], I32)),
    ("i64 tensor + python float", np.array([1, 2], I64), 1.5),
    ("python float * i64 tensor", 0.5, np.array([1, 2], I64)),
    ("i64 tensor ** python float", np.array([1, 4], I64), 0.5),
    ("python float ** i64 tensor", 2.0, np.array([1, 3], I64)),
    ("f32 tensor ** i64 tensor", np.array([1.5, 2.5], F32), np.array([2, 3], I64)),
    ("bool tensor + python float", np.array([True, False]), 1.5),
    ("bool tensor + python int", np.array([True, False]), 2),
    ("bool tensor * f32 tensor", np.array([True, False]), np.array([1.5, 2.5], F32)),
    ("f32 tensor + i64 0-d", np.array([1.5, 2.5], F32), np.array(3, I64)),
    ("i64 tensor + f32 0-d", np.array([1, 2], I64), np.array(0.5, F32)),
    ("i64 tensor + f64 0-d", np.array([1, 2], I64), np.array(0.5, F64)),
    ("f32 tensor + f64 0-d", np.array([1.5, 2.5], F32), np.array(0.25, F64)),
    ("f32 0-d + f64 0-d", np.array(1.5, F32), np.array(0.25, F64)),
    ("i64 tensor + np.float32 scalar", np.array([1, 2], I64), np.float32(0.5)),
    ("i64 tensor + np.float64 scalar", np.array([1, 2], I64), np.float64(0.5)),
]


def _torch_runs(case: tuple, op: str) -> bool:
    """Combinations torch itself takes: torch.maximum needs two tensors, and torch refuses subtraction with a
    bool tensor."""
    _, x, y = case
    if op == "maximum":
        return isinstance(x, np.ndarray) and isinstance(y, np.ndarray)
    return not (op == "sub" and isinstance(x, np.ndarray) and x.dtype == np.bool_)


PROMOTION_PARAMS = [pytest.param(*case, op, id=f"{case[0]}-{op}") for op in ("add", "sub", "mul", "div", "pow",
                                                                            "maximum")
                    for case in PROMOTION_CASES if _torch_runs(case, op)]


@pytest.mark.parametrize("name,x,y,op", PROMOTION_PARAMS)
def test_mixed_category_promotion_matches_torch(torch, name, x, y, op):
    """The result dtype (and value) of a float / integer / bool mix is PyTorch's ``result_type``: an integer
    tensor times a float32 tensor stays float32 (NumPy would give float64), an integer tensor times a Python
    float gives the default float dtype (float32 in both libraries here)."""
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)        # the same default float dtype as scratchcnn's
    try:
        def wrap_t(v):
            return torch.from_numpy(np.array(v)) if isinstance(v, np.ndarray) else v

        def wrap_s(v):
            return sc.Tensor(v) if isinstance(v, np.ndarray) else v
        t_fn = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow,
                "maximum": torch.maximum}[op]
        if not isinstance(x, np.ndarray):            # torch.pow(scalar, tensor) and friends: use the operators
            t_fn = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
                    "div": lambda a, b: a / b, "pow": lambda a, b: a ** b}[op]
        want = t_fn(wrap_t(x), wrap_t(y))
        got = getattr(F, op)(wrap_s(x), wrap_s(y))
        assert str(got.dtype) == str(want.dtype).replace("torch.", ""), (name, op, got.dtype, want.dtype)
        np.testing.assert_allclose(got.data, want.numpy(), rtol=1e-6)
    finally:
        torch.set_default_dtype(prev)


def test_float_gradient_through_integer_mix_matches_torch(torch):
    """The float operand's gradient keeps its dtype and value when mixed with an integer tensor or scalar."""
    xv = np.array([0.5, 1.5, -2.0], F32)
    k = np.array([2, 3, 4], I64)
    x = sc.Tensor(xv.copy(), requires_grad=True)
    tx = torch.tensor(xv.copy(), requires_grad=True)
    out = (x * sc.Tensor(k) + sc.Tensor(k) / x).sum()
    tout = (tx * torch.from_numpy(k) + torch.from_numpy(k) / tx).sum()
    out.backward()
    tout.backward()
    assert out.dtype == np.float32 and x.grad.dtype == np.float32
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("exponent", [0, 0.0, 1, 2, 3, -1, 0.5])
def test_pow_scalar_exponent_gradient_matches_torch(torch, exponent):
    """d(x**0)/dx is 0 everywhere, also at x = 0 (was 0 * 0^-1 = nan); other exponents as before."""
    x = np.array([0.0, -0.0, 1.0, -1.5, 2.0, 3.0])
    if exponent in (-1, 0.5):
        x = np.array([0.5, 1.0, 2.0, 3.0])
    compare_with_torch(torch, lambda a: a ** exponent, lambda a: a ** exponent, [x])


def test_pow_tensor_exponent_gradients_match_torch(torch):
    """Both gradients of a ** b with tensors: 0 w.r.t. a where b == 0; w.r.t. b, a^b log(a): nan for a < 0
    (PyTorch's rule; it was 0), 0 where a == 0 and b >= 0, -inf where a == 0 and b < 0."""
    a = np.array([0.0, 0.0, 2.0, -2.0, -2.0, 0.0, 1.5, 3.0])
    b = np.array([0.0, 2.0, 0.0, 2.0, 3.0, -1.0, 0.5, -2.0])
    compare_with_torch(torch, F.pow, torch.pow, [a, b])
    # broadcast exponent (one per column) with a zero in it
    a2 = np.array([[0.0, 1.5, 2.0], [3.0, 0.0, 0.5]])
    b2 = np.array([0.0, 2.0, 1.0])
    compare_with_torch(torch, F.pow, torch.pow, [a2, b2])


@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin"])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [(), []])
def test_empty_dim_reduces_every_dim_like_torch(torch, op, keepdim, dim):
    """PyTorch reads ``dim=()`` / ``dim=[]`` as every dim; it used to reduce nothing here."""
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    compare_with_torch(torch, lambda a: getattr(a, op)(dim, keepdim=keepdim),
                       lambda a: getattr(a, op)(dim, keepdim=keepdim), [x])


@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std_over_empty_dim_match_torch_forward(torch, op):
    """var/std over ``dim=()`` are over every element (torch's forward; its backward for this spelling is
    inf, so the gradient is checked against ``dim=None``, which torch differentiates correctly)."""
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    a = sc.Tensor(x.copy(), requires_grad=True)
    got = getattr(a, op)(())
    want = getattr(torch.tensor(x), op)(())
    np.testing.assert_allclose(got.data, want.numpy(), rtol=1e-12)
    got.backward()
    t = torch.tensor(x.copy(), requires_grad=True)
    getattr(t, op)().backward()
    np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-10)


@pytest.mark.filterwarnings("ignore:.*degrees of freedom")
@pytest.mark.parametrize("op", ["var", "std"])
@pytest.mark.parametrize("shape,dim", [((1,), None), ((2, 1), 1), ((1, 3), 0)])
def test_var_std_of_one_element_give_nan_like_torch(torch, op, shape, dim):
    """One element with Bessel's correction: nan value and nan gradient, as torch (the backward used to raise
    ZeroDivisionError)."""
    x = np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape)
    if dim is None:
        compare_with_torch(torch, lambda a: getattr(a, op)(), lambda a: getattr(a, op)(), [x])
    else:
        compare_with_torch(torch, lambda a: getattr(a, op)(dim), lambda a: getattr(a, op)(dim), [x])


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("dim", [0, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_over_dim_of_0d_tensor_match_torch(torch, op, dim, keepdim):
    x = sc.Tensor(np.array(2.5), requires_grad=True)
    tx = torch.tensor(2.5, requires_grad=True)
    values, indices = getattr(x, op)(dim, keepdim=keepdim)
    tvalues, tindices = getattr(tx, op)(dim, keepdim=keepdim)
    assert values.shape == tuple(tvalues.shape) and indices.shape == tuple(tindices.shape)
    assert values.item() == tvalues.item() and indices.item() == tindices.item() == 0
    values.backward()
    tvalues.backward()
    assert x.grad == tx.grad.item() == 1.0


def test_cast_to_integer_leaves_the_graph_like_torch(torch):
    """``x.astype(int64)`` does not require grad (torch: ``x.to(torch.int64).requires_grad`` is False); the
    integer result used to stay in the graph and pass a truncated gradient back to x."""
    x = sc.Tensor(np.array([1.4, 2.6]), requires_grad=True)
    tx = torch.tensor([1.4, 2.6], requires_grad=True)
    for dt, tdt in ((np.int64, torch.int64), (np.bool_, torch.bool)):
        y, ty = x.astype(dt), tx.to(tdt)
        assert y.requires_grad == ty.requires_grad is False
        assert y.grad_fn is None
    with pytest.raises(RuntimeError):
        (x.astype(np.int64) * 2.5).sum().backward()
    with pytest.raises(RuntimeError):
        (tx.to(torch.int64) * 2.5).sum().backward()
    assert x.grad is None


@pytest.mark.parametrize("value, spec", [(3.14159, ".2f"), (3.14159, ""), (7, "d"), (7, "04d"), (True, ""),
                                         (2.5e-8, ".3e")])
def test_zero_d_tensor_formats_like_torch(torch, value, spec):
    assert format(sc.tensor(np.array(value)), spec) == format(torch.tensor(np.array(value)), spec)


def test_formatting_a_tensor_with_dimensions_needs_an_empty_spec(torch):
    for lib in (sc, torch):
        with pytest.raises(TypeError, match="unsupported format string"):
            format(lib.tensor([1.0]), ".2f")


def test_comparison_with_an_object_numpy_cannot_handle_lets_the_object_answer(torch):
    """``tensor == pytest.approx(x)``: torch returns NotImplemented from its TypeError, so approx compares."""
    for lib in (sc, torch):
        assert bool(lib.tensor(0.5) == pytest.approx(0.5 + 1e-9))
        assert not bool(lib.tensor(0.5) != pytest.approx(0.5))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_grad_norm_returns_a_0d_tensor_like_torch(torch, dtype):
    g = np.array([3.0, -4.0], dtype=dtype)
    from scratchcnn import nn
    p = nn.Parameter(np.zeros(2, dtype=dtype))
    p.grad = g.copy()
    t = torch.zeros(2, dtype=torch.from_numpy(g).dtype, requires_grad=True)
    t.grad = torch.from_numpy(g.copy())
    ours, theirs = nn.utils.clip_grad_norm_([p], 1.0), torch.nn.utils.clip_grad_norm_([t], 1.0)
    assert isinstance(ours, sc.Tensor) and ours.shape == () and ours.dtype == theirs.numpy().dtype
    assert float(ours) == float(theirs) == 5.0 and f"{ours:.1f}" == f"{theirs:.1f}" == "5.0"


@pytest.mark.parametrize("values", [[2.0, -0.5, 1e-300, 1e200, 0.0, -0.0, np.inf, np.nan], [1, 2, -4]])
def test_reciprocal_and_scalar_over_tensor_match_torch(torch, float64_default_dtype, values):
    """reciprocal (gradient -g * (1/a)^2) and ``s / t``, which both libraries compute as ``t.reciprocal() * s``:
    the same values, dtypes and inf/nan gradients for tiny, huge and infinite operands."""
    a = np.array(values)
    with np.errstate(all="ignore"):
        for s in (3.0, 0.0, np.inf, -2):
            if a.dtype.kind == "f":
                compare_with_torch(torch, lambda x: s / x, lambda x: s / x, [a], rtol=0, atol=0)
                compare_with_torch(torch, lambda x: x.reciprocal(), lambda x: x.reciprocal(), [a], rtol=0, atol=0)
            else:
                ours, theirs = s / sc.tensor(a), s / torch.tensor(a)
                assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
                np.testing.assert_array_equal(ours.data, theirs.numpy())


@pytest.mark.parametrize("name", ["mean", "var", "std"])
@pytest.mark.parametrize("values", [[1, 2, 3], [True, False]])
def test_mean_var_std_of_integer_or_bool_tensors_are_refused_like_torch(torch, name, values):
    """PyTorch has no output dtype for them and raises; scratchcnn answered in float64. Floats still work."""
    with pytest.raises(RuntimeError):
        getattr(torch.tensor(values), name)()
    with pytest.raises(TypeError, match=rf"{name}\(\): needs a floating tensor, got dtype .*t\.float\(\)\.{name}\(\)"):
        getattr(sc.tensor(values), name)()
    assert float(getattr(sc.tensor(values).float(), name)()) == pytest.approx(
        float(getattr(torch.tensor(values).double(), name)()))
