"""Early stopping: stop when the monitored metric has not improved for ``patience`` epochs, or at a fixed epoch."""
from __future__ import annotations

import math

from .base import Callback

__all__ = ["EarlyStopping", "StopAtEpoch"]


class EarlyStopping(Callback):
    """Monitor ``monitor`` (default ``val_accuracy``, mode ``max``); improvement must exceed ``min_delta``."""

    def __init__(self, patience: int = 3, monitor: str = "val_accuracy", mode: str = "max", min_delta: float = 0.0):
        if patience < 1:
            raise ValueError(f"EarlyStopping: patience must be >= 1, got {patience}")
        if mode not in ("max", "min"):
            raise ValueError(f"EarlyStopping: mode must be 'max' or 'min', got {mode!r}")
        self.patience, self.monitor, self.mode, self.min_delta = int(patience), monitor, mode, float(min_delta)
        self.best = -math.inf if mode == "max" else math.inf
        self.wait = 0
        self.stopped_epoch: int | None = None

    def _improved(self, value: float) -> bool:
        if self.mode == "max":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def on_epoch_end(self, trainer, logs):
        if self.monitor not in logs:
            return
        value = float(logs[self.monitor])
        if self._improved(value):
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = logs["epoch"]
            trainer.stop_training = True

    def state_dict(self) -> dict:
        return {"best": self.best, "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.best = float(state.get("best", self.best))
        self.wait = int(state.get("wait", 0))
        self.stopped_epoch = state.get("stopped_epoch")


class StopAtEpoch(Callback):
    """Stop after epoch ``epoch`` of a longer schedule (the learning-rate schedule still spans all epochs): how a
    stopping epoch chosen on validation is reproduced without validation (e.g. when refitting on train+val)."""

    def __init__(self, epoch: int):
        if epoch < 1:
            raise ValueError(f"StopAtEpoch: epoch must be >= 1, got {epoch}")
        self.epoch = int(epoch)

    def on_epoch_end(self, trainer, logs):
        if logs["epoch"] >= self.epoch:
            trainer.stop_training = True
