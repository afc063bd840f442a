"""Training settings that PyTorch users rely on: AdamW's default weight decay and an explicit 0, early stopping
needing validation data, and evaluation losses reported without label smoothing."""
from __future__ import annotations

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import nn
from scratchcnn.finetune import FinetuneConfig
from scratchcnn.text.config import TextTrainConfig
from scratchcnn.train import TrainConfig, Trainer
from scratchcnn.train.config import build_optimizer


@pytest.mark.parametrize("make", [lambda **kw: TrainConfig(**kw), lambda **kw: FinetuneConfig(**kw),
                                  lambda **kw: TextTrainConfig(data="x.csv", **kw)])
def test_weight_decay_default_and_explicit_zero(make):
    """None means the optimiser's default (AdamW 1e-2, like torch), recorded in the config; 0 means 0."""
    assert make(optimizer="adamw").weight_decay == 0.01
    assert make(optimizer="adamw", weight_decay=0.0).weight_decay == 0.0
    assert make(optimizer="adam").weight_decay == 0.0 and make(optimizer="sgd").weight_decay == 0.0
    params = [sc.Tensor(np.zeros(3, np.float32), requires_grad=True)]
    assert build_optimizer("adamw", params, 1e-3, 0.0).param_groups[0]["weight_decay"] == 0.0
    assert build_optimizer("adamw", params, 1e-3).param_groups[0]["weight_decay"] == 0.01


def test_patience_needs_a_validation_split():
    with pytest.raises(ValueError, match="--patience needs a validation split"):
        TrainConfig(patience=2, val_split=0.0)
    TrainConfig(patience=2, val_split=0.1)


def test_evaluation_loss_can_differ_from_the_training_loss():
    """The training commands pass plain cross-entropy for evaluation: with label smoothing the validation loss
    is then the one `scratchcnn evaluate` reports."""
    sc.manual_seed(0)
    model = nn.Linear(4, 3)
    x = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    y = np.arange(8) % 3
    batches = [(sc.Tensor(x), sc.Tensor(y))]
    smooth, plain = nn.CrossEntropyLoss(label_smoothing=0.2), nn.CrossEntropyLoss()
    opt = sc.optim.SGD(model.parameters(), lr=0.1)
    got = Trainer(model, opt, loss_fn=smooth, eval_loss_fn=plain).evaluate(batches)["loss"]
    want = float(plain(model(sc.Tensor(x)), sc.Tensor(y)).item())
    assert got == pytest.approx(want, rel=1e-6)
    assert Trainer(model, opt, loss_fn=smooth).evaluate(batches)["loss"] != pytest.approx(want, rel=1e-3)


def test_reported_training_loss_is_the_evaluation_loss():
    """With eval_loss_fn given (the training commands: plain cross-entropy for label-smoothed runs) the epoch's
    training loss is that loss on the training batches' outputs; the smoothed objective still drives the steps."""
    x = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    y = np.arange(8) % 3
    batches = [(sc.Tensor(x[:4]), sc.Tensor(y[:4])), (sc.Tensor(x[4:]), sc.Tensor(y[4:]))]
    smooth, plain = nn.CrossEntropyLoss(label_smoothing=0.5), nn.CrossEntropyLoss()
    runs = {}
    for name, report in (("objective", None), ("plain", plain)):
        sc.manual_seed(0)
        model = nn.Linear(4, 3)
        start = [p.data.copy() for p in model.parameters()]
        trainer = Trainer(model, sc.optim.SGD(model.parameters(), lr=0.1), loss_fn=smooth, eval_loss_fn=report)
        trainer.fit(batches)
        runs[name] = (trainer.history[0]["loss"], [p.data.copy() for p in model.parameters()])
        # the reported loss recomputed: each batch's loss at the weights before its step, averaged over images
        model_check = nn.Linear(4, 3)
        for p, s0 in zip(model_check.parameters(), start):
            p.data[...] = s0
        want = []
        opt = sc.optim.SGD(model_check.parameters(), lr=0.1)
        for xb, yb in batches:
            want.append(float((report or smooth)(model_check(xb), yb).item()))
            opt.zero_grad()
            smooth(model_check(xb), yb).backward()
            opt.step()
        assert runs[name][0] == pytest.approx(np.mean(want), rel=1e-6)
    for a, b in zip(runs["objective"][1], runs["plain"][1]):
        np.testing.assert_array_equal(a, b)      # the same steps: only the reported number differs
    assert runs["objective"][0] != pytest.approx(runs["plain"][0], rel=1e-4)
