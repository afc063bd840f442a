"""Shared window and layout helpers for convolution, pooling and batch norm: argument normalisation, output sizes,
padding, stride-trick windows, the per-offset slices that pooling and col2im loop over, and bringing an array
into another's memory order.

Shapes use ``N`` batch, ``C`` channels, ``S`` the spatial sizes (1, 2 or 3 of them), ``K`` the kernel sizes,
``O`` the output sizes. Convolution works *channels-last* internally: ``(N, *S, C)``, so that an im2col row
``(*K, C)`` is made of long contiguous runs and a whole layer is one GEMM ``(N*prod(O), prod(K)*C) @ (.., C_out)``.
"""
from __future__ import annotations

import itertools
from functools import lru_cache
from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..parallel import parallel_for

IntOrTuple = int | Sequence[int]


def to_tuple(value: IntOrTuple, n: int, name: str, op: str, minimum: int = 1) -> tuple[int, ...]:
    """``value`` as an ``n``-tuple of ints ``>= minimum``; raises ValueError naming ``op`` and ``name``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        out = (int(value),) * n
    else:
        try:
            out = tuple(int(v) for v in value)  # type: ignore[union-attr]
        except TypeError:
            raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}") from None
        if len(out) == 1 and n > 1:
            out = out * n
        if len(out) != n:
            raise ValueError(f"{op}: {name} must have {n} entries (one per spatial dim), got {tuple(value)}")
    if any(v < minimum for v in out):
        what = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{op}: {name} must be {what}, got {value!r}")
    return out


def output_size(n: int, k: int, s: int, p_lo: int, p_hi: int, d: int = 1) -> int:
    """Windows along one axis: ``floor((n + p_lo + p_hi - d*(k-1) - 1) / s) + 1``."""
    return (n + p_lo + p_hi - d * (k - 1) - 1) // s + 1


def pad_channels_last(x: np.ndarray, pads: Sequence[tuple[int, int]], dtype: np.dtype,
                      groups: int = 1) -> np.ndarray:
    """Copy ``x`` (N, C, *S) into a zero-padded, C-contiguous, channels-last, group-major array
    (G*N, *S_padded, C/G): row ``g*N + n`` holds image ``n``'s channels of group ``g`` (for G == 1 simply
    (N, *S_padded, C)).

    One copy does the layout change and the padding; if ``x`` is already channels-last in memory (the output
    of a previous conv), the copy reads it sequentially; with no padding it is not copied at all (a view of
    ``x``: callers only read it).
    """
    n, c, spatial = x.shape[0], x.shape[1], x.shape[2:]
    nd, cg = len(spatial), c // groups
    xt = x.reshape(n, groups, cg, *spatial).transpose(1, 0, *range(3, 3 + nd), 2)   # (G, N, *S, Cg)
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(spatial, pads))
    if padded == tuple(spatial) and x.dtype == dtype and xt.flags.c_contiguous:
        return xt.reshape(groups * n, *padded, cg)   # already that array in memory (e.g. TextCNN's embeddings)
    xp = np.empty((groups, n, *padded, cg), dtype=dtype)
    inner = tuple(slice(lo, lo + s) for s, (lo, _) in zip(spatial, pads))

    def part(lo: int, hi: int) -> None:      # images lo..hi of every group: zero the border, copy the inside
        if padded != spatial:
            _zero_border(xp[:, lo:hi], pads)
        xp[(slice(None), slice(lo, hi)) + inner] = xt[:, lo:hi]
    parallel_for(part, n, xp.size)
    return xp.reshape(groups * n, *padded, cg)


def _zero_border(a: np.ndarray, pads: Sequence[tuple[int, int]]) -> None:
    """Zero the padding frame of ``a`` (G, N, *Sp, C): the low and high slabs of every spatial axis."""
    for axis, (lo, hi) in enumerate(pads, start=2):
        size = a.shape[axis]
        for sl in (slice(0, lo), slice(size - hi, size)):
            if sl.stop > sl.start:
                idx = [slice(None)] * a.ndim
                idx[axis] = sl
                a[tuple(idx)] = 0


def in_layout_of(a: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``a`` with the memory order of ``like`` (same shape): itself if the axis order already agrees, else a copy.

    Mixed layouts (an NCHW gradient against channels-last saved indices) make every strided slab op slow."""
    if a.strides == like.strides or np.array_equal(np.argsort(a.strides, kind="stable"),
                                                   np.argsort(like.strides, kind="stable")):
        return a
    out = np.empty_like(like, dtype=a.dtype)
    np.copyto(out, a)
    return out


def pad_constant(x: np.ndarray, pads: Sequence[tuple[int, int]], value: float) -> np.ndarray:
    """Pad the spatial axes of ``x`` (N, C, *S) with ``value``; returns ``x`` itself when no padding."""
    if not any(lo or hi for lo, hi in pads):
        return x
    shape = x.shape[:2] + tuple(s + lo + hi for s, (lo, hi) in zip(x.shape[2:], pads))
    xp = np.full_like(x, value, shape=shape)      # keeps x's memory order (channels-last stays channels-last)
    xp[(slice(None), slice(None)) + tuple(slice(lo, lo + s) for s, (lo, _) in zip(x.shape[2:], pads))] = x
    return xp


def strided_view(base: np.ndarray, shape: Sequence[int], strides: Sequence[int]) -> np.ndarray:
    """Read-only view of ``base``'s memory with the given shape and byte strides (windows may overlap).

    Like ``numpy.lib.stride_tricks.as_strided``, but a C-contiguous ``base`` is wrapped directly by
    ``np.ndarray`` (~1 us instead of ~9 us per call; NumPy checks that the view stays inside ``base``)."""
    if base.flags.c_contiguous:
        view = np.ndarray(tuple(shape), base.dtype, base, 0, tuple(strides))
        view.flags.writeable = False
        return view
    return as_strided(base, shape=tuple(shape), strides=tuple(strides), writeable=False)


def conv_windows(xp: np.ndarray, out: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                 dilation: Sequence[int], groups: int) -> np.ndarray:
    """Read-only strided view of a channels-last padded input (N, *Sp, C) as (N, *O, G, *K, C/G).

    Element ``[n, *o, g, *k, c]`` is ``xp[n, *(o*stride + k*dilation), g*C/G + c]``. Copying it
    C-contiguously gives the im2col matrix (rows = output pixels, columns = (*K, C/G) per group).
    """
    n, c = xp.shape[0], xp.shape[-1]
    cg = c // groups
    st = xp.strides
    sp = st[1:-1]
    shape = (n, *out, groups, *kernel, cg)
    strides = (st[0], *(a * s for a, s in zip(sp, stride)), cg * st[-1],
               *(a * d for a, d in zip(sp, dilation)), st[-1])
    return strided_view(xp, shape, strides)


@lru_cache(maxsize=256)
def kernel_offsets(kernel: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """Every kernel offset in C order, like ``list(np.ndindex(*kernel))`` (cached)."""
    return tuple(itertools.product(*(range(k) for k in kernel)))


@lru_cache(maxsize=4096)
def offset_slices(offset: tuple[int, ...], out: tuple[int, ...], stride: tuple[int, ...],
                  dilation: tuple[int, ...]) -> tuple[slice, ...]:
    """Slices (one per spatial axis) picking ``x[o*stride + offset*dilation]`` for every output index ``o``.

    Arguments are tuples (cached: pooling and the input gradient ask for the same slices every step)."""
    return tuple(slice(k * d, k * d + s * (o - 1) + 1, s) for k, o, s, d in zip(offset, out, stride, dilation))


@lru_cache(maxsize=4096)
def clipped_offset_slices(offset: tuple[int, ...], out: tuple[int, ...], size: tuple[int, ...],
                          stride: tuple[int, ...], dilation: tuple[int, ...],
                          pads: tuple[tuple[int, int], ...]) -> tuple[tuple[slice, ...], tuple[slice, ...]] | None:
    """Where kernel offset ``offset`` sends output positions inside the UNPADDED input: ``(input slices, output
    slices)`` with ``x[input slices]`` <-> ``y[output slices]`` (input index ``o*stride + offset*dilation - pad``),
    positions that fall into the padding dropped; None when none falls inside (cached, like
    :func:`offset_slices`). The input gradient adds each offset's products here, so no padded buffer is needed."""
    dst, src = [], []
    for k, o, n, s, d, (lo, _) in zip(offset, out, size, stride, dilation, pads):
        start = k * d - lo                            # input index of output index 0
        first = -(start // s) if start < 0 else 0       # ceil(-start / s)
        last = min(o - 1, (n - 1 - start) // s)
        if last < first:
            return None
        dst.append(slice(start + first * s, start + last * s + 1, s))
        src.append(slice(first, last + 1))
    return tuple(dst), tuple(src)


def im2col_into(dst: np.ndarray, xp: np.ndarray, out: Sequence[int], kernel: Sequence[int],
                stride: Sequence[int], dilation: Sequence[int], groups: int) -> None:
    """Fill the im2col matrix ``dst`` (N, *O, G, *K, Cg) with the receptive fields of the channels-last ``xp``
    (N, *Sp, C): one copy of the :func:`conv_windows` view (contiguous runs of Cg or K*Cg), split over the
    batch across threads. For very few channels per group :func:`im2col_t_into` is faster."""
    win = conv_windows(xp, out, kernel, stride, dilation, groups)
    parallel_for(lambda lo, hi: np.copyto(dst[lo:hi], win[lo:hi]), dst.shape[0], dst.size)


def pooled_windows(xp: np.ndarray, pooled: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                   dilation: Sequence[int], pool: Sequence[int], transposed: bool) -> np.ndarray:
    """Read-only view of the receptive fields of a channels-last ``xp`` (N, *Sp, C) (one group) with the output
    positions in *pool-major* order: output ``o = p * pool + q`` (``q`` the offset inside a ``pool``-sized window,
    ``p`` the window) ordered ``(*q, n, *p)``, so that the GEMM's rows for one window offset are contiguous.
    Shape ``(*q, N, *p, 1, *K, C)`` (rows of the im2col matrix), or ``(*K, C, *q, N, *p)`` when ``transposed``."""
    st = xp.strides
    sp = st[1:-1]
    q = tuple(a * s for a, s in zip(sp, stride))
    p = tuple(a * s * w for a, s, w in zip(sp, stride, pool))
    k = tuple(a * d for a, d in zip(sp, dilation))
    n, c = xp.shape[0], xp.shape[-1]
    if transposed:
        return strided_view(xp, (*kernel, c, *pool, n, *pooled), (*k, st[-1], *q, st[0], *p))
    return strided_view(xp, (*pool, n, *pooled, 1, *kernel, c), (*q, st[0], *p, c * st[-1], *k, st[-1]))


COLUMN_MAJOR_BELOW = 4
"""Below this many channels per group convolution builds the transposed im2col matrix (measured: 1-4x faster
im2col + GEMM for 1-3 channels, 2-3x slower from 6 channels up)."""


def im2col_t_into(dst: np.ndarray, xp: np.ndarray, out: Sequence[int], kernel: Sequence[int],
                  stride: Sequence[int], dilation: Sequence[int]) -> None:
    """Fill the *transposed* im2col matrix ``dst`` (G, *K, Cg, N, *O) from the channels-last ``xp`` (G*N, *Sp, Cg).

    One row per (kernel offset, channel), holding that input value for every output pixel: one copy of a
    strided view whose element ``[g, *k, c, n, *o]`` is ``xp[g*N + n, *(o*stride + k*dilation), c]``, i.e. per
    kernel offset one strided slab read and long contiguous writes, which is much faster than the row layout
    when a group has only a channel or two (a grey-scale image); the GEMMs then read the matrix transposed.
    """
    g = dst.shape[0]
    st = xp.strides
    sp = st[1:-1]
    nimg = xp.shape[0] // g
    shape = (g, *kernel, xp.shape[-1], nimg, *out)
    strides = (nimg * st[0], *(a * d for a, d in zip(sp, dilation)), st[-1], st[0],
               *(a * s for a, s in zip(sp, stride)))
    np.copyto(dst, strided_view(xp, shape, strides))


__all__: list[str] = []
