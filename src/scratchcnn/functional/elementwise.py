"""Elementwise arithmetic with broadcasting-aware gradients: add, sub, mul, div, pow, neg, exp, log, sqrt,
abs, clip, cast. Every op is a Function with ``forward``/``backward`` side by side plus a thin public function.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Context, Function, unbroadcast
from ..tensor import Tensor


def _operands(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Make both operands Tensors; Python/NumPy scalars take the dtype of the tensor operand, and so does a 0-d
    tensor of the same kind (floating or integer) next to a tensor with dimensions (PyTorch's promotion: a
    float32 batch times a float64 scalar tensor stays float32)."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        if a.dtype != b.dtype and (a.ndim == 0) != (b.ndim == 0) and _kind(a.dtype) == _kind(b.dtype):
            if a.ndim == 0:
                return cast(a, b.dtype), b
            return a, cast(b, a.dtype)
        return a, b
    if isinstance(a, Tensor):
        return a, _const(b, a.dtype)
    if isinstance(b, Tensor):
        return _const(a, b.dtype), b
    return Tensor(a), Tensor(b)


def _kind(dt: np.dtype) -> str:
    return "f" if dt.kind == "f" else "i" if dt.kind in "iu" else dt.kind


def _const(v: Any, dtype: np.dtype) -> Tensor:
    arr = np.asarray(v)
    if arr.dtype.kind in "biuf" and dtype.kind == "f" and (arr.ndim == 0 or arr.dtype.kind != "f"):
        arr = arr.astype(dtype)
    return Tensor._wrap(arr, False)


class Add(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.shapes = (a.shape, b.shape)
        return a + b

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        sa, sb = ctx.shapes
        na, nb = ctx.needs_input_grad
        return (unbroadcast(g, sa) if na else None, unbroadcast(g, sb) if nb else None)


class Sub(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.shapes = (a.shape, b.shape)
        return a - b

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        sa, sb = ctx.shapes
        na, nb = ctx.needs_input_grad
        return (unbroadcast(g, sa) if na else None, unbroadcast(-g, sb) if nb else None)


class Mul(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        a, b = ctx.saved
        na, nb = ctx.needs_input_grad
        return (unbroadcast(g * b, a.shape) if na else None, unbroadcast(g * a, b.shape) if nb else None)


class Div(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        a, b = ctx.saved
        na, nb = ctx.needs_input_grad
        ga = unbroadcast(g / b, a.shape) if na else None
        gb = unbroadcast(-g * a / (b * b), b.shape) if nb else None
        return ga, gb


class Pow(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        a, b, out = ctx.saved
        na, nb = ctx.needs_input_grad
        ga = unbroadcast(g * b * np.power(a, b - 1), a.shape) if na else None
        gb = None
        if nb:
            with np.errstate(divide="ignore", invalid="ignore"):
                loga = np.where(a > 0, np.log(np.where(a > 0, a, 1)), 0.0)
            gb = unbroadcast(g * out * loga, b.shape)
        return ga, gb


class Neg(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        return -a

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        return (-g,)


class Exp(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (out,) = ctx.saved
        return (g * out,)


class Log(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (a,) = ctx.saved
        return (g / a,)


class Sqrt(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (out,) = ctx.saved
        return (g / (2 * out),)


class Abs(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (a,) = ctx.saved
        return (g * np.sign(a),)


class Clip(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, lo: float | None, hi: float | None) -> np.ndarray:
        mask = np.ones(a.shape, dtype=bool)
        if lo is not None:
            mask &= a >= lo
        if hi is not None:
            mask &= a <= hi
        ctx.save_for_backward(mask)
        return np.clip(a, lo, hi)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (mask,) = ctx.saved
        return (g * mask, None, None)


class Cast(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, dtype: np.dtype) -> np.ndarray:
        ctx.src = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        return (g.astype(ctx.src), None)


def add(a: Any, b: Any) -> Tensor:
    """a + b (broadcasting)."""
    return Add.apply(*_operands(a, b))


def sub(a: Any, b: Any) -> Tensor:
    """a - b (broadcasting)."""
    return Sub.apply(*_operands(a, b))


def mul(a: Any, b: Any) -> Tensor:
    """a * b (broadcasting)."""
    return Mul.apply(*_operands(a, b))


def div(a: Any, b: Any) -> Tensor:
    """a / b (broadcasting); true division: integer operands give the default floating dtype, as in PyTorch."""
    a, b = _operands(a, b)
    if a.dtype.kind in "biu" and b.dtype.kind in "biu":
        from ..backend import get_default_dtype
        a, b = cast(a, get_default_dtype()), cast(b, get_default_dtype())
    return Div.apply(a, b)


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001 - PyTorch name
    """a ** b (broadcasting); the gradient w.r.t. b uses log(a) and is 0 where a <= 0."""
    return Pow.apply(*_operands(a, b))


def neg(a: Tensor) -> Tensor:
    return Neg.apply(a)


def exp(a: Tensor) -> Tensor:
    return Exp.apply(a)


def log(a: Tensor) -> Tensor:
    return Log.apply(a)


def sqrt(a: Tensor) -> Tensor:
    return Sqrt.apply(a)


def abs(a: Tensor) -> Tensor:  # noqa: A001 - PyTorch name
    """|a|; gradient sign(a) (0 at 0, like PyTorch)."""
    return Abs.apply(a)


def clip(a: Tensor, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """Clamp to [min, max]; gradient passes where min <= a <= max (PyTorch's clamp convention)."""
    if min is None and max is None:
        raise ValueError("clip(): at least one of min or max must be given")
    return Clip.apply(a, min, max)


clamp = clip


class Extremum(Function):
    """Elementwise max/min of two tensors; where they tie, each gets half the gradient (PyTorch's rule)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray, is_max: bool) -> np.ndarray:
        ctx.save_for_backward(a, b)
        ctx.is_max = is_max
        return np.maximum(a, b) if is_max else np.minimum(a, b)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        a, b = ctx.saved
        na, nb = ctx.needs_input_grad[:2]
        wins = (a > b) if ctx.is_max else (a < b)
        share = np.where(wins, 1.0, np.where(a == b, 0.5, 0.0)).astype(g.dtype)
        ga = unbroadcast(g * share, a.shape) if na else None
        gb = unbroadcast(g * (1 - share), b.shape) if nb else None
        return ga, gb, None


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum (broadcasting), PyTorch's ``torch.maximum``."""
    return Extremum.apply(*_operands(a, b), True)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum (broadcasting), PyTorch's ``torch.minimum``."""
    return Extremum.apply(*_operands(a, b), False)


def cast(a: Tensor, dtype: Any) -> Tensor:
    """Convert to ``dtype``; the gradient is converted back."""
    return Cast.apply(a, np.dtype(dtype))


__all__ = ["add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "abs", "clip", "clamp", "cast", "maximum",
           "minimum"]
