"""Regression losses, with PyTorch's formulas: mse_loss, l1_loss, smooth_l1_loss, huber_loss. Input and target
broadcast (with PyTorch's warning); the gradients are summed back to each operand's shape.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..autograd import Context, Function, unbroadcast
from ..tensor import Tensor
from ._loss_common import _as_tensor_like, _broadcast_pair, _reduce, _reduction, _scaled_grad, _target_for, _weight


class MSELoss(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray, reduction: str) -> np.ndarray:
        diff = x - y
        ctx.save_for_backward(diff)
        ctx.shapes, ctx.reduction = (x.shape, y.shape), reduction
        sq = diff * diff
        return _reduce(sq, reduction, sq.size)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (diff,) = ctx.saved
        if ctx.reduction == "mean":
            g = g / diff.size
        d = (2 * g) * diff
        nx, ny = ctx.needs_input_grad[:2]
        return (unbroadcast(d, ctx.shapes[0]) if nx else None,
                unbroadcast(-d, ctx.shapes[1]) if ny else None, None)


def _pair_grads(ctx: Context, gd: np.ndarray, neg_target: bool = True) -> tuple:
    """(d/dinput, d/dtarget) from the gradient of d = input - target, reduced to each operand's shape."""
    nx, ny = ctx.needs_input_grad[:2]
    return (unbroadcast(gd, ctx.shapes[0]) if nx else None,
            unbroadcast(-gd if neg_target else gd, ctx.shapes[1]) if ny else None)


def _sign(d: np.ndarray) -> np.ndarray:
    """sign(d) with sign(NaN) = 0 (PyTorch's ``sgn``, the gradient of ``abs``: 0 at d == 0 and for NaN)."""
    s = (d > 0).astype(d.dtype)
    s -= d < 0
    return s


class L1Loss(Function):
    """|x - y| (times ``weight``); gradient sign(x - y), 0 where x == y. Weighted "mean" divides by sum(weight)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray, w: np.ndarray | None, reduction: str) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            d = x - y                          # inf - inf: NaN, silently (as PyTorch)
        per = np.abs(d)
        if w is not None:
            per *= w
        denom = per.size if w is None else w.sum()
        ctx.save_for_backward(d, w)
        ctx.shapes, ctx.reduction, ctx.denom = (x.shape, y.shape), reduction, denom
        return _reduce(per, reduction, denom)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        d, w = ctx.saved
        gd = _sign(d)
        gd *= _scaled_grad(g, ctx.reduction, ctx.denom)
        if w is not None:
            gd *= w
        return (*_pair_grads(ctx, gd), None, None)


class HuberLoss(Function):
    """Huber with threshold ``delta``, times ``scale``: with z = |x - y| and c = min(z, delta),
    loss = c (z - c / 2) * scale (0.5 z^2 inside, delta (z - delta / 2) outside); gradient
    clip(x - y, -delta, delta) * scale. huber_loss: scale 1; smooth_l1_loss: delta = beta, scale 1 / beta.
    Weighted "mean" divides by the number of elements (PyTorch's huber_loss)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray, w: np.ndarray | None, delta: float, scale: float,
                reduction: str) -> np.ndarray:
        t = x.dtype.type
        with np.errstate(invalid="ignore"):
            d = x - y
        z = np.abs(d)
        c = np.minimum(z, t(delta))
        z -= t(0.5) * c
        z *= c
        if scale != 1:
            z *= t(scale)
        if w is not None:
            z *= w
        ctx.save_for_backward(d, w)
        ctx.shapes, ctx.reduction, ctx.delta, ctx.scale = (x.shape, y.shape), reduction, delta, scale
        return _reduce(z, reduction, z.size)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        d, w = ctx.saved
        t = d.dtype.type
        gd = np.clip(d, t(-ctx.delta), t(ctx.delta))
        if ctx.scale != 1:
            gd *= t(ctx.scale)
        gd *= _scaled_grad(g, ctx.reduction, d.size)
        if w is not None:
            gd *= w
        return (*_pair_grads(ctx, gd), None, None, None, None)


# ---- public
def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error. Shapes should match; if they only broadcast, a warning is issued and the
    broadcast result is used (PyTorch's behaviour)."""
    op = "mse_loss"
    reduction = _reduction(reduction, op)
    target = _as_tensor_like(target, input)
    if target.dtype != input.dtype:
        target = target.astype(input.dtype)
    if input.shape != target.shape:
        try:
            np.broadcast_shapes(input.shape, target.shape)
        except ValueError:
            raise ValueError(f"{op}: input shape {input.shape} and target shape {target.shape} "
                             "do not match (nor broadcast)") from None
        warnings.warn(f"{op}: target shape {target.shape} differs from input shape {input.shape}; "
                      "broadcasting will likely lead to incorrect results", UserWarning, stacklevel=2)
    return MSELoss.apply(input, target, reduction)


def _same_size_weight(weight, input: Tensor, op: str) -> np.ndarray | None:
    w = _weight(weight, input.data, op)
    if w is not None and w.shape != input.shape:
        raise ValueError(f"{op}: weight shape {w.shape} must be the same as input shape {input.shape}")
    return w


def l1_loss(input: Tensor, target: Tensor, *, reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean (or summed) absolute error |input - target|; gradient sign(input - target), 0 where equal.

    Shapes should match; if they only broadcast, a warning is issued and the broadcast result is used (PyTorch).
    ``weight`` (the input's shape) rescales each element; with "mean" the sum is divided by ``weight.sum()``.
    Differentiable in input and target (not weight)."""
    op = "l1_loss"
    reduction = _reduction(reduction, op)
    target = _target_for(input, target, op)
    _broadcast_pair(input, target, op, warn=True)
    return L1Loss.apply(input, target, _same_size_weight(weight, input, op), reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, *, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - beta / 2 (d = input - target); ``beta == 0`` is l1_loss.
    Broadcasting as ``l1_loss`` (with PyTorch's warning)."""
    op = "smooth_l1_loss"
    reduction = _reduction(reduction, op)
    if beta < 0:
        raise ValueError(f"{op}: beta must be >= 0 (smooth_l1_loss does not support negative values for beta), "
                         f"got {beta}")
    target = _target_for(input, target, op)
    _broadcast_pair(input, target, op, warn=True)
    if beta == 0:
        return L1Loss.apply(input, target, None, reduction)
    return HuberLoss.apply(input, target, None, float(beta), 1.0 / float(beta), reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """0.5 d^2 where |d| <= delta, else delta (|d| - delta / 2) (d = input - target); ``delta > 0``.
    ``weight`` (the input's shape) rescales each element ("mean" still divides by the element count, as
    PyTorch). Broadcasting as ``l1_loss`` (with PyTorch's warning)."""
    op = "huber_loss"
    reduction = _reduction(reduction, op)
    if not delta > 0:
        raise ValueError(f"{op}: delta must be > 0 (huber_loss does not support non-positive values for delta), "
                         f"got {delta}")
    target = _target_for(input, target, op)
    _broadcast_pair(input, target, op, warn=True)
    return HuberLoss.apply(input, target, _same_size_weight(weight, input, op), float(delta), 1.0, reduction)


__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"]
