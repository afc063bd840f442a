"""Elementwise arithmetic with broadcasting-aware gradients: add, sub, mul, div, pow, neg, exp, log, sqrt,
abs, clip, cast, maximum, minimum; sign/floor/ceil/round (zero gradient) and isnan/isinf/isfinite (bool). Every
op is a Function with ``forward``/``backward`` side by side plus a thin public function.
"""
from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..autograd import Context, Function, unbroadcast
from ..backend import get_default_dtype
from ..tensor import Tensor


def _operands(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Make both operands Tensors of PyTorch's result dtype (``torch.result_type``): the highest category
    (bool < integer < floating) wins; within it, tensors with dimensions decide over 0-d tensors (a float32
    batch times a float64 0-d tensor stays float32), and both over Python/NumPy scalars, which only set the
    category (an integer tensor times 0.5 gives the default float dtype). An ndarray counts as a tensor."""
    if not isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            return Tensor(a), Tensor(b)
        return _with_scalar(b, a, swap=True)
    if not isinstance(b, Tensor):
        return _with_scalar(a, b, swap=False)
    da, db = a.dtype, b.dtype
    if da == db:
        return a, b
    ca, cb = _cat(da), _cat(db)
    if (a.ndim == 0) != (b.ndim == 0):
        z, d = (a, b) if a.ndim == 0 else (b, a)
        dt = z.dtype if _cat(z.dtype) > _cat(d.dtype) else d.dtype
    elif ca != cb:
        dt = da if ca > cb else db
    else:
        return a, b                 # same category and tier: NumPy promotes as PyTorch does
    return (a if da == dt else cast(a, dt)), (b if db == dt else cast(b, dt))


_CATEGORY = {"b": 0, "i": 1, "u": 1, "f": 2}


def _cat(dt: np.dtype) -> int:
    """PyTorch's type category: bool 0 < integer 1 < floating 2 (complex and others 3)."""
    return _CATEGORY.get(dt.kind, 3)


def _with_scalar(t: Tensor, v: Any, swap: bool) -> tuple[Tensor, Tensor]:
    """``(t, v)`` (or ``(v, t)`` when ``swap``) for a non-Tensor ``v``: an ndarray with dimensions is a tensor
    operand (it may promote ``t``); a Python/NumPy scalar or 0-d array takes ``t``'s dtype unless its category is
    higher (then both become the default float dtype, or int64 for an integer next to a bool tensor)."""
    if isinstance(v, np.ndarray) and v.ndim:
        other = Tensor._wrap(v, False)
    elif isinstance(v, (list, tuple)):
        other = Tensor(v)
    else:
        arr = np.asarray(v)
        dt = t.dtype
        if arr.dtype.kind in "biuf" and dt.kind in "biuf" and _cat(arr.dtype) > _cat(dt):
            if isinstance(v, np.ndarray):                 # a 0-d array: a 0-d tensor, its dtype counts
                dt = arr.dtype
            else:
                dt = get_default_dtype() if arr.dtype.kind == "f" else np.dtype(np.int64)
            t = cast(t, dt)
        if arr.dtype.kind in "biuf" and arr.dtype != dt:
            arr = arr.astype(dt)
        other = Tensor._wrap(arr, False)
        return (other, t) if swap else (t, other)
    return _operands(other, t) if swap else _operands(t, other)


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
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):   # 1 / 0 = inf, 0 / 0 = nan (PyTorch)
            out = a / b
        ctx.save_for_backward(b, out)
        ctx.shape_a = a.shape
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        b, out = ctx.saved
        na, nb = ctx.needs_input_grad
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ga = unbroadcast(g / b, ctx.shape_a) if na else None
            # PyTorch's -g * ((a / b) / b): a / (b * b) underflows to 0 / 0 = nan for tiny b
            gb = unbroadcast(-g * (out / b), b.shape) if nb else None
        return ga, gb


class Reciprocal(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):   # 1 / 0 = inf (PyTorch)
            out = np.reciprocal(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (out,) = ctx.saved
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            return (-g * (out * out),)                  # PyTorch's -g * result^2


class Pow(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):    # 0 ** -1 = inf, (-2) ** 0.5 = nan, quietly
            out = np.power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        a, b, out = ctx.saved
        na, nb = ctx.needs_input_grad
        ga = gb = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if na:
                # PyTorch's pow_backward_self: 0 where the exponent is 0 (not 0 * 0^-1 = nan at a == 0)
                if b.ndim == 0:
                    ga = np.zeros_like(out, dtype=g.dtype) if b == 0 else g * b * np.power(a, b - 1)
                else:
                    ga = np.where(b == 0, 0, g * b * np.power(a, b - 1))
                ga = unbroadcast(ga, a.shape)
            if nb:
                # PyTorch's pow_backward_exponent: g * a^b * log(a), 0 where a == 0 and b >= 0
                gb = unbroadcast(np.where((a == 0) & (b >= 0), 0, g * out * np.log(a)), b.shape)
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
        with np.errstate(divide="ignore", invalid="ignore"):    # log(0) = -inf, log(-1) = nan, quietly (PyTorch)
            return np.log(a)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (a,) = ctx.saved
        with np.errstate(divide="ignore", invalid="ignore"):
            return (g / a,)


class Sqrt(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):                     # sqrt(-1) = nan, quietly (PyTorch)
            out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (out,) = ctx.saved
        with np.errstate(divide="ignore", invalid="ignore"):
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


class ClipTensor(Function):
    """clamp with tensor bounds (broadcasting; None for a missing one), PyTorch's clamp_backward_min_max: the
    input's gradient passes where lo <= a <= hi, lo's where a < lo (and lo < hi), hi's where a > hi (or hi < lo)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, lo: np.ndarray | None, hi: np.ndarray | None) -> np.ndarray:
        ctx.save_for_backward(a, lo, hi)
        out = a if lo is None else np.maximum(a, lo)
        return out if hi is None else np.minimum(out, hi)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        a, lo, hi = ctx.saved
        na, nl, nh = ctx.needs_input_grad
        ga = gl = gh = None
        if na:
            keep = (a >= lo) if lo is not None else True
            if hi is not None:
                keep = keep & (a <= hi)
            ga = unbroadcast(np.where(keep, g, 0), a.shape)
        if nl:
            below = (a < lo) if hi is None else (a < lo) & (lo < hi)
            gl = unbroadcast(np.where(below, g, 0), lo.shape)
        if nh:
            above = (a > hi) if lo is None else (a > hi) | (hi < lo)
            gh = unbroadcast(np.where(above, g, 0), hi.shape)
        return ga, gl, gh


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
        a, b = cast(a, get_default_dtype()), cast(b, get_default_dtype())
    return Div.apply(a, b)


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001 - PyTorch name
    """a ** b (broadcasting), PyTorch's gradients: w.r.t. a, 0 where b == 0; w.r.t. b, a^b log(a) (nan for
    a < 0), 0 where a == 0 and b >= 0."""
    return Pow.apply(*_operands(a, b))


def neg(a: Tensor) -> Tensor:
    """-a, elementwise (gradient -g)."""
    return Neg.apply(a)


def _floating(a: Any) -> Any:
    """An integer or bool tensor as the default float dtype (PyTorch's exp/log/sqrt of integers), else ``a``."""
    return cast(a, get_default_dtype()) if isinstance(a, Tensor) and a.dtype.kind not in "fc" else a


def exp(a: Tensor) -> Tensor:
    """e ** a, elementwise (gradient g * exp(a))."""
    return Exp.apply(_floating(a))


def log(a: Tensor) -> Tensor:
    """Natural logarithm, elementwise (gradient g / a; -inf at 0, nan below, as PyTorch)."""
    return Log.apply(_floating(a))


def reciprocal(a: Tensor) -> Tensor:
    """1 / a, elementwise (integers give the default float); gradient -g * (1 / a)^2, as PyTorch computes it.
    ``scalar / tensor`` is ``reciprocal(tensor) * scalar``, PyTorch's definition (so the values and the inf/nan
    gradients of extreme operands are PyTorch's)."""
    return Reciprocal.apply(_floating(a))


def sqrt(a: Tensor) -> Tensor:
    """Square root, elementwise (gradient g / (2 * sqrt(a)); nan below 0, as PyTorch)."""
    return Sqrt.apply(_floating(a))


def abs(a: Tensor) -> Tensor:  # noqa: A001 - PyTorch name
    """|a|; gradient sign(a) (0 at 0, like PyTorch)."""
    return Abs.apply(a)


def clip(a: Tensor, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """Clamp to [min, max]; gradient passes where min <= a <= max (PyTorch's clamp convention)."""
    if min is None and max is None:
        raise ValueError("clip(): at least one of min or max must be given")
    # tensor bounds broadcast and get their own gradients (ClipTensor); an integer tensor with a float bound
    # gives the default float dtype, as in PyTorch
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        if min is not None:
            a, min = _operands(a, min)
        if max is not None:
            a, max = _operands(a, max)
        return ClipTensor.apply(a, min, max)
    if a.dtype.kind in "biu" and any(v is not None and np.asarray(v).dtype.kind == "f" for v in (min, max)):
        a = cast(a, get_default_dtype())
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
        # PyTorch: each side gets g (g / 2 at a tie) unless it lost; a NaN loses no comparison, so both sides of
        # a NaN get the whole gradient
        half = np.where(a == b, 0.5, 1.0).astype(g.dtype)
        ga = gb = None
        if na:
            ga = unbroadcast(g * np.where((a < b) if ctx.is_max else (a > b), 0, half), a.shape)
        if nb:
            gb = unbroadcast(g * np.where((a > b) if ctx.is_max else (a < b), 0, half), b.shape)
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


# ---------------------------------------------------------------- piecewise-constant ops (zero gradient) and tests
class Rounding(Function):
    """sign / floor / ceil / round: piecewise constant, so the gradient is 0 everywhere (PyTorch's convention)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, op: str, decimals: int) -> np.ndarray:
        if op == "sign":          # PyTorch: sign(NaN) is 0
            out = np.sign(a)
            return np.where(np.isnan(out), np.zeros((), dtype=a.dtype), out) if a.dtype.kind == "f" else out
        if op == "round":
            return np.round(a, decimals)     # half to even, x * 10**d rounded then divided, as PyTorch
        return np.floor(a) if op == "floor" else np.ceil(a)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        return np.zeros_like(g), None, None


def _rounding(a: Tensor, op: str, decimals: int = 0) -> Tensor:
    if a.dtype.kind == "b":
        if op == "sign":
            return cast(a, a.dtype)
        raise TypeError(f"{op}: not implemented for bool tensors (as in PyTorch)")
    if a.dtype.kind in "iu":
        if op == "round" and decimals:
            raise TypeError("round: decimals are not supported for integer tensors (as in PyTorch)")
        if op != "sign":
            return cast(a, a.dtype)      # an integer is its own floor/ceil/round (a copy, as PyTorch)
    return Rounding.apply(a, op, int(decimals))


def sign(input: Tensor) -> Tensor:  # noqa: A002 - PyTorch names
    """-1, 0 or 1 by the sign of each element (0 for 0 and, as in PyTorch, for NaN); keeps the dtype (bool stays
    bool). Zero gradient."""
    return _rounding(input, "sign")


def floor(input: Tensor) -> Tensor:  # noqa: A002
    """Largest integer <= each element (integer tensors unchanged); zero gradient."""
    return _rounding(input, "floor")


def ceil(input: Tensor) -> Tensor:  # noqa: A002
    """Smallest integer >= each element (integer tensors unchanged); zero gradient."""
    return _rounding(input, "ceil")


def round(input: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001,A002
    """Round to the nearest integer, halves to even (PyTorch's and NumPy's rule), or to ``decimals`` places
    (negative: to tens, hundreds, ...); integer tensors unchanged. Zero gradient."""
    return _rounding(input, "round", operator.index(decimals))


def _test(a: Any, fn: Any) -> Tensor:
    data = a.data if isinstance(a, Tensor) else np.asarray(a)
    return Tensor._wrap(np.asarray(fn(data)), False)


def isnan(input: Tensor) -> Tensor:  # noqa: A002
    """Bool tensor: True where the element is NaN (never for integer or bool tensors)."""
    return _test(input, np.isnan)


def isinf(input: Tensor) -> Tensor:  # noqa: A002
    """Bool tensor: True where the element is +inf or -inf."""
    return _test(input, np.isinf)


def isfinite(input: Tensor) -> Tensor:  # noqa: A002
    """Bool tensor: True where the element is neither NaN nor infinite (always for integer or bool tensors)."""
    return _test(input, np.isfinite)


__all__ = ["add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "reciprocal", "abs", "clip", "clamp", "cast", "maximum",
           "minimum", "sign", "floor", "ceil", "round", "isnan", "isinf", "isfinite"]
