"""N-d convolution (1, 2 or 3 spatial dims) with PyTorch semantics: stride, padding (incl. "same"), dilation,
groups, bias, and ``mode="correlation" | "convolution"``.

How it runs (one implementation, :class:`ConvNd`, for every dimensionality):

* forward: the input (N, C, *S) is copied once into a zero-padded *channels-last*, group-major buffer
  (G*N, *Sp, C/G); copying a stride-trick view of its receptive fields (for 1-3 channels per group, a view
  ordered like the transposed matrix) gives the im2col matrix ``cols`` (G, N*prod(O), prod(K)*C/G + 1), whose
  last column is ones so the bias rides along; the layer is then ONE GEMM per group (one in all for G == 1):
  ``cols @ W`` -> (N*prod(O), C_out). The result is returned as an (N, C_out, *O) *view* of that
  channels-last buffer: values and shape are PyTorch's, and the next conv's layout change is a sequential
  copy (ReLU, pooling and the gradients keep that memory order too). When no weight gradient is needed
  (inference, frozen layers) the columns are not kept: im2col + GEMM run a few images at a time through a
  reused ~1 MB buffer (less memory, cache-warm: ~8% faster than keeping the columns for seed001's 64->128
  layer, measured with 4 MB blocks; 1 MB blocks measured level with those); blocks filled
  transposed (1-3 channels) or with at most ``NARROW_MAX_COUT`` output channels are split over the cores, one
  buffer per part. Argument checks are cached per call signature (the same layer asks the same question every
  step).
* backward: weight and bias grads = ``cols^T @ grad``, one GEMM per group from the saved columns (the bias
  grad is its last row); input grad = col2im of ``grad @ W^T``, done per kernel offset (a loop over offsets
  only): one GEMM (N*prod(O), C_out/G) @ (C_out/G, C_in/G) added onto the strided slab of the (unpadded,
  channels-last) input gradient that the offset reaches (~1.5x faster than one big GEMM + col2im; positions
  in the padding are never formed, and an offset that covers the whole input, as the centre of a "same"
  convolution does, writes its GEMM straight into the gradient instead of a zero fill + add). Work for inputs
  that need no gradient is skipped. A layer with up to ``NARROW_MAX_COUT`` output channels (narrow
  GEMMs, which two BLAS threads run poorly) does all of this per part of the batch, one part per free core.
* fused ops that consume the output block by block (conv + max pool) have each block's im2col rows filled,
  multiplied and handed over on one core while they are in cache.

Two cases run elsewhere: stride-1 1-D convolutions (one GEMM per kernel tap, :mod:`.conv1d_shifted`) and the
training of float32 3x3 stride-1 2-D layers with many channels (Winograd F(4x4, 3x3), :mod:`.conv_winograd`).

``mode="convolution"`` flips the kernel over all spatial axes first (the true convolution
``(f*g)[n] = sum_m f[m] g[n-m]``); the weight gradient is flipped back.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

import numpy as np

from ..autograd import Context, Function, is_grad_enabled
from ..parallel import balanced_step, cores_free, get_num_threads, map_rows, run_blocks
from ..tensor import Tensor
from .conv1d_shifted import Conv1dShifted
from .conv1d_max_over_time import Conv1dWindowsMax
from . import conv_winograd
from ._im2col import (COLUMN_MAJOR_BELOW, IntOrTuple, clipped_offset_slices, conv_windows, im2col_into,
                      im2col_t_into, kernel_offsets, output_size, pad_channels_last, pooled_windows, to_tuple)

Padding = int | Sequence[int] | str
_MODES = ("correlation", "convolution")
_AXES = {1: "L", 2: "H, W", 3: "D, H, W"}


def _bmm(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Per-group product a (G, M, P) @ b (G, P, Q) -> (G, M, Q); P == 1 (depthwise) is a broadcast multiply."""
    if a.shape[-1] == 1:
        return np.multiply(a, b, out=out)
    return np.matmul(a, b, out=out)


class ConvNd(Function):
    """Grouped, strided, dilated N-d cross-correlation (or convolution); see the module docstring.

    Layouts: the im2col matrix is group-major ``cols`` (G, M, kb) with M = N*prod(O) output pixels and
    kb = prod(K)*Cg (+1) columns ordered (*K, Cg), so every per-group GEMM reads contiguous memory (for
    G == 1 it is simply (M, kb)). The bias is folded into the GEMM: each row ends with a constant 1 and the
    weight matrix with the bias row, so forward needs no separate bias add and the weight-gradient GEMM
    yields the bias gradient as its last row.
    """

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                stride: tuple[int, ...], pads: tuple[tuple[int, int], ...], dilation: tuple[int, ...],
                groups: int, flip: bool) -> np.ndarray:
        nd = w.ndim - 2
        unbatched = x.ndim == nd + 1
        if unbatched:
            x = x[None]
        dt = np.result_type(x.dtype, w.dtype)
        n, c, spatial = x.shape[0], x.shape[1], x.shape[2:]
        cout, kernel = w.shape[0], tuple(w.shape[2:])
        g, cg, cog = groups, c // groups, cout // groups
        kg = math.prod(kernel) * cg
        kb = kg + (b is not None)                    # columns per group, incl. the bias column of ones
        if flip:
            w = np.flip(w, axis=tuple(range(2, 2 + nd)))
        out_sz = tuple(output_size(s, k, st, lo, hi, d)
                       for s, k, st, (lo, hi), d in zip(spatial, kernel, stride, pads, dilation))
        m = n * math.prod(out_sz)

        xp = pad_channels_last(x, pads, dt, g)                                    # (G*N, *Sp, Cg)
        nx, nw, nb = ctx.needs_input_grad[:3]
        wm = np.empty((g, kb, cog), dtype=dt)                                     # weight, rows (*K, Cg)
        wm[:, :kg] = w.reshape(g, cog, cg, *kernel).transpose(0, *range(3, 3 + nd), 2, 1).reshape(g, kg, cog)
        if b is not None:
            wm[:, kg] = b.reshape(g, cog)
        epilogue = getattr(ctx, "epilogue", None)   # set by fused ops (conv + max pool): output per image block
        if g == 1 and not nw and n > 1 and m * kb > _UNSAVED_COLS:
            # the columns are not needed for a weight gradient (inference, frozen layers): im2col + GEMM a few
            # images at a time through one small reused buffer instead of one (M, kb) matrix
            pool = getattr(ctx, "epilogue_pool", None) if POOL_MAJOR else None
            out = _chunked_forward(xp, wm[0], out_sz, kernel, stride, dilation, b is not None, epilogue, pool)
            cols = None
        else:
            # a first layer's saved columns may come pool-major too: its fused backward reads them per offset
            pool = getattr(ctx, "epilogue_pool", None) if POOL_MAJOR and not nx and g == 1 else None
            step = _epilogue_images(m // n, cog, n) if epilogue is not None else None
            out, cols = _full_forward(xp, wm, g, m, kb, kg, out_sz, kernel, stride, dilation, b is not None,
                                      epilogue, pool, step)
            ctx.pool_major_step = step if pool is not None else None   # the blocks of the pool-major columns

        wt = None
        if nx:   # per kernel offset: (prod(K), G, Cog, Cg), for the input-gradient GEMMs
            wt = np.ascontiguousarray(w.reshape(g, cog, cg, -1).transpose(3, 0, 1, 2), dtype=dt)
        ctx.save_for_backward(cols if nw else None, wt)
        ctx.geom = (x.shape, tuple(xp.shape[1:-1]), out_sz, kernel, stride, pads, dilation, g, kg, flip, unbatched, dt)
        if out is None:                               # the epilogue consumed the output block by block
            return None
        out = out[0] if g == 1 else np.ascontiguousarray(out.transpose(1, 0, 2))   # (M, G, Cog) = (M, C_out)
        y = out.reshape(n, *out_sz, cout).transpose(0, nd + 1, *range(1, nd + 1))
        return y[0] if unbatched else y

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray):
        cols, wt = ctx.saved
        xshape, _, out_sz, kernel, stride, pads, dilation, g, kg, flip, unbatched, dt = ctx.geom
        nx, nw, nb = ctx.needs_input_grad[:3]
        nd = len(kernel)
        if unbatched:
            grad = grad[None]
        n, c = xshape[0], xshape[1]
        cout = grad.shape[1]
        cg, cog = c // g, cout // g
        m = n * math.prod(out_sz)
        # (N, C_out, *O) -> (M, C_out); free when grad is channels-last in memory (as conv outputs are)
        g2 = np.ascontiguousarray(grad.transpose(0, *range(2, 2 + nd), 1), dtype=dt).reshape(m, cout)
        g2g = g2[None] if g == 1 else np.ascontiguousarray(g2.reshape(m, g, cog).transpose(1, 0, 2))  # (G, M, Cog)

        gx = gw = gb = None
        if nx and g == 1 and n > 1 and cout <= NARROW_MAX_COUT and cores_free():
            gx, gw, gb = _split_backward(ctx, cols, wt, g2, n, nw, nb)
            return gx, gw, gb, None, None, None, None, None
        if nw:
            gw, gb = weight_grads(ctx, np.matmul(cols.transpose(0, 2, 1), g2g))     # (G, kb, Cog)
            gb = gb if nb else None
        elif nb:
            gb = g2.sum(axis=0)
        if nx:
            # input grad: for each kernel offset one GEMM (M, Cog) @ (Cog, Cg) per group, added onto the slab of
            # the group-major, channels-last input gradient (G*N, *S, Cg) that the offset reaches (positions in
            # the padding are never formed); an offset that covers every input position (stride 1, "same" size)
            # writes its GEMM straight into it, so there is no zero fill either
            spatial = tuple(xshape[2:])
            dx = np.empty((g * n, *spatial, cg), dtype=dt)
            _input_grad_into(dx, g2g, wt, ctx.geom, lambda slab, src: map_rows(np.add, slab, slab, src))
            gx = dx.reshape(g, n, *spatial, cg).transpose(1, 0, nd + 2, *range(2, nd + 2))   # (N, G, Cg, *S)
            gx = gx[:, 0] if g == 1 else gx.reshape(n, c, *spatial)             # view for G == 1, else a copy
            if unbatched:
                gx = gx[0]
        return gx, gw, gb, None, None, None, None, None


def _covering_offset(offsets, out_sz, spatial, stride, dilation, pads) -> int | None:
    """Index of a kernel offset whose output positions land on every input position exactly once (stride 1,
    output size == input size, that offset's shift == the low padding), else None."""
    if out_sz != spatial or any(st != 1 for st in stride):
        return None
    for i, k in enumerate(offsets):
        if all(kk * d == lo for kk, d, (lo, _) in zip(k, dilation, pads)):
            return i
    return None


def _input_grad_into(dx: np.ndarray, g2g: np.ndarray, wt: np.ndarray, geom: tuple, add) -> None:
    """col2im of ``g2g @ W^T`` into ``dx`` (G*N', *S, Cg), one kernel offset at a time: ``g2g`` (G, M', Cog) holds
    the output gradient of the N' images of ``dx``; ``add(slab, src)`` adds ``src`` onto ``slab`` in place."""
    _, _, out_sz, kernel, stride, pads, dilation, _, _, _, _, _ = geom
    g, m, cg = g2g.shape[0], g2g.shape[1], dx.shape[-1]
    spatial = dx.shape[1:-1]
    buf = np.empty((g, m, cg), dtype=dx.dtype)
    src = buf.reshape(dx.shape[0], *out_sz, cg)
    offsets = kernel_offsets(kernel)
    cover = _covering_offset(offsets, out_sz, spatial, stride, dilation, pads)
    if cover is None:
        dx[...] = 0
    else:
        _bmm(g2g, wt[cover], out=dx.reshape(g, m, cg))
    lead = (slice(None),)
    for i, k in enumerate(offsets):
        where = None if i == cover else clipped_offset_slices(k, out_sz, spatial, stride, dilation, pads)
        if where is None:
            continue
        _bmm(g2g, wt[i], out=buf)
        add(dx[lead + where[0]], src[lead + where[1]])


def _inplace_add(slab: np.ndarray, src: np.ndarray) -> None:
    np.add(slab, src, out=slab)


NARROW_MAX_COUT = 64
"""Output channels up to which a layer's GEMMs count as narrow (C_out columns), which two BLAS threads run poorly:
such a layer runs its work one part of the batch per core, each with one BLAS thread: a groups-1 backward that
needs the input gradient (:func:`_split_backward`; seed000's 16->32 layer's backward 3.64 -> 3.23 ms) and the
image blocks of the forward without kept columns (:func:`_chunked_forward`; seed000's inference step median
4.45 -> 3.97 ms, LeNet-5's 3.78 -> 3.40)."""


def _split_backward(ctx: Context, cols: np.ndarray | None, wt: np.ndarray, g2: np.ndarray, n: int, nw: bool,
                    nb: bool) -> tuple:
    """Groups-1 backward with the input gradient, the batch split into one part per core: each part's weight
    gradient ``cols^T @ grad`` (its rows) and input gradient; the parts' weight gradients are summed in part
    order (the result does not depend on thread timing)."""
    xshape, _, out_sz, *_ = ctx.geom
    dt = g2.dtype
    per = math.prod(out_sz)
    parts = min(n, get_num_threads())
    step = -(-n // parts)
    parts = -(-n // step)
    dx = np.empty((n, *xshape[2:], xshape[1]), dtype=dt)
    gwb = np.empty((parts, cols.shape[-1], g2.shape[1]), dtype=dt) if nw else None

    def part(a: int, b: int) -> None:
        for j in range(a, b):
            lo, hi = j * step, min(n, (j + 1) * step)
            rows = slice(lo * per, hi * per)
            if nw:
                np.matmul(cols[0, rows].T, g2[rows], out=gwb[j])
            _input_grad_into(dx[lo:hi], g2[None, rows], wt, ctx.geom, _inplace_add)
    run_blocks(part, parts, g2.size * wt.shape[0] + (cols.size if nw else 0))   # elements the GEMMs read
    gw = gb = None
    if nw:
        gw, gb = weight_grads(ctx, gwb.sum(axis=0, keepdims=True))
        gb = gb if nb else None
    elif nb:
        gb = g2.sum(axis=0)
    nd = len(out_sz)
    return dx.transpose(0, nd + 1, *range(1, nd + 1)), gw, gb          # (N, C_in, *S), channels-last memory


def weight_grads(ctx: Context, gwb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(weight grad (C_out, C_in/G, *K), bias grad (C_out,) or None) from ``gwb`` = cols^T @ grad (G, kb, Cog),
    the columns' layout undone (and the kernel flipped back for ``mode="convolution"``)."""
    xshape, _, _, kernel, _, _, _, g, kg, flip, _, _ = ctx.geom
    nd = len(kernel)
    cg, cog = xshape[1] // g, gwb.shape[2]
    gw = gwb[:, :kg].reshape(g, *kernel, cg, cog).transpose(0, nd + 2, nd + 1, *range(1, nd + 1))
    gw = gw.reshape(g * cog, cg, *kernel)
    if flip:
        gw = np.flip(gw, axis=tuple(range(2, 2 + nd)))
    gb = gwb[:, kg].reshape(g * cog) if gwb.shape[1] > kg else None
    return np.ascontiguousarray(gw), gb


_UNSAVED_COLS = 1 << 18
"""Elements of an im2col block when the columns need not be kept (1 MB of float32; above this size the columns are
built in blocks). Measured (inference, batch 64): peak memory LeNet-5 6.8 -> 3.1 MB, seed000 7.6 -> 3.7, seed001
17.4 -> 14.4 against 2^20; speed within noise."""


def _full_forward(xp: np.ndarray, wm: np.ndarray, g: int, m: int, kb: int, kg: int, out_sz, kernel, stride,
                  dilation, bias: bool, epilogue=None, pool: tuple[int, ...] | None = None, step: int | None = None
                  ) -> tuple[np.ndarray | None, np.ndarray]:
    """The whole im2col matrix ``cols`` (G, M, kb) and ``cols @ wm`` (G, M, Cog); ``cols`` is kept for backward.

    With an ``epilogue(lo, hi, out, pool_major)`` (groups == 1) the work goes in blocks of ``step`` images
    (:func:`_epilogue_images`), on all cores (one BLAS thread each): each block's rows of ``cols`` are filled,
    multiplied while still in cache, and the product ((hi - lo) * prod(O), C_out rows) handed to the epilogue;
    None is returned for the product. With ``pool`` too, each block's rows are pool-major
    (:func:`~._im2col.pooled_windows`: window offset, image, window) and ``pool_major`` is True."""
    dt, cg, n = xp.dtype, xp.shape[-1], xp.shape[0] // g
    transposed = cg < COLUMN_MAJOR_BELOW   # few channels: fill the transposed matrix (G, kb, M), read it as (G, M, kb)
    if transposed:
        cols_t = np.empty((g, kb, m), dtype=dt)
        cols = cols_t.transpose(0, 2, 1)
        fields_t = cols_t[:, :kg].reshape(g, *kernel, cg, n, *out_sz)
    else:
        cols = np.empty((g, m, kb), dtype=dt)
        # view cols as (G*N, *O, 1, *K, Cg): group g of image n is just image g*N + n with Cg channels
        fields = cols[:, :, :kg].reshape(g * n, *out_sz, 1, *kernel, cg)
    if epilogue is None:
        if transposed:
            im2col_t_into(fields_t, xp, out_sz, kernel, stride, dilation)
        else:
            im2col_into(fields, xp, out_sz, kernel, stride, dilation, 1)
        if bias:
            cols[:, :, kg] = 1
        return np.matmul(cols, wm), cols
    per = m // n                                   # GEMM rows per image
    pooled = None if pool is None else tuple(o // p for o, p in zip(out_sz, pool))

    def blocks(a: int, b: int) -> None:            # blocks a..b of images, one BLAS thread per part
        for lo in range(a * step, min(n, b * step), step):
            hi = min(n, lo + step)
            if pool is not None:
                _fill_pool_major(cols_t[0, :kg, lo * per:hi * per] if transposed else cols[0, lo * per:hi * per, :kg],
                                 xp[lo:hi], pooled, kernel, stride, dilation, pool, transposed)
            elif transposed:
                im2col_t_into(fields_t[(slice(None),) * (len(kernel) + 2) + (slice(lo, hi),)], xp[lo:hi], out_sz,
                              kernel, stride, dilation)
            else:
                np.copyto(fields[lo:hi], conv_windows(xp[lo:hi], out_sz, kernel, stride, dilation, 1))
            rows = cols[0, lo * per:hi * per]
            if bias:
                rows[:, kg] = 1
            epilogue(lo, hi, rows @ wm[0], pool is not None)
    run_blocks(blocks, -(-n // step), m * kb)
    return None, cols


def _fill_pool_major(dst: np.ndarray, xp: np.ndarray, pooled, kernel, stride, dilation, pool,
                     transposed: bool) -> None:
    """Fill ``dst``, a block of the im2col matrix without its bias column ((rows, kg), or (kg, rows) when
    ``transposed``), with the receptive fields of the images ``xp`` in pool-major row order
    (:func:`~._im2col.pooled_windows`)."""
    view = pooled_windows(xp, pooled, kernel, stride, dilation, pool, transposed)
    dst = dst.view()
    dst.shape = view.shape              # only splits axes: a view (raises rather than reshaping into a copy)
    np.copyto(dst, view)


def _chunked_forward(xp: np.ndarray, wm: np.ndarray, out_sz, kernel, stride, dilation, bias: bool,
                     epilogue=None, pool: tuple[int, ...] | None = None) -> np.ndarray | None:
    """``cols @ wm`` (1, M, Cout) for groups == 1 without materialising ``cols``: blocks of images, each through a
    small buffer of its part (the parts run on all cores, one BLAS thread each); with an ``epilogue``, each
    block's product goes to it (``epilogue(lo, hi, out, pool_major)``) and None is returned. Few channels (a
    grey-scale input) fill the block transposed, as :func:`_full_forward` does. With ``pool`` (window sizes that
    tile the output) the block's rows come in pool-major order (:func:`~._im2col.pooled_windows`; the epilogue's
    ``pool_major`` argument is True): the rows of each window offset are one contiguous slab."""
    n, cg, dt = xp.shape[0], xp.shape[-1], xp.dtype
    kb, per = wm.shape[0], math.prod(out_sz)
    kg = kb - bias
    step = balanced_step(n, max(1, min(n, _UNSAVED_COLS // (per * kb))))
    out = np.empty((1, n * per, wm.shape[1]), dtype=dt) if epilogue is None else None
    transposed = cg < COLUMN_MAJOR_BELOW
    pooled = None if pool is None else tuple(o // p for o, p in zip(out_sz, pool))

    def blocks(a: int, b: int) -> None:           # image blocks a..b through this part's own buffer
        buf = np.empty(step * per * kb, dtype=dt)
        for lo in range(a * step, min(n, b * step), step):
            hi = min(n, lo + step)
            size = (hi - lo) * per
            rows = buf[:kb * size].reshape(kb, size).T if transposed else buf[:size * kb].reshape(size, kb)
            fields = rows[:, :kg].T if transposed else rows[:, :kg]      # (kg, size) or (size, kg), no bias column
            if pool is not None:
                _fill_pool_major(fields, xp[lo:hi], pooled, kernel, stride, dilation, pool, transposed)
            elif transposed:
                im2col_t_into(fields.reshape(1, *kernel, cg, hi - lo, *out_sz), xp[lo:hi], out_sz, kernel, stride,
                              dilation)
            else:
                im2col_into(fields.reshape(hi - lo, *out_sz, 1, *kernel, cg), xp[lo:hi], out_sz, kernel, stride,
                            dilation, 1)
            if bias:
                rows[:, kg] = 1
            if epilogue is None:
                np.matmul(rows, wm, out=out[0, lo * per:hi * per])
            else:
                epilogue(lo, hi, rows @ wm, pool is not None)
    if transposed or wm.shape[1] <= NARROW_MAX_COUT:   # (few channels in or out: small GEMMs, one per core)
        run_blocks(blocks, -(-n // step), n * per * kb)
    else:       # many channels: big GEMMs, faster on all BLAS threads than split into parts
        blocks(0, -(-n // step))
    return out


POOL_MAJOR = True
"""Whether a fused max pool gets its conv's rows in pool-major order (:func:`~._im2col.pooled_windows`): in the
blocked forward without kept columns (inference, frozen layers; :func:`_chunked_forward`) and, for a first layer
(no input gradient), in training (:func:`_full_forward`, whose saved columns the fused backward then reads per
window offset without copies). The pool reads one contiguous slab per window offset instead of strided ones.
Measured with ``benchmarks/setting_ab.py ... POOL_MAJOR False True``: inference seed000 3.26 -> 2.95 ms, seed001
30.8 -> 29.7, LeNet-5 level; training seed000 14.5 -> 13.7 ms, seed001 78.6 -> 76.7, LeNet-5 level
(docs/performance.md item 35)."""

_EPILOGUE_BLOCK = 1 << 18
"""Output elements per image block handed to an epilogue (1 MB of float32: stays in cache for the epilogue)."""


def _epilogue_images(per: int, cout: int, n: int) -> int:
    return balanced_step(n, max(1, min(n, _EPILOGUE_BLOCK // max(1, per * cout))))


def _resolve_padding(padding: Padding, kernel: tuple[int, ...], stride: tuple[int, ...],
                     dilation: tuple[int, ...], op: str) -> tuple[tuple[int, int], ...]:
    """Per-axis (low, high) padding from an int, a tuple, ``"valid"`` or ``"same"`` (PyTorch's rule)."""
    nd = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                                 f"(expected stride 1, got stride={stride})")
            pads = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise ValueError(f"{op}: padding must be an int, a tuple of ints, 'valid' or 'same', got {padding!r}")
    p = to_tuple(padding, nd, "padding", op, minimum=0)
    return tuple((v, v) for v in p)


def conv_nd(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
            padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1, mode: str = "correlation",
            op: str | None = None) -> Tensor:
    """N-d convolution. input (N, C_in, *S) or unbatched (C_in, *S); weight (C_out, C_in/groups, *K);
    bias (C_out,) or None. Returns (N, C_out, *O) with ``O = floor((S + pads - dilation*(K-1) - 1)/stride) + 1``.

    ``op`` names the caller in error messages (defaults to ``conv{nd}d``).
    """
    input, weight, bias, stride_t, pads, dilation_t, groups = _checked(input, weight, bias, stride, padding,
                                                                        dilation, groups, mode, op)
    if stride_t == (1,) and groups == 1:   # 1-D, stride 1 (TextCNN's case): k GEMMs on the padded input, no im2col
        return Conv1dShifted.apply(input, pads, dilation_t[0], mode == "convolution", weight, bias)
    if conv_winograd.applies(input.shape, weight.shape, np.result_type(input.dtype, weight.dtype), stride_t,
                             dilation_t, groups, pads, weight.requires_grad and is_grad_enabled()):
        # training a 3x3, stride-1 layer with many channels: 3-4x fewer multiplies
        return conv_winograd.Conv2dWinograd.apply(input, weight, bias, pads, mode == "convolution")
    return ConvNd.apply(input, weight, bias, stride_t, pads, dilation_t, groups, mode == "convolution")


def _checked(input, weight, bias, stride, padding, dilation, groups, mode, op):
    """Validate conv arguments (one-line errors naming ``op``); returns ``(input, weight, bias, stride, pads,
    dilation, groups)`` as Tensors and normalised tuples."""
    if not isinstance(input, Tensor):
        input = Tensor(input)
    if not isinstance(weight, Tensor):
        weight = Tensor(weight)
    if bias is not None and not isinstance(bias, Tensor):
        bias = Tensor(bias)
    args = (input.shape, input.dtype, weight.shape, weight.dtype,
            None if bias is None else (bias.shape, bias.dtype), _frozen(stride), _frozen(padding),
            _frozen(dilation), groups, mode, op)
    try:
        geometry = _geometry(*args)             # the same layer asks the same question every step: cached
    except TypeError as e:                      # an unhashable argument: validate without the cache
        if "unhashable" not in str(e):
            raise
        geometry = _geometry.__wrapped__(*args)
    return (input, weight, bias) + geometry


def _frozen(value):
    """Lists (of ints) as tuples, so that they can be part of the cache key; anything else unchanged."""
    return tuple(value) if isinstance(value, list) else value


@lru_cache(maxsize=1024)
def _geometry(in_shape, in_dtype, w_shape, w_dtype, b_info, stride, padding, dilation, groups, mode, op):
    """``(stride, pads, dilation, groups)`` normalised, or a one-line error; see :func:`_checked`."""
    nd = len(w_shape) - 2
    op = op or f"conv{nd}d"
    if nd < 1:
        raise ValueError(f"{op}: weight must have shape (C_out, C_in/groups, *kernel), got {w_shape}")
    for name, dtype in (("input", in_dtype), ("weight", w_dtype), ("bias", b_info and b_info[1])):
        if dtype is not None and dtype.kind != "f":
            raise TypeError(f"{op}: {name} must be a floating tensor, got dtype {dtype}")
    if len(in_shape) not in (nd + 1, nd + 2):
        raise ValueError(f"{op}: expected a {nd + 2}-D input (N, C, {_AXES.get(nd, '*S')}) "
                         f"or an unbatched {nd + 1}-D input for a weight of shape {w_shape}, "
                         f"got {len(in_shape)}-D input of shape {in_shape}")
    if mode not in _MODES:
        raise ValueError(f"{op}: mode must be 'correlation' or 'convolution', got {mode!r}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    groups = int(groups)
    c_in = in_shape[-nd - 1]
    c_out, cg, kernel = w_shape[0], w_shape[1], tuple(w_shape[2:])
    if c_in % groups or c_out % groups:
        raise ValueError(f"{op}: groups={groups} must divide in_channels={c_in} and out_channels={c_out}")
    if cg * groups != c_in:
        raise ValueError(f"{op}: expected input with {cg * groups} channels (weight {w_shape}, "
                         f"groups={groups}), got {c_in} channels (input shape {in_shape})")
    if any(k < 1 for k in kernel) or c_out < 1:
        raise ValueError(f"{op}: weight has an empty dimension: {w_shape}")
    if b_info is not None and b_info[0] != (c_out,):
        raise ValueError(f"{op}: expected bias of shape ({c_out},), got {b_info[0]}")
    stride_t = to_tuple(stride, nd, "stride", op)
    dilation_t = to_tuple(dilation, nd, "dilation", op)
    pads = _resolve_padding(padding, kernel, stride_t, dilation_t, op)
    spatial = in_shape[-nd:]
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(spatial, pads))
    eff = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation_t))
    if any(e > p for e, p in zip(eff, padded)):
        raise ValueError(f"{op}: kernel size {kernel} (dilated extent {eff}) is larger than the padded input "
                         f"{padded} (input shape {in_shape}, padding {tuple(pads)})")
    return stride_t, pads, dilation_t, groups


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
           padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1, mode: str = "correlation") -> Tensor:
    """1-D convolution: input (N, C_in, L), weight (C_out, C_in/groups, K) -> (N, C_out, L_out)."""
    _check_weight_rank(weight, 3, "conv1d")
    return conv_nd(input, weight, bias, stride, padding, dilation, groups, mode, op="conv1d")


def conv1d_windows(input: Tensor, weights: Sequence[Tensor], biases: Sequence[Tensor | None] | None = None,
                   padding: int = 0, dilation: int = 1, mode: str = "correlation") -> Tensor:
    """Several stride-1 1-D convolutions of one input computed together (TextCNN's windows of widths 3, 4, 5):
    input (N, C_in, L), weights [(C_out_i, C_in, K_i)], biases [(C_out_i,) or None] -> (N, sum C_out_i, L_out)
    with L_out = L + 2*padding - dilation*(min K_i - 1), the output of the narrowest window; channels are the
    windows' outputs in the given order, and a wider window's positions past its own output length are 0.

    Equal to ``concat([pad_to_L_out(conv1d(input, w_i, b_i, ...)) ...], 1)``, but each kernel tap is one GEMM
    over every window wider than it (:mod:`~scratchcnn.functional.conv1d_shifted`).
    """
    input, pads, d, flip, params = _windows_args(input, weights, biases, padding, dilation, mode, "conv1d_windows")
    return Conv1dShifted.apply(input, pads, d, flip, *params)


def conv1d_windows_max(input: Tensor, weights: Sequence[Tensor], biases: Sequence[Tensor | None] | None = None,
                       valid=None, padding: int = 0, dilation: int = 1, mode: str = "correlation") -> Tensor:
    """Max over time of each window of :func:`conv1d_windows` (TextCNN's convolutions and pooling in one op):
    input (N, C_in, L) -> (N, sum C_out_i), channel o of window i the max of ``conv1d(input, w_i, b_i)[:, o]`` over
    its first ``valid[n, i]`` positions (``valid`` (N, len(weights)) ints, clipped to [1, the window's own output
    length]; default: all of them). The weight gradient gathers only the windows at each maximum
    (:mod:`~scratchcnn.functional.conv1d_max_over_time`); ties share the gradient like ``Tensor.max``.
    """
    input, pads, d, flip, params = _windows_args(input, weights, biases, padding, dilation, mode,
                                                 "conv1d_windows_max")
    n, g = input.shape[0], len(params) // 2
    if input.ndim != 3:
        raise ValueError(f"conv1d_windows_max: expected a batched input (N, C, L), got shape {input.shape}")
    if valid is None:
        valid = np.full((n, g), input.shape[2] + sum(pads[0]), dtype=np.int64)
    valid = np.asarray(valid.data if isinstance(valid, Tensor) else valid)
    if valid.shape != (n, g) or valid.dtype.kind not in "iu":
        raise ValueError(f"conv1d_windows_max: valid must be integers of shape ({n}, {g}), got "
                         f"{valid.dtype} {valid.shape}")
    return Conv1dWindowsMax.apply(input, valid, pads, d, flip, *params)


def _windows_args(input, weights, biases, padding, dilation, mode, op):
    """conv1d_windows' argument checks: ``(input, pads, dilation, flip, [w_0, b_0, w_1, b_1, ...])``."""
    if not weights:
        raise ValueError(f"{op}: expected at least one weight")
    biases = [None] * len(weights) if biases is None else list(biases)
    if len(biases) != len(weights):
        raise ValueError(f"{op}: got {len(weights)} weights but {len(biases)} biases")
    if not isinstance(input, Tensor):
        input = Tensor(input)
    for w in weights:
        _check_weight_rank(w, 3, op)
    checked = [_checked(input, w, b, 1, padding, dilation, 1, mode, op) for w, b in zip(weights, biases)]
    if len({c[4] for c in checked}) > 1:
        raise ValueError(f"{op}: padding {padding!r} differs between the windows; give an int")
    input, pads, (d,) = checked[0][0], checked[0][4], checked[0][5]
    params = [t for c in checked for t in (c[1], c[2])]
    return input, pads, d, mode == "convolution", params


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
           padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1, mode: str = "correlation") -> Tensor:
    """2-D convolution: input (N, C_in, H, W), weight (C_out, C_in/groups, kH, kW) -> (N, C_out, H_out, W_out).

    ``mode="correlation"`` (default) is PyTorch's ``conv2d``; ``"convolution"`` flips the kernel first.
    """
    _check_weight_rank(weight, 4, "conv2d")
    return conv_nd(input, weight, bias, stride, padding, dilation, groups, mode, op="conv2d")


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
           padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1, mode: str = "correlation") -> Tensor:
    """3-D convolution: input (N, C_in, D, H, W), weight (C_out, C_in/groups, kD, kH, kW)."""
    _check_weight_rank(weight, 5, "conv3d")
    return conv_nd(input, weight, bias, stride, padding, dilation, groups, mode, op="conv3d")


def _check_weight_rank(weight, ndim: int, op: str) -> None:
    shape = getattr(weight, "shape", np.shape(weight))
    if len(shape) != ndim:
        raise ValueError(f"{op}: expected a {ndim}-D weight (C_out, C_in/groups, *kernel), "
                         f"got {len(shape)}-D weight of shape {tuple(shape)}")


__all__ = ["conv_nd", "conv1d", "conv1d_windows", "conv1d_windows_max", "conv2d", "conv3d"]
