"""Callbacks that write files: TensorBoard events, history JSON/CSV, curves and confusion-matrix PNGs, best
checkpoint; and the progress bar's stderr output. Resumable snapshots: damaged ones are refused in one line,
ones a crash left aside are restored, divergence stops before anything is saved."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file, save

import scratchcnn as sc
from scratchcnn import models, optim
from scratchcnn.models import load_model
from scratchcnn.train import (BestCheckpoint, CurvePlotter, HistoryWriter, ProgressBar, TensorBoardLogger, Trainer,
                              TrainingDivergedError, TrainingStateError, plot_confusion_matrix)
from scratchcnn.train.trainer import write_checksums


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, n)
    return [(sc.Tensor(x[i:i + 16]), sc.Tensor(y[i:i + 16])) for i in range(0, n, 16)]


def test_file_writing_callbacks(tmp_path):
    sc.manual_seed(0)
    model = models.get("seed000")
    buf = io.StringIO()
    cbs = [ProgressBar(file=buf), TensorBoardLogger(tmp_path / "tb", log_every=1), HistoryWriter(tmp_path),
           CurvePlotter(tmp_path),
           BestCheckpoint(tmp_path / "best", lambda t, logs: models.model_meta(t.model, dataset="toy",
                                                                               normalization=None))]
    trainer = Trainer(model, optim.Adam(model.parameters(), lr=1e-3), epochs=2, callbacks=cbs)
    trainer.fit(_data(), _data(seed=1))
    events = list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
    hist = json.loads((tmp_path / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2]
    assert (tmp_path / "history.csv").read_text().count("\n") == 3
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    loaded, meta = load_model(tmp_path / "best")
    assert meta["epoch"] in (1, 2) and meta["selected_on"] == "val_accuracy" and meta["dataset"] == "toy"
    assert "val_accuracy" in meta["metrics"]
    text = buf.getvalue()
    assert "epoch 1/2" in text and "epoch 2/2" in text and "val_acc" in text


def test_confusion_matrix_png(tmp_path):
    path = plot_confusion_matrix([[5, 1], [0, 7]], ["cat", "dog"], tmp_path / "cm.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------- resumable snapshots: damage and crash recovery
def _trainer(state_dir=None, epochs=1, callbacks=()):
    sc.manual_seed(0)
    model = models.get("seed000")
    return Trainer(model, optim.Adam(model.parameters(), lr=1e-3), epochs=epochs, state_dir=state_dir,
                   callbacks=callbacks)


@pytest.fixture
def snapshot(tmp_path):
    _trainer(tmp_path / "last").fit(_data())
    return tmp_path / "last"


def _edit_state(d, edit):
    """Edit trainer_state.json and record its new SHA-256 (as a hand edit would have to), so that the schema
    checks behind the checksums are reached."""
    s = json.loads((d / "trainer_state.json").read_text())
    edit(s)
    (d / "trainer_state.json").write_text(json.dumps(s))
    write_checksums(d)


@pytest.mark.parametrize("edit, what", [
    (lambda s: s.pop("rng"), "no 'rng' entry"),
    (lambda s: s.pop("optimizer"), "no 'optimizer' entry"),
    (lambda s: s.pop("config"), "no 'config' entry"),
    (lambda s: s.pop("scheduler"), "no 'scheduler' entry"),
    (lambda s: s.__setitem__("epoch", -5), "'epoch' is -5, not a non-negative integer"),
    (lambda s: s.__setitem__("epoch", "two"), "'epoch' is 'two', not a non-negative integer"),
    (lambda s: s.__setitem__("global_step", 1.5), "'global_step' is 1.5, not a non-negative integer"),
    (lambda s: s.__setitem__("epoch", 99), "epoch 99 is past the run's 1 epochs"),
    (lambda s: s.__setitem__("history", 5), "'history' is not a list of per-epoch objects"),
    (lambda s: s.__setitem__("history", []), "'history' has 0 entries for 1 completed epochs"),
    (lambda s: s.__setitem__("callbacks", [1]), "'callbacks' is not an object of per-callback objects"),
    (lambda s: s.__setitem__("rng", {"scratchcnn": "x"}), "'rng.scratchcnn' is not a random generator state"),
    (lambda s: s.__setitem__("rng", {"numpy": {}}), "'rng' has no 'scratchcnn' generator state"),
    (lambda s: s["rng"]["scratchcnn"].__setitem__("bit_generator", "MT19937"),
     "'rng.scratchcnn' is not a random generator state"),
    (lambda s: s.__setitem__("config", [1]), "'config' is list, not an object"),
    (lambda s: s.__setitem__("optimizer", {"state": {}}), "'optimizer' has no 'state' and 'param_groups'"),
    (lambda s: s.__setitem__("scheduler", 3), "'scheduler' is int, not an object or null"),
])
def test_damaged_trainer_state_is_one_clear_line(snapshot, edit, what):
    _edit_state(snapshot, edit)
    with pytest.raises(TrainingStateError) as e:
        Trainer.read_state(snapshot)
    assert str(e.value) == f"cannot resume from {snapshot}: trainer_state.json is damaged ({what})"
    with pytest.raises(TrainingStateError) as e2:
        _trainer().load_state(snapshot)
    assert str(e2.value) == str(e.value)


def test_intact_snapshot_resumes(snapshot):
    t = _trainer(epochs=2)
    state = t.load_state(snapshot)
    assert t.epoch == 1 and len(t.history) == 1 and state["epochs"] == 1
    t.fit(_data())
    assert t.epoch == 2


def test_non_finite_optimizer_state_is_refused(snapshot):
    arrays = load_file(str(snapshot / "optimizer.safetensors"))
    key = next(k for k in arrays if k.endswith("exp_avg_sq"))
    arrays[key].reshape(-1)[:2] = [np.inf, np.nan]
    (snapshot / "optimizer.safetensors").write_bytes(save(arrays))
    write_checksums(snapshot)           # the values themselves are checked too (e.g. a snapshot without checksums)
    with pytest.raises(TrainingStateError) as e:
        _trainer().load_state(snapshot)
    assert str(e.value) == (f"cannot resume from {snapshot}: optimizer.safetensors is damaged "
                            f"({key} has 2 non-finite values)")


def test_non_finite_weights_in_snapshot_are_refused(snapshot):
    from scratchcnn.io import load_checkpoint, save_checkpoint
    state, meta = load_checkpoint(snapshot)
    state["fc1.bias"][0] = np.nan
    (snapshot / "model.safetensors").write_bytes(save(state, metadata={"format": "pt"}))
    meta["weights"]["sha256"] = hashlib.sha256((snapshot / "model.safetensors").read_bytes()).hexdigest()
    (snapshot / "meta.json").write_text(json.dumps(meta))
    write_checksums(snapshot)
    with pytest.raises(TrainingStateError) as e:
        _trainer().load_state(snapshot)
    assert str(e.value) == (f"cannot resume from {snapshot}: checkpoint {snapshot} is damaged: fc1.bias has 1 "
                            "non-finite values")
    with pytest.raises(ValueError, match="tensor 'fc1.bias' has 1 non-finite values"):
        save_checkpoint(snapshot, state, meta)


def test_divergence_stops_before_saving(tmp_path):
    from scratchcnn.train.callbacks.base import Callback

    class Poison(Callback):
        def on_epoch_begin(self, trainer, epoch, num_batches):
            if epoch == 2:
                trainer.model.fc1.weight.data[...] = np.nan

    best = BestCheckpoint(tmp_path / "best", lambda t, logs: models.model_meta(t.model, normalization=None))
    t = _trainer(tmp_path / "last", epochs=3, callbacks=[Poison(), best])
    with pytest.raises(TrainingDivergedError, match="loss became nan at epoch 2, step 1"):
        t.fit(_data())
    assert Trainer.read_state(tmp_path / "last")["epoch"] == 1
    _trainer(epochs=3).load_state(tmp_path / "last")  # the last good snapshot is intact and loads
    assert load_model(tmp_path / "best")[1]["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best", "last"]


def test_snapshot_left_aside_by_a_crash_is_restored(snapshot):
    from scratchcnn.train.run import resolve_resume_dir
    run = snapshot.parent
    aside = run / ".last.0badf00d.old"
    os.rename(snapshot, aside)   # a crash between the two renames of the next save
    assert Trainer.read_state(snapshot)["epoch"] == 1 and snapshot.is_dir() and not aside.exists()
    os.rename(snapshot, aside)
    assert resolve_resume_dir(run) == snapshot and snapshot.is_dir() and not aside.exists()


def test_run_resume_restores_and_tidies(tmp_path, data_dir):
    from scratchcnn.train.config import TrainConfig
    from scratchcnn.train.run import train
    out = tmp_path / "run"
    cfg = TrainConfig(model="seed000", epochs=1, scheduler="none", limit_train=200, limit_test=100,
                      data_dir=str(data_dir))
    train(cfg, out, progress=False, tensorboard=False, plots=False)
    os.rename(out / "last", out / ".last.0badf00d.old")  # crashed mid-swap: last/ aside, a new copy unfinished
    (out / ".last.k2j4_x9q.tmp").mkdir()
    shutil.copytree(out / "best", out / ".best.deadbeef.tmp")  # an interrupted best/ save
    with pytest.raises(ValueError, match="already holds a training run"):
        train(cfg, out, progress=False, tensorboard=False, plots=False)
    result = train(resume=out, overrides={"epochs": 2}, progress=False, tensorboard=False, plots=False)
    assert result["epochs"] == 2 and Trainer.read_state(out / "last")["epoch"] == 2
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
