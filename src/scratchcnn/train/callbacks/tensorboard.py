"""TensorBoard event files via tensorboardX (imported only when this callback starts)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import Callback

__all__ = ["TensorBoardLogger"]


class TensorBoardLogger(Callback):
    """Scalars ``train/loss`` every ``log_every`` steps and ``epoch/*`` (loss, accuracy, val_*, lr) per epoch."""

    def __init__(self, log_dir: str | Path, log_every: int = 50):
        self.log_dir = Path(log_dir)
        self.log_every = max(1, int(log_every))
        self._writer: Any = None

    def on_train_begin(self, trainer):
        try:
            from tensorboardX import SummaryWriter
        except ImportError as exc:  # pragma: no cover - tensorboardX is a dependency
            raise RuntimeError("TensorBoard logging needs tensorboardX (pip install tensorboardX)") from exc
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._writer = SummaryWriter(logdir=str(self.log_dir))

    def on_batch_end(self, trainer, logs):
        if self._writer is not None and trainer.global_step % self.log_every == 0:
            self._writer.add_scalar("train/loss", logs["last_loss"], trainer.global_step)
            self._writer.add_scalar("train/lr", logs["lr"], trainer.global_step)

    def on_epoch_end(self, trainer, logs):
        if self._writer is None:
            return
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
            if key in logs:
                self._writer.add_scalar(f"epoch/{key}", logs[key], logs["epoch"])
        self._writer.flush()

    def on_train_end(self, trainer, logs):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
