"""Reductions over axes with their gradients: sum, mean, max, min, var."""
from __future__ import annotations

import builtins

import numpy as np

from ..autograd import Context, Function
from ..tensor import Tensor

Axis = int | tuple[int, ...] | None


def _norm_axis(axis: Axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(sorted(a % ndim for a in axis)) if ndim else ()


def _expand(g: np.ndarray, shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """Reshape a reduced gradient so it broadcasts against the input ``shape``."""
    if not keepdims:
        g = np.expand_dims(g, axes) if axes else g
    return g


class Sum(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
        ctx.shape, ctx.axes, ctx.keepdims = a.shape, axes, keepdims
        return np.asarray(a.sum(axis=axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        g = _expand(g, ctx.shape, ctx.axes, ctx.keepdims)
        return np.broadcast_to(g, ctx.shape), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
        ctx.shape, ctx.axes, ctx.keepdims = a.shape, axes, keepdims
        ctx.count = int(np.prod([a.shape[i] for i in axes])) if axes else 1
        return np.asarray(a.mean(axis=axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        g = _expand(g, ctx.shape, ctx.axes, ctx.keepdims) / ctx.count
        return np.broadcast_to(g, ctx.shape), None, None


class Extreme(Function):
    """max or min; the gradient is shared equally between tied extreme elements (like PyTorch's amax/amin)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, axes: tuple[int, ...], keepdims: bool, is_max: bool) -> np.ndarray:
        out = a.max(axis=axes, keepdims=True) if is_max else a.min(axis=axes, keepdims=True)
        ctx.save_for_backward((a == out) if ctx.needs_input_grad[0] else None)
        ctx.axes, ctx.keepdims = axes, keepdims
        return out if keepdims else np.asarray(out.squeeze(axis=axes))

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (mask,) = ctx.saved
        g = _expand(g, mask.shape, ctx.axes, ctx.keepdims)
        count = mask.sum(axis=ctx.axes, keepdims=True)
        return mask * (g / count), None, None, None


class Var(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, axes: tuple[int, ...], keepdims: bool, correction: int) -> np.ndarray:
        n = int(np.prod([a.shape[i] for i in axes])) if axes else 1
        centered = a - a.mean(axis=axes, keepdims=True)
        ctx.save_for_backward(centered)
        ctx.axes, ctx.keepdims, ctx.denom = axes, keepdims, builtins.max(n - correction, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray((centered * centered).sum(axis=axes, keepdims=keepdims) / ctx.denom)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (centered,) = ctx.saved
        g = _expand(g, centered.shape, ctx.axes, ctx.keepdims)
        with np.errstate(divide="ignore", invalid="ignore"):
            return g * (2.0 / ctx.denom) * centered, None, None, None


def sum(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001 - PyTorch name
    """Sum over ``axis`` (all axes when None)."""
    return Sum.apply(a, _norm_axis(axis, a.ndim), keepdims)


def mean(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean over ``axis`` (all axes when None)."""
    return Mean.apply(a, _norm_axis(axis, a.ndim), keepdims)


def max(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Maximum over ``axis`` (values only, like ``torch.amax``)."""
    return Extreme.apply(a, _norm_axis(axis, a.ndim), keepdims, True)


def min(a: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Minimum over ``axis`` (values only, like ``torch.amin``)."""
    return Extreme.apply(a, _norm_axis(axis, a.ndim), keepdims, False)


def var(a: Tensor, axis: Axis = None, keepdims: bool = False, correction: int = 1) -> Tensor:
    """Variance over ``axis``; ``correction=1`` is the unbiased estimator (PyTorch's default), 0 the biased."""
    return Var.apply(a, _norm_axis(axis, a.ndim), keepdims, int(correction))


__all__ = ["sum", "mean", "max", "min", "var"]
