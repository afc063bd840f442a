"""Losses without PyTorch: finite differences, fused == composed, hand-computed values, NaN handling,
float32 preservation and error messages."""
from __future__ import annotations

import math

import numpy as np
import pytest

import scratchcnn as sc
import scratchcnn.functional as F
from oracle.helpers import finite_difference_check


def _rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ls", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_finite_differences(reduction, ls, weighted):
    x = _rng().standard_normal((4, 3, 2))
    t = np.array([[0, 2], [1, -100], [2, 2], [0, 1]])
    w = sc.Tensor(np.array([0.5, 1.0, 2.0])) if weighted else None
    finite_difference_check(lambda a: F.cross_entropy(a, sc.Tensor(t), weight=w, reduction=reduction,
                                                      label_smoothing=ls), [x])


def test_soft_cross_entropy_finite_differences_both_inputs():
    x, y = _rng(1).standard_normal((3, 4)), _rng(2).random((3, 4))
    finite_difference_check(lambda a, b: F.cross_entropy(a, b, label_smoothing=0.1), [x, y])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_mse_bce_finite_differences(reduction):
    x = _rng(3).standard_normal((3, 4))
    t = np.array([1, 3, 0])
    w = sc.Tensor(np.array([1.0, 0.5, 2.0, 1.5]))
    finite_difference_check(lambda a: F.nll_loss(a, sc.Tensor(t), weight=w, reduction=reduction), [x])
    finite_difference_check(lambda a, b: F.mse_loss(a, b, reduction=reduction), [x, _rng(4).standard_normal((3, 4))])
    finite_difference_check(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, weight=sc.Tensor(np.array([[1.0], [2.0], [0.5]])),
                                                        pos_weight=w, reduction=reduction),
        [x * 3, _rng(5).random((3, 4))])


def test_fused_cross_entropy_equals_log_softmax_plus_nll():
    x = _rng(6).standard_normal((5, 4, 3))
    t = _rng(7).integers(0, 4, (5, 3))
    a = sc.Tensor(x, requires_grad=True)
    b = sc.Tensor(x, requires_grad=True)
    F.cross_entropy(a, sc.Tensor(t)).backward()
    F.nll_loss(F.log_softmax(b, 1), sc.Tensor(t)).backward()
    np.testing.assert_allclose(a.grad, b.grad, rtol=1e-12, atol=1e-15)


def test_cross_entropy_gradient_is_softmax_minus_onehot():
    x = _rng(8).standard_normal((3, 5))
    t = np.array([4, 0, 2])
    a = sc.Tensor(x, requires_grad=True)
    F.cross_entropy(a, sc.Tensor(t), reduction="sum").backward()
    p = np.exp(x) / np.exp(x).sum(1, keepdims=True)
    np.testing.assert_allclose(a.grad, p - np.eye(5)[t], rtol=1e-12, atol=1e-15)


def test_cross_entropy_weighted_mean_by_hand():
    x = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]]))
    t = np.array([0, 1, 2])
    w = np.array([1.0, 2.0, 3.0])
    expected = -(1 * math.log(0.5) + 2 * math.log(0.8) + 3 * math.log(0.6)) / 6.0
    out = F.cross_entropy(sc.Tensor(x), sc.Tensor(t), weight=sc.Tensor(w))
    assert out.item() == pytest.approx(expected, rel=1e-12)
    t2 = np.array([0, -100, 2])  # ignored target drops out of numerator AND denominator
    expected2 = -(1 * math.log(0.5) + 3 * math.log(0.6)) / 4.0
    assert F.cross_entropy(sc.Tensor(x), sc.Tensor(t2), weight=sc.Tensor(w)).item() == pytest.approx(expected2)


def test_ignored_rows_get_no_gradient_even_with_nan_logits():
    x = np.array([[np.nan, 1.0], [0.5, -0.5]])
    a = sc.Tensor(x, requires_grad=True)
    loss = F.cross_entropy(a, sc.Tensor(np.array([-100, 1])), label_smoothing=0.2)
    assert np.isfinite(loss.item())
    loss.backward()
    np.testing.assert_array_equal(a.grad[0], [0.0, 0.0])


def test_nan_logits_give_nan_loss_not_an_error():
    x = sc.Tensor(np.array([[np.nan, 1.0], [0.5, -0.5]]))
    assert np.isnan(F.cross_entropy(x, sc.Tensor(np.array([0, 1]))).item())


def test_all_ignored_mean_is_nan_with_zero_gradient():
    a = sc.Tensor(_rng().standard_normal((2, 3)), requires_grad=True)
    with np.errstate(all="ignore"):
        loss = F.cross_entropy(a, sc.Tensor(np.array([-100, -100])))
        loss.backward()
    assert np.isnan(loss.item())
    np.testing.assert_array_equal(a.grad, 0.0)


def test_extreme_logits_are_stable():
    x = sc.Tensor(np.array([[1e4, -1e4, 0.0]]), requires_grad=True)
    with np.errstate(over="raise", invalid="raise"):
        assert F.cross_entropy(x, sc.Tensor(np.array([1]))).item() == pytest.approx(2e4)
        z = sc.Tensor(np.array([-1e4, 1e4]), requires_grad=True)
        v = F.binary_cross_entropy_with_logits(z, sc.Tensor(np.array([1.0, 0.0])), reduction="sum")
        assert v.item() == pytest.approx(2e4)
        v.backward()
    np.testing.assert_allclose(z.grad, [-1.0, 1.0])


def test_float32_preserved():
    x = sc.Tensor(_rng().standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    t = sc.Tensor(np.array([0, 2, 1, 1]))
    y = sc.Tensor(_rng(1).random((4, 3)).astype(np.float32))
    for loss in (F.cross_entropy(x, t, weight=sc.Tensor(np.ones(3)), label_smoothing=0.1),
                 F.cross_entropy(x, y), F.nll_loss(x, t), F.mse_loss(x, y),
                 F.binary_cross_entropy_with_logits(x, y, pos_weight=sc.Tensor(np.ones(3)))):
        assert loss.dtype == np.float32
        x.grad = None
        loss.backward()
        assert x.grad.dtype == np.float32


def test_reduction_none_shapes():
    x = sc.Tensor(_rng().standard_normal((2, 3, 4, 5)))
    t = sc.Tensor(_rng().integers(0, 3, (2, 4, 5)))
    assert F.cross_entropy(x, t, reduction="none").shape == (2, 4, 5)
    assert F.nll_loss(x, t, reduction="none").shape == (2, 4, 5)
    assert F.cross_entropy(sc.Tensor(np.zeros(3)), sc.Tensor(np.array(1)), reduction="none").shape == ()
    assert F.mse_loss(x, x, reduction="none").shape == x.shape


def test_errors_are_clear():
    x = sc.Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"cross_entropy: target 3 is out of bounds for 3 classes"):
        F.cross_entropy(x, sc.Tensor(np.array([0, 3])))
    with pytest.raises(ValueError, match="out of bounds"):
        F.nll_loss(x, sc.Tensor(np.array([-1, 0])))
    with pytest.raises(ValueError, match=r"target shape \(3,\) does not match input shape \(2, 3\)"):
        F.cross_entropy(x, sc.Tensor(np.array([0, 1, 2])))
    with pytest.raises(TypeError, match="integer class indices.*float"):
        F.cross_entropy(x, sc.Tensor(np.array([0.0, 1.0])))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, sc.Tensor(np.array([0, 1])), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, sc.Tensor(np.array([0, 1])), label_smoothing=1.5)
    with pytest.raises(ValueError, match="weight must have shape"):
        F.cross_entropy(x, sc.Tensor(np.array([0, 1])), weight=sc.Tensor(np.ones(4)))
    with pytest.raises(ValueError, match="binary_cross_entropy_with_logits: target size"):
        F.binary_cross_entropy_with_logits(x, sc.Tensor(np.zeros(3)))
    with pytest.raises(ValueError, match="pos_weight"):
        F.binary_cross_entropy_with_logits(x, x, pos_weight=sc.Tensor(np.ones(2)))
    with pytest.raises(ValueError, match="mse_loss"):
        F.mse_loss(x, sc.Tensor(np.zeros((4,))))


def test_ignore_index_may_be_a_valid_class():
    x = _rng().standard_normal((4, 3))
    t = np.array([0, 1, 2, 1])
    full = F.cross_entropy(sc.Tensor(x), sc.Tensor(t), reduction="none").data
    out = F.cross_entropy(sc.Tensor(x), sc.Tensor(t), ignore_index=1).item()
    assert out == pytest.approx((full[0] + full[2]) / 2)
