"""PyTorch's selection ops: where, masked_fill, gather, index_select (values and gradients as PyTorch's)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Context, Function, unbroadcast, wrap_dim
from ..tensor import Tensor
from .shape import reshape


class Where(Function):
    """``cond ? a : b`` (broadcasting); each branch gets the gradient where it was chosen."""

    @staticmethod
    def forward(ctx: Context, cond: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(cond)
        ctx.shapes = (a.shape, b.shape)
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (cond,) = ctx.saved
        _, na, nb = ctx.needs_input_grad
        zero = np.zeros((), dtype=g.dtype)
        ga = unbroadcast(np.where(cond, g, zero), ctx.shapes[0]) if na else None
        gb = unbroadcast(np.where(cond, zero, g), ctx.shapes[1]) if nb else None
        return None, ga, gb


class MaskedFill(Function):
    """``a`` with ``value`` where ``mask`` (broadcasting to a common shape); ``value`` (0-d) gets the gradient
    summed over the filled positions, ``a`` the rest."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, mask: np.ndarray, value: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(mask)
        ctx.shape = a.shape
        return np.where(mask, value.astype(a.dtype), a)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (mask,) = ctx.saved
        na, _, nv = ctx.needs_input_grad
        zero = np.zeros((), dtype=g.dtype)
        ga = unbroadcast(np.where(mask, zero, g), ctx.shape) if na else None
        gv = np.asarray(np.where(mask, g, zero).sum()) if nv else None
        return ga, None, gv


def _grid(index: np.ndarray, axis: int) -> tuple[np.ndarray, ...]:
    """Full integer coordinates for ``out[i][j][k] -> a[i][index[i][j][k]][k]`` (``axis`` 1): ``index`` on
    ``axis``, broadcastable aranges on the other axes."""
    nd = index.ndim
    return tuple(index if d == axis else np.arange(n).reshape((-1,) + (1,) * (nd - 1 - d))
                 for d, n in enumerate(index.shape))


class Gather(Function):
    """``out[..., j, ...] = a[..., index[..., j, ...], ...]`` along ``axis`` (PyTorch's ``gather``); the
    gradient is scattered back and added where an index repeats (``unique``: indices known distinct along
    ``axis``, as for sort/topk, so it is written instead)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, index: np.ndarray, axis: int, unique: bool = False) -> np.ndarray:
        ctx.save_for_backward(index)
        ctx.shape, ctx.axis, ctx.unique = a.shape, axis, unique
        if any(n != m for d, (n, m) in enumerate(zip(index.shape, a.shape)) if d != axis):
            a = a[tuple(slice(None) if d == axis else slice(0, n) for d, n in enumerate(index.shape))]
        return np.take_along_axis(a, index, axis)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (index,) = ctx.saved
        out = np.zeros(ctx.shape, dtype=g.dtype)
        same = all(n == m for d, (n, m) in enumerate(zip(index.shape, ctx.shape)) if d != ctx.axis)
        if ctx.unique and same:
            np.put_along_axis(out, index, g, ctx.axis)
        else:
            np.add.at(out, _grid(index, ctx.axis), g)
        return out, None, None, None


class IndexSelect(Function):
    """The slices ``index`` (1-d) of ``a`` along ``axis``; the gradient is added back (repeats sum)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, index: np.ndarray, axis: int) -> np.ndarray:
        ctx.save_for_backward(index)
        ctx.shape, ctx.axis = a.shape, axis
        return np.take(a, index, axis=axis)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (index,) = ctx.saved
        out = np.zeros(ctx.shape, dtype=g.dtype)
        np.add.at(np.moveaxis(out, ctx.axis, 0), index, np.moveaxis(g, ctx.axis, 0))
        return out, None, None


def _bool_mask(m: Any, name: str, what: str) -> np.ndarray:
    arr = m.data if isinstance(m, Tensor) else np.asarray(m)
    if arr.dtype != np.bool_:
        raise TypeError(f"{name}: expected {what} to be a boolean tensor, but got a tensor with dtype {arr.dtype}")
    return arr


def where(condition: Any, input: Any = None, other: Any = None):  # noqa: A002 - PyTorch names
    """PyTorch's ``torch.where``: ``input`` where ``condition`` (a bool tensor) is True, else ``other``; all three
    broadcast, ``input``/``other`` may be numbers and are promoted like ``input + other``; each gets the gradient
    where it was chosen. ``where(condition)`` alone is ``nonzero(as_tuple=True)``: one int64 index tensor per
    dim."""
    cond = _bool_mask(condition, "where", "condition")
    if input is None and other is None:
        return tuple(Tensor._wrap(np.asarray(i, dtype=np.int64), False) for i in np.nonzero(cond))
    if input is None or other is None:
        raise TypeError("where: give both input and other, or neither (where(condition) is nonzero)")
    from .elementwise import _operands
    a, b = _operands(input if isinstance(input, Tensor) else Tensor(input), other)
    try:
        np.broadcast_shapes(cond.shape, a.shape, b.shape)
    except ValueError:
        raise ValueError(f"where: condition {cond.shape}, input {a.shape} and other {b.shape} do not "
                         "broadcast to one shape") from None
    return Where.apply(cond, a, b)


def masked_fill(input: Tensor, mask: Any, value: Any) -> Tensor:  # noqa: A002
    """PyTorch's ``masked_fill``: ``input`` with ``value`` (a number or 0-d tensor, converted to ``input``'s
    dtype) where ``mask`` (a bool tensor broadcasting with ``input``) is True. The gradient goes to ``input``
    where it was kept and, summed, to a 0-d ``value`` tensor."""
    m = _bool_mask(mask, "masked_fill", "mask")
    if isinstance(value, Tensor):
        if value.ndim:
            raise ValueError(f"masked_fill: only supports a 0-dimensional value tensor, but got a tensor of shape "
                             f"{tuple(value.shape)}")
    else:
        v = np.asarray(value)
        if v.ndim or v.dtype.kind not in "biuf":
            raise TypeError(f"masked_fill: value must be a number or a 0-d tensor, got {value!r}")
        value = Tensor._wrap(v, False)
    try:
        np.broadcast_shapes(m.shape, input.shape)
    except ValueError:
        raise ValueError(f"masked_fill: mask of shape {m.shape} does not broadcast with input of shape "
                         f"{tuple(input.shape)}") from None
    return MaskedFill.apply(input, m, value)


def _int_index(index: Any, name: str) -> np.ndarray:
    arr = index.data if isinstance(index, Tensor) else np.asarray(index)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected an integer (int32/int64) index tensor, got dtype {arr.dtype}")
    return arr


def _check_bounds(index: np.ndarray, size: int, dim: int, name: str) -> None:
    if index.size and (index.min() < 0 or index.max() >= size):
        bad = index.min() if index.min() < 0 else index.max()
        raise IndexError(f"{name}: index {bad} is out of bounds for dimension {dim} with size {size}")


def gather(input: Tensor, dim: int, index: Any) -> Tensor:  # noqa: A002
    """PyTorch's ``torch.gather``: ``out[i][j][k] = input[i][index[i][j][k]][k]`` for ``dim`` 1. ``index`` is an
    integer tensor with ``input``'s number of dims, no larger than ``input`` except along ``dim``; the output has
    its shape. The gradient is added back at the gathered positions."""
    idx = _int_index(index, "gather")
    d = wrap_dim(dim, input.ndim, "gather")
    if input.ndim == 0 or idx.ndim == 0:
        if input.ndim > 1 or idx.ndim > 1:
            raise ValueError("gather: index tensor must have the same number of dimensions as input tensor, got "
                             f"{idx.ndim} and {input.ndim}")
        out = gather(reshape(input, (input.data.size,)), 0, idx.reshape(-1))
        return reshape(out, idx.shape)
    if idx.ndim != input.ndim:
        raise ValueError("gather: index tensor must have the same number of dimensions as input tensor, got "
                         f"{idx.ndim} and {input.ndim}")
    for k, (n, m) in enumerate(zip(idx.shape, input.shape)):
        if k != d and n > m:
            raise ValueError(f"gather: index of shape {idx.shape} must be no larger than input of shape "
                             f"{tuple(input.shape)} apart from dimension {d}")
    _check_bounds(idx, input.shape[d], d, "gather")
    return Gather.apply(input, idx.astype(np.intp, copy=False), d, False)


def index_select(input: Tensor, dim: int, index: Any) -> Tensor:  # noqa: A002
    """PyTorch's ``torch.index_select``: the slices ``index`` (a 0-d or 1-d integer tensor; repeats allowed) of
    ``input`` along ``dim``, in that order; the gradient is added back."""
    idx = _int_index(index, "index_select")
    if idx.ndim > 1:
        raise IndexError(f"index_select: index is supposed to be a vector, got shape {idx.shape}")
    d = wrap_dim(dim, input.ndim, "index_select")
    if input.ndim == 0:
        if idx.size != 1:
            raise ValueError(f"index_select: an index into a 0-d tensor can have only 1 value, got {idx.size}")
        _check_bounds(idx, 1, 0, "index_select")
        return reshape(input, ())                    # PyTorch: a 0-d input gives a 0-d result
    _check_bounds(idx, input.shape[d], d, "index_select")
    return IndexSelect.apply(input, idx.reshape(-1).astype(np.intp, copy=False), d)


__all__ = ["where", "masked_fill", "gather", "index_select"]
