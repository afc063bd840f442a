"""Resumability audit of `scratchcnn train`: interruptions (Ctrl-C, SIGTERM, a full disk) at chosen points of a
run, then --resume, must give the weights, history and TensorBoard curves of the uninterrupted run; early-stopped
runs stay stopped; option changes that cannot be honoured are refused with one line."""
from __future__ import annotations

import errno
import json
import os
import pathlib
import signal

import numpy as np
import pytest

from scratchcnn.io import load_checkpoint
from scratchcnn.train import Callback, TrainConfig, Trainer, TrainingStateError, train
from scratchcnn.train import trainer as trainer_mod
from scratchcnn.train.callbacks.tensorboard import read_event_records
from scratchcnn.train.trainer import write_checksums
from scratchcnn.train.interrupt import RunInterrupted, Terminated, sigterm_raises

QUIET = dict(progress=False, tensorboard=False, plots=False)


def _cfg(name, data_dir, **kw):
    base = dict(model=name, epochs=2, batch_size=32, limit_train=160, limit_test=50, val_split=0.2,
                eval_batch_size=100, augment=True, seed=4, data_dir=str(data_dir))
    base.update(kw)
    return TrainConfig(**base)


def _weights(d):
    return load_checkpoint(d)[0]


def _assert_same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    assert list(wa) == list(wb)
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)


def _history(out):
    rows = json.loads((out / "history.json").read_text())
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def _hidden(out):
    return sorted(p.name for p in out.iterdir() if p.name.startswith("."))


def _scalars(log_dir):
    """(tag, step) of every scalar in the event files, in file order."""
    from tensorboardX.proto import event_pb2
    seen = []
    for f in sorted(pathlib.Path(log_dir).glob("events.out.tfevents.*")):
        for data in read_event_records(f):
            ev = event_pb2.Event()
            ev.ParseFromString(data)
            if ev.HasField("summary"):
                seen += [(v.tag, ev.step) for v in ev.summary.value]
    return seen


@pytest.fixture(scope="module")
def straight(tmp_path_factory, data_dir, tiny_model_name):
    """The uninterrupted reference run (TensorBoard on, as the CLI runs it)."""
    out = tmp_path_factory.mktemp("straight") / "run"
    result = train(_cfg(tiny_model_name, data_dir), out, progress=False, tensorboard=True, plots=False)
    return out, result


class _InterruptAt(Callback):
    """KeyboardInterrupt at batch ``step`` of ``epoch`` (step None: at the end of the epoch, after every other
    callback, i.e. after history, best/ and TensorBoard were written but before last/ is saved)."""

    def __init__(self, epoch, step=None):
        self.epoch, self.step = epoch, step

    def on_batch_end(self, trainer, logs):
        if self.step is not None and logs["epoch"] == self.epoch and logs["step"] == self.step:
            raise KeyboardInterrupt

    def on_epoch_end(self, trainer, logs):
        if self.step is None and logs["epoch"] == self.epoch:
            raise KeyboardInterrupt


def _interrupt_in_validation(monkeypatch, nth):
    real, calls = trainer_mod.evaluate_model, {"n": 0}

    def evaluate_model(*a, **kw):
        calls["n"] += 1
        if calls["n"] == nth:
            raise KeyboardInterrupt
        return real(*a, **kw)
    monkeypatch.setattr(trainer_mod, "evaluate_model", evaluate_model)


def _fail_state_save(monkeypatch, exc, at_epoch):
    """``exc`` while writing trainer_state.json of ``at_epoch`` (a full disk, or Ctrl-C mid-save)."""
    real = pathlib.Path.write_bytes

    def write_bytes(self, data, *a, **kw):
        if self.name == "trainer_state.json" and json.loads(data)["epoch"] == at_epoch:
            raise exc
        return real(self, data, *a, **kw)
    monkeypatch.setattr(pathlib.Path, "write_bytes", write_bytes)


@pytest.mark.parametrize("where", ["mid-epoch", "validation", "after-epoch-callbacks", "state-save",
                                   "disk-full"])
def test_interrupted_run_resumes_to_the_uninterrupted_result(where, straight, tmp_path, data_dir, tiny_model_name,
                                                             monkeypatch):
    ref, ref_result = straight
    out = tmp_path / "run"
    extra = []
    expected: type[BaseException] = RunInterrupted
    if where == "mid-epoch":
        extra = [_InterruptAt(2, step=2)]
    elif where == "validation":
        _interrupt_in_validation(monkeypatch, nth=2)
    elif where == "after-epoch-callbacks":
        extra = [_InterruptAt(2)]
    elif where == "state-save":
        _fail_state_save(monkeypatch, KeyboardInterrupt(), at_epoch=2)
    else:
        _fail_state_save(monkeypatch, OSError(errno.ENOSPC, "No space left on device"), at_epoch=2)
        expected = OSError
    with pytest.raises(expected) as exc:
        train(_cfg(tiny_model_name, data_dir), out, progress=False, tensorboard=True, plots=False,
              extra_callbacks=extra)
    if expected is RunInterrupted:
        assert exc.value.exit_code == 130 and f"--resume {out}" in str(exc.value) and "epoch 1 of 2" in str(exc.value)
    monkeypatch.undo()
    assert Trainer.read_state(out / "last")["epoch"] == 1      # the previous snapshot is intact
    resumed = train(resume=out, progress=False, tensorboard=True, plots=False)
    _assert_same_weights(ref / "last", out / "last")
    _assert_same_weights(ref / "best", out / "best")
    assert resumed["test_accuracy"] == ref_result["test_accuracy"]
    assert _history(out) == _history(ref)
    assert _hidden(out) == []
    scalars = _scalars(out / "tensorboard")
    assert len(scalars) == len(set(scalars)), "a TensorBoard point is logged twice"
    assert sorted(scalars) == sorted(_scalars(ref / "tensorboard"))


def test_interrupted_before_the_first_snapshot_says_start_again(tmp_path, data_dir, tiny_model_name):
    out = tmp_path / "run"
    with pytest.raises(RunInterrupted, match="nothing to resume") as exc:
        train(_cfg(tiny_model_name, data_dir), out, extra_callbacks=[_InterruptAt(1, step=2)], **QUIET)
    assert exc.value.exit_code == 130 and not (out / "last").exists()


def test_events_of_an_attempt_interrupted_before_its_first_snapshot_are_removed(straight, tmp_path, data_dir,
                                                                                tiny_model_name):
    ref, _ = straight
    out = tmp_path / "run"
    with pytest.raises(RunInterrupted, match=f"nothing to resume \\({out} removed\\)"):
        train(_cfg(tiny_model_name, data_dir), out, progress=False, tensorboard=True, plots=False,
              extra_callbacks=[_InterruptAt(1)])   # epoch 1's points are logged, last/ is not written
    assert not out.exists()     # (its events file used to stay beside the next attempt's)
    train(_cfg(tiny_model_name, data_dir), out, progress=False, tensorboard=True, plots=False)  # started again
    scalars = _scalars(out / "tensorboard")
    assert len(scalars) == len(set(scalars)) and sorted(scalars) == sorted(_scalars(ref / "tensorboard"))


def test_trim_event_files_keeps_points_before_the_resume_point(tmp_path):
    from tensorboardX import SummaryWriter

    from scratchcnn.train.callbacks.tensorboard import trim_event_files
    w = SummaryWriter(logdir=str(tmp_path))
    for step in (50, 100, 150):
        w.add_scalar("train/loss", 1.0 / step, step)
    for epoch in (1, 2):
        w.add_scalar("epoch/loss", float(epoch), epoch)
    w.close()
    with open(next(tmp_path.glob("events.*")), "ab") as f:
        f.write(b"\x07\x00\x00")            # a record cut short by a kill
    assert trim_event_files(tmp_path, epoch=1, global_step=100) == 2
    assert sorted(_scalars(tmp_path)) == [("epoch/loss", 1), ("train/loss", 50), ("train/loss", 100)]
    assert trim_event_files(tmp_path, epoch=1, global_step=100) == 0   # nothing left to drop: files untouched


def test_early_stopped_run_stays_stopped_when_resumed(tmp_path, data_dir, tiny_model_name):
    # a learning rate too small to change validation accuracy: patience 1 stops after epoch 2 of 5
    cfg = _cfg(tiny_model_name, data_dir, epochs=5, patience=1, lr=1e-12, scheduler="none", augment=False)
    out = tmp_path / "run"
    first = train(cfg, out, **QUIET)
    assert first["stopped_early"] and first["epochs"] == 2
    before = _weights(out / "last")
    again = train(resume=out, **QUIET)          # e.g. after a crash during the final test evaluation
    assert again["stopped_early"] and again["epochs"] == 2 and len(_history(out)) == 2
    after = _weights(out / "last")
    for k in before:
        np.testing.assert_array_equal(before[k], after[k], err_msg=k)
    with pytest.raises(TrainingStateError, match="stopped early after epoch 2"):
        train(resume=out, overrides={"epochs": 8}, **QUIET)


def test_resume_refuses_fewer_epochs_than_done(tmp_path, data_dir, tiny_model_name):
    out = tmp_path / "run"
    train(_cfg(tiny_model_name, data_dir, scheduler="step"), out, **QUIET)
    with pytest.raises(TrainingStateError, match="epochs 1: the run has already completed 2 epochs"):
        train(resume=out, overrides={"epochs": 1}, **QUIET)
    assert train(resume=out, overrides={"epochs": 2}, **QUIET)["epochs"] == 2   # the same number is no change


def test_resume_says_where_it_continues_and_warns_about_another_thread_count(tmp_path, data_dir, tiny_model_name,
                                                                             capsys):
    out = tmp_path / "run"
    with pytest.raises(RunInterrupted):
        train(_cfg(tiny_model_name, data_dir, scheduler="step"), out, extra_callbacks=[_InterruptAt(2, step=1)],
              **QUIET)
    state_file = out / "last" / "trainer_state.json"
    state = json.loads(state_file.read_text())
    assert state["num_threads"] >= 1
    state["num_threads"] += 7
    state_file.write_text(json.dumps(state))
    write_checksums(out / "last")       # (a snapshot written by a run on more threads)
    capsys.readouterr()
    train(resume=out, progress=True, tensorboard=False, plots=False)
    err = capsys.readouterr().err
    assert f"trained with {state['num_threads']} threads" in err and "not be bit-identical" in err
    assert "resuming after epoch 1/2" in err


def test_sigterm_unwinds_like_ctrl_c(tmp_path, data_dir, tiny_model_name):
    class SendSigterm(Callback):
        def on_batch_end(self, trainer, logs):
            if logs["epoch"] == 2 and logs["step"] == 2:
                os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    out = tmp_path / "run"
    with sigterm_raises(), pytest.raises(RunInterrupted) as exc:
        train(_cfg(tiny_model_name, data_dir), out, extra_callbacks=[SendSigterm()], **QUIET)
    assert signal.getsignal(signal.SIGTERM) is before           # the handler is put back
    assert exc.value.terminated and exc.value.exit_code == 143 and "terminated (SIGTERM)" in str(exc.value)
    assert Trainer.read_state(out / "last")["epoch"] == 1 and _hidden(out) == []
    with sigterm_raises(), pytest.raises(Terminated):
        os.kill(os.getpid(), signal.SIGTERM)


def test_cli_interrupt_is_one_line_with_the_resume_command(tmp_path, data_dir, tiny_model_name, monkeypatch,
                                                           capsys):
    from scratchcnn.cli import main
    from scratchcnn.train import run as run_mod

    class SendSigterm(Callback):
        def on_batch_end(self, trainer, logs):
            if logs["epoch"] == 2 and logs["step"] == 1:
                os.kill(os.getpid(), signal.SIGTERM)

    real = run_mod.train
    monkeypatch.setattr(run_mod, "train", lambda *a, **kw: real(*a, extra_callbacks=[SendSigterm()], **kw))
    out = tmp_path / "run"
    args = ["train", "--model", tiny_model_name, "--epochs", "2", "--limit-train", "160", "--limit-test", "50",
            "--data-dir", str(data_dir), "--out", str(out), "--no-progress", "--no-plots", "--no-tensorboard"]
    assert main(args) == 143
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: terminated (SIGTERM); {out}/last holds epoch 1 of 2: continue with "
                   f"`scratchcnn train --resume {out}`"]


def test_damaged_snapshot_says_how_to_start_over(tmp_path, data_dir, tiny_model_name):
    out = tmp_path / "run"
    with pytest.raises(RunInterrupted):
        train(_cfg(tiny_model_name, data_dir), out, extra_callbacks=[_InterruptAt(2, step=1)], **QUIET)
    state = out / "last" / "trainer_state.json"
    state.write_text(state.read_text()[:200])          # e.g. a disk that lost the file's tail
    with pytest.raises(TrainingStateError, match="is damaged .*; to start the run over, run its original command "
                                                 "with --overwrite"):
        train(resume=out, **QUIET)
    with pytest.raises(ValueError, match="already holds a training run"):
        train(_cfg(tiny_model_name, data_dir), out, **QUIET)


def test_finetune_cli_sigterm_is_one_line(tmp_path, monkeypatch, capsys):
    import scratchcnn.finetune.run as ft_run
    from scratchcnn.cli import main

    def run_finetune(*a, **kw):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not interrupt")
    monkeypatch.setattr(ft_run, "finetune", run_finetune)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["finetune", str(tmp_path), "--out", str(tmp_path / "ft"), "--no-progress"]) == 143
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: terminated (SIGTERM); nothing was saved, run the same command again"]
    assert signal.getsignal(signal.SIGTERM) is before
