"""Weight penalties over an iterable of tensors: l1_penalty = sum |w|, l2_penalty = sum w^2.

Both are plain sums with no 0.5 or lambda factor: ``loss + lam * l2_penalty(params)`` adds ``2 * lam * w``
to each gradient, while SGD's ``weight_decay=wd`` corresponds to ``0.5 * wd * l2_penalty(params)``. The
scaling is the caller's choice.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from ..autograd import Context, Function
from ..tensor import Tensor


class _Penalty(Function):
    @staticmethod
    def forward(ctx: Context, kind: str, *ws: np.ndarray) -> np.ndarray:
        dtype = np.result_type(*ws)
        ctx.kind = kind
        ctx.save_for_backward(*ws)
        total = dtype.type(0)
        for w in ws:
            total = total + (np.abs(w).sum(dtype=dtype) if kind == "l1" else np.vdot(w, w).astype(dtype))
        return np.asarray(total, dtype=dtype)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        grads: list = [None]
        for w, need in zip(ctx.saved, ctx.needs_input_grad[1:]):
            if not need:
                grads.append(None)
            elif ctx.kind == "l1":
                grads.append(np.sign(w) * g.astype(w.dtype))
            else:
                grads.append(w * (2 * g).astype(w.dtype))
        return tuple(grads)


def _collect(params: Iterable[Tensor], op: str) -> list[Tensor]:
    if isinstance(params, Tensor):
        params = [params]
    ps = list(params)
    for i, p in enumerate(ps):
        if not isinstance(p, Tensor):
            raise TypeError(f"{op}: expected an iterable of Tensors, item {i} is {type(p).__name__}")
        if p.dtype.kind != "f":
            raise TypeError(f"{op}: expected floating tensors, item {i} has dtype {p.dtype}")
    return ps


def l1_penalty(params: Iterable[Tensor]) -> Tensor:
    """sum over all tensors of sum |w| (a scalar); gradient sign(w) (0 at 0). Empty input gives 0."""
    ps = _collect(params, "l1_penalty")
    if not ps:
        return Tensor(0.0)
    return _Penalty.apply("l1", *ps)


def l2_penalty(params: Iterable[Tensor]) -> Tensor:
    """sum over all tensors of sum w^2 (a scalar, no 0.5 factor); gradient 2 w. Empty input gives 0."""
    ps = _collect(params, "l2_penalty")
    if not ps:
        return Tensor(0.0)
    return _Penalty.apply("l2", *ps)


__all__ = ["l1_penalty", "l2_penalty"]
