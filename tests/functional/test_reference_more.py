"""The second set of textbook loop references (``reference_more.py``): each one against its fast op over
hypothesis-drawn small configurations (float64, rtol 1e-12, plus atol 1e-12 for values that cancel to ~0), and
tiny worked examples whose expected numbers are computed by hand in the comments."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import scratchcnn as sc
import scratchcnn.functional as F
from scratchcnn.functional.reference_more import (batch_norm_reference, conv_transpose1d_reference,
                                                  conv_transpose2d_reference, conv_transpose_output_size,
                                                  group_norm_reference, huber_loss_reference,
                                                  instance_norm_reference, interpolate_reference,
                                                  kl_div_reference, layer_norm_reference,
                                                  local_response_norm_reference, smooth_l1_loss_reference)

SETTINGS = settings(max_examples=30, deadline=None)
TOL = dict(rtol=1e-12, atol=1e-12)


def T(a):
    """A float64 Tensor on a COPY of ``a`` (the fast norms update running statistics in place)."""
    return None if a is None else sc.Tensor(np.array(a, dtype=np.float64))


# ---- transposed convolution ------------------------------------------------------------------------------------

@st.composite
def transposed_case(draw, nd: int):
    groups = draw(st.integers(1, 2))
    c_in, cout_g = groups * draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride, dilation = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    out_pad = draw(st.integers(0, max(stride, dilation) - 1))
    padding = draw(st.integers(0, 2))
    spatial = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    assume(all(conv_transpose_output_size(s, k, stride, padding, dilation, out_pad) >= 1
               for s, k in zip(spatial, kernel)))
    return ((draw(st.integers(1, 2)), c_in) + spatial, (c_in, cout_g) + kernel, draw(st.booleans()),
            dict(stride=stride, padding=padding, output_padding=out_pad, groups=groups, dilation=dilation))


@SETTINGS
@given(case=transposed_case(2), seed=st.integers(0, 2**16))
def test_conv_transpose2d_equals_scatter_reference(case, seed):
    shape_x, shape_w, with_bias, kw = case
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(shape_x), rng.standard_normal(shape_w)
    b = rng.standard_normal(shape_w[1] * kw["groups"]) if with_bias else None
    fast = F.conv_transpose2d(T(x), T(w), T(b), **kw).data
    np.testing.assert_allclose(fast, conv_transpose2d_reference(x, w, b, **kw), **TOL)


@SETTINGS
@given(case=transposed_case(1), seed=st.integers(0, 2**16))
def test_conv_transpose1d_equals_scatter_reference(case, seed):
    shape_x, shape_w, with_bias, kw = case
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(shape_x), rng.standard_normal(shape_w)
    b = rng.standard_normal(shape_w[1] * kw["groups"]) if with_bias else None
    fast = F.conv_transpose1d(T(x), T(w), T(b), **kw).data
    np.testing.assert_allclose(fast, conv_transpose1d_reference(x, w, b, **kw), **TOL)


def test_conv_transpose1d_by_hand():
    x, w = np.array([[[1.0, 2.0]]]), np.array([[[1.0, 10.0, 100.0]]])
    # stride 2: x0 = 1 writes 1, 10, 100 at 0, 1, 2; x1 = 2 writes 2, 20, 200 at 2, 3, 4 -> overlap at 2: 102
    np.testing.assert_array_equal(conv_transpose1d_reference(x, w, stride=2), [[[1, 10, 102, 20, 200]]])
    # padding 1 crops one position at each end; output_padding 1 adds one the inputs never reach
    np.testing.assert_array_equal(conv_transpose1d_reference(x, w, stride=2, padding=1), [[[10, 102, 20]]])
    np.testing.assert_array_equal(conv_transpose1d_reference(x, w, stride=2, output_padding=1),
                                  [[[1, 10, 102, 20, 200, 0]]])
    # dilation 2, stride 1: x0 at 0, 2, 4 and x1 at 1, 3, 5 interleave; bias 0.5 added everywhere
    np.testing.assert_array_equal(conv_transpose1d_reference(x, w, np.array([0.5]), dilation=2),
                                  [[[1.5, 2.5, 10.5, 20.5, 100.5, 200.5]]])
    # groups: channel 0 (value 1) only feeds output 0 (kernel 3), channel 1 (value 2) only output 1 (kernel 4)
    x2, w2 = np.array([[[1.0], [2.0]]]), np.array([[[3.0]], [[4.0]]])
    np.testing.assert_array_equal(conv_transpose1d_reference(x2, w2, groups=2), [[[3.0], [8.0]]])
    np.testing.assert_array_equal(conv_transpose1d_reference(x2, w2), [[[11.0]]])      # 1*3 + 2*4
    np.testing.assert_array_equal(F.conv_transpose1d(T(x), T(w), stride=2).data, [[[1, 10, 102, 20, 200]]])


def test_conv_transpose2d_by_hand():
    x, ones = np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), np.ones((1, 1, 2, 2))
    # stride 2 with a 2x2 kernel of ones: each input value fills its own 2x2 block
    np.testing.assert_array_equal(conv_transpose2d_reference(x, ones, stride=2),
                                  [[[[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]]])
    # stride 1: the blocks overlap; centre 1+2+3+4 = 10, edges 1+2 = 3, 1+3 = 4, 2+4 = 6, 3+4 = 7
    np.testing.assert_array_equal(conv_transpose2d_reference(x, ones), [[[[1, 3, 2], [4, 10, 6], [3, 7, 4]]]])
    assert conv_transpose_output_size(3, 3, 2) == 7 and conv_transpose_output_size(2, 2, 2, 1, 1, 1) == 3


# ---- interpolate -----------------------------------------------------------------------------------------------

@st.composite
def resize_case(draw):
    nd = draw(st.integers(1, 2))
    mode = draw(st.sampled_from(["nearest", "linear" if nd == 1 else "bilinear"]))
    align = None if mode == "nearest" else draw(st.booleans())
    sizes_in = tuple(draw(st.integers(1, 6)) for _ in range(nd))
    if draw(st.booleans()):
        return (2, 2) + sizes_in, dict(size=tuple(draw(st.integers(1, 12)) for _ in range(nd)), mode=mode,
                                       align_corners=align)
    factor = draw(st.sampled_from([0.5, 0.7, 1.5, 1.7, 2.0, 2.5, 3.0]))
    outs = [int(s * factor) for s in sizes_in]
    assume(all(o >= 1 for o in outs))
    # the fast op's PyTorch shortcuts (see interpolate_reference's docstring) ignore the factor on such axes
    assume(not any(o == s and factor != 1 for o, s in zip(outs, sizes_in)))
    assume(not (mode == "nearest" and nd == 2 and any(o == 2 * s and factor != 2 for o, s in zip(outs, sizes_in))))
    return (2, 2) + sizes_in, dict(scale_factor=factor, mode=mode, align_corners=align)


@SETTINGS
@given(case=resize_case(), seed=st.integers(0, 2**16))
def test_interpolate_equals_coordinate_reference(case, seed):
    shape, kw = case
    x = np.random.default_rng(seed).standard_normal(shape)
    np.testing.assert_allclose(F.interpolate(T(x), **kw).data, interpolate_reference(x, **kw), **TOL)


def test_interpolate_by_hand():
    x = np.array([[[0.0, 10.0]]])
    # nearest, 2 -> 4: scale 0.5, src = floor(0, 0.5, 1, 1.5) = 0, 0, 1, 1
    np.testing.assert_array_equal(interpolate_reference(x, size=4), [[[0, 0, 10, 10]]])
    # linear, half-pixel: r = max((o + 0.5) / 2 - 0.5, 0) = 0, 0.25, 0.75, 1.25 (i0 = i1 = 1 there) -> 0, 2.5, 7.5, 10
    np.testing.assert_array_equal(interpolate_reference(x, size=4, mode="linear", align_corners=False),
                                  [[[0, 2.5, 7.5, 10]]])
    # linear, align_corners: r = o * (2 - 1) / (4 - 1) = 0, 1/3, 2/3, 1 -> 0, 10/3, 20/3, 10
    np.testing.assert_allclose(interpolate_reference(x, size=4, mode="linear", align_corners=True),
                               [[[0, 10 / 3, 20 / 3, 10]]], rtol=1e-15)
    # nearest by factor 1.5: out = int(2 * 1.5) = 3, scale 1 / 1.5: floor(0, 0.67, 1.33) = 0, 0, 1
    np.testing.assert_array_equal(interpolate_reference(x, scale_factor=1.5), [[[0, 0, 10]]])
    # bilinear 2x2 -> 3x3 with align_corners: r = 0, 0.5, 1 on both axes; the centre averages all four
    grid = np.array([[[[0.0, 1.0], [2.0, 3.0]]]])
    expected = [[[[0, 0.5, 1], [1, 1.5, 2], [2, 2.5, 3]]]]
    np.testing.assert_array_equal(interpolate_reference(grid, size=3, mode="bilinear", align_corners=True), expected)
    np.testing.assert_array_equal(F.interpolate(T(grid), size=3, mode="bilinear", align_corners=True).data, expected)


# ---- normalisation ---------------------------------------------------------------------------------------------

@st.composite
def norm_shape(draw, min_per_plane: int = 1):
    spatial = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    assume(int(np.prod(spatial)) >= min_per_plane)
    return (draw(st.integers(1, 3)), draw(st.integers(1, 4))) + spatial


@SETTINGS
@given(shape=norm_shape(), seed=st.integers(0, 2**16), training=st.booleans(), affine=st.booleans(),
       momentum=st.sampled_from([0.1, 1.0, None]), eps=st.sampled_from([1e-5, 0.1]))
def test_batch_norm_equals_reference(shape, seed, training, affine, momentum, eps):
    assume(shape[0] * int(np.prod(shape[2:])) >= 2)
    rng = np.random.default_rng(seed)
    x, C = rng.standard_normal(shape), shape[1]
    w, b = (rng.standard_normal(C), rng.standard_normal(C)) if affine else (None, None)
    rm, rv = rng.standard_normal(C), rng.uniform(0.5, 2.0, C)
    kw = dict(training=training, momentum=momentum, eps=eps, num_batches_tracked=3)
    rm_t, rv_t = T(rm), T(rv)
    fast = F.batch_norm(T(x), rm_t, rv_t, T(w), T(b), **kw).data
    y, new_mean, new_var = batch_norm_reference(x, rm, rv, w, b, **kw)
    np.testing.assert_allclose(fast, y, **TOL)
    np.testing.assert_allclose(rm_t.data, new_mean, **TOL)
    np.testing.assert_allclose(rv_t.data, new_var, **TOL)


@SETTINGS
@given(shape=norm_shape(), seed=st.integers(0, 2**16), tail=st.integers(1, 2), affine=st.booleans())
def test_layer_norm_equals_reference(shape, seed, tail, affine):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    normalized = shape[len(shape) - min(tail, len(shape) - 1):]
    w, b = (rng.standard_normal(normalized), rng.standard_normal(normalized)) if affine else (None, None)
    np.testing.assert_allclose(F.layer_norm(T(x), normalized, T(w), T(b)).data,
                               layer_norm_reference(x, normalized, w, b), **TOL)


@SETTINGS
@given(shape=norm_shape(), seed=st.integers(0, 2**16), groups=st.sampled_from([1, 2]), affine=st.booleans())
def test_group_norm_equals_reference(shape, seed, groups, affine):
    shape = (shape[0], shape[1] * groups) + shape[2:]
    assume(shape[0] * shape[1] // groups * int(np.prod(shape[2:])) > 1)        # PyTorch's batch-size check
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    w, b = (rng.standard_normal(shape[1]), rng.standard_normal(shape[1])) if affine else (None, None)
    np.testing.assert_allclose(F.group_norm(T(x), groups, T(w), T(b), eps=1e-3).data,
                               group_norm_reference(x, groups, w, b, eps=1e-3), **TOL)


@SETTINGS
@given(shape=norm_shape(min_per_plane=2), seed=st.integers(0, 2**16), running=st.booleans(), affine=st.booleans())
def test_instance_norm_equals_reference(shape, seed, running, affine):
    rng = np.random.default_rng(seed)
    x, C = rng.standard_normal(shape), shape[1]
    w, b = (rng.standard_normal(C), rng.standard_normal(C)) if affine else (None, None)
    rm, rv = (rng.standard_normal(C), rng.uniform(0.5, 2.0, C)) if running else (None, None)
    rm_t, rv_t = T(rm), T(rv)
    fast = F.instance_norm(T(x), rm_t, rv_t, T(w), T(b), momentum=0.3).data
    y, new_mean, new_var = instance_norm_reference(x, rm, rv, w, b, momentum=0.3)
    np.testing.assert_allclose(fast, y, **TOL)
    if running:
        np.testing.assert_allclose(rm_t.data, new_mean, **TOL)
        np.testing.assert_allclose(rv_t.data, new_var, **TOL)


@SETTINGS
@given(shape=norm_shape(min_per_plane=1), seed=st.integers(0, 2**16), size=st.integers(1, 5),
       alpha=st.sampled_from([1e-4, 0.5]), beta=st.sampled_from([0.75, 1.0]), k=st.sampled_from([1.0, 2.0]))
def test_local_response_norm_equals_reference(shape, seed, size, alpha, beta, k):
    assume(len(shape) >= 3)
    x = np.random.default_rng(seed).standard_normal(shape)
    np.testing.assert_allclose(F.local_response_norm(T(x), size, alpha, beta, k).data,
                               local_response_norm_reference(x, size, alpha, beta, k), **TOL)


def test_norms_by_hand():
    # batch norm, one channel holding 1 and 3: mean 2, biased var 1, eps 0 -> -1, 1; then * 2 + 0.5
    y, rm, rv = batch_norm_reference(np.array([[1.0], [3.0]]), np.array([0.0]), np.array([1.0]), np.array([2.0]),
                                     np.array([0.5]), training=True, momentum=0.1, eps=0.0)
    np.testing.assert_array_equal(y, [[-1.5], [2.5]])
    # running: mean 0.9 * 0 + 0.1 * 2 = 0.2; var uses the unbiased 1 * 2 / 1 = 2: 0.9 * 1 + 0.1 * 2 = 1.1
    np.testing.assert_allclose([rm[0], rv[0]], [0.2, 1.1], rtol=1e-15)
    # eval with running mean 1, var 4, eps 0: (1 - 1) / 2 = 0, (3 - 1) / 2 = 1
    y, _, _ = batch_norm_reference(np.array([[1.0], [3.0]]), np.array([1.0]), np.array([4.0]), eps=0.0)
    np.testing.assert_array_equal(y, [[0.0], [1.0]])
    # layer norm of [0, 0, 2, 2]: mean 1, var 1 -> [-1, -1, 1, 1]; * [1, 2, 3, 4] + [0, 0, 0, 1] -> [-1, -2, 3, 5]
    np.testing.assert_array_equal(layer_norm_reference(np.array([[0.0, 0.0, 2.0, 2.0]]), 4, np.array([1, 2, 3, 4.0]),
                                                       np.array([0, 0, 0, 1.0]), eps=0.0), [[-1, -2, 3, 5]])
    # group norm, channels [0, 2 | 10, 14] in 2 groups: (mean 1, var 1) and (mean 12, var 4) -> -1, 1, -1, 1
    np.testing.assert_array_equal(group_norm_reference(np.array([[[0.0], [2.0], [10.0], [14.0]]]), 2, eps=0.0),
                                  [[[-1], [1], [-1], [1]]])
    # instance norm, planes [0, 2] (mean 1, var 1) and [4, 8] (mean 6, var 4) -> -1, 1 each; momentum 0.5:
    # running mean 0.5 * 0 + 0.5 * (1 + 6) / 2 = 1.75; unbiased vars 2 and 8, average 5: 0.5 * 1 + 0.5 * 5 = 3
    y, rm, rv = instance_norm_reference(np.array([[[0.0, 2.0]], [[4.0, 8.0]]]), np.array([0.0]), np.array([1.0]),
                                        momentum=0.5, eps=0.0)
    np.testing.assert_array_equal(y, [[[-1, 1]], [[-1, 1]]])
    np.testing.assert_array_equal([rm[0], rv[0]], [1.75, 3.0])
    # LRN over [1, 2, 3], size 2 (window c-1..c), alpha / size = 1, beta 1, k 1:
    # d = 1 + 1 = 2, 1 + (1 + 4) = 6, 1 + (4 + 9) = 14 -> 1/2, 2/6, 3/14
    np.testing.assert_allclose(local_response_norm_reference(np.array([[[1.0], [2.0], [3.0]]]), 2, 2.0, 1.0, 1.0),
                               [[[1 / 2], [1 / 3], [3 / 14]]], rtol=1e-15)


# ---- losses ----------------------------------------------------------------------------------------------------

@SETTINGS
@given(seed=st.integers(0, 2**16), shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       reduction=st.sampled_from(["none", "mean", "sum"]), delta=st.sampled_from([0.5, 1.0, 2.0]),
       weighted=st.booleans())
def test_huber_and_smooth_l1_equal_reference(seed, shape, reduction, delta, weighted):
    rng = np.random.default_rng(seed)
    x, y = 2 * rng.standard_normal(shape), rng.standard_normal(shape)
    w = rng.uniform(0, 2, shape) if weighted else None
    np.testing.assert_allclose(F.huber_loss(T(x), T(y), reduction, delta, T(w)).data,
                               huber_loss_reference(x, y, reduction, delta, w), **TOL)
    beta = delta if not weighted else 0.0                   # beta == 0 is l1
    np.testing.assert_allclose(F.smooth_l1_loss(T(x), T(y), reduction=reduction, beta=beta).data,
                               smooth_l1_loss_reference(x, y, reduction, beta), **TOL)


@SETTINGS
@given(seed=st.integers(0, 2**16), shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       reduction=st.sampled_from(["none", "mean", "sum", "batchmean"]), log_target=st.booleans())
def test_kl_div_equals_reference(seed, shape, reduction, log_target):
    rng = np.random.default_rng(seed)
    log_q = np.log(rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]))
    p = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    if not log_target:
        p[rng.random(p.shape) < 0.2] = 0.0                                      # some 0 log 0 terms
    target = np.log(p) if log_target else p
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                             # reduction="mean": PyTorch's warning
        fast = F.kl_div(T(log_q), T(target), reduction=reduction, log_target=log_target).data
    np.testing.assert_allclose(fast, kl_div_reference(log_q, target, reduction, log_target), **TOL)


def test_losses_by_hand():
    x, y = np.array([0.0, 0.5, 3.0]), np.zeros(3)
    # huber, delta 1: 0, 0.5 * 0.25 = 0.125, 1 * (3 - 0.5) = 2.5 -> sum 2.625, mean 0.875
    assert huber_loss_reference(x, y, "sum") == 2.625 and huber_loss_reference(x, y) == 0.875
    # delta 2: 3 is still outside: 2 * (3 - 1) = 4; sum 4.125
    assert huber_loss_reference(x, y, "sum", delta=2.0) == 4.125
    # smooth L1, beta 2: 0.5 * 0.25 / 2 = 0.0625, 3 - 1 = 2 -> sum 2.0625; beta 0: |d| -> 3.5
    assert smooth_l1_loss_reference(x, y, "sum", beta=2.0) == 2.0625
    assert smooth_l1_loss_reference(x, y, "sum", beta=0.0) == 3.5
    assert float(F.smooth_l1_loss(T(x), T(y), reduction="sum", beta=2.0).data) == 2.0625
    # KL, p = [[.5, .5], [1, 0]], q = [[.25, .75], [.5, .5]]:
    # .5 ln(.5/.25) + .5 ln(.5/.75) + 1 ln(1/.5) + 0 = .5 ln 2 + .5 ln(2/3) + ln 2 = 2 ln 2 - .5 ln 3; batchmean / 2
    p, q = np.array([[0.5, 0.5], [1.0, 0.0]]), np.array([[0.25, 0.75], [0.5, 0.5]])
    assert kl_div_reference(np.log(q), p, "sum") == pytest.approx(2 * math.log(2) - 0.5 * math.log(3), rel=1e-14)
    assert kl_div_reference(np.log(q), p, "batchmean") == pytest.approx(math.log(2) - 0.25 * math.log(3), rel=1e-14)
    assert kl_div_reference(np.log(q), p, "mean") == pytest.approx((2 * math.log(2) - 0.5 * math.log(3)) / 4,
                                                                  rel=1e-14)
