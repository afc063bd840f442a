"""Activations: relu, leaky_relu, sigmoid, tanh, gelu (exact and tanh), softmax, log_softmax, elu, selu, celu,
silu, mish, softplus, hardtanh, relu6, hardsigmoid, hardswish, softsign, logsigmoid, prelu; plus erf/erfc.

All work elementwise on any shape (softmax/log_softmax along ``dim``) and keep the input dtype.
``erf``/``erfc`` use W. J. Cody's rational Chebyshev approximations (double-precision accurate, no SciPy).
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Context, Function
from ..parallel import map_rows
from ..tensor import Tensor

# ---- erf
# W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23 (1969), as in CALERF.
_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03,
      1.85777706184603153e-1)
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03)
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01, 2.98635138197400131e02,
      8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03,
      2.15311535474403846e-8)
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03,
      3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03, 1.23033935480374942e03)
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2,
      6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1, 6.05183413124413191e-2,
      2.33520497626869185e-3)
_RSQRTPI = 0.56418958354775628695
_THRESH = 0.46875


def _erf_small(x: np.ndarray) -> np.ndarray:
    """erf(x) for |x| <= 0.46875."""
    z = x * x
    num = _A[4] * z
    den = z.copy()
    for i in range(3):
        num = (num + _A[i]) * z
        den = (den + _B[i]) * z
    return x * (num + _A[3]) / (den + _B[3])


def _erfc_large(y: np.ndarray) -> np.ndarray:
    """erfc(y) for y > 0.46875 (y >= 0)."""
    out = np.empty_like(y)
    mid = y <= 4.0
    ym = y[mid]
    num = _C[8] * ym
    den = ym.copy()
    for i in range(7):
        num = (num + _C[i]) * ym
        den = (den + _D[i]) * ym
    out[mid] = (num + _C[7]) / (den + _D[7])
    far = ~mid
    yf = y[far]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = 1.0 / (yf * yf)
        num = _P[5] * z
        den = z.copy()
        for i in range(4):
            num = (num + _P[i]) * z
            den = (den + _Q[i]) * z
        r = z * (num + _P[4]) / (den + _Q[4])
        out[far] = (_RSQRTPI - r) / yf
        # exp(-y^2) split as exp(-t^2) exp(-(y-t)(y+t)) with t = trunc(16 y)/16 keeps full accuracy
        t = np.trunc(y * 16.0) / 16.0
        scale = np.exp(-t * t) * np.exp(-(y - t) * (y + t))
        out *= scale
    out[np.isinf(y)] = 0.0
    return out


def _erf_parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``x`` into small/large magnitude and return (small mask, erf on small, erfc(|x|) on large)."""
    ax = np.abs(x)
    small = ax <= _THRESH
    return small, _erf_small(x[small]), _erfc_large(ax[~small])


def erf_array(x: np.ndarray) -> np.ndarray:
    """Error function of an ndarray (float32 or float64), accurate to double precision in float64."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    small, e_small, c_large = _erf_parts(x)
    out = np.empty_like(x)
    out[small] = e_small
    large = ~small
    out[large] = np.copysign(1.0 - c_large, x[large])
    out[np.isnan(x)] = np.nan
    return out


def erfc_array(x: np.ndarray) -> np.ndarray:
    """Complementary error function 1 - erf(x), without cancellation for large positive x.

    float64: Cody's approximation (double precision). float32: one branch-free Chebyshev fit
    (Numerical Recipes' erfcc, relative error < 1.2e-7 in exact arithmetic), about 5x faster.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    if x.dtype == np.float32:
        return _erfc_float32(x)
    small, e_small, c_large = _erf_parts(x)
    out = np.empty_like(x)
    out[small] = 1.0 - e_small
    large = ~small
    out[large] = np.where(x[large] > 0, c_large, 2.0 - c_large)
    out[np.isnan(x)] = np.nan
    return out


_NR = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587,
       -0.82215223, 0.17087277)


def _erfc_float32(x: np.ndarray) -> np.ndarray:
    """erfc for float32 without branches or masks: t exp(-z^2 + P(t)), t = 1 / (1 + z / 2), z = |x|."""
    f = np.float32
    z = np.abs(x)
    t = 1 / (1 + f(0.5) * z)
    p = t * f(_NR[9])
    for c in _NR[8:0:-1]:
        p += f(c)
        p *= t
    p += f(_NR[0])
    p -= z * z
    ans = t * np.exp(p)
    return ans + (x < 0) * (2 - 2 * ans)  # erfc(-z) = 2 - erfc(z)


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
def _check_float(x: Tensor, op: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating tensor, got dtype {x.dtype}")


def _dim(x: Tensor, dim: int, op: str) -> int:
    nd = max(x.ndim, 1)
    if not -nd <= dim < nd:
        raise ValueError(f"{op}: dim {dim} is out of range for a tensor of shape {x.shape}")
    return dim % nd if x.ndim else None  # type: ignore[return-value]


def relu(x: Tensor) -> Tensor:
    """max(x, 0), any shape. Gradient 0 at x == 0 (PyTorch's convention); the output is reused as the mask."""
    _check_float(x, "relu")
    return ReLU.apply(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else ``negative_slope * x``; any shape."""
    _check_float(x, "leaky_relu")
    return LeakyReLU.apply(x, float(negative_slope))


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


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (max-shifted, so it never overflows); same shape as ``x``."""
    _check_float(x, "softmax")
    d = _dim(x, dim, "softmax")
    return Softmax.apply(x, d)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """x - logsumexp(x) along ``dim`` (stable); same shape as ``x``."""
    _check_float(x, "log_softmax")
    d = _dim(x, dim, "log_softmax")
    return LogSoftmax.apply(x, d)


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


def softsign(x: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    _check_float(x, "softsign")
    return Softsign.apply(x)


def logsigmoid(x: Tensor) -> Tensor:
    """log(1 / (1 + exp(-x))), stable for large |x|."""
    _check_float(x, "logsigmoid")
    return LogSigmoid.apply(x)


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


def erf(x: Tensor) -> Tensor:
    """Error function (not differentiable here; use ``gelu`` for the differentiable Gaussian CDF)."""
    return Tensor._wrap(erf_array(x.data if isinstance(x, Tensor) else np.asarray(x)), False)


__all__ = ["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax", "erf", "elu", "selu", "celu",
           "silu", "mish", "softplus", "hardtanh", "relu6", "hardsigmoid", "hardswish", "softsign", "logsigmoid",
           "prelu"]
