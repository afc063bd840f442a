"""Strategies on a small seed001-shaped model: what trains, gradients reach only trainable parameters, frozen
tensors stay bit-identical through real optimiser steps, LR groups, BatchNorm freezing, heads, bad options."""
from __future__ import annotations

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import models, nn, optim
from scratchcnn.finetune import (STRATEGIES, StrategyOptions, apply_strategy, count_parameters, extend_head,
                                 find_head, layer_units, replace_head, trace)
from scratchcnn.train import Trainer

from .conftest import TINY


def _setup(strategy: str, num_classes: int = 3, **kw):
    sc.manual_seed(0)
    model = models.get(TINY, num_classes=num_classes)
    calls = trace(model, (1, 28, 28))
    head = find_head(calls)
    plan = apply_strategy(model, calls, head, StrategyOptions(strategy=strategy, rank=2, adapter_dim=3, **kw),
                          lr=0.01)
    return model, plan


def _batches(n_batches=3, bs=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return [(sc.Tensor(rng.standard_normal((bs, 1, 28, 28)).astype(np.float32)),
             sc.Tensor(rng.integers(0, k, bs))) for _ in range(n_batches)]


EXPECTED_TRAINABLE = {
    "full": None,  # everything
    "discriminative": None,
    "linear-probe": {"fc2.weight", "fc2.bias"},
    "partial": {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"},
    "bitfit": {"conv1.bias", "conv2.bias", "fc1.bias", "fc2.weight", "fc2.bias"},  # BN frozen by default
    "lora": {f"{n}.lora_{ab}.weight" for n in ("conv1", "conv2", "fc1") for ab in "AB"} | {"fc2.weight",
                                                                                           "fc2.bias"},
    "adapter": {f"inserted.{n}.{p}.{w}" for n in ("bn1", "bn2") for p in ("down", "up") for w in ("weight", "bias")}
    | {f"parallel.fc1.{p}.{w}" for p in ("down", "up") for w in ("weight", "bias")} | {"fc2.weight", "fc2.bias"},
}


def test_adapter_without_linear_adapters():
    model, _ = _setup("adapter", adapter_linear=False)
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names == {n for n in EXPECTED_TRAINABLE["adapter"] if not n.startswith("parallel.")}
    assert not any(n.startswith("parallel.") for n, _ in model.named_parameters())


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_trainable_sets(strategy):
    model, plan = _setup(strategy)
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    want = EXPECTED_TRAINABLE[strategy]
    assert names == (want if want is not None else {n for n, _ in model.named_parameters()})
    trainable, total = count_parameters(model)
    assert trainable == sum(p.data.size for p in model.parameters() if p.requires_grad)
    assert total == sum(p.data.size for p in model.parameters())
    assert sum(len(g["params"]) for g in plan.param_groups) == len(names)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_gradients_only_reach_trainable_and_frozen_stay_bit_identical(strategy):
    model, plan = _setup(strategy)
    frozen = {n: p.data.tobytes() for n, p in model.named_parameters() if not p.requires_grad}
    buffers = {n: b.data.tobytes() for n, b in model.named_buffers()}
    trainable_before = {n: p.data.copy() for n, p in model.named_parameters() if p.requires_grad}
    # one backward: gradients exactly on the trainable parameters
    model.train()
    x, y = _batches(1)[0]
    nn.CrossEntropyLoss()(model(x), y).backward()
    for n, p in model.named_parameters():
        assert (p.grad is not None) == p.requires_grad, n
    model.zero_grad()
    # real training steps through the Trainer
    opt = optim.Adam(plan.param_groups, lr=0.01)
    Trainer(model, opt, epochs=2).fit(_batches())
    for n, p in model.named_parameters():
        if n in frozen:
            assert p.data.tobytes() == frozen[n], f"frozen {n} changed"
            assert p.grad is None
    changed = [n for n, v in trainable_before.items() if not np.array_equal(v, dict(model.named_parameters())[n].data)]
    assert "fc2.weight" in changed
    bn_frozen = plan.structure["bn"] == "freeze"
    for n, b in model.named_buffers():
        if bn_frozen:
            assert b.data.tobytes() == buffers[n], f"buffer {n} moved with --bn freeze"
    if not bn_frozen:
        assert model.bn1.running_mean.data.tobytes() != buffers["bn1.running_mean"]


def test_bn_freeze_uses_running_statistics_in_train_mode():
    model, plan = _setup("full", bn="freeze")
    assert plan.structure["bn_frozen"] == ["bn1", "bn2"]
    assert not model.bn1.weight.requires_grad and not model.bn2.bias.requires_grad
    model.train()
    x, _ = _batches(1)[0]
    out_train = model.bn1.__call__  # the pre-hook switches the layer to eval at every call
    model(x)
    assert model.bn1.training is False and model.fc1.training is True
    model.train()
    with sc.no_grad():
        h = model.pool1(model.relu1(model.conv1(x)))
        y = out_train(h).data
    bn = model.bn1
    ref = ((h.data - bn.running_mean.data[None, :, None, None]) / np.sqrt(bn.running_var.data[None, :, None, None]
                                                                           + bn.eps)
           * bn.weight.data[None, :, None, None] + bn.bias.data[None, :, None, None])
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


def test_discriminative_groups_decay_from_the_head():
    model, plan = _setup("discriminative")
    units = [g["unit"] for g in plan.param_groups]
    lrs = [g["lr"] for g in plan.param_groups]
    assert units == ["fc2", "fc1", "conv2+bn2", "conv1+bn1"]
    np.testing.assert_allclose(lrs, [0.01, 0.005, 0.0025, 0.00125])
    _, plan = _setup("partial", unfreeze_last=3, layer_lr_decay=0.1)
    assert [g["unit"] for g in plan.param_groups] == ["fc2", "fc1", "conv2+bn2"]
    np.testing.assert_allclose([g["lr"] for g in plan.param_groups], [0.01, 0.001, 0.0001])


@pytest.mark.parametrize("strategy", ["lora", "adapter"])
def test_discriminative_rates_leave_new_modules_at_the_base_rate(strategy):
    """LoRA branches live inside the unit's (wrapped) layer; they still train at the base rate (group "added")."""
    model, plan = _setup(strategy, layer_lr_decay=0.5)
    rate = {id(p): (g["lr"], g["unit"]) for g in plan.param_groups for p in g["params"]}
    new = [n for n, p in model.named_parameters() if p.requires_grad and not n.startswith("fc2.")]
    assert new and all(rate[id(model.get_parameter(n))] == (0.01, "added") for n in new)
    assert rate[id(model.fc2.weight)] == (0.01, "fc2")


def _sequential_with_bn():
    sc.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(4), nn.Flatten(),
                         nn.Linear(4 * 8 * 8, 16), nn.ReLU(), nn.Linear(16, 3))


@pytest.mark.parametrize("strategy,kw", [("adapter", {}), ("linear-probe", {"insert_blocks": ["2"]}),
                                         ("discriminative", {"insert_blocks": ["2"]})])
def test_blocks_registered_on_a_frozen_batchnorm_still_train(strategy, kw):
    """In a Sequential model a block after a BatchNorm is registered on that layer; freezing the BatchNorm
    (the default --bn freeze) keeps the block trainable and in the optimiser."""
    model = _sequential_with_bn()
    calls = trace(model, (1, 8, 8))
    plan = apply_strategy(model, calls, find_head(calls), StrategyOptions(strategy=strategy, adapter_dim=2, **kw),
                          lr=0.01, input_shape=(1, 8, 8))
    block = [(n, p) for n, p in model.named_parameters() if n.startswith("2.inserted.")]
    in_groups = {id(p) for g in plan.param_groups for p in g["params"]}
    assert block and all(p.requires_grad and id(p) in in_groups for _, p in block)
    bn_trains = plan.structure["bn"] == "train"       # discriminative trains its BatchNorm layers by default
    assert model[2].weight.requires_grad == bn_trains and model[2].bias.requires_grad == bn_trains
    assert bn_trains == (strategy == "discriminative")


def test_layer_units():
    model = models.get(TINY, num_classes=3)
    assert layer_units(trace(model, (1, 28, 28))) == [["conv1", "bn1"], ["conv2", "bn2"], ["fc1"], ["fc2"]]


def test_partial_bn_follows_its_unit():
    model, _ = _setup("partial", unfreeze_last=3)
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert {"conv2.weight", "bn2.weight", "bn2.bias", "fc1.weight", "fc2.bias"} <= names
    assert not ({"conv1.weight", "bn1.weight"} & names)


def test_bad_options():
    with pytest.raises(ValueError, match="--unfreeze-last 5 but the model has only 4 layer units"):
        _setup("partial", unfreeze_last=5)
    with pytest.raises(ValueError, match="BatchNorm2d; LoRA applies to Conv1d, Conv2d and Linear"):
        _setup("lora", targets="bn1")
    with pytest.raises(ValueError, match="not a layer of the model"):
        _setup("lora", targets="conv9")
    with pytest.raises(ValueError, match="names the head"):
        _setup("lora", targets="fc2")
    with pytest.raises(ValueError, match="unknown strategy"):
        _setup("everything")
    # conv1 is 1->4 channels 3x3: at most rank 4; nothing of the model is changed when a target fails
    sc.manual_seed(0)
    model = models.get(TINY, num_classes=3)
    calls = trace(model, (1, 28, 28))
    with pytest.raises(ValueError, match=r"conv1.*rank 5 is larger than the layer allows \(at most 4"):
        apply_strategy(model, calls, "fc2", StrategyOptions(strategy="lora", rank=5), lr=0.01)
    assert type(model.conv1) is nn.Conv2d


def test_lora_targets_subset_and_count():
    model, _ = _setup("lora", targets="conv2,fc1")
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names == {"conv2.lora_A.weight", "conv2.lora_B.weight", "fc1.lora_A.weight", "fc1.lora_B.weight",
                     "fc2.weight", "fc2.bias"}
    trainable, total = count_parameters(model)
    assert trainable == 2 * 4 * 9 + 8 * 2 + 2 * 392 + 32 * 2 + 32 * 3 + 3


def test_replace_and_extend_head():
    sc.manual_seed(0)
    model = models.get(TINY, num_classes=5).double()
    model.eval()
    x = sc.Tensor(np.random.default_rng(0).standard_normal((4, 1, 28, 28)))
    old_logits = model(x).data.copy()
    w, b = model.fc2.weight.data.copy(), model.fc2.bias.data.copy()
    new = extend_head(model, "fc2", 3)
    assert new is model.fc2 and new.weight.shape == (8, 32) and model.model_config["num_classes"] == 8
    np.testing.assert_array_equal(new.weight.data[:5], w)
    np.testing.assert_array_equal(new.bias.data[:5], b)
    assert not np.allclose(new.weight.data[5:], 0)
    assert new.weight.dtype == np.float64
    # old classes' logits unchanged (up to the GEMM's summation order for a wider output)
    np.testing.assert_allclose(model(x).data[:, :5], old_logits, rtol=1e-12, atol=1e-15)
    replace_head(model, "fc2", 2)
    assert model.fc2.weight.shape == (2, 32) and model.model_config["num_classes"] == 2
    assert list(model.state_dict())[-2:] == ["fc2.weight", "fc2.bias"]
    with pytest.raises(ValueError, match="expected Linear"):
        replace_head(model, "bn2", 3)


def test_head_must_be_linear():
    class ConvHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 3, 28)
            self.flatten = nn.Flatten()

        def forward(self, x):
            return self.flatten(self.conv(x))

    with pytest.raises(ValueError, match="needs a final Linear classifier head.*Conv2d \\(conv\\)"):
        find_head(trace(ConvHead(), (1, 28, 28)))
    with pytest.raises(ValueError, match="does not accept inputs of shape"):
        trace(models.get(TINY, num_classes=3), (3, 28, 28))
