"""Batch normalisation for (N, C) and (N, C, *spatial) inputs: one fused op with a closed-form backward.

Training (or no running stats) normalises with the batch mean and biased variance over every axis but C,
and updates ``running_mean``/``running_var`` in place (unbiased variance, PyTorch's momentum rule).
Evaluation uses the running statistics, folded into one per-channel scale and shift.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..autograd import Context, Function
from ..parallel import parallel_for
from ._im2col import in_layout_of
from ..tensor import Tensor


class _ChannelView:
    """(N, C, *S) seen with its channel axis where memory has it: last for channels-last memory (what conv and
    pooling produce), else in place. Never a reshape, so never a copy: strided inputs (e.g. a gradient cropped
    out of a padded buffer) are used as they are. Statistics reduce over ``axes`` (all but the channel axis);
    per-channel vectors broadcast via ``vec``; ``back`` undoes the view.
    """

    def __init__(self, ndim: int, channels_last: bool):
        self.channels_last = channels_last
        letters = "abcdefghij"[:ndim]
        ch = ndim - 1 if channels_last else 1
        self.axes = tuple(a for a in range(ndim) if a != ch)
        self.sub = f"{letters},{letters}->{letters[ch]}"      # per-channel sum of a product
        self.ndim = ndim

    @staticmethod
    def of(x: np.ndarray) -> "_ChannelView":
        cl = x.ndim > 2 and np.moveaxis(x, 1, -1).flags.c_contiguous and not x.flags.c_contiguous
        return _ChannelView(x.ndim, bool(cl))

    def view(self, a: np.ndarray) -> np.ndarray:
        return np.moveaxis(a, 1, -1) if self.channels_last else a

    def vec(self, v: np.ndarray) -> np.ndarray:
        return v if self.channels_last else v.reshape((1, -1) + (1,) * (self.ndim - 2))

    def back(self, a: np.ndarray) -> np.ndarray:
        return np.moveaxis(a, -1, 1) if self.channels_last else a

    def sum(self, a: np.ndarray) -> np.ndarray:
        """Per-channel sums of a block of the view. A contiguous channels-last block is summed as rows of
        k * C values (then the k partial sums): NumPy's reduction over rows of only C = 64 values is ~2x slower."""
        if self.channels_last and a.flags.c_contiguous:
            c = a.shape[-1]
            rows = a.size // c
            k = next(k for k in (16, 8, 4, 2, 1) if rows % k == 0)
            return a.reshape(rows // k, k * c).sum(axis=0).reshape(k, c).sum(axis=0)
        return a.sum(axis=self.axes)

    def dot(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Per-channel sums of ``a * b`` over a block of the view. A contiguous channels-last block is summed in
        groups of ``_DOT_GROUP`` rows, then the group sums: einsum adds a channel's values one after another, and
        over the ~8,000 rows of a block a float32 sum (of squares that are often equal, after a ReLU) drifted by
        ~3e-5 relative, 100x PyTorch's float32 error; in groups it is ~4e-7, at the same speed."""
        if not (self.channels_last and a.flags.c_contiguous and b.flags.c_contiguous):
            return np.einsum(self.sub, a, b)
        c = a.shape[-1]
        a2, b2 = a.reshape(-1, c), b.reshape(-1, c)
        full = len(a2) // _DOT_GROUP * _DOT_GROUP
        groups = (a2[:full].reshape(-1, _DOT_GROUP, c), b2[:full].reshape(-1, _DOT_GROUP, c))
        out = np.einsum("src,src->sc", *groups).sum(axis=0)
        if full < len(a2):
            out += np.einsum("rc,rc->c", a2[full:], b2[full:])
        return out


_DOT_GROUP = 128
"""Rows per partial sum in :meth:`_ChannelView.dot`."""

_BLOCK = 1 << 19
"""Elements per block (2 MB of float32), split over the cores. Few, large blocks: every NumPy call hands the GIL
over between the two threads, so 64 k blocks (each pass ~12 us) ran no faster on two cores than on one. Measured
on seed001's shapes (forward / backward median ms, 2 threads, interleaved): 64 x 64 x 14 x 14 2.13 / 2.59 with
2^16, 1.21 / 1.86 with 2^19, 1.46 / 2.41 in one block; 64 x 128 x 7 x 7 0.76 / 1.00 -> 0.60 / 0.82."""


def _blocked(fn: Callable[[int, int, int], object], rows: int, row_size: int,
             bounds: list | None = None) -> tuple[list, list]:
    """``[fn(i, lo, hi) for each block i of rows]`` with blocks of about ``_BLOCK`` elements (or the ``bounds`` of
    an earlier call, so a second pass sees the same blocks), split over the cores; returns ``(bounds, results)``."""
    if bounds is None:
        step = max(1, _BLOCK // max(1, row_size))
        bounds = [(lo, min(lo + step, rows)) for lo in range(0, rows, step)]
    results: list = [None] * len(bounds)

    def run(a: int, b: int) -> None:
        for i in range(a, b):
            results[i] = fn(i, *bounds[i])
    parallel_for(run, len(bounds), rows * row_size)
    return bounds, results


class BatchNormTrain(Function):
    """y = (x - mean_B) / sqrt(var_B + eps) * w + b with batch statistics over every axis but C.

    Memory-bound, so it is written as few passes over x as possible, each in large blocks of rows
    (split over the cores): forward = one pass for the statistics (per block its mean, the centred block
    written into the output buffer and its sum of squares, merged with the exact parallel-variance formula, so
    no E[x^2] - E[x]^2 cancellation) + one pass finishing ``y = (x - m_block) * scale + shift_block`` in place;
    backward = one pass forming ``x - mean`` in the dx buffer with sum(g) and sum(g * (x - mean)) + one pass
    turning it into dx in place. The input itself is saved (not x-hat): nothing extra is written.
    """

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None, eps: float,
                running: tuple | None) -> np.ndarray:
        cv = _ChannelView.of(x)
        x3 = cv.view(x)
        rows, row_size = x3.shape[0], x3[0].size
        per_row = row_size // x.shape[1]               # values of one channel in one row
        n = rows * per_row
        dt = x.dtype.type

        y3 = np.empty_like(x3)

        def stats(_: int, lo: int, hi: int):       # block mean m_b; y <- x - m_b; sum (x - m_b)^2
            blk, d = x3[lo:hi], y3[lo:hi]
            m = cv.sum(blk) / dt((hi - lo) * per_row)
            np.copyto(d, blk)                      # then in place: NumPy's 3-array loops are ~2.5x slower
            d -= cv.vec(m)
            return m, cv.dot(d, d), (hi - lo) * per_row
        bounds, parts = _blocked(stats, rows, row_size)
        means = np.stack([p[0] for p in parts])        # (B, C)
        counts = np.array([p[2] for p in parts], dtype=x.dtype)[:, None]
        mean = (counts * means).sum(axis=0) / dt(n)
        m2 = sum(p[1] for p in parts) + (counts * (means - mean) ** 2).sum(axis=0)
        var = (m2 / dt(n)).astype(x.dtype, copy=False)  # biased
        mean = mean.astype(x.dtype, copy=False)
        invstd = (1.0 / np.sqrt(var + dt(eps))).astype(x.dtype, copy=False)
        scale = invstd * w if w is not None else invstd
        sc_ = cv.vec(scale)
        # y = (x - m_b) * scale + shift_b, shift_b = (m_b - mean) * scale (+ b): each block's own centring kept
        shifts = (means.astype(x.dtype, copy=False) - mean) * scale
        if b is not None:
            shifts += b

        def normalise(i: int, lo: int, hi: int) -> None:
            y3[lo:hi] *= sc_
            y3[lo:hi] += cv.vec(shifts[i])
        _blocked(normalise, rows, row_size, bounds)
        if running is not None:
            rm, rv, factor = running
            with np.errstate(divide="ignore", invalid="ignore"):
                unbiased = var * (n / (n - 1)) if n > 1 else np.full_like(var, np.nan)
            rm *= 1 - factor
            rm += factor * mean
            rv *= 1 - factor
            rv += factor * unbiased
        ctx.save_for_backward(x3, mean, invstd, w)
        ctx.cv = cv
        return cv.back(y3)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        x3, mean, invstd, w = ctx.saved
        cv = ctx.cv
        nx, nw, nb = ctx.needs_input_grad[:3]
        rows, row_size = x3.shape[0], x3[0].size
        n = x3.size // mean.size
        dt = x3.dtype.type
        g3 = cv.view(in_layout_of(g, cv.back(x3)))   # one copy if the layouts differ
        mv = cv.vec(mean)

        # d <- x - mean (in the dx buffer), then sum(g) and sum(g * (x - mean)) per block
        d3 = np.empty_like(x3)

        def sums(_: int, lo: int, hi: int):
            d = d3[lo:hi]
            np.copyto(d, x3[lo:hi])
            d -= mv
            return cv.sum(g3[lo:hi]), cv.dot(g3[lo:hi], d)
        bounds, parts = _blocked(sums, rows, row_size)
        gb = sum(p[0] for p in parts)
        gxc = sum(p[1] for p in parts)                 # sum g * (x - mean)
        gw = (gxc * invstd).astype(x3.dtype, copy=False)
        dx = None
        if nx:
            # dx = w * invstd / n * (n g - sum(g) - xhat * sum(g xhat)) = a * (g + c (x - mean) + d) with
            # a = w * invstd, c = -invstd * gw / n, d = -sum(g) / n: every pass in place on the (x - mean) buffer
            a = invstd if w is None else invstd * w
            av, cvv, dv = cv.vec(a), cv.vec(-invstd * gw / dt(n)), cv.vec(-gb / dt(n))

            def grad_input(_: int, lo: int, hi: int) -> None:
                out = d3[lo:hi]
                out *= cvv
                out += dv
                out += g3[lo:hi]
                out *= av
            _blocked(grad_input, rows, row_size, bounds)
            dx = cv.back(d3)
        return dx, (gw if nw else None), (gb if nb else None), None, None


class BatchNormEval(Function):
    """y = x * scale + shift with scale = w / sqrt(running_var + eps), shift = b - running_mean * scale."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None, eps: float,
                rm: np.ndarray, rv: np.ndarray) -> np.ndarray:
        dt = x.dtype
        invstd = (1.0 / np.sqrt(rv.astype(dt) + dt.type(eps))).astype(dt, copy=False)
        rmx = rm.astype(dt, copy=False)
        scale = invstd * w if w is not None else invstd
        shift = -rmx * scale
        if b is not None:
            shift = shift + b
        cv = _ChannelView.of(x)
        x3 = cv.view(x)
        y = x3 * cv.vec(scale)
        y += cv.vec(shift)
        ctx.save_for_backward(x3 if ctx.needs_input_grad[1] else None, scale, invstd, rmx)
        ctx.cv = cv
        return cv.back(y)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        x3, scale, invstd, rmx = ctx.saved
        cv = ctx.cv
        nx, nw, nb = ctx.needs_input_grad[:3]
        g3 = cv.view(g)
        dx = cv.back(g3 * cv.vec(scale)) if nx else None
        gsum = cv.sum(g3) if nw or nb else None
        # sum g * (x - rm) * invstd = invstd * (sum g x - rm sum g)
        gw = invstd * (cv.dot(g3, x3) - rmx * gsum) if nw else None
        return dx, gw, (gsum if nb else None), None, None, None


def _buffer(v, name: str, C: int) -> np.ndarray | None:
    if v is None:
        return None
    arr = v.data if isinstance(v, Tensor) else v
    if not isinstance(arr, np.ndarray) or arr.shape != (C,):
        shape = getattr(arr, "shape", type(arr).__name__)
        raise ValueError(f"batch_norm: {name} must have shape ({C},), got {shape}")
    return arr


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float | None = 0.1, eps: float = 1e-5,
               num_batches_tracked: int | Tensor | None = None) -> Tensor:
    """Batch normalisation (PyTorch's ``F.batch_norm``) of input (N, C) or (N, C, *spatial).

    Args:
        running_mean, running_var: (C,) buffers, or None (then batch statistics are always used). In
            training they are updated IN PLACE (on their ``.data``): ``r = (1 - m) r + m * stat``, with the
            unbiased batch variance for ``running_var``.
        weight, bias: optional (C,) affine parameters.
        training: use batch statistics (and update the running ones) instead of the running statistics.
        momentum: the factor m above; None means a cumulative average, m = 1 / num_batches_tracked.
        num_batches_tracked: batches seen INCLUDING this one (the caller increments first, as
            ``nn.BatchNorm`` does); only used when ``momentum`` is None.
    Returns:
        A tensor shaped like ``input``, same dtype.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"batch_norm: input must be a Tensor, got {type(input).__name__}")
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C) or (N, C, *spatial), got {input.shape}")
    if input.dtype.kind != "f":
        raise TypeError(f"batch_norm: input must be floating point, got dtype {input.dtype}")
    C = input.shape[1]
    rm = _buffer(running_mean, "running_mean", C)
    rv = _buffer(running_var, "running_var", C)
    if (rm is None) != (rv is None):
        raise ValueError("batch_norm: running_mean and running_var must both be given or both be None")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.shape != (C,):
            raise ValueError(f"batch_norm: {name} must have shape ({C},), got {p.shape}")
    if training or rm is None:
        per_channel = input.data.size // C if C else 0
        if per_channel <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                             f"got input of shape {input.shape}")
        running = None
        if training and rm is not None:
            if momentum is None:
                count = num_batches_tracked.data if isinstance(num_batches_tracked, Tensor) else num_batches_tracked
                if count is None or int(count) < 1:
                    raise ValueError("batch_norm: momentum=None (cumulative average) needs "
                                     "num_batches_tracked >= 1 (batches seen, including this one)")
                factor = 1.0 / int(count)
            else:
                factor = float(momentum)
            running = (rm, rv, factor)
        return BatchNormTrain.apply(input, weight, bias, float(eps), running)
    return BatchNormEval.apply(input, weight, bias, float(eps), rm, rv)


__all__ = ["batch_norm"]
