"""3x3 stride-1 convolution by Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray 2016), for many channels.

Each 4x4 block ("tile") of the output is computed from a 6x6 patch of the padded input. With the transforms
``B`` (6x6), ``G`` (6x3) and ``A`` (6x4) of the interpolation points 0, +-1, +-2 and infinity,

    Y_tile = A^T [ sum_c (G W_kc G^T) * (B^T D_c B) ] A        (* elementwise over the 6x6 points),

so the 36 points are 36 independent GEMMs (T tiles x C_in) @ (C_in x C_out) over all tiles at once: 36 * T * C
* K multiply-adds per 16 outputs where im2col + GEMM needs 9 * 16 * T * C * K: 4x fewer (the tiles round the
output up to multiples of 4, so 14x14 maps pay 16x16: 3.1x fewer there). The transforms are linear maps of the
36 (or 16) values of each tile and channel, and each is ONE small GEMM with ``kron(B^T, B^T)`` (36x36),
``kron(A^T, A^T)`` (16x36) or ``kron(G, G)`` (36x9) over every tile and channel at once.

Layouts (T = N * tiles_h * tiles_w, tile-major (N, tile row, tile column)):

* forward: the input is copied once into a zero-padded channels-last buffer rounded up to whole tiles; a
  stride-trick view of its overlapping 6x6 patches is copied into ``D`` (36, T * C_in); ``V = BB @ D`` is
  (36, T, C_in); ``M = V @ U`` (36, T, C_out) with ``U = GG @ W`` (36, C_in, C_out); the bias is added to the
  one point that every output reads with weight 1 (``A``'s column of ones); ``Y = AA @ M`` (16, T, C_out) is
  copied out of its tiles into the channels-last output (N, H_out, W_out, C_out), returned as an NCHW view.
* backward: the transposes: the output gradient's 4x4 tiles lifted by ``AA^T``; the weight gradient is 36
  GEMMs ``V_p^T @ dM_p`` (split over the cores, one BLAS thread each) mapped back by ``GG^T``; the input
  gradient 36 GEMMs ``dM_p @ U_p^T``, mapped by ``BB^T`` to patch gradients that are written into a padded
  channels-last buffer: the 4x4 leading points of every patch tile it exactly (one copy), the 20 others
  overlap the next tile and are added.

Only ``V`` (for the weight gradient) and ``U`` (for the input gradient) are kept for backward: 36/16 of the input
against im2col's 9 columns per input value. Values are those of the direct convolution up to rounding: exact in
float64 (~1e-13 relative), ~5e-6 of the output's scale in float32 (the direct GEMM: ~5e-7); the same trade
cuDNN and oneDNN make. :func:`applies` decides when :func:`~scratchcnn.functional.conv.conv_nd` uses it;
:func:`set_enabled` (or ``SCRATCHCNN_WINOGRAD=0``) turns it off.
"""
from __future__ import annotations

import os

import numpy as np

from ..autograd import Context, Function
from ..parallel import map_rows, parallel_for, run_blocks
from .pool import argmax_dtype, route_to_max, window_max
from ._im2col import pad_channels_last

TILE = 4
"""Output tile side m of F(m x m, 3 x 3); a patch is m + 2 = 6 input values wide."""
_PATCH = TILE + 2
_POINTS = _PATCH * _PATCH

_BT = np.array([[4, 0, -5, 0, 1, 0],
                [0, -4, -4, 1, 1, 0],
                [0, 4, -4, -1, 1, 0],
                [0, -2, -1, 2, 1, 0],
                [0, 2, -1, -2, 1, 0],
                [0, 4, 0, -5, 0, 1]], dtype=np.float64)
_G = np.array([[1 / 4, 0, 0],
               [-1 / 6, -1 / 6, -1 / 6],
               [-1 / 6, 1 / 6, -1 / 6],
               [1 / 24, 1 / 12, 1 / 6],
               [1 / 24, -1 / 12, 1 / 6],
               [0, 0, 1]], dtype=np.float64)
_AT = np.array([[1, 1, 1, 1, 1, 0],
                [0, 1, -1, 2, -2, 0],
                [0, 1, 1, 4, 4, 0],
                [0, 1, -1, 8, -8, 1]], dtype=np.float64)
_KRON = {"B": np.kron(_BT, _BT), "G": np.kron(_G, _G), "A": np.kron(_AT, _AT)}   # (36, 36), (36, 9), (16, 36)
_ONES_POINT = 1 * _PATCH + 1
"""The point (1, 1), interpolation point 1 in both axes: every output of a tile reads it with weight 1, so a bias
added there is added to every output."""
assert np.all(_KRON["A"][:, _ONES_POINT] == 1)


def _kron(name: str, dtype: np.dtype, transposed: bool = False) -> np.ndarray:
    m = _KRON[name].T if transposed else _KRON[name]
    return np.ascontiguousarray(m, dtype=dtype)


_enabled = os.environ.get("SCRATCHCNN_WINOGRAD", "1") != "0"

MIN_CHANNELS = 32
"""Input and output channels from which :func:`applies` chooses Winograd: below, the transforms (memory passes
over 36/16 of the input and 36/16 of the output) cost more than the smaller GEMMs save."""


def set_enabled(flag: bool) -> None:
    """Let :func:`~scratchcnn.functional.conv.conv_nd` use Winograd for the convolutions it fits (the default;
    ``SCRATCHCNN_WINOGRAD=0`` starts with it off), or always use im2col + GEMM (``False``)."""
    global _enabled
    _enabled = bool(flag)


def is_enabled() -> bool:
    """Whether :func:`set_enabled` allows Winograd."""
    return _enabled


MIN_OUTPUT_PIXELS = 2048
"""Output positions (N * H_out * W_out) from which :func:`applies` chooses Winograd: on fewer, the 36 GEMMs are
too small to pay for the transforms (seed001's 64->128 layer, forward + backward median ms: batch 8 (1,568
positions) 8.2 vs 7.1 for im2col, batch 1 2.2 vs 2.3; batch 64 (12,544) 35.5 vs 43.2)."""


def applies(x_shape: tuple[int, ...], w_shape: tuple[int, ...], dtype: np.dtype, stride: tuple[int, ...],
            dilation: tuple[int, ...], groups: int, pads: tuple[tuple[int, int], ...], weight_grad: bool) -> bool:
    """Whether conv_nd runs this convolution by Winograd: enabled, float32, a batched 2-D input, a 3x3 kernel,
    stride 1, dilation 1, one group, at least ``MIN_CHANNELS`` input and output channels, at least
    ``MIN_OUTPUT_PIXELS`` output positions, and a weight that needs its gradient (training). Without a weight
    gradient (inference, frozen layers) im2col's blocked forward stays: it needs a few MB where Winograd's
    whole-batch buffers would need tens."""
    if not (_enabled and weight_grad and dtype == np.float32 and len(x_shape) == 4 and tuple(w_shape[2:]) == (3, 3)
            and stride == (1, 1) and dilation == (1, 1) and groups == 1
            and w_shape[0] >= MIN_CHANNELS and w_shape[1] >= MIN_CHANNELS):
        return False
    out_h, out_w = (s + lo + hi - 2 for s, (lo, hi) in zip(x_shape[2:], pads))
    return x_shape[0] * out_h * out_w >= MIN_OUTPUT_PIXELS


def _copy(src: np.ndarray, out: np.ndarray) -> None:
    np.copyto(out, src)


def _tile_regions(size_h: int, size_w: int, tile: int) -> list[tuple[tuple, tuple, tuple]]:
    """How an (N, size_h, size_w, C) array maps onto tiles (N, tiles_h, tile, tiles_w, tile, C): up to four
    rectangles (whole tiles, the last partial tile row, the last partial tile column, the corner), each as
    (slices of the array, shape to view those as, slices of the tile view)."""
    fh, rh = divmod(size_h, tile)
    fw, rw = divmod(size_w, tile)
    rows = [(slice(0, fh * tile), (fh, tile), (slice(0, fh), slice(None)))] if fh else []
    if rh:
        rows.append((slice(fh * tile, size_h), (rh,), (fh, slice(0, rh))))
    cols = [(slice(0, fw * tile), (fw, tile), (slice(0, fw), slice(None)))] if fw else []
    if rw:
        cols.append((slice(fw * tile, size_w), (rw,), (fw, slice(0, rw))))
    return [((slice(None), r, c), shape_r + shape_c, (slice(None),) + tr + tc)
            for r, shape_r, tr in rows for c, shape_c, tc in cols]


def _split(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``a`` reshaped by splitting axes: always a view of ``a`` (so writing into it writes into ``a``)."""
    r = a.reshape(shape)
    assert np.may_share_memory(r, a)
    return r


def _from_tiles(tiles: np.ndarray, out: np.ndarray, tile: int = TILE) -> None:
    """Copy tile values (tile, tile, N, tiles_h, tiles_w, C) into ``out`` (N, H, W, C), dropping what lies past
    H, W."""
    view = tiles.transpose(2, 3, 0, 4, 1, 5)                      # (N, tiles_h, tile, tiles_w, tile, C)
    n, c = out.shape[0], out.shape[-1]
    for dst, shape, src in _tile_regions(out.shape[1], out.shape[2], tile):
        map_rows(_copy, _split(out[dst], (n, *shape, c)), view[src])


def _to_tiles(a: np.ndarray, tiles: np.ndarray, tile: int = TILE) -> None:
    """Copy ``a`` (N, H, W, C) into tiles (tile, tile, N, tiles_h, tiles_w, C), zero past H, W."""
    view = tiles.transpose(2, 3, 0, 4, 1, 5)
    n, c = a.shape[0], a.shape[-1]
    th, tw = view.shape[1], view.shape[3]
    rh, rw = a.shape[1] - (th - 1) * tile, a.shape[2] - (tw - 1) * tile
    if rh < tile:
        view[:, th - 1, rh:] = 0
    if rw < tile:
        view[:, :, :, tw - 1, rw:] = 0
    for src, shape, dst in _tile_regions(a.shape[1], a.shape[2], tile):
        map_rows(_copy, view[dst], a[src].reshape(n, *shape, c))


def _tiles_forward(ctx: Context, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                   pads: tuple[tuple[int, int], tuple[int, int]], flip: bool) -> np.ndarray:
    """The convolution's output tiles (4, 4, N, tiles_h, tiles_w, K) (positions past H_out, W_out included); saves
    what backward needs (V for the weight gradient, U for the input gradient) and the geometry in ``ctx``."""
    dt = np.result_type(x.dtype, w.dtype)
    n, c, h, wd = x.shape
    k = w.shape[0]
    if flip:
        w = w[:, :, ::-1, ::-1]
    oh, ow = h + sum(pads[0]) - 2, wd + sum(pads[1]) - 2
    th, tw = -(-oh // TILE), -(-ow // TILE)
    t = n * th * tw
    rounded = ((pads[0][0], pads[0][1] + th * TILE - oh), (pads[1][0], pads[1][1] + tw * TILE - ow))
    xp = pad_channels_last(x, rounded, dt)                                 # (N, 4 th + 2, 4 tw + 2, C)
    s = xp.strides
    patches = np.lib.stride_tricks.as_strided(xp, (_PATCH, _PATCH, n, th, tw, c),
                                              (s[1], s[2], s[0], TILE * s[1], TILE * s[2], s[3]))
    d = np.empty((_POINTS, t * c), dtype=dt)
    map_rows(_copy, d.reshape(patches.shape), patches)
    del xp, patches
    v = (_kron("B", dt) @ d).reshape(_POINTS, t, c)                       # input transform
    del d
    u = (_kron("G", dt) @ np.ascontiguousarray(w.transpose(2, 3, 1, 0), dtype=dt).reshape(9, c * k))
    u = u.reshape(_POINTS, c, k)                                           # weight transform
    m = np.matmul(v, u)                                                    # (36, T, K): the 36 GEMMs
    if b is not None:
        m[_ONES_POINT] += b.astype(dt, copy=False)
    y = _kron("A", dt) @ m.reshape(_POINTS, t * k)                         # output transform (16, T * K)
    del m
    nx, nw, _ = ctx.needs_input_grad[:3]
    ctx.save_for_backward(v if nw else None, u if nx else None)
    ctx.geom = (x.shape, pads, (oh, ow), flip, dt)
    return y.reshape(TILE, TILE, n, th, tw, k)


def _tiles_backward(ctx: Context, gd: np.ndarray) -> tuple:
    """(input, weight, bias) gradients from the output gradient's tiles ``gd`` (16, T * K) (0 past H_out, W_out)."""
    v, u = ctx.saved[:2]
    (n, c, h, wd), pads, (oh, ow), flip, dt = ctx.geom
    nx, nw, nb = ctx.needs_input_grad[:3]
    th, tw = -(-oh // TILE), -(-ow // TILE)
    t = n * th * tw
    k = gd.shape[1] // t
    gb = gd.reshape(-1, k).sum(axis=0) if nb else None
    gm = (_kron("A", dt, transposed=True) @ gd).reshape(_POINTS, t, k)    # dL/dM (36, T, K)
    del gd

    gw = gx = None
    if nw:
        gu = np.empty((_POINTS, c, k), dtype=dt)

        def points(lo: int, hi: int) -> None:      # V_p^T @ dM_p: long inner dimension, split over the cores
            np.matmul(v[lo:hi].transpose(0, 2, 1), gm[lo:hi], out=gu[lo:hi])
        run_blocks(points, _POINTS, v.size)
        gw = (_kron("G", dt, transposed=True) @ gu.reshape(_POINTS, c * k)).reshape(3, 3, c, k)
        gw = gw.transpose(3, 2, 0, 1)
        if flip:
            gw = gw[:, :, ::-1, ::-1]
        gw = np.ascontiguousarray(gw)
    if nx:
        gv = np.matmul(gm, u.transpose(0, 2, 1))                           # dL/dV (36, T, C)
        del gm
        gp = (_kron("B", dt, transposed=True) @ gv.reshape(_POINTS, t * c))
        del gv
        gp = gp.reshape(_PATCH, _PATCH, n, th, tw, c)                      # per patch point
        gxp = np.empty((n, th * TILE + 2, tw * TILE + 2, c), dtype=dt)
        # the leading 4x4 points of the patches tile the buffer exactly: one copy; the rest overlaps the
        # next tile (and the 2-wide far border) and is added
        _from_tiles(gp[:TILE, :TILE], gxp[:, :th * TILE, :tw * TILE])
        gxp[:, th * TILE:] = 0
        gxp[:, :th * TILE, tw * TILE:] = 0
        for a in range(_PATCH):
            for e in range(_PATCH):
                if a < TILE and e < TILE:
                    continue
                slab = gxp[:, a:a + th * TILE:TILE, e:e + tw * TILE:TILE]
                map_rows(np.add, slab, slab, gp[a, e])
        (top, _), (left, _) = pads
        gx = gxp[:, top:top + h, left:left + wd]
        if gx.shape != gxp.shape:
            gx = np.ascontiguousarray(gx)
        gx = gx.transpose(0, 3, 1, 2)                                      # (N, C, H, W), channels-last
    return gx, gw, gb


class Conv2dWinograd(Function):
    """conv2d with a 3x3 kernel, stride 1, dilation 1, one group, any zero padding, by F(4x4, 3x3).

    forward(x (N, C, H, W), w (K, C, 3, 3), b (K,) or None, pads ((top, bottom), (left, right)), flip)
    -> (N, K, H_out, W_out), an NCHW view of channels-last memory (as :class:`~scratchcnn.functional.conv.ConvNd`
    returns). ``flip`` is ``mode="convolution"`` (the kernel flipped)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                pads: tuple[tuple[int, int], tuple[int, int]], flip: bool) -> np.ndarray:
        y = _tiles_forward(ctx, x, w, b, pads, flip)
        oh, ow = ctx.geom[2]
        out = np.empty((x.shape[0], oh, ow, w.shape[0]), dtype=y.dtype)
        _from_tiles(y, out)
        return out.transpose(0, 3, 1, 2)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray):
        n, (oh, ow), dt = ctx.geom[0][0], ctx.geom[2], ctx.geom[4]
        k = grad.shape[1]
        th, tw = -(-oh // TILE), -(-ow // TILE)
        gd = np.empty((TILE * TILE, n * th * tw * k), dtype=dt)               # the output gradient's tiles
        _to_tiles(grad.transpose(0, 2, 3, 1).astype(dt, copy=False), gd.reshape(TILE, TILE, n, th, tw, k))
        return _tiles_backward(ctx, gd) + (None, None)


_POOL = 2
"""Side of the max pool fused into :class:`Conv2dWinogradMaxPool`: its windows lie inside the 4x4 tiles."""
_POOL_SLICES = [(slice(da, None, _POOL), slice(db, None, _POOL)) for da in range(_POOL) for db in range(_POOL)]
"""Per window offset (row-major, as MaxPool's), the tile points it takes: (2, 2, ...) slabs of (4, 4, ...) tiles."""


class Conv2dWinogradMaxPool(Function):
    """``max_pool2d(conv2d(x, w, b, pads), 2)`` by F(4x4, 3x3), for even H_out and W_out: every 2x2 pool window
    lies inside one 4x4 output tile, so the windows are pooled from the tiles while they are fresh and the
    full-size conv output is never written; backward routes the pooled gradient straight into the tiles. The
    first maximum of a window wins, NaN counting as maximal (as ``functional.conv_pool``'s fused op).

    forward(x, w, b, pads, flip) -> (N, K, H_out / 2, W_out / 2), an NCHW view of channels-last memory."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                pads: tuple[tuple[int, int], tuple[int, int]], flip: bool) -> np.ndarray:
        y = _tiles_forward(ctx, x, w, b, pads, flip)                          # (4, 4, N, th, tw, K)
        best = np.empty((_POOL, _POOL) + y.shape[2:], dtype=y.dtype)          # pooled tiles (2, 2, N, th, tw, K)
        idx = np.empty(best.shape, dtype=argmax_dtype(_POOL * _POOL)) if any(ctx.needs_input_grad[:3]) else None

        def images(lo: int, hi: int) -> None:
            window_max([y[sl][:, :, lo:hi] for sl in _POOL_SLICES], best[:, :, lo:hi],
                       None if idx is None else idx[:, :, lo:hi])
        parallel_for(images, y.shape[2], best.size * _POOL * _POOL)
        oh, ow = ctx.geom[2]
        out = np.empty((x.shape[0], oh // _POOL, ow // _POOL, w.shape[0]), dtype=y.dtype)
        _from_tiles(best, out, _POOL)
        ctx.save_for_backward(*ctx.saved, idx)
        return out.transpose(0, 3, 1, 2)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray):
        idx = ctx.saved[2]
        n, (oh, ow), dt = ctx.geom[0][0], ctx.geom[2], ctx.geom[4]
        k = grad.shape[1]
        th, tw = -(-oh // TILE), -(-ow // TILE)
        gpool = np.empty(idx.shape, dtype=dt)                                 # pooled gradient in tile layout
        _to_tiles(grad.transpose(0, 2, 3, 1).astype(dt, copy=False), gpool, _POOL)
        gd = np.empty((TILE * TILE, n * th * tw * k), dtype=dt)
        gd6 = gd.reshape(TILE, TILE, n, th, tw, k)

        def images(lo: int, hi: int) -> None:      # every tile point written once (the windows tile the tiles)
            route_to_max(gpool[:, :, lo:hi], idx[:, :, lo:hi], gd6[:, :, lo:hi], _POOL_SLICES, exact=True)
        parallel_for(images, n, gd.size)
        return _tiles_backward(ctx, gd) + (None, None)


__all__ = ["Conv2dWinograd", "Conv2dWinogradMaxPool", "applies", "set_enabled", "is_enabled", "MIN_CHANNELS", "MIN_OUTPUT_PIXELS", "TILE"]
