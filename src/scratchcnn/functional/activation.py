"""ReLU-family and piecewise-linear activations: relu, leaky_relu, prelu, hardtanh, relu6, hardsigmoid, hardswish.

All work elementwise on any shape and keep the input dtype. The other activations live in activation_smooth.py,
activation_softmax.py and special.py (erf); this module re-exports them, so imports from it keep working.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Context, Function
from ..parallel import map_rows
from ..tensor import Tensor
from ._activation_common import _check_float
# re-exported (moved out of this file): public functions, their Functions, helpers other modules import from here
from .activation_smooth import (_SELU_ALPHA, _SELU_SCALE, ELU, GELU, LogSigmoid, Mish, SiLU, Sigmoid,  # noqa: F401
                                Softplus, Softsign, Tanh, _sigmoid, _softplus, celu, elu, gelu, logsigmoid, mish, selu,
                                sigmoid, silu, softplus, softsign, tanh)
from .activation_softmax import LogSoftmax, Softmax, _dim, log_softmax, softmax  # noqa: F401
from .special import erf, erf_array, erfc_array  # noqa: F401


# ---- ops
class ReLU(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        out = np.empty_like(x)                  # keeps x's memory order (e.g. a channels-last conv output)
        map_rows(np.maximum, out, x, x.dtype.type(0))
        ctx.save_for_backward(out)  # the output doubles as the mask: no extra memory
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (out,) = ctx.saved
        dx = np.empty_like(out, dtype=g.dtype)
        map_rows(relu_grad_into, dx, g, out)           # a mask multiply is ~15x faster than np.where
        return (dx,)


def relu_grad_into(g: np.ndarray, out_: np.ndarray, out: np.ndarray) -> None:
    """out = g where out_ > 0 else 0: the mask written as 0/1 into ``out``, then multiplied in place (NumPy's
    two-array loops are fastest into one of their inputs; ~20% faster than ``g * (out_ > 0)`` into ``out``)."""
    np.greater(out_, 0, out=out, casting="unsafe")
    out *= g


class LeakyReLU(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray, slope: float) -> np.ndarray:
        ctx.save_for_backward(x > 0)
        ctx.slope = slope
        xs = x * x.dtype.type(slope)
        return np.maximum(x, xs) if slope <= 1 else np.minimum(x, xs)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (pos,) = ctx.saved
        t = g.dtype.type
        # g where x > 0 else slope * g, as slope * g + (1 - slope) * g * pos (no slow np.where)
        gx = np.multiply(g, pos, dtype=g.dtype)
        gx *= t(1 - ctx.slope)
        gx += g * t(ctx.slope)
        return gx, None


class Hardtanh(Function):
    """clip(x, min_val, max_val); gradient 1 strictly inside, 0 at the bounds (PyTorch) and for NaN (PyTorch's
    vectorised kernel; its scalar tail passes the gradient through)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, min_val: float, max_val: float) -> np.ndarray:
        t = x.dtype.type
        lo, hi = t(min_val), t(max_val)
        if ctx.needs_input_grad[0]:
            inside = x > lo
            inside &= x < hi
            ctx.save_for_backward(inside)
        return np.clip(x, lo, hi)      # minimum/maximum: NaN propagates

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (inside,) = ctx.saved
        return np.multiply(g, inside, dtype=g.dtype), None, None


class Hardsigmoid(Function):
    """relu6(x + 3) / 6; gradient 1/6 for -3 < x < 3, else 0."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        t = x.dtype.type
        if ctx.needs_input_grad[0]:
            inside = x > t(-3)
            inside &= x < t(3)
            ctx.save_for_backward(inside)
        out = np.clip(x + t(3), t(0), t(6))
        out /= t(6)
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (inside,) = ctx.saved
        gx = np.multiply(g, inside, dtype=g.dtype)
        gx /= g.dtype.type(6)
        return (gx,)


class Hardswish(Function):
    """x * relu6(x + 3) / 6; gradient 0 for x <= -3, x / 3 + 1/2 for -3 < x < 3, 1 for x >= 3 (PyTorch's
    choice at the kinks), NaN for NaN (PyTorch's vectorised kernel; its scalar tail returns 1)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        t = x.dtype.type
        out = np.clip(x + t(3), t(0), t(6))
        with np.errstate(invalid="ignore"):
            out *= x                          # -inf * 0: NaN, as PyTorch
        out /= t(6)
        ctx.save_for_backward(x)
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (x,) = ctx.saved
        t = g.dtype.type
        d = x / t(3) + t(0.5)
        d = np.where(x >= t(3), t(1), d)
        d = np.where(x <= t(-3), t(0), d)
        return (d * g,)


class PReLU(Function):
    """x where x > 0, else w * x, ``w`` one slope or one per channel (axis 1). The factor where(x > 0, 1, w)
    is the input gradient too, so forward keeps it."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        wb = w.reshape(()) if w.size == 1 else w.reshape((-1,) + (1,) * (x.ndim - 2))
        f = np.where(x > 0, np.ones((), dtype=wb.dtype), wb)
        with np.errstate(invalid="ignore"):
            out = x * f
        ctx.save_for_backward(x, f, w)
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        x, f, w = ctx.saved
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = (g * f).astype(x.dtype, copy=False)
        if ctx.needs_input_grad[1]:
            with np.errstate(invalid="ignore"):
                gxw = np.where(x > 0, x.dtype.type(0), x) * g     # NaN x: a NaN slope gradient (as PyTorch)
            axes = tuple(i for i in range(x.ndim) if not (w.size != 1 and i == 1))
            gw = gxw.sum(axis=axes).reshape(w.shape).astype(w.dtype, copy=False)
        return gx, gw


# ---- public

def relu(x: Tensor) -> Tensor:
    """max(x, 0), any shape. Gradient 0 at x == 0 (PyTorch's convention); the output is reused as the mask."""
    _check_float(x, "relu")
    return ReLU.apply(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else ``negative_slope * x``; any shape."""
    _check_float(x, "leaky_relu")
    return LeakyReLU.apply(x, float(negative_slope))


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """clip(x, min_val, max_val); gradient 0 at (and beyond) the bounds, like PyTorch."""
    _check_float(x, "hardtanh")
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val cannot be greater than max_val, got min_val={min_val}, "
                         f"max_val={max_val}")
    return Hardtanh.apply(x, float(min_val), float(max_val))


def relu6(x: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6) = hardtanh(x, 0, 6); gradient 0 at x == 0 and x == 6."""
    _check_float(x, "relu6")
    return Hardtanh.apply(x, 0.0, 6.0)


def hardsigmoid(x: Tensor, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6."""
    _check_float(x, "hardsigmoid")
    return Hardsigmoid.apply(x)


def hardswish(x: Tensor, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6."""
    _check_float(x, "hardswish")
    return Hardswish.apply(x)


def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """x where x > 0, else weight * x. ``weight`` holds one slope (any shape with one element) or one per
    channel, shape (C,), applied along axis 1 of ``x`` (which then needs at least 2 dims)."""
    _check_float(x, "prelu")
    _check_float(weight, "prelu")
    if weight.ndim > 1:
        raise ValueError(f"prelu: weight must be a scalar or 1-D tensor, got shape {weight.shape}")
    n = weight.data.size
    if n != 1:
        if x.ndim == 0:
            raise ValueError(f"prelu: a zero-dim input needs a single slope, got weight of shape {weight.shape}")
        channels = x.shape[1] if x.ndim >= 2 else 1
        if n != channels:
            raise ValueError(f"prelu: weight has {n} slopes but the input of shape {x.shape} has {channels} "
                             "channels (axis 1)")
    return PReLU.apply(x, weight)


__all__ = ["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax", "erf", "elu", "selu", "celu",
           "silu", "mish", "softplus", "hardtanh", "relu6", "hardsigmoid", "hardswish", "softsign", "logsigmoid",
           "prelu"]
