"""LoRA layers without PyTorch: identity at start, merge/unmerge, rank validation, dropout, finite differences."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
from scratchcnn import nn
from scratchcnn.finetune import LoRAConv, LoRALinear, max_rank, merge_lora, unmerge_lora, wrap_lora


def _layers(dtype=np.float32):
    return [
        (nn.Linear(6, 5, dtype=dtype), (3, 6)),
        (nn.Conv1d(3, 4, 3, stride=2, padding=1, dtype=dtype), (2, 3, 9)),
        (nn.Conv2d(2, 5, (3, 2), stride=(1, 2), padding=(1, 0), dilation=(2, 1), dtype=dtype), (2, 2, 8, 7)),
    ]


@pytest.mark.parametrize("idx", range(3))
def test_start_equals_base_exactly(idx):
    base, shape = _layers()[idx]
    x = sc.Tensor(np.random.default_rng(idx).standard_normal(shape).astype(np.float32))
    before = base(x).data.copy()
    layer = wrap_lora(base, rank=2, alpha=4.0)
    assert isinstance(layer, LoRALinear if idx == 0 else LoRAConv)
    after = layer(x).data
    assert after.dtype == np.float32
    np.testing.assert_array_equal(after, before)  # B starts at zero: bit-identical output
    assert layer.weight is base.weight and not base.weight.requires_grad
    assert np.all(layer.lora_B.weight.data == 0) and np.any(layer.lora_A.weight.data != 0)


def test_state_dict_keeps_base_names():
    base = nn.Conv2d(2, 3, 3, dtype=np.float64)
    layer = LoRAConv(base, rank=2)
    assert list(layer.state_dict()) == ["weight", "bias", "lora_A.weight", "lora_B.weight"]
    assert layer.lora_A.kernel_size == (3, 3) and layer.lora_B.kernel_size == (1, 1)
    assert [p.requires_grad for p in layer.parameters()] == [False, False, True, True]


@settings(max_examples=30, deadline=None)
@given(idx=st.integers(0, 2), rank=st.integers(1, 4), alpha=st.sampled_from([1.0, 3.0, 16.0]),
       seed=st.integers(0, 10_000))
def test_merge_unmerge_equal_outputs(idx, rank, alpha, seed):
    base, shape = _layers(np.float64)[idx]
    rank = min(rank, max_rank(base))
    rng = np.random.default_rng(seed)
    w0 = base.weight.data.copy()
    layer = wrap_lora(base, rank=rank, alpha=alpha)
    layer.lora_B.weight.data[:] = rng.standard_normal(layer.lora_B.weight.shape)
    x = sc.Tensor(rng.standard_normal(shape))
    unmerged = layer(x).data.copy()
    assert not np.allclose(unmerged, base(x).data)  # the branch contributes
    layer.merge()
    assert layer.merged
    merged = layer(x).data.copy()
    np.testing.assert_allclose(merged, unmerged, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.weight.data, w0 + layer.delta_weight(), rtol=1e-14, atol=1e-15)
    layer.merge()  # idempotent
    np.testing.assert_allclose(layer(x).data, merged, rtol=1e-14, atol=1e-15)
    layer.unmerge()
    assert not layer.merged
    np.testing.assert_array_equal(layer.weight.data, w0)  # the original is restored bit for bit
    np.testing.assert_array_equal(layer(x).data, unmerged)


def test_merge_unmerge_whole_model():
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 4)).double()
    model._modules["0"] = LoRAConv(model[0], rank=2)
    model._modules["3"] = LoRALinear(model[3], rank=3)
    rng = np.random.default_rng(1)
    for m in (model[0], model[3]):
        m.lora_B.weight.data[:] = rng.standard_normal(m.lora_B.weight.shape)
    x = sc.Tensor(rng.standard_normal((2, 1, 6, 6)))
    ref = model(x).data.copy()
    assert merge_lora(model) == 2
    np.testing.assert_allclose(model(x).data, ref, rtol=1e-10)
    assert unmerge_lora(model) == 2
    np.testing.assert_allclose(model(x).data, ref, rtol=1e-10)


def test_rank_validation():
    conv = nn.Conv2d(1, 64, 3)  # weight (64, 1, 3, 3): at most rank 9
    assert max_rank(conv) == 9
    with pytest.raises(ValueError, match=r"conv1.*rank 10 is larger than the layer allows \(at most 9"):
        LoRAConv(conv, rank=10, name="conv1")
    lin = nn.Linear(3, 8)
    with pytest.raises(ValueError, match="at most 3"):
        LoRALinear(lin, rank=4)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="rank must be a positive integer"):
            LoRALinear(nn.Linear(3, 8), rank=bad)
    with pytest.raises(ValueError, match="alpha"):
        LoRALinear(nn.Linear(3, 8), rank=1, alpha=0)
    with pytest.raises(ValueError, match="dropout"):
        LoRALinear(nn.Linear(3, 8), rank=1, dropout=1.0)
    with pytest.raises(ValueError, match="grouped"):
        LoRAConv(nn.Conv2d(4, 4, 3, groups=2), rank=1)
    with pytest.raises(ValueError, match="only Linear, Conv1d and Conv2d"):
        wrap_lora(nn.BatchNorm2d(3), rank=1, name="bn1")
    with pytest.raises(TypeError):
        LoRALinear(nn.Conv2d(1, 2, 3))


def test_lora_dropout_only_in_training():
    sc.manual_seed(0)
    layer = LoRALinear(nn.Linear(8, 6, dtype=np.float64), rank=2, dropout=0.5)
    layer.lora_B.weight.data[:] = 1.0
    x = sc.Tensor(np.ones((4, 8)))
    layer.eval()
    e1, e2 = layer(x).data, layer(x).data
    np.testing.assert_array_equal(e1, e2)
    layer.train()
    t = layer(x).data
    assert not np.allclose(t, e1)
    np.testing.assert_allclose(layer.base_layer(x).data, (e1 - layer.lora_B(layer.lora_A(x)).data * layer.scaling))


def _fd_grad(layer, param, x, G, eps=1e-6):
    num = np.zeros_like(param.data)
    for idx in np.ndindex(param.data.shape):
        old = param.data[idx]
        param.data[idx] = old + eps
        plus = (layer(x).data * G).sum()
        param.data[idx] = old - eps
        minus = (layer(x).data * G).sum()
        param.data[idx] = old
        num[idx] = (plus - minus) / (2 * eps)
    return num


@pytest.mark.parametrize("kind", ["conv1d", "conv2d", "linear"])
def test_gradients_match_finite_differences(kind):
    rng = np.random.default_rng(7)
    if kind == "conv1d":
        base, shape = nn.Conv1d(2, 3, 3, stride=2, padding=2, dilation=2, dtype=np.float64), (2, 2, 9)
    elif kind == "conv2d":
        base, shape = nn.Conv2d(2, 3, (2, 3), stride=(2, 1), padding=1, dtype=np.float64), (2, 2, 5, 6)
    else:
        base, shape = nn.Linear(5, 4, dtype=np.float64), (3, 5)
    layer = wrap_lora(base, rank=2, alpha=3.0)
    layer.lora_B.weight.data[:] = rng.standard_normal(layer.lora_B.weight.shape)
    xa = rng.standard_normal(shape)
    x = sc.Tensor(xa.copy(), requires_grad=True)
    out = layer(x)
    G = rng.standard_normal(out.shape)
    (out * sc.Tensor(G)).sum().backward()
    for p in (layer.lora_A.weight, layer.lora_B.weight):
        np.testing.assert_allclose(p.grad, _fd_grad(layer, p, sc.Tensor(xa), G), rtol=1e-5, atol=1e-7)
    assert base.weight.grad is None
    num_x = np.zeros_like(xa)
    for idx in np.ndindex(xa.shape):
        xp, xm = xa.copy(), xa.copy()
        xp[idx] += 1e-6
        xm[idx] -= 1e-6
        num_x[idx] = ((layer(sc.Tensor(xp)).data - layer(sc.Tensor(xm)).data) * G).sum() / 2e-6
    np.testing.assert_allclose(x.grad, num_x, rtol=1e-5, atol=1e-7)
