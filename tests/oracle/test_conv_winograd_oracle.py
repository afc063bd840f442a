"""Winograd F(4x4, 3x3) convolution (functional/conv_winograd.py) vs PyTorch: float64 forward and every gradient
(rtol 1e-6) over sizes that are and are not multiples of the 4x4 tile, asymmetric paddings, both modes, with and
without bias, each subset of inputs needing a gradient; against finite differences; and conv2d's choice of it
(float32 training of many-channel 3x3 layers only), with float32 errors bounded against float64."""
from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
import scratchcnn.functional as F
from scratchcnn.functional import conv_winograd
from scratchcnn.functional.conv_winograd import Conv2dWinograd
from oracle.helpers import compare_with_torch, finite_difference_check


@pytest.fixture(autouse=True)
def _enabled():
    """Every test starts with Winograd allowed, as a fresh process does, and leaves it so."""
    old = conv_winograd.is_enabled()
    conv_winograd.set_enabled(True)
    yield
    conv_winograd.set_enabled(old)


def _torch_conv(torch, x, w, b, pads, mode):
    """torch's conv2d of ``x`` zero-padded by ``pads`` ((top, bottom), (left, right)), kernel flipped for
    ``mode="convolution"``."""
    (top, bottom), (left, right) = pads
    xp = torch.nn.functional.pad(x, (left, right, top, bottom))
    return torch.nn.functional.conv2d(xp, w.flip((2, 3)) if mode == "convolution" else w, b)


@st.composite
def winograd_configs(draw):
    pads, side = [], []
    for _ in range(2):      # output sides 1-13: below, at and across tile boundaries (4, 8, 12)
        out = draw(st.integers(1, 13))
        lo = draw(st.integers(0, min(3, out + 1)))
        hi = draw(st.integers(0, min(3, out + 1 - lo)))     # so that the input side out + 2 - lo - hi >= 1
        pads.append((lo, hi))
        side.append(out + 2 - lo - hi)
    pads = tuple(pads)
    n, c, k = draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    grads = draw(st.sampled_from([(True, True, True), (True, False, False), (False, True, True),
                                  (False, True, False), (True, True, False)]))
    return (n, c, *side), (k, c, 3, 3), pads, draw(st.booleans()), draw(st.sampled_from(["correlation",
                                                                                          "convolution"])), grads


@settings(max_examples=80, deadline=None)
@given(cfg=winograd_configs(), seed=st.integers(0, 2**16))
def test_winograd_matches_torch_float64(torch, cfg, seed):
    x_shape, w_shape, pads, bias, mode, grads = cfg
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape)]
    mask = list(grads[:2])
    if bias:
        arrays.append(rng.standard_normal(w_shape[0]))
        mask.append(grads[2])

    def sc_fn(x, w, b=None):
        return Conv2dWinograd.apply(x, w, b, pads, mode == "convolution")

    def th_fn(x, w, b=None):
        return _torch_conv(torch, x, w, b, pads, mode)
    compare_with_torch(torch, sc_fn, th_fn, arrays, grad_mask=mask, seed=seed)


@pytest.mark.parametrize("side", [4, 5, 8, 14])
def test_winograd_equals_conv2d_on_layer_shapes(torch, side):
    """The shapes it runs in practice (64 channels in, 40 out, padding 1; 14 is seed001's second layer)."""
    rng = np.random.default_rng(side)
    arrays = [rng.standard_normal((2, 64, side, side)), rng.standard_normal((40, 64, 3, 3)),
              rng.standard_normal(40)]
    compare_with_torch(torch, lambda x, w, b: Conv2dWinograd.apply(x, w, b, ((1, 1), (1, 1)), False),
                       lambda x, w, b: torch.nn.functional.conv2d(x, w, b, padding=1), arrays)


def test_winograd_finite_differences():
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((2, 2, 5, 6)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)]
    finite_difference_check(lambda x, w, b: Conv2dWinograd.apply(x, w, b, ((1, 0), (2, 1)), True), arrays)


def _spy():
    return mock.patch.object(Conv2dWinograd, "apply", side_effect=Conv2dWinograd.apply)


def _layer(dtype=np.float32, cin=32, cout=32, side=27, seed=0):
    """3 images of side x side: 2,187 output positions with padding 1 (>= MIN_OUTPUT_PIXELS)."""
    rng = np.random.default_rng(seed)
    x = sc.Tensor(rng.standard_normal((3, cin, side, side)).astype(dtype), requires_grad=True)
    w = sc.Tensor((rng.standard_normal((cout, cin, 3, 3)) / np.sqrt(9 * cin)).astype(dtype), requires_grad=True)
    b = sc.Tensor(rng.standard_normal(cout).astype(dtype), requires_grad=True)
    return x, w, b


def test_conv2d_trains_many_channel_float32_layers_by_winograd(torch):
    """conv2d picks Winograd for a float32 3x3 stride-1 layer with >= 32 channels and >= 2,048 output positions
    whose weight trains; its float32 values and gradients stay within 2e-5 of the float64 result's scale (the
    direct GEMM's: ~5e-7)."""
    x, w, b = _layer()
    with _spy() as spy:
        y = F.conv2d(x, w, b, padding=1)
    assert spy.call_count == 1
    g = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(sc.Tensor(g.astype(np.float32)))
    tx, tw, tb = (torch.tensor(t.data.astype(np.float64), requires_grad=True) for t in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, padding=1)
    ty.backward(torch.tensor(g))
    for ours, ref in ((y.data, ty.detach()), (x.grad, tx.grad), (w.grad, tw.grad), (b.grad, tb.grad)):
        ref = ref.numpy()
        assert np.abs(np.asarray(ours, np.float64) - ref).max() <= 2e-5 * np.abs(ref).max()


@pytest.mark.parametrize("case", ["float64", "frozen weight", "no_grad", "disabled", "few channels", "stride 2",
                                  "dilation 2", "groups 2", "5x5 kernel", "unbatched", "few positions"])
def test_conv2d_keeps_im2col_outside_winograd_cases(case):
    x, w, b = _layer(np.float64 if case == "float64" else np.float32,
                     cin=16 if case == "few channels" else 32, side=26 if case == "few positions" else 27)
    kw = {"padding": 1}
    if case == "frozen weight":
        w.requires_grad = False
    elif case == "disabled":
        conv_winograd.set_enabled(False)
    elif case == "stride 2":
        kw["stride"] = 2
    elif case == "dilation 2":
        kw["dilation"] = 2
    elif case == "groups 2":
        w = sc.Tensor(w.data[:, :16], requires_grad=True)
        kw["groups"] = 2
    elif case == "5x5 kernel":
        w = sc.Tensor(np.zeros((32, 32, 5, 5), np.float32), requires_grad=True)
    elif case == "unbatched":
        x = sc.Tensor(x.data[0], requires_grad=True)
    with _spy() as spy:
        if case == "no_grad":
            with sc.no_grad():
                F.conv2d(x, w, b, **kw)
        else:
            F.conv2d(x, w, b, **kw)
    assert spy.call_count == 0


def test_winograd_and_im2col_train_alike():
    """One float32 layer trained both ways from the same start: forward and gradients agree to float32's
    Winograd rounding (relative to scale), so a training run cannot tell them apart beyond rounding."""
    outs = {}
    for flag in (True, False):
        conv_winograd.set_enabled(flag)
        x, w, b = _layer(cin=48, cout=36, seed=3)
        y = F.conv2d(x, w, b, padding=1)
        (y * y).sum().backward()
        outs[flag] = [y.data, x.grad, w.grad, b.grad]
    for a, ref in zip(outs[True], outs[False]):
        ref = np.asarray(ref, np.float64)
        assert np.abs(np.asarray(a, np.float64) - ref).max() <= 2e-5 * np.abs(ref).max()


def test_backward_twice_with_retain_graph_gives_the_same_gradients():
    x, w, b = _layer()
    y = F.conv2d(x, w, b, padding=1)
    g = sc.Tensor(np.random.default_rng(2).standard_normal(y.shape).astype(np.float32))
    y.backward(g, retain_graph=True)
    first = [np.array(t.grad) for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    y.backward(g)
    for a, t in zip(first, (x, w, b)):
        np.testing.assert_array_equal(a, t.grad)


@settings(max_examples=40, deadline=None)
@given(cfg=winograd_configs(), seed=st.integers(0, 2**16))
def test_winograd_max_pool_matches_torch_float64(torch, cfg, seed):
    """Conv2dWinogradMaxPool = max_pool2d(conv2d(...), 2) for even output sides (odd ones are made even by one
    more row / column of input), values and every gradient."""
    x_shape, w_shape, pads, bias, mode, grads = cfg
    n, c, h, w = x_shape
    h += (h + sum(pads[0]) - 2) % 2
    w += (w + sum(pads[1]) - 2) % 2
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((n, c, h, w)), rng.standard_normal(w_shape)]
    mask = list(grads[:2])
    if bias:
        arrays.append(rng.standard_normal(w_shape[0]))
        mask.append(grads[2])

    def sc_fn(x, wt, b=None):
        return conv_winograd.Conv2dWinogradMaxPool.apply(x, wt, b, pads, mode == "convolution")

    def th_fn(x, wt, b=None):
        return torch.nn.functional.max_pool2d(_torch_conv(torch, x, wt, b, pads, mode), 2)
    compare_with_torch(torch, sc_fn, th_fn, arrays, grad_mask=mask, seed=seed)


def test_seed001_block_pools_from_the_tiles_and_equals_the_unfused_path():
    """nn.fused runs seed001's conv2 -> ReLU -> 2x2 pool as Conv2dWinogradMaxPool when training in float32; a hook
    on the pool (which makes it observable) runs the unfused Winograd conv + MaxPool2d: the same values and
    gradients up to float32 rounding of the summation order (here bit-identical, the same tiles and max)."""
    from scratchcnn import models
    outs = []
    for hooked in (False, True):
        sc.manual_seed(0)
        m = models.get("seed001", num_classes=10)
        x = sc.Tensor(np.random.default_rng(1).standard_normal((32, 1, 28, 28)).astype(np.float32))
        handle = m.pool2.register_forward_hook(lambda *a: None) if hooked else None
        with mock.patch.object(conv_winograd.Conv2dWinogradMaxPool, "apply",
                               side_effect=conv_winograd.Conv2dWinogradMaxPool.apply) as spy:
            y = m(x)
        assert spy.call_count == (0 if hooked else 1)
        (y * y).sum().backward()
        outs.append([y.data] + [np.asarray(p.grad) for p in m.parameters()])
        if handle:
            handle.remove()
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)
