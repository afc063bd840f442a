"""Shape ops: reshape/view, transpose, permute, flatten, squeeze/unsqueeze, indexing, concat, stack, pad."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..autograd import Context, Function
from ..tensor import Tensor


class Reshape(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape tensor of shape {a.shape} ({a.size} elements) "
                             f"into shape {tuple(shape)}") from None

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        return g.reshape(ctx.shape), None


class Permute(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, dims: tuple[int, ...]) -> np.ndarray:
        if sorted(d % a.ndim for d in dims) != list(range(a.ndim)):
            raise ValueError(f"permute: dims {dims} are not a permutation of the {a.ndim} axes of shape {a.shape}")
        ctx.dims = dims
        return a.transpose(dims)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        return g.transpose(np.argsort([d % g.ndim for d in ctx.dims])), None


class Index(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, idx: Any) -> np.ndarray:
        ctx.shape, ctx.dtype, ctx.idx = a.shape, a.dtype, idx
        return a[idx]

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        out = np.zeros(ctx.shape, dtype=g.dtype)
        np.add.at(out, ctx.idx, g)  # handles repeated integer indices
        return out, None


class Concat(Function):
    @staticmethod
    def forward(ctx: Context, axis: int, *arrays: np.ndarray) -> np.ndarray:
        ctx.axis = axis
        ctx.splits = np.cumsum([x.shape[axis] for x in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        return (None, *np.split(g, ctx.splits, axis=ctx.axis))


class Stack(Function):
    @staticmethod
    def forward(ctx: Context, axis: int, *arrays: np.ndarray) -> np.ndarray:
        out = np.stack(arrays, axis=axis)
        ctx.axis = axis % out.ndim
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        return (None, *(np.take(g, i, axis=ctx.axis) for i in range(g.shape[ctx.axis])))


class Pad(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, widths: tuple[tuple[int, int], ...], value: float) -> np.ndarray:
        ctx.slices = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, a.shape))
        return np.pad(a, widths, constant_values=value)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        return g[ctx.slices], None, None


def reshape(a: Tensor, shape: Sequence[int]) -> Tensor:
    """Reshape (one ``-1`` allowed). Shares memory when possible, like ``view``."""
    return Reshape.apply(a, tuple(int(s) for s in shape))


view = reshape


def permute(a: Tensor, dims: Sequence[int]) -> Tensor:
    """Reorder the axes: ``out.shape[i] == a.shape[dims[i]]``."""
    return Permute.apply(a, tuple(int(d) for d in dims))


def transpose(a: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two axes."""
    dims = list(range(a.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return permute(a, dims)


def flatten(a: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes ``start_dim..end_dim`` into one (PyTorch's ``torch.flatten``)."""
    if a.ndim == 0:
        return reshape(a, (1,))
    s, e = start_dim % a.ndim, end_dim % a.ndim
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {a.shape}")
    shape = a.shape[:s] + (int(np.prod(a.shape[s:e + 1])),) + a.shape[e + 1:]
    return reshape(a, shape)


def squeeze(a: Tensor, dim: int | None = None) -> Tensor:
    """Drop size-1 axes (all, or only ``dim`` if it has size 1)."""
    if dim is None:
        shape = tuple(s for s in a.shape if s != 1)
    else:
        d = dim % a.ndim
        shape = a.shape if a.shape[d] != 1 else a.shape[:d] + a.shape[d + 1:]
    return reshape(a, shape)


def unsqueeze(a: Tensor, dim: int) -> Tensor:
    """Insert a size-1 axis at ``dim``."""
    d = dim % (a.ndim + 1)
    return reshape(a, a.shape[:d] + (1,) + a.shape[d:])


def index(a: Tensor, idx: Any) -> Tensor:
    """``a[idx]`` with NumPy semantics (slices, ints, integer/bool arrays); gradient scatters back."""
    if isinstance(idx, Tensor):
        idx = idx.data
    elif isinstance(idx, tuple):
        idx = tuple(i.data if isinstance(i, Tensor) else i for i in idx)
    return Index.apply(a, idx)


def concat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing axis (``torch.cat``)."""
    if not tensors:
        raise ValueError("concat: expected a non-empty sequence of tensors")
    return Concat.apply(dim, *tensors)


cat = concat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors of equal shape along a new axis."""
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    return Stack.apply(dim, *tensors)


def pad(a: Tensor, pad: Sequence[int], value: float = 0.0) -> Tensor:
    """Constant padding with PyTorch's ``F.pad`` convention: ``pad = (last_lo, last_hi, prev_lo, prev_hi, ...)``."""
    if len(pad) % 2 or len(pad) // 2 > a.ndim:
        raise ValueError(f"pad: expected an even number of at most {2 * a.ndim} widths, got {tuple(pad)}")
    if any(p < 0 for p in pad):
        raise ValueError(f"pad: negative widths are not supported, got {tuple(pad)}")
    widths = [(0, 0)] * a.ndim
    for i in range(len(pad) // 2):
        widths[a.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    return Pad.apply(a, tuple(widths), value)


__all__ = ["reshape", "view", "permute", "transpose", "flatten", "squeeze", "unsqueeze", "index",
           "concat", "cat", "stack", "pad"]
