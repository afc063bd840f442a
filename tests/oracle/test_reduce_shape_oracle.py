"""Reductions (sum/mean/max/min/var over axis combinations, keepdims) and shape ops (reshape, transpose,
permute, flatten, squeeze/unsqueeze, indexing, concat, stack, pad) vs PyTorch in float64, rtol 1e-6,
plus finite-difference checks."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchcnn as sc
import scratchcnn.functional as F
from oracle.helpers import compare_with_torch, finite_difference_check

SETTINGS = settings(max_examples=25, deadline=None)
SEEDS = st.integers(0, 2**31 - 1)


def _normal(seed: int, shape) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


@st.composite
def shape_and_axis(draw, min_dims=1, max_dims=4):
    """A shape and an axis spec: None, an int (maybe negative) or a non-empty tuple of distinct axes."""
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, max_side=4))
    nd = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return shape, None
    if kind == "int":
        return shape, draw(st.integers(-nd, nd - 1))
    axes = draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
    neg = draw(st.booleans())
    return shape, tuple(a - nd if neg else a for a in axes)


def _torch_dim(shape, axis):
    return tuple(range(len(shape))) if axis is None else axis


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min"])
@SETTINGS
@given(sa=shape_and_axis(), keepdims=st.booleans(), seed=SEEDS)
def test_reductions(torch, name, sa, keepdims, seed):
    shape, axis = sa
    x = _normal(seed, shape)
    sc_op = getattr(F, name)
    th_op = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax, "min": torch.amin}[name]
    th_fn = lambda t: th_op(t, dim=_torch_dim(shape, axis), keepdim=keepdims)  # noqa: E731
    # NumPy's spelling (axis/keepdims; for max/min: values only, like amax/amin) ...
    compare_with_torch(torch, lambda t: sc_op(t, axis=axis, keepdims=keepdims), th_fn, [x])
    # ... and PyTorch's (dim/keepdim) for sum/mean, amax/amin for the extremes
    if name in ("max", "min"):
        sc_op = getattr(F, "a" + name)
    compare_with_torch(torch, lambda t: sc_op(t, dim=axis, keepdim=keepdims), th_fn, [x])


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_over_a_dim_return_values_and_indices(torch, name, keepdim):
    """Over one int dim, max/min return (values, indices) like PyTorch; the gradient goes to the returned index
    (the first extreme), not shared between ties as amax/amin do."""
    x = np.random.default_rng(1).integers(0, 3, size=(4, 5, 3)).astype(np.float64)   # many ties
    for dim in (0, 1, -1):
        v, i = getattr(sc.Tensor(x), name)(dim, keepdim=keepdim)
        tv, ti = getattr(torch.tensor(x), name)(dim, keepdim=keepdim)
        np.testing.assert_array_equal(i.data, ti.numpy())
        assert i.dtype == np.int64 and v.shape == tuple(tv.shape)
        compare_with_torch(torch, lambda t: getattr(F, name)(t, dim, keepdim).values,
                           lambda t: getattr(torch, name)(t, dim, keepdim).values, [x])
        compare_with_torch(torch, lambda t: getattr(t, name)(dim=dim, keepdim=keepdim)[0],
                           lambda t: getattr(t, name)(dim=dim, keepdim=keepdim)[0], [x])
    assert getattr(sc.Tensor(x), name)().shape == ()             # no dim: the extreme of everything


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_elementwise_maximum_minimum(torch, name):
    """torch.maximum/minimum (and max(a, b)): broadcasting, ties give each input half the gradient."""
    rng = np.random.default_rng(2)
    a = rng.integers(0, 3, size=(3, 4)).astype(np.float64)
    b = rng.integers(0, 3, size=(4,)).astype(np.float64)
    compare_with_torch(torch, getattr(F, name), getattr(torch, name), [a, b])
    two_arg = F.max if name == "maximum" else F.min
    compare_with_torch(torch, two_arg, getattr(torch, name), [a, b])


def test_argmax_argmin(torch):
    x = np.random.default_rng(3).integers(0, 4, size=(3, 4, 5)).astype(np.float64)
    t, tt = sc.Tensor(x), torch.tensor(x)
    for dim in (None, 0, 2, -2):
        for keepdim in (False, True):
            for name in ("argmax", "argmin"):
                got = getattr(t, name)(dim, keepdim=keepdim)
                want = getattr(tt, name)(dim, keepdim=keepdim).numpy()
                assert got.dtype == np.int64 and got.shape == want.shape
                np.testing.assert_array_equal(got.data, want)


@SETTINGS
@given(sa=shape_and_axis(), keepdims=st.booleans(), correction=st.sampled_from([0, 1]), seed=SEEDS)
def test_var(torch, sa, keepdims, correction, seed):
    shape, axis = sa
    axes = _torch_dim(shape, axis)
    axes = (axes,) if isinstance(axes, int) else axes
    assume(int(np.prod([shape[a] for a in axes])) > correction)
    x = _normal(seed, shape)
    th_fn = lambda t: torch.var(t, dim=_torch_dim(shape, axis), correction=correction, keepdim=keepdims)  # noqa
    compare_with_torch(torch, lambda t: F.var(t, axis=axis, keepdims=keepdims, correction=correction), th_fn, [x])
    compare_with_torch(torch, lambda t: t.var(axis, bool(correction), keepdims), th_fn, [x])   # torch positional


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 2)])
def test_extreme_ties_share_gradient(torch, name, axis):
    """Tied extremes split the gradient equally, like torch.amax/amin."""
    x = np.random.default_rng(0).integers(0, 3, size=(4, 3, 2)).astype(np.float64)
    sc_op = getattr(F, name)
    th_op = torch.amax if name == "max" else torch.amin
    compare_with_torch(torch, lambda t: sc_op(t, axis=axis), lambda t: th_op(t, dim=_torch_dim(x.shape, axis)), [x])


def test_tensor_method_forms(torch):
    x = _normal(0, (2, 3, 4))
    compare_with_torch(torch, lambda t: t.sum(1).mean() + t.max(axis=(0, 2)).sum() + t.var(),
                       lambda t: t.sum(1).mean() + t.amax(dim=(0, 2)).sum() + t.var(), [x])


# ---- shape ops
def _factorizations(n: int) -> list[tuple[int, ...]]:
    out = [(n,), (1, n), (n, 1)]
    for a in range(2, n):
        if n % a == 0:
            out.append((a, n // a))
            for b in range(2, n // a):
                if (n // a) % b == 0:
                    out.append((a, b, n // a // b))
    return out


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4), data=st.data(), seed=SEEDS)
def test_reshape(torch, shape, data, seed):
    x = _normal(seed, shape)
    new = list(data.draw(st.sampled_from(_factorizations(x.size))))
    if data.draw(st.booleans()):
        new[data.draw(st.integers(0, len(new) - 1))] = -1
    compare_with_torch(torch, lambda t: t.reshape(*new), lambda t: t.reshape(*new), [x])
    compare_with_torch(torch, lambda t: F.view(t, new), lambda t: t.view(*new), [x])


def test_reshape_error_message():
    with pytest.raises(ValueError, match="reshape"):
        sc.Tensor(np.zeros((2, 3))).reshape(4, 2)


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4), data=st.data(), seed=SEEDS)
def test_transpose_permute(torch, shape, data, seed):
    x = _normal(seed, shape)
    nd = len(shape)
    d0, d1 = data.draw(st.integers(-nd, nd - 1)), data.draw(st.integers(-nd, nd - 1))
    perm = data.draw(st.permutations(range(nd)))
    compare_with_torch(torch, lambda t: F.transpose(t, d0, d1), lambda t: t.transpose(d0, d1), [x])
    compare_with_torch(torch, lambda t: t.permute(*perm), lambda t: t.permute(*perm), [x])
    compare_with_torch(torch, lambda t: t.T, lambda t: t.permute(*reversed(range(nd))), [x])


def test_permute_rejects_non_permutation():
    with pytest.raises(ValueError, match="permute"):
        sc.Tensor(np.zeros((2, 3))).permute(0, 0)


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4), data=st.data(), seed=SEEDS)
def test_flatten(torch, shape, data, seed):
    x = _normal(seed, shape)
    nd = len(shape)
    s = data.draw(st.integers(0, nd - 1))
    e = data.draw(st.integers(s, nd - 1))
    s_arg = s - nd if data.draw(st.booleans()) else s
    e_arg = e - nd if data.draw(st.booleans()) else e
    compare_with_torch(torch, lambda t: F.flatten(t, s_arg, e_arg), lambda t: torch.flatten(t, s_arg, e_arg), [x])


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3), data=st.data(), seed=SEEDS)
def test_squeeze_unsqueeze(torch, shape, data, seed):
    x = _normal(seed, shape)
    nd = len(shape)
    d = data.draw(st.integers(-nd, nd - 1))
    u = data.draw(st.integers(-nd - 1, nd))
    compare_with_torch(torch, lambda t: t.squeeze(), lambda t: t.squeeze(), [x])
    compare_with_torch(torch, lambda t: t.squeeze(d), lambda t: t.squeeze(d), [x])
    compare_with_torch(torch, lambda t: t.unsqueeze(u), lambda t: t.unsqueeze(u), [x])


INDEX_CASES = [
    (slice(1, 3),),
    (slice(None, None, 2), 1),
    (Ellipsis, slice(0, 2)),
    (1, slice(None), 0),
    (None, slice(1, None)),
    (np.array([0, 2, 2, 1, 0]),),                    # repeated integer indices accumulate
    (slice(None), np.array([3, 0, 3])),
    (np.array([[0, 1], [1, 1]]), slice(1, 3)),
    (np.array([0, 1, 1]), np.array([2, 2, 0])),      # paired integer arrays, repeats
    (-1,),
]


@pytest.mark.parametrize("idx", INDEX_CASES, ids=[str(i) for i in range(len(INDEX_CASES))])
def test_index_cases(torch, idx):
    x = _normal(0, (3, 4, 2))
    th_idx = tuple(torch.tensor(i) if isinstance(i, np.ndarray) else i for i in idx)
    compare_with_torch(torch, lambda t: t[idx], lambda t: t[th_idx], [x])


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), seed=SEEDS, data=st.data())
def test_index_bool_mask_and_int_arrays(torch, shape, seed, data):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    mask = rng.random(shape) < 0.5
    compare_with_torch(torch, lambda t: t[mask], lambda t: t[torch.tensor(mask)], [x])
    rows = np.array(data.draw(st.lists(st.integers(-shape[0], shape[0] - 1), min_size=1, max_size=8)))
    compare_with_torch(torch, lambda t: t[rows], lambda t: t[torch.tensor(rows)], [x])
    compare_with_torch(torch, lambda t: t[sc.Tensor(rows)], lambda t: t[torch.tensor(rows)], [x])
    row_mask = rng.random(shape[0]) < 0.5
    compare_with_torch(torch, lambda t: t[row_mask], lambda t: t[torch.tensor(row_mask)], [x])


@SETTINGS
@given(base=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), n=st.integers(1, 4), data=st.data(), seed=SEEDS)
def test_concat(torch, base, n, data, seed):
    nd = len(base)
    axis = data.draw(st.integers(-nd, nd - 1))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))
    arrays = []
    for i, s in enumerate(sizes):
        shp = list(base)
        shp[axis] = s
        arrays.append(_normal(seed + i, shp))
    compare_with_torch(torch, lambda *ts: F.concat(list(ts), axis), lambda *ts: torch.cat(ts, axis), arrays)
    compare_with_torch(torch, lambda *ts: sc.cat(list(ts), dim=axis), lambda *ts: torch.cat(ts, dim=axis), arrays)


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), n=st.integers(1, 4), data=st.data(), seed=SEEDS)
def test_stack(torch, shape, n, data, seed):
    nd = len(shape) + 1
    axis = data.draw(st.integers(-nd, nd - 1))
    arrays = [_normal(seed + i, shape) for i in range(n)]
    compare_with_torch(torch, lambda *ts: F.stack(list(ts), axis), lambda *ts: torch.stack(ts, axis), arrays)


def test_concat_stack_reject_empty():
    with pytest.raises(ValueError, match="concat"):
        F.concat([])
    with pytest.raises(ValueError, match="stack"):
        F.stack([])


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4), data=st.data(), seed=SEEDS,
       value=st.sampled_from([0.0, -1.5]))
def test_pad(torch, shape, data, seed, value):
    x = _normal(seed, shape)
    k = data.draw(st.integers(1, len(shape)))
    pads = data.draw(st.lists(st.integers(0, 3), min_size=2 * k, max_size=2 * k))
    compare_with_torch(torch, lambda t: F.pad(t, pads, value),
                       lambda t: torch.nn.functional.pad(t, pads, mode="constant", value=value), [x])


def test_pad_errors():
    t = sc.Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="pad"):
        F.pad(t, (1,))
    with pytest.raises(ValueError, match="pad"):
        F.pad(t, (1, 1, 1, 1, 1, 1))
    with pytest.raises(ValueError, match="pad"):
        F.pad(t, (-4, 1))             # crops more than there is (-1 is a valid crop, as in PyTorch)


def test_flatten_rejects_reversed_dims():
    with pytest.raises(ValueError, match="flatten"):
        F.flatten(sc.Tensor(np.zeros((2, 3, 4))), 2, 1)


# ---- finite differences (no PyTorch)
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "var"])
@pytest.mark.parametrize("axis,keepdims", [(None, False), (1, True), ((0, 2), False), (-1, False)])
def test_reduction_finite_differences(name, axis, keepdims):
    x = _normal(7, (3, 2, 4))
    finite_difference_check(lambda t: getattr(F, name)(t, axis=axis, keepdims=keepdims), [x])
    if name in ("max", "min") and isinstance(axis, int):     # PyTorch's form: (values, indices) over one dim
        finite_difference_check(lambda t: getattr(F, name)(t, axis, keepdims).values, [x])


def test_shape_ops_finite_differences():
    x = _normal(3, (2, 3, 4))
    finite_difference_check(lambda t: F.pad(t.permute(2, 0, 1)[1:, np.array([0, 1, 1])], (1, 2)).flatten(1), [x])
    finite_difference_check(lambda a, b: F.stack([a, b * 2.0], 1).sum(0) + F.concat([a, b], 0)[1:3], [x, x[::-1]])


def test_std_and_clone(torch):
    x = _normal(4, (3, 4, 2))
    for dim, unbiased, keepdim in ((None, True, False), (1, False, True), ((0, 2), True, False)):
        compare_with_torch(torch, lambda t: t.std(dim, unbiased, keepdim),
                           lambda t: t.std(dim, unbiased=unbiased, keepdim=keepdim), [x])
    compare_with_torch(torch, lambda t: t.clone() * t, lambda t: t.clone() * t, [x])
    t = sc.Tensor(x)
    c = t.clone()
    c.data[0, 0, 0] = 99.0
    assert t.data[0, 0, 0] != 99.0
