"""Training curves and confusion matrix as PNG: the figures of ``scratchcnn.viz.runs`` (matplotlib's Agg canvas,
imported lazily; no pyplot, so the process's matplotlib backend and figures are left alone)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .base import Callback

__all__ = ["plot_history", "plot_confusion_matrix", "CurvePlotter"]


def plot_history(history: Sequence[dict], path: str | Path) -> Path:
    """Loss and accuracy (train and, if present, validation) and the learning rate per epoch, side by side;
    ``400 x 380`` pixels per panel. Returns the path."""
    from ...viz.figure import save_figure
    from ...viz.runs import curves_figure
    fig, _ = curves_figure(list(history))
    return save_figure(fig, path).path


def plot_confusion_matrix(cm: Sequence[Sequence[int]], class_names: Sequence[str], path: str | Path,
                          title: str = "confusion matrix") -> Path:
    """Counts (rows: true class, columns: predicted) written in cells coloured by the fraction of each true class;
    ``100*(s+1) x 100*s`` pixels with ``s = max(5, 1.6 + 0.55*classes)``. Returns the path."""
    from ...viz.figure import save_figure
    from ...viz.runs import confusion_figure
    fig, _ = confusion_figure(cm, list(class_names), title)
    return save_figure(fig, path).path


class _FigureMaker:
    """The two pyplot calls ``finetune.compare`` makes (``subplots``, ``close``) on a bare figure: no global
    backend is chosen and no figure registry is kept."""

    @staticmethod
    def subplots(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (6.4, 4.8), **kw):
        from ...viz.figure import new_figure
        fig = new_figure(*figsize, constrained=False)
        return fig, fig.subplots(nrows, ncols, **kw)

    @staticmethod
    def close(fig) -> None:
        pass


def _pyplot() -> type[_FigureMaker]:
    """What ``finetune.compare`` draws with (kept for it; new figures go through ``viz.figure``)."""
    return _FigureMaker


def _save(fig, path: Path) -> Path:
    """``fig`` as a PNG (110 dpi, cropped to its content) written atomically to ``path``."""
    import io as _io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from ...io.atomic import atomic_write_bytes
    FigureCanvasAgg(fig)
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return atomic_write_bytes(path, buf.getvalue())


class CurvePlotter(Callback):
    """Redraws ``<out>/curves.png`` after every epoch."""

    def __init__(self, out_dir: str | Path):
        self.path = Path(out_dir) / "curves.png"

    def on_epoch_end(self, trainer, logs):
        plot_history(trainer.history, self.path)
