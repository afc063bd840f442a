"""Losses with PyTorch's formulas: cross_entropy (fused log-softmax + NLL), nll_loss, mse_loss,
binary_cross_entropy_with_logits, l1_loss, smooth_l1_loss, huber_loss, binary_cross_entropy, kl_div.

NaN in the input is not an error: it propagates to the loss (as in PyTorch), except for targets equal to
``ignore_index``, whose rows are skipped entirely. Gradients w.r.t. ``weight``/``pos_weight`` are not computed.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..autograd import Context, Function, unbroadcast
from ..tensor import Tensor
from .activation import _sigmoid

_REDUCTIONS = ("none", "mean", "sum")


def _reduction(reduction: str, op: str) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return reduction


def _raw(x, op: str, name: str) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"{op}: {name} must be a Tensor, got {type(x).__name__}")


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


def _reduce(per: np.ndarray, reduction: str, denom) -> np.ndarray:
    if reduction == "none":
        return per
    s = per.sum()
    if reduction == "sum":
        return np.asarray(s)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(s / denom, dtype=per.dtype)


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


class MSELoss(Function):
    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray, reduction: str) -> np.ndarray:
        diff = x - y
        ctx.save_for_backward(diff)
        ctx.shapes, ctx.reduction = (x.shape, y.shape), reduction
        sq = diff * diff
        return _reduce(sq, reduction, sq.size)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (diff,) = ctx.saved
        if ctx.reduction == "mean":
            g = g / diff.size
        d = (2 * g) * diff
        nx, ny = ctx.needs_input_grad[:2]
        return (unbroadcast(d, ctx.shapes[0]) if nx else None,
                unbroadcast(-d, ctx.shapes[1]) if ny else None, None)


def _softplus_neg(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(-x)), stable for any x."""
    return np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))


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


# ---- pointwise regression / divergence losses: the input and target broadcast (as torch.broadcast_tensors),
# "mean" divides by the broadcast size, and the gradients are summed back to each operand's shape.
def _scaled_grad(g: np.ndarray, reduction: str, denom) -> np.ndarray:
    """The upstream gradient per element: g itself ("none"), or the scalar g (sum) / g / denom (mean)."""
    if reduction == "mean":
        with np.errstate(divide="ignore", invalid="ignore"):
            return g / denom
    return g


def _pair_grads(ctx: Context, gd: np.ndarray, neg_target: bool = True) -> tuple:
    """(d/dinput, d/dtarget) from the gradient of d = input - target, reduced to each operand's shape."""
    nx, ny = ctx.needs_input_grad[:2]
    return (unbroadcast(gd, ctx.shapes[0]) if nx else None,
            unbroadcast(-gd if neg_target else gd, ctx.shapes[1]) if ny else None)


def _sign(d: np.ndarray) -> np.ndarray:
    """sign(d) with sign(NaN) = 0 (PyTorch's ``sgn``, the gradient of ``abs``: 0 at d == 0 and for NaN)."""
    s = (d > 0).astype(d.dtype)
    s -= d < 0
    return s


class L1Loss(Function):
    """|x - y| (times ``weight``); gradient sign(x - y), 0 where x == y. Weighted "mean" divides by sum(weight)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray, w: np.ndarray | None, reduction: str) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            d = x - y                          # inf - inf: NaN, silently (as PyTorch)
        per = np.abs(d)
        if w is not None:
            per *= w
        denom = per.size if w is None else w.sum()
        ctx.save_for_backward(d, w)
        ctx.shapes, ctx.reduction, ctx.denom = (x.shape, y.shape), reduction, denom
        return _reduce(per, reduction, denom)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        d, w = ctx.saved
        gd = _sign(d)
        gd *= _scaled_grad(g, ctx.reduction, ctx.denom)
        if w is not None:
            gd *= w
        return (*_pair_grads(ctx, gd), None, None)


class HuberLoss(Function):
    """Huber with threshold ``delta``, times ``scale``: with z = |x - y| and c = min(z, delta),
    loss = c (z - c / 2) * scale (0.5 z^2 inside, delta (z - delta / 2) outside); gradient
    clip(x - y, -delta, delta) * scale. huber_loss: scale 1; smooth_l1_loss: delta = beta, scale 1 / beta.
    Weighted "mean" divides by the number of elements (PyTorch's huber_loss)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, y: np.ndarray, w: np.ndarray | None, delta: float, scale: float,
                reduction: str) -> np.ndarray:
        t = x.dtype.type
        with np.errstate(invalid="ignore"):
            d = x - y
        z = np.abs(d)
        c = np.minimum(z, t(delta))
        z -= t(0.5) * c
        z *= c
        if scale != 1:
            z *= t(scale)
        if w is not None:
            z *= w
        ctx.save_for_backward(d, w)
        ctx.shapes, ctx.reduction, ctx.delta, ctx.scale = (x.shape, y.shape), reduction, delta, scale
        return _reduce(z, reduction, z.size)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        d, w = ctx.saved
        t = d.dtype.type
        gd = np.clip(d, t(-ctx.delta), t(ctx.delta))
        if ctx.scale != 1:
            gd *= t(ctx.scale)
        gd *= _scaled_grad(g, ctx.reduction, d.size)
        if w is not None:
            gd *= w
        return (*_pair_grads(ctx, gd), None, None, None, None)


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
def _weight(weight, x: np.ndarray, op: str) -> np.ndarray | None:
    if weight is None:
        return None
    w = _raw(weight, op, "weight")
    return w.astype(x.dtype, copy=False)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy between logits and targets (PyTorch's ``F.cross_entropy``).

    Args:
        input: logits (N, C), (N, C, d1, ...) or (C,).
        target: integer class indices (N,), (N, d1, ...) or (); or float class probabilities of the input's
            shape (then ``ignore_index`` does not apply and "mean" divides by the number of samples).
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


def _as_tensor_like(v, like: Tensor) -> Tensor:
    if isinstance(v, Tensor):
        return v
    return Tensor._wrap(np.asarray(v, dtype=like.dtype), False)


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error. Shapes should match; if they only broadcast, a warning is issued and the
    broadcast result is used (PyTorch's behaviour)."""
    op = "mse_loss"
    reduction = _reduction(reduction, op)
    target = _as_tensor_like(target, input)
    if target.dtype != input.dtype:
        target = target.astype(input.dtype)
    if input.shape != target.shape:
        try:
            np.broadcast_shapes(input.shape, target.shape)
        except ValueError:
            raise ValueError(f"{op}: input shape {input.shape} and target shape {target.shape} "
                             "do not match (nor broadcast)") from None
        warnings.warn(f"{op}: target shape {target.shape} differs from input shape {input.shape}; "
                      "broadcasting will likely lead to incorrect results", UserWarning, stacklevel=2)
    return MSELoss.apply(input, target, reduction)


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


def _target_for(input: Tensor, target, op: str) -> Tensor:
    """``target`` as a Tensor of the input's dtype (a float input is required)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be floating point, got dtype {input.dtype}")
    target = _as_tensor_like(target, input)
    if target.dtype != input.dtype:
        target = target.astype(input.dtype)
    return target


def _broadcast_pair(input: Tensor, target: Tensor, op: str, warn: bool) -> None:
    """Input and target must broadcast; a size difference warns like PyTorch when ``warn``."""
    if input.shape == target.shape:
        return
    try:
        np.broadcast_shapes(input.shape, target.shape)
    except ValueError:
        raise ValueError(f"{op}: input shape {input.shape} and target shape {target.shape} "
                         "do not match (nor broadcast)") from None
    if warn:
        warnings.warn(f"{op}: Using a target size {target.shape} that is different to the input size "
                      f"{input.shape}. This will likely lead to incorrect results due to broadcasting. Please "
                      "ensure they have the same size.", UserWarning, stacklevel=3)


def _same_size_weight(weight, input: Tensor, op: str) -> np.ndarray | None:
    w = _weight(weight, input.data, op)
    if w is not None and w.shape != input.shape:
        raise ValueError(f"{op}: weight shape {w.shape} must be the same as input shape {input.shape}")
    return w


def l1_loss(input: Tensor, target: Tensor, *, reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean (or summed) absolute error |input - target|; gradient sign(input - target), 0 where equal.

    Shapes should match; if they only broadcast, a warning is issued and the broadcast result is used (PyTorch).
    ``weight`` (the input's shape) rescales each element; with "mean" the sum is divided by ``weight.sum()``.
    Differentiable in input and target (not weight)."""
    op = "l1_loss"
    reduction = _reduction(reduction, op)
    target = _target_for(input, target, op)
    _broadcast_pair(input, target, op, warn=True)
    return L1Loss.apply(input, target, _same_size_weight(weight, input, op), reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, *, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - beta / 2 (d = input - target); ``beta == 0`` is l1_loss.
    Broadcasting as ``l1_loss`` (with PyTorch's warning)."""
    op = "smooth_l1_loss"
    reduction = _reduction(reduction, op)
    if beta < 0:
        raise ValueError(f"{op}: beta must be >= 0 (smooth_l1_loss does not support negative values for beta), "
                         f"got {beta}")
    target = _target_for(input, target, op)
    _broadcast_pair(input, target, op, warn=True)
    if beta == 0:
        return L1Loss.apply(input, target, None, reduction)
    return HuberLoss.apply(input, target, None, float(beta), 1.0 / float(beta), reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """0.5 d^2 where |d| <= delta, else delta (|d| - delta / 2) (d = input - target); ``delta > 0``.
    ``weight`` (the input's shape) rescales each element ("mean" still divides by the element count, as
    PyTorch). Broadcasting as ``l1_loss`` (with PyTorch's warning)."""
    op = "huber_loss"
    reduction = _reduction(reduction, op)
    if not delta > 0:
        raise ValueError(f"{op}: delta must be > 0 (huber_loss does not support non-positive values for delta), "
                         f"got {delta}")
    target = _target_for(input, target, op)
    _broadcast_pair(input, target, op, warn=True)
    return HuberLoss.apply(input, target, _same_size_weight(weight, input, op), float(delta), 1.0, reduction)


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
