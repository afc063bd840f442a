"""Pooling with ``ceil_mode`` vs PyTorch (float64, rtol 1e-12), forward and input gradient: output sizes (a
last window added by ceil mode, and dropped again when it would start in the right padding), max pooling with
stride/padding/dilation/ties/return_indices, average pooling with count_include_pad both ways and
divisor_override (windows hanging past the right padding divide by their clipped size), the modules
(including ``nn.AvgPool2d(divisor_override=...)``), the ReLU -> max pool fusion, and which ops raise."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import scratchcnn as sc
import scratchcnn.functional as F
from oracle.helpers import compare_with_torch
from scratchcnn import nn
from scratchcnn.nn.fused import conv_relu_max_pool, relu_max_pool

RTOL = ATOL = 1e-12


def _windows_see_input(spatial, kernel, stride, padding, dilation, out_sz) -> bool:
    """False when some window's taps are all padding (PyTorch then routes its gradient to an out-of-range
    flat index; the degenerate case test_pool_oracle.py also leaves out)."""
    return all(any(0 <= o * s - p + j * d < n for j in range(k))
               for n, k, s, p, d, osz in zip(spatial, kernel, stride, padding, dilation, out_sz) for o in range(osz))


def _torch_or_error(fn, *args, **kw):
    """``fn(*args, **kw)``, or None where torch refuses the sizes."""
    try:
        return fn(*args, **kw)
    except RuntimeError:
        return None


# ----------------------------------------------------------------------------------- every small 1-D case
@pytest.mark.parametrize("k, s", list(itertools.product(range(1, 5), range(1, 4))))
def test_every_small_1d_case_matches_torch(torch, k, s):
    """All L 1..8, padding 0..k//2, dilation 1..2, ceil_mode both ways: the same output sizes (or both raise),
    values and gradients as torch (max: with ties; avg: count_include_pad both ways)."""
    tF = torch.nn.functional
    checked = 0
    for L, p, d, ceil in itertools.product(range(1, 9), range(k // 2 + 1), (1, 2), (False, True)):
        where = f"L={L} k={k} s={s} p={p} d={d} ceil={ceil}"
        x = np.random.default_rng(L * 100 + p * 10 + d).integers(-2, 3, size=(2, 3, L)).astype(np.float64)
        t_out = _torch_or_error(tF.max_pool1d, torch.tensor(x), k, s, p, d, ceil_mode=ceil)
        if t_out is None:
            with pytest.raises(ValueError, match="too small"):
                F.max_pool1d(x, k, s, p, d, ceil_mode=ceil)
            continue
        assert F.max_pool1d(x, k, s, p, d, ceil_mode=ceil).shape == tuple(t_out.shape), where
        if _windows_see_input((L,), (k,), (s,), (p,), (d,), t_out.shape[-1:]):
            compare_with_torch(torch, lambda a: F.max_pool1d(a, k, s, p, d, ceil_mode=ceil),
                               lambda a: tF.max_pool1d(a, k, s, p, d, ceil_mode=ceil), [x], rtol=RTOL, atol=ATOL)
            checked += 1
        if d == 1:
            for include in (True, False):
                compare_with_torch(torch, lambda a: F.avg_pool1d(a, k, s, p, ceil, include),
                                   lambda a: tF.avg_pool1d(a, k, s, p, ceil, include),
                                   [x + np.linspace(0, 1, L)], rtol=RTOL, atol=ATOL)
                checked += 1
    assert checked > 0


# ----------------------------------------------------------------------------------- worked output sizes
@pytest.mark.parametrize("L, k, s, p, d, floor_out, ceil_out", [
    (5, 2, 2, 0, 1, 2, 3),      # ceil adds a window holding only x[4] (hangs 1 past the end)
    (7, 3, 2, 1, 1, 4, 4),      # windows already end exactly at the right padding
    (6, 3, 2, 1, 1, 3, 4),      # ceil adds a window starting at x[5], hanging past the right padding
    (5, 2, 2, 1, 1, 3, 3),      # ceil's extra window would start in the right padding: dropped again
    (4, 4, 3, 2, 1, 2, 2),      # ditto with a wide padding
    (2, 3, 2, 0, 1, None, 1),   # kernel wider than the input: floor has no window, ceil has one
    (8, 3, 3, 1, 2, 2, 3),      # dilated, ceil adds a window
    (8, 2, 3, 1, 2, 3, 3),      # dilated, ceil's extra window starts in the right padding: dropped
])
def test_ceil_mode_adds_or_drops_the_last_window_like_torch(torch, L, k, s, p, d, floor_out, ceil_out):
    x = np.random.default_rng(L).permutation(2 * L).reshape(1, 2, L).astype(np.float64)
    for ceil, want in ((False, floor_out), (True, ceil_out)):
        t = _torch_or_error(torch.nn.functional.max_pool1d, torch.tensor(x), k, s, p, d, ceil_mode=ceil)
        assert (None if t is None else t.shape[-1]) == want                 # the case is what it claims to be
        if want is None:
            with pytest.raises(ValueError, match="max_pool1d: input of shape .* too small"):
                F.max_pool1d(x, k, s, p, d, ceil_mode=ceil)
            continue
        compare_with_torch(torch, lambda a: F.max_pool1d(a, k, s, p, d, ceil_mode=ceil),
                           lambda a: torch.nn.functional.max_pool1d(a, k, s, p, d, ceil_mode=ceil), [x],
                           rtol=RTOL, atol=ATOL)
        if d == 1:
            for include in (True, False):
                compare_with_torch(torch, lambda a: F.avg_pool1d(a, k, s, p, ceil, include),
                                   lambda a: torch.nn.functional.avg_pool1d(a, k, s, p, ceil, include), [x],
                                   rtol=RTOL, atol=ATOL)


def test_avg_divisor_of_overhanging_windows_is_clipped_like_torch(torch):
    """L=6, k=3, s=2, p=1, ceil: windows [-1,2) [1,4) [3,6) [5,8): the last one holds x[5], the right padding
    and one position past it, so torch divides by 2 (count_include_pad) or 1 (real elements only)."""
    x = np.ones((1, 1, 6))
    with_pad = F.avg_pool1d(x, 3, 2, 1, ceil_mode=True).data[0, 0]
    without = F.avg_pool1d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False).data[0, 0]
    np.testing.assert_allclose(with_pad, [2 / 3, 1, 1, 1 / 2], rtol=RTOL)
    np.testing.assert_allclose(without, [1, 1, 1, 1], rtol=RTOL)
    t = torch.nn.functional.avg_pool1d(torch.tensor(x), 3, 2, 1, ceil_mode=True)
    np.testing.assert_allclose(with_pad, t.numpy()[0, 0], rtol=RTOL)


# ----------------------------------------------------------------------------------- random 1-D and 2-D
@st.composite
def ceil_configs(draw, nd: int, dilated: bool):
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    stride = None if draw(st.booleans()) else tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd)) if dilated else (1,) * nd
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    spatial = tuple(max(1, e - 2 * p - 1) + draw(st.integers(0, 8)) for e, p in zip(extent, padding))
    batch = draw(st.sampled_from([(), (1,), (2,), (3,)]))   # () = unbatched
    return (*batch, draw(st.integers(1, 3)), *spatial), kernel, stride, padding, dilation


def _torch_out_size(torch, nd, x, kernel, stride, padding, dilation, ceil):
    """torch's output spatial size, None where it refuses the input as too small."""
    fn = getattr(torch.nn.functional, f"max_pool{nd}d")
    out = _torch_or_error(fn, torch.tensor(x), kernel, stride, padding, dilation, ceil_mode=ceil)
    return None if out is None else tuple(out.shape[-nd:])


@settings(max_examples=80, deadline=None)
@given(nd=st.sampled_from([1, 2]), data=st.data(), seed=st.integers(0, 2**16), ties=st.booleans(),
       ceil=st.booleans())
def test_max_pool_ceil_mode_matches_torch(torch, nd, data, seed, ties, ceil):
    shape, kernel, stride, padding, dilation = data.draw(ceil_configs(nd, dilated=True))
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.integers(-2, 3, size=shape), 0).astype(np.float64) if ties else rng.standard_normal(shape)
    out_sz = _torch_out_size(torch, nd, x, kernel, stride, padding, dilation, ceil)
    assume(out_sz is not None)
    assume(_windows_see_input(shape[-nd:], kernel, stride or kernel, padding, dilation, out_sz))
    name = f"max_pool{nd}d"
    compare_with_torch(torch, lambda a: getattr(F, name)(a, kernel, stride, padding, dilation, ceil_mode=ceil),
                       lambda a: getattr(torch.nn.functional, name)(a, kernel, stride, padding, dilation,
                                                                    ceil_mode=ceil),
                       [x], seed=seed, rtol=RTOL, atol=ATOL)


@settings(max_examples=80, deadline=None)
@given(nd=st.sampled_from([1, 2]), data=st.data(), seed=st.integers(0, 2**16), include=st.booleans(),
       ceil=st.booleans(), override=st.sampled_from([None, None, 1, 3, 7]))
def test_avg_pool_ceil_mode_matches_torch(torch, nd, data, seed, include, ceil, override):
    shape, kernel, stride, padding, _ = data.draw(ceil_configs(nd, dilated=False))
    x = np.random.default_rng(seed).standard_normal(shape)
    assume(_torch_out_size(torch, nd, x, kernel, stride, padding, (1,) * nd, ceil) is not None)
    name = f"avg_pool{nd}d"
    kw = dict(ceil_mode=ceil, count_include_pad=include)
    if nd == 2:                                  # torch's avg_pool1d has no divisor_override
        kw["divisor_override"] = override
    compare_with_torch(torch, lambda a: getattr(F, name)(a, kernel, stride, padding, **kw),
                       lambda a: getattr(torch.nn.functional, name)(a, kernel, stride, padding, **kw),
                       [x], seed=seed, rtol=RTOL, atol=ATOL)


def test_return_indices_with_ceil_mode_match_torch(torch):
    rng = np.random.default_rng(4)
    for nd, shape, k, s, p, d in [(2, (2, 3, 9, 8), 3, 2, 1, 1), (2, (3, 7, 6), (2, 3), 2, (1, 0), (2, 1)),
                                  (1, (2, 2, 13), 4, 3, 2, 1), (1, (2, 2, 5), 2, 2, 0, 1),
                                  (2, (1, 2, 5, 5), 2, 2, 0, 1)]:
        x = np.maximum(rng.integers(-2, 3, size=shape), 0).astype(np.float64)
        for requires_grad in (False, True):
            out, idx = getattr(F, f"max_pool{nd}d")(sc.Tensor(x, requires_grad=requires_grad), k, s, p, d,
                                                    ceil_mode=True, return_indices=True)
            t_out, t_idx = getattr(torch.nn.functional, f"max_pool{nd}d")(torch.tensor(x), k, s, p, d,
                                                                         ceil_mode=True, return_indices=True)
            np.testing.assert_array_equal(out.data, t_out.numpy())
            np.testing.assert_array_equal(idx.data, t_idx.numpy())


# ----------------------------------------------------------------------------------- modules and fusion
@pytest.mark.parametrize("make", [
    lambda T: T.MaxPool2d(3, 2, 1, ceil_mode=True), lambda T: T.MaxPool2d(2, ceil_mode=True),
    lambda T: T.MaxPool1d(3, 2, 1, dilation=2, ceil_mode=True),
    lambda T: T.AvgPool2d(3, 2, 1, ceil_mode=True), lambda T: T.AvgPool2d(2, ceil_mode=True, count_include_pad=False),
    lambda T: T.AvgPool2d(3, 2, 1, ceil_mode=True, divisor_override=4),
    lambda T: T.AvgPool2d(3, 2, 1, False, True, 5),                     # positional, PyTorch's order
    lambda T: T.AvgPool2d((2, 3), (2, 1), (1, 0), True, False, 2),
    lambda T: T.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False),
])
def test_modules_match_torch(torch, make):
    m, th = make(nn), make(torch.nn)
    nd = 1 if type(m).__name__.endswith("1d") else 2
    x = np.random.default_rng(5).standard_normal((2, 3) + (7, 6)[:nd])
    compare_with_torch(torch, m, th, [x], rtol=RTOL, atol=ATOL)
    assert repr(m) == repr(th)
    if hasattr(th, "divisor_override"):
        assert m.divisor_override == th.divisor_override


def test_avg_pool1d_module_has_no_divisor_override_like_torch(torch):
    with pytest.raises(TypeError):
        torch.nn.AvgPool1d(2, divisor_override=2)
    with pytest.raises(TypeError):
        nn.AvgPool1d(2, divisor_override=2)


@pytest.mark.parametrize("nd", [1, 2])
def test_relu_max_pool_fusions_with_ceil_mode_match_torch(torch, nd):
    """relu_max_pool swaps ReLU and a ceil-mode pool; conv_relu_max_pool must not take the conv + pool fused op
    (it needs the pool to tile the conv output) but still give torch's values and gradients."""
    rng = np.random.default_rng(6)
    conv = (nn.Conv1d if nd == 1 else nn.Conv2d)(2, 3, 3).double()
    tconv = (torch.nn.Conv1d if nd == 1 else torch.nn.Conv2d)(2, 3, 3)
    tconv.load_state_dict({k: torch.tensor(v) for k, v in conv.state_dict().items()})
    pool = (nn.MaxPool1d if nd == 1 else nn.MaxPool2d)(2, ceil_mode=True)
    tpool = (torch.nn.MaxPool1d if nd == 1 else torch.nn.MaxPool2d)(2, ceil_mode=True)
    x = rng.standard_normal((2, 2) + (10,) * nd)                       # conv output 8: pool would tile it
    y = conv_relu_max_pool(conv, nn.ReLU(), pool, sc.Tensor(x))
    assert y._node.inputs[0]._node.fn.__name__ == "MaxPoolNd"
    for size in (10, 11):                                              # conv output 8 (even) and 9 (odd)
        x = rng.standard_normal((2, 2) + (size,) * nd)
        compare_with_torch(torch, lambda a: conv_relu_max_pool(conv, nn.ReLU(), pool, a),
                           lambda a: tpool(torch.relu(tconv(a))), [x], rtol=1e-10, atol=1e-12)
        compare_with_torch(torch, lambda a: relu_max_pool(nn.ReLU(), pool, a),
                           lambda a: tpool(torch.relu(a)), [x], rtol=RTOL, atol=ATOL)
        compare_with_torch(torch, lambda a: F.max_pool2d(F.relu(a * 1.0), 2, ceil_mode=True) if nd == 2
                           else F.max_pool1d(F.relu(a * 1.0), 2, ceil_mode=True),
                           lambda a: tpool(torch.relu(a * 1.0)), [x], rtol=RTOL, atol=ATOL)
