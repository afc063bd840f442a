"""Convolution followed by a max pool whose windows tile the conv output exactly, as one op: the conv output is
never written whole.

Forward: the convolution's GEMM runs a few images at a time (about 1 MB of output per block, on all cores, one
BLAS thread each) and every block is pooled while it is in cache; only the pooled output and the uint8 argmax
per window are kept. For thin layers the conv output is the largest tensor around (64 x 64 x 28 x 28 floats =
12.8 MB for seed001's first layer) and its write and re-read cost more than the GEMM. Without a weight gradient
(inference, frozen layers), and in a first layer, the blocks' im2col rows come in pool-major order
(``conv.POOL_MAJOR``): each window offset's outputs are one contiguous slab for the pool, and its rows one
contiguous range for the weight gradient below.

Backward: when the conv input needs no gradient (a first layer), the weight and bias gradients come straight
from the pooled gradient: for each window offset ``o``, the im2col rows of the pixels at that offset times the
pooled gradient masked to the windows whose maximum sits at ``o`` (the same products as ``cols^T @ dY``, with
``dY``'s zeros skipped and the full-size ``dY`` never formed). Otherwise ``dY`` is scattered back (every element
written once) and the convolution's own backward runs.

Values and gradients equal conv_nd followed by max_pool (tested against PyTorch); the first maximum of a window
wins, NaN counting as maximal, as in :class:`~scratchcnn.functional.pool.MaxPoolNd`.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Context, Function, is_grad_enabled
from ..tensor import Tensor
from ._im2col import in_layout_of, kernel_offsets, offset_slices, output_size
from ..parallel import run_blocks
from . import conv_winograd
from .conv import ConvNd, _checked, weight_grads
from .pool import argmax_dtype, route_to_max, window_max


def _window_slices(pooled: tuple[int, ...], pool: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """Per window offset, (all images, then the slices picking that element of every window) of a channels-last
    (N, *O, C) conv output tiled by ``pool``-sized windows (the trailing channel axis is left whole)."""
    return [(slice(None),) + offset_slices(k, pooled, pool, (1,) * len(pool)) for k in kernel_offsets(pool)]


class ConvMaxPoolNd(Function):
    """conv_nd (groups 1) then a max pool with kernel == stride tiling the conv output; see the module doc."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple[int, ...],
                pads: tuple[tuple[int, int], ...], dilation: tuple[int, ...], flip: bool,
                pool: tuple[int, ...]) -> np.ndarray:
        nd = len(pool)
        kernel = w.shape[2:]
        out_sz = tuple(output_size(s, k, st, lo, hi, d)
                       for s, k, st, (lo, hi), d in zip(x.shape[2:], kernel, stride, pads, dilation))
        pooled_sz = tuple(o // p for o, p in zip(out_sz, pool))
        n, cout = x.shape[0], w.shape[0]
        dt = np.result_type(x.dtype, w.dtype)
        track = any(ctx.needs_input_grad[:3])
        best = np.empty((n, *pooled_sz, cout), dtype=dt)                  # channels-last
        idx = np.empty(best.shape, dtype=argmax_dtype(math.prod(pool))) if track else None
        slices = _window_slices(pooled_sz, pool)

        def epilogue(lo: int, hi: int, out: np.ndarray, pool_major: bool) -> None:
            # out ((hi - lo) * prod(O), C_out): rows (n, *o), or (*q, n, *p) when pool_major (one slab per offset q)
            if pool_major:
                slabs = list(out.reshape(len(slices), hi - lo, *pooled_sz, cout))
            else:
                v = out.reshape(hi - lo, *out_sz, cout)
                slabs = [v[sl] for sl in slices]
            window_max(slabs, best[lo:hi], None if idx is None else idx[lo:hi])

        conv_ctx = Context(tuple(ctx.needs_input_grad[:3]) + (False,) * 5)
        conv_ctx.epilogue = epilogue
        conv_ctx.epilogue_pool = tuple(pool)
        ConvNd.forward(conv_ctx, x, w, b, stride, pads, dilation, 1, flip)
        conv_ctx.epilogue = None
        ctx.conv = conv_ctx
        ctx.save_for_backward(idx, *conv_ctx.saved)      # held by this node's ctx, so freed with it after backward
        conv_ctx.saved = ()
        ctx.geom = (out_sz, pool, b is not None)
        return best.transpose(0, nd + 1, *range(1, nd + 1))               # (N, C_out, *P), channels-last memory

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray):
        idx, *conv_saved = ctx.saved
        conv_ctx = ctx.conv
        conv_ctx.saved = tuple(conv_saved)
        try:
            return ConvMaxPoolNd._backward(ctx, grad, idx, conv_ctx)
        finally:
            conv_ctx.saved = ()

    @staticmethod
    def _backward(ctx: Context, grad: np.ndarray, idx: np.ndarray, conv_ctx: Context) -> tuple:
        out_sz, pool, has_bias = ctx.geom
        nx, nw, nb = ctx.needs_input_grad[:3]
        nd = len(pool)
        cout = grad.shape[1]
        g = in_layout_of(grad, idx.transpose(0, nd + 1, *range(1, nd + 1)))   # channels-last memory
        g = g.transpose(0, *range(2, 2 + nd), 1)                           # (N, *P, C_out), contiguous
        slices = _window_slices(tuple(o // p for o, p in zip(out_sz, pool)), pool)
        cols = conv_ctx.saved[0]
        if nx or (nw and cols is None):
            dy = np.empty((grad.shape[0], *out_sz, cout), dtype=grad.dtype)  # every element written once
            route_to_max(g, idx, dy, slices, exact=True)
            gx, gw, gb = ConvNd.backward(conv_ctx, dy.transpose(0, nd + 1, *range(1, nd + 1)))[:3]
            return gx, gw, gb, None, None, None, None, None
        gw = gb = None
        if nw:
            kb = cols.shape[-1]
            transposed = cols[0].T.flags.c_contiguous                      # the column-major im2col layout
            rows = cols[0].T.reshape(kb, -1, *out_sz) if transposed else cols[0].reshape(-1, *out_sz, kb)
            g2 = g.reshape(-1, cout)
            parts = np.zeros((len(slices), kb, cout), dtype=grad.dtype)    # one product per window offset
            step = getattr(conv_ctx, "pool_major_step", None)              # images per pool-major block, or None
            n, windows = grad.shape[0], math.prod(grad.shape[2:])

            def offset_products(a: int, b: int) -> None:                   # offsets a..b, on one core
                for i in range(a, b):
                    go = np.empty_like(g2)                                 # g where the max sits at i
                    np.equal(idx.reshape(-1, cout), i, out=go, casting="unsafe")
                    go *= g2
                    if step is not None:           # per image block, offset i's rows are one contiguous range
                        for lo in range(0, n, step):
                            hi = min(n, lo + step)
                            first = lo * windows * len(slices) + i * (hi - lo) * windows
                            block = slice(first, first + (hi - lo) * windows)
                            parts[i] += cols[0, block].T @ go[lo * windows:hi * windows]   # (kb, C_out)
                    elif transposed:                                       # (kb, rows at offset i)
                        sel = np.ascontiguousarray(rows[(slice(None),) + slices[i]]).reshape(kb, -1)
                        np.matmul(sel, go, out=parts[i])
                    else:
                        sel = np.ascontiguousarray(rows[slices[i]]).reshape(-1, kb)
                        np.matmul(sel.T, go, out=parts[i])
            run_blocks(offset_products, len(slices), g2.size * len(slices))
            gwb = parts.sum(axis=0, keepdims=True)                         # summed in offset order
            gw, gb = weight_grads(conv_ctx, gwb)
        if nb and gb is None:
            gb = g.reshape(-1, cout).sum(axis=0)      # each window's gradient reaches exactly one conv output
        return None, gw, (gb if nb and has_bias else None), None, None, None, None, None


def conv_max_pool_nd(input: Tensor, weight: Tensor, bias: Tensor | None, stride=1, padding=0, dilation=1,
                     mode: str = "correlation", pool_size=2) -> Tensor:
    """``max_pool(conv_nd(input, weight, bias, ...), pool_size)`` in one op (groups 1, pool stride = its kernel,
    no pool padding); the conv output's spatial sizes must be multiples of ``pool_size``.

    input (N, C_in, *S), weight (C_out, C_in, *K) -> (N, C_out, *(O // pool_size)).
    """
    nd = weight.ndim - 2
    input, weight, bias, stride_t, pads, dilation_t, _ = _checked(input, weight, bias, stride, padding, dilation,
                                                                   1, mode, f"conv_max_pool{nd}d")
    pool = (pool_size,) * nd if isinstance(pool_size, int) else tuple(pool_size)
    out_sz = tuple(output_size(s, k, st, lo, hi, d) for s, k, st, (lo, hi), d
                   in zip(input.shape[2:], weight.shape[2:], stride_t, pads, dilation_t))
    if input.ndim != nd + 2 or len(pool) != nd or any(p < 1 or o % p for o, p in zip(out_sz, pool)):
        raise ValueError(f"conv_max_pool{nd}d: needs a batched input and a pool size dividing the conv output "
                         f"{out_sz}, got input {input.shape} and pool_size {pool_size!r}")
    return ConvMaxPoolNd.apply(input, weight, bias, stride_t, pads, dilation_t, mode == "convolution", pool)


FUSE_MAX_WEIGHT = 8192
"""``nn.fused`` fuses a conv with at most this many weight values: thin GEMMs, where writing and re-reading the
conv output is the cost. Measured (training step, fused vs separate, same process): seed001's first layer
(576 values) 3% faster per step, seed000's two layers (144 and 4,608) 4-7%, but seed001's 64->128 layer (73,728
values: a large GEMM that the image blocks, one BLAS thread each, run less efficiently) 9% slower."""


def fuses(input: Tensor, weight: Tensor, stride, padding, dilation, groups: int, pool) -> bool:
    """Whether ``nn.fused`` runs conv + max pool as :func:`conv_max_pool_nd`: a batched input, groups 1, a small
    weight (``FUSE_MAX_WEIGHT``), and a pool that tiles the conv output exactly."""
    nd = weight.ndim - 2
    if groups != 1 or math.prod(weight.shape) > FUSE_MAX_WEIGHT or input.ndim != nd + 2 or len(pool) != nd:
        return False
    try:
        _, _, _, stride_t, pads, dilation_t, _ = _checked(input, weight, None, stride, padding, dilation, 1,
                                                          "correlation", None)
    except (TypeError, ValueError):
        return False                                   # the plain path raises the error
    out_sz = tuple(output_size(s, k, st, lo, hi, d) for s, k, st, (lo, hi), d
                   in zip(input.shape[2:], weight.shape[2:], stride_t, pads, dilation_t))
    return all(p >= 1 and o >= p and o % p == 0 for o, p in zip(out_sz, pool))


def winograd_pools(input: Tensor, weight: Tensor, stride, padding, dilation, groups: int, pool) -> bool:
    """Whether ``nn.fused`` runs conv2d + a 2x2, stride-2 max pool as one Winograd op
    (:class:`~scratchcnn.functional.conv_winograd.Conv2dWinogradMaxPool`): conv2d would run by Winograd
    (:func:`~scratchcnn.functional.conv_winograd.applies`) and its output has even sides."""
    if tuple(pool) != (2, 2) or weight.ndim != 4:
        return False
    try:
        input, weight, _, stride_t, pads, dilation_t, groups = _checked(input, weight, None, stride, padding,
                                                                        dilation, groups, "correlation", None)
    except (TypeError, ValueError):
        return False                                   # the plain path raises the error
    if not conv_winograd.applies(input.shape, weight.shape, np.result_type(input.dtype, weight.dtype), stride_t,
                                 dilation_t, groups, pads, weight.requires_grad and is_grad_enabled()):
        return False
    return all((s + lo + hi - 2) % 2 == 0 for s, (lo, hi) in zip(input.shape[2:], pads))


def conv2d_winograd_max_pool(input: Tensor, weight: Tensor, bias: Tensor | None = None, padding=0,
                             mode: str = "correlation") -> Tensor:
    """``max_pool2d(conv2d(input, weight, bias, padding=padding, mode=mode), 2)`` by Winograd F(4x4, 3x3), pooled
    from the output tiles (for the cases :func:`winograd_pools` accepts). (N, C_in, H, W) -> (N, C_out, H_out/2,
    W_out/2)."""
    input, weight, bias, _, pads, _, _ = _checked(input, weight, bias, 1, padding, 1, 1, mode, "conv2d")
    return conv_winograd.Conv2dWinogradMaxPool.apply(input, weight, bias, pads, mode == "convolution")


__all__ = ["conv_max_pool_nd", "fuses", "winograd_pools", "conv2d_winograd_max_pool"]
