"""conv1d / conv2d without PyTorch: the seeds' worked examples, the textbook loops as a second oracle,
finite differences, dtypes, memory layouts and every bad-input error."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
import scratchcnn.functional as F
from oracle.helpers import finite_difference_check
from scratchcnn.functional.reference import conv1d_reference, conv2d_reference, output_size

IMAGE_5x5 = np.array([[3, 0, 1, 2, 7],
                      [1, 5, 8, 9, 3],
                      [2, 7, 2, 5, 1],
                      [0, 1, 3, 1, 7],
                      [4, 2, 1, 6, 2]], dtype=np.float64)
VERTICAL_EDGE = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], dtype=np.float64)
SEED004_KERNEL = np.array([[1, 0, -1], [0, 1, 0], [1, 0, -1]], dtype=np.float64)


def _plane(x: np.ndarray) -> sc.Tensor:
    return sc.Tensor(x[None, None])


# ----------------------------------------------------------------------------------- worked examples
def test_5x5_input_3x3_kernel_stride1_no_padding_gives_3x3():
    out = F.conv2d(_plane(IMAGE_5x5), _plane(VERTICAL_EDGE)).data[0, 0]
    # S(0,0) = (3-1) + (1-8) + (2-2) = -5, and so on: S(i,j) = sum_m sum_n I(i+m, j+n) K(m,n)
    np.testing.assert_array_equal(out, [[-5, -4, 0], [-10, -2, 2], [0, -2, -4]])
    assert out.shape == (3, 3) == (output_size(5, 3), output_size(5, 3))


def test_5x5_example_true_convolution_flips_the_kernel():
    k = np.array([[1, 2, 0], [0, 1, -1], [2, 0, 1]], dtype=np.float64)
    corr = F.conv2d(_plane(IMAGE_5x5), _plane(k)).data[0, 0]
    conv = F.conv2d(_plane(IMAGE_5x5), _plane(k), mode="convolution").data[0, 0]
    np.testing.assert_array_equal(corr, [[6, 20, 16], [19, 21, 43], [23, 23, 10]])
    np.testing.assert_array_equal(conv, [[25, 16, 27], [27, 25, 26], [12, 27, 16]])
    # flipping the kernel turns one into the other
    np.testing.assert_array_equal(F.conv2d(_plane(IMAGE_5x5), _plane(k[::-1, ::-1].copy())).data[0, 0], conv)


def test_seed004_all_ones_input_valid_gives_1():
    ones = _plane(np.ones((3, 3)))
    np.testing.assert_array_equal(F.conv2d(ones, _plane(SEED004_KERNEL)).data, [[[[1.0]]]])
    np.testing.assert_array_equal(F.conv2d(ones, _plane(SEED004_KERNEL), padding="valid").data, [[[[1.0]]]])
    np.testing.assert_array_equal(F.conv2d(ones, _plane(SEED004_KERNEL), mode="convolution").data, [[[[1.0]]]])


def test_seed004_all_ones_input_same_padding_full_result():
    ones = _plane(np.ones((3, 3)))
    same = F.conv2d(ones, _plane(SEED004_KERNEL), padding="same").data[0, 0]
    # each entry sums the kernel entries that land on the 3x3 block of ones, e.g. the corner (0,0) sees
    # K(1,1) + K(1,2) + K(2,1) + K(2,2) = 1 + 0 + 0 - 1 = 0
    np.testing.assert_array_equal(same, [[0, 1, 2], [-1, 1, 3], [0, 1, 2]])
    true_conv = F.conv2d(ones, _plane(SEED004_KERNEL), padding="same", mode="convolution").data[0, 0]
    np.testing.assert_array_equal(true_conv, [[2, 1, 0], [3, 1, -1], [2, 1, 0]])


def test_conv1d_convolution_mode_with_full_padding_is_numpy_convolve():
    f, g = np.array([1.0, 2.0, 3.0, -1.0]), np.array([0.5, 1.0, -2.0])
    out = F.conv1d(sc.Tensor(f[None, None]), sc.Tensor(g[None, None]), padding=2, mode="convolution")
    np.testing.assert_allclose(out.data[0, 0], np.convolve(f, g), rtol=1e-12)


def test_even_kernel_same_padding_puts_extra_zero_right():
    x = np.arange(5, dtype=np.float64)
    out = F.conv1d(sc.Tensor(x[None, None]), sc.Tensor(np.array([[[1.0, 10.0]]])), padding="same").data[0, 0]
    # total pad 1 -> left 0, right 1: out[i] = x[i] + 10 x[i+1], last sees the zero
    np.testing.assert_array_equal(out, [10, 21, 32, 43, 4])


# ----------------------------------------------------------------------------------- reference loops
@st.composite
def small_conv(draw, nd: int):
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    stride = draw(st.integers(1, 3))
    dilation = draw(st.integers(1, 2))
    padding = draw(st.sampled_from([0, 1, 2, "valid", "same"] if stride == 1 else [0, 1, 2, "valid"]))
    p = 0 if isinstance(padding, str) else padding
    spatial = tuple(max(1, dilation * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 4)) for k in kernel)
    shape_x = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *spatial)
    shape_w = (draw(st.integers(1, 3)), shape_x[1], *kernel)
    return shape_x, shape_w, stride, padding, dilation, draw(st.sampled_from(["correlation", "convolution"]))


@settings(max_examples=25, deadline=None)
@given(cfg=small_conv(2), seed=st.integers(0, 2**16))
def test_conv2d_equals_reference_loops(cfg, seed):
    shape_x, shape_w, stride, padding, dilation, mode = cfg
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(shape_x), rng.standard_normal(shape_w)
    fast = F.conv2d(sc.Tensor(x), sc.Tensor(w), stride=stride, padding=padding, dilation=dilation, mode=mode)
    slow = conv2d_reference(x, w, stride, padding, dilation, mode)
    np.testing.assert_allclose(fast.data, slow, rtol=1e-10, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(cfg=small_conv(1), seed=st.integers(0, 2**16))
def test_conv1d_equals_reference_loops(cfg, seed):
    shape_x, shape_w, stride, padding, dilation, mode = cfg
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(shape_x), rng.standard_normal(shape_w)
    fast = F.conv1d(sc.Tensor(x), sc.Tensor(w), stride=stride, padding=padding, dilation=dilation, mode=mode)
    slow = conv1d_reference(x, w, stride, padding, dilation, mode)
    np.testing.assert_allclose(fast.data, slow, rtol=1e-10, atol=1e-12)


def test_grouped_conv_equals_per_group_reference():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 6, 7, 6)), rng.standard_normal((4, 3, 3, 2))
    fast = F.conv2d(sc.Tensor(x), sc.Tensor(w), stride=(1, 2), padding=1, groups=2).data
    slow = np.concatenate([conv2d_reference(x[:, 3 * g:3 * g + 3], w[2 * g:2 * g + 2], (1, 2), 1)
                           for g in range(2)], axis=1)
    np.testing.assert_allclose(fast, slow, rtol=1e-10)


# ----------------------------------------------------------------------------------- finite differences
@pytest.mark.parametrize("kw", [
    dict(stride=2, padding=1, dilation=1, groups=1),
    dict(stride=(1, 2), padding=(2, 0), dilation=(2, 1), groups=2),
    dict(stride=1, padding="same", dilation=1, groups=4, mode="convolution"),   # depthwise, even kernel
])
def test_conv2d_gradients_finite_differences(kw):
    rng = np.random.default_rng(1)
    groups = kw["groups"]
    x = rng.standard_normal((2, 4, 6, 5))
    w = rng.standard_normal((4, 4 // groups, 2 if groups == 4 else 3, 2))
    b = rng.standard_normal(4)
    finite_difference_check(lambda a, c, e: F.conv2d(a, c, e, **kw), [x, w, b])


def test_conv1d_gradients_finite_differences():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((2, 3, 9)), rng.standard_normal((2, 3, 4)), rng.standard_normal(2)
    finite_difference_check(lambda a, c, e: F.conv1d(a, c, e, stride=2, padding=2, dilation=2, mode="convolution"),
                            [x, w, b])


# ----------------------------------------------------------------------------------- dtypes, layouts, graph
def test_float32_stays_float32_and_float64_stays_float64():
    rng = np.random.default_rng(3)
    for dt in (np.float32, np.float64):
        x = sc.Tensor(rng.standard_normal((2, 3, 8, 8)).astype(dt), requires_grad=True)
        w = sc.Tensor(rng.standard_normal((4, 3, 3, 3)).astype(dt), requires_grad=True)
        b = sc.Tensor(rng.standard_normal(4).astype(dt), requires_grad=True)
        y = F.conv2d(x, w, b, padding=1)
        assert y.dtype == dt
        y.sum().backward()
        assert x.grad.dtype == w.grad.dtype == b.grad.dtype == dt


def test_float32_close_to_float64():
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((4, 8, 10, 10)), rng.standard_normal((16, 8, 3, 3)), rng.standard_normal(16)
    y64 = F.conv2d(sc.Tensor(x), sc.Tensor(w), sc.Tensor(b), padding=1).data
    y32 = F.conv2d(sc.Tensor(x.astype(np.float32)), sc.Tensor(w.astype(np.float32)),
                   sc.Tensor(b.astype(np.float32)), padding=1).data
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-4)


def _run(x: np.ndarray, w: np.ndarray, **kw):
    X, W = sc.Tensor(x, requires_grad=True), sc.Tensor(w, requires_grad=True)
    y = F.conv2d(X, W, **kw)
    g = np.random.default_rng(9).standard_normal(y.shape)
    y.backward(g)
    return y.data, X.grad, W.grad


def test_noncontiguous_and_channels_last_inputs_give_the_same_result():
    rng = np.random.default_rng(5)
    big = rng.standard_normal((3, 8, 13, 11))
    w = rng.standard_normal((5, 4, 3, 2))
    strided = big[:, ::2, 1:, ::-1]                                        # offset, steps, negative strides
    views = [strided, np.ascontiguousarray(strided.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)]  # + NHWC
    ref = _run(np.ascontiguousarray(views[0]), w, padding=1, stride=(2, 1))
    for v in views:
        for a, b in zip(_run(v, w, padding=1, stride=(2, 1)), ref):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_chained_convs_and_reused_input():
    """Outputs are channels-last views; feeding them on (and using one input twice) must still be exact."""
    rng = np.random.default_rng(6)
    x, w1, w2 = rng.standard_normal((2, 3, 9, 9)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal((2, 4, 3, 3))

    def net(a, b, c):
        return F.conv2d(F.conv2d(a, b, padding=1), c, stride=2) + F.conv2d(a, c[:, :3], stride=2)

    finite_difference_check(net, [x, w1, w2])


def test_only_needed_gradients_are_computed():
    rng = np.random.default_rng(7)
    x = sc.Tensor(rng.standard_normal((2, 3, 6, 6)))
    w = sc.Tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    b = sc.Tensor(rng.standard_normal(4))
    F.conv2d(x, w, b).sum().backward()
    assert x.grad is None and b.grad is None and w.grad.shape == (4, 3, 3, 3)
    with sc.no_grad():
        y = F.conv2d(x, w, b)
    assert not y.requires_grad and y.grad_fn is None


def test_bias_only_gradient_is_the_output_gradient_sum():
    rng = np.random.default_rng(8)
    x, w = sc.Tensor(rng.standard_normal((3, 2, 5, 5))), sc.Tensor(rng.standard_normal((4, 2, 3, 3)))
    b = sc.Tensor(np.zeros(4), requires_grad=True)
    y = F.conv2d(x, w, b, padding=1)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    np.testing.assert_allclose(b.grad, g.sum(axis=(0, 2, 3)), rtol=1e-12)


def test_unbatched_input_and_conv3d_shapes():
    rng = np.random.default_rng(10)
    y = F.conv2d(sc.Tensor(rng.standard_normal((3, 7, 6))), sc.Tensor(rng.standard_normal((5, 3, 3, 3))), padding=1)
    assert y.shape == (5, 7, 6)
    y3 = F.conv3d(sc.Tensor(rng.standard_normal((2, 2, 5, 6, 7))), sc.Tensor(rng.standard_normal((3, 2, 3, 2, 3))),
                  stride=(1, 2, 2))
    assert y3.shape == (2, 3, 3, 3, 3)


def test_1x1_convolution_is_a_matrix_product_over_channels():
    rng = np.random.default_rng(11)
    x, w = rng.standard_normal((2, 5, 4, 3)), rng.standard_normal((6, 5, 1, 1))
    out = F.conv2d(sc.Tensor(x), sc.Tensor(w)).data
    np.testing.assert_allclose(out, np.einsum("nchw,oc->nohw", x, w[:, :, 0, 0]), rtol=1e-12)


# ----------------------------------------------------------------------------------- errors
def _t(*shape):
    return sc.Tensor(np.zeros(shape))


@pytest.mark.parametrize("call, exc, pattern", [
    (lambda: F.conv2d(_t(3, 8), _t(4, 3, 3, 3)), ValueError, r"conv2d: expected a 4-D input .* got 2-D"),
    (lambda: F.conv2d(_t(1, 2, 3, 8, 8), _t(4, 3, 3, 3)), ValueError, r"conv2d: expected a 4-D input .* got 5-D"),
    (lambda: F.conv1d(_t(2, 3, 8, 8), _t(4, 3, 3)), ValueError, r"conv1d: expected a 3-D input .* got 4-D"),
    (lambda: F.conv2d(_t(2, 3, 8, 8), _t(4, 3, 3)), ValueError, r"conv2d: expected a 4-D weight .* got 3-D"),
    (lambda: F.conv2d(_t(2, 5, 8, 8), _t(4, 3, 3, 3)), ValueError,
     r"conv2d: expected input with 3 channels .* got 5 channels"),
    (lambda: F.conv1d(_t(2, 3, 8), _t(4, 1, 3), groups=2), ValueError, r"conv1d: groups=2 must divide in_channels=3"),
    (lambda: F.conv2d(_t(2, 6, 8, 8), _t(5, 2, 3, 3), groups=3), ValueError,
     r"conv2d: groups=3 must divide .*out_channels=5"),
    (lambda: F.conv2d(_t(2, 6, 8, 8), _t(6, 2, 3, 3), groups=0), ValueError, r"conv2d: groups must be a positive"),
    (lambda: F.conv2d(_t(2, 3, 4, 4), _t(4, 3, 7, 3)), ValueError,
     r"conv2d: kernel size \(7, 3\).*larger than the padded input"),
    (lambda: F.conv1d(_t(2, 3, 5), _t(4, 3, 3), dilation=3), ValueError,
     r"conv1d: kernel size .*dilated extent \(7,\)"),
    (lambda: F.conv2d(_t(2, 3, 8, 8), _t(4, 3, 3, 3), mode="conv"), ValueError, r"conv2d: mode must be"),
    (lambda: F.conv2d(_t(2, 3, 8, 8), _t(4, 3, 3, 3), padding="full"), ValueError, r"conv2d: padding must be"),
    (lambda: F.conv2d(_t(2, 3, 8, 8), _t(4, 3, 3, 3), padding="same", stride=2), ValueError,
     r"conv2d: padding='same' is not supported for strided"),
    (lambda: F.conv2d(_t(2, 3, 8, 8), _t(4, 3, 3, 3), stride=0), ValueError, r"conv2d: stride must be positive"),
    (lambda: F.conv1d(_t(2, 3, 8), _t(4, 3, 3), dilation=-1), ValueError, r"conv1d: dilation must be positive"),
    (lambda: F.conv2d(_t(2, 3, 8, 8), _t(4, 3, 3, 3), padding=-1), ValueError, r"conv2d: padding must be >= 0"),
    (lambda: F.conv2d(_t(2, 3, 8, 8), _t(4, 3, 3, 3), stride=(1, 2, 3)), ValueError, r"conv2d: stride must have 2"),
    (lambda: F.conv2d(_t(2, 3, 8, 8), _t(4, 3, 3, 3), _t(3)), ValueError, r"conv2d: expected bias of shape \(4,\)"),
    (lambda: F.conv2d(sc.Tensor(np.zeros((2, 3, 8, 8), dtype=np.int64)), _t(4, 3, 3, 3)), TypeError,
     r"conv2d: input must be a floating"),
])
def test_bad_inputs_raise_clear_errors(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()
