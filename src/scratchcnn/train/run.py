"""``train(config, out_dir)``: the whole MNIST-style run behind ``scratchcnn train``.

Loads the dataset, splits off validation data (seeded), builds the model/optimiser/scheduler, trains with the
callbacks (progress, TensorBoard, best checkpoint, history, curves, optional early stopping), then evaluates the
best checkpoint on the test split and writes the confusion matrix. Output folder::

    out/best/            model.safetensors + meta.json of the best epoch on validation (+ test metrics)
    out/last/            resumable snapshot (see ``Trainer.save_state``); ``--resume out`` continues from it
    out/history.json|csv per-epoch loss/accuracy/lr/time
    out/curves.png, out/confusion_matrix.png, out/test_metrics.json, out/tensorboard/

A new run refuses an ``out`` that already holds something (``overwrite``: it is emptied once the data and model
are ready) and one it cannot write (one line before any work). Stopped by Ctrl-C (or SIGTERM under the CLI) a run
raises ``interrupt.RunInterrupted``, whose one line says which epoch ``last/`` holds and how to go on; a resumed run
gives the weights and history of an uninterrupted one (with the same thread count), its TensorBoard points logged
once; an early-stopped run resumed stays stopped. A new run stopped by Ctrl-C or an ``OSError`` (a full disk) after
its first snapshot keeps its folder for ``--resume``; stopped before it, or failing otherwise (NaN loss, an error),
it removes what it wrote (``io.outdir.OutputGuard``). A resumed run always keeps its folder. An ``OSError`` of
writing the run is one line naming the folder and what to do (``io.outdir.write_error``).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from .config import TrainConfig, build_augmentation, build_optimizer, build_scheduler
from .trainer import Trainer, TrainingStateError

__all__ = ["train", "resolve_resume_dir", "default_out_dir", "RESUMABLE_OVERRIDES"]

if TYPE_CHECKING:
    from .interrupt import RunInterrupted

RESUMABLE_OVERRIDES = ("epochs", "data_dir")
"""Settings that may differ from the saved run when resuming (everything else must match)."""


def default_out_dir(cfg: TrainConfig) -> Path:
    """``runs/<model>-<dataset>-<YYYYmmdd-HHMMSS>``."""
    return Path("runs") / f"{cfg.model}-{cfg.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"


def _recover_run(out: Path) -> None:
    """Move back a ``best/`` or ``last/`` that a crash in the middle of its save left aside."""
    from ..io.atomic import recover_directory
    for name in ("best", "last"):
        recover_directory(out / name)


def _tidy_run(out: Path) -> None:
    """Delete what interrupted saves of ``best/`` and ``last/`` left (hidden ``.best.*.tmp`` / ``.old`` ...)."""
    from ..io.atomic import remove_stale_siblings
    for name in ("best", "last"):
        remove_stale_siblings(out / name)


def resolve_resume_dir(path: str | Path) -> Path:
    """Accept a run folder (with ``last/``) or the ``last/`` folder itself; return the snapshot folder."""
    from ..io.atomic import recover_directory
    path = Path(path)
    recover_directory(path)
    if path.is_dir():
        _recover_run(path)
    if (path / "trainer_state.json").is_file():
        return path
    if (path / "last" / "trainer_state.json").is_file():
        return path / "last"
    raise TrainingStateError(f"cannot resume from {path}: no training state there (expected {path}/last/"
                             "trainer_state.json written by `scratchcnn train --out` after each epoch; a run stopped "
                             "in its first epoch is started again with its original command)")


def _warn_threads(state: dict, progress: bool) -> None:
    """Say on stderr when a run resumes with another thread count: each batch is split into one part per thread
    (``split_batch.py``), so the result is no longer bit-identical to an uninterrupted run."""
    import sys

    from ..parallel import get_num_threads
    saved, now = state.get("num_threads"), get_num_threads()
    if progress and saved is not None and saved != now:
        print(f"warning: this run was trained with {saved} threads and resumes with {now}: batches are split "
              f"differently, so the weights will not be bit-identical to an uninterrupted run (set "
              f"SCRATCHCNN_NUM_THREADS={saved} for that)", file=sys.stderr, flush=True)


def _stat_list(v: Any) -> list[float] | None:
    if v is None:
        return None
    return [float(x) for x in np.atleast_1d(np.asarray(v, dtype=np.float64))]


def _load_data(cfg: TrainConfig):
    from ..data import load_dataset, train_val_split
    train_full = load_dataset(cfg.dataset, "train", data_dir=cfg.data_dir)
    test = load_dataset(cfg.dataset, "test", data_dir=cfg.data_dir)
    if cfg.limit_train is not None and cfg.limit_train < len(train_full):
        pick = np.sort(np.random.default_rng([cfg.seed, 7]).permutation(len(train_full))[:cfg.limit_train])
        train_full = train_full.subset(pick)
    if cfg.limit_test is not None and cfg.limit_test < len(test):
        test = test.subset(np.arange(cfg.limit_test))
    if cfg.val_split > 0:
        tr_idx, val_idx = train_val_split(len(train_full), cfg.val_split, seed=cfg.seed)
        return train_full.subset(tr_idx), train_full.subset(val_idx), test
    return train_full, None, test


def _check_resume_config(saved: TrainConfig, given: dict, where: Path, state: dict | None = None) -> TrainConfig:
    """Apply allowed overrides to the saved config; anything else that differs is an error, and so is an
    ``epochs`` below the epochs already done or one that asks a run which stopped early to go on."""
    changes = {k: v for k, v in given.items() if v is not None and getattr(saved, k) != v}
    refused = sorted(k for k in changes if k not in RESUMABLE_OVERRIDES)
    if refused:
        raise TrainingStateError(
            f"cannot resume from {where} with a different {', '.join(refused)} "
            f"(saved: {', '.join(f'{k}={getattr(saved, k)!r}' for k in refused)}); only "
            f"{', '.join(RESUMABLE_OVERRIDES)} may change")
    if "epochs" in changes and saved.scheduler in ("cosine", "onecycle"):
        raise TrainingStateError(f"cannot change epochs when resuming a run with the {saved.scheduler} scheduler "
                                 f"(its schedule spans the original {saved.epochs} epochs)")
    done = int((state or {}).get("epoch", 0))
    if "epochs" in changes and changes["epochs"] < done:
        raise TrainingStateError(f"cannot resume from {where} with epochs {changes['epochs']}: the run has already "
                                 f"completed {done} epochs")
    if "epochs" in changes and changes["epochs"] > saved.epochs and _stopped_early(state) is not None:
        raise TrainingStateError(f"cannot resume from {where} with more epochs: the run stopped early after epoch "
                                 f"{done} (no validation improvement for {saved.patience} epochs), so it is "
                                 "complete; start a new run to train longer")
    return TrainConfig.from_dict({**saved.to_dict(), **changes})


def _with_start_over_hint(read: Any, snapshot: Path) -> Any:
    """``read(snapshot)``; a damaged snapshot's error also says how to start over (a fresh run into a folder that
    holds ``last/`` is refused, so the damaged one must go)."""
    try:
        return read(snapshot)
    except TrainingStateError as exc:
        raise TrainingStateError(f"{exc}; to start the run over, run its original command with --overwrite (or "
                                 "train into another --out)") from None


def _stopped_early(state: dict | None) -> int | None:
    """The epoch after which early stopping (``--patience``) ended the saved run, or None."""
    early = ((state or {}).get("callbacks") or {}).get("EarlyStopping") or {}
    stopped = early.get("stopped_epoch") if isinstance(early, dict) else None
    return stopped if isinstance(stopped, int) else None


def _interrupted(exc: KeyboardInterrupt, out: Path, epochs: int, verb: str = "train") -> "RunInterrupted":
    """The one line for a run stopped by Ctrl-C or SIGTERM: what ``last/`` holds and how to go on (with
    ``scratchcnn VERB --resume``)."""
    from .interrupt import RunInterrupted, Terminated
    how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
    try:
        state = Trainer.read_state(out / "last")
    except (TrainingStateError, OSError):
        state = None
    if state is None:
        kept = f"{out} removed" if not os.path.lexists(out) else f"nothing kept in {out}"
        msg = (f"{how} before the first epoch was saved; nothing to resume ({kept}): run the same command again "
               "to start over")
    else:
        done = state["epoch"]
        msg = (f"{how}; {out}/last holds epoch {done} of {epochs}: continue with `scratchcnn {verb} --resume {out}`")
    return RunInterrupted(msg, terminated=isinstance(exc, Terminated))


def _resume_hint(exc: BaseException, out: Path, epochs: int) -> str | None:
    """After an error of writing (a full disk): what ``last/`` holds and how to continue, or None without one."""
    from ..io.outdir import write_fix
    try:
        done = Trainer.read_state(out / "last")["epoch"]
    except (TrainingStateError, OSError, KeyError, TypeError):
        return None
    return (f"{out}/last holds epoch {done} of {epochs}: {write_fix(getattr(exc, 'errno', None))}, then continue "
            f"with `scratchcnn train --resume {out}`")


def train(config: TrainConfig | None = None, out_dir: str | Path | None = None, resume: str | Path | None = None,
          progress: bool = True, tensorboard: bool = True, plots: bool = True,
          extra_callbacks: Iterable[Any] = (), overrides: dict | None = None, overwrite: bool = False) -> dict:
    """Run a training and return a JSON-ready result dict.

    Args:
        config: the run's settings (ignored with ``resume``, which uses the saved ones plus ``overrides``).
        out_dir: output folder (default ``runs/<model>-<dataset>-<time>``; with ``resume`` the run's folder).
        resume: a run folder or its ``last/`` snapshot to continue from.
        progress: tqdm bar and per-epoch lines on stderr.
        tensorboard, plots: write TensorBoard events / PNG figures.
        extra_callbacks: more ``Callback`` objects (after the built-in ones).
        overrides: with ``resume``, settings to change (only ``epochs`` and ``data_dir``).
        overwrite: start a new run in a non-empty ``out_dir`` (what it holds is deleted once the data and the model
            are ready); without it such a folder is refused.
    Returns:
        ``{"test_accuracy", "val_accuracy", "epochs", "best_epoch", "seconds", "checkpoint", "last", "history",
        "out_dir", "test": {...metrics...}, ...}``.
    """
    from .. import manual_seed
    from ..data import DataLoader
    from ..io import load_checkpoint, save_checkpoint
    from ..models import get as get_model
    from ..models.loading import model_meta
    from . import callbacks as C
    from .metrics import summarize
    from .trainer import evaluate_model

    t_start = time.perf_counter()
    resume_dir: Path | None = None
    state: dict | None = None
    if resume is not None:
        if overwrite:
            raise ValueError("train: --overwrite starts a new run and --resume continues one; drop one of them")
        resume_dir = resolve_resume_dir(resume)
        state = _with_start_over_hint(Trainer.read_state, resume_dir)
        if "finetune" in (state.get("config") or {}):
            raise TrainingStateError(f"{resume_dir.parent} is a fine-tuning run: continue it with "
                                     f"`scratchcnn finetune --resume {resume_dir.parent}`")
        saved = TrainConfig.from_dict(state.get("config", {}))
        cfg = _check_resume_config(saved, dict(overrides or {}), resume_dir, state)
        out = resume_dir.parent
        if out_dir is not None and Path(out_dir).resolve() != out.resolve():
            raise TrainingStateError(f"a resumed run continues in its own folder {out}; drop --out {out_dir}")
    else:
        cfg = config if config is not None else TrainConfig()
        cfg.validate()
        out = Path(out_dir) if out_dir is not None else default_out_dir(cfg)
        from ..io.outdir import check_new_output_folder, check_output_folder
        check_output_folder(out, "train")
        _recover_run(out)
        if (out / "last" / "trainer_state.json").exists() and not overwrite:
            raise ValueError(f"output folder {out} already holds a training run; pass --resume {out} to continue "
                             "it, --overwrite to start it over, or choose another --out")
        check_new_output_folder(out, "train", overwrite)

    from ..io.outdir import OutputGuard, make_output_folder, write_error
    # a new run that fails removes what it wrote, unless it can be resumed (see OutputGuard.resumable)
    guard = OutputGuard(out, snapshot="last") if resume_dir is None else None
    try:
        make_output_folder(out, "train")
        train_ds, val_ds, test_ds = _load_data(cfg)
        classes = list(train_ds.classes)
        norm = {"mean": _stat_list(train_ds.mean), "std": _stat_list(train_ds.std)}
        manual_seed(cfg.seed)
        model = get_model(cfg.model, num_classes=len(classes), **cfg.model_config)
        if getattr(model, "input_kind", "images") != "images":
            how = ("--ensemble K" if cfg.model == "ensemble" else f"--model {cfg.model}")
            raise ValueError(f"train: {cfg.model} classifies {model.input_kind}, not images; train it on a text "
                             f"corpus with `scratchcnn train-text {how} --data CORPUS`")
        in_ch = int(cfg.model_config.get("in_channels", 1))
        img_ch = 1 if train_ds.images.ndim == 3 else train_ds.images.shape[1]
        if in_ch != img_ch:
            raise ValueError(f"model {cfg.model} expects {in_ch} input channel(s) but {cfg.dataset} images have "
                             f"{img_ch}")
        optimizer = build_optimizer(cfg.optimizer, model.parameters(), cfg.effective_lr, cfg.weight_decay,
                                    cfg.momentum)
        train_loader = DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed,
                                  transform=build_augmentation(cfg.augment))
        scheduler, interval = build_scheduler(cfg.scheduler, optimizer, cfg.epochs, len(train_loader),
                                              cfg.effective_lr)
        val_loader = DataLoader(val_ds, batch_size=cfg.eval_batch_size) if val_ds is not None else None
        from ..nn import CrossEntropyLoss
        loss_fn = CrossEntropyLoss(label_smoothing=cfg.label_smoothing)

        base_meta = {"dataset": cfg.dataset, "class_names": classes, "normalization": norm,
                     "input_shape": [img_ch, *train_ds.images.shape[-2:]], "train_config": cfg.to_dict()}

        def meta_fn(trainer: Trainer, logs: dict) -> dict:
            return model_meta(model, **base_meta)

        if guard is not None and overwrite:
            guard.clear()   # everything is ready: the new run replaces what the folder held
        out.mkdir(parents=True, exist_ok=True)
        best_dir = out / "best"
        cbs: list = [C.ProgressBar(enabled=progress), C.BestCheckpoint(best_dir, meta_fn), C.HistoryWriter(out)]
        if cfg.patience is not None:
            cbs.append(C.EarlyStopping(patience=cfg.patience))
        if tensorboard:
            cbs.append(C.TensorBoardLogger(out / "tensorboard", owns_log_dir=True))
        if plots:
            cbs.append(C.CurvePlotter(out))
        cbs.extend(extra_callbacks)

        trainer = Trainer(model, optimizer, loss_fn=loss_fn, scheduler=scheduler, scheduler_interval=interval,
                          epochs=cfg.epochs, callbacks=cbs, state_dir=out / "last", meta_fn=meta_fn,
                          config=cfg.to_dict(),
                          eval_loss_fn=CrossEntropyLoss() if cfg.label_smoothing else None)
        if resume_dir is not None:
            _with_start_over_hint(trainer.load_state, resume_dir)
            _warn_threads(state or {}, progress)
        _tidy_run(out)  # (after a resume's checks: a refused resume leaves the folder as it was)

        def train_data(epoch: int):
            train_loader.set_epoch(epoch - 1)  # epoch e always sees the same order/augmentation, resumed or not
            return train_loader

        if trainer.epoch < trainer.epochs and _stopped_early(state) is None:  # an early-stopped run is complete
            trainer.fit(train_data, val_loader)

        # test the best checkpoint (chosen on validation, or on training accuracy without validation)
        if not (best_dir / "model.safetensors").exists():
            raise TrainingStateError(f"no best checkpoint in {best_dir}; the run did not complete an epoch")
        best_state, best_meta = load_checkpoint(best_dir)
        model.load_state_dict(best_state)
        test_loader = DataLoader(test_ds, batch_size=cfg.eval_batch_size)
        ev = evaluate_model(model, test_loader, CrossEntropyLoss(), return_predictions=True)   # plain, as evaluate
        test = summarize(ev["y_true"], ev["y_pred"], len(classes))
        test["loss"] = ev["loss"]
        best_meta = dict(best_meta)
        best_meta["metrics"] = {**dict(best_meta.get("metrics") or {}), "test_accuracy": test["accuracy"],
                                "test_loss": test["loss"], "test_f1": test["f1"]}
        save_checkpoint(best_dir, best_state, best_meta)
        from ..io.atomic import atomic_write_text
        atomic_write_text(out / "test_metrics.json", json.dumps(test, indent=1) + "\n")
        if plots:
            C.plot_confusion_matrix(test["confusion_matrix"], classes, out / "confusion_matrix.png",
                                    title=f"{cfg.model} on {cfg.dataset} test (acc {test['accuracy']:.4f})")
    except KeyboardInterrupt as exc:
        from .interrupt import RunInterrupted
        if isinstance(exc, RunInterrupted):
            raise
        if guard is not None:
            guard.failed(exc)   # before the first last/ nothing can be resumed: what the run wrote goes
        raise _interrupted(exc, out, cfg.epochs) from None
    except BaseException as exc:
        if guard is not None:
            guard.failed(exc)
        better = write_error(exc, out, "train", lambda e=exc: _resume_hint(e, out, cfg.epochs))
        if better is not None:
            raise better from None
        raise

    best_epoch = best_meta.get("epoch")
    best_logs = next((h for h in trainer.history if h.get("epoch") == best_epoch), {})
    return {
        "test_accuracy": test["accuracy"],
        "val_accuracy": best_logs.get("val_accuracy"),
        "epochs": trainer.epoch,
        "best_epoch": best_epoch,
        "seconds": time.perf_counter() - t_start,
        "train_seconds": float(sum(h.get("seconds", 0.0) for h in trainer.history)),
        "checkpoint": str(best_dir),
        "last": str(out / "last"),
        "history": str(out / "history.json"),
        "out_dir": str(out),
        "model": cfg.model,
        "dataset": cfg.dataset,
        "num_train": len(train_ds),
        "num_val": len(val_ds) if val_ds is not None else 0,
        "num_test": len(test_ds),
        "test": {k: test[k] for k in ("accuracy", "loss", "precision", "recall", "f1")},
        "stopped_early": bool(trainer.stop_training and trainer.epoch < trainer.epochs),
        "config": cfg.to_dict(),
    }
