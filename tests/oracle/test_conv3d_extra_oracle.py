"""conv3d (functional.conv3d and conv_nd with 3 spatial dims) vs PyTorch in float64 (rtol 1e-6) over many more
geometries than the generic conv test: strides, int / per-axis / "valid" / "same" padding (incl. even and
dilated kernels), dilations, groups (incl. depthwise), with and without bias, unbatched inputs, partial
gradient requests, both modes (``mode="convolution"`` vs torch on the spatially flipped weight); the no-weight-
gradient blocked path; finite differences on small cases. Plus conv1d / conv2d "same" padding with even
kernels, which the generic random tests rarely draw."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
import scratchcnn.functional as F
from oracle.helpers import compare_with_torch, draw_groups, finite_difference_check

SAME_WARNING = "ignore:Using padding='same'"
SEEDS = st.integers(0, 2**16)
MASKS = [(True, True, True), (True, False, False), (False, True, True), (False, False, True), (True, True, False)]


@st.composite
def conv3d_configs(draw):
    """A valid 3-D geometry, small enough that each example runs in milliseconds."""
    groups, cin_g, cout_g = draw_groups(draw, one=(3, 3), grouped=(3, 2, 2), depthwise=(4, 2))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(3))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(3))
    pad_kind = draw(st.sampled_from(["int", "tuple", "valid", "same", "same"]))
    stride = (1, 1, 1) if pad_kind == "same" else tuple(draw(st.integers(1, 3)) for _ in range(3))
    if pad_kind == "int":
        padding = draw(st.integers(0, 2))
        pads = (padding,) * 3
    elif pad_kind == "tuple":
        padding = pads = tuple(draw(st.integers(0, 2)) for _ in range(3))
    else:
        padding, pads = pad_kind, (0,) * 3
    extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    if pad_kind == "same":
        spatial = tuple(draw(st.integers(1, 5)) for _ in range(3))
    else:
        spatial = tuple(max(1, e - 2 * p) + draw(st.integers(0, 3)) for e, p in zip(extent, pads))
    n = draw(st.integers(1, 2))
    unbatched = draw(st.booleans())
    x_shape = (groups * cin_g, *spatial) if unbatched else (n, groups * cin_g, *spatial)
    w_shape = (groups * cout_g, cin_g, *kernel)
    return dict(x_shape=x_shape, w_shape=w_shape, stride=stride, padding=padding, dilation=dilation, groups=groups,
                bias=draw(st.booleans()), mode=draw(st.sampled_from(["correlation", "convolution"])),
                mask=draw(st.sampled_from(MASKS)), via=draw(st.sampled_from(["conv3d", "conv_nd"])))


def _check3d(torch, c, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(c["x_shape"]), rng.standard_normal(c["w_shape"]),
              rng.standard_normal(c["w_shape"][0])]
    flip = (2, 3, 4)
    sc_conv = F.conv3d if c["via"] == "conv3d" else F.conv_nd
    use_bias = c["bias"]

    def sc_fn(x, w, b):
        return sc_conv(x, w, b if use_bias else None, c["stride"], c["padding"], c["dilation"], c["groups"],
                       c["mode"])

    def th_fn(x, w, b):
        w_eff = w.flip(flip) if c["mode"] == "convolution" else w
        return torch.nn.functional.conv3d(x, w_eff, b if use_bias else None, c["stride"], c["padding"],
                                          c["dilation"], c["groups"])

    mask = list(c["mask"])
    mask[2] = mask[2] and use_bias
    compare_with_torch(torch, sc_fn, th_fn, arrays, grad_mask=mask, seed=seed)


@pytest.mark.filterwarnings(SAME_WARNING)
@settings(max_examples=120, deadline=None)
@given(c=conv3d_configs(), seed=SEEDS)
def test_conv3d_random_geometries_match_torch(torch, c, seed):
    _check3d(torch, c, seed)


def _case(x_shape, w_shape, stride=1, padding=0, dilation=1, groups=1, bias=True, mode="correlation",
          mask=(True, True, True), via="conv3d"):
    to3 = lambda v: v if isinstance(v, (tuple, str)) else (v,) * 3  # noqa: E731
    return dict(x_shape=x_shape, w_shape=w_shape, stride=to3(stride), padding=to3(padding), dilation=to3(dilation),
                groups=groups, bias=bias, mode=mode, mask=mask, via=via)


NAMED = {
    "same-even-kernel": _case((2, 3, 5, 4, 6), (4, 3, 2, 4, 2), padding="same"),
    "same-even-dilated": _case((1, 2, 6, 5, 5), (3, 2, 2, 3, 4), padding="same", dilation=(3, 1, 2)),
    "same-depthwise-even": _case((2, 4, 4, 5, 3), (4, 1, 2, 2, 2), padding="same", groups=4, mode="convolution"),
    "depthwise-multiplier": _case((2, 3, 6, 6, 6), (6, 1, 3, 3, 3), stride=2, padding=1, groups=3),
    "grouped-strided-dilated": _case((2, 4, 7, 8, 6), (6, 2, 2, 3, 2), stride=(2, 1, 3), padding=(1, 0, 2),
                                     dilation=(2, 2, 1), groups=2, mode="convolution"),
    "no-bias-valid": _case((3, 2, 5, 5, 5), (2, 2, 3, 1, 2), padding="valid", bias=False),
    "unbatched": _case((3, 4, 5, 6), (2, 3, 3, 2, 2), stride=(1, 2, 1), padding=(1, 1, 0)),
    "unbatched-same-convolution": _case((2, 4, 3, 5), (2, 1, 3, 2, 3), padding="same", groups=2,
                                        mode="convolution", via="conv_nd"),
    "1x1x1": _case((2, 5, 3, 4, 2), (3, 5, 1, 1, 1)),
    "kernel-equals-input": _case((2, 2, 3, 4, 2), (3, 2, 3, 4, 2), bias=False),
    "padding-beyond-reach": _case((1, 2, 2, 1, 3), (2, 2, 2, 2, 2), padding=3, stride=2),
    "stride-bigger-than-kernel": _case((2, 1, 9, 7, 8), (2, 1, 2, 2, 2), stride=(4, 3, 5), padding=1),
    "frozen-weight": _case((2, 3, 5, 5, 5), (4, 3, 3, 3, 3), padding=1, mask=(True, False, True)),
    "bias-only": _case((2, 3, 4, 4, 4), (4, 3, 2, 2, 2), mask=(False, False, True)),
    "weight-only": _case((2, 3, 4, 4, 4), (4, 3, 2, 2, 2), stride=2, mask=(False, True, False), mode="convolution"),
}


@pytest.mark.filterwarnings(SAME_WARNING)
@pytest.mark.parametrize("name", list(NAMED))
def test_conv3d_named_geometries_match_torch(torch, name):
    _check3d(torch, NAMED[name], seed=len(name))


@pytest.mark.parametrize("kw", [dict(padding=1), dict(stride=2, padding=(1, 0, 2), dilation=(1, 2, 1), bias=False),
                                dict(padding="same", mode="convolution")])
def test_conv3d_without_weight_gradient_in_blocks_matches_torch(torch, monkeypatch, kw):
    """Frozen weights / inference take the blocked im2col path (forced here with a small threshold)."""
    from scratchcnn.functional import conv as conv_mod
    rng = np.random.default_rng(8)
    kw = dict(kw)
    use_bias, mode = kw.pop("bias", True), kw.pop("mode", "correlation")
    x, w, b = rng.standard_normal((7, 4, 5, 6, 5)), rng.standard_normal((3, 4, 3, 3, 3)), rng.standard_normal(3)
    out = F.conv3d(sc.Tensor(x[:1]), sc.Tensor(w), **kw).shape[2:]
    monkeypatch.setattr(conv_mod, "_UNSAVED_COLS", int(2.5 * np.prod(out) * (4 * 27 + 1)))
    calls = []
    real = conv_mod._chunked_forward
    monkeypatch.setattr(conv_mod, "_chunked_forward", lambda *a: calls.append(1) or real(*a))

    def sc_fn(a, c, e):
        return F.conv3d(a, c, e if use_bias else None, mode=mode, **kw)

    def th_fn(a, c, e):
        return torch.nn.functional.conv3d(a, c.flip((2, 3, 4)) if mode == "convolution" else c,
                                          e if use_bias else None, **kw)
    compare_with_torch(torch, sc_fn, th_fn, [x, w, b], grad_mask=(True, False, use_bias))
    assert calls, "the blocked path did not run"


@pytest.mark.parametrize("kw", [dict(stride=(2, 1, 1), padding=(0, 1, 1), groups=2, mode="convolution"),
                                dict(padding="same", dilation=(1, 2, 1)),
                                dict(padding="same", groups=2)])
def test_conv3d_finite_differences(kw):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 3, 3, 3))
    w = rng.standard_normal((2, 1 if kw.get("groups") else 2, 2, 2, 2))
    b = rng.standard_normal(2)
    finite_difference_check(lambda a, c, e: F.conv3d(a, c, e, **kw), [x, w, b])
    finite_difference_check(lambda a, c: F.conv_nd(a[0], c, None, **kw), [x, w])   # unbatched, no bias


def test_conv3d_rejects_strided_same_and_bad_ranks(torch):
    x, w = sc.Tensor(np.zeros((1, 2, 4, 4, 4))), sc.Tensor(np.zeros((2, 2, 3, 3, 3)))
    with pytest.raises(ValueError, match="same"):
        F.conv3d(x, w, stride=2, padding="same")
    with pytest.raises(ValueError, match="5-D weight"):
        F.conv3d(x, sc.Tensor(np.zeros((2, 2, 3, 3))))


# ---------------------------------------------------------------------- conv1d / conv2d "same", even kernels
@st.composite
def same_even_configs(draw, nd: int):
    """stride 1, padding "same", at least one even kernel side (torch pads the extra zero at the end)."""
    kernel = [draw(st.integers(1, 6)) for _ in range(nd)]
    axis = draw(st.integers(0, nd - 1))
    kernel[axis] = draw(st.sampled_from([2, 4, 6]))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    groups, cin_g, cout_g = draw_groups(draw, one=(4, 4), grouped=(3, 3, 2), depthwise=(5, 2),
                                        kinds=("one", "one", "grouped", "depthwise"))
    max_side = 14 if nd == 1 else 8
    spatial = tuple(draw(st.integers(1, max_side)) for _ in range(nd))
    n = draw(st.integers(1, 3))
    unbatched = draw(st.booleans())
    x_shape = (groups * cin_g, *spatial) if unbatched else (n, groups * cin_g, *spatial)
    return dict(x_shape=x_shape, w_shape=(groups * cout_g, cin_g, *kernel), dilation=dilation, groups=groups,
                bias=draw(st.booleans()), mode=draw(st.sampled_from(["correlation", "convolution"])),
                mask=draw(st.sampled_from(MASKS)))


def _check_same(torch, nd, c, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(c["x_shape"]), rng.standard_normal(c["w_shape"]),
              rng.standard_normal(c["w_shape"][0])]
    sc_conv = {1: F.conv1d, 2: F.conv2d}[nd]
    th_conv = getattr(torch.nn.functional, f"conv{nd}d")
    flip = tuple(range(2, 2 + nd))
    use_bias = c["bias"]

    def sc_fn(x, w, b):
        return sc_conv(x, w, b if use_bias else None, 1, "same", c["dilation"], c["groups"], c["mode"])

    def th_fn(x, w, b):
        w_eff = w.flip(flip) if c["mode"] == "convolution" else w
        return th_conv(x, w_eff, b if use_bias else None, 1, "same", c["dilation"], c["groups"])

    mask = list(c["mask"])
    mask[2] = mask[2] and use_bias
    compare_with_torch(torch, sc_fn, th_fn, arrays, grad_mask=mask, seed=seed)
    out = sc_fn(*[sc.Tensor(a) for a in arrays])
    assert out.shape[-nd:] == tuple(c["x_shape"][-nd:]), "same padding keeps the spatial size"


@pytest.mark.filterwarnings(SAME_WARNING)
@settings(max_examples=100, deadline=None)
@given(c=same_even_configs(1), seed=SEEDS)
def test_conv1d_same_even_kernels_match_torch(torch, c, seed):
    _check_same(torch, 1, c, seed)


@pytest.mark.filterwarnings(SAME_WARNING)
@settings(max_examples=100, deadline=None)
@given(c=same_even_configs(2), seed=SEEDS)
def test_conv2d_same_even_kernels_match_torch(torch, c, seed):
    _check_same(torch, 2, c, seed)


@pytest.mark.parametrize("nd", [1, 2])
def test_same_even_kernel_finite_differences(nd):
    rng = np.random.default_rng(nd)
    spatial, kernel = ((7,), (4,)) if nd == 1 else ((4, 5), (2, 4))
    x, w, b = rng.standard_normal((2, 2, *spatial)), rng.standard_normal((3, 2, *kernel)), rng.standard_normal(3)
    conv = {1: F.conv1d, 2: F.conv2d}[nd]
    for dilation in (1, 2):
        finite_difference_check(lambda a, c, e: conv(a, c, e, padding="same", dilation=dilation), [x, w, b])
