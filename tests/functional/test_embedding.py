"""embedding vs PyTorch (float64, rtol 1e-6): any index shape, repeated indices, padding_idx, max_norm,
scale_grad_by_freq; finite differences; errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchcnn as sc
import scratchcnn.functional as F
from oracle.helpers import compare_with_torch, finite_difference_check
from scratchcnn.functional.embedding import scatter_add_rows


@settings(max_examples=30, deadline=None)
@given(num=st.integers(1, 8), dim=st.integers(1, 5), ishape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=5),
       seed=st.integers(0, 2**31 - 1), pad=st.booleans(), freq=st.booleans())
def test_embedding_matches_torch(torch, num, dim, ishape, seed, pad, freq):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((num, dim))
    idx = rng.integers(0, num, size=ishape)  # small vocabularies: many repeats
    padding_idx = int(rng.integers(-num, num)) if pad else None
    compare_with_torch(
        torch, lambda ww: F.embedding(sc.Tensor(idx), ww, padding_idx=padding_idx, scale_grad_by_freq=freq),
        lambda ww: torch.nn.functional.embedding(torch.tensor(idx), ww, padding_idx=padding_idx,
                                                 scale_grad_by_freq=freq), [w])


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0])
def test_max_norm_renormalises_in_place_like_torch(torch, norm_type):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 4)) * 2
    idx = np.array([[0, 2, 2], [5, 0, 1]])
    ws, wt = sc.Tensor(w.copy(), requires_grad=True), torch.tensor(w.copy(), requires_grad=True)
    out_s = F.embedding(sc.Tensor(idx), ws, max_norm=1.5, norm_type=norm_type)
    out_t = torch.nn.functional.embedding(torch.tensor(idx), wt, max_norm=1.5, norm_type=norm_type)
    np.testing.assert_allclose(out_s.data, out_t.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(ws.data, wt.detach().numpy(), rtol=1e-6)  # rows 0,1,2,5 renormed, 3,4 not
    g = rng.standard_normal(out_s.shape)
    out_s.backward(g)
    out_t.backward(torch.tensor(g))
    np.testing.assert_allclose(ws.grad, wt.grad.numpy(), rtol=1e-6)


def test_finite_differences():
    idx = np.array([[1, 3, 1], [0, 0, 2]])
    w = np.random.default_rng(1).standard_normal((4, 3))
    finite_difference_check(lambda ww: F.embedding(sc.Tensor(idx), ww), [w])


def test_padding_row_gets_no_gradient_and_repeats_accumulate():
    w = sc.Tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
    out = F.embedding(np.array([[0, 2, 2], [2, 1, 0]]), w, padding_idx=0)
    np.testing.assert_array_equal(out.data[0, 1], [6.0, 7.0, 8.0])
    out.sum().backward()
    np.testing.assert_array_equal(w.grad, [[0, 0, 0], [1, 1, 1], [3, 3, 3], [0, 0, 0]])


def test_scatter_add_rows_matches_add_at():
    rng = np.random.default_rng(2)
    idx = rng.integers(0, 50, 1000)
    rows = rng.standard_normal((1000, 7))
    ref = np.zeros((60, 7))
    np.add.at(ref, idx, rows)
    np.testing.assert_allclose(scatter_add_rows(idx, rows, 60), ref, rtol=1e-12, atol=1e-12)
    assert scatter_add_rows(np.zeros(0, dtype=np.int64), np.zeros((0, 7)), 3).shape == (3, 7)


def test_float32_preserved_and_output_shape():
    w = sc.Tensor(np.ones((5, 3), dtype=np.float32), requires_grad=True)
    out = F.embedding(sc.Tensor(np.zeros((2, 4, 6), dtype=np.int64)), w)
    assert out.shape == (2, 4, 6, 3) and out.dtype == np.float32
    out.sum().backward()
    assert w.grad.dtype == np.float32 and w.grad[0, 0] == 48


def test_errors():
    w = sc.Tensor(np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"embedding: index 5 is out of range for 5 embeddings"):
        F.embedding(sc.Tensor(np.array([0, 5])), w)
    with pytest.raises(ValueError, match=r"index -1 is out of range"):
        F.embedding(sc.Tensor(np.array([-1])), w)
    with pytest.raises(TypeError, match="embedding: indices must be integers"):
        F.embedding(sc.Tensor(np.array([0.0, 1.0])), w)
    with pytest.raises(ValueError, match="padding_idx"):
        F.embedding(sc.Tensor(np.array([0])), w, padding_idx=5)
    with pytest.raises(ValueError, match="2-D"):
        F.embedding(sc.Tensor(np.array([0])), sc.Tensor(np.zeros(5)))
