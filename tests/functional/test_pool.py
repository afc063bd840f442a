"""Pooling without PyTorch: worked examples, textbook loops as a second oracle, finite differences,
tie-breaking, ceil_mode output sizes and divisors, dtypes/layouts and every bad-input error."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
import scratchcnn.functional as F
from oracle.helpers import finite_difference_check
from scratchcnn.functional.pool import adaptive_matrix, pool_output_size
from scratchcnn.functional.reference import avg_pool2d_reference, max_pool2d_reference

X4 = np.array([[1, 3, 2, 1],
               [4, 2, 0, 1],
               [5, 6, 1, 2],
               [7, 8, 3, 4]], dtype=np.float64)


def test_4x4_max_pool_2_by_2_gives_2x2():
    out = F.max_pool2d(sc.Tensor(X4[None, None]), 2, 2)
    np.testing.assert_array_equal(out.data[0, 0], [[4, 2], [8, 4]])


def test_4x4_max_pool_gradient_goes_to_the_argmax():
    x = sc.Tensor(X4[None, None], requires_grad=True)
    F.max_pool2d(x, 2).backward(np.array([[[[10.0, 20.0], [30.0, 40.0]]]]))
    expected = np.zeros((4, 4))
    expected[1, 0], expected[0, 2], expected[3, 1], expected[3, 3] = 10, 20, 30, 40
    np.testing.assert_array_equal(x.grad[0, 0], expected)


def test_4x4_avg_pool_2_by_2():
    np.testing.assert_array_equal(F.avg_pool2d(sc.Tensor(X4[None, None]), 2).data[0, 0], [[2.5, 1.0], [6.5, 2.5]])


def test_ties_send_the_gradient_to_the_first_maximum_only():
    x = sc.Tensor(np.zeros((1, 1, 2, 4)), requires_grad=True)         # ReLU-style all-zero windows
    F.max_pool2d(x, 2).backward(np.array([[[[1.0, 2.0]]]]))
    np.testing.assert_array_equal(x.grad[0, 0], [[1, 0, 2, 0], [0, 0, 0, 0]])
    y = sc.Tensor(np.array([[[0.0, 5.0, 5.0, 1.0]]]), requires_grad=True)   # overlapping windows, 1-D
    F.max_pool1d(y, 2, 1).backward(np.ones((1, 1, 3)))
    np.testing.assert_array_equal(y.grad[0, 0], [0, 2, 1, 0])


def test_overlapping_padded_max_pool_accumulates_gradients():
    x = sc.Tensor(np.array([[[1.0, 9.0, 2.0, 3.0, 0.0]]]), requires_grad=True)
    out = F.max_pool1d(x, 3, 1, 1)          # windows [-inf,1,9] [1,9,2] [9,2,3] [2,3,0] [3,0,-inf]
    np.testing.assert_array_equal(out.data[0, 0], [9, 9, 9, 3, 3])
    out.backward(np.ones((1, 1, 5)))
    np.testing.assert_array_equal(x.grad[0, 0], [0, 3, 0, 2, 0])


def test_window_of_padding_only_gives_minus_inf_and_no_gradient():
    x = sc.Tensor(np.array([[[2.0]]]), requires_grad=True)
    out = F.max_pool1d(x, 2, 1, 1, dilation=2)     # the only window's taps are both padding
    np.testing.assert_array_equal(out.data, [[[-np.inf]]])
    out.backward(np.ones((1, 1, 1)))
    np.testing.assert_array_equal(x.grad, [[[0.0]]])


@pytest.mark.parametrize("n, k, s, p, d, floor_out, ceil_out", [
    (5, 2, 2, 0, 1, 2, 3),       # ceil: (5 - 2) / 2 = 1.5 -> 2, + 1; the last window [4, 6) holds x[4] only
    (6, 2, 2, 0, 1, 3, 3),       # windows tile the input: nothing to add
    (5, 2, 2, 1, 1, 3, 3),       # ceil's 4th window would start at 6 = n + p (right padding): dropped
    (2, 3, 2, 0, 1, 0, 1),       # kernel wider than the input: only ceil has a window
    (8, 3, 3, 1, 2, 2, 3),       # dilation: extent 5, (8 + 2 - 5) / 3 = 1.67
    (8, 2, 3, 1, 2, 3, 3),       # dilation: ceil's 4th window would start at 9 = n + p: dropped
])
def test_pool_output_size_follows_pytorch_rule(n, k, s, p, d, floor_out, ceil_out):
    assert pool_output_size(n, k, s, p, d) == floor_out
    assert pool_output_size(n, k, s, p, d, ceil_mode=True) == ceil_out


def test_ceil_mode_last_window_hangs_past_the_end():
    x = sc.Tensor(np.array([[[1.0, 9.0, 2.0, 3.0, 4.0]]]), requires_grad=True)
    out = F.max_pool1d(x, 2, ceil_mode=True)          # windows [1,9] [2,3] [4,(past the end)]
    np.testing.assert_array_equal(out.data[0, 0], [9, 3, 4])
    out.backward(np.array([[[10.0, 20.0, 30.0]]]))
    np.testing.assert_array_equal(x.grad[0, 0], [0, 10, 0, 20, 30])
    avg = F.avg_pool1d(x, 2, ceil_mode=True)          # the last window counts its one real element
    np.testing.assert_array_equal(avg.data[0, 0], [5, 2.5, 4])
    assert F.max_pool1d(x, 2, 2, 1, ceil_mode=True).shape == (1, 1, 3)   # a 4th window would start in padding


def test_ceil_mode_average_divisors():
    # L=6, k=3, s=2, p=1: windows [-1,2) [1,4) [3,6) [5,8); the last covers x[5], the padding at 6 and 7 (past it)
    x = sc.Tensor(np.ones((1, 1, 6)), requires_grad=True)
    np.testing.assert_allclose(F.avg_pool1d(x, 3, 2, 1, ceil_mode=True).data[0, 0], [2 / 3, 1, 1, 1 / 2],
                               rtol=1e-15)
    y = F.avg_pool1d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)
    np.testing.assert_allclose(y.data[0, 0], [1, 1, 1, 1], rtol=1e-15)
    y.backward(np.ones((1, 1, 4)))
    np.testing.assert_allclose(x.grad[0, 0], [1 / 2, 1 / 2 + 1 / 3, 1 / 3, 2 / 3, 1 / 3, 1 / 3 + 1], rtol=1e-15)
    # 5x5, 2x2, ceil: 3x3 windows; the last row/column holds 2 (corner 1) real elements and no padding, so
    # even count_include_pad divides by those: a mean of ones stays 1; divisor_override divides every sum by 2
    z = sc.Tensor(np.ones((1, 1, 5, 5)))
    np.testing.assert_allclose(F.avg_pool2d(z, 2, ceil_mode=True).data[0, 0], np.ones((3, 3)), rtol=1e-15)
    np.testing.assert_allclose(F.avg_pool2d(z, 2, ceil_mode=True, divisor_override=2).data[0, 0],
                               [[2, 2, 1], [2, 2, 1], [1, 1, .5]], rtol=1e-15)


def test_adaptive_bins_follow_pytorch_rule():
    # L=5 into 3 bins: [0,2) [1,4) [3,5)
    m = adaptive_matrix(5, 3)
    np.testing.assert_allclose(m, [[.5, .5, 0, 0, 0], [0, 1 / 3, 1 / 3, 1 / 3, 0], [0, 0, 0, .5, .5]])
    x = sc.Tensor(np.arange(5, dtype=np.float64)[None, None])
    np.testing.assert_allclose(F.adaptive_avg_pool1d(x, 3).data[0, 0], [0.5, 2.0, 3.5])


def test_adaptive_none_keeps_size_and_global_pool_is_the_mean():
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 4))
    out = F.adaptive_avg_pool2d(sc.Tensor(x), (2, None))
    assert out.shape == (2, 3, 2, 4)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(sc.Tensor(x), 1).data, x.mean(axis=(2, 3), keepdims=True))
    np.testing.assert_allclose(F.global_avg_pool(sc.Tensor(x)).data, x.mean(axis=(2, 3)))
    assert F.global_avg_pool(sc.Tensor(x), keepdims=True).shape == (2, 3, 1, 1)


# ----------------------------------------------------------------------------------- reference loops
@st.composite
def small_pool(draw):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = None if draw(st.booleans()) else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)),
             *(max(1, kk - 2 * pp) + draw(st.integers(0, 5)) for kk, pp in zip(k, p)))
    return shape, k, s, p


@settings(max_examples=30, deadline=None)
@given(cfg=small_pool(), seed=st.integers(0, 2**16), include=st.booleans())
def test_pools_equal_reference_loops(cfg, seed, include):
    shape, k, s, p = cfg
    x = np.random.default_rng(seed).standard_normal(shape)
    np.testing.assert_array_equal(F.max_pool2d(sc.Tensor(x), k, s, p).data, max_pool2d_reference(x, k, s, p))
    np.testing.assert_allclose(F.avg_pool2d(sc.Tensor(x), k, s, p, count_include_pad=include).data,
                               avg_pool2d_reference(x, k, s, p, count_include_pad=include), rtol=1e-12)


# ----------------------------------------------------------------------------------- finite differences
@pytest.mark.parametrize("fn", [
    lambda a: F.max_pool2d(a, 3, 2, 1),
    lambda a: F.max_pool2d(a, (2, 3), (1, 2), (1, 0), dilation=(2, 1)),
    lambda a: F.max_pool1d(a.reshape(2, 3, 30), 4, 3, 2),
    lambda a: F.avg_pool2d(a, 3, 2, 1),
    lambda a: F.avg_pool2d(a, 3, 1, 1, count_include_pad=False),
    lambda a: F.avg_pool1d(a.reshape(2, 3, 30), 3, 2),
    lambda a: F.max_pool2d(a, 2, ceil_mode=True),
    lambda a: F.max_pool2d(a, 3, 2, 1, dilation=(1, 2), ceil_mode=True),
    lambda a: F.max_pool1d(a.reshape(2, 3, 30), 4, 3, ceil_mode=True),
    lambda a: F.avg_pool2d(a, 3, 2, 1, ceil_mode=True),
    lambda a: F.avg_pool2d(a, (2, 4), (2, 3), (1, 2), ceil_mode=True, count_include_pad=False),
    lambda a: F.avg_pool2d(a, 4, 3, ceil_mode=True, divisor_override=3),
    lambda a: F.avg_pool1d(a.reshape(2, 3, 30), 4, 3, 1, ceil_mode=True, count_include_pad=False),
    lambda a: F.adaptive_avg_pool2d(a, (4, 3)),
    lambda a: F.adaptive_avg_pool1d(a.reshape(2, 3, 30), 7),
    lambda a: F.global_avg_pool(a),
])
def test_pool_gradients_finite_differences(fn):
    # distinct values (a permutation, spaced far beyond eps) so no window has a tie
    x = np.random.default_rng(0).permutation(180).reshape(2, 3, 6, 5) * 0.1
    finite_difference_check(fn, [x])


# ----------------------------------------------------------------------------------- dtypes and layouts
@pytest.mark.parametrize("fn", [lambda a: F.max_pool2d(a, 2), lambda a: F.max_pool2d(a, 3, 1, 1),
                                lambda a: F.avg_pool2d(a, 2), lambda a: F.avg_pool2d(a, 3, 2, 1),
                                lambda a: F.adaptive_avg_pool2d(a, 3)])
def test_float32_in_float32_out_and_grad(fn):
    x = sc.Tensor(np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32), requires_grad=True)
    y = fn(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_channels_last_memory_is_kept_and_values_are_unchanged():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 8, 6))
    x_cl = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)   # NCHW view of NHWC memory
    for fn in (lambda a: F.max_pool2d(a, 2), lambda a: F.avg_pool2d(a, 2), lambda a: F.max_pool2d(a, 3, 2, 1),
               lambda a: F.max_pool2d(a, 3, 2, ceil_mode=True), lambda a: F.avg_pool2d(a, 3, 2, 1, ceil_mode=True)):
        a, b = sc.Tensor(x, requires_grad=True), sc.Tensor(x_cl, requires_grad=True)
        ya, yb = fn(a), fn(b)
        np.testing.assert_array_equal(ya.data, yb.data)
        g = rng.standard_normal(ya.shape)
        ya.backward(g)
        yb.backward(g)
        np.testing.assert_array_equal(a.grad, b.grad)
    assert np.argmin(F.max_pool2d(sc.Tensor(x_cl), 2).data.strides[1:]) == 0   # channels stride smallest


def test_unbatched_inputs():
    x = np.random.default_rng(3).standard_normal((3, 6, 6))
    np.testing.assert_array_equal(F.max_pool2d(sc.Tensor(x), 2).data, F.max_pool2d(sc.Tensor(x[None]), 2).data[0])
    assert F.avg_pool1d(sc.Tensor(x[0]), 3).shape == (6, 2)
    assert F.adaptive_avg_pool2d(sc.Tensor(x), 2).shape == (3, 2, 2)


def test_return_indices_are_flat_plane_indices():
    out, idx = F.max_pool2d(sc.Tensor(X4[None, None]), 2, return_indices=True)
    np.testing.assert_array_equal(idx.data[0, 0], [[4, 2], [13, 15]])


# ----------------------------------------------------------------------------------- errors
def _t(*shape):
    return sc.Tensor(np.zeros(shape))


@pytest.mark.parametrize("call, exc, pattern", [
    (lambda: F.max_pool1d(_t(2, 3, 1), 4, 1, ceil_mode=True), ValueError, r"max_pool1d: input of shape .* too small"),
    (lambda: F.avg_pool2d(_t(1, 1, 4, 2), 4, 1, ceil_mode=True), ValueError,
     r"avg_pool2d: input of shape .* too small"),
    (lambda: F.max_pool2d(_t(4, 4), 2), ValueError, r"max_pool2d: expected a 4-D input .* got 2-D"),
    (lambda: F.max_pool1d(_t(1, 2, 3, 4), 2), ValueError, r"max_pool1d: expected a 3-D input .* got 4-D"),
    (lambda: F.avg_pool2d(_t(1, 2, 4, 4), 0), ValueError, r"avg_pool2d: kernel_size must be positive"),
    (lambda: F.max_pool2d(_t(1, 2, 4, 4), 2, stride=0), ValueError, r"max_pool2d: stride must be positive"),
    (lambda: F.max_pool2d(_t(1, 2, 4, 4), 3, padding=2), ValueError,
     r"max_pool2d: padding \(2, 2\) must be at most half"),
    (lambda: F.max_pool2d(_t(1, 2, 4, 4), (2, 2, 2)), ValueError, r"max_pool2d: kernel_size must have 2 entries"),
    (lambda: F.avg_pool2d(_t(1, 2, 3, 3), 4), ValueError, r"avg_pool2d: input of shape .* too small"),
    (lambda: F.avg_pool2d(sc.Tensor(np.zeros((1, 1, 4, 4), dtype=np.int64)), 2), TypeError,
     r"avg_pool2d: expected a floating"),
    (lambda: F.adaptive_avg_pool2d(_t(1, 2, 4, 4), (0, 2)), ValueError,
     r"adaptive_avg_pool2d: output_size entries must be positive"),
    (lambda: F.adaptive_avg_pool2d(_t(1, 2, 4, 4), (1, 2, 3)), ValueError,
     r"adaptive_avg_pool2d: output_size must have 2"),
    (lambda: F.adaptive_avg_pool1d(_t(4,), 2), ValueError, r"adaptive_avg_pool1d: expected a 3-D"),
    (lambda: F.global_avg_pool(_t(2, 3)), ValueError, r"global_avg_pool: expected input \(N, C, \*spatial\)"),
])
def test_bad_inputs_raise_clear_errors(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()
