"""Rearranging ops: expand, repeat, split, chunk, flip, roll (and the copy behind ``Tensor.contiguous``)."""
from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..autograd import Context, Function, unbroadcast, wrap_dim
from ..tensor import Tensor


class Expand(Function):
    """A broadcast view of ``a`` (leading dims added, size-1 dims stretched); the gradient sums them back."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        ctx.shape = a.shape
        return np.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        return unbroadcast(g, ctx.shape), None


class Repeat(Function):
    """``a`` tiled ``reps`` times along each dim (``len(reps) >= a.ndim``, new leading dims first)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, reps: tuple[int, ...]) -> np.ndarray:
        ctx.shape, ctx.reps = a.shape, reps
        return np.tile(a, reps)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        reps = ctx.reps
        full = (1,) * (len(reps) - len(ctx.shape)) + ctx.shape
        split = tuple(v for r, s in zip(reps, full) for v in (r, s))     # (r0, s0, r1, s1, ...)
        return g.reshape(split).sum(axis=tuple(range(0, 2 * len(reps), 2))).reshape(ctx.shape), None


class Narrow(Function):
    """``a[..., start:stop, ...]`` along ``axis``; the gradient is written into zeros."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, axis: int, start: int, stop: int) -> np.ndarray:
        ctx.shape = a.shape
        ctx.sl = (slice(None),) * axis + (slice(start, stop),)
        return a[ctx.sl]

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        out = np.zeros(ctx.shape, dtype=g.dtype)
        out[ctx.sl] = g
        return out, None, None, None


class Flip(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        ctx.axes = axes
        return np.flip(a, axes) if axes else a.copy()

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        return (np.flip(g, ctx.axes) if ctx.axes else g), None


class Roll(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, shifts: tuple[int, ...], axes: tuple[int, ...] | None) -> np.ndarray:
        ctx.shifts, ctx.axes = shifts, axes
        return np.roll(a, shifts if axes is not None else shifts[0], axis=axes)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        back = tuple(-s for s in ctx.shifts)
        return np.roll(g, back if ctx.axes is not None else back[0], axis=ctx.axes), None, None


class Contiguous(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        return (g,)


def contiguous_copy(a: Tensor) -> Tensor:
    """A C-contiguous copy of ``a`` that stays in the graph (``Tensor.contiguous`` of a non-contiguous tensor)."""
    return Contiguous.apply(a)


def expand(input: Tensor, *sizes: Any) -> Tensor:  # noqa: A002
    """PyTorch's ``Tensor.expand``: broadcast to ``sizes`` (ints or one sequence; at least ``input.ndim`` of
    them, new dims in front). ``-1`` keeps a dim's size; only size-1 dims can change. A read-only broadcast view;
    the gradient is summed over the expanded dims."""
    target = tuple(operator.index(s) for s in _sizes(sizes))
    shape = tuple(input.shape)
    lead = len(target) - len(shape)
    if lead < 0:
        raise ValueError(f"expand: the number of sizes provided ({len(target)}) must be greater or equal to the "
                         f"number of dimensions in the tensor ({len(shape)}), shape {shape}")
    out = []
    for i, s in enumerate(target):
        if i < lead:
            if s < 0:
                raise ValueError(f"expand: the expanded size of the tensor ({s}) isn't allowed in a leading, "
                                 f"non-existing dimension {i}")
            out.append(s)
            continue
        have = shape[i - lead]
        if s == -1:
            s = have
        elif have != 1 and s != have or s < 0:
            raise ValueError(f"expand: the expanded size of the tensor ({s}) must match the existing size ({have}) "
                             f"at non-singleton dimension {i}. Target sizes: {list(target)}. Tensor sizes: "
                             f"{list(shape)}")
        out.append(s)
    return Expand.apply(input, tuple(out))


def _sizes(sizes: tuple) -> tuple:
    """``f(2, 3)`` or ``f((2, 3))``."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        return tuple(sizes[0])
    return tuple(sizes)


def repeat(input: Tensor, *sizes: Any) -> Tensor:  # noqa: A002
    """PyTorch's ``Tensor.repeat``: tile ``input`` ``sizes[i]`` times along dim ``i`` (ints or one sequence, at
    least ``input.ndim`` of them; extra ones add leading dims). Copies; the gradient sums the copies."""
    reps = tuple(operator.index(s) for s in _sizes(sizes))
    if len(reps) < input.ndim:
        raise ValueError("repeat: number of dimensions of repeat dims can not be smaller than number of dimensions "
                         f"of tensor, got {len(reps)} for shape {tuple(input.shape)}")
    if any(r < 0 for r in reps):
        raise ValueError(f"repeat: repeats must be non-negative, got {reps}")
    return Repeat.apply(input, reps)


def _narrow_all(input: Tensor, d: int, sizes: list[int]) -> tuple[Tensor, ...]:
    starts = np.concatenate([[0], np.cumsum(sizes)]).tolist()
    return tuple(Narrow.apply(input, d, int(lo), int(hi)) for lo, hi in zip(starts[:-1], starts[1:]))


def split(tensor: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """PyTorch's ``torch.split``: an int cuts ``dim`` into pieces of that size (the last may be smaller); a list
    gives each piece's size (summing to the dim's size). Returns a tuple of tensors, each differentiable."""
    if tensor.ndim == 0:
        raise ValueError("split: a 0-d tensor has no dimension to split")
    d = wrap_dim(dim, tensor.ndim, "split")
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [operator.index(s) for s in split_size_or_sections]
        if any(s < 0 for s in sizes):
            raise ValueError(f"split: expects split_sizes have only non-negative entries, but got split_sizes={sizes}")
        if sum(sizes) != n:
            raise ValueError(f"split: expects split_sizes to sum exactly to {n} (input tensor's size at dimension "
                             f"{d}), but got split_sizes={sizes}")
        return _narrow_all(tensor, d, sizes)
    size = operator.index(split_size_or_sections)
    if size < 0:
        raise ValueError(f"split: expects split_size be non-negative, but got split_size={size}")
    if size == 0 and n != 0:
        raise ValueError(f"split: split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
    if n == 0:
        return _narrow_all(tensor, d, [0])
    return _narrow_all(tensor, d, [size] * (n // size) + ([n % size] if n % size else []))


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:  # noqa: A002
    """PyTorch's ``torch.chunk``: ``split`` into pieces of ``ceil(size / chunks)`` along ``dim`` (so there may be
    fewer than ``chunks``; an empty dim gives ``chunks`` empty pieces)."""
    chunks = operator.index(chunks)
    if chunks <= 0:
        raise ValueError(f"chunk: expects `chunks` to be greater than 0, got: {chunks}")
    if input.ndim == 0:
        raise ValueError("chunk: a 0-d tensor has no dimension to chunk")
    d = wrap_dim(dim, input.ndim, "chunk")
    n = input.shape[d]
    if n == 0:
        return _narrow_all(input, d, [0] * chunks)
    return split(input, -(-n // chunks), d)


def _dims(dims: Any, ndim: int, name: str) -> tuple[int, ...]:
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    out = tuple(wrap_dim(x, ndim, name) for x in dims)
    for i, x in enumerate(out):
        if x in out[:i]:
            raise ValueError(f"{name}: dim {x} appears multiple times in the list of dims")
    return out


def flip(input: Tensor, dims: Any) -> Tensor:  # noqa: A002
    """PyTorch's ``torch.flip``: reverse the order along each of ``dims`` (an int or a sequence). A view; the
    gradient is flipped back."""
    axes = _dims(dims, input.ndim, "flip")
    return Flip.apply(input, axes if input.ndim else ())


def roll(input: Tensor, shifts: Any, dims: Any = None) -> Tensor:  # noqa: A002
    """PyTorch's ``torch.roll``: shift elements ``shifts`` places along ``dims`` (ints or equal-length sequences),
    wrapping around; without ``dims`` the flattened tensor is rolled and the shape restored."""
    sh = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    sh = tuple(operator.index(s) for s in sh)
    if not sh:
        raise ValueError("roll: `shifts` required")
    if dims is None:
        if len(sh) != 1:
            raise ValueError(f"roll: shifts and dimensions must align (no dims given: one shift), shifts: {len(sh)}")
        return Roll.apply(input, sh, None)
    dd = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if len(sh) != len(dd):
        raise ValueError(f"roll: shifts and dimensions must align. shifts: {len(sh)}, dims: {len(dd)}")
    if input.ndim == 0:
        raise IndexError(f"roll: dimension specified as {dd[0]} but tensor has no dimensions")
    return Roll.apply(input, sh, tuple(wrap_dim(x, input.ndim, "roll") for x in dd))


__all__ = ["expand", "repeat", "split", "chunk", "flip", "roll"]
