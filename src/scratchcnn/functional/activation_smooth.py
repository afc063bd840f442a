"""Smooth activations: sigmoid, logsigmoid, tanh, softplus, softsign, gelu (exact and tanh), elu, selu, celu,
silu, mish. All work elementwise on any shape and keep the input dtype.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Context, Function
from ..tensor import Tensor
from ._activation_common import _check_float
from .special import erfc_array


class Sigmoid(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        out = _sigmoid(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (out,) = ctx.saved
        return (g * out * (1 - out),)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Stable logistic function exp(min(x, 0)) / (1 + exp(-|x|)): never calls exp on a positive argument,
    equals 1 / (1 + exp(-x)) for x >= 0 and exp(x) / (1 + exp(x)) for x < 0, with no branches."""
    return np.exp(np.minimum(x, 0)) / (1 + np.exp(-np.abs(x)))


class Tanh(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        out = np.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (out,) = ctx.saved
        return (g * (1 - out * out),)


_SQRT1_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_C = 0.044715


class GELU(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray, approximate: str) -> np.ndarray:
        ctx.approximate = approximate
        t = x.dtype.type
        if approximate == "tanh":
            th = np.tanh(t(_SQRT_2_OVER_PI) * (x + t(_GELU_C) * x * x * x))
            ctx.save_for_backward(x, th)
            return t(0.5) * x * (1 + th)
        # Phi(x) = erfc(-x / sqrt 2) / 2: no cancellation for very negative x
        cdf = t(0.5) * erfc_array(-x * t(_SQRT1_2))
        ctx.save_for_backward(x, cdf)  # saves recomputing erfc (the costly part) in backward
        return x * cdf

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        x, aux = ctx.saved
        t = x.dtype.type
        if ctx.approximate == "tanh":
            th = aux
            d_inner = t(_SQRT_2_OVER_PI) * (1 + t(3 * _GELU_C) * x * x)
            d = t(0.5) * (1 + th) + t(0.5) * x * (1 - th * th) * d_inner
        else:
            pdf = t(_INV_SQRT_2PI) * np.exp(t(-0.5) * x * x)
            d = aux + x * pdf
        return g * d, None


class ELU(Function):
    """ELU, SELU and CELU: ``scale * x`` where x > 0, else ``alpha * scale * expm1(x * input_scale)``
    (PyTorch's elu kernel; x == 0 takes the exponential branch, so its gradient is alpha * scale * input_scale).
    NaN gives a NaN gradient: PyTorch's vectorised kernel does so, its scalar tail returns ``scale``."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, alpha: float, scale: float, input_scale: float) -> np.ndarray:
        t = x.dtype.type
        pos = x > 0
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.expm1(np.minimum(x, t(0)) * t(input_scale))   # never exp of a positive x (unless input_scale < 0)
            e *= t(alpha * scale)
            out = np.where(pos, x * t(scale), e)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(x, pos)
            ctx.coefs = (alpha, scale, input_scale)
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        x, pos = ctx.saved
        alpha, scale, input_scale = ctx.coefs
        t = g.dtype.type
        with np.errstate(over="ignore", invalid="ignore"):
            d = np.exp(np.minimum(x, 0).astype(g.dtype, copy=False) * t(input_scale))
            d *= t(input_scale * alpha * scale)
            return np.where(pos, t(scale), d) * g, None, None, None


class SiLU(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        s = _sigmoid(x)
        ctx.save_for_backward(x, s)
        with np.errstate(invalid="ignore"):
            return x * s

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        x, s = ctx.saved
        with np.errstate(invalid="ignore"):
            d = 1 - s           # sigmoid' = s (1 - s); silu' = s (1 + x (1 - s))
            d *= x
            d += 1
            d *= s
        return (d * g,)


def _softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)) for any x without overflow: max(x, 0) + log1p(exp(-|x|))."""
    with np.errstate(invalid="ignore"):
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


class Mish(Function):
    """x * tanh(softplus(x)); d/dx = tanh(sp) + x * sigmoid(x) * (1 - tanh(sp)^2)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        tsp = np.tanh(_softplus(x))
        ctx.save_for_backward(x, tsp)
        with np.errstate(invalid="ignore"):
            return x * tsp

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        x, tsp = ctx.saved
        with np.errstate(invalid="ignore"):
            d = 1 - tsp * tsp
            d *= _sigmoid(x)
            d *= x
            d += tsp
        return (d * g,)


class Softplus(Function):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch's linear region)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, beta: float, threshold: float) -> np.ndarray:
        t = x.dtype.type
        bx = x * t(beta)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(bx > t(threshold), x, _softplus(bx) / t(beta))
        ctx.save_for_backward(bx)
        ctx.threshold = threshold
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (bx,) = ctx.saved
        d = np.where(bx > bx.dtype.type(ctx.threshold), bx.dtype.type(1), _sigmoid(bx))
        return d * g, None, None


class Softsign(Function):
    """x / (1 + |x|); d/dx = 1 / (1 + |x|)^2 (NaN at x = +-inf, as PyTorch's composite gradient)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        a = np.abs(x)
        a += 1
        ctx.save_for_backward(x, a)
        with np.errstate(invalid="ignore"):
            return x / a

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        x, a = ctx.saved
        with np.errstate(invalid="ignore", over="ignore", under="ignore"):
            r = 1 / a
            r *= r
            r += x - x       # 0, or NaN where x is +-inf (inf/inf in PyTorch's x/(1+|x|) backward)
        return (r * g,)


class LogSigmoid(Function):
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)); d/dx = sigmoid(-x), from the saved exp(-|x|)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        e = np.exp(-np.abs(x))
        ctx.save_for_backward(x, e)
        return np.minimum(x, 0) - np.log1p(e)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        x, e = ctx.saved
        d = np.where(x < 0, e.dtype.type(1), e)   # sigmoid(-x) = 1 / (1 + e) for x < 0, e / (1 + e) for x >= 0
        d /= 1 + e
        return (d * g,)


# ---- public
def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), computed without overflow for large |x|; any shape."""
    _check_float(x, "sigmoid")
    return Sigmoid.apply(x)


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent; any shape."""
    _check_float(x, "tanh")
    return Tanh.apply(x)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit x * Phi(x); ``approximate="tanh"`` uses the tanh formula. Any shape."""
    _check_float(x, "gelu")
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(x, approximate)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def elu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else alpha * (exp(x) - 1) (``expm1``: exact near 0, -alpha for very negative x).
    ``inplace`` is accepted for PyTorch compatibility and ignored (the result is a new array)."""
    _check_float(x, "elu")
    return ELU.apply(x, float(alpha), 1.0, 1.0)


def selu(x: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with PyTorch's constants alpha = 1.6732632..., scale = 1.0507009...."""
    _check_float(x, "selu")
    return ELU.apply(x, _SELU_ALPHA, _SELU_SCALE, 1.0)


def celu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)); ``alpha`` must not be 0."""
    _check_float(x, "celu")
    if alpha == 0:
        raise ValueError("celu: alpha cannot be 0")
    return ELU.apply(x, float(alpha), 1.0, 1.0 / float(alpha))


def silu(x: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (swish), stable for large |x|."""
    _check_float(x, "silu")
    return SiLU.apply(x)


def mish(x: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x)), with an overflow-free softplus."""
    _check_float(x, "mish")
    return Mish.apply(x)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta, computed without overflow; x itself where beta * x > threshold."""
    _check_float(x, "softplus")
    return Softplus.apply(x, float(beta), float(threshold))


def softsign(x: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    _check_float(x, "softsign")
    return Softsign.apply(x)


def logsigmoid(x: Tensor) -> Tensor:
    """log(1 / (1 + exp(-x))), stable for large |x|."""
    _check_float(x, "logsigmoid")
    return LogSigmoid.apply(x)


__all__ = ["sigmoid", "tanh", "gelu", "elu", "selu", "celu", "silu", "mish", "softplus", "softsign", "logsigmoid"]
