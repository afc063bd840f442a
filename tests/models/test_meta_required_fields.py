"""meta.json fields whose absence would change the answer silently are required: the weights' SHA-256 (without it a
bit-flipped model.safetensors would load unchecked) and, for an image model, its normalisation (without it the
model would be fed raw pixels). Each is one line naming the checkpoint and the field."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from scratchcnn import models
from scratchcnn.io import CheckpointError, load_checkpoint, save_checkpoint
from scratchcnn.models.loading import CheckpointMismatchError, model_meta

NORM = {"mean": [0.1307], "std": [0.3081]}


def write(path, **meta):
    m = models.get("seed000")
    return save_checkpoint(path, m.state_dict(), model_meta(m, class_names=[str(i) for i in range(10)],
                                                            input_shape=[1, 28, 28], **meta))


def edit_meta(d, edit):
    meta = json.loads((d / "meta.json").read_text())
    edit(meta)
    (d / "meta.json").write_text(json.dumps(meta))


def flip_first_value(d):
    """Flip an exponent bit of the first float32 of model.safetensors (a finite, wrong value)."""
    p = d / "model.safetensors"
    b = bytearray(p.read_bytes())
    n = struct.unpack("<Q", b[:8])[0]
    b[8 + n + 3] ^= 0x02
    p.write_bytes(bytes(b))


def test_image_checkpoint_without_normalization_is_refused(tmp_path):
    d = write(tmp_path / "c", normalization=NORM)
    assert models.load_model(d)[1]["normalization"] == NORM
    edit_meta(d, lambda m: m.pop("normalization"))
    with pytest.raises(CheckpointMismatchError) as e:
        models.load_model(d)
    assert str(e.value) == (f"checkpoint {d}: meta.json field normalization is missing (the mean and std the "
                            "model's inputs were normalised with; null for raw [0, 1] pixels)")


@pytest.mark.parametrize("key", ["mean", "std"])
def test_normalization_without_mean_or_std_is_refused(tmp_path, key):
    d = write(tmp_path / "c", normalization={k: v for k, v in NORM.items() if k != key})
    with pytest.raises(CheckpointMismatchError) as e:
        models.load_model(d)
    assert str(e.value) == f"checkpoint {d}: meta.json field normalization.{key} is missing"


def test_normalization_null_says_raw_pixels_outright(tmp_path):
    d = write(tmp_path / "c", normalization=None)
    assert models.load_model(d)[1]["normalization"] is None


def test_image_model_under_a_text_task_is_refused(tmp_path):
    d = write(tmp_path / "c", normalization=NORM, task="text-classification")
    with pytest.raises(CheckpointMismatchError, match=r"meta.json field task is \"text-classification\", but "
                                                      "model seed000 classifies images"):
        models.load_model(d)


@pytest.mark.parametrize("edit, field", [
    (lambda m: m.pop("weights"), "has no field weights"),
    (lambda m: m["weights"].pop("sha256"), "field weights.sha256 is missing"),
    (lambda m: m["weights"].__setitem__("sha256", "abc"), "field weights.sha256 is not a SHA-256 (64 hex digits)"),
])
def test_weights_without_their_sha256_are_refused(tmp_path, edit, field):
    d = write(tmp_path / "c", normalization=NORM)
    flip_first_value(d)                         # would load unchecked without the hash
    edit_meta(d, edit)
    for load in (load_checkpoint, models.load_model):
        with pytest.raises(CheckpointError) as e:
            load(d)
        assert str(e.value).startswith(f"checkpoint {d} is damaged: meta.json {field}")
        assert "model.safetensors" in str(e.value) and "\n" not in str(e.value)
    state, _ = load_checkpoint(d, verify=False)     # on request, unchecked
    assert np.isfinite(state["conv1.weight"]).all()


def test_flipped_weights_with_their_sha256_are_refused(tmp_path):
    d = write(tmp_path / "c", normalization=NORM)
    flip_first_value(d)
    with pytest.raises(CheckpointError, match="model.safetensors does not match the SHA-256 recorded in meta.json"):
        models.load_model(d)
