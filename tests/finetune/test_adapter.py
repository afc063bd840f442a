"""Adapters and block insertion: identity at start, gradients, state-dict names, errors."""
from __future__ import annotations

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import models, nn
from scratchcnn.finetune import Adapter, add_adapters, insert_after, inserted_blocks, trace
from scratchcnn.finetune.adapter import PARALLEL_KEY, ParallelAdapter, add_parallel
from scratchcnn.finetune.structure import conv_block_ends

from .conftest import TINY


@pytest.mark.parametrize("dims,shape", [(2, (3, 6, 5, 4)), (1, (2, 6, 7))])
def test_adapter_starts_as_identity_and_learns(dims, shape):
    ad = Adapter(6, bottleneck=3, spatial_dims=dims, dtype=np.float64)
    x = sc.Tensor(np.random.default_rng(0).standard_normal(shape), requires_grad=True)
    y = ad(x)
    np.testing.assert_array_equal(y.data, x.data)
    y.backward(np.ones(shape))
    np.testing.assert_array_equal(x.grad, np.ones(shape))
    # at init only the up-projection gets a signal (down's gradient passes through up's zero weight)
    assert np.any(ad.up.weight.grad != 0)
    np.testing.assert_array_equal(ad.down.weight.grad, 0)


def test_adapter_rejects_bad_input():
    ad = Adapter(4, 2)
    with pytest.raises(ValueError, match=r"Adapter\(4\): expected input \(N, 4, H, W\)"):
        ad(sc.Tensor(np.zeros((1, 3, 5, 5), np.float32)))
    with pytest.raises(ValueError, match="bottleneck"):
        Adapter(4, 0)


def test_insert_adapters_after_conv_blocks():
    sc.manual_seed(1)
    model = models.get(TINY, num_classes=3)
    calls = trace(model, (1, 28, 28))
    ends = conv_block_ends(calls)
    assert [(c.name, c.out_shape) for c in ends] == [("bn1", (4, 14, 14)), ("bn2", (8, 7, 7))]
    keys_before = list(model.state_dict())
    x = sc.Tensor(np.random.default_rng(2).standard_normal((2, 1, 28, 28)).astype(np.float32))
    model.eval()
    ref = model(x).data.copy()
    names = add_adapters(model, [(c.name, c.out_shape) for c in ends], bottleneck=2)
    assert names == ["bn1", "bn2"]
    np.testing.assert_array_equal(model(x).data, ref)  # the adapted model starts exactly as the base
    keys = list(model.state_dict())
    assert keys[:len(keys_before)] == keys_before
    assert keys[len(keys_before):] == [f"inserted.{n}.{p}.{w}" for n in ("bn1", "bn2") for p in ("down", "up")
                                       for w in ("weight", "bias")]
    assert set(inserted_blocks(model)) == {"bn1", "bn2"}
    inserted_blocks(model)["bn2"].up.bias.data[:] = 0.5
    assert not np.allclose(model(x).data, ref)  # the hook really routes the output through the adapter
    with pytest.raises(ValueError, match="already inserted"):
        insert_after(model, "bn1", Adapter(4, 2))


def test_insert_after_any_block_and_bad_name():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    block = nn.Linear(4, 4)
    nn.init.zeros_(block.weight)
    nn.init.zeros_(block.bias)
    insert_after(model, "1", block)  # a new layer inserted into a trained model: zeros after the ReLU here
    out = model(sc.Tensor(np.ones((1, 3), np.float32))).data
    np.testing.assert_allclose(out, model[2].bias.data[None])
    # in a Sequential the block lives on the layer itself (the Sequential would otherwise call it)
    assert "1.inserted.weight" in model.state_dict() and inserted_blocks(model) == {"1": block}
    with pytest.raises(AttributeError):
        insert_after(model, "nope", nn.ReLU())


def test_parallel_adapter_beside_fc1_names_and_errors():
    sc.manual_seed(1)
    model = models.get(TINY, num_classes=3)
    model.eval()
    x = sc.Tensor(np.random.default_rng(2).standard_normal((2, 1, 28, 28)).astype(np.float32))
    ref = model(x).data.copy()
    fc1 = model.fc1
    pa = add_parallel(model, "fc1", ParallelAdapter(fc1.in_features, fc1.out_features, 2))
    np.testing.assert_array_equal(model(x).data, ref)  # starts as the base model
    assert [k for k in model.state_dict() if k.startswith(PARALLEL_KEY)] == [
        f"parallel.fc1.{p}.{w}" for p in ("down", "up") for w in ("weight", "bias")]
    assert inserted_blocks(model, PARALLEL_KEY) == {"fc1": pa} and inserted_blocks(model) == {}
    pa.up.bias.data[:] = 0.5
    assert not np.allclose(model(x).data, ref)  # the hook adds the branch to fc1's output
    with pytest.raises(ValueError, match="already beside 'fc1'"):
        add_parallel(model, "fc1", ParallelAdapter(fc1.in_features, fc1.out_features, 2))
    with pytest.raises(AttributeError, match="no submodule 'nope'"):
        add_parallel(model, "nope", ParallelAdapter(2, 2))
    with pytest.raises(ValueError, match=r"ParallelAdapter\(5 -> 2\): expected input \(\.\.\., 5\)"):
        ParallelAdapter(5, 2)(sc.Tensor(np.zeros((1, 4), np.float32)))
    with pytest.raises(ValueError, match="bottleneck"):
        ParallelAdapter(5, 2, 0)
