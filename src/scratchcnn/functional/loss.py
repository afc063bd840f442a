"""Losses over class distributions, with PyTorch's formulas: cross_entropy (fused log-softmax + NLL; class
indices or class probabilities), nll_loss, kl_div. loss_binary.py and loss_regression.py hold the others.

NaN in the input is not an error: it propagates to the loss (as in PyTorch), except for targets equal to
``ignore_index``, whose rows are skipped entirely. Gradients w.r.t. ``weight`` are not computed. This module
re-exports the losses of loss_binary.py and loss_regression.py, so imports from it keep working.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..autograd import Context, Function, unbroadcast
from ..tensor import Tensor
from ._loss_common import _broadcast_pair, _raw, _reduce, _reduction, _scaled_grad, _target_for, _weight
# re-exported (moved out of this file): public functions, their Functions, helpers other modules import from here
from .loss_binary import (BCEWithLogits, BinaryCrossEntropy, _softplus_neg, binary_cross_entropy,  # noqa: F401
                          binary_cross_entropy_with_logits)
from .loss_regression import HuberLoss, L1Loss, MSELoss, huber_loss, l1_loss, mse_loss, smooth_l1_loss  # noqa: F401


def _class_last(x: np.ndarray) -> np.ndarray:
    """(N, C, d1, ...) or (C,) -> (M, C) with the class axis last."""
    if x.ndim == 1:
        return x[None, :]
    if x.ndim == 2:
        return x
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _class_first(y2: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of ``_class_last`` for an (M, C) array and the original shape."""
    if len(shape) == 1:
        return y2.reshape(shape)
    if len(shape) == 2:
        return y2
    return np.moveaxis(y2.reshape((shape[0],) + shape[2:] + (shape[1],)), -1, 1)


def _check_class_input(x: np.ndarray, target: np.ndarray, weight: np.ndarray | None, op: str) -> None:
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: input must be floating point, got dtype {x.dtype}")
    if x.ndim == 0:
        raise ValueError(f"{op}: input must have shape (C,), (N, C) or (N, C, d1, ...), got a scalar")
    C = x.shape[0] if x.ndim == 1 else x.shape[1]
    if weight is not None and (weight.ndim != 1 or weight.shape[0] != C):
        raise ValueError(f"{op}: weight must have shape ({C},) (one per class), got {weight.shape}")


def _check_targets(x: np.ndarray, target: np.ndarray, ignore_index: int, op: str) -> np.ndarray:
    """Validate integer class targets against input (C,)/(N, C, d...); return the ignored-mask (M,)."""
    expected = () if x.ndim == 1 else (x.shape[0],) + x.shape[2:]
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: expected integer class indices of shape {expected}, got dtype {target.dtype}"
                        + (" (float targets must have the input's shape and hold class probabilities)"
                           if target.dtype.kind == "f" and op == "cross_entropy" else ""))
    if target.shape != expected:
        raise ValueError(f"{op}: target shape {target.shape} does not match input shape {x.shape} "
                         f"(expected {expected})")
    C = x.shape[0] if x.ndim == 1 else x.shape[1]
    t = target.reshape(-1)
    ignored = t == ignore_index
    bad = ~ignored & ((t < 0) | (t >= C))
    if bad.any():
        raise ValueError(f"{op}: target {int(t[bad][0])} is out of bounds for {C} classes "
                         f"(valid: 0..{C - 1} or ignore_index={ignore_index})")
    return ignored


def _grad_scale(g: np.ndarray, reduction: str, denom, n: int, dtype) -> np.ndarray:
    """Upstream gradient as a per-sample (M,) factor."""
    if reduction == "none":
        return g.reshape(-1).astype(dtype, copy=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = g / denom if reduction == "mean" else g
    return np.full(n, s, dtype=dtype)


class CrossEntropy(Function):
    """Log-softmax + NLL in one op, class-index targets. Per sample i with target t (not ignored):
    loss_i = -(1 - ls) w_t logp_it - (ls / C) sum_c w_c logp_ic; mean divides by sum_i w_{t_i}.
    Gradient w.r.t. the logits: p_i * sum_c q_ic - q_i with q_ic = (1 - ls) w_t [c == t] + (ls / C) w_c."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, target: np.ndarray, weight: np.ndarray | None, ignored: np.ndarray,
                reduction: str, ls: float) -> np.ndarray:
        shape = x.shape
        x2 = _class_last(x)
        M, C = x2.shape
        t = np.where(ignored, 0, target.reshape(-1))
        logp = x2 - x2.max(axis=1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
        rows = np.arange(M)
        dt = x.dtype.type
        keep = ~ignored
        wt = (weight[t] if weight is not None else np.ones(M, dtype=x.dtype)) * keep  # (M,)
        with np.errstate(invalid="ignore"):
            per = np.where(keep, -wt * logp[rows, t], dt(0))
            if ls > 0:
                smooth = -(logp @ weight if weight is not None else logp.sum(axis=1))
                per = dt(1 - ls) * per + np.where(keep, dt(ls / C) * smooth, dt(0))
        denom = wt.sum()
        ctx.save_for_backward(logp, t, wt, keep, weight)
        ctx.shape, ctx.reduction, ctx.ls, ctx.denom = shape, reduction, ls, denom
        if reduction == "none":
            return per.reshape(target.shape)
        return _reduce(per, reduction, denom)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        logp, t, wt, keep, weight = ctx.saved
        M, C = logp.shape
        ls = ctx.ls
        dt = logp.dtype
        s = np.where(keep, _grad_scale(g, ctx.reduction, ctx.denom, M, dt), dt.type(0))  # (M,)
        # sum_c q_ic: (1 - ls) w_t + (ls / C) sum_c w_c
        wsum = weight.sum() if weight is not None else C
        qsum = (1 - ls) * wt + (ls / C) * wsum * keep
        grad = np.exp(logp)
        grad *= (qsum * s)[:, None].astype(dt, copy=False)
        grad[np.arange(M), t] -= ((1 - ls) * wt * s).astype(dt, copy=False)
        if ls > 0:
            wrow = weight if weight is not None else np.ones(C, dtype=dt)
            grad -= ((ls / C) * s)[:, None].astype(dt, copy=False) * wrow[None, :].astype(dt, copy=False)
        if not keep.all():
            grad[~keep] = 0  # ignored rows: no gradient, even if their logits are NaN
        return _class_first(grad, ctx.shape), None, None, None, None, None


class SoftCrossEntropy(Function):
    """Cross entropy with class-probability targets of the input's shape:
    loss_i = -sum_c w_c ((1 - ls) y_ic + ls / C) logp_ic; mean divides by the number of samples."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray, weight: np.ndarray | None, reduction: str,
                ls: float) -> np.ndarray:
        shape = x.shape
        x2, y2 = _class_last(x), _class_last(y)
        M, C = x2.shape
        logp = x2 - x2.max(axis=1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
        q = y2 * (1 - ls) + ls / C if ls > 0 else y2
        if weight is not None:
            q = q * weight
        per = -(q * logp).sum(axis=1)
        ctx.save_for_backward(logp, q, weight)
        ctx.shape, ctx.reduction, ctx.ls = shape, reduction, ls
        if reduction == "none":
            return per.reshape(shape[:1] + shape[2:] if len(shape) > 1 else ())
        return _reduce(per, reduction, M)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        logp, q, weight = ctx.saved
        M, C = logp.shape
        s = _grad_scale(g, ctx.reduction, M, M, logp.dtype)[:, None]
        gx = gy = None
        if ctx.needs_input_grad[0]:
            gx = (np.exp(logp) * q.sum(axis=1, keepdims=True) - q) * s
            gx = _class_first(gx, ctx.shape)
        if ctx.needs_input_grad[1]:
            gy = -(1 - ctx.ls) * logp * s
            if weight is not None:
                gy = gy * weight
            gy = _class_first(gy, ctx.shape)
        return gx, gy, None, None, None


class NLLLoss(Function):
    """loss_i = -w_t x_it (0 where t == ignore_index); mean divides by sum_i w_{t_i}."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, target: np.ndarray, weight: np.ndarray | None, ignored: np.ndarray,
                reduction: str) -> np.ndarray:
        x2 = _class_last(x)
        M = x2.shape[0]
        t = np.where(ignored, 0, target.reshape(-1))
        keep = ~ignored
        wt = (weight[t] if weight is not None else np.ones(M, dtype=x.dtype)) * keep
        per = np.where(keep, -wt * x2[np.arange(M), t], x.dtype.type(0))
        denom = wt.sum()
        ctx.save_for_backward(t, wt, keep)
        ctx.shape, ctx.reduction, ctx.denom, ctx.dtype = x.shape, reduction, denom, x.dtype
        if reduction == "none":
            return per.reshape(target.shape)
        return _reduce(per, reduction, denom)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        t, wt, keep = ctx.saved
        M = t.shape[0]
        C = ctx.shape[0] if len(ctx.shape) == 1 else ctx.shape[1]
        s = _grad_scale(g, ctx.reduction, ctx.denom, M, ctx.dtype)
        grad = np.zeros((M, C), dtype=ctx.dtype)
        with np.errstate(invalid="ignore"):
            grad[np.arange(M), t] = np.where(keep, -(wt * s), 0)  # ignored rows: 0 even when s is inf
        return _class_first(grad, ctx.shape), None, None, None, None


class KLDiv(Function):
    """Pointwise KL term: y (log y - x) (as xlogy(y, y) - y x: 0 where y == 0), or exp(y) (y - x) for
    ``log_target``. Gradients as PyTorch's autograd of those formulas: input -y / -exp(y); target
    log y + y / y - x (NaN at y == 0, as torch's xlogy) / exp(y) (y - x) + exp(y)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray, reduction: str, log_target: bool) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            if log_target:
                e = np.exp(y)
                per = e * (y - x)
                aux = e
            else:
                ly = np.log(y)
                per = np.where(y == 0, y.dtype.type(0), y * ly) - y * x
                aux = ly
        if reduction == "batchmean":
            denom = x.shape[0] if x.ndim else 1
        else:
            denom = per.size
        ctx.save_for_backward(x, y, aux, per if log_target else None)
        ctx.shapes, ctx.log_target, ctx.denom = (x.shape, y.shape), log_target, denom
        ctx.reduction = "mean" if reduction == "batchmean" else reduction
        return _reduce(per, ctx.reduction, denom)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        x, y, aux, per = ctx.saved
        s = _scaled_grad(g, ctx.reduction, ctx.denom)
        nx, ny = ctx.needs_input_grad[:2]
        gx = gy = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if nx:
                gx = -(aux if ctx.log_target else y) * s
                gx = unbroadcast(np.broadcast_to(gx, np.broadcast_shapes(gx.shape, x.shape)), ctx.shapes[0])
            if ny:
                gy = per + aux if ctx.log_target else aux + y / y - x
                gy = unbroadcast(gy * s, ctx.shapes[1])
        return gx, gy, None, None


# ---- public
def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy between logits and targets (PyTorch's ``F.cross_entropy``).

    Args:
        input: logits (N, C), (N, C, d1, ...) or (C,).
        target: integer class indices (N,), (N, d1, ...) or (); or float class probabilities of the input's
            shape (then "mean" divides by the number of samples, and a non-negative ``ignore_index`` is an
            error, as in PyTorch).
        weight: optional (C,) class weights; with "mean" the loss is divided by the summed weights of the
            (non-ignored) targets, also for the label-smoothing term, exactly as PyTorch does.
        ignore_index: targets equal to it contribute neither loss nor gradient (nor weight).
        reduction: "mean" | "sum" | "none" (per-sample losses, shaped like the target).
        label_smoothing: in [0, 1]; mixes the one-hot target with the uniform distribution.
    Returns:
        A scalar, or per-sample losses with "none". All targets ignored with "mean" gives NaN (0/0), as in
        PyTorch. NaN logits give a NaN loss (not an error).
    """
    op = "cross_entropy"
    reduction = _reduction(reduction, op)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    x = _raw(input, op, "input")
    tg = _raw(target, op, "target")
    w = _weight(weight, x, op)
    _check_class_input(x, tg, w, op)
    if tg.dtype.kind == "f" and tg.shape == x.shape:
        if ignore_index >= 0:
            raise ValueError(f"{op}: ignore_index is not supported for class-probability (float) targets, got "
                             f"ignore_index={ignore_index} (leave it at -100)")
        soft = target if isinstance(target, Tensor) else Tensor._wrap(tg, False)
        if soft.dtype != x.dtype:
            soft = soft.astype(x.dtype)
        return SoftCrossEntropy.apply(input, soft, w, reduction, float(label_smoothing))
    ignored = _check_targets(x, tg, ignore_index, op)
    return CrossEntropy.apply(input, tg, w, ignored, reduction, float(label_smoothing))


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (N, C[, d1, ...]) or (C,) at integer ``target``
    (N[, d1, ...]) or (); "mean" divides by the summed weights of the non-ignored targets."""
    op = "nll_loss"
    reduction = _reduction(reduction, op)
    x = _raw(input, op, "input")
    tg = _raw(target, op, "target")
    w = _weight(weight, x, op)
    _check_class_input(x, tg, w, op)
    ignored = _check_targets(x, tg, ignore_index, op)
    return NLLLoss.apply(input, tg, w, ignored, reduction)


_KL_REDUCTIONS = ("none", "mean", "sum", "batchmean")


def kl_div(input: Tensor, target: Tensor, *, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL divergence sum(target * (log target - input)) with ``input`` log-probabilities; ``log_target``: the
    target is given as log-probabilities too (loss exp(t) (t - input)).

    reduction: "batchmean" (the KL definition: sum / batch size, input.shape[0]), "sum", "none", or "mean"
    (divides by every element, PyTorch's default, with PyTorch's warning). Input and target broadcast
    (silently, like PyTorch). Differentiable in input and target.
    """
    op = "kl_div"
    if reduction not in _KL_REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_KL_REDUCTIONS}, got {reduction!r}")
    if reduction == "mean":
        warnings.warn("kl_div: reduction: 'mean' divides the total loss by both the batch size and the support "
                      "size.'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      UserWarning, stacklevel=2)
    target = _target_for(input, target, op)
    _broadcast_pair(input, target, op, warn=False)
    return KLDiv.apply(input, target, reduction, bool(log_target))


__all__ = ["cross_entropy", "nll_loss", "mse_loss", "binary_cross_entropy_with_logits",
           "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy", "kl_div"]
