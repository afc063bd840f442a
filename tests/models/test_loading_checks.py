"""``load_model`` refuses what would load wrongly: tensors of another dtype kind, NaN/inf weights, meta.json fields
that do not fit the model (class names, num_classes, normalisation); it restores a best/ a crash left aside."""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

from scratchcnn import models
from scratchcnn.io import CheckpointError, save_checkpoint
from scratchcnn.models.loading import CheckpointMismatchError, model_meta


def write(path, mutate_state=None, mutate_meta=None):
    """A seed001 checkpoint (has BatchNorm: float buffers and the int64 num_batches_tracked), edited."""
    m = models.get("seed001")
    state = {k: np.array(v) for k, v in m.state_dict().items()}
    meta = model_meta(m, class_names=[str(i) for i in range(10)], input_shape=[1, 28, 28],
                      normalization={"mean": [0.1307], "std": [0.3081]})
    if mutate_state:
        mutate_state(state)
    if mutate_meta:
        mutate_meta(meta)
    return save_checkpoint(path, state, meta), state


@pytest.mark.parametrize("key, value, expect", [
    ("conv1.weight", lambda a: a.astype(np.uint8), "has dtype uint8, expected a floating-point dtype like the "
                                                   "model's float32"),
    ("fc2.bias", lambda a: (a > 0), "has dtype bool, expected a floating-point dtype like the model's float32"),
    ("fc1.weight", lambda a: (a * 100).astype(np.int32), "has dtype int32, expected a floating-point dtype like "
                                                         "the model's float32"),
    ("bn1.num_batches_tracked", lambda a: a.astype(np.float32), "has dtype float32, expected an integer dtype like "
                                                                "the model's int64"),
])
def test_wrong_dtype_kind_is_refused(tmp_path, key, value, expect):
    d, _ = write(tmp_path / "c", lambda s: s.__setitem__(key, value(s[key])))
    with pytest.raises(CheckpointMismatchError) as e:
        models.load_model(d)
    assert str(e.value) == f"checkpoint {d} does not fit model seed001: dtype mismatch {key} {expect}"


def test_float_to_float_and_int_to_int_load_like_torch(tmp_path):
    def widen(s):
        s["fc2.weight"] = s["fc2.weight"].astype(np.float64) + 0.25
        s["conv1.weight"] = s["conv1.weight"].astype(np.float16)
        s["bn1.num_batches_tracked"] = np.array(5, np.int32)

    d, saved = write(tmp_path / "c", widen)
    m, _ = models.load_model(d)
    assert m.fc2.weight.data.dtype == np.float32 and m.conv1.weight.data.dtype == np.float32
    np.testing.assert_array_equal(m.fc2.weight.data, saved["fc2.weight"].astype(np.float32))
    np.testing.assert_array_equal(m.conv1.weight.data, saved["conv1.weight"].astype(np.float32))
    assert m.bn1.num_batches_tracked.data.dtype == np.int64 and int(m.bn1.num_batches_tracked.data) == 5


def test_float64_beyond_float32_is_refused(tmp_path):
    def huge(s):
        s["fc2.bias"] = s["fc2.bias"].astype(np.float64)
        s["fc2.bias"][3] = 1e300

    d, _ = write(tmp_path / "c", huge)
    with pytest.raises(CheckpointMismatchError) as e:
        models.load_model(d)
    assert str(e.value) == (f"checkpoint {d} does not fit model seed001: dtype mismatch fc2.bias has float64 values "
                            "beyond the range of the model's float32")


def test_non_finite_weights_are_refused(tmp_path):
    from safetensors.numpy import save as st_save

    d, state = write(tmp_path / "c")
    state["bn1.running_var"][[0, 2, 3]] = np.nan
    blob = st_save(state)
    (d / "model.safetensors").write_bytes(blob)
    meta = json.loads((d / "meta.json").read_text())
    meta["weights"]["sha256"] = hashlib.sha256(blob).hexdigest()
    (d / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError) as e:
        models.load_model(d)
    assert str(e.value) == f"checkpoint {d} is damaged: bn1.running_var has 3 non-finite values"


def _set(path: str, value):
    def edit(meta):
        *parents, last = path.split(".")
        target = meta
        for p in parents:
            target = target[p]
        target[last] = value
    return edit


@pytest.mark.parametrize("field, value, expect", [
    ("class_names", ["a", "b", "c"], "class_names has 3 names for the model's 10 outputs"),
    ("class_names", [str(i) for i in range(11)], "class_names has 11 names for the model's 10 outputs"),
    ("class_names", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "class_names should be a list of strings"),
    ("class_names", "0123456789", "class_names should be a list of strings"),
    ("model.config.num_classes", 10.7, "model.config.num_classes should be a positive integer, is 10.7"),
    ("model.config.num_classes", None, "model.config.num_classes should be a positive integer, is null"),
    ("model.config.num_classes", "ten", 'model.config.num_classes should be a positive integer, is "ten"'),
    ("model.config.num_classes", 0, "model.config.num_classes should be a positive integer, is 0"),
    ("model.config.num_classes", True, "model.config.num_classes should be a positive integer, is true"),
    ("model.config", [1], "model.config should be an object, is list"),
    ("normalization", {"mean": "x", "std": [0.3]}, 'normalization.mean should be a finite number or a list of '
                                                   'them, is "x"'),
    ("normalization", {"mean": [0.1], "std": [0.0]}, "normalization.std should be positive, is [0.0]"),
    ("normalization", {"mean": [0.1], "std": [0.3, -1]}, "normalization.std has 2 values for 1-channel input"),
    ("normalization", {"mean": [0.1], "std": [None]}, "normalization.std should be a finite number or a list of "
                                                      "them, is [null]"),
    ("normalization", [0.1, 0.3], "normalization should be an object with mean and std, is list"),
    ("input_shape", [0, 28, 28], "input_shape should be a list of positive sizes, is [0, 28, 28]"),
])
def test_bad_meta_fields_are_one_line(tmp_path, field, value, expect):
    d, _ = write(tmp_path / "c")
    meta = json.loads((d / "meta.json").read_text())
    _set(field, value)(meta)
    (d / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointMismatchError) as e:
        models.load_model(d)
    assert str(e.value) == f"checkpoint {d}: meta.json field {expect}"


def test_meta_fields_may_be_absent_or_scalar(tmp_path):
    def edit(meta):
        del meta["class_names"], meta["input_shape"]
        meta["normalization"] = {"mean": 0.5, "std": 0.25}

    d, _ = write(tmp_path / "c", mutate_meta=edit)
    m, meta = models.load_model(d)
    assert meta["normalization"] == {"mean": 0.5, "std": 0.25} and not m.training
    d2, _ = write(tmp_path / "c2", mutate_meta=lambda meta: meta.__setitem__("normalization", None))
    assert models.load_model(d2)[1]["normalization"] is None


def test_run_folder_whose_best_was_left_aside_by_a_crash(tmp_path):
    run = tmp_path / "run"
    write(run / ".best.0123abcd.old")   # the state a crash between the two renames of a save leaves
    (run / ".best.k2j4_x9q.tmp").mkdir()
    m, meta = models.load_model(run)
    assert meta["model"]["name"] == "seed001" and (run / "best" / "meta.json").is_file()
    assert sorted(os.listdir(run)) == [".best.k2j4_x9q.tmp", "best"]
