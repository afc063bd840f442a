"""The fused conv + max pool (functional.conv_max_pool_nd) vs PyTorch's conv then max_pool (float64, rtol 1e-6):
forward and the gradients of input, weight and bias over 1-D and 2-D geometries (strides, paddings, dilations,
both conv modes, pool sizes 1-3, 1-5 input channels, with and without bias), with every gradient requested or
only the weight's and bias's (the first-layer path that never forms the conv output's gradient); plus the
bit-for-bit equality with the separate ops, inference, a frozen weight with a trainable bias, and ties."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import scratchcnn as sc
import scratchcnn.functional as F
from oracle.helpers import compare_with_torch


@st.composite
def fused_configs(draw):
    nd = draw(st.sampled_from([1, 2]))
    pool = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    pads = tuple(draw(st.integers(0, 2)) for _ in range(nd))
    outs = tuple(pool * draw(st.integers(1, 4)) for _ in range(nd))
    # input size giving exactly that conv output: (S + 2p - d(k-1) - 1) // s + 1 == O
    sizes = tuple(max(1, (o - 1) * s + d * (k - 1) + 1 - 2 * p)
                  for o, s, d, k, p in zip(outs, stride, dilation, kernel, pads))
    cin, cout, n = draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    return dict(nd=nd, pool=pool, kernel=kernel, stride=stride, dilation=dilation, pads=pads, sizes=sizes, cin=cin,
                cout=cout, n=n, bias=draw(st.booleans()), mode=draw(st.sampled_from(["correlation", "convolution"])),
                x_grad=draw(st.booleans()), seed=draw(st.integers(0, 2 ** 16)))


def _fits(c) -> bool:
    from scratchcnn.functional._im2col import output_size
    return all(output_size(s, k, st_, p, p, d) % c["pool"] == 0 and output_size(s, k, st_, p, p, d) >= c["pool"]
               for s, k, st_, p, d in zip(c["sizes"], c["kernel"], c["stride"], c["pads"], c["dilation"]))


@settings(max_examples=60, deadline=None)
@given(fused_configs())
def test_conv_max_pool_matches_torch(torch, c):
    assume(_fits(c))
    rng = np.random.default_rng(c["seed"])
    nd = c["nd"]
    x = rng.standard_normal((c["n"], c["cin"], *c["sizes"]))
    w = rng.standard_normal((c["cout"], c["cin"], *c["kernel"]))
    arrays = [x, w] + ([rng.standard_normal(c["cout"])] if c["bias"] else [])
    conv_t = getattr(torch.nn.functional, f"conv{nd}d")
    pool_t = getattr(torch.nn.functional, f"max_pool{nd}d")

    def ours(x, w, b=None):
        return F.conv_max_pool_nd(x, w, b, c["stride"], c["pads"], c["dilation"], c["mode"], c["pool"])

    def theirs(x, w, b=None):
        if c["mode"] == "convolution":
            w = torch.flip(w, dims=tuple(range(2, 2 + nd)))
        return pool_t(conv_t(x, w, b, c["stride"], c["pads"], c["dilation"]), c["pool"])
    mask = [c["x_grad"], True] + ([True] if c["bias"] else [])
    compare_with_torch(torch, ours, theirs, arrays, grad_mask=mask)


def _pair(x_grad: bool, dtype=np.float64, seed=0, cin=1):
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, size=(5, cin, 12, 12)).astype(dtype)           # ties in every window
    w = rng.standard_normal((6, cin, 3, 3)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    g = rng.standard_normal((5, 6, 6, 6)).astype(dtype)
    out = []
    for fused in (True, False):
        X, W, B = sc.Tensor(x, requires_grad=x_grad), sc.Tensor(w, requires_grad=True), sc.Tensor(b, requires_grad=True)
        y = F.conv_max_pool_nd(X, W, B, 1, 1) if fused else F.max_pool2d(F.conv2d(X, W, B, padding=1), 2)
        y.backward(g)
        out.append((y.data, X.grad, W.grad, B.grad))
    return out


@pytest.mark.parametrize("x_grad", [False, True])
def test_equal_to_the_separate_ops(x_grad):
    """Forward bit for bit; the gradients to float64 rounding (the weight gradient sums per window offset)."""
    fused, plain = _pair(x_grad)
    np.testing.assert_array_equal(fused[0], plain[0])
    for a, b in zip(fused[1:], plain[1:]):
        if b is None:
            assert a is None
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_float32_close_to_the_separate_ops():
    fused, plain = _pair(False, np.float32, seed=3, cin=3)
    np.testing.assert_array_equal(fused[0], plain[0])
    for a, b in zip(fused[2:], plain[2:]):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-4)


def test_inference_and_frozen_weight():
    rng = np.random.default_rng(1)
    x = sc.Tensor(rng.standard_normal((3, 2, 8, 8)))
    w, b = sc.Tensor(rng.standard_normal((4, 2, 3, 3))), sc.Tensor(rng.standard_normal(4), requires_grad=True)
    with sc.no_grad():
        y0 = F.conv_max_pool_nd(x, w, b, padding=1)
    np.testing.assert_array_equal(y0.data, F.max_pool2d(F.conv2d(x, w, b, padding=1), 2).data)
    y = F.conv_max_pool_nd(x, w, b, padding=1)         # BitFit: only the bias trains
    g = rng.standard_normal(y.shape)
    y.backward(g)
    np.testing.assert_allclose(b.grad, g.sum(axis=(0, 2, 3)), rtol=1e-12)
    assert w.grad is None


def test_sizes_the_pool_does_not_tile_are_refused():
    x, w = sc.Tensor(np.zeros((1, 1, 7, 7))), sc.Tensor(np.zeros((2, 1, 3, 3)))
    with pytest.raises(ValueError, match="pool size dividing the conv output"):
        F.conv_max_pool_nd(x, w, None, padding=1)
    assert not F.fuses(x, w, 1, 1, 1, 1, (2, 2))


def test_backward_twice_with_retain_graph():
    rng = np.random.default_rng(2)
    x = sc.Tensor(rng.standard_normal((2, 1, 8, 8)))
    w = sc.Tensor(rng.standard_normal((3, 1, 3, 3)), requires_grad=True)
    y = F.conv_max_pool_nd(x, w, None, padding=1)
    g = rng.standard_normal(y.shape)
    y.backward(g, retain_graph=True)
    first = w.grad.copy()
    y.backward(g)
    np.testing.assert_allclose(w.grad, 2 * first, rtol=1e-12)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward(g)


@pytest.mark.parametrize("cin", [1, 6])          # the transposed (few channels) and the row-major im2col
@pytest.mark.parametrize("x_grad", [False, True])
def test_image_blocks_match_torch(torch, monkeypatch, cin, x_grad):
    """The forward fills, multiplies and pools a block of images at a time (blocks of 2 images here, 7 images:
    the last block is partial, and the blocks run on two threads)."""
    from scratchcnn import parallel
    from scratchcnn.functional import conv as conv_mod
    monkeypatch.setattr(conv_mod, "_EPILOGUE_BLOCK", 2 * 8 * 8 * 4)         # two images of 8x8x4 outputs
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ELEMENTS", 1)
    rng = np.random.default_rng(11)
    x, w, b = rng.standard_normal((7, cin, 10, 10)), rng.standard_normal((4, cin, 3, 3)), rng.standard_normal(4)
    old = sc.get_num_threads()
    sc.set_num_threads(2)
    try:
        compare_with_torch(torch, lambda a, c, e: F.conv_max_pool_nd(a, c, e, 1, 0, 1, "correlation", 2),
                           lambda a, c, e: torch.nn.functional.max_pool2d(torch.nn.functional.conv2d(a, c, e), 2),
                           [x, w, b], grad_mask=(x_grad, True, True))
    finally:
        sc.set_num_threads(old)


@pytest.mark.parametrize("nd,cin,pool", [(2, 1, 2), (2, 6, 2), (2, 2, (3, 2)), (1, 1, 3), (1, 5, 2)])
def test_blocked_forward_in_pool_major_order_matches_torch(torch, monkeypatch, nd, cin, pool):
    """Inference, frozen weights and first layers: the im2col blocks come in pool-major order (both im2col
    layouts, 1-D and 2-D, non-square pools, blocks of 2 images of 5 with the last partial, two threads); values,
    the input and bias gradients routed through the window maxima, a first layer's weight gradient from its
    pool-major columns, and ties (first maximum wins) as the separate ops."""
    from scratchcnn import parallel
    from scratchcnn.functional import conv as conv_mod
    pool_t = (pool,) * nd if isinstance(pool, int) else pool
    sizes = (12, 10)[:nd] if nd == 2 else (13,)
    kernel = (3,) * nd
    out = tuple(s - 2 for s in sizes)
    per = np.prod(out)
    monkeypatch.setattr(conv_mod, "_UNSAVED_COLS", int(2 * per * (cin * 3 ** nd + 1)))
    monkeypatch.setattr(conv_mod, "_EPILOGUE_BLOCK", int(2 * per * 4))      # kept columns: blocks of 2 images
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ELEMENTS", 1)
    monkeypatch.setattr(parallel, "_num_threads", 2)
    calls = []
    real = conv_mod._chunked_forward
    monkeypatch.setattr(conv_mod, "_chunked_forward", lambda *a: calls.append(a[-1]) or real(*a))
    rng = np.random.default_rng(12)
    x, w, b = rng.standard_normal((5, cin, *sizes)), rng.standard_normal((4, cin, *kernel)), rng.standard_normal(4)
    conv_t = getattr(torch.nn.functional, f"conv{nd}d")
    pool_fn = getattr(torch.nn.functional, f"max_pool{nd}d")
    keep = tuple(o - o % p for o, p in zip(out, pool_t))            # the pool must tile the conv output
    x = x[(slice(None), slice(None)) + tuple(slice(0, k + 2) for k in keep)].copy()

    def ours(a, c, e):
        return F.conv_max_pool_nd(a, c, e, 1, 0, 1, "correlation", pool_t)

    def theirs(a, c, e):
        return pool_fn(conv_t(a, c, e), pool_t)
    compare_with_torch(torch, ours, theirs, [x, w, b], grad_mask=(True, False, True))
    assert calls and all(c == pool_t for c in calls)                 # the pool-major path ran
    # a first layer (weight and bias gradients, none for the input): its kept columns are pool-major too, and
    # the weight gradient reads each window offset's rows per image block
    kept = []
    real_full = conv_mod._full_forward
    monkeypatch.setattr(conv_mod, "_full_forward", lambda *a: kept.append(a[12]) or real_full(*a))   # its pool
    compare_with_torch(torch, ours, theirs, [x, w, b], grad_mask=(False, True, True))
    compare_with_torch(torch, lambda a, c, e: ours(a, c, None), lambda a, c, e: theirs(a, c, None), [x, w, b],
                       grad_mask=(False, True, False))
    assert kept == [pool_t, pool_t]
    ties = rng.integers(-2, 3, size=x.shape).astype(np.float64)        # many equal window values
    with sc.no_grad():
        fused = ours(sc.Tensor(ties), sc.Tensor(np.round(w)), sc.Tensor(np.round(b))).data   # exact sums
    sep = theirs(torch.tensor(ties), torch.tensor(np.round(w)), torch.tensor(np.round(b))).numpy()
    np.testing.assert_array_equal(fused, sep)
    # integer outputs tie inside windows: the gradient must go to the first maximum, as torch routes it
    compare_with_torch(torch, ours, theirs, [ties, np.round(w), np.round(b)], grad_mask=(True, False, True))
    compare_with_torch(torch, ours, theirs, [ties, np.round(w), np.round(b)], grad_mask=(False, True, True))
