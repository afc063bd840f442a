"""The textbook loop implementations on their own: the formulas, hand-checked worked examples and the
output-size rule (they are the teaching code and a second oracle, so they are checked independently)."""
from __future__ import annotations

import numpy as np
import pytest

from scratchcnn.functional.reference import (avg_pool2d_reference, conv1d_reference, conv2d_reference,
                                             max_pool2d_reference, output_size)


@pytest.mark.parametrize("n, k, s, p, d, expected", [
    (5, 3, 1, 0, 1, 3),      # the seeds' 5x5 / 3x3 example
    (28, 3, 1, 1, 1, 28),    # "same" for odd kernels
    (28, 2, 2, 0, 1, 14),    # 2x2 pooling
    (7, 3, 2, 1, 1, 4),
    (10, 3, 1, 0, 2, 6),     # dilation 2: effective kernel 5
    (4, 4, 3, 0, 1, 1),
    (6, 3, 3, 0, 1, 2),      # floor: the last partial window is dropped
])
def test_output_size_formula(n, k, s, p, d, expected):
    assert output_size(n, k, s, p, d) == expected == (n + 2 * p - d * (k - 1) - 1) // s + 1


def test_correlation_worked_example_by_hand():
    image = np.arange(1, 17, dtype=np.float64).reshape(4, 4)
    kernel = np.array([[1.0, 0.0], [0.0, -1.0]])
    # S(i,j) = I(i,j) - I(i+1,j+1) = -5 everywhere for this ramp
    np.testing.assert_array_equal(conv2d_reference(image, kernel), np.full((3, 3), -5.0))
    # stride 2: the windows at (0,0), (0,2), (2,0), (2,2)
    np.testing.assert_array_equal(conv2d_reference(image, kernel, stride=2), np.full((2, 2), -5.0))
    # true convolution flips the kernel: S(i,j) = -I(i,j) + I(i+1,j+1) = +5
    np.testing.assert_array_equal(conv2d_reference(image, kernel, mode="convolution"), np.full((3, 3), 5.0))


def test_seed004_example_in_the_reference():
    ones = np.ones((3, 3))
    k = np.array([[1, 0, -1], [0, 1, 0], [1, 0, -1]], dtype=np.float64)
    np.testing.assert_array_equal(conv2d_reference(ones, k), [[1.0]])
    np.testing.assert_array_equal(conv2d_reference(ones, k, padding="same"), [[0, 1, 2], [-1, 1, 3], [0, 1, 2]])
    np.testing.assert_array_equal(conv2d_reference(ones, k, padding=1), conv2d_reference(ones, k, padding="same"))


def test_full_true_convolution_matches_the_scatter_definition():
    """(I*K)(a, b) = sum_m sum_n I(m, n) K(a-m, b-n): computed here by scattering every product."""
    rng = np.random.default_rng(0)
    image, kernel = rng.standard_normal((5, 6)), rng.standard_normal((3, 2))
    full = np.zeros((5 + 3 - 1, 6 + 2 - 1))
    for m in range(5):
        for n in range(6):
            full[m:m + 3, n:n + 2] += image[m, n] * kernel
    np.testing.assert_allclose(conv2d_reference(image, kernel, padding=(2, 1), mode="convolution"), full,
                               rtol=1e-12)


def test_conv1d_reference_is_the_signal_processing_convolution():
    rng = np.random.default_rng(1)
    f, g = rng.standard_normal(9), rng.standard_normal(4)
    np.testing.assert_allclose(conv1d_reference(f, g, padding=3, mode="convolution"), np.convolve(f, g), rtol=1e-12)
    np.testing.assert_allclose(conv1d_reference(f, g, mode="convolution"), np.convolve(f, g, mode="valid"),
                               rtol=1e-12)
    np.testing.assert_allclose(conv1d_reference(f, g), np.correlate(f, g, mode="valid"), rtol=1e-12)


def test_same_padding_even_kernel_extra_zero_on_the_right():
    out = conv1d_reference(np.arange(4.0), np.array([1.0, 1.0]), padding="same")
    np.testing.assert_array_equal(out, [1, 3, 5, 3])      # x[i] + x[i+1], the last one sees the padding


def test_batched_reference_sums_over_input_channels():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    out = conv2d_reference(x, w, padding=1)
    assert out.shape == (2, 4, 5, 5)
    np.testing.assert_allclose(out[1, 2], sum(conv2d_reference(x[1, c], w[2, c], padding=1) for c in range(3)))


def test_pool_references_by_hand():
    x = np.array([[1, 3, 2, 1], [4, 2, 0, 1], [5, 6, 1, 2], [7, 8, 3, 4]], dtype=np.float64)
    np.testing.assert_array_equal(max_pool2d_reference(x, 2), [[4, 2], [8, 4]])
    np.testing.assert_array_equal(avg_pool2d_reference(x, 2), [[2.5, 1.0], [6.5, 2.5]])
    # padding 1, 3x3 windows, stride 2: corner window holds 1, 3, 4, 2 plus five zeros / -inf
    np.testing.assert_array_equal(max_pool2d_reference(x, 3, 2, 1)[0, 0], 4)
    assert avg_pool2d_reference(x, 3, 2, 1)[0, 0] == pytest.approx(10 / 9)
    assert avg_pool2d_reference(x, 3, 2, 1, count_include_pad=False)[0, 0] == pytest.approx(10 / 4)


@pytest.mark.parametrize("call, pattern", [
    (lambda: conv2d_reference(np.ones((3, 3)), np.ones((2, 2)), mode="flip"), "mode must be"),
    (lambda: conv1d_reference(np.ones(5), np.ones(2), mode="flip"), "mode must be"),
    (lambda: conv2d_reference(np.ones((1, 2, 3, 3)), np.ones((1, 3, 2, 2))), "conv2d_reference: expected"),
    (lambda: conv1d_reference(np.ones((2, 5)), np.ones(2)), "conv1d_reference: expected"),
    (lambda: conv2d_reference(np.ones((3, 3)), np.ones((2, 2)), padding="full"), "padding must be"),
    (lambda: conv2d_reference(np.ones((5, 5)), np.ones((2, 2)), stride=2, padding="same"), "needs stride 1"),
    (lambda: max_pool2d_reference(np.ones((2, 3, 4)), 2), "expected a plane"),
])
def test_reference_bad_inputs(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
