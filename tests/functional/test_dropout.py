"""Dropout: inverted scaling, keep rate, reproducibility via generator / manual_seed, channel dropout,
gradients equal to the mask, edge probabilities and errors; dropout2d's axis rules and warnings vs PyTorch."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import scratchcnn as sc
import scratchcnn.functional as F


def _x(shape, dtype=np.float64):
    return sc.Tensor(np.random.default_rng(0).uniform(1.0, 2.0, shape).astype(dtype), requires_grad=True)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_inverted_scaling_and_keep_rate(p):
    x = _x((200, 500))
    y = F.dropout(x, p, generator=np.random.default_rng(1))
    kept = y.data != 0
    np.testing.assert_allclose(y.data[kept], x.data[kept] / (1 - p), rtol=1e-12)
    n = kept.size
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)  # 5 sigma
    assert abs(y.data.mean() / x.data.mean() - 1) < 0.02           # expectation preserved


def test_gradient_is_mask_times_scale():
    x = _x((30, 40))
    y = F.dropout(x, 0.3, generator=np.random.default_rng(2))
    g = np.random.default_rng(3).standard_normal(y.shape)
    y.backward(g)
    keep = y.data != 0
    np.testing.assert_allclose(x.grad, g * keep / 0.7, rtol=1e-12)


def test_reproducible_with_generator_and_manual_seed():
    x = _x((10, 10))
    a = F.dropout(x, 0.5, generator=np.random.default_rng(7)).data
    b = F.dropout(x, 0.5, generator=np.random.default_rng(7)).data
    np.testing.assert_array_equal(a, b)
    sc.manual_seed(11)
    c = F.dropout(x, 0.5).data
    d = F.dropout(x, 0.5).data
    sc.manual_seed(11)
    np.testing.assert_array_equal(F.dropout(x, 0.5).data, c)
    np.testing.assert_array_equal(F.dropout(x, 0.5).data, d)
    assert not np.array_equal(c, d)


def test_identity_when_not_training_or_p_zero():
    x = _x((3, 4))
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert F.dropout2d(x.reshape(1, 3, 2, 2), 0.5, training=False).shape == (1, 3, 2, 2)


def test_p_one_gives_zeros_and_zero_gradient():
    x = _x((3, 4))
    y = F.dropout(x, 1.0)
    np.testing.assert_array_equal(y.data, 0.0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, 0.0)
    assert np.isfinite(x.grad).all()


@pytest.mark.parametrize("fn,shape,spatial", [(F.dropout1d, (8, 16, 5), 1), (F.dropout1d, (16, 5), 1),
                                              (F.dropout2d, (8, 16, 3, 4), 2), (F.dropout2d, (2, 8, 16, 3, 4), 3)])
def test_channel_dropout_zeroes_whole_channels(fn, shape, spatial):
    x = _x(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dropout2d on 5-D warns (deprecated, as in PyTorch)
        y = fn(x, 0.5, generator=np.random.default_rng(4))
    flat = y.data.reshape(y.shape[:len(shape) - spatial] + (-1,))
    zero = (flat == 0).all(-1)
    kept = (flat != 0).all(-1)
    assert (zero | kept).all()          # every channel entirely dropped or entirely kept
    assert 0 < zero.sum() < zero.size
    np.testing.assert_allclose(flat[kept], (x.data.reshape(flat.shape)[kept]) * 2, rtol=1e-12)
    y.backward(np.ones(y.shape))
    np.testing.assert_allclose(x.grad, (y.data != 0) * 2.0)


def test_float32_preserved():
    x = _x((5, 6), np.float32)
    for y in (F.dropout(x, 0.3), F.dropout2d(x.reshape(1, 5, 2, 3), 0.3)):
        assert y.dtype == np.float32
        x.grad = None
        y.backward(np.ones(y.shape, dtype=np.float32))
        assert x.grad.dtype == np.float32


def test_errors():
    x = _x((2, 3))
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
            F.dropout(x, p)
    with pytest.warns(UserWarning, match="Received a 1-D input"), pytest.raises(ValueError, match="dropout2d"):
        F.dropout2d(_x((4,)), 0.5)
    with pytest.raises(ValueError, match="dropout1d"):
        F.dropout1d(_x((2,)), 0.5)
    with pytest.raises(ValueError, match="dropout1d"):
        F.dropout1d(_x((2, 3, 4, 5)), 0.5)
    with pytest.raises(TypeError, match="dropout"):
        F.dropout(sc.Tensor([1, 2]), 0.5)


def _run_recording(fn, *args, **kwargs):
    """(result or the exception's type name, [(category, message), ...]) of fn(*args) with warnings recorded."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = fn(*args, **kwargs)
        except (ValueError, RuntimeError) as e:
            out = type(e).__name__
    return out, [(w.category, str(w.message)) for w in caught]


@pytest.mark.parametrize("shape", [(6, 8, 7), (6, 8), (6, 8, 3, 4), (2, 6, 8, 2, 3), (5,)])
@pytest.mark.parametrize("training", [True, False])
def test_dropout2d_axes_and_warnings_match_torch(torch, shape, training):
    """PyTorch 2.13: the first axis of any input is the batch, so a 3-D input is (N, C, L) and each x[n, c] row
    drops whole (with a warning); other ranks than 3-D/4-D warn as deprecated; 1-D fails after its warning."""
    x = np.random.default_rng(5).uniform(1.0, 2.0, shape)
    y, w = _run_recording(F.dropout2d, sc.Tensor(x), 0.5, training, generator=np.random.default_rng(6))
    y_th, w_th = _run_recording(torch.nn.functional.dropout2d, torch.tensor(x), 0.5, training)
    assert w == w_th and len(w) == {1: 1, 2: 1, 3: 1, 4: 0, 5: 1}[len(shape)]
    if len(shape) == 1 and training:
        assert (y, y_th) == ("ValueError", "RuntimeError")
        return
    y, y_th = y.data, y_th.numpy()
    if not training:
        np.testing.assert_array_equal(y, y_th)
        np.testing.assert_array_equal(y, x)
        return
    for out in (y, y_th):  # one keep/drop decision per (n, c), constant over all further axes
        flat = out.reshape(shape[0], shape[1], -1)
        zero, kept = (flat == 0).all(-1), (flat != 0).all(-1)
        assert (zero | kept).all() and 0 < zero.sum() < zero.size
        np.testing.assert_allclose(flat[kept], x.reshape(flat.shape)[kept] * 2, rtol=1e-12)


def test_dropout2d_3d_gradient_and_p_one(torch):
    x = _x((4, 5, 6))
    with pytest.warns(UserWarning, match=r"interpreted as shape \(N, C, L\)"):
        y = F.dropout2d(x, 0.3, generator=np.random.default_rng(8))
    y.backward(np.ones(y.shape))
    rows = (y.data != 0).all(-1)
    np.testing.assert_allclose(x.grad, np.broadcast_to(rows[..., None] / 0.7, x.shape), rtol=1e-12)
    with pytest.warns(UserWarning):
        z = F.dropout2d(x, 1.0)
    with pytest.warns(UserWarning):
        z_th = torch.nn.functional.dropout2d(torch.tensor(x.data), 1.0)
    np.testing.assert_array_equal(z.data, z_th.numpy())
    for p in (0.0, 1.0):  # a 1-D input kept or zeroed whole works, as in PyTorch
        with pytest.warns(UserWarning, match="1-D input"):
            one = F.dropout2d(_x((3,)), p)
        with pytest.warns(UserWarning, match="1-D input"):
            one_th = torch.nn.functional.dropout2d(torch.tensor(_x((3,)).data), p)
        np.testing.assert_array_equal(one.data, one_th.numpy())
