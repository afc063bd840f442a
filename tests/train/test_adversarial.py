"""FGM adversarial training (train/adversarial.py): the perturbation has norm eps along the gradient, restore is
exact, and a Trainer step with the adversary applies the sum of the clean and the adversarial gradients."""
from __future__ import annotations

import numpy as np
import pytest

from scratchcnn import nn, optim
from scratchcnn.train import Trainer
from scratchcnn.train.adversarial import FGM, embedding_tables

from tiny_text import text_batch, tiny_textcnn


def test_attack_moves_each_table_by_eps_along_its_gradient_and_restore_is_exact():
    model = tiny_textcnn()
    x, y = text_batch()
    nn.CrossEntropyLoss()(model(x), y).backward()
    tables = embedding_tables(model)
    assert len(tables) == 2                                   # token + bigram tables
    before = [t.data.copy() for t in tables]
    fgm = FGM(tables, eps=0.5)
    fgm.attack()
    for t, b in zip(tables, before):
        r = t.data - b
        np.testing.assert_allclose(np.linalg.norm(r), 0.5, rtol=1e-9)
        np.testing.assert_allclose(r, 0.5 * t.grad / np.linalg.norm(t.grad), rtol=1e-6, atol=1e-15)
    fgm.restore()
    for t, b in zip(tables, before):
        assert np.array_equal(t.data, b)


def test_tables_without_gradient_are_left_alone():
    e = nn.Embedding(5, 3)
    before = e.weight.data.copy()
    fgm = FGM([e.weight], eps=1.0)
    fgm.attack()                                              # no .grad
    assert np.array_equal(e.weight.data, before)
    e.weight.grad = np.zeros_like(before)                     # zero gradient: no direction
    fgm.attack()
    assert np.array_equal(e.weight.data, before)
    fgm.restore()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="no parameters"):
        FGM([], eps=1.0)
    e = nn.Embedding(5, 3)
    with pytest.raises(ValueError, match="eps must be > 0"):
        FGM([e.weight], eps=0.0)
    e.weight.grad = np.ones_like(e.weight.data)
    fgm = FGM([e.weight], eps=1.0)
    fgm.attack()
    with pytest.raises(RuntimeError, match="twice"):
        fgm.attack()
    with pytest.raises(ValueError, match="adversarial"):
        from scratchcnn.text import TextTrainConfig
        TextTrainConfig(data="x", adversarial=-1.0)


@pytest.mark.parametrize("split", [False, True])
def test_trainer_step_applies_clean_plus_adversarial_gradients(split):
    x, y = text_batch(20)
    loss_fn = nn.CrossEntropyLoss()
    eps = 0.3
    # by hand: gradients at w, then at w + r (tables moved along their normalised gradients), summed
    ref = tiny_textcnn()
    loss_fn(ref(x), y).backward()
    clean = {k: p.grad.copy() for k, p in ref.named_parameters()}
    tables = {id(t) for t in embedding_tables(ref)}
    start = {k: p.data.copy() for k, p in ref.named_parameters()}
    for p in ref.parameters():
        if id(p) in tables:
            p.data += eps * p.grad / np.linalg.norm(p.grad)
        p.grad = None
    loss_fn(ref(x), y).backward()
    expected = {k: start[k] - (clean[k] + p.grad) for k, p in ref.named_parameters()}   # SGD, lr 1

    model = tiny_textcnn()
    trainer = Trainer(model, optim.SGD(model.parameters(), lr=1.0), loss_fn=loss_fn, split_batch=split,
                      adversary=FGM(embedding_tables(model), eps))
    trainer.fit([(x, y)])
    for k, p in model.named_parameters():
        np.testing.assert_allclose(p.data, expected[k], rtol=1e-9, atol=1e-12, err_msg=k)
