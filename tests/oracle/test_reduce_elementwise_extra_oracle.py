"""More reductions and elementwise ops vs PyTorch (float64, rtol 1e-6) and finite differences: var/std with
correction 0-3 and ``unbiased=``; maximum/minimum and two-argument max/min over random broadcasting shapes,
with ties (the gradient is halved where the operands tie, as in PyTorch); clip/clamp with min only, max only,
both (and min > max); gradients across dtypes through cast/float()/double()/astype() vs torch ``.to(dtype)``."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchcnn as sc
import scratchcnn.functional as F
from oracle.helpers import compare_with_torch, finite_difference_check

SETTINGS = settings(max_examples=40, deadline=None)
SEEDS = st.integers(0, 2**31 - 1)
BIN_SHAPES = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4)


@st.composite
def shape_and_dims(draw, max_side: int = 5):
    """A shape (1-4 dims) and the dims to reduce: None, one int (possibly negative) or a non-empty tuple."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=max_side))
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return shape, None
    if kind == "int":
        return shape, draw(st.integers(-len(shape), len(shape) - 1))
    dims = draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape), unique=True))
    return shape, tuple(dims)


def _count(shape, dims) -> int:
    if dims is None:
        return int(np.prod(shape))
    dims = (dims,) if isinstance(dims, int) else dims
    return int(np.prod([shape[d] for d in dims]))


# ----------------------------------------------------------------------------------------------- var / std
@pytest.mark.parametrize("name", ["var", "std"])
@SETTINGS
@given(sd=shape_and_dims(), keepdim=st.booleans(), correction=st.sampled_from([0, 1, 2, 3]), seed=SEEDS)
def test_var_std_corrections_match_torch(torch, name, sd, keepdim, correction, seed):
    """correction 0..3 over random dims: a library that treats every correction > 1 as 1 fails here."""
    shape, dims = sd
    assume(_count(shape, dims) > correction)
    x = np.random.default_rng(seed).standard_normal(shape) * 2 + 0.5
    compare_with_torch(torch, lambda a: getattr(F, name)(a, dims, keepdim=keepdim, correction=correction),
                       lambda a: getattr(torch, name)(a, dims, correction=correction, keepdim=keepdim), [x], seed=seed)


@pytest.mark.parametrize("name", ["var", "std"])
@SETTINGS
@given(sd=shape_and_dims(), keepdim=st.booleans(), unbiased=st.booleans(), seed=SEEDS)
def test_var_std_unbiased_match_torch(torch, name, sd, keepdim, unbiased, seed):
    shape, dims = sd
    assume(_count(shape, dims) > 1)
    x = np.random.default_rng(seed).standard_normal(shape)
    compare_with_torch(torch, lambda a: getattr(F, name)(a, dims, unbiased, keepdim),
                       lambda a: getattr(torch, name)(a, dims, unbiased, keepdim), [x], seed=seed)


@pytest.mark.parametrize("correction", [0, 1, 2, 3])
def test_var_std_tensor_methods_and_numpy_spelling(torch, correction):
    x = np.random.default_rng(correction).standard_normal((4, 5, 3))
    for name in ("var", "std"):
        compare_with_torch(torch, lambda a: getattr(a, name)(dim=(0, 2), correction=correction),
                           lambda a: getattr(a, name)(dim=(0, 2), correction=correction), [x])
        compare_with_torch(torch, lambda a: getattr(F, name)(a, axis=1, keepdims=True, correction=correction),
                           lambda a: getattr(torch, name)(a, 1, correction=correction, keepdim=True), [x])
        compare_with_torch(torch, lambda a: getattr(F, name)(a, correction=correction),
                           lambda a: getattr(torch, name)(a, correction=correction), [x])


@pytest.mark.parametrize("correction", [0, 1, 2, 3])
def test_var_std_known_values(correction):
    """Exact values without PyTorch: sum of squared deviations over (n - correction)."""
    x = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    ss = ((x - x.mean()) ** 2).sum()
    assert F.var(sc.Tensor(x), correction=correction).item() == pytest.approx(ss / (5 - correction), rel=1e-14)
    assert F.std(sc.Tensor(x), correction=correction).item() == pytest.approx(np.sqrt(ss / (5 - correction)),
                                                                             rel=1e-14)


@pytest.mark.filterwarnings("ignore:var.*degrees of freedom:UserWarning")
def test_var_correction_at_least_count_matches_torch_forward(torch):
    """n - correction <= 0: PyTorch divides by max(0, n - correction) (inf, or nan for 0/0)."""
    x = np.random.default_rng(0).standard_normal((3, 2))
    x[:, 1] = 1.5                                    # a constant column: 0 / 0
    for correction in (2, 3):
        with np.errstate(all="ignore"):
            ours = F.var(sc.Tensor(x), 1 if correction == 2 else 0, correction=correction).data
        np.testing.assert_allclose(ours, torch.var(torch.tensor(x), 1 if correction == 2 else 0,
                                                   correction=correction).numpy(), rtol=1e-12)


@pytest.mark.parametrize("correction", [0, 1, 2])
def test_std_of_constant_values_has_zero_gradient_like_torch(torch, correction):
    """Zero deviation (constant rows, a single element with correction 0): PyTorch's std gradient is 0 there,
    not 0 * inf = nan through sqrt."""
    x = np.random.default_rng(2).standard_normal((4, 5))
    x[1] = 0.25
    x[3, :] = -1.0
    compare_with_torch(torch, lambda a: F.std(a, 1, correction=correction),
                       lambda a: torch.std(a, 1, correction=correction), [x])
    compare_with_torch(torch, lambda a: F.std(a[1:2, :1], 0, correction=0),
                       lambda a: torch.std(a[1:2, :1], 0, correction=0), [x])


@pytest.mark.parametrize("correction", [0, 1, 2, 3])
@pytest.mark.parametrize("dims, keepdim", [(None, False), (0, True), (1, False), ((0, 2), True), (-1, False)])
def test_std_finite_differences(correction, dims, keepdim):
    x = np.random.default_rng(correction).standard_normal((4, 5, 6))
    finite_difference_check(lambda a: F.std(a, dims, keepdim=keepdim, correction=correction), [x])
    finite_difference_check(lambda a: F.var(a, dims, keepdim=keepdim, correction=correction), [x])


# ----------------------------------------------------------------------------- maximum / minimum / max / min
TWO_ARG = {
    "maximum": (F.maximum, lambda t: t.maximum),
    "minimum": (F.minimum, lambda t: t.minimum),
    "max": (F.max, lambda t: t.max),
    "min": (F.min, lambda t: t.min),
    "Tensor.maximum": (lambda a, b: a.maximum(b), lambda t: (lambda a, b: a.maximum(b))),
    "Tensor.max": (lambda a, b: a.max(b), lambda t: (lambda a, b: a.max(b))),
    "Tensor.min": (lambda a, b: a.min(b), lambda t: (lambda a, b: a.min(b))),
}


def _small_ints(seed: int, shape) -> np.ndarray:
    """Values in {-2, ..., 2}: many ties between the broadcast operands."""
    return np.random.default_rng(seed).integers(-2, 3, size=shape).astype(np.float64)


@pytest.mark.parametrize("name", list(TWO_ARG))
@SETTINGS
@given(shapes=BIN_SHAPES, seed=SEEDS, ties=st.booleans(), grads=st.sampled_from([(1, 1), (1, 0), (0, 1)]))
def test_two_argument_extremes_match_torch(torch, name, shapes, seed, ties, grads):
    sc_op, th_op = TWO_ARG[name]
    sa, sb = shapes.input_shapes
    make = _small_ints if ties else (lambda s, shp: np.random.default_rng(s).standard_normal(shp))
    a, b = make(seed, sa), make(seed + 1, sb)
    compare_with_torch(torch, sc_op, th_op(torch), [a, b], grad_mask=[bool(g) for g in grads], seed=seed)


@pytest.mark.parametrize("name", ["maximum", "minimum", "max", "min"])
def test_two_argument_extremes_all_tied_halve_the_gradient(torch, name):
    a = np.full((3, 4), 0.75)
    b = np.full((4,), 0.75)
    sc_op, th_op = TWO_ARG[name]
    compare_with_torch(torch, sc_op, th_op(torch), [a, b])
    x, y = sc.Tensor(a, requires_grad=True), sc.Tensor(b, requires_grad=True)
    sc_op(x, y).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((3, 4), 0.5))
    np.testing.assert_array_equal(y.grad, np.full(4, 1.5))


@pytest.mark.parametrize("name", ["maximum", "minimum", "max", "min"])
@settings(max_examples=15, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3), seed=SEEDS)
def test_two_argument_extremes_finite_differences(name, shapes, seed):
    """Away from ties: a sits on integers, b on half-integers (each +-0.2), so |a - b| >= 0.1."""
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a = np.array(rng.integers(-2, 3, size=sa) + rng.uniform(-0.2, 0.2, size=sa), dtype=np.float64)
    b = np.array(rng.integers(-2, 3, size=sb) + 0.5 + rng.uniform(-0.2, 0.2, size=sb), dtype=np.float64)
    finite_difference_check(TWO_ARG[name][0], [a, b], seed=seed)


def test_two_argument_extremes_with_python_scalars(torch):
    x = _small_ints(3, (4, 5))
    compare_with_torch(torch, lambda a: F.maximum(a, 0.0), lambda a: torch.maximum(a, torch.tensor(0.0)), [x])
    compare_with_torch(torch, lambda a: F.minimum(1.0, a), lambda a: torch.minimum(torch.tensor(1.0), a), [x])


def test_two_argument_max_rejects_dim_arguments():
    a, b = sc.Tensor(np.zeros(3)), sc.Tensor(np.ones(3))
    with pytest.raises(TypeError, match="no dim"):
        F.max(a, b, keepdim=True)


# ------------------------------------------------------------------------------------------------ clip / clamp
BOUNDS = [(-0.5, None), (None, 0.7), (-0.5, 0.7), (0.3, 0.3), (0.4, -0.2)]


@pytest.mark.parametrize("fn", ["clip", "clamp", "Tensor.clip"])
@pytest.mark.parametrize("lo, hi", BOUNDS)
@settings(max_examples=10, deadline=None)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=4, max_side=5), seed=SEEDS)
def test_clip_clamp_bounds_match_torch(torch, fn, lo, hi, shape, seed):
    """min only, max only, both, min == max and min > max (everything becomes max, no gradient passes)."""
    x = np.random.default_rng(seed).standard_normal(shape)
    x.flat[::3] = lo if lo is not None else hi          # values exactly on a bound: the gradient passes
    ops = {"clip": lambda a: F.clip(a, lo, hi), "clamp": lambda a: F.clamp(a, min=lo, max=hi),
           "Tensor.clip": lambda a: a.clip(lo, hi)}
    compare_with_torch(torch, ops[fn], lambda a: torch.clamp(a, min=lo, max=hi), [x], seed=seed)


@pytest.mark.parametrize("lo, hi", BOUNDS[:3])
def test_clip_finite_differences_away_from_bounds(lo, hi):
    rng = np.random.default_rng(11)
    x = rng.uniform(-2.0, 2.0, size=(4, 6))
    bounds = np.array([v for v in (lo, hi) if v is not None])
    near = np.abs(x[..., None] - bounds).min(axis=-1) < 0.05
    x[near] += 0.2
    assert (np.abs(x[..., None] - bounds).min(axis=-1) >= 0.05).all()
    finite_difference_check(lambda a: F.clamp(a, lo, hi) * a, [x])


# ---------------------------------------------------------------------------------------------- cast / dtypes
CASTS = {   # name: (scratchcnn cast, torch cast(torch, t))
    "float": (lambda t: t.float(), lambda th, t: t.float()),
    "double": (lambda t: t.double(), lambda th, t: t.double()),
    "astype32": (lambda t: t.astype(np.float32), lambda th, t: t.to(th.float32)),
    "astype64": (lambda t: t.astype("float64"), lambda th, t: t.to(th.float64)),
    "cast32": (lambda t: F.cast(t, np.float32), lambda th, t: t.to(th.float32)),
    "cast64": (lambda t: F.cast(t, np.dtype("float64")), lambda th, t: t.to(th.float64)),
}


@pytest.mark.parametrize("src", ["float32", "float64"])
@pytest.mark.parametrize("name", list(CASTS))
def test_cast_gradients_cross_dtypes_like_torch(torch, src, name):
    """x (src dtype) -> cast -> x_cast * w (w in the cast's dtype) -> back to float64 -> sum(. * G): the
    forward values, the dtype of every result and of x.grad (src), and the gradients match torch."""
    sc_cast, th_cast = CASTS[name]
    rng = np.random.default_rng(5)
    x0 = rng.standard_normal((3, 4)).astype(src)
    G = rng.standard_normal((3, 4))
    xs, xt = sc.Tensor(x0.copy(), requires_grad=True), torch.tensor(x0.copy(), requires_grad=True)
    ys, yt = sc_cast(xs), th_cast(torch, xt)
    assert str(ys.dtype) == str(yt.dtype).replace("torch.", "")
    w0 = rng.standard_normal((3, 4)).astype(ys.dtype)
    ws, wt = sc.Tensor(w0.copy(), requires_grad=True), torch.tensor(w0.copy(), requires_grad=True)
    zs, zt = (ys * ws).double(), (yt * wt).double()
    np.testing.assert_array_equal(ys.data, yt.detach().numpy())
    np.testing.assert_allclose(zs.data, zt.detach().numpy(), rtol=1e-6, atol=0)
    (zs * sc.Tensor(G)).sum().backward()
    (zt * torch.tensor(G)).sum().backward()
    assert xs.grad.dtype == x0.dtype and ws.grad.dtype == w0.dtype
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=1e-6, atol=0)
    np.testing.assert_allclose(ws.grad, wt.grad.numpy(), rtol=1e-6, atol=0)


def test_cast_round_trip_chain_matches_torch(torch):
    """float64 -> float32 -> float64 -> float32 with ops in between; gradient back to the float64 leaf."""
    rng = np.random.default_rng(9)
    x0, G = rng.standard_normal((2, 5)), rng.standard_normal((2, 5))
    xs, xt = sc.Tensor(x0.copy(), requires_grad=True), torch.tensor(x0.copy(), requires_grad=True)
    ys = ((xs.float() * 3.0).double().exp().astype(np.float32) + 1.0).double()
    yt = ((xt.float() * 3.0).double().exp().to(torch.float32) + 1.0).double()
    np.testing.assert_allclose(ys.data, yt.detach().numpy(), rtol=1e-6)
    (ys * sc.Tensor(G)).sum().backward()
    (yt * torch.tensor(G)).sum().backward()
    assert xs.grad.dtype == np.float64
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=1e-6)


def test_cast_same_dtype_and_clone_finite_differences():
    x = np.random.default_rng(1).standard_normal((3, 3))
    finite_difference_check(lambda a: F.cast(a, np.float64) * a, [x])
    finite_difference_check(lambda a: a.double() * a.clone(), [x])
