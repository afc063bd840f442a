"""Embedding lookup: integer indices of any shape -> rows of a (num_embeddings, dim) weight matrix.

The backward scatters output gradients into the rows that were read (sort + segment sum, so repeated indices
accumulate); the ``padding_idx`` row never receives gradient.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Context, Function
from ..tensor import Tensor


def scatter_add_rows(idx: np.ndarray, rows: np.ndarray, num: int) -> np.ndarray:
    """out[k] = sum of ``rows[i]`` over i with ``idx[i] == k``; idx (M,) int, rows (M, D) -> (num, D)."""
    d = rows.shape[1]
    out = np.zeros(num * d, dtype=rows.dtype)
    if idx.size == 0:
        return out.reshape(num, d)
    # one flat unbuffered add over element keys idx*D + column: NumPy's 1-D ``add.at`` fast path is ~5x faster
    # than sorting + ``add.reduceat`` over rows when most ids occur only a few times (texts)
    keys = (idx.astype(np.int64, copy=False)[:, None] * d + np.arange(d)).reshape(-1)
    np.add.at(out, keys, np.ascontiguousarray(rows).reshape(-1))
    return out.reshape(num, d)


class Embedding(Function):
    @staticmethod
    def forward(ctx: Context, weight: np.ndarray, idx: np.ndarray, padding_idx: int | None,
                scale_grad_by_freq: bool) -> np.ndarray:
        ctx.save_for_backward(idx)
        ctx.num, ctx.padding_idx, ctx.freq = weight.shape[0], padding_idx, scale_grad_by_freq
        return weight[idx]

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (idx,) = ctx.saved
        flat = idx.reshape(-1)
        rows = g.reshape(flat.size, -1)
        if ctx.freq:
            counts = np.bincount(flat, minlength=ctx.num)
            rows = rows / counts[flat, None].astype(rows.dtype)
        gw = scatter_add_rows(flat, rows, ctx.num)
        if ctx.padding_idx is not None:
            gw[ctx.padding_idx] = 0
        return gw, None, None, None


def _renorm_(weight: np.ndarray, idx: np.ndarray, max_norm: float, norm_type: float) -> None:
    """Rescale, in place, the referenced rows whose ``norm_type``-norm exceeds ``max_norm`` (PyTorch rule)."""
    rows = np.unique(idx)
    w = weight[rows]
    norms = np.linalg.norm(w, ord=norm_type, axis=1)
    big = norms > max_norm
    if big.any():
        scale = (max_norm / (norms[big] + 1e-7)).astype(weight.dtype)
        weight[rows[big]] = w[big] * scale[:, None]


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False) -> Tensor:
    """Look up rows of ``weight`` (num_embeddings, dim) at integer ``input`` (any shape) -> (*input.shape, dim).

    Args:
        padding_idx: this row (negative counts from the end) gets no gradient.
        max_norm: if given, referenced rows with norm above it are rescaled IN PLACE (on ``weight.data``)
            to norm ``max_norm`` before the lookup, as PyTorch does.
        norm_type: the p of the p-norm for ``max_norm``.
        scale_grad_by_freq: divide each row's gradient by how often its index occurs in ``input``.
    """
    op = "embedding"
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        raise ValueError(f"{op}: weight must be a 2-D Tensor (num_embeddings, dim), "
                         f"got {getattr(weight, 'shape', type(weight).__name__)}")
    idx = input.data if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be integers, got dtype {idx.dtype}")
    num = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= num):
        bad = idx[(idx < 0) | (idx >= num)].reshape(-1)[0]
        raise ValueError(f"{op}: index {int(bad)} is out of range for {num} embeddings (valid: 0..{num - 1})")
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"{op}: padding_idx {padding_idx} must be within [-{num}, {num - 1}]")
        padding_idx = int(padding_idx) % num
    if max_norm is not None:
        _renorm_(weight.data, idx, float(max_norm), float(norm_type))
        weight._version += 1    # torch's embedding_renorm_ (a graph that saved the old rows then refuses backward)
    return Embedding.apply(weight, idx.astype(np.intp, copy=False), padding_idx, bool(scale_grad_by_freq))


__all__ = ["embedding"]
