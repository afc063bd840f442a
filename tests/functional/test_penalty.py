"""l1_penalty / l2_penalty vs PyTorch (float64, rtol 1e-6), finite differences, dtype, edge cases."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchcnn as sc
import scratchcnn.functional as F
from oracle.helpers import compare_with_torch, finite_difference_check


@settings(max_examples=25, deadline=None)
@given(shapes=st.lists(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), min_size=1, max_size=4),
       seed=st.integers(0, 2**31 - 1))
def test_penalties_match_torch(torch, shapes, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) + 0.01 for s in shapes]
    compare_with_torch(torch, lambda *ws: F.l1_penalty(ws), lambda *ws: sum(w.abs().sum() for w in ws), arrays)
    compare_with_torch(torch, lambda *ws: F.l2_penalty(list(ws)), lambda *ws: sum((w * w).sum() for w in ws),
                       arrays)


def test_finite_differences():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3)) + 0.1, rng.standard_normal(4) - 0.1
    finite_difference_check(lambda x, y: F.l2_penalty([x, y]), [a, b])
    finite_difference_check(lambda x, y: F.l1_penalty([x, y]), [a, b])


def test_values_and_gradients_by_hand():
    w = sc.Tensor(np.array([-2.0, 0.0, 3.0]), requires_grad=True)
    frozen = sc.Tensor(np.array([1.0, -1.0]))  # no grad: counted, but receives nothing
    assert F.l1_penalty([w, frozen]).item() == 7.0
    p = F.l2_penalty(iter([w, frozen]))  # any iterable (e.g. a generator like module.parameters())
    assert p.item() == 15.0
    p.backward()
    np.testing.assert_array_equal(w.grad, [-4.0, 0.0, 6.0])  # 2 w: no 0.5 factor
    assert frozen.grad is None
    w.grad = None
    F.l1_penalty([w]).backward()
    np.testing.assert_array_equal(w.grad, [-1.0, 0.0, 1.0])  # sign, 0 at 0 like torch.abs


def test_penalty_added_to_a_loss():
    w = sc.Tensor(np.array([[1.0, 2.0]]), requires_grad=True)
    loss = (w * 3.0).sum() + 0.5 * F.l2_penalty([w])
    loss.backward()
    np.testing.assert_allclose(w.grad, [[4.0, 5.0]])


def test_float32_and_single_tensor_and_empty():
    w = sc.Tensor(np.ones((3, 3), dtype=np.float32), requires_grad=True)
    p = F.l2_penalty(w)
    assert p.dtype == np.float32 and p.item() == 9.0
    p.backward()
    assert w.grad.dtype == np.float32
    assert F.l1_penalty([]).item() == 0.0


def test_errors():
    with pytest.raises(TypeError, match="l1_penalty.*item 1"):
        F.l1_penalty([sc.Tensor(np.ones(2)), np.ones(2)])
    with pytest.raises(TypeError, match="l2_penalty.*floating"):
        F.l2_penalty([sc.Tensor([1, 2])])
