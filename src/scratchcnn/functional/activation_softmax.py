"""softmax and log_softmax along one dim (max-shifted, so they never overflow); they keep the input dtype."""
from __future__ import annotations

import warnings

import numpy as np

from ..autograd import Context, Function
from ..tensor import Tensor
from ._activation_common import _check_float


class Softmax(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray, dim: int) -> np.ndarray:
        e = np.exp(x - x.max(axis=dim, keepdims=True))
        e /= e.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(e)
        ctx.dim = dim
        return e

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (out,) = ctx.saved
        go = g * out
        return go - out * go.sum(axis=ctx.dim, keepdims=True), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray, dim: int) -> np.ndarray:
        out = x - x.max(axis=dim, keepdims=True)
        out -= np.log(np.exp(out).sum(axis=dim, keepdims=True))
        ctx.save_for_backward(out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (out,) = ctx.saved
        return g - np.exp(out) * g.sum(axis=ctx.dim, keepdims=True), None


# ---- public
def implicit_dim(name: str, ndim: int) -> int:
    """PyTorch's legacy choice when no ``dim`` is given (0 for 0-, 1- and 3-d inputs, else 1), with its warning."""
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X "
                  "as an argument.", UserWarning, stacklevel=4)
    return 0 if ndim in (0, 1, 3) else 1


def _dim(x: Tensor, dim: int | None, op: str) -> int:
    if dim is None:
        dim = implicit_dim(op, x.ndim)
    nd = max(x.ndim, 1)
    if not -nd <= dim < nd:
        raise ValueError(f"{op}: dim {dim} is out of range for a tensor of shape {x.shape}")
    return dim % nd if x.ndim else None  # type: ignore[return-value]


def softmax(x: Tensor, dim: int | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (max-shifted, so it never overflows); same shape as ``x``. Without
    ``dim``, PyTorch's deprecated implicit choice (dim 1 for (N, C, ...) inputs), with its warning."""
    _check_float(x, "softmax")
    d = _dim(x, dim, "softmax")
    return Softmax.apply(x, d)


def log_softmax(x: Tensor, dim: int | None = None) -> Tensor:
    """x - logsumexp(x) along ``dim`` (stable); same shape as ``x``; ``dim=None`` as in :func:`softmax`."""
    _check_float(x, "log_softmax")
    d = _dim(x, dim, "log_softmax")
    return LogSoftmax.apply(x, d)


__all__ = ["softmax", "log_softmax"]
