"""conv1d / conv2d / conv3d vs PyTorch (float64, rtol 1e-6): forward and the gradients of input, weight and
bias over random kernels 1-7, strides 1-3, paddings (ints, "valid", "same" with even kernels), dilations 1-3,
groups (incl. depthwise), batches 1-4, odd sizes, with and without bias, in both modes
(``mode="convolution"`` is compared with torch on the spatially flipped weight)."""
from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
import scratchcnn.functional as F
import scratchcnn.functional.conv1d_shifted as shifted_mod
import scratchcnn.parallel as parallel
from oracle.helpers import compare_with_torch, draw_groups

TORCH_CONV = {1: "conv1d", 2: "conv2d", 3: "conv3d"}
SC_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


@st.composite
def conv_configs(draw, nd: int, max_kernel: int = 7, max_side: int = 12):
    """A valid (input shape, weight shape, stride, padding, dilation, groups, bias, mode) for ``nd`` dims."""
    groups, cin_g, cout_g = draw_groups(draw, one=(4, 4), grouped=(3, 3, 3), depthwise=(5, 2))
    kernel = tuple(draw(st.integers(1, max_kernel)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    pad_kind = draw(st.sampled_from(["int", "tuple", "valid", "same"] if all(s == 1 for s in stride)
                                    else ["int", "tuple", "valid"]))
    if pad_kind == "int":
        padding = draw(st.integers(0, 3))
        pads = (padding,) * nd
    elif pad_kind == "tuple":
        pads = tuple(draw(st.integers(0, 3)) for _ in range(nd))
        padding = pads
    else:
        padding = pad_kind
        pads = tuple((d * (k - 1) + 1) // 2 for k, d in zip(kernel, dilation)) if pad_kind == "same" else (0,) * nd
    extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    # spatial size: at least the dilated kernel minus the padding, plus a random (often odd) extra
    spatial = tuple(max(1, e - 2 * p) + draw(st.integers(0, max_side - 1)) for e, p in zip(extent, pads))
    if pad_kind == "same":
        spatial = tuple(max(s, 1) for s in spatial)
    n = draw(st.integers(1, 4))
    x_shape = (n, groups * cin_g, *spatial)
    w_shape = (groups * cout_g, cin_g, *kernel)
    bias = draw(st.booleans())
    mode = draw(st.sampled_from(["correlation", "convolution"]))
    return x_shape, w_shape, stride, padding, dilation, groups, bias, mode


def _check(torch, nd, cfg, seed):
    x_shape, w_shape, stride, padding, dilation, groups, bias, mode = cfg
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape)]
    if bias:
        arrays.append(rng.standard_normal(w_shape[0]))
    flip_dims = tuple(range(2, 2 + nd))
    tfn = getattr(torch.nn.functional, TORCH_CONV[nd])

    def sc_fn(x, w, b=None):
        return SC_CONV[nd](x, w, b, stride, padding, dilation, groups, mode)

    def th_fn(x, w, b=None):
        w_eff = w.flip(flip_dims) if mode == "convolution" else w
        return tfn(x, w_eff, b, stride, padding, dilation, groups)

    compare_with_torch(torch, sc_fn, th_fn, arrays, seed=seed)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(max_examples=70, deadline=None)
@given(cfg=conv_configs(2), seed=st.integers(0, 2**16))
def test_conv2d_matches_torch(torch, cfg, seed):
    _check(torch, 2, cfg, seed)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(max_examples=50, deadline=None)
@given(cfg=conv_configs(1, max_side=16), seed=st.integers(0, 2**16))
def test_conv1d_matches_torch(torch, cfg, seed):
    _check(torch, 1, cfg, seed)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(max_examples=12, deadline=None)
@given(cfg=conv_configs(3, max_kernel=3, max_side=4), seed=st.integers(0, 2**16))
def test_conv3d_matches_torch(torch, cfg, seed):
    _check(torch, 3, cfg, seed)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_same_padding_even_kernels_pads_right(torch):
    """PyTorch's 'same' puts the extra zero on the right/bottom for even (dilated) extents."""
    rng = np.random.default_rng(3)
    for k, d in [((2, 4), (1, 1)), ((4, 2), (1, 3)), ((3, 6), (2, 1))]:
        x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, *k))
        compare_with_torch(torch, lambda a, b: F.conv2d(a, b, padding="same", dilation=d),
                           lambda a, b: torch.nn.functional.conv2d(a, b, padding="same", dilation=d), [x, w])


def test_partial_gradients_match_torch(torch):
    """Only some inputs require grad (frozen weights, BitFit-style bias-only, data input)."""
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((3, 4, 9, 7)), rng.standard_normal((6, 2, 3, 2)), rng.standard_normal(6)
    for mask in [(True, False, False), (False, True, False), (False, False, True), (False, True, True),
                 (True, False, True)]:
        compare_with_torch(torch, lambda a, c, e: F.conv2d(a, c, e, stride=(2, 1), padding=1, groups=2),
                           lambda a, c, e: torch.nn.functional.conv2d(a, c, e, stride=(2, 1), padding=1, groups=2),
                           [x, w, b], grad_mask=mask)


def test_unbatched_inputs_match_torch(torch):
    rng = np.random.default_rng(6)
    compare_with_torch(torch, lambda a, c: F.conv2d(a, c, padding=1, stride=2),
                       lambda a, c: torch.nn.functional.conv2d(a, c, padding=1, stride=2),
                       [rng.standard_normal((3, 10, 9)), rng.standard_normal((5, 3, 3, 3))])
    compare_with_torch(torch, lambda a, c: F.conv1d(a, c, dilation=2, mode="convolution"),
                       lambda a, c: torch.nn.functional.conv1d(a, c.flip(2), dilation=2),
                       [rng.standard_normal((4, 11)), rng.standard_normal((3, 4, 3))])


@pytest.mark.parametrize("kw", [dict(padding=1), dict(stride=2, padding=(2, 1), dilation=(1, 2), bias=False),
                                dict(padding="same", mode="convolution")])
@pytest.mark.parametrize("cout", [5, 70])         # narrow: blocks on both cores; wide: in turn, 2 BLAS threads
def test_conv_without_weight_gradient_in_blocks_matches_torch(torch, monkeypatch, kw, cout):
    """Frozen weights / inference: im2col + GEMM in blocks of images through a reused buffer (blocks of 2
    images here, 11 images: the last block is partial); input and bias gradients."""
    from scratchcnn.functional import conv as conv_mod
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ELEMENTS", 1)
    monkeypatch.setattr(parallel, "_num_threads", 2)
    rng = np.random.default_rng(8)
    kw = dict(kw)
    use_bias, mode = kw.pop("bias", True), kw.pop("mode", "correlation")
    x, w, b = rng.standard_normal((11, 8, 13, 12)), rng.standard_normal((cout, 8, 3, 3)), rng.standard_normal(cout)
    out = F.conv2d(sc.Tensor(x[:1]), sc.Tensor(w), **kw).shape[2:]
    monkeypatch.setattr(conv_mod, "_UNSAVED_COLS", int(2.5 * out[0] * out[1] * (8 * 9 + 1)))
    calls = []
    real = conv_mod._chunked_forward
    monkeypatch.setattr(conv_mod, "_chunked_forward", lambda *a: calls.append(1) or real(*a))
    wt = w[:, :, ::-1, ::-1].copy() if mode == "convolution" else w

    def sc_fn(a, c, e):
        return F.conv2d(a, c, e if use_bias else None, mode=mode, **kw)

    def th_fn(a, c, e):
        return torch.nn.functional.conv2d(a, torch.tensor(wt) if mode == "convolution" else c,
                                          e if use_bias else None, **kw)
    compare_with_torch(torch, sc_fn, th_fn, [x, w, b], grad_mask=(True, False, use_bias))
    with sc.no_grad():
        y = sc_fn(sc.Tensor(x), sc.Tensor(w), sc.Tensor(b))
    np.testing.assert_allclose(y.data, th_fn(torch.tensor(x), torch.tensor(w), torch.tensor(b)).numpy(), rtol=1e-6,
                               atol=1e-9)
    assert len(calls) == 2                # the blocked path ran (with grad, then without)


@pytest.mark.parametrize("nd", [1, 2])
def test_unpadded_channels_last_input_is_used_in_place_and_matches_torch(torch, nd):
    """With no padding a channels-last input (TextCNN's transposed embeddings) is read where it lies, not
    copied; values, gradients and the untouched input must still be right."""
    rng = np.random.default_rng(9)
    spatial = (13,) if nd == 1 else (7, 6)
    x_cl = rng.standard_normal((4, *spatial, 5))   # permuted to (N, C, *S): a view of channels-last memory
    w, b = rng.standard_normal((3, 5) + (3,) * nd), rng.standard_normal(3)
    conv_sc, conv_th = (F.conv1d, torch.nn.functional.conv1d) if nd == 1 else (F.conv2d, torch.nn.functional.conv2d)

    def sc_fn(a, c, e):
        return conv_sc(a.permute(0, nd + 1, *range(1, nd + 1)), c, e)

    def th_fn(a, c, e):
        return conv_th(a.permute(0, nd + 1, *range(1, nd + 1)), c, e)
    compare_with_torch(torch, sc_fn, th_fn, [x_cl, w, b])
    before = x_cl.copy()
    t = sc.Tensor(x_cl)
    y = conv_sc(t.permute(0, nd + 1, *range(1, nd + 1)), sc.Tensor(w), sc.Tensor(b))
    np.testing.assert_array_equal(t.data, before)
    np.testing.assert_allclose(y.data, th_fn(torch.tensor(x_cl), torch.tensor(w), torch.tensor(b)).numpy(), rtol=1e-6)


@settings(max_examples=25, deadline=None)
@given(ks=st.lists(st.integers(1, 6), min_size=1, max_size=4), cin=st.integers(1, 4), cout=st.integers(1, 3),
       n=st.integers(1, 3), extra=st.integers(0, 6), padding=st.integers(0, 2), dilation=st.integers(1, 2),
       bias=st.lists(st.booleans(), min_size=4, max_size=4), mode=st.sampled_from(["correlation", "convolution"]),
       seed=st.integers(0, 2 ** 16))
def test_conv1d_windows_matches_torch(torch, ks, cin, cout, n, extra, padding, dilation, bias, mode, seed):
    """Several windows at once (TextCNN, in any order of widths): each window's conv1d, zero-padded to the
    narrowest window's length, concatenated over channels; forward and every gradient."""
    rng = np.random.default_rng(seed)
    length = max(1, dilation * (max(ks) - 1) + 1 - 2 * padding) + extra
    x = rng.standard_normal((n, cin, length))
    ws = [rng.standard_normal((cout + i % 2, cin, k)) for i, k in enumerate(ks)]
    bs = [rng.standard_normal(w.shape[0]) for w, b in zip(ws, bias) if b]
    m = len(ws)

    def split(params):
        it = iter(params[m:])
        return list(params[:m]), [next(it) if b else None for b in bias[:m]]

    def sc_fn(xx, *params):
        w, b = split(params)
        return F.conv1d_windows(xx, w, b, padding=padding, dilation=dilation, mode=mode)

    def th_fn(xx, *params):
        w, b = split(params)
        if mode == "convolution":
            w = [torch.flip(wi, dims=[2]) for wi in w]
        outs = [torch.nn.functional.conv1d(xx, wi, bi, padding=padding, dilation=dilation) for wi, bi in zip(w, b)]
        lout = max(o.shape[2] for o in outs)
        return torch.cat([torch.nn.functional.pad(o, (0, lout - o.shape[2])) for o in outs], 1)
    compare_with_torch(torch, sc_fn, th_fn, [x, *ws, *bs], seed=seed)


@settings(max_examples=20, deadline=None)
@given(ks=st.lists(st.integers(1, 5), min_size=1, max_size=3), n=st.integers(1, 3), extra=st.integers(0, 5),
       dilation=st.integers(1, 2), row_block=st.sampled_from([1, 7, 20, 64]), seed=st.integers(0, 2 ** 16))
def test_conv1d_windows_row_blocks_match_torch(torch, ks, n, extra, dilation, row_block, seed):
    """The tap GEMMs in small row blocks (``conv1d_shifted.ROW_BLOCK`` lowered: 1 to a few rows, the taps of a
    block reaching into the next ones and past the end), the blocks split over the threads: forward and grads."""
    rng = np.random.default_rng(seed)
    length = dilation * (max(ks) - 1) + 1 + extra
    x = rng.standard_normal((n, 3, length))
    ws = [rng.standard_normal((2 + i % 2, 3, k)) for i, k in enumerate(ks)]
    bs = [rng.standard_normal(w.shape[0]) for w in ws]
    m = len(ws)

    def sc_fn(xx, *params):
        return F.conv1d_windows(xx, list(params[:m]), list(params[m:]), padding=1, dilation=dilation)

    def th_fn(xx, *params):
        outs = [torch.nn.functional.conv1d(xx, w, b, padding=1, dilation=dilation)
                for w, b in zip(params[:m], params[m:])]
        lout = max(o.shape[2] for o in outs)
        return torch.cat([torch.nn.functional.pad(o, (0, lout - o.shape[2])) for o in outs], 1)
    with mock.patch.object(shifted_mod, "ROW_BLOCK", row_block), \
            mock.patch.object(parallel, "MIN_PARALLEL_ELEMENTS", 1):
        compare_with_torch(torch, sc_fn, th_fn, [x, *ws, *bs], seed=seed)


def test_conv1d_windows_unbatched_and_errors(torch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 9))
    ws = [rng.standard_normal((2, 3, k)) for k in (3, 2)]
    compare_with_torch(torch, lambda a, b, c: F.conv1d_windows(a, [b, c]),
                       lambda a, b, c: torch.cat([torch.nn.functional.pad(torch.nn.functional.conv1d(a, b), (0, 1)),
                                                  torch.nn.functional.conv1d(a, c)], 0), [x, *ws])
    with pytest.raises(ValueError, match="at least one weight"):
        F.conv1d_windows(sc.Tensor(x), [])
    with pytest.raises(ValueError, match="2 weights but 1 biases"):
        F.conv1d_windows(sc.Tensor(x), [sc.Tensor(w) for w in ws], [None])
    with pytest.raises(ValueError, match="expected input with 4 channels"):
        F.conv1d_windows(sc.Tensor(x), [sc.Tensor(rng.standard_normal((2, 4, 3)))])
    with pytest.raises(ValueError, match="larger than the padded input"):
        F.conv1d_windows(sc.Tensor(x), [sc.Tensor(rng.standard_normal((2, 3, 10)))])
    with pytest.raises(ValueError, match="differs between the windows"):
        F.conv1d_windows(sc.Tensor(x), [sc.Tensor(w) for w in ws], padding="same")
    with pytest.raises(ValueError, match="3-D weight"):
        F.conv1d_windows(sc.Tensor(x), [sc.Tensor(rng.standard_normal((2, 3, 3, 3)))])


@pytest.mark.parametrize("nd,cfg", [
    # an offset that reaches no input position at all (stride 3 over a 2x2 input padded by 1)
    (2, ((2, 4, 2, 2), (4, 2, 3, 3), (3, 3), 1, (1, 1), 2, True, "correlation")),
    # padding wider than the kernel's reach on one side (outputs that see padding only)
    (2, ((1, 3, 1, 5), (2, 3, 3, 3), (1, 1), 2, (1, 1), 1, False, "convolution")),
    (1, ((2, 2, 7), (3, 2, 3), (2,), 3, (2,), 1, True, "correlation")),
    # "same" convolutions: one offset covers the whole input (grouped, depthwise, dilated, 3-D)
    (2, ((2, 6, 9, 9), (6, 1, 3, 3), (1, 1), 1, (1, 1), 6, True, "correlation")),
    (2, ((2, 3, 8, 8), (4, 3, 3, 3), (1, 1), "same", (2, 2), 1, True, "convolution")),
    (3, ((2, 2, 4, 4, 4), (2, 2, 3, 3, 3), (1, 1, 1), 1, (1, 1, 1), 1, False, "correlation")),
])
def test_input_gradient_edge_geometries_match_torch(torch, nd, cfg):
    """The input gradient adds each kernel offset only where it reaches the unpadded input, and writes a
    covering offset straight into it: geometries where some offsets reach nothing or one covers everything."""
    _check(torch, nd, cfg, seed=7)


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("nd,cfg,mask", [
    (2, ((5, 6, 9, 8), (16, 6, 5, 5), (1, 1), 0, (1, 1), 1, True, "correlation"), (True, True, True)),
    (2, ((3, 4, 10, 9), (8, 4, 3, 3), (2, 1), 1, (1, 2), 1, True, "convolution"), (True, True, False)),
    (2, ((4, 3, 7, 7), (5, 3, 3, 3), (1, 1), "same", (1, 1), 1, False, "correlation"), (True, False, False)),
    (1, ((7, 3, 11), (4, 3, 3), (2,), 2, (1,), 1, True, "correlation"), (True, True, True)),
    (3, ((3, 2, 5, 4, 5), (3, 2, 2, 3, 2), (1, 2, 1), 1, (1, 1, 1), 1, True, "correlation"), (True, True, True)),
])
def test_backward_split_over_cores_matches_torch(torch, monkeypatch, threads, nd, cfg, mask):
    """With free cores, a groups-1 backward that needs the input gradient (C_out <= NARROW_MAX_COUT) runs
    one part of the batch per core, weight gradients summed in part order: equal to torch, uneven parts too."""
    from scratchcnn.functional import conv as conv_mod
    calls = []
    real = conv_mod._split_backward
    monkeypatch.setattr(conv_mod, "_split_backward", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ELEMENTS", 1)      # parts on threads even for these small sizes
    rng = np.random.default_rng(9)
    x_shape, w_shape, stride, padding, dilation, groups, bias, mode = cfg
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    conv, tconv = SC_CONV[nd], getattr(torch.nn.functional, TORCH_CONV[nd])
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    old = sc.get_num_threads()
    sc.set_num_threads(threads)
    try:
        compare_with_torch(torch, lambda a, c, e: conv(a, c, e if bias else None, mode=mode, **kw),
                           lambda a, c, e: tconv(a, c.flip(tuple(range(2, 2 + nd))) if mode == "convolution" else c,
                                                 e if bias else None, **kw),
                           [x, w, b], grad_mask=(mask[0], mask[1], mask[2] and bias))
    finally:
        sc.set_num_threads(old)
    assert calls, "the split backward did not run"


def test_backward_inside_a_parallel_part_is_not_split(monkeypatch):
    """Inside a part of another parallel loop (a split training step) the cores are taken: no second split."""
    from scratchcnn.functional import conv as conv_mod
    calls = []
    real = conv_mod._split_backward
    monkeypatch.setattr(conv_mod, "_split_backward", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ELEMENTS", 1)
    rng = np.random.default_rng(10)
    results = {}

    def part(lo, hi):
        if lo == 0:
            x = sc.Tensor(rng.standard_normal((4, 3, 8, 8)), requires_grad=True)
            F.conv2d(x, sc.Tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)).sum().backward()
            results["free"] = parallel.cores_free()
    old = sc.get_num_threads()
    sc.set_num_threads(2)
    try:
        parallel.parallel_for(part, 2, 1 << 30)
    finally:
        sc.set_num_threads(old)
    assert results["free"] is False and not calls
