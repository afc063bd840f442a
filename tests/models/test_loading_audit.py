"""``load_model`` audit: a meta.json config that does not build the model is one line naming the checkpoint; a
float64 checkpoint comes back float64, bit for bit; a trained seed001 (BatchNorm running statistics,
num_batches_tracked) round-trips exactly."""
from __future__ import annotations

import json

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import models
from scratchcnn.io import load_checkpoint, save_checkpoint
from scratchcnn.models.loading import CheckpointMismatchError, model_meta


NORM = {"mean": [0.1307], "std": [0.3081]}


def saved(path, model):
    return save_checkpoint(path, model.state_dict(), model_meta(model, normalization=NORM))


@pytest.mark.parametrize("key, value, why", [
    ("bogus", 1, "bad configuration {'bogus': 1}: Seed000.__init__() got an unexpected keyword argument 'bogus'"),
    ("in_channels", "1", "Conv2d: in_channels must be a positive int, got '1'"),
    ("input_size", 32.0, "Linear: in_features must be a non-negative int, got 2048.0"),
])
def test_config_that_does_not_build_names_the_checkpoint(tmp_path, key, value, why):
    d = saved(tmp_path / "c", models.get("seed000"))
    meta = json.loads((d / "meta.json").read_text())
    meta["model"]["config"][key] = value
    (d / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointMismatchError) as e:
        models.load_model(d)
    assert str(e.value) == f"checkpoint {d}: meta.json field model.config does not build model seed000: {why}"


def test_float64_checkpoint_loads_as_float64_bit_for_bit(tmp_path):
    sc.manual_seed(0)
    m = models.get("lenet5").double()
    for p in m.parameters():          # values float32 cannot hold
        p.data += np.random.default_rng(1).standard_normal(p.shape) * 1e-9
    m.eval()
    m2, _ = models.load_model(saved(tmp_path / "c", m))
    for (k, a), b in zip(m.state_dict().items(), m2.state_dict().values()):
        assert b.dtype == np.float64 and a.tobytes() == b.tobytes(), k
    x = sc.Tensor(np.random.default_rng(2).standard_normal((2, 1, 28, 28)))
    with sc.no_grad():
        assert np.array_equal(m(x).data, m2(x).data)


def test_mixed_float_checkpoint_loads_as_float32(tmp_path):
    m = models.get("seed000")
    state = m.state_dict()
    state["fc2.bias"] = state["fc2.bias"].astype(np.float64)   # one float64 tensor: the model stays float32
    d = save_checkpoint(tmp_path / "c", state, model_meta(m, normalization=NORM))
    assert models.load_model(d)[0].fc2.bias.data.dtype == np.float32


def test_trained_seed001_round_trips_exactly(tmp_path):
    sc.manual_seed(3)
    m = models.get("seed001")
    x = sc.Tensor(np.random.default_rng(0).standard_normal((8, 1, 28, 28)).astype(np.float32))
    m.train()
    for _ in range(3):                # BatchNorm statistics move; num_batches_tracked counts
        m(x)
    d = saved(tmp_path / "c", m)
    state, _ = load_checkpoint(d)
    assert state["bn1.num_batches_tracked"].dtype == np.int64 and int(state["bn1.num_batches_tracked"]) == 3
    m2, _ = models.load_model(d)
    for (k, a), b in zip(m.state_dict().items(), m2.state_dict().values()):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), k
    m.eval()
    with sc.no_grad():
        assert np.array_equal(m(x).data, m2(x).data)
