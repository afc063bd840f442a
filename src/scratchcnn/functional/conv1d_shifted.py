"""Stride-1 1-D convolution without im2col: one GEMM per kernel tap over the whole batch as one long sequence,
for one weight or for several weights of different widths at once (TextCNN's windows 3, 4, 5).

For channels-last, padded input ``xp`` (N, Lp, C) flattened to (N*Lp, C), output row ``r = n*Lp + t`` of
``out = sum_j xp_flat[r + j*d] @ W_j`` (W_j = weight[:, :, j].T, (C, C_out)) is output position t of sample
n whenever t < L_out: its taps never leave sample n. The other (k-1)*d rows per sample straddle two samples;
they are computed and dropped (4% extra work for TextCNN's 96-token sentences and a width-5 window). Every tap
is a *contiguous* row block of ``xp_flat``, so no (N*L_out, k*C) im2col matrix is written or kept: forward and
backward are k GEMMs each, on the padded input itself (saved instead of the columns: k times less memory).

Several windows: their output channels sit side by side, narrowest window first, so tap j's GEMM is ONE product
``xp_flat[j*d:] @ [W_j of every window wider than j]`` onto a suffix of the columns: for 3, 4, 5 that is 5
GEMMs with 300, 300, 300, 200, 100 columns instead of 12 with 100 (bigger GEMMs, fewer passes; ~10% faster).
The output is (N, sum C_out, L_out of the narrowest window); a wider window has fewer valid positions and the
rest of the shared length is 0. The forward runs in row blocks of ~1 MB of output (``ROW_BLOCK``), split over
the cores: each tap's product is added onto the block while it is in cache, and no output-sized temporary is
written (TextCNN inference peak memory 18.0 -> 12.9 MB in the bench, speed within noise).

Backward: the output gradient is placed in the same (N*Lp, sum C_out) row space with zeros on the dropped
rows; then dW_j = xp_flat[j*d:].T @ g[:, suffix] and dxp_flat[j*d:] += g[:, suffix] @ W_j.T (contiguous adds).

Used by :func:`~scratchcnn.functional.conv.conv_nd` for 1-D, stride 1, groups 1 and by
:func:`~scratchcnn.functional.conv.conv1d_windows`; :class:`~scratchcnn.functional.conv.ConvNd` handles
everything else.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..autograd import Context, Function
from ..parallel import balanced_step, map_rows, run_blocks
from ._im2col import pad_channels_last


class Conv1dShifted(Function):
    """conv1d of (N, C, L) with weights (C_out_i, C, k_i) and biases (C_out_i,) or None, given as
    ``*params = w_0, b_0, w_1, b_1, ...``; stride 1, groups 1, shared padding and dilation.
    Returns (N, sum C_out_i, L_out) with L_out that of the narrowest window, channels in the given order."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, pads: tuple[tuple[int, int]], dilation: int, flip: bool,
                *params: np.ndarray | None) -> np.ndarray:
        ws, bs = params[0::2], params[1::2]
        unbatched = x.ndim == 2
        if unbatched:
            x = x[None]
        n, c, length = x.shape
        ks = [w.shape[2] for w in ws]
        full, xp, wk, plan, dt = windows_forward(x, pads, dilation, flip, ws, bs)
        lp = xp.shape[1]
        y3 = full.reshape(n, lp, plan.width)
        lout = lp - (min(ks) - 1) * dilation
        plan.zero_tails(y3, lout, lp)
        nx = ctx.needs_input_grad[0]
        nw = any(ctx.needs_input_grad[4:])
        ctx.save_for_backward(xp if nw else None, wk if nx else None)
        ctx.geom = (x.shape, pads, dilation, flip, unbatched, lout, dt, plan)
        y = plan.to_given(y3[:, :lout]).transpose(0, 2, 1)        # (N, C_out, L_out) view, channels-last
        return y[0] if unbatched else y

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray):
        xp, wk = ctx.saved
        xshape, pads, dilation, flip, unbatched, lout, dt, plan = ctx.geom
        needs = ctx.needs_input_grad
        if unbatched:
            grad = grad[None]
        n, c, length = xshape
        lp = length + pads[0][0] + pads[0][1]
        total = n * lp
        gfull = np.zeros((n, lp, plan.width), dtype=dt)
        gfull[:, :lout] = plan.to_sorted(grad.transpose(0, 2, 1))
        plan.zero_tails(gfull, lout, lp)                          # the outputs that are constant 0
        gf = gfull.reshape(total, plan.width)
        out: list = [None, None, None, None] + [None] * (2 * len(plan.ks))
        if any(needs[4::2]):
            xf = xp.reshape(total, c)
            taps = [xf[j * dilation:].T @ gf[:total - j * dilation, plan.first[j]:] for j in range(len(plan.first))]
            for i, gw in enumerate(plan.split_taps(taps)):        # (C_out_i, C, k_i) each
                if needs[4 + 2 * i]:
                    out[4 + 2 * i] = np.ascontiguousarray(gw[:, :, ::-1] if flip else gw)
        if any(needs[5::2]):
            for i, gb in enumerate(plan.split_columns(gf.sum(axis=0))):
                if needs[5 + 2 * i]:
                    out[5 + 2 * i] = gb
        if needs[0]:
            gx = input_grad(gf, wk, plan, dilation, (n, lp, c), pads[0][0], length)
            out[0] = gx[0] if unbatched else gx
        return tuple(out)


def windows_forward(x: np.ndarray, pads: tuple[tuple[int, int]], dilation: int, flip: bool, ws, bs,
                    epilogue: Callable[[int, int, np.ndarray], None] | None = None, samples_per_block: int = 1,
                    plan: "_Plan | None" = None):
    """The tap GEMMs of several windows on a batched input x (N, C, L): returns ``(full, xp, wk, plan, dtype)``
    with ``full`` (N*Lp, sum C_out) in the plan's sorted column order (rows past a window's own length are
    garbage, straddling two samples), the padded channels-last input ``xp`` (N, Lp, C) and the per-tap weights.
    With an ``epilogue(s0, s1, y)``, ``full`` is None and each block of ``samples_per_block`` samples is handed
    to it as ``y`` (s1 - s0, Lp, sum C_out) while in cache (see :func:`_taps_into`). ``plan``: the caller's
    column layout of these windows, if it already made one."""
    dt = np.result_type(x.dtype, *(w.dtype for w in ws))
    plan = plan or _Plan([w.shape[2] for w in ws], [w.shape[0] for w in ws], dilation)
    xp = pad_channels_last(x, pads, dt)                       # (N, Lp, C), contiguous
    lp = xp.shape[1]
    xf = xp.reshape(-1, x.shape[1])
    wk = plan.tap_weights(ws, flip, dt)                       # per tap: (C, active columns)
    bias = None
    if any(b is not None for b in bs):
        bias = plan.columns([b if b is not None else np.zeros(w.shape[0], dt) for w, b in zip(ws, bs)], dt)
    if epilogue is None:
        full = np.empty((xf.shape[0], plan.width), dtype=dt)
        _taps_into(full, xf, wk, plan.first, dilation, bias)
        return full, xp, wk, plan, dt

    def samples(r0: int, r1: int, rows: np.ndarray) -> None:
        epilogue(r0 // lp, r1 // lp, rows.reshape(-1, lp, plan.width))
    per = balanced_step(x.shape[0], samples_per_block)          # equal blocks of whole samples on every core
    _taps_into(None, xf, wk, plan.first, dilation, bias, width=plan.width, block=per * lp, epilogue=samples)
    return None, xp, wk, plan, dt


def input_grad(gf: np.ndarray, wk: list[np.ndarray], plan: "_Plan", dilation: int, padded: tuple[int, int, int],
               lo: int, length: int) -> np.ndarray:
    """(N, C, L) input gradient (a view of channels-last memory) from the output gradient ``gf`` (N*Lp, width)
    in sorted column order: ``dxp_flat[j*d:] += gf[:, first[j]:] @ W_j.T`` per tap, then the padding cut off."""
    n, lp, c = padded
    total = n * lp
    dxf = np.zeros((total, c), dtype=gf.dtype)
    tmp = np.empty((total, c), dtype=gf.dtype)
    for j, w in enumerate(wk):
        rows = total - j * dilation
        t = tmp[:rows]
        np.matmul(gf[:rows, plan.first[j]:], w.T, out=t)
        dst = dxf[j * dilation:j * dilation + rows]
        map_rows(np.add, dst, dst, t)
    return dxf.reshape(n, lp, c)[:, lo:lo + length].transpose(0, 2, 1)


ROW_BLOCK = 1 << 18
"""Output elements per row block of the tap GEMMs (1 MB of float32): each tap's product is added onto the block
while it is in cache, and no full-size temporary is written."""


def _taps_into(full: np.ndarray | None, xf: np.ndarray, wk: list[np.ndarray], first: list[int], dilation: int,
               bias: np.ndarray | None = None, width: int | None = None, block: int | None = None,
               epilogue: Callable[[int, int, np.ndarray], None] | None = None) -> None:
    """``full[r] = sum_j xf[r + j*d] @ wk[j] (+ bias)`` (tap j onto columns ``first[j]:``, rows it reaches), in row
    blocks split over the cores (one BLAS thread each), each block's tap products through a small buffer of its
    part; the bias is added to each block after its taps, while it is in cache (no extra pass over the output).

    With an ``epilogue(r0, r1, rows)``, ``full`` is None: each block of ``block`` rows (``width`` columns) is
    computed into a buffer of its part and handed to the epilogue while it is in cache, and never kept."""
    total = xf.shape[0]
    width = full.shape[1] if full is not None else width
    block = block or balanced_step(total, max(1, ROW_BLOCK // width))

    def blocks(a: int, b: int) -> None:
        spare = np.empty(block * width, dtype=xf.dtype) if len(wk) > 1 else None
        own = np.empty(block * width, dtype=xf.dtype) if full is None else None
        for r0 in range(a * block, min(total, b * block), block):
            r1 = min(total, r0 + block)
            out = full[r0:r1] if full is not None else own[:(r1 - r0) * width].reshape(r1 - r0, width)
            np.matmul(xf[r0:r1], wk[0], out=out)                    # tap 0: every window
            for j in range(1, len(wk)):
                hi = min(r1, total - j * dilation)                  # rows whose tap j stays inside xf
                if hi <= r0:
                    continue
                c0 = first[j]
                tmp = spare[:(hi - r0) * (width - c0)].reshape(hi - r0, width - c0)
                np.matmul(xf[r0 + j * dilation:hi + j * dilation], wk[j], out=tmp)
                out[:hi - r0, c0:] += tmp
            if bias is not None:
                out += bias
            if epilogue is not None:
                epilogue(r0, r1, out)
    run_blocks(blocks, -(-total // block), total * width)


class _Plan:
    """Column layout of several windows: sorted narrowest first (stable), so the windows wider than tap j are a
    suffix of the columns starting at ``first[j]``; ``to_given``/``to_sorted`` map between that order and the
    caller's."""

    def __init__(self, ks: list[int], couts: list[int], dilation: int):
        self.ks, self.couts, self.dilation = ks, couts, dilation
        self.order = sorted(range(len(ks)), key=lambda i: ks[i])
        self.width = sum(couts)
        self.start = [0] * len(ks)                 # first sorted column of window i
        pos = 0
        for i in self.order:
            self.start[i] = pos
            pos += couts[i]
        self.first = [sum(couts[i] for i in range(len(ks)) if ks[i] <= j) for j in range(max(ks))]
        self.identity = self.order == sorted(self.order)
        if not self.identity:                      # sorted column of each given column
            self.perm = np.concatenate([np.arange(self.start[i], self.start[i] + couts[i]) for i in range(len(ks))])

    def tap_weights(self, ws, flip: bool, dt) -> list[np.ndarray]:
        """Per tap j: the (C, columns from first[j]) weights of the windows wider than j, side by side."""
        taps = []
        for j in range(max(self.ks)):
            act = [i for i in self.order if self.ks[i] > j]
            parts = [(ws[i][:, :, self.ks[i] - 1 - j] if flip else ws[i][:, :, j]).T for i in act]
            taps.append(np.ascontiguousarray(np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0],
                                             dtype=dt))
        return taps

    def columns(self, vectors, dt) -> np.ndarray:
        """Per-window vectors (C_out_i,) laid out in sorted column order."""
        return np.concatenate([np.asarray(vectors[i], dtype=dt) for i in self.order])

    def split_columns(self, v: np.ndarray) -> list[np.ndarray]:
        return [v[self.start[i]:self.start[i] + self.couts[i]] for i in range(len(self.ks))]

    def split_taps(self, taps: list[np.ndarray]) -> list[np.ndarray]:
        """Per-tap (C, active columns) gradients -> per-window (C_out_i, C, k_i)."""
        out = []
        for i, k in enumerate(self.ks):
            cols = [taps[j][:, self.start[i] - self.first[j]:self.start[i] - self.first[j] + self.couts[i]]
                    for j in range(k)]
            out.append(np.stack(cols, axis=2).transpose(1, 0, 2))
        return out

    def zero_tails(self, y3: np.ndarray, lout: int, lp: int) -> None:
        """Zero, in (N, Lp, width) ``y3``, the positions past each wider window's own output length."""
        for i, k in enumerate(self.ks):
            own = lp - (k - 1) * self.dilation
            if own < lout:
                y3[:, own:lout, self.start[i]:self.start[i] + self.couts[i]] = 0

    def to_given(self, a: np.ndarray) -> np.ndarray:
        return a if self.identity else np.ascontiguousarray(a[..., self.perm])

    def to_sorted(self, a: np.ndarray) -> np.ndarray:
        if self.identity:
            return a
        out = np.empty_like(a)
        out[..., self.perm] = a
        return out
