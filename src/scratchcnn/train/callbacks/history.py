"""Per-epoch history written as JSON and CSV after every epoch (atomic writes)."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from .base import Callback

__all__ = ["HistoryWriter", "history_to_csv"]

_ORDER = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"]


def history_to_csv(history: list[dict]) -> str:
    """CSV text with a header; known columns first, in a fixed order."""
    keys: list[str] = [k for k in _ORDER if any(k in row for row in history)]
    for row in history:
        keys += [k for k in row if k not in keys]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: row.get(k, "") for k in keys})
    return buf.getvalue()


class HistoryWriter(Callback):
    """Writes ``trainer.history`` to ``<out>/history.json`` and ``<out>/history.csv``."""

    def __init__(self, out_dir: str | Path):
        self.json_path = Path(out_dir) / "history.json"
        self.csv_path = Path(out_dir) / "history.csv"

    def on_epoch_end(self, trainer, logs):
        from ...io.atomic import atomic_write_text
        atomic_write_text(self.json_path, json.dumps(trainer.history, indent=2) + "\n")
        atomic_write_text(self.csv_path, history_to_csv(trainer.history))
