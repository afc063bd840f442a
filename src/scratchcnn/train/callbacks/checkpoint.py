"""Best-model checkpoint: saved (atomically, via ``scratchcnn.io``) whenever the monitored metric improves."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

from .base import Callback

__all__ = ["BestCheckpoint"]


class BestCheckpoint(Callback):
    """Save ``trainer.model`` to ``directory`` when ``monitor`` improves (default ``val_accuracy``, max).

    Falls back to ``accuracy`` (training) when the logs carry no ``monitor`` (training without validation).
    ``meta_fn(trainer, logs)`` returns the ``meta.json`` content; the epoch and logs are added to it.
    """

    def __init__(self, directory: str | Path, meta_fn: Callable[[Any, dict], dict], monitor: str = "val_accuracy",
                 mode: str = "max"):
        if mode not in ("max", "min"):
            raise ValueError(f"BestCheckpoint: mode must be 'max' or 'min', got {mode!r}")
        self.directory = Path(directory)
        self.meta_fn = meta_fn
        self.monitor, self.mode = monitor, mode
        self.best = -math.inf if mode == "max" else math.inf
        self.best_epoch: int | None = None

    def _key(self, logs: dict) -> str | None:
        if self.monitor in logs:
            return self.monitor
        fallback = self.monitor[4:] if self.monitor.startswith("val_") else None
        return fallback if fallback in logs else None

    def on_epoch_end(self, trainer, logs):
        from ...io import save_checkpoint
        key = self._key(logs)
        if key is None:
            return
        value = float(logs[key])
        better = value > self.best if self.mode == "max" else value < self.best
        if not better and self.best_epoch is not None:
            return
        self.best, self.best_epoch = value, int(logs["epoch"])
        meta = dict(self.meta_fn(trainer, logs))
        meta["epoch"] = int(logs["epoch"])
        meta["selected_on"] = key
        meta["metrics"] = {**dict(meta.get("metrics") or {}), **{k: v for k, v in logs.items() if k != "epoch"}}
        save_checkpoint(self.directory, trainer.model.state_dict(), meta)

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.best = float(state.get("best", self.best))
        self.best_epoch = state.get("best_epoch")
