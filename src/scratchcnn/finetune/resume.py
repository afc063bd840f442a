"""Resuming ``scratchcnn finetune --resume RUN``: what a run folder holds, the checks, and the interrupt line.

While a fine-tuning run trains, ``RUN/last/`` is the Trainer's resumable snapshot (``Trainer.save_state``: the
model with its LoRA/adapter/inserted-block tensors, optimiser and scheduler state, RNG state, epoch, history),
rewritten after every epoch; its ``trainer_state.json`` ``config`` is ``{"finetune": FinetuneConfig as a dict,
"base_sha256": the base's hash}``. A run that finishes replaces the folder in one step with its results
(``adapter/``, ``merged/``, ``history.json``, ``result.json``), so ``last/`` goes with it: a folder with
``last/`` is unfinished, one with only ``result.json`` is complete. Every file of ``last/`` is checked against the
SHA-256 recorded when it was written (``Trainer.read_state``), before anything else.

Resuming re-creates the model from the saved config and the base checkpoint (whose SHA-256 must match the one
recorded), restores the snapshot and trains the remaining epochs: with the same thread count the weights and
history are those of an uninterrupted run. Only ``epochs`` (not with the cosine schedule, which spans the original
epochs, and never below the epochs done), ``data_dir`` and the base's location may change. Resuming a complete run
with its own settings is a no-op that returns its ``result.json``, its paths (``out_dir``, the checkpoints) those
of the folder as it is now, wherever the run was moved or copied. Every check runs before anything is written.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..train.trainer import Trainer, TrainingStateError
from .run import FinetuneConfig

if TYPE_CHECKING:
    from ..train.interrupt import RunInterrupted

__all__ = ["RESUMABLE_OVERRIDES", "ResumePlan", "plan_resume", "check_new_run_dir", "state_config",
           "restore_snapshot", "interrupted", "relocated"]

RESUMABLE_OVERRIDES = ("epochs", "data_dir", "base")
"""Settings that may differ from the saved run when resuming (``base``: its location; its hash must match)."""


@dataclass
class ResumePlan:
    """What ``finetune(resume=...)`` continues: the config (saved + allowed changes) and the run folder; with
    ``snapshot`` (``RUN/last``) an unfinished run, with ``result`` (its ``result.json``) a complete one."""

    config: FinetuneConfig
    out: Path
    snapshot: Path | None = None
    result: dict | None = None


def state_config(config: FinetuneConfig, base_dir: Path | None, base_sha256: str | None) -> dict:
    """The ``config`` stored in ``last/trainer_state.json``: the run's settings, its base as an absolute path (so
    a resume from another working directory finds it) and the base's SHA-256."""
    cfg = config.to_dict()
    if base_dir is not None:
        cfg["base"] = str(base_dir.resolve())
    return {"finetune": cfg, "base_sha256": base_sha256}


def _start_over(out: Path) -> str:
    return f"to start the run over, run its original command with --overwrite (or delete {out / 'last'})"


def _read_json(path: Path, where: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrainingStateError(f"cannot resume from {where}: {path.name} is damaged ({exc})") from None
    if not isinstance(data, dict):
        raise TrainingStateError(f"cannot resume from {where}: {path.name} is not a JSON object")
    return data


def _saved_config(saved: Any, where: Path, what: str) -> FinetuneConfig:
    """``FinetuneConfig`` from a saved dict; unknown or missing-type entries make it a damaged file."""
    if not isinstance(saved, dict):
        raise TrainingStateError(f"cannot resume from {where}: {what} has no fine-tuning config")
    unknown = sorted(set(saved) - {f.name for f in fields(FinetuneConfig)})
    if unknown:
        raise TrainingStateError(f"cannot resume from {where}: {what} has unknown setting(s) {', '.join(unknown)}")
    try:
        return FinetuneConfig(**saved)
    except (TypeError, ValueError) as exc:
        raise TrainingStateError(f"cannot resume from {where}: {what} is damaged ({exc})") from None


def _run_folder(path: Path) -> Path:
    """The run folder of ``path`` (a run folder or its ``last/``), with saves a crash left half-done put back."""
    from ..io.atomic import recover_directory
    path = Path(path)
    if path.name == "last" and not (path / "last").is_dir() and not (path / "result.json").is_file():
        path = path.parent                   # the snapshot folder itself (also a damaged one)
    recover_directory(path)                  # the end-of-run swap, interrupted between its two renames
    recover_directory(path / "last")         # an epoch's snapshot, likewise
    return path


_RUN_PATHS = ("checkpoint", "adapter_checkpoint", "merged_checkpoint")
"""Entries of ``result.json`` that name folders of the run (``adapter/``, ``merged/``)."""


def relocated(result: dict, out: Path) -> dict:
    """A complete run's ``result.json`` with ``out_dir`` and its checkpoint paths in ``out``, where the run is now
    (it may have been moved or copied since it finished)."""
    result = dict(result)
    result["out_dir"] = str(out)
    for key in _RUN_PATHS:
        if isinstance(result.get(key), str) and result[key]:
            result[key] = str(out / Path(result[key]).name)
    return result


def check_overrides(saved: FinetuneConfig, given: dict, where: Path, done: int, complete: bool) -> FinetuneConfig:
    """``saved`` with the allowed changes in ``given`` (None values ignored); raises ``TrainingStateError``
    naming the settings that may not change, or an ``epochs`` the saved run cannot honour."""
    names = {f.name for f in fields(FinetuneConfig)}
    unknown = sorted(k for k in given if k not in names)
    if unknown:
        raise ValueError(f"finetune: unknown setting(s) {', '.join(unknown)}")
    given = {k: v for k, v in given.items() if v is not None}
    wanted = FinetuneConfig(**{**saved.to_dict(), **given})          # normalised like the saved one
    changed = [k for k in given if getattr(wanted, k) != getattr(saved, k)]
    refused = sorted(k for k in changed if k not in RESUMABLE_OVERRIDES)
    if refused:
        raise TrainingStateError(
            f"cannot resume from {where} with a different {', '.join(refused)} (saved: "
            f"{', '.join(f'{k}={getattr(saved, k)!r}' for k in refused)}); only --epochs, --data-dir and the base "
            "checkpoint's location may change")
    if "epochs" in changed:
        if wanted.epochs < done:
            raise TrainingStateError(f"cannot resume from {where} with epochs {wanted.epochs}: the run has already "
                                     f"completed {done} epochs")
        if saved.scheduler == "cosine":
            raise TrainingStateError(f"cannot change epochs when resuming a run with the cosine scheduler (its "
                                     f"schedule spans the original {saved.epochs} epochs)")
        if complete:
            raise TrainingStateError(f"cannot resume from {where} with more epochs: the run is complete ({done} "
                                     "epochs) and kept no snapshot to go on from; start a new run to train longer")
    return wanted


def _check_base(config: FinetuneConfig, sha256: Any, where: Path) -> None:
    """The base checkpoint must be there and be the one the run started from (same SHA-256)."""
    if config.base is None:
        return
    from ..io import file_sha256
    from ..io.checkpoint import WEIGHTS_FILE
    from .checkpoint import resolve_dir
    weights = resolve_dir(config.base) / WEIGHTS_FILE
    if not weights.is_file():
        raise TrainingStateError(f"cannot resume from {where}: its base checkpoint {config.base} is missing; pass "
                                 f"the base's new location: scratchcnn finetune BASE --resume {where}")
    now = file_sha256(weights)
    if now != sha256:
        raise TrainingStateError(f"cannot resume from {where}: the base checkpoint {weights.parent} is not the one "
                                 f"the run started from (SHA-256 {now[:12]}..., recorded {str(sha256)[:12]}...); "
                                 "pass the original base, or start a new run")


def plan_resume(resume: str | Path, overrides: dict | None = None, out_dir: str | Path | None = None,
                overwrite: bool = False) -> ResumePlan:
    """Check that the run in ``resume`` (its folder or ``last/``) can go on with ``overrides``; writes nothing.

    Raises ``TrainingStateError`` (a ``ValueError``) with one line: no state there, a damaged snapshot (saying
    how to start over), a ``scratchcnn train`` run, a changed setting, an impossible ``epochs``, a changed base.
    """
    if overwrite:
        raise ValueError("finetune: --overwrite starts a new run and --resume continues one; drop one of them")
    out = _run_folder(Path(resume))
    if out_dir is not None and Path(out_dir).resolve() != out.resolve():
        raise TrainingStateError(f"a resumed run continues in its own folder {out}; drop --out {out_dir}")
    given = dict(overrides or {})
    snapshot = out / "last"
    if not snapshot.is_dir():
        if not (out / "result.json").is_file():
            raise TrainingStateError(
                f"cannot resume from {out}: no fine-tuning state there (expected {snapshot}/trainer_state.json, "
                "written after each epoch by `scratchcnn finetune`; a run stopped in its first epoch is started "
                "again with its original command)")
        result = _read_json(out / "result.json", out)
        saved = _saved_config(result.get("config"), out, "result.json")
        done = len(result.get("history") or []) or saved.epochs
        check_overrides(saved, given, out, done, complete=True)
        return ResumePlan(saved, out, result=relocated(result, out))
    try:
        state = Trainer.read_state(snapshot)
    except TrainingStateError as exc:
        raise TrainingStateError(f"{exc}; {_start_over(out)}") from None
    run_cfg = state["config"]
    if "finetune" not in run_cfg:
        raise TrainingStateError(f"cannot resume from {out} with `scratchcnn finetune`: it is a `scratchcnn train` "
                                 f"run; continue it with `scratchcnn train --resume {out}`")
    saved = _saved_config(run_cfg["finetune"], out, "trainer_state.json")
    config = check_overrides(saved, given, out, int(state["epoch"]), complete=False)
    _check_base(config, run_cfg.get("base_sha256"), out)
    return ResumePlan(config, out, snapshot=snapshot)


def check_new_run_dir(out: Path, overwrite: bool) -> None:
    """A new run may not start in a folder holding an unfinished one unless ``overwrite`` (then it replaces it)."""
    from ..io.atomic import recover_directory
    recover_directory(out / "last")
    if (out / "last").is_dir() and not overwrite:
        raise ValueError(f"finetune: output folder {out} holds an unfinished fine-tuning run; continue it with "
                         f"--resume {out}, or pass --overwrite to start over")


def restore_snapshot(trainer: Trainer, snapshot: Path, progress: bool) -> dict:
    """``trainer.load_state(snapshot)``; a damaged one's error says how to start over. Warns (with ``progress``)
    when the thread count differs from the saved run's (the result would not be bit-identical)."""
    from ..train.run import _warn_threads
    try:
        state = trainer.load_state(snapshot)
    except TrainingStateError as exc:
        raise TrainingStateError(f"{exc}; {_start_over(snapshot.parent)}") from None
    _warn_threads(state, progress)
    return state


def interrupted(exc: KeyboardInterrupt, out: Path, epochs: int) -> "RunInterrupted":
    """The one line for a run stopped by Ctrl-C or SIGTERM: which epoch ``last/`` holds and how to go on
    (``train.run``'s line, naming this verb)."""
    from ..train.interrupt import RunInterrupted
    from ..train.run import _interrupted
    if isinstance(exc, RunInterrupted):
        return exc
    return _interrupted(exc, out, epochs, verb="finetune")
