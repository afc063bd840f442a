"""Figures without pyplot: a matplotlib ``Figure`` rendered by the Agg backend to PNG bytes or a file.

No global pyplot state is touched (safe in threads and tests, nothing to close), and no ``bbox_inches="tight"``:
a figure of ``w x h`` inches at ``dpi`` is exactly ``round(w*dpi) x round(h*dpi)`` pixels, so callers (and
tests) know every picture's size in advance. matplotlib is imported only when a figure is made.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Picture", "new_figure", "png_bytes", "save_figure", "DPI"]

DPI = 100


@dataclass
class Picture:
    """A written PNG: its path, its size in pixels and what the plot found (class, layer, ...)."""

    path: Path
    width: int
    height: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels, as PIL reports it."""
        return self.width, self.height

    def to_dict(self) -> dict:
        return {"out": str(self.path), "width": self.width, "height": self.height, **self.info}


def new_figure(width: float, height: float, dpi: int = DPI, constrained: bool = True):
    """A ``matplotlib.figure.Figure`` of ``width x height`` inches, with constrained layout unless told not to
    (big grids of small axes lay out much faster by hand)."""
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height), dpi=dpi, layout="constrained" if constrained else None)


def png_bytes(fig) -> bytes:
    """Render ``fig`` to PNG (Agg) at its own dpi; the image is exactly its figure size in pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    return buf.getvalue()


def figure_pixels(fig) -> tuple[int, int]:
    w, h = fig.get_size_inches() * fig.dpi
    return int(round(w)), int(round(h))


def save_figure(fig, path: str | os.PathLike, **info: Any) -> Picture:
    """Write ``fig`` as a PNG to ``path`` atomically (folders created); returns the :class:`Picture`."""
    from ..io.atomic import atomic_write_bytes
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"pictures are written as PNG; give an output file ending in .png, got {path}")
    if path.is_dir():
        raise ValueError(f"output {path} is a directory; give a file name ending in .png")
    data = png_bytes(fig)
    atomic_write_bytes(path, data)
    w, h = figure_pixels(fig)
    return Picture(path=path, width=w, height=h, info=dict(info))
