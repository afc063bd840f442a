"""Reductions over axes with their gradients: sum, mean, max, min (and amax, amin), var, std, argmax, argmin,
prod, logsumexp; scans and orderings: cumsum, sort, argsort, topk.

Each takes PyTorch's ``dim``/``keepdim`` or NumPy's ``axis``/``keepdims`` (either spelling, not both). ``max``
and ``min`` follow PyTorch: over one ``dim`` they return ``(values, indices)`` and the gradient goes to the
returned (first) extreme; over everything, or with ``axis=`` (NumPy's spelling, like ``amax``), values only,
the gradient shared equally between ties.
"""
from __future__ import annotations

import builtins
from typing import Any, NamedTuple

import numpy as np

from ..autograd import Context, Function, wrap_dim
from ..tensor import Tensor

Axis = int | tuple[int, ...] | None


def _norm_axis(axis: Axis, ndim: int, name: str) -> tuple[int, ...]:
    """The sorted non-negative axes; out of range (IndexError) or repeated (ValueError) dims raise, as in PyTorch."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (axis,)
    dims = tuple(sorted(wrap_dim(a, ndim, name) for a in axis))
    if len(set(dims)) != len(dims):
        twice = next(d for i, d in enumerate(dims) if d in dims[:i])
        raise ValueError(f"{name}: dim {twice} appears multiple times in the list of dims {tuple(axis)}")
    return dims if ndim else ()


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
    def forward(ctx: Context, a: np.ndarray, axes: tuple[int, ...], keepdims: bool, is_max: bool,
                nan_ties: bool = False) -> np.ndarray:
        """``nan_ties``: a NaN extreme shares the gradient between the NaNs (PyTorch's ``max()``; its ``amax``
        gives NaN gradients there)."""
        out = a.max(axis=axes, keepdims=True) if is_max else a.min(axis=axes, keepdims=True)
        mask = None
        if ctx.needs_input_grad[0]:
            mask = a == out
            if nan_ties and a.dtype.kind == "f" and np.isnan(out).any():
                mask |= np.isnan(a) & np.isnan(out)
        ctx.save_for_backward(mask)
        ctx.axes, ctx.keepdims = axes, keepdims
        return out if keepdims else np.asarray(out.squeeze(axis=axes))

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (mask,) = ctx.saved
        g = _expand(g, mask.shape, ctx.axes, ctx.keepdims)
        count = mask.sum(axis=ctx.axes, keepdims=True)
        return mask * (g / count), None, None, None, None


class ExtremeDim(Function):
    """max or min over one axis with the index of the first extreme; the gradient goes to that index only."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, idx: np.ndarray, axis: int, keepdim: bool) -> np.ndarray:
        """``idx``: the extremes' indices with ``axis`` kept (size 1)."""
        ctx.save_for_backward(idx)
        ctx.shape, ctx.axis, ctx.keepdim = a.shape, axis, keepdim
        out = np.take_along_axis(a, idx, axis)
        return out if keepdim else np.squeeze(out, axis)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (idx,) = ctx.saved
        ga = np.zeros(ctx.shape, dtype=g.dtype)
        np.put_along_axis(ga, idx, g if ctx.keepdim else np.expand_dims(g, ctx.axis), ctx.axis)
        return ga, None, None, None


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
        with np.errstate(divide="ignore", invalid="ignore"):   # denom 0 (n <= correction): nan, as in PyTorch
            return g * (np.float64(2.0) / ctx.denom).astype(g.dtype) * centered, None, None, None


class Std(Function):
    """sqrt(var); where the deviation is 0 (constant values, a single element) the gradient is 0, as in
    PyTorch's std_backward, instead of 0 * inf = nan through sqrt."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, axes: tuple[int, ...], keepdims: bool, correction: int) -> np.ndarray:
        out = np.sqrt(Var.forward(ctx, a, axes, keepdims, correction))
        ctx.out = out
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        out = ctx.out
        with np.errstate(divide="ignore", invalid="ignore"):
            g_var = np.where(out == 0, 0.0, g / (2 * out)).astype(g.dtype, copy=False)
        return Var.backward(ctx, g_var)


def _all_if_empty(dim: Any) -> Any:
    """PyTorch reads an empty ``dim`` (``()`` or ``[]``) as every dim (NumPy's ``axis=()`` reduces nothing)."""
    return None if isinstance(dim, (tuple, list)) and len(dim) == 0 else dim


def _spelling(name: str, dim: Any, keepdim: Any, axis: Any, keepdims: Any) -> tuple[Any, bool]:
    """``(dims, keep)`` from PyTorch's or NumPy's spelling; both spellings at once is an error. An empty
    ``dim`` means every dim, as in PyTorch; an empty ``axis`` means none, as in NumPy."""
    dim = _all_if_empty(dim)
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{name}: give dim or axis, not both")
        dim = axis
    if keepdims is not None:
        if keepdim:
            raise TypeError(f"{name}: give keepdim or keepdims, not both")
        keepdim = keepdims
    return dim, bool(keepdim)


def _correction(name: str, unbiased: bool | None, correction: int | None) -> int:
    """Bessel's correction from PyTorch's ``unbiased`` (old) or ``correction`` (new) argument; default 1."""
    if unbiased is not None and correction is not None:
        raise TypeError(f"{name}: give unbiased or correction, not both")
    return int(correction if correction is not None else (1 if unbiased is None else bool(unbiased)))


def sum(a: Tensor, dim: Axis = None, keepdim: bool = False, *, axis: Axis = None,  # noqa: A001 - PyTorch name
        keepdims: bool | None = None) -> Tensor:
    """Sum over ``dim`` (all dims when None)."""
    dim, keep = _spelling("sum", dim, keepdim, axis, keepdims)
    return Sum.apply(a, _norm_axis(dim, a.ndim, "sum"), keep)


def mean(a: Tensor, dim: Axis = None, keepdim: bool = False, *, axis: Axis = None,
         keepdims: bool | None = None) -> Tensor:
    """Arithmetic mean over ``dim`` (all dims when None)."""
    dim, keep = _spelling("mean", dim, keepdim, axis, keepdims)
    _floating("mean", a)
    return Mean.apply(a, _norm_axis(dim, a.ndim, "mean"), keep)


def _floating(name: str, a: Tensor) -> None:
    """PyTorch refuses mean/var/std of integer and bool tensors (there is no output dtype to infer); so do we,
    instead of silently answering in float64."""
    dtype = getattr(a, "dtype", None)
    if dtype is not None and np.dtype(dtype).kind not in "fc":
        raise TypeError(f"{name}(): needs a floating tensor, got dtype {np.dtype(dtype)}; convert it first, "
                        f"e.g. t.float().{name}()")


class ValuesIndices(NamedTuple):
    """``(values, indices)`` of ``max``/``min`` over one dim, like PyTorch's ``torch.return_types.max``."""
    values: Tensor
    indices: Tensor


def _extreme(name: str, is_max: bool, a: Tensor, dim: Any, keepdim: bool, axis: Any, keepdims: Any):
    if isinstance(dim, Tensor) or (dim is not None and not isinstance(dim, (int, np.integer, tuple, list))):
        from .elementwise import maximum, minimum      # torch.max(a, b): the elementwise form
        if keepdim or axis is not None or keepdims is not None:
            raise TypeError(f"{name}(a, other) takes no dim/axis arguments")
        return (maximum if is_max else minimum)(a, dim)
    if axis is None and isinstance(dim, (int, np.integer)):       # PyTorch: one dim -> (values, indices)
        if a.ndim == 0:                   # PyTorch: dim 0 or -1 of a 0-d tensor is the tensor itself
            wrap_dim(dim, 0, name)         # 0 or -1
            values, _ = _extreme(name, is_max, a.reshape((1,)), 0, False, None, None)
            return ValuesIndices(values, Tensor._wrap(np.zeros((), dtype=np.int64), False))
        d, keep = wrap_dim(dim, a.ndim, name), bool(keepdim if keepdims is None else keepdims)
        idx = np.asarray((a.data.argmax if is_max else a.data.argmin)(axis=d, keepdims=True), dtype=np.int64)
        values = ExtremeDim.apply(a, idx, d, keep)
        return ValuesIndices(values, Tensor._wrap(idx if keep else np.squeeze(idx, d), False))
    dim, keep = _spelling(name, dim, keepdim, axis, keepdims)
    return Extreme.apply(a, _norm_axis(dim, a.ndim, name), keep, is_max, True)


def max(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Axis = None,  # noqa: A001
        keepdims: bool | None = None):
    """PyTorch's ``max``: the maximum of everything (a tensor); over one int ``dim``, ``(values, indices)``;
    ``max(a, other)``, the elementwise maximum. ``axis=`` (NumPy's spelling, any axes) returns values only,
    like ``amax``."""
    return _extreme("max", True, a, dim, keepdim, axis, keepdims)


def min(a: Tensor, dim: Any = None, keepdim: bool = False, *, axis: Axis = None,  # noqa: A001
        keepdims: bool | None = None):
    """PyTorch's ``min`` (see :func:`max`)."""
    return _extreme("min", False, a, dim, keepdim, axis, keepdims)


def amax(a: Tensor, dim: Axis = None, keepdim: bool = False) -> Tensor:
    """Maximum over ``dim`` (values only; ties share the gradient equally), PyTorch's ``amax``."""
    return Extreme.apply(a, _norm_axis(_all_if_empty(dim), a.ndim, "amax"), bool(keepdim), True)


def amin(a: Tensor, dim: Axis = None, keepdim: bool = False) -> Tensor:
    """Minimum over ``dim`` (values only), PyTorch's ``amin``."""
    return Extreme.apply(a, _norm_axis(_all_if_empty(dim), a.ndim, "amin"), bool(keepdim), False)


def var(a: Tensor, dim: Axis = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: int | None = None, axis: Axis = None, keepdims: bool | None = None) -> Tensor:
    """Variance over ``dim``: ``correction=1`` (default; or ``unbiased=True``) is the unbiased estimator,
    0 (``unbiased=False``) the biased one."""
    dim, keep = _spelling("var", dim, keepdim, axis, keepdims)
    _floating("var", a)
    return Var.apply(a, _norm_axis(dim, a.ndim, "var"), keep, _correction("var", unbiased, correction))


def std(a: Tensor, dim: Axis = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: int | None = None, axis: Axis = None, keepdims: bool | None = None) -> Tensor:
    """Standard deviation over ``dim``: ``sqrt(var(...))`` with the same arguments; the gradient is 0 where the
    deviation is 0 (PyTorch's rule)."""
    dim, keep = _spelling("std", dim, keepdim, axis, keepdims)
    _floating("std", a)
    return Std.apply(a, _norm_axis(dim, a.ndim, "std"), keep, _correction("std", unbiased, correction))


def _arg(a: Tensor, dim: int | None, keepdim: bool, is_max: bool) -> Tensor:
    data = a.data if dim is not None else a.data.reshape(-1)
    idx = (data.argmax if is_max else data.argmin)(axis=0 if dim is None else dim, keepdims=bool(keepdim) and
                                                   dim is not None)
    if dim is None and keepdim:
        idx = np.reshape(idx, (1,) * a.ndim)
    return Tensor._wrap(np.asarray(idx, dtype=np.int64), False)


def argmax(a: Tensor, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None) -> Tensor:
    """Index of the (first) maximum over ``dim``, or in the flattened tensor when None (int64)."""
    return _arg(a, _spelling("argmax", dim, keepdim, axis, None)[0], keepdim, True)


def argmin(a: Tensor, dim: int | None = None, keepdim: bool = False, *, axis: int | None = None) -> Tensor:
    """Index of the (first) minimum over ``dim``, or in the flattened tensor when None (int64)."""
    return _arg(a, _spelling("argmin", dim, keepdim, axis, None)[0], keepdim, False)


# ---------------------------------------------------------------- prod, logsumexp, cumsum, sort, argsort, topk
def _exclusive_products(a: np.ndarray, axis: int) -> np.ndarray:
    """The product of every other element along ``axis`` for each element, without division (PyTorch's
    prod_safe_zeros_backward: cumulative products from the left times those from the right)."""
    n = a.shape[axis]
    ones = np.ones_like(a, shape=a.shape[:axis] + (1,) + a.shape[axis + 1:])
    left = np.cumprod(np.concatenate([ones, np.take(a, np.arange(n - 1), axis=axis)], axis=axis), axis=axis)
    right_in = np.flip(np.take(a, np.arange(1, n), axis=axis), axis)
    right = np.flip(np.cumprod(np.concatenate([ones, right_in], axis=axis), axis=axis), axis)
    return left * right


class Prod(Function):
    """Product over one axis or everything (``axis`` None); PyTorch's gradient: ``g * out / a`` when no input is
    0, else the product of the other elements (so a zero's gradient is exact and two zeros give 0)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, axis: int | None, keepdim: bool) -> np.ndarray:
        out = np.asarray(np.prod(a, axis=axis, keepdims=True))
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(a, out)
        ctx.axis, ctx.keepdim = axis, keepdim
        if axis is None:
            return out.reshape(())
        return out if keepdim else np.squeeze(out, axis)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        a, out = ctx.saved
        if a.ndim == 0 or a.size == 0:
            return np.broadcast_to(g, a.shape) if a.ndim == 0 else np.zeros_like(a, dtype=g.dtype), None, None
        axis = ctx.axis
        if axis is None:
            g = g.reshape((1,) * a.ndim)
        elif not ctx.keepdim:
            g = np.expand_dims(g, axis)
        zeros = np.count_nonzero(a == 0)
        if zeros == 0:
            return g * (out / a), None, None
        if axis is None:
            if zeros > 1:
                return np.zeros_like(a, dtype=g.dtype), None, None
            return g * _exclusive_products(a.reshape(-1), 0).reshape(a.shape), None, None
        return g * _exclusive_products(a, axis), None, None


class LogSumExp(Function):
    """log(sum(exp(a))) over ``axes``, shifted by the maximum (0 where that is infinite, as PyTorch) so it never
    overflows; gradient ``g * exp(a - out)``."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
        m = np.max(a, axis=axes, keepdims=True, initial=-np.inf)
        m = np.where(np.isinf(m), np.zeros((), dtype=a.dtype), m)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = np.log(np.exp(a - m).sum(axis=axes, keepdims=True)) + m
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(a, out)
        ctx.axes, ctx.keepdims = axes, keepdims
        return out if keepdims else np.asarray(np.squeeze(out, axes))

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        a, out = ctx.saved
        g = _expand(g, a.shape, ctx.axes, ctx.keepdims)
        with np.errstate(invalid="ignore", over="ignore"):
            return g * np.exp(a - out), None, None


class CumSum(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, axis: int) -> np.ndarray:
        ctx.axis = axis
        return np.cumsum(a, axis=axis)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        ax = ctx.axis
        return np.flip(np.cumsum(np.flip(g, ax), axis=ax), ax), None


def _as_dtype(a: Tensor, dtype: Any) -> Tensor:
    from .elementwise import cast
    return a if dtype is None or np.dtype(dtype) == a.dtype else cast(a, np.dtype(dtype))


def prod(input: Tensor, dim: int | None = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:  # noqa: A002
    """PyTorch's ``torch.prod``: the product of all elements, or over one int ``dim`` (``keepdim`` keeps it as
    size 1). Integer and bool inputs give int64 (``dtype=`` converts the input first). The gradient is exact with
    zeros in the input (the product of the other elements), as in PyTorch."""
    if dim is None:
        if keepdim:
            raise TypeError("prod: keepdim needs a dim (prod over everything returns a 0-d tensor)")
    elif not isinstance(dim, (int, np.integer)):
        raise TypeError(f"prod: dim must be one int (PyTorch's prod reduces one dim or all), got {dim!r}")
    a = _as_dtype(input, dtype if dtype is not None else (np.int64 if input.dtype.kind in "biu" else None))
    if a.ndim == 0 and dim is not None:
        wrap_dim(dim, 0, "prod")
        return Prod.apply(a, None, False)
    return Prod.apply(a, None if dim is None else wrap_dim(dim, a.ndim, "prod"), bool(keepdim))


def logsumexp(input: Tensor, dim: Axis, keepdim: bool = False) -> Tensor:  # noqa: A002
    """PyTorch's ``torch.logsumexp``: ``log(sum(exp(input)))`` over ``dim`` (an int or a tuple of ints; an empty
    tuple means every dim), computed stably (max-shifted). Integer inputs give the default float dtype."""
    from .elementwise import _floating
    a = _floating(input)
    return LogSumExp.apply(a, _norm_axis(_all_if_empty(dim), a.ndim, "logsumexp"), bool(keepdim))


def cumsum(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:  # noqa: A002
    """PyTorch's ``torch.cumsum``: running sums along ``dim``. Integer and bool inputs give int64 (``dtype=``
    converts the input first); the gradient is the reversed running sum of the output gradient."""
    a = _as_dtype(input, dtype if dtype is not None else (np.int64 if input.dtype.kind in "biu" else None))
    d = wrap_dim(dim, a.ndim, "cumsum")
    if a.ndim == 0:
        from .elementwise import cast
        return cast(a, a.dtype)
    return CumSum.apply(a, d)


def _sort_indices(data: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """Stable sort order along ``axis`` (NaN counts as the largest value, as in PyTorch); descending keeps equal
    elements in their original order too (the ascending stable order of the reversed axis, reversed)."""
    if not descending:
        return np.argsort(data, axis=axis, kind="stable")
    n = data.shape[axis]
    rev = np.argsort(np.flip(data, axis), axis=axis, kind="stable")
    return (n - 1) - np.flip(rev, axis)


def sort(input: Tensor, dim: int = -1, descending: bool = False, *,  # noqa: A002
         stable: bool = False) -> ValuesIndices:
    """PyTorch's ``torch.sort``: ``(values, indices)`` sorted along ``dim``, ascending unless ``descending``.
    Always stable (equal elements keep their order; ``stable=`` is accepted for PyTorch's signature); NaN sorts
    as the largest value. The gradient goes back to each value's original position."""
    d = wrap_dim(dim, input.ndim, "sort")
    if input.ndim == 0:
        from .elementwise import cast
        return ValuesIndices(cast(input, input.dtype), Tensor._wrap(np.zeros((), dtype=np.int64), False))
    idx = _sort_indices(input.data, d, bool(descending))
    from .select import Gather
    return ValuesIndices(Gather.apply(input, idx, d, True), Tensor._wrap(idx.astype(np.int64, copy=False), False))


def argsort(input: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Tensor:  # noqa: A002
    """PyTorch's ``torch.argsort``: the int64 indices that sort ``input`` along ``dim`` (stable, like
    :func:`sort`)."""
    d = wrap_dim(dim, input.ndim, "argsort")
    if input.ndim == 0:
        return Tensor._wrap(np.zeros((), dtype=np.int64), False)
    return Tensor._wrap(_sort_indices(input.data, d, bool(descending)).astype(np.int64, copy=False), False)


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True,  # noqa: A002
         sorted: bool = True) -> ValuesIndices:
    """PyTorch's ``torch.topk``: ``(values, indices)`` of the ``k`` largest (or smallest) elements along ``dim``,
    sorted (also when ``sorted=False``, where PyTorch leaves the order open). Among equal values the first ones
    are taken; NaN counts as the largest. The gradient goes to the selected elements."""
    k = int(k) if isinstance(k, (int, np.integer)) else k
    if not isinstance(k, int):
        raise TypeError(f"topk: k must be an int, got {k!r}")
    d = wrap_dim(dim, input.ndim, "topk")
    n = input.shape[d] if input.ndim else 1
    if not 0 <= k <= n:
        raise ValueError(f"topk: selected index k out of range: k={k} for a dim of size {n} (shape "
                         f"{tuple(input.shape)})")
    if input.ndim == 0:
        return sort(input)
    idx = np.take(_sort_indices(input.data, d, bool(largest)), np.arange(k), axis=d)
    from .select import Gather
    return ValuesIndices(Gather.apply(input, idx, d, True), Tensor._wrap(idx.astype(np.int64, copy=False), False))


__all__ = ["sum", "mean", "max", "min", "amax", "amin", "var", "std", "argmax", "argmin", "prod", "logsumexp",
           "cumsum", "sort", "argsort", "topk"]
