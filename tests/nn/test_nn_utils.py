"""clip_grad_norm_, clip_grad_value_ and max_norm_ against hand-computed values (no PyTorch)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from scratchcnn import nn, optim
from scratchcnn.nn.utils import clip_grad_norm_, clip_grad_value_, max_norm_


def _params(*grads):
    ps = []
    for g in grads:
        p = nn.Parameter(np.zeros_like(np.asarray(g, dtype=np.float64)))
        p.grad = np.array(g, dtype=np.float64)
        ps.append(p)
    return ps


def test_clip_grad_norm_scales_jointly():
    a, b = _params([3.0, 0.0], [[0.0, 4.0]])
    total = clip_grad_norm_([a, b], max_norm=1.0)
    assert total == pytest.approx(5.0)
    coef = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(a.grad, [3 * coef, 0], rtol=1e-15)
    np.testing.assert_allclose(b.grad, [[0, 4 * coef]], rtol=1e-15)


def test_clip_grad_norm_no_clip_inf_and_one_norms():
    (a,) = _params([0.3, -0.4])
    assert clip_grad_norm_(a, 10.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(a.grad, [0.3, -0.4])
    a, b = _params([1.0, -7.0], [2.0])
    assert clip_grad_norm_([a, b], 3.5, norm_type=math.inf) == 7.0
    np.testing.assert_allclose(a.grad, [0.5, -3.5], rtol=1e-6)
    a, b = _params([1.0, -1.0], [2.0])
    assert clip_grad_norm_([a, b], 100.0, norm_type=1) == pytest.approx(4.0)
    c = nn.Parameter(np.zeros(2))
    assert clip_grad_norm_([c], 1.0) == 0.0  # no gradients: nothing to do
    assert optim.clip_grad_norm_ is clip_grad_norm_


def test_clip_grad_norm_nonfinite():
    (a,) = _params([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_([a], 1.0, error_if_nonfinite=True)


def test_clip_grad_norm_keeps_float32_and_in_place():
    p = nn.Parameter(np.zeros(3, dtype=np.float32))
    p.grad = np.full(3, 10.0, dtype=np.float32)
    g = p.grad
    clip_grad_norm_([p], 1.0)
    assert p.grad is g and g.dtype == np.float32
    assert np.linalg.norm(g) == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_value():
    a, b = _params([-3.0, 0.5, 2.0], [0.1])
    clip_grad_value_([a, b], 1.0)
    np.testing.assert_array_equal(a.grad, [-1.0, 0.5, 1.0])
    np.testing.assert_array_equal(b.grad, [0.1])


def test_max_norm_rescales_only_long_rows():
    w = nn.Parameter(np.array([[3.0, 4.0], [0.3, 0.4], [0.0, 6.0]]))
    arr = w.data
    assert max_norm_(w, max_norm=3.0) is w
    assert w.data is arr
    np.testing.assert_allclose(np.linalg.norm(w.data, axis=1), [3.0, 0.5, 3.0], rtol=1e-6)
    np.testing.assert_allclose(w.data[0], np.array([3.0, 4.0]) * 3 / (5 + 1e-7), rtol=1e-12)
    np.testing.assert_array_equal(w.data[1], [0.3, 0.4])
    cols = nn.Parameter(np.array([[3.0, 0.0], [4.0, 1.0]]))
    max_norm_(cols, max_norm=1.0, dim=1)
    np.testing.assert_allclose(np.linalg.norm(cols.data, axis=0), [1.0, 1.0], rtol=1e-6)
    lin = nn.Linear(10, 4)
    lin.weight.data *= 100
    max_norm_(lin.weight, 3.0)
    assert np.all(np.linalg.norm(lin.weight.data, axis=1) <= 3.0 + 1e-5) and lin.weight.dtype == np.float32
