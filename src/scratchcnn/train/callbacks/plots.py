"""Training curves and confusion matrix as PNG (matplotlib with the non-interactive Agg backend, lazily)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .base import Callback

__all__ = ["plot_history", "plot_confusion_matrix", "CurvePlotter"]


def _pyplot():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path) -> Path:
    from ...io.atomic import atomic_write_bytes
    import io as _io
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return atomic_write_bytes(path, buf.getvalue())


def plot_history(history: Sequence[dict], path: str | Path) -> Path:
    """Loss and accuracy per epoch (train and, if present, validation) side by side; returns the path."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key, title in ((axes[0], "loss", "loss"), (axes[1], "accuracy", "accuracy")):
        ax.plot(epochs, [h[key] for h in history], marker="o", label="train")
        if any(f"val_{key}" in h for h in history):
            ax.plot([h["epoch"] for h in history if f"val_{key}" in h],
                    [h[f"val_{key}"] for h in history if f"val_{key}" in h], marker="o", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    try:
        return _save(fig, Path(path))
    finally:
        plt.close(fig)


def plot_confusion_matrix(cm: Sequence[Sequence[int]], class_names: Sequence[str], path: str | Path,
                          title: str = "confusion matrix") -> Path:
    """Heat map of counts (rows: true class, columns: predicted) with the numbers written in; returns the path."""
    import numpy as np
    plt = _pyplot()
    cm = np.asarray(cm)
    k = cm.shape[0]
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * k, 0.8 + 0.5 * k))
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), labels=list(class_names), rotation=45, ha="right")
    ax.set_yticks(range(k), labels=list(class_names))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    thresh = cm.max() / 2 if cm.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > thresh else "black")
    try:
        return _save(fig, Path(path))
    finally:
        plt.close(fig)


class CurvePlotter(Callback):
    """Redraws ``<out>/curves.png`` after every epoch."""

    def __init__(self, out_dir: str | Path):
        self.path = Path(out_dir) / "curves.png"

    def on_epoch_end(self, trainer, logs):
        plot_history(trainer.history, self.path)
