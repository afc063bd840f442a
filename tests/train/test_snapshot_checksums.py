"""Every file of a resumable snapshot (last/) carries a SHA-256 recorded when it was written: a finite but wrong
value anywhere (a flipped bit) is refused on resume with one line naming the file; snapshots written before the
checksums existed still resume."""
from __future__ import annotations

import json

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import models, optim
from scratchcnn.optim.lr_scheduler import StepLR
from scratchcnn.train import Trainer, TrainingStateError

CHECKSUMS_FILE = "checksums.json"
FILES = ["meta.json", "model.safetensors", "optimizer.safetensors", "trainer_state.json"]


def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, size=n)
    return [(sc.Tensor(x[i:i + 8]), sc.Tensor(y[i:i + 8])) for i in range(0, n, 8)]


def _trainer(state_dir=None, epochs=1):
    sc.manual_seed(0)
    model = models.get("seed000")
    opt = optim.Adam(model.parameters(), lr=1e-3)
    return Trainer(model, opt, scheduler=StepLR(opt, step_size=1), epochs=epochs, state_dir=state_dir)


@pytest.fixture
def snapshot(tmp_path):
    _trainer(tmp_path / "last").fit(_data())
    return tmp_path / "last"


def _flip_last_value(path):
    """Overwrite the file's last 4 bytes: in a safetensors file a float32 that stays finite (1e30)."""
    b = bytearray(path.read_bytes())
    b[-8:-4] = np.float32(1e30).tobytes()
    path.write_bytes(bytes(b))


def test_every_file_of_the_snapshot_is_recorded(snapshot):
    sums = json.loads((snapshot / CHECKSUMS_FILE).read_text())["sha256"]
    assert sorted(sums) == FILES
    assert json.loads((snapshot / "trainer_state.json").read_text())["checksums"] == CHECKSUMS_FILE


def test_finite_bit_flip_in_optimizer_state_is_refused(snapshot):
    _flip_last_value(snapshot / "optimizer.safetensors")
    expect = (f"cannot resume from {snapshot}: optimizer.safetensors is damaged (it does not match the SHA-256 "
              f"recorded in {CHECKSUMS_FILE} when the snapshot was written)")
    with pytest.raises(TrainingStateError) as e:
        Trainer.read_state(snapshot)
    assert str(e.value) == expect
    t = _trainer(epochs=2)
    before = {k: v.copy() for k, v in t.model.state_dict().items()}
    with pytest.raises(TrainingStateError) as e:
        t.load_state(snapshot)
    assert str(e.value) == expect
    assert all(np.array_equal(v, before[k]) for k, v in t.model.state_dict().items())   # nothing restored


@pytest.mark.parametrize("name", FILES)
def test_a_changed_byte_in_any_file_is_named(snapshot, name):
    path = snapshot / name
    b = bytearray(path.read_bytes())
    if name.endswith(".json"):           # a digit changed: still valid JSON with the same fields
        i = next(i for i in range(len(b) - 1, 0, -1) if chr(b[i]).isdigit())
        b[i] = ord("7") if b[i] != ord("7") else ord("3")
        path.write_bytes(bytes(b))
        json.loads(path.read_text())
    else:
        _flip_last_value(path)
    with pytest.raises(TrainingStateError, match=rf"^cannot resume from .*: {name} is damaged \(it does not "
                                                 rf"match the SHA-256"):
        _trainer(epochs=2).load_state(snapshot)


def test_missing_or_damaged_checksums_are_refused(snapshot):
    sums = snapshot / CHECKSUMS_FILE
    text = sums.read_text()
    sums.write_text(text[:50])
    with pytest.raises(TrainingStateError, match=rf"^cannot resume from .*: {CHECKSUMS_FILE} is damaged"):
        Trainer.read_state(snapshot)
    data = json.loads(text)
    del data["sha256"]["optimizer.safetensors"]
    sums.write_text(json.dumps(data))
    with pytest.raises(TrainingStateError, match="checksums.json is damaged \\(no SHA-256 for optimizer.safetensors"):
        Trainer.read_state(snapshot)
    sums.unlink()
    with pytest.raises(TrainingStateError, match=rf"^cannot resume from .*: {CHECKSUMS_FILE} is missing"):
        Trainer.read_state(snapshot)


def test_a_missing_file_is_named(snapshot):
    (snapshot / "optimizer.safetensors").unlink()
    with pytest.raises(TrainingStateError, match=r"^cannot resume from .*: optimizer.safetensors is missing$"):
        Trainer.read_state(snapshot)


def test_snapshot_written_before_checksums_still_resumes(snapshot, tmp_path):
    ref = _trainer(epochs=2)
    ref.load_state(snapshot)
    ref.fit(_data())
    (snapshot / CHECKSUMS_FILE).unlink()     # as written by an older scratchcnn: no checksums, no entry naming them
    state = json.loads((snapshot / "trainer_state.json").read_text())
    del state["checksums"]
    (snapshot / "trainer_state.json").write_text(json.dumps(state, indent=1) + "\n")
    t = _trainer(epochs=2)
    assert t.load_state(snapshot)["epoch"] == 1
    t.fit(_data())
    for k, v in t.model.state_dict().items():
        np.testing.assert_array_equal(v, ref.model.state_dict()[k], err_msg=k)
