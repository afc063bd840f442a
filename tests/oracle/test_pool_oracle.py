"""Pooling vs PyTorch (float64, rtol 1e-6), forward and input gradient: max pooling (overlapping windows,
padding, dilation, many ties -> first maximum wins), average pooling (count_include_pad both ways,
divisor_override), adaptive average pooling (sizes that do not divide, ``None`` entries, upsampling sizes),
1-D and 2-D, batched and unbatched."""
from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import scratchcnn.functional as F
from oracle.helpers import compare_with_torch


@st.composite
def pool_configs(draw, nd: int, dilated: bool):
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    stride = None if draw(st.booleans()) else tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd)) if dilated else (1,) * nd
    extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    spatial = tuple(max(1, e - 2 * p) + draw(st.integers(0, 8)) for e, p in zip(extent, padding))
    batch = draw(st.sampled_from([(), (1,), (2,), (3,)]))   # () = unbatched
    shape = (*batch, draw(st.integers(1, 3)), *spatial)
    return shape, kernel, stride, padding, dilation


def _every_window_sees_input(spatial, kernel, stride, padding, dilation) -> bool:
    """False when some (dilated, padded) window holds only padding: PyTorch then routes that window's
    gradient to an out-of-range flat index (a neighbouring plane), a degenerate case we do not mimic."""
    for n, k, s, p, d in zip(spatial, kernel, stride or kernel, padding, dilation):
        for o in range((n + 2 * p - d * (k - 1) - 1) // s + 1):
            if not any(0 <= o * s - p + j * d < n for j in range(k)):
                return False
    return True


def _input(seed: int, shape, ties: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if ties:   # few distinct values (and ReLU-like zeros): many tied maxima inside windows
        return np.maximum(rng.integers(-2, 3, size=shape), 0).astype(np.float64)
    return rng.standard_normal(shape)


@settings(max_examples=60, deadline=None)
@given(nd=st.sampled_from([1, 2]), data=st.data(), seed=st.integers(0, 2**16), ties=st.booleans())
def test_max_pool_matches_torch(torch, nd, data, seed, ties):
    shape, kernel, stride, padding, dilation = data.draw(pool_configs(nd, dilated=True))
    assume(_every_window_sees_input(shape[-nd:], kernel, stride, padding, dilation))
    name = f"max_pool{nd}d"
    compare_with_torch(torch, lambda x: getattr(F, name)(x, kernel, stride, padding, dilation),
                       lambda x: getattr(torch.nn.functional, name)(x, kernel, stride, padding, dilation),
                       [_input(seed, shape, ties)], seed=seed)


@settings(max_examples=50, deadline=None)
@given(nd=st.sampled_from([1, 2]), data=st.data(), seed=st.integers(0, 2**16), include=st.booleans())
def test_avg_pool_matches_torch(torch, nd, data, seed, include):
    shape, kernel, stride, padding, _ = data.draw(pool_configs(nd, dilated=False))
    name = f"avg_pool{nd}d"
    compare_with_torch(torch, lambda x: getattr(F, name)(x, kernel, stride, padding, count_include_pad=include),
                       lambda x: getattr(torch.nn.functional, name)(x, kernel, stride, padding,
                                                                    count_include_pad=include),
                       [_input(seed, shape, False)], seed=seed)


def test_avg_pool2d_divisor_override_matches_torch(torch):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6))
    compare_with_torch(torch, lambda a: F.avg_pool2d(a, 3, 2, 1, divisor_override=5),
                       lambda a: torch.nn.functional.avg_pool2d(a, 3, 2, 1, divisor_override=5), [x])


@settings(max_examples=50, deadline=None)
@given(nd=st.sampled_from([1, 2]), data=st.data(), seed=st.integers(0, 2**16))
def test_adaptive_avg_pool_matches_torch(torch, nd, data, seed):
    spatial = tuple(data.draw(st.integers(1, 13)) for _ in range(nd))
    out = tuple(data.draw(st.one_of(st.none(), st.integers(1, s + 2))) for s in spatial)
    if nd == 1:
        out = out[0] if out[0] is not None else spatial[0]   # torch's 1-D version takes a plain int
    batch = data.draw(st.sampled_from([(), (2,)]))
    x = np.random.default_rng(seed).standard_normal((*batch, data.draw(st.integers(1, 3)), *spatial))
    name = f"adaptive_avg_pool{nd}d"
    compare_with_torch(torch, lambda a: getattr(F, name)(a, out),
                       lambda a: getattr(torch.nn.functional, name)(a, out), [x], seed=seed)


def test_global_avg_pool_matches_torch_mean(torch):
    x = np.random.default_rng(1).standard_normal((3, 4, 5, 6))
    compare_with_torch(torch, lambda a: F.global_avg_pool(a), lambda a: a.mean(dim=(2, 3)), [x])
    compare_with_torch(torch, lambda a: F.global_avg_pool(a, keepdims=True),
                       lambda a: torch.nn.functional.adaptive_avg_pool2d(a, 1), [x])


def test_max_pool_return_indices_match_torch(torch):
    rng = np.random.default_rng(2)
    for nd, shape, k, s, p, d in [(2, (2, 3, 9, 8), 3, 2, 1, 1), (2, (3, 7, 7), (2, 3), 1, (1, 0), 2),
                                  (1, (2, 2, 13), 4, 3, 2, 1)]:
        x = np.maximum(rng.integers(-2, 3, size=shape), 0).astype(np.float64)
        out, idx = getattr(F, f"max_pool{nd}d")(x, k, s, p, d, return_indices=True)
        t_out, t_idx = getattr(torch.nn.functional, f"max_pool{nd}d")(torch.tensor(x), k, s, p, d,
                                                                     return_indices=True)
        np.testing.assert_array_equal(out.data, t_out.numpy())
        np.testing.assert_array_equal(idx.data, t_idx.numpy())
        assert idx.dtype == np.int64


def test_max_pool_propagates_nan_like_torch(torch):
    x = np.arange(32, dtype=np.float64).reshape(1, 2, 4, 4)
    x[0, 0, 1, 1] = np.nan
    x[0, 1, 0, 0] = np.nan
    x[0, 1, 1, 1] = np.nan
    compare_with_torch(torch, lambda a: F.max_pool2d(a, 2), lambda a: torch.nn.functional.max_pool2d(a, 2), [x])


@settings(max_examples=40, deadline=None)
@given(nd=st.sampled_from([1, 2]), data=st.data(), seed=st.integers(0, 2**31 - 1), ties=st.booleans(),
       shared=st.booleans())
def test_relu_then_max_pool_matches_torch(torch, nd, data, seed, ties, shared):
    """relu -> max_pool is fused in backward (the pool's gradient skips the full-size ReLU backward); values
    and gradients must stay PyTorch's, also when the ReLU output has a second consumer."""
    shape, kernel, stride, padding, dilation = data.draw(pool_configs(nd, dilated=True))
    assume(_every_window_sees_input(shape[-nd:], kernel, stride, padding, dilation))
    x = _input(seed, shape, ties) - (0.5 if ties else 0.3)        # negatives, zeros and ties
    pool = F.max_pool1d if nd == 1 else F.max_pool2d
    tpool = torch.nn.functional.max_pool1d if nd == 1 else torch.nn.functional.max_pool2d

    def sc_fn(a):
        h = F.relu(a * 1.0)
        y = pool(h, kernel, stride, padding, dilation)
        return (y.sum() * 0 + h.sum() * 0.5 + (y * 2).sum()) if shared else y

    def th_fn(a):
        h = torch.relu(a * 1.0)
        y = tpool(h, kernel, stride, padding, dilation)
        return (y.sum() * 0 + h.sum() * 0.5 + (y * 2).sum()) if shared else y

    compare_with_torch(torch, sc_fn, th_fn, [x])


def test_relu_max_pool_fusion_keeps_retain_grad(torch):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 6, 6))
    import scratchcnn as sc
    a, t = sc.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    h, th = F.relu(a * 1.0), torch.relu(t * 1.0)
    h.retain_grad()
    th.retain_grad()
    F.max_pool2d(h, 2).sum().backward()
    torch.nn.functional.max_pool2d(th, 2).sum().backward()
    np.testing.assert_allclose(h.grad, th.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-12)
