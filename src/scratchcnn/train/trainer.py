"""Trainer: the epoch loop (forward, loss, backward, step), validation, callbacks, NaN guard and resume.

The loop is model- and data-agnostic: ``fit(train_data, val_data)`` takes any iterable of ``(x, y)`` Tensor
batches, or a callable ``epoch -> iterable`` (used for reproducible per-epoch shuffling, which makes resuming
exact). ``save_state(dir)`` / ``load_state(dir)`` write and read a resumable snapshot without pickle:

    dir/model.safetensors + dir/meta.json     the model (a valid checkpoint too, via ``scratchcnn.io``)
    dir/optimizer.safetensors                 every array of the optimiser and scheduler state
    dir/trainer_state.json                    epoch, step, history, whether a callback stopped the run, the
                                              thread count, scheduler/optimiser skeletons, callbacks, RNG state
                                              of ``scratchcnn.random`` and the run's config
    dir/checksums.json                        the SHA-256 of each of the four files above, recorded as they are
                                              written and checked by ``read_state`` before anything is loaded

A snapshot written before ``checksums.json`` existed (its ``trainer_state.json`` has no ``checksums`` entry)
still loads, unchecked beyond ``model.safetensors``'s own SHA-256 in ``meta.json``.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from ..autograd import no_grad
from ..parallel import get_num_threads
from ..tensor import Tensor
from .callbacks.base import Callback, CallbackList
from .serialize import join_arrays, split_arrays
from .split_batch import forward_for_training

__all__ = ["Trainer", "TrainingDivergedError", "TrainingStateError", "STATE_FORMAT", "CHECKSUMS_FILE",
           "write_checksums", "verify_snapshot"]

STATE_FORMAT = "scratchcnn-train-state"
STATE_VERSION = 1
STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.safetensors"
CHECKSUMS_FILE = "checksums.json"
CHECKSUMS_FORMAT = "scratchcnn-snapshot-checksums"


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the message names the epoch and step and suggests a lower LR."""


def nonfinite_state(model: Any) -> list[str]:
    """Names of the model's parameters and buffers that hold NaN or infinite values (none: an empty list)."""
    named = list(model.named_parameters()) + list(model.named_buffers())
    return [name for name, t in named
            if t is not None and np.asarray(getattr(t, "data", t)).dtype.kind == "f"
            and not np.isfinite(getattr(t, "data", t)).all()]


class TrainingStateError(ValueError):
    """A resume directory is missing, damaged or belongs to a different setup."""


def _batch_size(y: Any) -> int:
    return int(len(y.data if hasattr(y, "data") and not isinstance(y, np.ndarray) else y))


def _arr(t: Any) -> np.ndarray:
    return t.data if hasattr(t, "data") and not isinstance(t, np.ndarray) else np.asarray(t)


class Trainer:
    """Train ``model`` with ``optimizer`` on ``loss_fn`` (default ``nn.CrossEntropyLoss()``).

    Args:
        model: an ``nn.Module`` returning logits (N, K).
        optimizer: a ``scratchcnn.optim`` optimiser over the model's parameters.
        loss_fn: callable ``(logits, targets) -> scalar Tensor``.
        scheduler: optional LR scheduler; stepped after every batch (``scheduler_interval="step"``) or epoch.
        epochs: total number of epochs ``fit`` trains to (counting epochs done before a resume).
        callbacks: ``Callback`` objects (progress, checkpoints, early stopping, logging ...).
        state_dir: if given, a resumable snapshot is written there after every epoch.
        meta_fn: ``(trainer, logs) -> dict`` giving ``meta.json`` for model checkpoints written by the trainer.
        config: JSON-ready description of the run stored with the snapshot (checked on resume by the caller).
        split_batch: run each batch's parts concurrently, one per core, when the model allows it
            (:mod:`scratchcnn.train.split_batch`; also off with ``SCRATCHCNN_SPLIT_BATCH=0``).
        adversary: optional :class:`~scratchcnn.train.adversarial.FGM`: after each clean backward pass it
            perturbs its tensors, a second forward/backward on the same batch adds the adversarial loss's
            gradients, the tensors are restored, then the optimiser steps.
        rdrop: optional :class:`~scratchcnn.train.rdrop.RDrop`: each batch runs twice (stacked, independent
            dropout masks) and the loss adds the symmetric KL between the two predictions; the adversary's
            second pass, if any, uses the plain batch and ``loss_fn``.
        eval_loss_fn: the loss reported by :meth:`evaluate` (validation) and, when given, also as each epoch's
            training ``loss`` (computed on the training batches' outputs beside the objective, which still
            drives the steps and the divergence check; with ``rdrop`` on the first pass); default ``loss_fn``.
            The training commands pass plain cross-entropy for label-smoothed or R-Drop runs, so that every
            reported loss is the one ``scratchcnn evaluate`` reports.
    """

    def __init__(self, model: Any, optimizer: Any, loss_fn: Callable | None = None, scheduler: Any = None,
                 scheduler_interval: str = "epoch", epochs: int = 1, callbacks: Iterable[Callback] = (),
                 state_dir: str | Path | None = None, meta_fn: Callable[["Trainer", dict], dict] | None = None,
                 config: dict | None = None, split_batch: bool = True, adversary: Any = None,
                 rdrop: Any = None, eval_loss_fn: Callable | None = None):
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"Trainer: scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"Trainer: epochs must be a positive integer, got {epochs!r}")
        if loss_fn is None:
            from ..nn import CrossEntropyLoss
            loss_fn = CrossEntropyLoss()
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.eval_loss_fn = eval_loss_fn if eval_loss_fn is not None else loss_fn
        self._report_loss_fn = eval_loss_fn     # None: the training objective's value is the reported loss
        self.scheduler = scheduler
        self.scheduler_interval = scheduler_interval
        self.epochs = epochs
        self.callbacks = CallbackList(list(callbacks))
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.meta_fn = meta_fn
        self.config = dict(config or {})
        self.split_batch = bool(split_batch)
        self.adversary = adversary
        self.rdrop = rdrop
        self.epoch = 0            # epochs completed
        self.global_step = 0      # optimiser steps taken
        self.history: list[dict] = []
        self.stop_training = False

    # ------------------------------------------------------------------ helpers
    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    @staticmethod
    def _loader_for(data: Any, epoch: int) -> Iterable:
        return data(epoch) if callable(data) else data

    # ------------------------------------------------------------------ training
    def fit(self, train_data: Any, val_data: Any = None) -> list[dict]:
        """Train from epoch ``self.epoch + 1`` to ``self.epochs``; returns the history (one dict per epoch)."""
        self.stop_training = False
        self.callbacks.on_train_begin(self)
        logs: dict = {}
        try:
            for epoch in range(self.epoch + 1, self.epochs + 1):
                logs = self._train_epoch(self._loader_for(train_data, epoch), epoch)
                if val_data is not None:
                    val = self.evaluate(self._loader_for(val_data, epoch))
                    logs["val_loss"], logs["val_accuracy"] = val["loss"], val["accuracy"]
                logs["lr"] = self.lr
                if self.scheduler is not None and self.scheduler_interval == "epoch":
                    self.scheduler.step()
                logs["seconds"] = time.perf_counter() - logs.pop("_t0")
                self.epoch = epoch
                self.history.append(logs)
                self.callbacks.on_epoch_end(self, logs)
                if self.state_dir is not None:
                    self.save_state(self.state_dir)
                if self.stop_training:
                    break
        finally:
            self.callbacks.on_train_end(self, logs)
        return self.history

    def _train_epoch(self, loader: Iterable, epoch: int) -> dict:
        model, opt = self.model, self.optimizer
        model.train()
        t0 = time.perf_counter()
        try:
            num_batches = len(loader)  # type: ignore[arg-type]
        except TypeError:
            num_batches = None
        self.callbacks.on_epoch_begin(self, epoch, num_batches)
        seen = correct = 0
        loss_sum = 0.0
        step = 0
        for step, (x, y) in enumerate(loader, 1):
            opt.zero_grad()
            # overflow on the way to a NaN loss is reported once, below, as TrainingDivergedError
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                # with split_batch the batch's parts run concurrently, one per core (train/split_batch.py)
                if self.rdrop is None:
                    logits, finish = forward_for_training(model, x, self.split_batch)
                    loss = self.loss_fn(logits, y)
                else:   # both passes in one forward of [x; x]; accuracy below counts the first
                    logits, finish = forward_for_training(model, self.rdrop.twice(x), self.split_batch)
                    loss = self.rdrop.loss(self.loss_fn, logits, y)
                    logits = logits.data[:_batch_size(y)]
                value = float(loss.item())
                reported = value if self._report_loss_fn is None else self._reported_loss(logits, y)
                if not math.isfinite(value):
                    raise TrainingDivergedError(
                        f"loss became {value} at epoch {epoch}, step {step} (learning rate {self.lr:.3g}); "
                        f"training stopped - try a lower learning rate, e.g. --lr {self.lr / 10:.3g}")
                loss.backward()
                finish()
                if self.adversary is not None:
                    self._adversarial_backward(x, y)
                opt.step()
            if self.scheduler is not None and self.scheduler_interval == "step":
                self.scheduler.step()
            self.global_step += 1
            n = _batch_size(y)
            seen += n
            loss_sum += reported * n
            correct += int((_arr(logits).argmax(axis=1) == _arr(y)).sum())
            self.callbacks.on_batch_end(self, {"epoch": epoch, "step": step, "loss": loss_sum / seen,
                                               "accuracy": correct / seen, "last_loss": reported, "lr": self.lr})
        if seen == 0:
            raise ValueError(f"Trainer: the training data produced no batches in epoch {epoch}")
        bad = nonfinite_state(model)
        if bad:     # a finite loss can hide them (e.g. batch-norm statistics overflowed): never save such a model
            raise TrainingDivergedError(
                f"{bad[0]}{f' and {len(bad) - 1} more tensor(s)' if len(bad) > 1 else ''} of the model became "
                f"non-finite in epoch {epoch} (learning rate {self.lr:.3g}); training stopped - try a lower "
                f"learning rate, e.g. --lr {self.lr / 10:.3g}")
        return {"epoch": epoch, "loss": loss_sum / seen, "accuracy": correct / seen, "steps": step, "_t0": t0}

    def _reported_loss(self, logits: Any, y: Any) -> float:
        """``eval_loss_fn`` on a training batch's outputs (no graph): the training loss that is reported."""
        with no_grad():
            out = logits if isinstance(logits, Tensor) else Tensor(logits)
            return float(self._report_loss_fn(out.detach(), y).item())

    def _adversarial_backward(self, x: Any, y: Any) -> None:
        """Add the gradients of the loss at the adversary's perturbed parameters (restored afterwards)."""
        self.adversary.attack()
        try:
            logits, finish = forward_for_training(self.model, x, self.split_batch)
            self.loss_fn(logits, y).backward()
            finish()
        finally:
            self.adversary.restore()

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, data: Iterable, return_predictions: bool = False) -> dict:
        """Mean loss and accuracy over ``data`` in eval mode under ``no_grad`` (training mode is restored).

        With ``return_predictions`` the dict also has ``y_true``, ``y_pred`` (int64 arrays) and ``probs`` (N, K).
        """
        return evaluate_model(self.model, data, self.eval_loss_fn, return_predictions)

    # ------------------------------------------------------------------ resume
    def state_skeleton(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON part, arrays) of everything but the model weights."""
        from .. import random as sc_random
        opt_state = self.optimizer.state_dict()
        sched_state = self.scheduler.state_dict() if self.scheduler is not None else None
        skeleton, arrays = split_arrays({"optimizer": opt_state, "scheduler": sched_state}, prefix="state")
        state = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "epoch": self.epoch,
            "global_step": self.global_step,
            "epochs": self.epochs,
            "history": self.history,
            "stopped": bool(self.stop_training),   # a callback ended the run early: resuming it must not train on
            "num_threads": get_num_threads(),      # the batch split (split_batch.py) depends on it
            "callbacks": self.callbacks.state_dict(),
            "rng": {"scratchcnn": sc_random.get_rng_state()},
            "config": self.config,
            "checksums": CHECKSUMS_FILE,           # every file's SHA-256 is there (read_state checks them)
            **skeleton,
        }
        return state, arrays

    def save_state(self, directory: str | Path) -> Path:
        """Write a resumable snapshot to ``directory`` (replaced atomically as a whole)."""
        from safetensors.numpy import save as st_save

        from ..io import read_meta, save_checkpoint
        from ..io.atomic import atomic_directory
        from ..io.checkpoint import WEIGHTS_FILE
        state, arrays = self.state_skeleton()
        meta = dict(self.meta_fn(self, self.history[-1] if self.history else {})) if self.meta_fn else {}
        meta["epoch"] = self.epoch
        directory = Path(directory)
        with atomic_directory(directory) as tmp:
            save_checkpoint(tmp, self.model.state_dict(), meta)
            blobs = {OPTIMIZER_FILE: st_save(arrays) if arrays else st_save({}),
                     STATE_FILE: (json.dumps(state, indent=1) + "\n").encode("utf-8")}
            for name, blob in blobs.items():
                (tmp / name).write_bytes(blob)
            known = {name: hashlib.sha256(blob).hexdigest() for name, blob in blobs.items()}
            known[WEIGHTS_FILE] = read_meta(tmp)["weights"]["sha256"]   # save_checkpoint hashed the weights
            write_checksums(tmp, known)
        return directory

    @staticmethod
    def read_state(directory: str | Path) -> dict:
        """Read ``trainer_state.json`` of a snapshot, its schema checked (``check_state_schema``); raises
        ``TrainingStateError``. A snapshot folder a crash left aside mid-save is moved back first; every file
        is compared with the SHA-256 that ``checksums.json`` recorded for it (``verify_snapshot``)."""
        from ..io.atomic import recover_directory
        directory = Path(directory)
        recover_directory(directory)
        path = directory / STATE_FILE
        if not path.is_file():
            raise TrainingStateError(f"cannot resume from {directory}: no trainer_state.json there "
                                     "(pass the run's output folder or its last/ folder)")
        checked = verify_snapshot(directory)
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TrainingStateError(f"cannot resume from {directory}: trainer_state.json is damaged ({exc})") \
                from None
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise TrainingStateError(f"cannot resume from {directory}: trainer_state.json is not a scratchcnn "
                                     "training state")
        if state.get("version") != STATE_VERSION:
            raise TrainingStateError(f"cannot resume from {directory}: state version {state.get('version')} "
                                     f"is not supported (expected {STATE_VERSION})")
        problem = check_state_schema(state)
        if problem:
            raise TrainingStateError(f"cannot resume from {directory}: trainer_state.json is damaged ({problem})")
        if "checksums" in state and not checked:     # written with checksums.json, which is gone
            raise TrainingStateError(f"cannot resume from {directory}: {CHECKSUMS_FILE} is missing (it holds the "
                                     "SHA-256 of every file of the snapshot)")
        return state

    def load_state(self, directory: str | Path) -> dict:
        """Restore weights, optimiser, scheduler, epoch, history, callbacks and RNG from a snapshot.

        Returns the JSON state (its ``config`` lets the caller rebuild the same setup first).
        """
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        from .. import random as sc_random
        from ..io import load_checkpoint
        from ..io.checkpoint import count_nonfinite
        from ..models.loading import check_state_dict
        directory = Path(directory)
        state = self.read_state(directory)
        try:
            weights, _meta = load_checkpoint(directory)
        except (OSError, ValueError) as exc:
            raise TrainingStateError(f"cannot resume from {directory}: {exc}") from None
        check_state_dict(self.model, weights, where=f"resume state {directory}")
        try:
            arrays = load_file(str(directory / OPTIMIZER_FILE))
        except (OSError, SafetensorError, ValueError) as exc:
            raise TrainingStateError(f"cannot resume from {directory}: optimizer.safetensors is unreadable "
                                     f"({exc})") from None
        for key, arr in arrays.items():
            bad = count_nonfinite(arr)
            if bad:
                raise TrainingStateError(f"cannot resume from {directory}: optimizer.safetensors is damaged "
                                         f"({key} has {bad} non-finite values)")
        try:
            rest = join_arrays({"optimizer": state["optimizer"], "scheduler": state["scheduler"]}, arrays)
        except (KeyError, ValueError) as exc:
            raise TrainingStateError(f"cannot resume from {directory}: {exc}") from None
        if (rest["scheduler"] is None) != (self.scheduler is None):
            raise TrainingStateError(f"cannot resume from {directory}: the saved run "
                                     f"{'had no' if rest['scheduler'] is None else 'had a'} LR scheduler")
        self.model.load_state_dict(weights)
        try:
            self.optimizer.load_state_dict(rest["optimizer"])
            if self.scheduler is not None:
                self.scheduler.load_state_dict(rest["scheduler"])
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            raise TrainingStateError(f"cannot resume from {directory}: optimiser/scheduler state does not fit "
                                     f"({exc})") from None
        self.epoch = int(state["epoch"])
        self.global_step = int(state["global_step"])
        self.history = list(state.get("history", []))
        self.stop_training = bool(state.get("stopped", False))   # (``fit`` clears it; ``train.run`` does not fit)
        self.callbacks.load_state_dict(state.get("callbacks", {}))
        sc_random.set_rng_state(state["rng"]["scratchcnn"])
        return state


def write_checksums(directory: Path, known: dict[str, str] | None = None) -> None:
    """Record the SHA-256 of every file in snapshot folder ``directory`` in its ``checksums.json``; ``known``
    gives those already computed from the bytes written (the others are read back)."""
    from ..io import file_sha256
    known = known or {}
    sums = {p.name: known.get(p.name) or file_sha256(p) for p in sorted(directory.iterdir())
            if p.is_file() and p.name != CHECKSUMS_FILE}
    text = json.dumps({"format": CHECKSUMS_FORMAT, "sha256": sums}, indent=1) + "\n"
    (directory / CHECKSUMS_FILE).write_text(text, encoding="utf-8")


def _read_checksums(directory: Path) -> dict[str, str] | None:
    """File name -> SHA-256 from ``directory/checksums.json`` (None when there is none); a malformed one, or one
    without every file of a snapshot, raises ``TrainingStateError``."""
    from ..io.checkpoint import META_FILE, WEIGHTS_FILE
    path = directory / CHECKSUMS_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrainingStateError(f"cannot resume from {directory}: {CHECKSUMS_FILE} is damaged ({exc})") from None
    sums = data.get("sha256") if isinstance(data, dict) and data.get("format") == CHECKSUMS_FORMAT else None
    if not isinstance(sums, dict) or not all(isinstance(k, str) and "/" not in k and isinstance(v, str)
                                             and len(v) == 64 for k, v in sums.items()):
        raise TrainingStateError(f"cannot resume from {directory}: {CHECKSUMS_FILE} is damaged (not a list of "
                                 "SHA-256 per file)")
    for name in (WEIGHTS_FILE, META_FILE, OPTIMIZER_FILE, STATE_FILE):
        if name not in sums:
            raise TrainingStateError(f"cannot resume from {directory}: {CHECKSUMS_FILE} is damaged (no SHA-256 "
                                     f"for {name})")
    return sums


def verify_snapshot(directory: str | Path) -> bool:
    """Compare each file of a snapshot with the SHA-256 ``checksums.json`` recorded when it was written; False
    when the snapshot has no ``checksums.json`` (written before it existed). A missing or changed file raises
    ``TrainingStateError`` naming it."""
    from ..io import file_sha256
    directory = Path(directory)
    sums = _read_checksums(directory)
    if sums is None:
        return False
    missing = [name for name in sums if not (directory / name).is_file()]
    if missing:
        raise TrainingStateError(f"cannot resume from {directory}: {', '.join(missing)} "
                                 f"{'is' if len(missing) == 1 else 'are'} missing")
    damaged = [name for name, want in sums.items() if file_sha256(directory / name) != want]
    if damaged:
        one = len(damaged) == 1
        raise TrainingStateError(f"cannot resume from {directory}: {', '.join(damaged)} {'is' if one else 'are'} "
                                 f"damaged ({'it does' if one else 'they do'} not match the SHA-256 recorded in "
                                 f"{CHECKSUMS_FILE} when the snapshot was written)")
    return True


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def check_state_schema(state: dict) -> str | None:
    """What is wrong with the fields of a ``trainer_state.json`` (format and version already checked), or None:
    counters, history, callbacks, RNG state, config and the optimiser/scheduler skeletons."""
    for key in ("epoch", "global_step", "epochs", "history", "callbacks", "rng", "config", "optimizer",
                "scheduler"):
        if key not in state:
            return f"no '{key}' entry"
    for key in ("epoch", "global_step", "epochs"):
        if not _is_count(state[key]):
            return f"'{key}' is {state[key]!r}, not a non-negative integer"
    epoch, history = state["epoch"], state["history"]
    if epoch > state["epochs"]:
        return f"epoch {epoch} is past the run's {state['epochs']} epochs"
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        return "'history' is not a list of per-epoch objects"
    if len(history) != epoch:
        return f"'history' has {len(history)} entries for {epoch} completed epochs"
    if not isinstance(state.get("stopped", False), bool):
        return f"'stopped' is {state['stopped']!r}, not true or false"
    if "num_threads" in state and not (_is_count(state["num_threads"]) and state["num_threads"] >= 1):
        return f"'num_threads' is {state['num_threads']!r}, not a positive integer"
    callbacks = state["callbacks"]
    if not isinstance(callbacks, dict) or not all(isinstance(v, dict) for v in callbacks.values()):
        return "'callbacks' is not an object of per-callback objects"
    rng = state["rng"]
    if not isinstance(rng, dict) or "scratchcnn" not in rng:
        return "'rng' has no 'scratchcnn' generator state"
    try:
        np.random.default_rng(0).bit_generator.state = rng["scratchcnn"]  # the setter validates (a scratch one)
    except (TypeError, ValueError, KeyError, OverflowError, AttributeError):
        return "'rng.scratchcnn' is not a random generator state"
    if not isinstance(state["config"], dict):
        return f"'config' is {type(state['config']).__name__}, not an object"
    opt = state["optimizer"]
    if not isinstance(opt, dict) or "state" not in opt or not isinstance(opt.get("param_groups"), list):
        return "'optimizer' has no 'state' and 'param_groups'"
    if state["scheduler"] is not None and not isinstance(state["scheduler"], dict):
        return f"'scheduler' is {type(state['scheduler']).__name__}, not an object or null"
    return None


def evaluate_model(model: Any, data: Iterable, loss_fn: Callable | None = None,
                   return_predictions: bool = False) -> dict:
    """Loss (if ``loss_fn``) and accuracy of ``model`` over batches ``data``, in eval mode under ``no_grad``.

    Outputs (logits) that are NaN or infinite make loss and accuracy meaningless: a ``ValueError`` says for how
    many samples (see :func:`nonfinite_outputs_error`)."""
    from .. import no_grad
    from ..functional import softmax
    was_training = getattr(model, "training", False)
    model.eval()
    seen = correct = bad = 0
    loss_sum = 0.0
    ys: list[np.ndarray] = []
    preds: list[np.ndarray] = []
    probs: list[np.ndarray] = []
    try:
        # overflow on the way to non-finite outputs is reported once, below, with the number of samples hit
        with no_grad(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for x, y in data:
                logits = model(x)
                yt = _arr(y)
                bad += count_nonfinite_rows(_arr(logits))
                pred = _arr(logits).argmax(axis=1)
                n = len(yt)
                if loss_fn is not None:
                    loss_sum += float(loss_fn(logits, y).item()) * n
                seen += n
                correct += int((pred == yt).sum())
                if return_predictions:
                    ys.append(yt.astype(np.int64))
                    preds.append(pred.astype(np.int64))
                    probs.append(_arr(softmax(logits, 1)))
    finally:
        model.train(was_training)
    if seen == 0:
        raise ValueError("evaluate: the data produced no batches")
    if bad:
        raise nonfinite_outputs_error("evaluate", bad, seen)
    out = {"loss": loss_sum / seen if loss_fn is not None else float("nan"), "accuracy": correct / seen,
           "num_samples": seen}
    if return_predictions:
        out["y_true"] = np.concatenate(ys)
        out["y_pred"] = np.concatenate(preds)
        out["probs"] = np.concatenate(probs)
    return out


def count_nonfinite_rows(logits: np.ndarray) -> int:
    """How many samples (rows of ``logits``, (N, K)) have a NaN or infinite output."""
    return int((~np.isfinite(logits)).reshape(len(logits), -1).any(axis=1).sum())


def nonfinite_outputs_error(where: str, bad: int, total: int, unit: str = "samples") -> ValueError:
    """The one-line error for a model whose outputs are NaN or infinite for ``bad`` of ``total`` inputs."""
    return ValueError(f"{where}: the model's outputs are NaN or infinite for {bad} of {total} {unit}; its weights "
                      "have diverged or overflow float32, so its predictions mean nothing - retrain it (e.g. with a "
                      "lower learning rate)")
