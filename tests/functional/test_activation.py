"""Activations without PyTorch: finite differences, erf accuracy, dtype preservation, stability, errors."""
from __future__ import annotations

import math

import numpy as np
import pytest

import scratchcnn as sc
import scratchcnn.functional as F
from oracle.helpers import finite_difference_check
from scratchcnn.functional.activation import erf_array, erfc_array

ELEMENTWISE = {
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.1),
    "sigmoid": F.sigmoid,
    "tanh": F.tanh,
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "softmax": lambda x: F.softmax(x, 1),
    "log_softmax": lambda x: F.log_softmax(x, -1),
}


def _away_from_zero(shape, seed=0):
    """Normal values pushed away from 0 so finite differences never straddle the relu kink."""
    x = np.random.default_rng(seed).standard_normal(shape) * 2
    return x + np.sign(x) * 0.05


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_finite_differences(name):
    finite_difference_check(ELEMENTWISE[name], [_away_from_zero((3, 4))])


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_float32_in_float32_out_and_grad(name):
    x = sc.Tensor(_away_from_zero((2, 5, 3)).astype(np.float32), requires_grad=True)
    y = ELEMENTWISE[name](x)
    assert y.dtype == np.float32
    y.backward(np.ones(y.shape, dtype=np.float32))
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_float32_matches_float64(name):
    x64 = _away_from_zero((4, 6), seed=3)
    x32 = x64.astype(np.float32)
    y64 = ELEMENTWISE[name](sc.Tensor(x32.astype(np.float64))).data
    y32 = ELEMENTWISE[name](sc.Tensor(x32)).data
    np.testing.assert_allclose(y32, y64, rtol=2e-6, atol=2e-6)


def test_erf_matches_math_erf_to_double_precision():
    x = np.concatenate([np.linspace(-7, 7, 20001), [0.0, -0.0, 0.46875, -0.46875, 4.0, -4.0, 1e-300, 30.0]])
    ref = np.array([math.erf(v) for v in x])
    refc = np.array([math.erfc(v) for v in x])
    np.testing.assert_allclose(erf_array(x), ref, rtol=2e-15, atol=1e-300)
    np.testing.assert_allclose(erfc_array(x), refc, rtol=2e-14, atol=1e-300)


def test_erf_special_values():
    x = np.array([np.inf, -np.inf, np.nan, 0.0])
    np.testing.assert_array_equal(erf_array(x), [1.0, -1.0, np.nan, 0.0])
    np.testing.assert_array_equal(erfc_array(x), [0.0, 2.0, np.nan, 1.0])
    assert F.erf(sc.Tensor(np.array([0.5]))).item() == pytest.approx(math.erf(0.5), rel=1e-15)


def test_erfc_float32_fast_path_accuracy():
    x = np.linspace(-5, 3.5, 5001).astype(np.float32)
    ref = np.array([math.erfc(float(v)) for v in x])
    out = erfc_array(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref, rtol=3e-6)


def test_gelu_exact_is_accurate_far_in_the_negative_tail():
    """gelu(x) = x Phi(x) via erfc: no cancellation, so tiny outputs keep their relative accuracy."""
    x = np.array([-12.0, -8.0, -5.0])
    ref = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    np.testing.assert_allclose(F.gelu(sc.Tensor(x)).data, ref, rtol=1e-13)


def test_sigmoid_and_softmax_do_not_overflow():
    x = sc.Tensor(np.array([-1e4, -710.0, 0.0, 710.0, 1e4]), requires_grad=True)
    with np.errstate(over="raise", invalid="raise"):
        s = F.sigmoid(x)
        np.testing.assert_allclose(s.data, [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-300)
        F.log_softmax(x, 0).sum().backward()
    assert np.isfinite(x.grad).all()


def test_relu_gradient_is_zero_at_zero_and_mask_is_the_output():
    x = sc.Tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    y = F.relu(x)
    (saved,) = y.grad_fn.ctx.saved
    assert saved is y.data  # the output doubles as the mask: no extra buffer
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0])


def test_leaky_relu_slope_at_zero_and_negative():
    x = sc.Tensor(np.array([-2.0, 0.0, 3.0]), requires_grad=True)
    y = F.leaky_relu(x, 0.2)
    np.testing.assert_allclose(y.data, [-0.4, 0.0, 3.0])
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [0.2, 0.2, 1.0])


def test_softmax_rows_sum_to_one_and_log_softmax_consistent():
    x = sc.Tensor(np.random.default_rng(0).standard_normal((3, 4, 5)))
    for d in range(3):
        p = F.softmax(x, d).data
        np.testing.assert_allclose(p.sum(axis=d), 1.0, rtol=1e-12)
        np.testing.assert_allclose(np.log(p), F.log_softmax(x, d).data, rtol=1e-12, atol=1e-12)


def test_tensor_methods_use_these_ops():
    x = sc.Tensor(np.array([[-1.0, 2.0]]))
    np.testing.assert_array_equal(x.relu().data, F.relu(x).data)
    np.testing.assert_array_equal(x.sigmoid().data, F.sigmoid(x).data)
    np.testing.assert_array_equal(x.tanh().data, F.tanh(x).data)
    np.testing.assert_array_equal(x.softmax(1).data, F.softmax(x, 1).data)
    np.testing.assert_array_equal(x.log_softmax(0).data, F.log_softmax(x, 0).data)


def test_errors():
    x = sc.Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="gelu.*approximate"):
        F.gelu(x, approximate="fast")
    with pytest.raises(ValueError, match="softmax: dim 2"):
        F.softmax(x, 2)
    with pytest.raises(ValueError, match="log_softmax"):
        F.log_softmax(x, -3)
    with pytest.raises(TypeError, match="relu.*floating"):
        F.relu(sc.Tensor([1, 2]))
    with pytest.raises(TypeError, match="sigmoid.*Tensor"):
        F.sigmoid(np.zeros(3))


def test_nan_propagates():
    x = sc.Tensor(np.array([np.nan, 1.0]))
    assert np.isnan(F.sigmoid(x).data[0]) and np.isnan(F.tanh(x).data[0]) and np.isnan(F.gelu(x).data[0])
    assert np.isnan(F.softmax(x, 0).data).all()
