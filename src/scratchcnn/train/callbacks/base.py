"""Callback: hooks the Trainer calls around epochs and batches; ``state_dict`` makes them resumable.

``logs`` at batch end: ``{"epoch", "step", "loss", "accuracy", "lr"}`` (running means over the epoch so far);
at epoch end: ``{"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}`` (``val_*`` only
with validation data). Epochs are numbered from 1. A callback stops training by setting
``trainer.stop_training = True``.
"""
from __future__ import annotations

import contextlib
from typing import Any

__all__ = ["Callback", "CallbackList"]


class Callback:
    """Base class; every hook is optional."""

    def on_train_begin(self, trainer: Any) -> None:
        pass

    def on_epoch_begin(self, trainer: Any, epoch: int, num_batches: int | None) -> None:
        pass

    def on_batch_end(self, trainer: Any, logs: dict) -> None:
        pass

    def on_epoch_end(self, trainer: Any, logs: dict) -> None:
        pass

    def on_train_end(self, trainer: Any, logs: dict) -> None:
        pass

    def state_dict(self) -> dict:
        """JSON-ready state saved in the resume checkpoint."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class CallbackList(Callback):
    """Calls each callback in order; state is keyed by class name (plus an index for duplicates)."""

    def __init__(self, callbacks: list[Callback] | None = None):
        self.callbacks = list(callbacks or [])

    def _keys(self) -> list[str]:
        seen: dict[str, int] = {}
        keys = []
        for cb in self.callbacks:
            name = type(cb).__name__
            seen[name] = seen.get(name, 0) + 1
            keys.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
        return keys

    def on_train_begin(self, trainer):
        for i, cb in enumerate(self.callbacks):
            try:
                cb.on_train_begin(trainer)
            except BaseException:
                with contextlib.suppress(Exception):    # the callbacks already started are ended (writers closed)
                    self._end(self.callbacks[:i], trainer, {})
                raise

    def on_epoch_begin(self, trainer, epoch, num_batches):
        for cb in self.callbacks:
            cb.on_epoch_begin(trainer, epoch, num_batches)

    def on_batch_end(self, trainer, logs):
        for cb in self.callbacks:
            cb.on_batch_end(trainer, logs)

    def on_epoch_end(self, trainer, logs):
        for cb in self.callbacks:
            cb.on_epoch_end(trainer, logs)

    def on_train_end(self, trainer, logs):
        self._end(self.callbacks, trainer, logs)

    @staticmethod
    def _end(callbacks: list[Callback], trainer, logs) -> None:
        """``on_train_end`` of every callback, also after one raised (the first error is raised at the end)."""
        first: BaseException | None = None
        for cb in callbacks:
            try:
                cb.on_train_end(trainer, logs)
            except BaseException as exc:
                first = first or exc
        if first is not None:
            raise first

    def state_dict(self) -> dict:
        return {k: cb.state_dict() for k, cb in zip(self._keys(), self.callbacks)}

    def load_state_dict(self, state: dict) -> None:
        for k, cb in zip(self._keys(), self.callbacks):
            if k in state:
                cb.load_state_dict(state[k])
