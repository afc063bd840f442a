"""A new `scratchcnn train` run that fails (NaN loss, any error) takes back what it wrote: a folder it created is
removed, an empty one it was given is left empty (a non-empty one is refused unless --overwrite). Ctrl-C keeps
``last/`` for --resume (before the first ``last/`` it takes the run back too), and a resumed run that fails never
loses its folder."""
from __future__ import annotations

import shutil

import pytest

from scratchcnn.io.outdir import OutputGuard
from scratchcnn.train import TrainConfig, train
from scratchcnn.train.interrupt import RunInterrupted
from scratchcnn.train.trainer import TrainingDivergedError
from run_failure_helpers import Raise, tree


def _cfg(name, data_dir, **kw):
    base = dict(model=name, epochs=1, batch_size=32, limit_train=160, limit_test=50, val_split=0.2,
                eval_batch_size=100, augment=False, seed=0, data_dir=str(data_dir))
    base.update(kw)
    return TrainConfig(**base)


def _diverging(data_dir):
    """seed000 (no BatchNorm) with a huge step: the loss becomes NaN in the first epoch."""
    return _cfg("seed000", data_dir, lr=1e9, optimizer="sgd", scheduler="none")


def test_nan_loss_removes_the_folder_it_created(data_dir, tmp_path):
    out = tmp_path / "made" / "run"
    with pytest.raises(TrainingDivergedError, match="lower learning rate"):
        train(_diverging(data_dir), out, progress=False, tensorboard=True, plots=False)
    assert list(tmp_path.iterdir()) == []                 # the run folder and the parent made for it are gone


def test_nan_loss_leaves_an_empty_folder_empty(data_dir, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with pytest.raises(TrainingDivergedError, match="lower learning rate"):
        train(_diverging(data_dir), out, progress=False, tensorboard=True, plots=False)
    assert list(out.iterdir()) == []


def test_error_after_first_epoch_in_a_given_empty_folder_leaves_it_empty(tiny_model_name, data_dir, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with pytest.raises(RuntimeError, match="disk on fire"):
        train(_cfg(tiny_model_name, data_dir, epochs=2), out, progress=False, tensorboard=True, plots=True,
              extra_callbacks=[Raise(RuntimeError("disk on fire"))])
    assert list(out.iterdir()) == []


def test_non_empty_folder_is_refused_before_any_work(tiny_model_name, data_dir, tmp_path):
    """(A non-empty --out used to be written into: same-named files replaced, a text run mixed with an image run.)"""
    out = tmp_path / "run"
    (out / "mine").mkdir(parents=True)
    (out / "curves.png").write_text("my own figure")
    (out / "mine" / "data.bin").write_bytes(b"\x00\x01")
    before = tree(out)
    with pytest.raises(ValueError, match=f"train: output folder {out} already exists and is not empty; choose "
                                         "another --out, or pass --overwrite"):
        train(_cfg(tiny_model_name, "/nonexistent", epochs=2), out, progress=False)
    assert tree(out) == before


def test_full_disk_before_the_first_snapshot_leaves_nothing(tiny_model_name, data_dir, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(OSError, match="No space left"):
        train(_cfg(tiny_model_name, data_dir), out, progress=False, tensorboard=True, plots=False,
              extra_callbacks=[Raise(OSError(28, "No space left on device"), epoch=1)])
    assert not out.exists()     # (after the first snapshot it keeps last/ for --resume: test_resume_audit.py)


def test_interrupted_run_keeps_last_for_resume(tiny_model_name, data_dir, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RunInterrupted, match="--resume"):
        train(_cfg(tiny_model_name, data_dir, epochs=2), out, progress=False, tensorboard=False, plots=False,
              extra_callbacks=[Raise(KeyboardInterrupt())])
    assert (out / "last" / "trainer_state.json").is_file()


def test_failing_resumed_run_keeps_its_folder(tiny_model_name, data_dir, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RunInterrupted):
        train(_cfg(tiny_model_name, data_dir, epochs=2), out, progress=False, tensorboard=False, plots=False,
              extra_callbacks=[Raise(KeyboardInterrupt())])
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(RuntimeError, match="disk on fire"):
        train(resume=out, progress=False, tensorboard=False, plots=False,
              extra_callbacks=[Raise(RuntimeError("disk on fire"), epoch=2)])
    assert sorted(p.name for p in out.iterdir()) == before
    assert (out / "last" / "trainer_state.json").is_file()
    with pytest.raises(ValueError, match="already holds a training run"):   # still refused as a new run
        train(_cfg(tiny_model_name, data_dir, epochs=2), out, progress=False, tensorboard=False, plots=False)


def test_guard_removes_only_additions(tmp_path):
    (tmp_path / "old").write_text("x")
    with pytest.raises(ValueError):
        with OutputGuard(tmp_path):
            (tmp_path / "new").mkdir()
            (tmp_path / "new" / "f").write_text("y")
            (tmp_path / "old").write_text("x")
            raise ValueError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]
    out = tmp_path / "a" / "b" / "c"
    (tmp_path / "a").mkdir()
    with pytest.raises(KeyboardInterrupt):      # Ctrl-C once last/ is written: what the run wrote stays
        with OutputGuard(out, snapshot="last"):
            (out / "last").mkdir(parents=True)
            raise KeyboardInterrupt
    assert (out / "last").is_dir()
    shutil.rmtree(tmp_path / "a" / "b")
    for snapshot in ("last", None):             # before it (or without one) Ctrl-C takes the run back
        with pytest.raises(KeyboardInterrupt):
            with OutputGuard(out, snapshot=snapshot):
                (out / "tensorboard").mkdir(parents=True)
                raise KeyboardInterrupt
        assert list((tmp_path / "a").iterdir()) == []
    with pytest.raises(ValueError):
        with OutputGuard(out):
            out.mkdir(parents=True)
            (tmp_path / "a" / "sibling").write_text("someone else's")
            raise ValueError("boom")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["sibling"]   # "a" existed: kept
    run = tmp_path / "run"
    for written, kept in ((["last"], True), (["tensorboard"], False)):   # a full disk interrupts a resumable run
        with pytest.raises(OSError):
            with OutputGuard(run, snapshot="last"):
                for name in written:
                    (run / name).mkdir(parents=True)
                raise OSError(28, "No space left on device")
        assert run.exists() == kept
        shutil.rmtree(run, ignore_errors=True)


def test_nonfinite_weights_with_a_finite_loss_stop_the_run_by_name(tiny_model_name, data_dir, tmp_path):
    """A huge step can overflow batch-norm statistics while the loss stays finite: the epoch's end names the
    tensor and suggests a lower learning rate (it used to surface as a save_checkpoint error about the tensor)."""
    out = tmp_path / "run"
    cfg = _cfg(tiny_model_name, data_dir, lr=1e9, optimizer="sgd", scheduler="none")
    with pytest.raises(TrainingDivergedError, match=r"became non-finite in epoch 1 .*lower learning rate") as err:
        train(cfg, out, progress=False, tensorboard=False, plots=False)
    assert "save_checkpoint" not in str(err.value)
    assert not out.exists()


def test_nonfinite_state_names_parameters_and_buffers():
    import numpy as np

    from scratchcnn import nn
    from scratchcnn.train.trainer import nonfinite_state
    m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    assert nonfinite_state(m) == []
    m[0].weight.data[0, 0] = np.nan
    m[1].running_var.data[1] = np.inf
    assert nonfinite_state(m) == ["0.weight", "1.running_var"]
