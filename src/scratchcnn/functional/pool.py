"""Pooling over 1, 2 or 3 spatial dims with PyTorch semantics: max, average, adaptive average, global average.

One N-d implementation per kind. Windows are visited by looping over the *kernel offsets* only: for offset
``k`` the strided slice ``x[..., o*stride + k*dilation]`` holds that element of every window at once, so each
step is one vectorised NumPy call over the whole batch (no loop over pixels). The common non-overlapping case
(kernel == stride, no padding, divisible sizes) tiles the input exactly and skips the zero-fill in backward.
Outputs keep the input's memory order (a channels-last conv output stays channels-last).

``ceil_mode=True`` (PyTorch's output size, see :func:`pool_output_size`) may add a last window that hangs past
the right padding; the input is then padded on the right by that overhang as well (-inf for max, 0 for
average, so the overhang never wins nor adds), and average pooling divides such a window by the number of its
elements inside input + padding (``count_include_pad``) or inside the input only, as PyTorch does.

Max pooling sends the gradient to the first maximal element of each window, exactly like PyTorch's CPU kernel.
A window whose maximum is NaN or -inf is the exception: the branch-free scan then keeps its last element (NaN)
or a padding position (-inf); ``return_indices`` re-scans just those windows as PyTorch does (the last NaN, or
the first element inside the input) and its gradient follows those indices; without it, such a gradient
follows the scan (a NaN or -inf activation means training has diverged; the hot path pays no extra pass).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..autograd import Context, Function
from ..parallel import parallel_for
from .activation import ReLU, relu_grad_into
from ..tensor import Tensor
from ._im2col import IntOrTuple, in_layout_of, kernel_offsets, offset_slices, output_size, pad_constant, to_tuple


# --------------------------------------------------------------------------------------------- helpers
def pool_output_size(n: int, k: int, s: int, p: int, d: int = 1, ceil_mode: bool = False) -> int:
    """Windows along one axis, PyTorch's ``pooling_output_shape``: ``floor`` (or ``ceil`` with ``ceil_mode``) of
    ``(n + 2p - d(k-1) - 1) / s``, plus 1; in ceil mode a last window that would start in the right padding
    (``(out-1)*s >= n + p``) is dropped."""
    out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _batched(x: np.ndarray, nd: int) -> np.ndarray:
    return x[None] if x.ndim == nd + 1 else x


def _exact_tiling(shape: Sequence[int], kernel, stride, dilation, pads) -> bool:
    """True when the windows cover the (padded) input exactly once: kernel == stride, dilation 1, divisible."""
    return all(k == s and d == 1 and (n + lo + hi) % k == 0
               for n, k, s, d, (lo, hi) in zip(shape, kernel, stride, dilation, pads))


def _grad_buffer(like: np.ndarray, shape: Sequence[int], dtype: np.dtype, exact: bool) -> np.ndarray:
    """Input-gradient buffer of ``shape`` (the padded input), in ``like``'s memory order (e.g. channels-last).

    Uninitialised when the windows tile it exactly (every element gets written), zeros otherwise."""
    make = np.empty_like if exact else np.zeros_like
    return make(like, dtype=dtype, shape=tuple(shape))


def _crop(a: np.ndarray, spatial: Sequence[int], pads) -> np.ndarray:
    return a[(slice(None), slice(None)) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(spatial, pads))]


def argmax_dtype(offsets: int) -> type:
    """The smallest integer type that holds a window offset index (uint8 up to 255 offsets)."""
    return np.uint8 if offsets < 256 else np.int32


def window_max(slabs: list, best: np.ndarray, idx: np.ndarray | None) -> None:
    """``best`` = the elementwise max of ``slabs`` (one strided view per window offset, all of ``best``'s shape);
    ``idx`` (if given) = the index of the first maximal slab, a NaN counting as maximal (the last NaN wins).

    Branch-free: ``idx = max(idx, changed * i)`` (see :class:`MaxPoolNd`), with every two-array pass written into
    one of its inputs (NumPy's binary loops are slower into a third array)."""
    np.copyto(best, slabs[0])
    if idx is None:
        for s in slabs[1:]:
            np.maximum(best, s, out=best)             # NaN propagates
        return
    idx[...] = 0
    old = np.empty_like(best)
    changed = np.empty_like(idx)
    for i, s in enumerate(slabs[1:], start=1):
        np.copyto(old, best)
        np.maximum(best, s, out=best)                 # NaN propagates
        np.not_equal(best, old, out=changed)          # strictly greater (first max wins) or a NaN arrived
        changed *= idx.dtype.type(i)
        np.maximum(idx, changed, out=idx)


def fix_nonfinite_argmax(slabs: list, best: np.ndarray, idx: np.ndarray, spatial: Sequence[int],
                         kernel: tuple[int, ...], stride: tuple[int, ...], pads, dilation: tuple[int, ...]) -> None:
    """Set ``idx`` of the windows whose maximum is NaN or -inf to PyTorch's winner: its scan over the window's
    elements inside the input (padding excluded) starts at the first of them and takes ``v > max or isnan(v)``,
    so the last NaN, or the first element for an all -inf window. Only those (rare) windows are gathered; a
    window with no element inside the input keeps its index."""
    bad = np.nonzero(~(best > best.dtype.type(-np.inf)))
    if not bad[0].size:
        return
    maxval = np.full(bad[0].shape, -np.inf, dtype=best.dtype)
    win = np.full(bad[0].shape, -1, dtype=np.int64)
    for i, k in enumerate(kernel_offsets(kernel)):
        inside = np.ones(bad[0].shape, dtype=bool)
        for a, o in enumerate(bad[2:]):
            c = o * stride[a] + k[a] * dilation[a] - pads[a][0]
            inside &= (c >= 0) & (c < spatial[a])
        v = slabs[i][bad]
        win[inside & (win < 0)] = i
        take = inside & ((v > maxval) | np.isnan(v))
        maxval[take] = v[take]
        win[take] = i
    found = win >= 0
    idx[tuple(b[found] for b in bad)] = win[found]


def route_to_max(g: np.ndarray, idx: np.ndarray, dx: np.ndarray, slices: list, exact: bool) -> None:
    """Send each window's gradient ``g`` to its maximum: ``dx[slices[i]] (+)= g * (idx == i)``; with ``exact``
    tiling every element of ``dx`` is written once (no zero-fill needed), else the windows overlap and add."""
    for i, sl in enumerate(slices):
        if exact:
            np.multiply(g, idx == i, out=dx[sl])
        else:
            dx[sl] += g * (idx == i)


# --------------------------------------------------------------------------------------------- max
class MaxPoolNd(Function):
    """Max over windows; saves the winning kernel offset per output element (uint8 for up to 255 offsets).

    Branch-free on purpose: masks are applied by multiplication and the winner index is updated as
    ``idx = max(idx, changed * k)`` (``k`` grows), because NumPy's masked ``where``/``copyto`` are ~20x slower
    on the random masks that ReLU outputs produce. (So a non-finite upstream gradient, inf * 0 = NaN, spreads
    to the whole window; PyTorch would keep it on the argmax. Training is diverging by then anyway.)
    """

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...],
                pads: tuple[tuple[int, int], ...], dilation: tuple[int, ...], want_idx: bool = False) -> np.ndarray:
        nd = len(kernel)
        unbatched = x.ndim == nd + 1
        x = _batched(x, nd)
        fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        xp = pad_constant(x, pads, fill)
        out_sz = tuple(output_size(n, k, s, lo, hi, d)
                       for n, k, s, (lo, hi), d in zip(x.shape[2:], kernel, stride, pads, dilation))
        slabs = [xp[(slice(None), slice(None)) + offset_slices(k, out_sz, stride, dilation)]
                 for k in kernel_offsets(kernel)]
        track = want_idx or ctx.needs_input_grad[0]
        best = np.empty_like(slabs[0])                # the input's memory order (K)
        idx = np.empty_like(best, dtype=argmax_dtype(len(slabs))) if track else None

        def part(lo: int, hi: int) -> None:           # a slice of the batch; parts run in parallel
            window_max([s[lo:hi] for s in slabs], best[lo:hi], idx[lo:hi] if track else None)
        parallel_for(part, x.shape[0], x.size)
        if want_idx and x.dtype.kind == "f":         # indices the user sees: PyTorch's for NaN / -inf maxima
            fix_nonfinite_argmax(slabs, best, idx, x.shape[2:], kernel, stride, pads, dilation)
        ctx.save_for_backward(idx)
        ctx.geom = (x.shape, xp.shape[2:], out_sz, kernel, stride, pads, dilation, unbatched,
                    _exact_tiling(x.shape[2:], kernel, stride, dilation, pads))
        return best[0] if unbatched else best

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray):
        (idx,) = ctx.saved
        xshape, padded, out_sz, kernel, stride, pads, dilation, unbatched, exact = ctx.geom
        fused = getattr(ctx, "relu_fused", None)
        if fused is not None and fused[0]._retain:   # x.retain_grad() on the skipped ReLU output
            ctx.relu_fused = None
            fused[0]._accumulate(MaxPoolNd.backward(ctx, grad)[0])
            ctx.relu_fused = fused
        if fused is not None:                        # gradient w.r.t. the ReLU's input (see _fuse_relu_backward)
            masked = np.empty_like(fused[1], dtype=grad.dtype)
            relu_grad_into(grad, fused[1], masked)
            grad = masked
        g = in_layout_of(_batched(grad, len(kernel)), idx)
        dxp = _grad_buffer(idx, xshape[:2] + padded, g.dtype, exact)
        slices = [(slice(None), slice(None)) + offset_slices(k, out_sz, stride, dilation)
                  for k in kernel_offsets(kernel)]

        def part(lo: int, hi: int) -> None:           # a slice of the batch; parts run in parallel
            route_to_max(g[lo:hi], idx[lo:hi], dxp[lo:hi], slices, exact)
        parallel_for(part, g.shape[0], dxp.size)
        dx = _crop(dxp, xshape[2:], pads)
        return (dx[0] if unbatched else dx), None, None, None, None, None


def _flat_indices(idx: np.ndarray, spatial, kernel, stride, pads, dilation) -> np.ndarray:
    """PyTorch's ``return_indices``: flat index into the unpadded spatial plane of each window's maximum."""
    offs = np.unravel_index(idx.astype(np.int64), kernel)
    flat = np.zeros(idx.shape, dtype=np.int64)
    nd = len(kernel)
    for a in range(nd):
        o = np.arange(idx.shape[2 + a]).reshape((-1,) + (1,) * (nd - 1 - a))
        coord = o * stride[a] + offs[a] * dilation[a] - pads[a][0]
        flat = flat * spatial[a] + coord
    return flat


# --------------------------------------------------------------------------------------------- average
class AvgPoolNd(Function):
    """Mean over windows; ``divisor`` is a number or an array broadcasting against the output."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...],
                pads: tuple[tuple[int, int], ...], divisor: Any) -> np.ndarray:
        nd = len(kernel)
        unbatched = x.ndim == nd + 1
        x = _batched(x, nd)
        ones = (1,) * nd
        xp = pad_constant(x, pads, 0)
        out_sz = tuple(output_size(n, k, s, lo, hi) for n, k, s, (lo, hi) in zip(x.shape[2:], kernel, stride, pads))
        lead = (slice(None), slice(None))
        offsets = kernel_offsets(kernel)
        acc = np.array(xp[lead + offset_slices(offsets[0], out_sz, stride, ones)], order="K")
        for k in offsets[1:]:
            acc += xp[lead + offset_slices(k, out_sz, stride, ones)]
        divisor = np.asarray(divisor, dtype=x.dtype)
        acc /= divisor
        ctx.divisor = divisor
        ctx.geom = (x.shape, xp.shape[2:], out_sz, kernel, stride, pads, unbatched,
                    _exact_tiling(x.shape[2:], kernel, stride, ones, pads))
        return acc[0] if unbatched else acc

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray):
        xshape, padded, out_sz, kernel, stride, pads, unbatched, exact = ctx.geom
        nd = len(kernel)
        g = _batched(grad, nd) / ctx.divisor
        dxp = _grad_buffer(g, xshape[:2] + padded, g.dtype, exact)
        lead = (slice(None), slice(None))
        for k in kernel_offsets(kernel):
            sl = lead + offset_slices(k, out_sz, stride, (1,) * nd)
            if exact:
                dxp[sl] = g
            else:
                dxp[sl] += g
        dx = _crop(dxp, xshape[2:], pads)
        return (dx[0] if unbatched else dx), None, None, None, None


def _window_counts(spatial, kernel, stride, padding, out_sz, include_pad: bool) -> np.ndarray:
    """PyTorch's average-pool divisor of each window, shape (1, 1, *O): the product over axes of its length
    clipped to input + padding (``include_pad``) or to the input only."""
    count = np.ones((1, 1) + (1,) * len(kernel))
    for a, (n, k, s, p, o) in enumerate(zip(spatial, kernel, stride, padding, out_sz)):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        c = end - start if include_pad else np.minimum(end, n) - np.maximum(start, 0)
        count = count * c.reshape((1, 1) + tuple(-1 if b == a else 1 for b in range(len(kernel))))
    return count


# --------------------------------------------------------------------------------------------- adaptive
def adaptive_matrix(n_in: int, n_out: int, dtype: Any = np.float64) -> np.ndarray:
    """(n_out, n_in) averaging matrix of PyTorch's adaptive bins ``[floor(i*n_in/n_out), ceil((i+1)*n_in/n_out))``."""
    i = np.arange(n_out)
    start = (i * n_in) // n_out
    end = -((-(i + 1) * n_in) // n_out)
    j = np.arange(n_in)
    inside = (j >= start[:, None]) & (j < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def _along(a: np.ndarray, mat: np.ndarray, axis: int) -> np.ndarray:
    """Apply ``mat`` (m, n) to axis ``axis`` of ``a`` (which has length n there)."""
    return np.moveaxis(np.moveaxis(a, axis, -1) @ mat.T, -1, axis)


class AdaptiveAvgPoolNd(Function):
    """Adaptive average pooling is separable: one small averaging matrix per spatial axis."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, out_sz: tuple[int, ...]) -> np.ndarray:
        nd = len(out_sz)
        mats = [adaptive_matrix(n, o, x.dtype) for n, o in zip(x.shape[-nd:], out_sz)]
        y = x
        for a, m in enumerate(mats):
            if m.shape[0] != m.shape[1]:       # identity when the size does not change
                y = _along(y, m, x.ndim - nd + a)
        ctx.mats = mats
        return np.array(y, copy=y is x)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray):
        nd = len(ctx.mats)
        g = grad
        for a, m in enumerate(ctx.mats):
            if m.shape[0] != m.shape[1]:
                g = _along(g, m.T, grad.ndim - nd + a)
        return g, None


# --------------------------------------------------------------------------------------------- argument checks
def _common(input: Any, kernel_size, stride, padding, nd: int, op: str, dilation=1, ceil_mode: bool = False):
    """Checked arguments: (input, kernel, stride, pads, dilation, out_sz); ``pads`` holds (lo, hi) per axis,
    ``hi`` grown by the overhang of a ceil-mode last window past the right padding."""
    if not isinstance(input, Tensor):
        input = Tensor(input)
    if input.ndim not in (nd + 1, nd + 2):
        axes = {1: "L", 2: "H, W", 3: "D, H, W"}[nd]
        raise ValueError(f"{op}: expected a {nd + 2}-D input (N, C, {axes}) or an unbatched {nd + 1}-D input "
                         f"(C, {axes}), got {input.ndim}-D input of shape {input.shape}")
    kernel = to_tuple(kernel_size, nd, "kernel_size", op)
    no_stride = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)
    stride_t = kernel if no_stride else to_tuple(stride, nd, "stride", op)
    pad = to_tuple(padding, nd, "padding", op, minimum=0)
    dil = to_tuple(dilation, nd, "dilation", op)
    if any(p > k // 2 for p, k in zip(pad, kernel)):
        raise ValueError(f"{op}: padding {pad} must be at most half of kernel_size {kernel} (like PyTorch)")
    spatial = input.shape[-nd:]
    out_sz = tuple(pool_output_size(n, k, s, p, d, bool(ceil_mode))
                   for n, k, s, p, d in zip(spatial, kernel, stride_t, pad, dil))
    if any(o < 1 for o in out_sz):
        raise ValueError(f"{op}: input of shape {input.shape} is too small for kernel_size={kernel}, "
                         f"padding={pad}, dilation={dil} (output size would be {out_sz})")
    over = (max(0, (o - 1) * s + d * (k - 1) + 1 - (n + 2 * p))
            for n, k, s, p, d, o in zip(spatial, kernel, stride_t, pad, dil, out_sz))
    return input, kernel, stride_t, tuple((p, p + e) for p, e in zip(pad, over)), dil, out_sz


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nd, op):
    x, kernel, stride_t, pads, dil, _ = _common(input, kernel_size, stride, padding, nd, op, dilation, ceil_mode)
    out = MaxPoolNd.apply(x, kernel, stride_t, pads, dil, return_indices)
    _fuse_relu_backward(out, x)
    if not return_indices:
        return out
    node = out.grad_fn
    if node is None:  # not recorded (no grad needed): recompute the indices directly
        ctx = Context((False,) * 6)
        MaxPoolNd.forward(ctx, x.data, kernel, stride_t, pads, dil, True)
    else:
        ctx = node.ctx
    idx = _batched(ctx.saved[0], nd)
    flat = _flat_indices(idx, x.shape[-nd:], kernel, stride_t, pads, dil)
    return out, Tensor(flat[0] if x.ndim == nd + 1 else flat)


def _fuse_relu_backward(out: Tensor, x: Tensor) -> None:
    """When ``x = relu(pre)`` feeds this max pool, let the pool's gradient skip the full-size ReLU backward.

    max over a window of relu(pre) is taken at a position p whose ReLU derivative is ``relu(pre)[p] > 0``,
    i.e. ``out > 0`` for that window; so d out/d pre = scatter(g * (out > 0)): the mask is applied to the
    small pooled gradient and the pool's node is re-linked to ``pre``. Bit-identical to relu's backward after
    the pool's; other consumers of ``x`` still reach the ReLU node, and ``x.retain_grad()`` is honoured (the
    pool then also adds its unmasked gradient to ``x.grad``).
    """
    node, src = out._node, x._node
    if node is None or src is None or src.fn is not ReLU or src.freed:
        return
    pre = src.inputs[0]
    if pre is None or not pre.requires_grad or pre.data.dtype != x.data.dtype:
        return
    node.inputs = (pre,) + tuple(node.inputs[1:])
    node.ctx.relu_fused = (x, out.data)


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, nd, op):
    x, kernel, stride_t, pads, _, out_sz = _common(input, kernel_size, stride, padding, nd, op, 1, ceil_mode)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating input, got dtype {x.dtype}")
    if divisor_override is not None:
        if divisor_override <= 0:
            raise ValueError(f"{op}: divisor_override must be positive, got {divisor_override}")
        divisor: Any = float(divisor_override)
    elif all(lo == hi for lo, hi in pads) and (count_include_pad or not any(lo for lo, _ in pads)):
        divisor = float(np.prod(kernel))             # every window lies inside input + padding (or the input)
    else:
        divisor = _window_counts(x.shape[-nd:], kernel, stride_t, [lo for lo, _ in pads], out_sz,
                                 count_include_pad)
    return AvgPoolNd.apply(x, kernel, stride_t, pads, divisor)


# --------------------------------------------------------------------------------------------- public API
def max_pool1d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
               dilation: IntOrTuple = 1, ceil_mode: bool = False, return_indices: bool = False):
    """Max over windows of length ``kernel_size``: (N, C, L) -> (N, C, L_out); padding counts as -inf.

    ``stride`` defaults to ``kernel_size``. With ``return_indices`` also returns int64 flat indices of the maxima.
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1, "max_pool1d")


def max_pool2d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
               dilation: IntOrTuple = 1, ceil_mode: bool = False, return_indices: bool = False):
    """Max over ``kernel_size`` windows: (N, C, H, W) -> (N, C, H_out, W_out); padding counts as -inf.

    ``stride`` defaults to ``kernel_size``; the gradient goes to the first maximum of each window; ``ceil_mode``
    rounds the output size up (PyTorch's rule, see :func:`pool_output_size`).
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2, "max_pool2d")


def max_pool3d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
               dilation: IntOrTuple = 1, ceil_mode: bool = False, return_indices: bool = False):
    """Max over ``kernel_size`` windows: (N, C, D, H, W) -> (N, C, D_out, H_out, W_out) (or unbatched (C, D, H, W)).

    As :func:`max_pool2d`; ``return_indices`` gives int64 flat indices into the unpadded D*H*W volume.
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 3, "max_pool3d")


def avg_pool1d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """Mean over windows of length ``kernel_size``: (N, C, L) -> (N, C, L_out).

    Zero padding; ``count_include_pad`` (PyTorch's default) divides by the full window size.
    """
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1, "avg_pool1d")


def avg_pool2d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Mean over ``kernel_size`` windows: (N, C, H, W) -> (N, C, H_out, W_out).

    Zero padding; ``count_include_pad=False`` divides by the number of real (non-padding) elements instead;
    with ``ceil_mode`` a window hanging past the right padding divides by its part inside input + padding.
    """
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2,
                     "avg_pool2d")


def avg_pool3d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Mean over ``kernel_size`` windows: (N, C, D, H, W) -> (N, C, D_out, H_out, W_out) (or unbatched (C, D, H, W)).

    Zero padding, ``count_include_pad``, ``ceil_mode`` and ``divisor_override`` as :func:`avg_pool2d`; unlike
    it (and like PyTorch's) the unpadded input must be at least ``kernel_size`` along each axis.
    """
    if not isinstance(input, Tensor):
        input = Tensor(input)
    if input.ndim in (4, 5):
        kernel = to_tuple(kernel_size, 3, "kernel_size", "avg_pool3d")
        if any(n < k for n, k in zip(input.shape[-3:], kernel)):
            raise ValueError(f"avg_pool3d: input (D, H, W) = {tuple(input.shape[-3:])} is smaller than kernel_size "
                             f"{kernel} (PyTorch's avg_pool3d does not count padding here)")
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 3,
                     "avg_pool3d")


def _adaptive(input: Any, output_size: Any, nd: int, op: str) -> Tensor:
    if not isinstance(input, Tensor):
        input = Tensor(input)
    if input.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{op}: expected a {nd + 2}-D or unbatched {nd + 1}-D input, got shape {input.shape}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating input, got dtype {input.dtype}")
    spatial = input.shape[-nd:]
    if output_size is None or isinstance(output_size, (int, np.integer)):
        sizes: list = [output_size] * nd
    else:
        sizes = list(output_size)
        if len(sizes) != nd:
            raise ValueError(f"{op}: output_size must have {nd} entries, got {output_size!r}")
    out = tuple(n if o is None else int(o) for n, o in zip(spatial, sizes))
    if any(o < 1 for o in out):
        raise ValueError(f"{op}: output_size entries must be positive (or None), got {output_size!r}")
    if any(n < 1 for n in spatial):
        raise ValueError(f"{op}: input has an empty spatial dimension: {input.shape}")
    return AdaptiveAvgPoolNd.apply(input, out)


def adaptive_avg_pool1d(input: Tensor, output_size: int | Sequence[int | None]) -> Tensor:
    """Average into ``output_size`` bins ``[floor(i*L/out), ceil((i+1)*L/out))``: (N, C, L) -> (N, C, out)."""
    return _adaptive(input, output_size, 1, "adaptive_avg_pool1d")


def adaptive_avg_pool2d(input: Tensor, output_size: int | Sequence[int | None]) -> Tensor:
    """Average into an ``output_size`` grid of PyTorch's adaptive bins; a ``None`` entry keeps that input size."""
    return _adaptive(input, output_size, 2, "adaptive_avg_pool2d")


def adaptive_avg_pool3d(input: Tensor, output_size: int | Sequence[int | None]) -> Tensor:
    """Average (N, C, D, H, W) (or (C, D, H, W)) into an ``output_size`` (D, H, W) grid of PyTorch's adaptive
    bins; a ``None`` entry keeps that input size."""
    return _adaptive(input, output_size, 3, "adaptive_avg_pool3d")


def global_avg_pool(input: Tensor, keepdims: bool = False) -> Tensor:
    """Mean over all spatial dims: (N, C, *S) -> (N, C) (or (N, C, 1, ..., 1) with ``keepdims``)."""
    if not isinstance(input, Tensor):
        input = Tensor(input)
    if input.ndim < 3:
        raise ValueError(f"global_avg_pool: expected input (N, C, *spatial) with at least 3 dims, got shape "
                         f"{input.shape}")
    from .reduce import mean
    return mean(input, axis=tuple(range(2, input.ndim)), keepdims=keepdims)


__all__ = ["max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d", "adaptive_avg_pool3d", "global_avg_pool"]
