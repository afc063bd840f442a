"""Shape ops: reshape/view, transpose, permute, flatten, squeeze/unsqueeze, indexing, concat, stack, pad.
Selection (where, masked_fill, gather, index_select) is in ``select.py``; expand, repeat, split, chunk, flip and
roll in ``rearrange.py``."""
from __future__ import annotations

import operator
from typing import Any, Sequence

import numpy as np

from ..autograd import Context, Function, wrap_dim
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
        """``dims``: non-negative (see :func:`permute`)."""
        ctx.dims = dims
        return a.transpose(dims)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        return g.transpose(np.argsort(ctx.dims)), None


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


def _crops(shape: tuple[int, ...], widths: tuple[tuple[int, int], ...]) -> tuple[slice, ...] | None:
    """The slices that negative widths keep of an axis of each size in ``shape`` (None: nothing cropped)."""
    if all(lo >= 0 and hi >= 0 for lo, hi in widths):
        return None
    return tuple(slice(max(-lo, 0), n - max(-hi, 0)) for (lo, hi), n in zip(widths, shape))


class Pad(Function):
    """Constant padding; negative widths crop first (PyTorch's ``constant_pad_nd``)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, widths: tuple[tuple[int, int], ...], value: float) -> np.ndarray:
        ctx.shape, ctx.crop = a.shape, _crops(a.shape, widths)
        if ctx.crop:
            a = a[ctx.crop]
        grow = tuple((max(lo, 0), max(hi, 0)) for lo, hi in widths)
        ctx.slices = tuple(slice(lo, lo + n) for (lo, _), n in zip(grow, a.shape))
        return np.pad(a, grow or 0, constant_values=value)      # 0: a 0-d input

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        if ctx.crop is None:
            return g[ctx.slices], None, None
        out = np.zeros(ctx.shape, dtype=g.dtype)
        out[ctx.crop] = g[ctx.slices]
        return out, None, None


Border = tuple[slice, slice, bool]


def _rev(start: int, length: int) -> slice:
    """``length`` positions from ``start`` downwards (a reversed slice that may end before index 0)."""
    stop = start - length
    return slice(start, stop if stop >= 0 else None, -1)


def _borders(n: int, lo: int, hi: int, mode: str) -> tuple[Border, ...]:
    """The borders of one axis of size ``n`` padded by ``lo, hi >= 0``, in output coordinates (the input sits at
    ``lo:lo + n``): ``(border, source, repeated)``; the border copies the source (reversed for reflect), or
    repeats its single element (replicate)."""
    end = lo + n
    if mode == "reflect":                                  # mirror without repeating the edge
        parts = ((slice(0, lo), _rev(2 * lo, lo), False), (slice(end, end + hi), _rev(end - 2, hi), False))
    elif mode == "replicate":                              # repeat the edge element
        parts = ((slice(0, lo), slice(lo, lo + 1), True), (slice(end, end + hi), slice(end - 1, end), True))
    else:                                                  # circular: wrap around
        parts = ((slice(0, lo), slice(n, end), False), (slice(end, end + hi), slice(lo, lo + hi), False))
    return tuple(p for p, w in zip(parts, (lo, hi)) if w)


class ModePad(Function):
    """reflect / replicate / circular padding (``widths`` per axis, negative: cropped) as PyTorch's CPU kernels.

    Forward writes the input into the middle of the output, then each padded axis' borders from inside the
    output (as ``np.pad`` does; the input's memory order is kept). Backward is its transpose: each border's
    gradient is added onto its source, so input positions read several times get the sum, then the middle is
    the input gradient. reflect/replicate read ``reflect(j - lo)`` / ``clip(j - lo)`` even where ``lo < 0``, so
    they pad by the positive widths and crop afterwards; circular wraps what is kept, so it crops first."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, widths: tuple[tuple[int, int], ...], mode: str) -> np.ndarray:
        grow = tuple((max(lo, 0), max(hi, 0)) for lo, hi in widths)
        ctx.shape, ctx.grow = a.shape, grow
        ctx.crop_in = _crops(a.shape, widths) if mode == "circular" else None
        if ctx.crop_in:
            a = a[ctx.crop_in]
        out = np.empty_like(a, shape=tuple(n + lo + hi for n, (lo, hi) in zip(a.shape, grow)))
        ctx.middle = tuple(slice(lo, lo + n) for n, (lo, _) in zip(a.shape, grow))
        out[ctx.middle] = a
        ctx.borders = tuple((ax, _borders(n, lo, hi, mode)) for ax, (n, (lo, hi)) in enumerate(zip(a.shape, grow))
                            if lo or hi)
        for ax, borders in ctx.borders:
            lead = (slice(None),) * ax
            for border, source, _ in borders:
                out[lead + (border,)] = out[lead + (source,)]
        ctx.crop_out = None if mode == "circular" else _crops(out.shape, widths)
        return out[ctx.crop_out] if ctx.crop_out else out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        if ctx.crop_out:
            w = np.zeros_like(g, shape=tuple(n + lo + hi for n, (lo, hi) in zip(ctx.shape, ctx.grow)))
            w[ctx.crop_out] = g
        else:
            w = g.copy(order="K")
        for ax, borders in reversed(ctx.borders):
            lead = (slice(None),) * ax
            for border, source, repeated in borders:
                part = w[lead + (border,)]
                w[lead + (source,)] += part.sum(ax, keepdims=True) if repeated else part
        gin = w[ctx.middle]
        if ctx.crop_in:
            full = np.zeros_like(gin, shape=ctx.shape)
            full[ctx.crop_in] = gin
            gin = full
        return gin, None, None


def reshape(a: Tensor, shape: Sequence[int]) -> Tensor:
    """Reshape (one ``-1`` allowed). Shares memory when possible, like ``view``."""
    return Reshape.apply(a, tuple(int(s) for s in shape))


view = reshape


def permute(a: Tensor, dims: Sequence[int]) -> Tensor:
    """Reorder the axes: ``out.shape[i] == a.shape[dims[i]]``."""
    if len(dims) != a.ndim:
        raise ValueError(f"permute: dims {tuple(dims)} are not a permutation of the {a.ndim} axes of shape {a.shape}")
    norm = tuple(wrap_dim(d, a.ndim, "permute") for d in dims)
    if sorted(norm) != list(range(a.ndim)):
        raise ValueError(f"permute: dims {tuple(dims)} are not a permutation of the {a.ndim} axes of shape {a.shape}")
    return Permute.apply(a, norm)


def transpose(a: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two axes."""
    dims = list(range(a.ndim))
    d0, d1 = wrap_dim(dim0, a.ndim, "transpose"), wrap_dim(dim1, a.ndim, "transpose")
    if a.ndim == 0:              # PyTorch: transpose(0, -1) of a 0-d tensor is the tensor
        return permute(a, ())
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return permute(a, dims)


def flatten(a: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes ``start_dim..end_dim`` into one (PyTorch's ``torch.flatten``)."""
    if a.ndim == 0:
        return reshape(a, (1,))
    s, e = wrap_dim(start_dim, a.ndim, "flatten"), wrap_dim(end_dim, a.ndim, "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {a.shape}")
    shape = a.shape[:s] + (int(np.prod(a.shape[s:e + 1])),) + a.shape[e + 1:]
    return reshape(a, shape)


def squeeze(a: Tensor, dim: int | None = None) -> Tensor:
    """Drop size-1 axes (all, or only ``dim`` if it has size 1)."""
    if dim is None:                      # ``dim`` may also be a tuple of dims, as in PyTorch 2
        shape = tuple(s for s in a.shape if s != 1)
    else:
        dims = {wrap_dim(d, a.ndim, "squeeze") for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
        shape = tuple(s for i, s in enumerate(a.shape) if s != 1 or i not in dims)
    return reshape(a, shape)


def unsqueeze(a: Tensor, dim: int) -> Tensor:
    """Insert a size-1 axis at ``dim``."""
    d = wrap_dim(dim, a.ndim + 1, "unsqueeze")
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
    tensors = _promoted(tensors)
    first = tensors[0]
    if first.ndim == 0:
        raise ValueError("concat: zero-dimensional tensors cannot be concatenated; use stack")
    d = wrap_dim(dim, first.ndim, "concat")
    for i, t in enumerate(tensors):
        if t.ndim != first.ndim or t.shape[:d] + t.shape[d + 1:] != first.shape[:d] + first.shape[d + 1:]:
            raise ValueError(f"concat: tensor {i} has shape {t.shape}, tensor 0 has shape {first.shape}; all sizes "
                             f"but dim {dim}'s must match")
    return Concat.apply(d, *tensors)


cat = concat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors of equal shape along a new axis."""
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    tensors = _promoted(tensors)
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: expects tensors of equal shape, got {tensors[0].shape} at 0 and {t.shape} at {i}")
    return Stack.apply(wrap_dim(dim, tensors[0].ndim + 1, "stack"), *tensors)


def _promoted(tensors: Sequence[Any]) -> list[Tensor]:
    """The tensors (ndarrays wrapped) in PyTorch's common dtype for cat/stack: the highest category (bool <
    integer < floating) decides, NumPy's promotion within it (an int64 and a float32 tensor give float32, not
    NumPy's float64)."""
    ts = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    dts = {t.dtype for t in ts}
    if len(dts) == 1:
        return ts
    from .elementwise import _cat, cast
    top = max(_cat(dt) for dt in dts)
    dt = np.result_type(*(d for d in dts if _cat(d) == top))
    return [t if t.dtype == dt else cast(t, dt) for t in ts]


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _check_widths(shape: tuple[int, ...], dims: list[tuple[int, int, int]], mode: str) -> None:
    """PyTorch's rules for ``(dim, lo, hi)`` of each padded dim of an input of ``shape``; one ValueError each."""
    k = len(dims)
    if mode == "constant":                   # constant_pad_nd: crops first, so the crop must fit
        for d, lo, hi in dims:
            if shape[d] + min(lo, 0) + min(hi, 0) < 0:
                raise ValueError(f"pad: widths ({lo}, {hi}) crop more than the size {shape[d]} of dim {d} "
                                 f"of shape {shape}")
        return
    if k not in (1, 2, 3) or len(shape) not in (k + 1, k + 2):
        raise ValueError(f"pad: mode {mode!r} pads the last 1, 2 or 3 dims of a (C, *S) or (N, C, *S) input, so "
                         f"{2 * k} widths need a {k + 1}-d or {k + 2}-d input, got shape {shape}")
    if mode != "circular" and 0 in shape[len(shape) - k - 1:]:
        raise ValueError(f"pad: mode {mode!r} needs non-empty channel and padded dims, got shape {shape}")
    for d, lo, hi in dims:
        n, kept = shape[d], shape[d] + min(lo, 0) + min(hi, 0)
        where = f"widths ({lo}, {hi}) for dim {d} of size {n} (shape {shape})"
        if mode == "reflect" and max(lo, hi) >= n:
            raise ValueError(f"pad: reflect widths must be smaller than the size they pad, got {where}")
        if mode == "circular" and (kept < 0 or max(lo, hi) > kept):
            raise ValueError(f"pad: circular widths must be at most the size left after cropping ({kept}), "
                             f"got {where}")
        if n + lo + hi < 0:
            raise ValueError(f"pad: {where} leave a size of {n + lo + hi}")
    if mode != "circular" and all(shape[d] + lo + hi < 1 for d, lo, hi in dims):   # as PyTorch's kernels
        raise ValueError(f"pad: mode {mode!r} widths {tuple(w for _, lo, hi in dims for w in (lo, hi))} leave "
                         f"every padded dim of shape {shape} empty")


def pad(a: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """PyTorch's ``F.pad``: ``pad = (last_lo, last_hi, prev_lo, prev_hi, ...)``; negative widths crop.

    ``"constant"`` fills with ``value`` (default 0) and pads any number of dims. ``"reflect"`` (mirror without
    repeating the edge; widths < the size), ``"replicate"`` (repeat the edge) and ``"circular"`` (wrap; widths
    <= the size) pad the last 1, 2 or 3 dims of a (C, *S) or (N, C, *S) input and take no value.
    ``pad(a, widths, 0.5)`` (a number in ``mode``'s place, the former signature) pads with the constant 0.5.
    """
    if not isinstance(mode, str):
        if value is not None:
            raise TypeError(f"pad: mode must be a string, got {mode!r}")
        mode, value = "constant", mode
    flat = tuple(operator.index(p) for p in pad)
    if len(flat) % 2 or len(flat) // 2 > a.ndim:
        raise ValueError(f"pad: expected an even number of at most {2 * a.ndim} widths (lo, hi per dim, from the "
                         f"last dim backwards) for shape {tuple(a.shape)}, got {flat}")
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {_PAD_MODES}, got {mode!r}")
    if mode != "constant" and value is not None and value != 0:
        raise ValueError(f"pad: mode {mode!r} takes no fill value, got value={value}")
    dims = [(a.ndim - 1 - i, flat[2 * i], flat[2 * i + 1]) for i in range(len(flat) // 2)]
    _check_widths(tuple(a.shape), dims, mode)
    widths = [(0, 0)] * a.ndim
    for d, lo, hi in dims:
        widths[d] = (lo, hi)
    if mode == "constant":
        return Pad.apply(a, tuple(widths), 0.0 if value is None else value)
    return ModePad.apply(a, tuple(widths), mode)


__all__ = ["reshape", "view", "permute", "transpose", "flatten", "squeeze", "unsqueeze", "index",
           "concat", "cat", "stack", "pad"]
