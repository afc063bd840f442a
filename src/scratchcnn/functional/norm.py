"""Batch normalisation for (N, C) and (N, C, *spatial) inputs: one fused op with a closed-form backward.

Training (or no running stats) normalises with the batch mean and biased variance over every axis but C,
and updates ``running_mean``/``running_var`` in place (unbiased variance, PyTorch's momentum rule).
Evaluation uses the running statistics, folded into one per-channel scale and shift.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Context, Function
from ..tensor import Tensor


class _ChannelView:
    """A 2-D/3-D view of (N, C, *S) with the channel axis last or in the middle, whichever is free in memory.

    Channels-last memory (what conv and pooling produce) is viewed as (M, C) with M = N*prod(S); everything
    else as (N, C, L). Statistics reduce over ``axes``; per-channel vectors broadcast via ``vec``; ``back``
    returns an array of the view's shape to (N, C, *S) in the same memory order. Gradients are brought into
    the same view (a copy only if their layout differs).
    """

    def __init__(self, shape: tuple[int, ...], channels_last: bool):
        self.shape, self.channels_last = shape, channels_last
        self.axes = (0,) if channels_last else (0, 2)
        self.sub = "mc,mc->c" if channels_last else "ncl,ncl->c"

    @staticmethod
    def of(x: np.ndarray) -> "_ChannelView":
        cl = x.ndim > 2 and np.moveaxis(x, 1, -1).flags.c_contiguous and not x.flags.c_contiguous
        return _ChannelView(x.shape, bool(cl))

    def view(self, a: np.ndarray) -> np.ndarray:
        C = self.shape[1]
        if self.channels_last:
            return np.moveaxis(a, 1, -1).reshape(-1, C)
        return a.reshape(self.shape[0], C, -1)

    def vec(self, v: np.ndarray) -> np.ndarray:
        return v.reshape(1, -1) if self.channels_last else v.reshape(1, -1, 1)

    def back(self, a: np.ndarray) -> np.ndarray:
        if self.channels_last:
            return np.moveaxis(a.reshape((self.shape[0],) + self.shape[2:] + (self.shape[1],)), -1, 1)
        return a.reshape(self.shape)


class BatchNormTrain(Function):
    """y = (x - mean_B) / sqrt(var_B + eps) * w + b with batch statistics over every axis but C."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None, eps: float,
                running: tuple | None) -> np.ndarray:
        cv = _ChannelView.of(x)
        x3 = cv.view(x)
        n = x.size // x.shape[1]
        dt = x.dtype.type
        mean = x3.mean(axis=cv.axes)
        xhat = x3 - cv.vec(mean)
        var = np.einsum(cv.sub, xhat, xhat) / dt(n)  # biased
        invstd = (1.0 / np.sqrt(var + dt(eps))).astype(x.dtype, copy=False)
        xhat *= cv.vec(invstd)
        if w is not None:
            y = xhat * cv.vec(w)
            if b is not None:
                y += cv.vec(b)
        elif b is not None:
            y = xhat + cv.vec(b)
        else:
            y = xhat.copy()
        if running is not None:
            rm, rv, factor = running
            with np.errstate(divide="ignore", invalid="ignore"):
                unbiased = var * (n / (n - 1)) if n > 1 else np.full_like(var, np.nan)
            rm *= 1 - factor
            rm += factor * mean
            rv *= 1 - factor
            rv += factor * unbiased
        ctx.save_for_backward(xhat, invstd, w)
        ctx.cv = cv
        return cv.back(y)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        xhat, invstd, w = ctx.saved
        cv = ctx.cv
        nx, nw, nb = ctx.needs_input_grad[:3]
        n = xhat.size // cv.shape[1]
        g3 = cv.view(g)
        gb = g3.sum(axis=cv.axes)
        gw = np.einsum(cv.sub, g3, xhat)
        dx = None
        if nx:
            coef = invstd if w is None else invstd * w
            coef = coef / xhat.dtype.type(n)
            # dx = w * invstd / n * (n * g - sum(g) - xhat * sum(g * xhat))
            dx = g3 * cv.vec(coef * n)
            dx -= xhat * cv.vec(coef * gw)
            dx -= cv.vec(coef * gb)
            dx = cv.back(dx)
        return dx, (gw if nw else None), (gb if nb else None), None, None


class BatchNormEval(Function):
    """y = x * scale + shift with scale = w / sqrt(running_var + eps), shift = b - running_mean * scale."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None, eps: float,
                rm: np.ndarray, rv: np.ndarray) -> np.ndarray:
        dt = x.dtype
        invstd = (1.0 / np.sqrt(rv.astype(dt) + dt.type(eps))).astype(dt, copy=False)
        rmx = rm.astype(dt, copy=False)
        scale = invstd * w if w is not None else invstd
        shift = -rmx * scale
        if b is not None:
            shift = shift + b
        cv = _ChannelView.of(x)
        x3 = cv.view(x)
        y = x3 * cv.vec(scale)
        y += cv.vec(shift)
        ctx.save_for_backward(x3 if ctx.needs_input_grad[1] else None, scale, invstd, rmx)
        ctx.cv = cv
        return cv.back(y)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        x3, scale, invstd, rmx = ctx.saved
        cv = ctx.cv
        nx, nw, nb = ctx.needs_input_grad[:3]
        g3 = cv.view(g)
        dx = cv.back(g3 * cv.vec(scale)) if nx else None
        gw = None
        if nw:
            # sum g * (x - rm) * invstd = invstd * (sum g x - rm sum g)
            gw = invstd * (np.einsum(cv.sub, g3, x3) - rmx * g3.sum(axis=cv.axes))
        gb = g3.sum(axis=cv.axes) if nb else None
        return dx, gw, gb, None, None, None


def _buffer(v, name: str, C: int) -> np.ndarray | None:
    if v is None:
        return None
    arr = v.data if isinstance(v, Tensor) else v
    if not isinstance(arr, np.ndarray) or arr.shape != (C,):
        shape = getattr(arr, "shape", type(arr).__name__)
        raise ValueError(f"batch_norm: {name} must have shape ({C},), got {shape}")
    return arr


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float | None = 0.1, eps: float = 1e-5,
               num_batches_tracked: int | Tensor | None = None) -> Tensor:
    """Batch normalisation (PyTorch's ``F.batch_norm``) of input (N, C) or (N, C, *spatial).

    Args:
        running_mean, running_var: (C,) buffers, or None (then batch statistics are always used). In
            training they are updated IN PLACE (on their ``.data``): ``r = (1 - m) r + m * stat``, with the
            unbiased batch variance for ``running_var``.
        weight, bias: optional (C,) affine parameters.
        training: use batch statistics (and update the running ones) instead of the running statistics.
        momentum: the factor m above; None means a cumulative average, m = 1 / num_batches_tracked.
        num_batches_tracked: batches seen INCLUDING this one (the caller increments first, as
            ``nn.BatchNorm`` does); only used when ``momentum`` is None.
    Returns:
        A tensor shaped like ``input``, same dtype.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"batch_norm: input must be a Tensor, got {type(input).__name__}")
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C) or (N, C, *spatial), got {input.shape}")
    if input.dtype.kind != "f":
        raise TypeError(f"batch_norm: input must be floating point, got dtype {input.dtype}")
    C = input.shape[1]
    rm = _buffer(running_mean, "running_mean", C)
    rv = _buffer(running_var, "running_var", C)
    if (rm is None) != (rv is None):
        raise ValueError("batch_norm: running_mean and running_var must both be given or both be None")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.shape != (C,):
            raise ValueError(f"batch_norm: {name} must have shape ({C},), got {p.shape}")
    if training or rm is None:
        per_channel = input.data.size // C if C else 0
        if per_channel <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                             f"got input of shape {input.shape}")
        running = None
        if training and rm is not None:
            if momentum is None:
                count = num_batches_tracked.data if isinstance(num_batches_tracked, Tensor) else num_batches_tracked
                if count is None or int(count) < 1:
                    raise ValueError("batch_norm: momentum=None (cumulative average) needs "
                                     "num_batches_tracked >= 1 (batches seen, including this one)")
                factor = 1.0 / int(count)
            else:
                factor = float(momentum)
            running = (rm, rv, factor)
        return BatchNormTrain.apply(input, weight, bias, float(eps), running)
    return BatchNormEval.apply(input, weight, bias, float(eps), rm, rv)


__all__ = ["batch_norm"]
