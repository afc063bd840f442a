"""The numbers an explanation shows are the exact sums of the numbers as the reader sees them: rounding noise
(0.1 + 0.2 - 0.3) shows 0, but a true result that cancels far down (10^12 + 1 - 10^12) is never zeroed; numbers
whose products overflow float64 are refused in one line, without NumPy warnings."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from scratchcnn.viz import explain_batchnorm, explain_conv, explain_conv_transpose, explain_pool

BIG = [[1000000000001.0, -1000000000000.0]]


def test_rounding_noise_shows_zero():
    r = explain_conv([[0.1, 0.2, -0.3]], [[1, 1, 1]])
    assert r.output.tolist() == [[0.0]] and "sum = 0.1*1 + 0.2*1 + (-0.3)*1 = 0" in r.to_text()
    assert explain_pool([[0.1, 0.2], [-0.3, 0.0]], kernel_size=2, kind="avg").output.tolist() == [[0.0]]


@pytest.mark.parametrize("x,k,want", [(BIG, [[1, 1]], 1.0), ([[1, -1, 1e-13]], [[1, 1, 1]], 1e-13),
                                      ([[3e-300, -2e-300]], [[1, 1]], 1e-300)])
def test_true_small_results_are_not_zeroed(x, k, want):
    r = explain_conv(x, k)
    assert r.output.tolist() == [[want]]
    assert r.to_text().count(f"= {want:g}") >= 1


def test_pool_and_transpose_keep_true_small_results():
    assert explain_pool(BIG, kernel_size=(1, 2), kind="avg").output.tolist() == [[0.5]]
    out = explain_conv_transpose(BIG, [[1, 1]], stride=1).output
    np.testing.assert_array_equal(out, [[1000000000001.0, 1.0, -1000000000000.0]])


def test_batchnorm_mean_of_cancelling_values():
    r = explain_batchnorm(np.array([0.1, 0.2, -0.3]).reshape(3, 1, 1, 1))
    step = r.to_dict()["steps"][0]
    assert step["sum"] == 0 and step["mean"] == 0 and step["running_mean"]["after"] == 0
    assert "= 0 / 3 = 0" in r.to_text() and "running_mean = (1 - 0.1)*0 + 0.1*0 = 0" in r.to_text()


@pytest.mark.parametrize("call", [lambda: explain_conv([[1e308, 1e308]], [[10, 10]]),
                                  lambda: explain_conv([[1e308, -1e308]], [[1e10, 1e10]]),
                                  lambda: explain_pool([[1e308, 1e308]], kernel_size=(1, 2), kind="avg"),
                                  lambda: explain_conv_transpose([[1e308, -1e308]], [[10, 10]], stride=1)])
def test_overflow_is_one_line_without_warnings(call):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="too large: their products or sums overflow float64"):
            call()
