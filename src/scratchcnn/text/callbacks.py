"""Trainer callbacks used by text training: weight constraints after each step, and weight averaging."""
from __future__ import annotations

import numpy as np

from ..train.callbacks.base import Callback

__all__ = ["ConstraintCallback", "WeightEMA"]


class ConstraintCallback(Callback):
    """Calls ``model.apply_constraints()`` after every optimiser step (Kim's max-norm on the output layer)."""

    def on_batch_end(self, trainer, logs):
        fn = getattr(trainer.model, "apply_constraints", None)
        if fn is not None:
            fn()


class WeightEMA(Callback):
    """Polyak averaging: an exponential moving average of the trainable weights, updated after every step
    with decay ``min(decay, (1 + t) / (10 + t))`` (t = steps so far, so early averages are not dominated by
    the initial weights).

    At the end of each epoch the averaged weights are swapped into the model, so validation, the best
    checkpoint and test use them; the raw weights are swapped back when the next epoch starts. Put it after
    any callback that changes weights on batch end (e.g. ``ConstraintCallback``).
    """

    def __init__(self, decay: float = 0.999):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"WeightEMA: decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.shadow: list[np.ndarray] = []
        self.raw: list[np.ndarray] | None = None
        self.params: list = []
        self.steps = 0
        self.num_batches: int | None = None

    def on_train_begin(self, trainer):
        self.params = [p for p in trainer.model.parameters() if p.requires_grad]
        self.shadow = [p.data.copy() for p in self.params]
        self.raw, self.steps = None, 0

    def on_epoch_begin(self, trainer, epoch, num_batches):
        self._restore()
        self.num_batches = num_batches

    def _restore(self) -> None:
        if self.raw is not None:
            for p, r in zip(self.params, self.raw):
                p.data[...] = r
                p._version += 1     # in place (a graph that saved the averaged weights refuses backward)
            self.raw = None

    def on_batch_end(self, trainer, logs):
        self.steps += 1
        d = min(self.decay, (1.0 + self.steps) / (10.0 + self.steps))
        for p, s in zip(self.params, self.shadow):
            s += (1.0 - d) * (p.data - s)
        if self.num_batches is not None and logs["step"] == self.num_batches:
            self.raw = [p.data.copy() for p in self.params]
            for p, s in zip(self.params, self.shadow):
                p.data[...] = s
                p._version += 1
