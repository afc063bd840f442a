"""R-Drop (train/rdrop.py): the loss against PyTorch and finite differences, the doubled batch, and Trainer steps
(without dropout an R-Drop step is exactly the plain step; with dropout the two passes draw different masks)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import nn, optim
from scratchcnn.train import Trainer
from scratchcnn.train.rdrop import RDrop
from scratchcnn.train.split_batch import forward_for_training

from oracle.helpers import finite_difference_check
from tiny_text import text_batch, tiny_textcnn


@pytest.mark.parametrize("alpha, smoothing", [(1.0, 0.0), (0.3, 0.1), (5.0, 0.0)])
def test_loss_and_gradient_match_torch(torch, alpha, smoothing):
    rng = np.random.default_rng(int(alpha * 10))
    n, k = 6, 4
    z = rng.standard_normal((2 * n, k)) * 2
    y = rng.integers(0, k, n)
    zt = sc.Tensor(z, requires_grad=True)
    loss = RDrop(alpha).loss(nn.CrossEntropyLoss(label_smoothing=smoothing), zt, sc.Tensor(y))
    loss.backward()

    F = torch.nn.functional
    tz = torch.tensor(z, requires_grad=True)
    ty = torch.tensor(y)
    z1, z2 = tz[:n], tz[n:]
    ce = F.cross_entropy(z1, ty, label_smoothing=smoothing) + F.cross_entropy(z2, ty, label_smoothing=smoothing)
    lp1, lp2 = F.log_softmax(z1, 1), F.log_softmax(z2, 1)
    kl = (F.kl_div(lp2, lp1, reduction="batchmean", log_target=True)          # KL(p1 || p2)
          + F.kl_div(lp1, lp2, reduction="batchmean", log_target=True))       # KL(p2 || p1)
    ref = (ce + alpha * kl / 2) / 2                                           # the paper's loss, halved
    ref.backward()
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-12)
    np.testing.assert_allclose(zt.grad, tz.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((8, 3))
    y = sc.Tensor(rng.integers(0, 3, 4))
    finite_difference_check(lambda a: RDrop(2.0).loss(nn.CrossEntropyLoss(), a, y), [z])


def test_identical_passes_add_nothing():
    rng = np.random.default_rng(4)
    z = rng.standard_normal((5, 3))
    y = sc.Tensor(rng.integers(0, 3, 5))
    loss = RDrop(3.0).loss(nn.CrossEntropyLoss(), sc.Tensor(np.concatenate([z, z])), y)
    assert loss.item() == pytest.approx(nn.CrossEntropyLoss()(sc.Tensor(z), y).item(), rel=1e-14)


def test_twice_stacks_the_batch():
    x = np.arange(6).reshape(3, 2)
    np.testing.assert_array_equal(RDrop.twice(sc.Tensor(x)).data, np.concatenate([x, x]))
    np.testing.assert_array_equal(RDrop.twice(x), np.concatenate([x, x]))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="alpha must be > 0"):
        RDrop(0.0)
    with pytest.raises(TypeError, match="Tensor or an ndarray"):
        RDrop.twice([[1, 2]])
    with pytest.raises(ValueError, match=r"\(2N, K\)"):
        RDrop(1.0).loss(nn.CrossEntropyLoss(), sc.Tensor(np.zeros((5, 3))), sc.Tensor(np.zeros(2, dtype=int)))
    from scratchcnn.text import TextTrainConfig
    with pytest.raises(ValueError, match="rdrop"):
        TextTrainConfig(data="x", rdrop=-1.0)


@pytest.mark.parametrize("split", [False, True])
def test_without_dropout_a_step_is_the_plain_step(split):
    x, y = text_batch()
    plain, doubled = tiny_textcnn(dropout=0.0), tiny_textcnn(dropout=0.0)
    Trainer(plain, optim.Adam(plain.parameters(), lr=0.01), split_batch=split).fit([(x, y)])
    Trainer(doubled, optim.Adam(doubled.parameters(), lr=0.01), split_batch=split, rdrop=RDrop(1.0)).fit([(x, y)])
    for (k, a), (_, b) in zip(plain.named_parameters(), doubled.named_parameters()):
        np.testing.assert_allclose(b.data, a.data, rtol=1e-12, atol=1e-14, err_msg=k)


@pytest.mark.parametrize("split", [False, True])
def test_with_dropout_the_two_passes_differ(split):
    x, _ = text_batch()
    model = tiny_textcnn(dropout=0.5)
    model.train()
    logits, _ = forward_for_training(model, RDrop.twice(x), split)
    z = logits.data
    assert not np.allclose(z[:20], z[20:])


def test_trainer_history_counts_the_batch_once():
    x, y = text_batch()
    model = tiny_textcnn(dropout=0.5)
    hist = Trainer(model, optim.Adam(model.parameters(), lr=0.01), rdrop=RDrop(1.0)).fit([(x, y)], [(x, y)])
    acc = hist[0]["accuracy"]
    assert 0.0 <= acc <= 1.0 and round(acc * 20) == pytest.approx(acc * 20)   # counted over the 20 texts
    assert np.isfinite(hist[0]["loss"]) and hist[0]["val_accuracy"] * 20 == pytest.approx(round(
        hist[0]["val_accuracy"] * 20))
    json.dumps(hist)
