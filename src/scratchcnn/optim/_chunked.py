"""Shared machinery of the element-wise optimisers (RMSprop, Adagrad, NAdam, Adamax): a parameter's arrays are
updated in flat cache-sized chunks (``adam._chunks``), the chunks of a big tensor split over the cores, each part
with its own small work rows; plus torch's in-place ``lerp_``. See ``adam.py`` for why chunking pays."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..parallel import parallel_for
from .adam import _chunks
from .optimizer import check_betas, check_range  # noqa: F401  (re-exported)


def run_chunked(update: Callable[..., None], arrays: tuple, hyper: Any, n_work: int = 2) -> None:
    """Call ``update(*chunk, work, hyper)`` on matching flat chunks of ``arrays`` = (param, grad, *state)
    (``None`` entries stay ``None``); ``work`` holds ``n_work`` rows as long as the longest chunk."""
    chunks = list(_chunks(arrays))
    dtype = arrays[0].dtype

    def part(lo: int, hi: int) -> None:
        work = np.empty((n_work, max(c[0].size for c in chunks[lo:hi])), dtype=dtype)
        for chunk in chunks[lo:hi]:
            update(*chunk, work, hyper)

    parallel_for(part, len(chunks), arrays[0].size)


def work_rows(work: np.ndarray, like: np.ndarray) -> list[np.ndarray]:
    """The work rows of ``work`` as arrays shaped like ``like`` (a chunk)."""
    n = like.size
    return [work[i, :n].reshape(like.shape) for i in range(work.shape[0])]


def lerp_(start: np.ndarray, end: np.ndarray, weight: float, tmp: np.ndarray) -> None:
    """``start.lerp_(end, weight)`` in place, with torch's two formulas: ``start + w * (end - start)`` for
    ``|w| < 0.5``, else ``end - (end - start) * (1 - w)`` (exact at ``w = 1``)."""
    np.subtract(end, start, out=tmp)
    if abs(weight) < 0.5:
        tmp *= weight
        start += tmp
    else:
        tmp *= 1.0 - weight
        np.subtract(end, tmp, out=start)


def add_scaled(dst: np.ndarray, src: np.ndarray, alpha: float, tmp: np.ndarray) -> None:
    """``dst += alpha * src`` (torch's ``add_(src, alpha=alpha)``), through ``tmp``."""
    np.multiply(src, alpha, out=tmp)
    dst += tmp


def prepare_grad(g: np.ndarray, p: np.ndarray, maximize: bool, wd: float, s: np.ndarray) -> np.ndarray:
    """``g`` negated when maximising, plus ``wd * p`` (torch's ``grad.add(param, alpha=wd)``), written into
    ``s`` when it changes (the ``.grad`` array itself is never modified); returns the array holding it."""
    if wd != 0:
        np.multiply(p, wd, out=s)
        if maximize:
            s -= g
        else:
            s += g
        return s
    if maximize:
        np.negative(g, out=s)
        return s
    return g


__all__ = ["run_chunked", "work_rows", "lerp_", "add_scaled", "prepare_grad", "check_range", "check_betas"]
