"""Progress bar (tqdm, imported lazily) on stderr with live loss and accuracy, plus one line per epoch."""
from __future__ import annotations

import sys
from typing import Any, TextIO

from .base import Callback

__all__ = ["ProgressBar"]


class ProgressBar(Callback):
    """A tqdm bar per epoch; ``enabled=False`` makes it silent. Writes to ``file`` (default stderr)."""

    def __init__(self, enabled: bool = True, file: TextIO | None = None, refresh_every: int = 10):
        self.enabled = enabled
        self.file = file
        self.refresh_every = max(1, int(refresh_every))
        self._bar: Any = None
        self._total_epochs = 0

    def _out(self) -> TextIO:
        return self.file if self.file is not None else sys.stderr

    def on_train_begin(self, trainer):
        self._total_epochs = trainer.epochs
        if self.enabled and trainer.epoch > 0:
            print(f"resuming after epoch {trainer.epoch}/{trainer.epochs} (step {trainer.global_step})",
                  file=self._out(), flush=True)

    def on_epoch_begin(self, trainer, epoch, num_batches):
        if not self.enabled:
            return
        from tqdm.auto import tqdm
        self._bar = tqdm(total=num_batches, desc=f"epoch {epoch}/{self._total_epochs}", file=self._out(),
                         unit="batch", leave=False, dynamic_ncols=True)

    def on_batch_end(self, trainer, logs):
        if self._bar is None:
            return
        self._bar.update(1)
        if logs["step"] % self.refresh_every == 0:
            self._bar.set_postfix(loss=f"{logs['loss']:.4f}", acc=f"{logs['accuracy']:.4f}", refresh=False)

    def on_epoch_end(self, trainer, logs):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if not self.enabled:
            return
        parts = [f"epoch {logs['epoch']}/{self._total_epochs}", f"loss {logs['loss']:.4f}",
                 f"acc {logs['accuracy']:.4f}"]
        if "val_loss" in logs:
            parts += [f"val_loss {logs['val_loss']:.4f}", f"val_acc {logs['val_accuracy']:.4f}"]
        parts += [f"lr {logs['lr']:.2e}", f"{logs['seconds']:.1f}s"]
        print("  ".join(parts), file=self._out(), flush=True)

    def on_train_end(self, trainer, logs):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
