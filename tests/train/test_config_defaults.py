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
