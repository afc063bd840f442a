"""A training step split over the cores (train/split_batch.py) gives the unsplit step's gradients (float64,
any loss), sums the parts in a fixed order, refuses models whose batch statistics couple the samples, and is
what the Trainer runs."""
from __future__ import annotations

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import models, nn, optim
from scratchcnn.train import Trainer
from scratchcnn.train.split_batch import MIN_PART, forward_for_training, forward_split, split_parts


def _model(name: str, seed: int = 0):
    sc.manual_seed(seed)
    if name == "textcnn":
        return models.get("textcnn", num_classes=3, vocab_size=50, embed_dim=8, num_filters=4,
                          dropout=0.0).double()
    return models.get(name, num_classes=10).double()


def _batch(name: str, n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    if name == "textcnn":
        x = rng.integers(1, 50, (n, 12))
        x[:, 9:] = 0                                   # padding, masked out of the max over time
        return sc.Tensor(x), sc.Tensor(rng.integers(0, 3, n))
    return sc.Tensor(rng.standard_normal((n, 1, 28, 28))), sc.Tensor(rng.integers(0, 10, n))


def _grads(model) -> dict[str, np.ndarray]:
    return {k: p.grad.copy() for k, p in model.named_parameters()}


@pytest.mark.parametrize("name", ["seed000", "textcnn"])
@pytest.mark.parametrize("parts", [2, 3])
def test_split_step_gives_the_unsplit_gradients(name, parts):
    loss_fn = nn.CrossEntropyLoss(weight=sc.Tensor(np.linspace(0.5, 2.0, 3 if name == "textcnn" else 10)),
                                  label_smoothing=0.1)
    x, y = _batch(name, 19)
    ref = _model(name)
    loss_ref = loss_fn(ref(x), y)
    loss_ref.backward()
    split = _model(name)
    logits, finish = forward_split(split, x, parts)
    loss = loss_fn(logits, y)
    loss.backward()
    finish()
    np.testing.assert_allclose(loss.item(), loss_ref.item(), rtol=1e-12)
    for k, g in _grads(ref).items():
        np.testing.assert_allclose(dict(split.named_parameters())[k].grad, g, rtol=1e-9, atol=1e-12, err_msg=k)


def test_split_gradients_add_onto_existing_ones_and_are_deterministic():
    x, y = _batch("seed000", 24)
    loss_fn = nn.CrossEntropyLoss()
    runs = []
    for _ in range(2):
        m = _model("seed000")
        for _step in range(2):                          # no zero_grad: the second step accumulates
            logits, finish = forward_split(m, x, 3)
            loss_fn(logits, y).backward()
            finish()
        runs.append(_grads(m))
    ref = _model("seed000")
    for _step in range(2):
        loss_fn(ref(x), y).backward()
    for k, g in _grads(ref).items():
        np.testing.assert_array_equal(runs[0][k], runs[1][k])      # thread timing does not matter
        np.testing.assert_allclose(runs[0][k], g, rtol=1e-9, atol=1e-12, err_msg=k)


def test_dropout_draws_are_reproducible():
    def run():
        sc.manual_seed(3)
        m = models.get("textcnn", num_classes=2, vocab_size=40, embed_dim=8, num_filters=4).double()
        x = sc.Tensor(np.random.default_rng(0).integers(1, 40, (16, 10)))
        logits, finish = forward_split(m, x, 2)
        logits.sum().backward()
        finish()
        return logits.data.copy(), _grads(m)
    (a, ga), (b, gb) = run(), run()
    np.testing.assert_array_equal(a, b)
    for k in ga:
        np.testing.assert_array_equal(ga[k], gb[k])


def test_split_parts_rules(monkeypatch):
    monkeypatch.setattr("scratchcnn.train.split_batch.get_num_threads", lambda: 2)
    plain = _model("seed000")
    assert split_parts(plain, 64) == 2
    assert split_parts(plain, 2 * MIN_PART - 1) == 1               # parts too small
    bn = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    assert split_parts(bn.train(), 64) == 1                          # batch statistics couple the samples
    assert split_parts(bn.eval(), 64) == 2                           # running statistics: per sample
    free_bn = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, track_running_stats=False)).eval()
    assert split_parts(free_bn, 64) == 1                             # no running statistics: batch ones
    assert split_parts(models.get("seed001", num_classes=10).eval(), 64) == 1   # 6.5 M parameters
    assert split_parts(nn.Sequential(nn.Flatten(), nn.Linear(784, 2000)), 64) == 2  # 1.57 M
    big_table = models.get("textcnn", num_classes=2, vocab_size=30000, embed_dim=128)   # 3.8 M in the embedding
    assert split_parts(big_table, 64) == 2
    monkeypatch.setenv("SCRATCHCNN_SPLIT_BATCH", "0")
    assert split_parts(plain, 64) == 1


def test_finish_before_backward_is_an_error():
    m = _model("seed000")
    logits, finish = forward_split(m, _batch("seed000", 16)[0], 2)
    with pytest.raises(RuntimeError, match="loss.backward"):
        finish()


def test_trainer_split_and_unsplit_train_the_same(monkeypatch):
    monkeypatch.setattr("scratchcnn.train.split_batch.get_num_threads", lambda: 2)
    rng = np.random.default_rng(4)
    data = [(sc.Tensor(rng.standard_normal((32, 1, 28, 28))), sc.Tensor(rng.integers(0, 10, 32))) for _ in range(3)]
    params = []
    for split in (True, False):
        m = _model("seed000")
        Trainer(m, optim.Adam(m.parameters(), lr=1e-3), epochs=2, split_batch=split).fit(lambda epoch: data)
        params.append({k: p.data.copy() for k, p in m.named_parameters()})
    for k in params[0]:
        np.testing.assert_allclose(params[0][k], params[1][k], rtol=1e-7, atol=1e-10, err_msg=k)
    logits, finish = forward_for_training(_model("seed000"), data[0][0], split=False)
    assert finish() is None and logits.shape == (32, 10)


def test_nothing_trainable_fails_like_the_unsplit_step():
    m = _model("seed000")
    for p in m.parameters():
        p.requires_grad = False
    x, y = _batch("seed000", 16)
    logits, finish = forward_split(m, x, 2)
    with pytest.raises(RuntimeError, match="does not require grad"):
        nn.CrossEntropyLoss()(logits, y).backward()
