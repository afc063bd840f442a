"""Differential fuzzing of the tensor/autograd engine against PyTorch in float64 (values AND gradients, rtol 1e-10)
plus float32 dtype behaviour: broadcasting binary ops with scalars on either side and inf/nan/tiny values,
reductions over dim tuples/negative dims/keepdim, shape ops, matmul of 1-D/2-D/batched operands, indexing, and
the errors PyTorch raises (out-of-range or repeated dims, mismatched shapes)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchcnn as sc
import scratchcnn.functional as F

SETTINGS = settings(max_examples=60, deadline=None)
TIGHT = dict(rtol=1e-10, atol=1e-12, equal_nan=True)


def _run_both(torch, fs, ft, arrays, grad_mask, seed=0):
    """Run ``fs`` on scratchcnn tensors and ``ft`` on torch tensors of float64 copies of ``arrays`` (non-arrays
    pass as they are); assert equal shapes, dtypes, values and input gradients (for a random output gradient)."""
    si = [sc.Tensor(a.copy(), requires_grad=m) if isinstance(a, np.ndarray) else a for a, m in zip(arrays, grad_mask)]
    ti = [torch.tensor(a.copy(), requires_grad=m) if isinstance(a, np.ndarray) else a
          for a, m in zip(arrays, grad_mask)]
    out_s, out_t = fs(*si), ft(*ti)
    assert out_s.shape == tuple(out_t.shape)
    assert str(out_s.dtype) == str(out_t.dtype).replace("torch.", "")
    np.testing.assert_allclose(out_s.data, out_t.detach().numpy(), err_msg="forward", **TIGHT)
    if not any(grad_mask):
        return
    assert out_s.requires_grad == out_t.requires_grad
    g = np.random.default_rng(seed).standard_normal(out_t.shape)
    out_s.backward(g)
    out_t.backward(torch.tensor(g))
    for i, (a, b, m) in enumerate(zip(si, ti, grad_mask)):
        if m:
            assert a.grad is not None, f"no gradient reached input {i}"
            np.testing.assert_allclose(a.grad, b.grad.numpy(), err_msg=f"grad of input {i}", **TIGHT)


# ----------------------------------------------------------------------------------------- binary elementwise
BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / b, "pow": lambda a, b: a ** b}
SPECIAL = [0.0, -0.0, 1.0, -1.0, 2.0, -2.5, 0.5, 3.0, 1e-300, -1e-170, 1e200, np.inf, -np.inf, np.nan]


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       op=st.sampled_from(list(BINARY)), side=st.sampled_from(["tensors", "scalar left", "scalar right"]),
       data=st.data())
def test_binary_ops_values_and_gradients_match_torch(torch, shapes, op, side, data):
    """+ - * / ** with broadcasting, Python scalars on either side, and zeros, infinities, NaN and tiny/huge
    values (PyTorch's inf/nan results and gradients, e.g. d(a/b)/db for a tiny b)."""
    values = SPECIAL if op != "pow" else [0.0, 1.0, -1.0, 2.0, -2.5, 0.5, 3.0, 1e-3]   # torch's own pow paths
    elements = st.sampled_from(values)                                                # disagree at -inf, -0.0
    sa, sb = shapes.input_shapes
    a = data.draw(hnp.arrays(np.float64, sa, elements=elements))
    b = data.draw(hnp.arrays(np.float64, sb, elements=elements))
    f = BINARY[op]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if side == "tensors":
            _run_both(torch, f, f, [a, b], [True, True])
        else:
            s = float(data.draw(elements))      # s / t is t.reciprocal() * s in both libraries
            g = (lambda y: f(s, y)) if side == "scalar left" else (lambda y: f(y, s))
            _run_both(torch, g, g, [b], [True])


def test_div_gradient_wrt_a_tiny_divisor_matches_torch(torch):
    """d(a/b)/db = -g (a/b)/b as PyTorch computes it; -g a/(b*b) underflowed to 0/0 = nan (a = 0) or -inf for
    |b| below 1e-154."""
    a = np.array([0.0, 1e-100, 3.0, -2.0])
    b = np.array([1e-300, 1e-160, 1e-170, 4.0])
    _run_both(torch, F.div, torch.div, [a, b], [True, True])


def test_division_by_zero_is_quiet_like_torch(torch):
    """x / 0 gives inf / nan without a NumPy RuntimeWarning (PyTorch is silent; log and pow already were)."""
    x = np.array([1.0, 0.0, -1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = sc.Tensor(x, requires_grad=True) / sc.Tensor(np.zeros(3), requires_grad=True)
        out.backward(np.ones(3))
        ints = sc.Tensor(np.array([1, 0, -1])) / 0
    np.testing.assert_array_equal(out.data, (torch.tensor(x) / torch.zeros(3)).numpy())
    np.testing.assert_array_equal(ints.data, (torch.tensor([1, 0, -1]) / 0).numpy())


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum_nan_and_tie_gradients_match_torch(torch, op):
    """A NaN loses no comparison, so PyTorch gives both operands the whole gradient there (half at a tie); the
    NaN side used to get 0."""
    a = np.array([1.0, np.nan, 2.0, np.nan, 5.0, -1.0])
    b = np.array([np.nan, 1.0, 2.0, np.nan, 4.0, 3.0])
    _run_both(torch, getattr(F, op), getattr(torch, op), [a, b], [True, True])
    _run_both(torch, getattr(F, op), getattr(torch, op), [a.reshape(2, 3), np.array([2.0, np.nan, 0.0])],
              [True, True])


# ------------------------------------------------------------------------------------------------ reductions
def _dims(draw, nd: int, single: bool):
    """None, one dim (negative or not) or, unless ``single``, a tuple of distinct dims in mixed spellings."""
    if nd == 0:
        return draw(st.sampled_from([None, 0, -1]))
    one = st.integers(-nd, nd - 1)
    if single:
        return draw(st.one_of(st.none(), one))
    many = st.lists(st.integers(0, nd - 1), unique=True, min_size=1).map(
        lambda ds: tuple(d - nd if i % 2 else d for i, d in enumerate(ds)))
    return draw(st.one_of(st.none(), one, many))


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4), keepdim=st.booleans(),
       op=st.sampled_from(["sum", "mean", "amax", "amin", "var", "std", "max", "min"]),
       values=st.sampled_from(["random", "ties", "constant"]), data=st.data())
def test_reductions_values_and_gradients_match_torch(torch, shape, keepdim, op, values, data):
    """Reductions over None / one dim / a tuple of dims (negative or not), keepdim, with ties (amax/amin share
    the gradient, max/min over a dim give it to the first) and constant inputs (std's gradient is 0)."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    if values == "random":
        a = rng.standard_normal(shape)
    elif values == "ties":
        a = rng.integers(0, 3, shape).astype(np.float64)
    else:      # exactly representable: the mean is exact, var 0 and std's gradient 0 in both (for other values
        a = np.full(shape, float(rng.integers(-3, 4)))   # both libraries' rounding noise decides the sign)
    dim = _dims(data.draw, len(shape), single=op in ("max", "min"))
    if dim is None:
        def f(x):
            return getattr(x, op)()
    elif op in ("max", "min"):
        def f(x):
            return getattr(x, op)(dim, keepdim)[0]
    else:
        def f(x):
            return getattr(x, op)(dim, keepdim=keepdim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # torch: var/std degrees of freedom <= 0
        _run_both(torch, f, f, [a], [True])


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_of_everything_with_nan_share_gradient_like_torch(torch, op):
    """max() / min() of a tensor holding NaN is NaN; PyTorch shares the gradient between the NaNs (it was NaN
    everywhere). amax/amin keep PyTorch's NaN gradient."""
    a = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, 0.0]])
    _run_both(torch, lambda x: getattr(x, op)(), lambda x: getattr(x, op)(), [a], [True])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _run_both(torch, lambda x: getattr(x, "a" + op[:3])(), lambda x: getattr(x, "a" + op[:3])(), [a], [True])


# ---------------------------------------------------------------------------------------------- dim errors
OUT_OF_RANGE = [
    ("sum", lambda x: x.sum(2), lambda x: x.sum(2)),
    ("sum tuple", lambda x: x.sum((0, -3)), lambda x: x.sum((0, -3))),
    ("mean", lambda x: x.mean(-3), lambda x: x.mean(-3)),
    ("var", lambda x: x.var(5), lambda x: x.var(5)),
    ("std", lambda x: x.std(2), lambda x: x.std(2)),
    ("amax", lambda x: x.amax(2), lambda x: x.amax(2)),
    ("amin", lambda x: x.amin(-3), lambda x: x.amin(-3)),
    ("max dim", lambda x: x.max(2), lambda x: x.max(2)),
    ("min dim", lambda x: x.min(-3), lambda x: x.min(-3)),
    ("unsqueeze", lambda x: x.unsqueeze(3), lambda x: x.unsqueeze(3)),
    ("unsqueeze neg", lambda x: x.unsqueeze(-4), lambda x: x.unsqueeze(-4)),
    ("squeeze", lambda x: x.squeeze(2), lambda x: x.squeeze(2)),
    ("flatten", lambda x: x.flatten(0, 2), lambda x: x.flatten(0, 2)),
    ("transpose", lambda x: x.transpose(0, 2), lambda x: x.transpose(0, 2)),
    ("permute", lambda x: x.permute(0, 2), lambda x: x.permute(0, 2)),
    ("cat", lambda x: sc.cat([x, x], 2), None),
    ("stack", lambda x: sc.stack([x, x], 3), None),
]


@pytest.mark.parametrize("name,fs,ft", OUT_OF_RANGE, ids=[c[0] for c in OUT_OF_RANGE])
def test_out_of_range_dim_raises_index_error_like_torch(torch, name, fs, ft):
    """A dim outside [-ndim, ndim - 1] is PyTorch's IndexError; it used to wrap around modulo ndim and silently
    reduce / insert along another dim (sum(2) of a 2-d tensor summed dim 0)."""
    x = np.arange(6.0).reshape(2, 3)
    if ft is None:
        ft = {"cat": lambda t: torch.cat([t, t], 2), "stack": lambda t: torch.stack([t, t], 3)}[name]
    with pytest.raises(IndexError):
        ft(torch.tensor(x))
    with pytest.raises(IndexError, match="out of range"):
        fs(sc.Tensor(x))


@pytest.mark.parametrize("op", ["sum", "mean", "var", "std", "amax", "amin"])
def test_repeated_dims_raise_value_error_naming_the_dim(torch, op):
    """(0, -2) names dim 0 twice: PyTorch refuses; here a ValueError naming the dim (NumPy's 'duplicate value in
    axis' before)."""
    x = np.arange(6.0).reshape(2, 3)
    with pytest.raises(RuntimeError, match="appears multiple times"):
        getattr(torch.tensor(x), op)((0, -2))
    with pytest.raises(ValueError, match=r"dim 0 appears multiple times"):
        getattr(sc.Tensor(x), op)((0, -2))


def test_0d_tensors_take_dim_0_and_minus_1_like_torch(torch):
    """A 0-d tensor takes dim 0 / -1 in squeeze, unsqueeze, transpose and the reductions (squeeze(0) divided by
    zero), and refuses others."""
    x = np.array(2.5)
    for fn in (lambda t: t.squeeze(0), lambda t: t.squeeze(-1), lambda t: t.unsqueeze(-1), lambda t: t.unsqueeze(0),
               lambda t: t.transpose(0, -1), lambda t: t.sum(0), lambda t: t.mean(-1), lambda t: t.sum((0,))):
        _run_both(torch, fn, fn, [x], [True])
    for fn in (lambda t: t.squeeze(1), lambda t: t.sum(1), lambda t: t.unsqueeze(2)):
        with pytest.raises(IndexError):
            fn(torch.tensor(x))
        with pytest.raises(IndexError):
            fn(sc.Tensor(x))


@pytest.mark.parametrize("dims", [(0, 2), (0, -1), (1,), [0, 1, 2, 3]])
def test_squeeze_takes_a_tuple_of_dims_like_torch(torch, dims):
    """squeeze((0, 2)) drops the size-1 dims among those listed (PyTorch 2); it raised a TypeError."""
    x = np.random.default_rng(0).standard_normal((1, 3, 1, 2))
    _run_both(torch, lambda t: t.squeeze(dims), lambda t: t.squeeze(dims), [x], [True])


# ---------------------------------------------------------------------------------------------- shape ops
@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3), data=st.data(),
       which=st.sampled_from(["permute", "transpose", "flatten", "squeeze", "unsqueeze", "cat", "stack",
                              "reshape", "index"]))
def test_shape_ops_values_and_gradients_match_torch(torch, shape, data, which):
    nd = len(shape)
    x = np.random.default_rng(1).standard_normal(shape)
    neg = data.draw(st.booleans())
    if which == "permute":
        p = [d - nd if neg else d for d in data.draw(st.permutations(range(nd)))]
        fs = ft = lambda t: t.permute(*p)
    elif which == "transpose":
        d0, d1 = data.draw(st.integers(-nd, nd - 1)), data.draw(st.integers(-nd, nd - 1))
        fs = ft = lambda t: t.transpose(d0, d1)
    elif which == "flatten":
        d0, d1 = sorted(data.draw(st.lists(st.integers(0, nd - 1), min_size=2, max_size=2)))
        fs = ft = lambda t: t.flatten(d0 - nd if neg else d0, d1 - nd)
    elif which == "squeeze":
        d = data.draw(st.one_of(st.none(), st.integers(-nd, nd - 1)))
        fs = ft = (lambda t: t.squeeze()) if d is None else (lambda t: t.squeeze(d))
    elif which == "unsqueeze":
        d = data.draw(st.integers(-nd - 1, nd))
        fs = ft = lambda t: t.unsqueeze(d)
    elif which == "cat":
        d = data.draw(st.integers(-nd, nd - 1))
        fs, ft = (lambda t: sc.cat([t, t * 2.0, t], d)), (lambda t: torch.cat([t, t * 2.0, t], d))
    elif which == "stack":
        d = data.draw(st.integers(-nd - 1, nd))
        fs, ft = (lambda t: sc.stack([t, t * 2.0], d)), (lambda t: torch.stack([t, t * 2.0], d))
    elif which == "reshape":
        fs = ft = lambda t: t.reshape(-1, shape[-1]).view(shape[-1], -1)
    else:
        idx = data.draw(st.sampled_from(["step", "none", "ellipsis", "mask", "ints", "mixed"]))
        rng = np.random.default_rng(2)
        key = {"step": (slice(None, None, 2),), "none": (None, slice(1, None)), "ellipsis": (Ellipsis, 0),
               "mask": x > 0, "ints": (rng.integers(-shape[0], shape[0], 5),),
               "mixed": (slice(None), rng.integers(0, shape[1], 4)) if nd > 1 else (rng.integers(0, shape[0], 4),)}
        k = key[idx]
        tk = tuple(torch.tensor(i) if isinstance(i, np.ndarray) else i for i in k) if isinstance(k, tuple) \
            else torch.tensor(k)
        fs, ft = (lambda t: t[k]), (lambda t: t[tk])
    _run_both(torch, fs, ft, [x], [True])


def test_cat_stack_promote_dtypes_like_torch(torch):
    """cat/stack of an int64 and a float32 tensor give float32 (PyTorch's result_type); NumPy gave float64. The
    float operand's gradient keeps its dtype."""
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        i, f, b = np.array([1, 2]), np.array([0.5, 1.5], np.float32), np.array([True, False])
        for parts in ([i, f], [f, i], [b, i], [b, f], [i.astype(np.int32), i], [f, f.astype(np.float64)]):
            for fs, ft in ((sc.cat, torch.cat), (sc.stack, torch.stack)):
                got = fs([sc.Tensor(p) for p in parts])
                want = ft([torch.from_numpy(p) for p in parts])
                assert str(got.dtype) == str(want.dtype).replace("torch.", ""), (parts, got.dtype, want.dtype)
                np.testing.assert_array_equal(got.data, want.numpy())
        x = sc.Tensor(f.copy(), requires_grad=True)
        sc.cat([x, sc.Tensor(i)]).backward(np.arange(4.0, dtype=np.float32))
        assert x.grad.dtype == np.float32
        np.testing.assert_array_equal(x.grad, [0.0, 1.0])
    finally:
        torch.set_default_dtype(prev)


def test_cat_stack_shape_errors_are_clear(torch):
    """Mismatched shapes, 0-d inputs: PyTorch raises; here a ValueError naming the shapes."""
    a, b = np.zeros((2, 3)), np.zeros((2, 4))
    with pytest.raises(RuntimeError):
        torch.cat([torch.tensor(a), torch.tensor(b)], 0)
    with pytest.raises(ValueError, match=r"\(2, 4\)"):
        sc.cat([sc.Tensor(a), sc.Tensor(b)], 0)
    with pytest.raises(RuntimeError):
        torch.stack([torch.tensor(a), torch.tensor(b)])
    with pytest.raises(ValueError, match=r"\(2, 4\)"):
        sc.stack([sc.Tensor(a), sc.Tensor(b)])
    with pytest.raises(RuntimeError):
        torch.cat([torch.tensor(1.0), torch.tensor(2.0)])
    with pytest.raises(ValueError, match="zero-dimensional"):
        sc.cat([sc.Tensor(np.array(1.0)), sc.Tensor(np.array(2.0))])


# --------------------------------------------------------------------------------------------------- matmul
@SETTINGS
@given(nda=st.integers(1, 4), ndb=st.integers(1, 4), data=st.data())
def test_matmul_values_and_gradients_match_torch(torch, nda, ndb, data):
    """1-D / 2-D / batched operands with broadcast batch dims (size-1 batch dims on either side)."""
    m, k, n = (data.draw(st.integers(1, 3)) for _ in range(3))
    batch = data.draw(st.lists(st.integers(1, 3), max_size=2))
    ba = [s if data.draw(st.booleans()) else 1 for s in batch][len(batch) - max(nda - 2, 0):] if nda > 2 else []
    bb = [s if data.draw(st.booleans()) else 1 for s in batch][len(batch) - max(ndb - 2, 0):] if ndb > 2 else []
    sa = (k,) if nda == 1 else (*ba, m, k)
    sb = (k,) if ndb == 1 else (*bb, k, n)
    rng = np.random.default_rng(0)
    _run_both(torch, lambda a, b: a @ b, lambda a, b: a @ b, [rng.standard_normal(sa), rng.standard_normal(sb)],
              [True, True])


def test_matmul_batch_mismatch_is_a_clear_error(torch):
    with pytest.raises(RuntimeError):
        torch.ones(2, 3, 4) @ torch.ones(3, 4, 5)
    with pytest.raises(ValueError, match=r"batch dimensions \(2,\) and \(3,\) do not broadcast"):
        sc.Tensor(np.ones((2, 3, 4))) @ sc.Tensor(np.ones((3, 4, 5)))


# -------------------------------------------------------------------------------------- unary ops and clamp
@pytest.mark.parametrize("op", ["exp", "log", "sqrt"])
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_unary_float_ops_of_integer_tensors_give_default_float_like_torch(torch, op, dtype):
    """exp/log/sqrt of an integer or bool tensor give the default float dtype (float32), not NumPy's float64
    (float16 for bool)."""
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        x = np.array([0, 1, 2, 5]).astype(dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            got = getattr(F, op)(sc.Tensor(x))
        want = getattr(torch, op)(torch.from_numpy(x))
        assert got.dtype == np.float32 and str(want.dtype) == "torch.float32"
        np.testing.assert_allclose(got.data, want.numpy(), rtol=1e-6)
    finally:
        torch.set_default_dtype(prev)


def test_clamp_of_integer_tensor_with_float_bounds_gives_default_float(torch):
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        x = np.array([1, 2, 3])
        for lo, hi in ((1.5, 2.5), (None, 2.5), (2, None), (0, 2)):
            got, want = sc.Tensor(x).clamp(lo, hi), torch.from_numpy(x).clamp(lo, hi)
            assert str(got.dtype) == str(want.dtype).replace("torch.", ""), (lo, hi)
            np.testing.assert_array_equal(got.data, want.numpy())
    finally:
        torch.set_default_dtype(prev)


@pytest.mark.parametrize("which", ["min", "max", "both", "crossed"])
def test_clamp_with_tensor_bounds_matches_torch(torch, which):
    """Tensor bounds broadcast against the input and get PyTorch's gradients (they got none, silently)."""
    rng = np.random.default_rng(3)
    x = np.round(rng.standard_normal((3, 4)), 1)
    lo = np.round(rng.standard_normal(4) - 0.5, 1)
    hi = np.round(rng.standard_normal((3, 1)) + 0.5, 1)
    x[0, 0], x[1, 1] = lo[0], hi[1, 0]             # ties with a bound: the input keeps the gradient
    if which == "crossed":
        lo, hi = hi.reshape(3, 1) + 1.0, lo        # min > max in places
    if which == "min":
        _run_both(torch, lambda a, m: a.clamp(m, None), lambda a, m: a.clamp(min=m), [x, lo], [True, True])
    elif which == "max":
        _run_both(torch, lambda a, m: a.clamp(None, m), lambda a, m: a.clamp(max=m), [x, hi], [True, True])
    else:
        _run_both(torch, lambda a, m, n: a.clamp(m, n), lambda a, m, n: a.clamp(m, n), [x, lo, hi],
                  [True, True, True])


def test_erf_is_differentiable_like_torch(torch):
    """erf(x) has PyTorch's gradient 2/sqrt(pi) exp(-x^2); it used to return a tensor cut from the graph, so
    x + erf(x) gave x the gradient 1 silently."""
    x = np.array([-3.0, -0.5, 0.0, 0.2, 1.0, 4.0])
    _run_both(torch, lambda t: t + F.erf(t), lambda t: t + torch.erf(t), [x], [True])
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        assert F.erf(sc.Tensor(np.array([0, 1]))).dtype == np.float32
        assert torch.erf(torch.tensor([0, 1])).dtype == torch.float32
    finally:
        torch.set_default_dtype(prev)


# -------------------------------------------------------------------------------------- autograd semantics
def test_backward_semantics_match_torch(torch):
    """Non-scalar backward with a gradient, accumulation over two backward calls, retain_graph, retain_grad,
    detach, no_grad and requires_grad_ on a tensor used before and after."""
    xv = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -3.0]])
    gv = np.array([[1.0, 2.0, -1.0], [0.5, 0.0, 3.0]])

    def scenario(lib, T, no_grad):
        x = T(xv.copy(), requires_grad=True)
        w = T(xv[0].copy())
        y = x * x.exp() + w            # diamond through x
        y.retain_grad()
        y.backward(T(gv.copy()), retain_graph=True)
        y.backward(T(gv.copy()))       # second pass accumulates into x.grad and y.grad
        w.requires_grad_()
        z = (x.detach() * w).sum() + (x * w).sum()
        z.backward()
        with no_grad():
            q = x * 2
        return [np.asarray(x.grad), np.asarray(y.grad), np.asarray(w.grad), q.requires_grad]

    got = scenario("sc", sc.Tensor, sc.no_grad)
    want = scenario("torch", torch.tensor, torch.no_grad)
    for g, w in zip(got[:3], want[:3]):
        np.testing.assert_allclose(g, w, **TIGHT)
    assert got[3] is want[3] is False
