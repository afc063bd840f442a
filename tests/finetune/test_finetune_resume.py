"""Resuming fine-tuning runs (`finetune --resume`): a run interrupted after epoch k and resumed ends with the
weights and history of the uninterrupted run (full, LoRA, adapters with an inserted block); complete runs stay
complete; changed settings, a changed base and damaged snapshots are refused with one line and nothing written."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from scratchcnn.finetune import FinetuneConfig, finetune
from scratchcnn.io import load_checkpoint
from scratchcnn.train import Callback, Trainer, TrainingStateError
from scratchcnn.train.interrupt import RunInterrupted
from scratchcnn.train.trainer import write_checksums

FILES = ["adapter", "history.json", "merged", "result.json"]
SETUPS = {"full": {}, "lora": {"lora_dropout": 0.1}, "adapter": {"insert_blocks": ["fc1"]}}


def _cfg(base, data, **kw):
    for k, v in dict(classes="5-9", labels_per_class=4, epochs=3, batch_size=8, limit_test=20, seed=7).items():
        kw.setdefault(k, v)
    return FinetuneConfig(base=str(base), data_dir=str(data), **kw)


class _InterruptAt(Callback):
    """KeyboardInterrupt (Ctrl-C) after batch ``step`` of ``epoch``: ``last/`` then holds epoch ``epoch - 1``."""

    def __init__(self, epoch, step=1):
        self.epoch, self.step = epoch, step

    def on_batch_end(self, trainer, logs):
        if logs["epoch"] == self.epoch and logs["step"] == self.step:
            raise KeyboardInterrupt


def _interrupted_run(cfg, out, epoch=2):
    with pytest.raises(RunInterrupted) as exc:
        finetune(cfg, out, progress=False, extra_callbacks=[_InterruptAt(epoch)])
    assert exc.value.exit_code == 130
    assert str(exc.value) == (f"interrupted; {out}/last holds epoch {epoch - 1} of {cfg.epochs}: continue with "
                              f"`scratchcnn finetune --resume {out}`")
    assert Trainer.read_state(out / "last")["epoch"] == epoch - 1 and not (out / "result.json").exists()


def _assert_same_checkpoints(a: Path, b: Path):
    for sub in ("merged", "adapter"):
        wa, wb = load_checkpoint(a / sub)[0], load_checkpoint(b / sub)[0]
        assert list(wa) == list(wb)
        for k in wa:
            np.testing.assert_array_equal(wa[k], wb[k], err_msg=f"{sub}/{k}")


def _history(out):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in json.loads((out / "history.json").read_text())]


def _tree(folder: Path) -> dict:
    """Every file under ``folder`` with its size and modification time: a refused resume must not change it."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("strategy", list(SETUPS))
def test_interrupted_run_resumes_to_the_uninterrupted_result(strategy, base_ckpt, fake_data, tmp_path):
    cfg = _cfg(base_ckpt, fake_data, strategy=strategy, **SETUPS[strategy])
    ref = finetune(cfg, tmp_path / "ref", progress=False)
    out = tmp_path / "run"
    _interrupted_run(_cfg(base_ckpt, fake_data, strategy=strategy, **SETUPS[strategy]), out)
    res = finetune(resume=out, progress=False)
    _assert_same_checkpoints(tmp_path / "ref", out)
    assert _history(out) == _history(tmp_path / "ref") and len(res["history"]) == 3
    assert res["accuracy"] == ref["accuracy"] and res["trainable_params"] == ref["trainable_params"]
    assert sorted(p.name for p in out.iterdir()) == FILES      # last/ went with the swap; no leftovers


def test_epochs_may_grow_with_the_step_scheduler(base_ckpt, fake_data, tmp_path):
    ref = finetune(_cfg(base_ckpt, fake_data, strategy="lora", scheduler="step"), tmp_path / "ref", progress=False)
    out = tmp_path / "run"
    _interrupted_run(_cfg(base_ckpt, fake_data, strategy="lora", scheduler="step", epochs=2), out)
    res = finetune(resume=out, overrides={"epochs": 3, "strategy": "lora"}, progress=False)
    _assert_same_checkpoints(tmp_path / "ref", out)
    assert res["epochs"] == 3 and _history(out) == _history(tmp_path / "ref") and res["accuracy"] == ref["accuracy"]


def test_refused_resumes_name_the_problem_and_write_nothing(base_ckpt, fake_data, tmp_path):
    out = tmp_path / "run"
    _interrupted_run(_cfg(base_ckpt, fake_data, strategy="lora", epochs=4), out, epoch=3)
    before = _tree(out)
    cases = [({"strategy": "full"}, "with a different strategy (saved: strategy='lora')"),
             ({"rank": 8, "classes": "0-4"}, "with a different classes, rank (saved: classes='5-9', rank=4)"),
             ({"epochs": 1}, "with epochs 1: the run has already completed 2 epochs"),
             ({"epochs": 6}, "cannot change epochs when resuming a run with the cosine scheduler")]
    for overrides, message in cases:
        with pytest.raises(TrainingStateError, match=re.escape(message)):
            finetune(resume=out, overrides=overrides, progress=False)
    with pytest.raises(TrainingStateError, match="continues in its own folder"):
        finetune(resume=out, out_dir=tmp_path / "elsewhere", progress=False)
    with pytest.raises(ValueError, match="--overwrite starts a new run"):
        finetune(resume=out, overwrite=True, progress=False)
    with pytest.raises(ValueError, match=f"holds an unfinished fine-tuning run; continue it with --resume {out}"):
        finetune(_cfg(base_ckpt, fake_data, strategy="lora"), out, progress=False)
    assert _tree(out) == before
    # the settings as given again (what the CLI passes when options are repeated) are no change
    finetune(resume=out / "last", overrides={"strategy": "lora", "rank": 4, "epochs": 4}, progress=False)
    assert sorted(p.name for p in out.iterdir()) == FILES


def test_complete_run_resumed_is_a_no_op(base_ckpt, fake_data, tmp_path, capsys):
    out = tmp_path / "run"
    res = finetune(_cfg(base_ckpt, fake_data, strategy="bitfit", epochs=2, scheduler="none"), out, progress=False)
    before = _tree(out)
    capsys.readouterr()
    again = finetune(resume=out, overrides={"epochs": 2}, progress=True)
    assert f"{out} is already complete (2 epochs); nothing to resume" in capsys.readouterr().err
    assert again["accuracy"] == res["accuracy"] and again["history"] == json.loads(json.dumps(res["history"]))
    with pytest.raises(TrainingStateError, match="epochs 1: the run has already completed 2 epochs"):
        finetune(resume=out, overrides={"epochs": 1}, progress=False)
    with pytest.raises(TrainingStateError, match="with more epochs: the run is complete"):
        finetune(resume=out, overrides={"epochs": 3}, progress=False)
    with pytest.raises(TrainingStateError, match="different strategy"):
        finetune(resume=out, overrides={"strategy": "lora"}, progress=False)
    assert _tree(out) == before


def test_damaged_or_missing_snapshot_says_how_to_start_over(base_ckpt, fake_data, tmp_path):
    out = tmp_path / "run"
    cfg = _cfg(base_ckpt, fake_data, strategy="adapter", epochs=2)
    _interrupted_run(cfg, out)
    weights = out / "last" / "model.safetensors"
    intact = weights.read_bytes()
    weights.write_bytes(intact[:100])
    before = _tree(out)
    hint = f"to start the run over, run its original command with --overwrite (or delete {out / 'last'})"
    with pytest.raises(TrainingStateError, match=r"cannot resume from .*; " + re.escape(hint)) as exc:
        finetune(resume=out, progress=False)
    assert "\n" not in str(exc.value)
    assert _tree(out) == before
    weights.write_bytes(intact)
    state = out / "last" / "trainer_state.json"
    state.write_text(state.read_text()[:200])
    before = _tree(out)
    with pytest.raises(TrainingStateError, match=r"trainer_state.json is damaged .*; to start the run over"):
        finetune(resume=out, progress=False)
    assert _tree(out) == before
    # starting over as the message says
    res = finetune(cfg, out, progress=False, overwrite=True)
    assert len(res["history"]) == 2 and sorted(p.name for p in out.iterdir()) == FILES
    shutil.rmtree(out)
    with pytest.raises(TrainingStateError, match="no fine-tuning state there"):
        finetune(resume=tmp_path, progress=False)


def test_base_must_be_the_one_the_run_started_from(base_ckpt, fake_data, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(base_ckpt, base)
    out = tmp_path / "run"
    _interrupted_run(_cfg(base, fake_data, strategy="full", epochs=2), out)
    moved = tmp_path / "moved"
    base.rename(moved)
    before = _tree(out)
    with pytest.raises(TrainingStateError, match="base checkpoint .* is missing; pass the base's new location"):
        finetune(resume=out, progress=False)
    weights = moved / "model.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(original[:-4] + b"\x00\x00\x80\x3f")
    with pytest.raises(TrainingStateError, match=r"is not the one the run started from \(SHA-256 "):
        finetune(resume=out, overrides={"base": str(moved)}, progress=False)
    assert _tree(out) == before
    weights.write_bytes(original)
    res = finetune(resume=out, overrides={"base": str(moved)}, progress=False)
    assert len(res["history"]) == 2 and res["config"]["base"] == str(moved)


def test_a_training_run_is_not_resumed_as_a_fine_tuning_run(base_ckpt, fake_data, tmp_path):
    out = tmp_path / "run"
    _interrupted_run(_cfg(base_ckpt, fake_data, strategy="bitfit", epochs=2), out)
    state = out / "last" / "trainer_state.json"
    data = json.loads(state.read_text())
    data["config"] = {"model": "seed000", "dataset": "mnist"}
    state.write_text(json.dumps(data))
    write_checksums(state.parent)       # (a snapshot written by `scratchcnn train`)
    with pytest.raises(TrainingStateError, match=f"continue it with `scratchcnn train --resume {out}`"):
        finetune(resume=out, progress=False)


def test_interrupted_before_the_first_snapshot_says_start_again(base_ckpt, fake_data, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RunInterrupted, match="before the first epoch was saved; nothing to resume"):
        finetune(_cfg(base_ckpt, fake_data), out, progress=False, extra_callbacks=[_InterruptAt(1)])
    assert not (out / "last").exists()


def test_cli_sigterm_line_and_resume(base_ckpt, fake_data, tmp_path, monkeypatch, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from cli.helpers import assert_one_line_error, one_json, run

    import scratchcnn.finetune.run as ft_run

    class SendSigterm(Callback):
        def on_batch_end(self, trainer, logs):
            if logs["epoch"] == 2 and logs["step"] == 1:
                os.kill(os.getpid(), signal.SIGTERM)

    real = ft_run.finetune
    monkeypatch.setattr(ft_run, "finetune", lambda *a, **kw: real(*a, extra_callbacks=[SendSigterm()], **kw))
    out = tmp_path / "run"
    args = [base_ckpt, "--strategy", "lora", "--classes", "5-9", "--labels-per-class", "4", "--epochs", "2",
            "--batch-size", "8", "--limit-test", "20", "--data-dir", fake_data, "--no-progress"]
    rc, stdout, err = run(capsys, "finetune", *args, "--out", out)
    assert rc == 143 and stdout == ""
    assert err.strip().splitlines() == [f"error: terminated (SIGTERM); {out}/last holds epoch 1 of 2: continue "
                                        f"with `scratchcnn finetune --resume {out}`"]
    monkeypatch.setattr(ft_run, "finetune", real)
    rc, stdout, err = run(capsys, "finetune", "--resume", out, "--rank", "8", "--json")
    assert_one_line_error(rc, stdout, err, "cannot resume", "rank")
    rc, stdout, err = run(capsys, "finetune", *args, "--resume", out, "--json")   # the same options again
    assert rc == 0, err
    res = one_json(stdout)
    assert res["epochs"] == 2 and res["strategy"] == "lora" and Path(res["merged_checkpoint"]).is_dir()


def test_a_fine_tuning_run_is_not_resumed_as_a_training_run(base_ckpt, fake_data, tmp_path):
    """``scratchcnn train --resume`` on a fine-tuning run points to ``finetune --resume`` and writes nothing."""
    from scratchcnn.train.run import train
    out = tmp_path / "run"
    _interrupted_run(_cfg(base_ckpt, fake_data, strategy="bitfit", epochs=2), out)
    before = sorted((p.name, p.stat().st_mtime_ns) for p in (out / "last").iterdir())
    with pytest.raises(TrainingStateError, match=f"continue it with `scratchcnn finetune --resume {out}`"):
        train(resume=out, progress=False)
    assert sorted((p.name, p.stat().st_mtime_ns) for p in (out / "last").iterdir()) == before
