"""Matrix products: matmul (batched, broadcasting) and linear (y = x W^T + b)."""
from __future__ import annotations

import numpy as np

from ..autograd import Context, Function, unbroadcast
from ..tensor import Tensor


class MatMul(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        a, b = ctx.saved
        na, nb = ctx.needs_input_grad
        a2 = a[None, :] if a.ndim == 1 else a          # (1, k)
        b2 = b[:, None] if b.ndim == 1 else b          # (k, 1)
        g2 = g
        if b.ndim == 1:  # restore the dropped trailing p axis first, then m (so 1-d @ 1-d works)
            g2 = np.expand_dims(g2, -1)
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        ga = gb = None
        if na:
            ga = np.matmul(g2, np.swapaxes(b2, -1, -2))
            ga = unbroadcast(ga, a2.shape).reshape(a.shape)
        if nb:
            gb = np.matmul(np.swapaxes(a2, -1, -2), g2)
            gb = unbroadcast(gb, b2.shape).reshape(b.shape)
        return ga, gb


_BIG_WEIGHT = 1 << 20
"""Weight elements (4 MB of float32) from which :class:`Linear` computes its forward as ``W @ x^T``."""


class Linear(Function):
    """y = x @ W^T + b for x of shape (..., in), W (out, in), b (out,) or any shape that broadcasts to y's."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
        ctx.save_for_backward(x, w)
        ctx.bias_shape = None if b is None else b.shape
        rows = x.size // max(1, x.shape[-1])
        if w.size >= _BIG_WEIGHT and rows * 4 <= w.shape[0]:
            # a big weight and few rows (seed001's fc1: 1024 x 6272, batch 64): OpenBLAS runs W @ x^T 12-26%
            # faster than x @ W^T (it blocks the big operand as A); the (out, rows) result is transposed back
            y = np.ascontiguousarray((w @ x.reshape(rows, -1).T).T).reshape(*x.shape[:-1], w.shape[0])
        else:
            y = x @ w.T
        if b is not None:
            y += b
        return y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        x, w = ctx.saved
        nx, nw, nb = ctx.needs_input_grad
        gx = g @ w if nx else None
        g2 = g.reshape(-1, g.shape[-1])
        gw = g2.T @ x.reshape(-1, x.shape[-1]) if nw else None
        gb = unbroadcast(g, ctx.bias_shape) if nb else None      # in the bias's own shape, whatever it is
        return gx, gw, gb


def matmul(a, b) -> Tensor:
    """Matrix product with NumPy/PyTorch semantics (1-D promotion, batch broadcasting)."""
    if not isinstance(a, Tensor):
        a = Tensor(a)
    if not isinstance(b, Tensor):
        b = Tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes {a.shape} and {b.shape}")
    ka = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        raise ValueError(f"matmul: inner dimensions differ: {a.shape} @ {b.shape} ({ka} != {kb})")
    try:
        return MatMul.apply(a, b)
    except ValueError:       # only the batch dims are left to disagree; NumPy's message names remapped shapes
        if a.ndim <= 2 or b.ndim <= 2:
            raise
        raise ValueError(f"matmul: batch dimensions {a.shape[:-2]} and {b.shape[:-2]} do not broadcast "
                         f"({a.shape} @ {b.shape})") from None


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Affine map ``x @ weight.T + bias``: x (..., in_features), weight (out_features, in_features) -> (...,
    out_features); a 1-D weight (in_features,) gives (...) as in PyTorch. ``bias`` is (out_features,) or any
    shape that broadcasts to the output's without enlarging it; its gradient keeps its shape."""
    if weight.ndim not in (1, 2):
        raise ValueError(f"linear: weight must be 1-D (in_features,) or 2-D (out_features, in_features), "
                         f"got shape {weight.shape}")
    if x.ndim < 1 or x.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: input of shape {x.shape} does not fit weight of shape {weight.shape} "
                         f"(expected last dim {weight.shape[-1]})")
    out_shape = x.shape[:-1] + weight.shape[:-1]
    if bias is not None:
        try:
            fits = np.broadcast_shapes(out_shape, bias.shape) == out_shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"linear: bias of shape {bias.shape} does not broadcast to the output shape "
                             f"{out_shape}; give it shape ({weight.shape[0] if weight.ndim == 2 else ''},)"
                             .replace("(,)", "()"))
    if weight.ndim == 1:         # (in,) -> (1, in), and the output's size-1 last axis dropped again
        y = Linear.apply(x, weight.reshape(1, -1), None).reshape(out_shape)
        return y if bias is None else y + bias
    return Linear.apply(x, weight, bias)


__all__ = ["matmul", "linear"]
