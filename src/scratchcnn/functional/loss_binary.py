"""Binary cross-entropy losses, with PyTorch's formulas: binary_cross_entropy (of probabilities) and
binary_cross_entropy_with_logits (sigmoid fused in, stable for any logit). Gradients w.r.t. ``weight``/``pos_weight``
are not computed.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Context, Function
from ..tensor import Tensor
from ._loss_common import _as_tensor_like, _reduce, _reduction, _scaled_grad, _target_for, _weight
from .activation_smooth import _sigmoid, _softplus


def _softplus_neg(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(-x)), stable for any x."""
    return _softplus(-x)


class BCEWithLogits(Function):
    """loss = (1 - y) x + (1 + (pw - 1) y) log(1 + exp(-x)), times ``weight``."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray, weight: np.ndarray | None,
                pos_weight: np.ndarray | None, reduction: str) -> np.ndarray:
        sp = _softplus_neg(x)
        if pos_weight is not None:
            lw = (pos_weight - 1) * y + 1
            per = (1 - y) * x + lw * sp
        else:
            per = (1 - y) * x + sp
        if weight is not None:
            per = per * weight
        ctx.save_for_backward(x, y, weight, pos_weight, sp)
        ctx.reduction = reduction
        return _reduce(per, reduction, per.size)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        x, y, weight, pos_weight, sp = ctx.saved
        if ctx.reduction == "mean":
            g = g / x.size
        if weight is not None:
            g = g * weight
        gx = gy = None
        if ctx.needs_input_grad[0]:
            sig_neg = _sigmoid(-x)
            if pos_weight is not None:
                gx = g * ((1 - y) - ((pos_weight - 1) * y + 1) * sig_neg)
            else:
                gx = g * ((1 - y) - sig_neg)
            gx = np.broadcast_to(gx, x.shape)
        if ctx.needs_input_grad[1]:
            gy = g * (-x + (pos_weight - 1) * sp) if pos_weight is not None else g * -x
            gy = np.broadcast_to(gy, y.shape)
        return gx, gy, None, None, None


_BCE_EPS = 1e-12


class BinaryCrossEntropy(Function):
    """-w (y log x + (1 - y) log(1 - x)), each log clamped to >= -100 (PyTorch). Gradients: input
    w (x - y) / max(x (1 - x), 1e-12); target w (log(1 - x) - log x) (PyTorch's -logit(x), not clamped)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray, w: np.ndarray | None, reduction: str) -> np.ndarray:
        t = x.dtype.type
        with np.errstate(divide="ignore"):
            lx, l1x = np.log(x), np.log1p(-x)
        per = np.maximum(l1x, t(-100))
        per *= y - 1
        per -= y * np.maximum(lx, t(-100))
        if w is not None:
            per = per * w
        ctx.save_for_backward(x, y, w, lx, l1x)
        ctx.reduction = reduction
        return _reduce(per, reduction, per.size)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        x, y, w, lx, l1x = ctx.saved
        s = _scaled_grad(g, ctx.reduction, x.size)
        if w is not None:
            s = s * w
        gx = gy = None
        if ctx.needs_input_grad[0]:
            gx = (x - y) / np.maximum((1 - x) * x, x.dtype.type(_BCE_EPS)) * s
        if ctx.needs_input_grad[1]:
            with np.errstate(invalid="ignore"):
                gy = l1x - lx
                gy *= s
        return gx, gy, None, None


# ---- public
def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     reduction: str = "mean", pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid + binary cross entropy in one stable op (PyTorch's ``F.binary_cross_entropy_with_logits``).

    Args:
        input: logits, any shape. target: same shape, values in [0, 1].
        weight: broadcasts to the input; rescales each element's loss.
        pos_weight: broadcasts along the last (class) axis; weight of positive examples.
    """
    op = "binary_cross_entropy_with_logits"
    reduction = _reduction(reduction, op)
    target = _as_tensor_like(target, input)
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be floating point, got dtype {input.dtype}")
    if target.shape != input.shape:
        raise ValueError(f"{op}: target size {target.shape} must be the same as input size {input.shape}")
    if target.dtype != input.dtype:
        target = target.astype(input.dtype)
    w = _weight(weight, input.data, op)
    pw = _weight(pos_weight, input.data, op)
    for name, arr in (("weight", w), ("pos_weight", pw)):
        if arr is not None:
            try:
                ok = np.broadcast_shapes(arr.shape, input.shape) == input.shape
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"{op}: {name} of shape {arr.shape} does not broadcast to input {input.shape}")
    return BCEWithLogits.apply(input, target, w, pw, reduction)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, *,
                         reduction: str = "mean") -> Tensor:
    """Binary cross entropy of probabilities: -w (y log x + (1 - y) log(1 - x)), each log clamped to >= -100
    (so x = 0 or 1 gives a finite loss, as PyTorch).

    Args:
        input: probabilities in [0, 1], any shape. target: the input's shape (no broadcasting), values in [0, 1].
        weight: broadcasts to the input's shape; rescales each element's loss (not differentiated).
    Raises:
        ValueError: a shape mismatch, or an input/target element outside [0, 1] (NaN included), as PyTorch.
    """
    op = "binary_cross_entropy"
    reduction = _reduction(reduction, op)
    target = _target_for(input, target, op)
    if target.shape != input.shape:
        raise ValueError(f"{op}: target size {target.shape} must be the same as input size {input.shape}")
    for name, arr in (("input", input.data), ("target", target.data)):
        inside = (arr >= 0) & (arr <= 1)
        if not inside.all():
            bad = arr[~inside].reshape(-1)[0]
            raise ValueError(f"{op}: all elements of {name} should be between 0 and 1, found {bad}")
    w = _weight(weight, input.data, op)
    if w is not None:
        try:
            ok = np.broadcast_shapes(w.shape, input.shape) == input.shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{op}: weight of shape {w.shape} does not broadcast to input {input.shape}")
    return BinaryCrossEntropy.apply(input, target, w, reduction)


__all__ = ["binary_cross_entropy_with_logits", "binary_cross_entropy"]
