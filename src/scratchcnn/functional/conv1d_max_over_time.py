"""TextCNN's convolution windows and max-over-time pooling as one op, whose weight gradient uses the sparsity of
the pooling's gradient.

``conv1d_windows_max(x, weights, biases, valid)`` is, per window i, ``conv1d(x, w_i, b_i)`` maxed over its first
``valid[n, i]`` positions: (N, sum C_out_i), channels in the given order. The forward is
:mod:`~scratchcnn.functional.conv1d_shifted`'s tap GEMMs, then the max of each channel over the positions it may
use (the others are set to -inf in the op's own buffer).

Backward: max over time sends each (sample, channel) gradient to the one position where the maximum sits (shared
equally between tied positions, as ``Tensor.max`` / PyTorch's ``amax`` do): 1 of L positions. The weight gradient
``sum_t x_window(n, t) g(n, t, o)`` therefore needs only each channel's N windows at its maximum: they are
gathered, (C_out, N, k * C) in blocks of channels, and reduced by one batched product with the gradients (~4x
faster than the dense per-tap GEMMs for TextCNN's 96-token sentences; ties add their extra windows). The input
gradient stays the dense tap GEMMs of ``conv1d_shifted`` on the (sparse) gradient placed in the output's row space.

Values and gradients equal ``conv1d_windows`` followed by a masked max over time (tests: against that and
PyTorch, incl. ties from repeated tokens and padded sentences). An inf or NaN maximum gives NaN gradients.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Context, Function
from .conv1d_shifted import ROW_BLOCK, _Plan, input_grad, windows_forward

GATHER_BLOCK = 1 << 20
"""Values of gathered windows per block of channels in the weight gradient (4 MB of float32)."""


class Conv1dWindowsMax(Function):
    """forward(x (N, C, L), valid (N, G) int, pads, dilation, flip, w_0, b_0, w_1, b_1, ...) -> (N, sum C_out_i);
    see the module doc. ``valid`` is clipped to [1, own length of window i]."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, valid: np.ndarray, pads: tuple[tuple[int, int]], dilation: int,
                flip: bool, *params: np.ndarray | None) -> np.ndarray:
        ws, bs = params[0::2], params[1::2]
        n, c, length = x.shape
        lp = length + pads[0][0] + pads[0][1]
        plan = _Plan([w.shape[2] for w in ws], [w.shape[0] for w in ws], dilation)
        width = plan.width
        blocks = [(plan.start[i], plan.start[i] + cout, np.clip(valid[:, i], 1, lp - (k - 1) * dilation))
                  for i, (k, cout) in enumerate(zip(plan.ks, plan.couts))]     # sorted columns, valid positions
        track = any(ctx.needs_input_grad[5:]) or ctx.needs_input_grad[0]
        dt = np.result_type(x.dtype, *(w.dtype for w in ws))
        best = np.empty((n, width), dtype=dt)
        first = np.empty((n, width), dtype=np.int64) if track else None
        ties: dict[int, tuple] = {}
        positions = np.arange(lp)

        def pool(s0: int, s1: int, y: np.ndarray) -> None:        # y (s1 - s0, Lp, width): a block in cache
            for lo, hi, v in blocks:            # each window over its own positions (< valid) only
                y[:, :, lo:hi][positions[None, :] >= v[s0:s1, None]] = -np.inf
            b = y.max(axis=1, out=best[s0:s1])
            if track and np.isfinite(b).all():
                at_max = y == b[:, None, :]
                first[s0:s1] = at_max.argmax(axis=1)
                if np.count_nonzero(at_max) != at_max.shape[0] * width:          # tied maxima
                    at_max[np.arange(s1 - s0)[:, None], first[s0:s1], np.arange(width)[None, :]] = False
                    extra = np.nonzero(at_max)
                    ties[s0] = (at_max.sum(axis=1) + 1, extra[0] + s0, extra[1], extra[2])

        per = max(1, ROW_BLOCK // (lp * width))                        # whole samples per block
        _, xp, wk, _, _ = windows_forward(x, pads, dilation, flip, ws, bs, pool, per, plan)
        ctx.nonfinite = False
        ctx.shapes = [x.shape, None, None, None, None] + [None if p is None else p.shape for p in params]
        if track:
            count = extra = None
            if not np.isfinite(best).all():
                ctx.nonfinite = True                                   # backward: NaN gradients
            elif ties:                           # per block, in block order (the same sums every run)
                count = np.ones((n, width), dtype=np.int64)
                parts = [ties[s0] for s0 in sorted(ties)]
                for s0, (cnt, *_) in zip(sorted(ties), parts):
                    count[s0:s0 + cnt.shape[0]] = cnt
                extra = tuple(np.concatenate([p[k] for p in parts]) for k in (1, 2, 3))
            nw = any(ctx.needs_input_grad[5:])
            ctx.save_for_backward(xp if nw else None, wk if ctx.needs_input_grad[0] else None, first, count)
            ctx.extra = extra
        ctx.geom = (x.shape, pads, dilation, flip, dt, plan)
        return plan.to_given(best)

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray):
        xp, wk, first, count = ctx.saved
        extra = ctx.extra
        (n, c, length), pads, dilation, flip, dt, plan = ctx.geom
        needs = ctx.needs_input_grad
        lp = length + pads[0][0] + pads[0][1]
        if ctx.nonfinite:              # an inf or NaN maximum: no position to send the gradient to
            return tuple(np.full(shape, np.nan, dtype=dt) if needs[i] and shape is not None else None
                         for i, shape in enumerate(ctx.shapes))
        g = np.ascontiguousarray(plan.to_sorted(grad), dtype=dt)       # (N, width)
        share = g if count is None else g / count                     # each tied position's share
        out: list = [None] * 5 + [None] * (2 * len(plan.ks))
        rows = np.arange(n)[:, None] * lp + first                      # (N, width): row of each maximum
        if any(needs[5::2]):
            xf = xp.reshape(n * lp, c)
            for i, k in enumerate(plan.ks):
                if needs[5 + 2 * i]:
                    gw = _window_weight_grad(xf, share, rows, extra, plan.start[i], plan.couts[i], k, dilation, lp)
                    out[5 + 2 * i] = np.ascontiguousarray(gw[:, :, ::-1] if flip else gw)
        if any(needs[6::2]):
            gb = g.sum(axis=0)                     # every (sample, channel) gradient reaches one output in full
            for i, part in enumerate(plan.split_columns(gb)):
                if needs[6 + 2 * i]:
                    out[6 + 2 * i] = part
        if needs[0]:
            gf = np.zeros((n * lp, plan.width), dtype=dt)              # the gradient in the output's row space
            cols = np.arange(plan.width)
            gf[rows, cols[None, :]] = share
            if extra is not None:
                gf[extra[0] * lp + extra[1], extra[2]] = share[extra[0], extra[2]]
            out[0] = input_grad(gf, wk, plan, dilation, (n, lp, c), pads[0][0], length)
        return tuple(out)


def _window_weight_grad(xf: np.ndarray, share: np.ndarray, rows: np.ndarray, extra, start: int, cout: int, k: int,
                        dilation: int, lp: int) -> np.ndarray:
    """(C_out_i, C, k) weight gradient of the window whose sorted columns are ``start:start + cout``: per channel,
    the N input windows at its maximum (rows ``rows`` of ``xf`` and the k - 1 after them, ``dilation`` apart) times
    the channels' gradient shares, in blocks of channels; tied positions after the first add theirs."""
    n, c = share.shape[0], xf.shape[1]
    taps = np.arange(k) * dilation
    gw = np.empty((cout, k, c), dtype=xf.dtype)
    step = max(1, GATHER_BLOCK // (n * k * c))
    for o0 in range(start, start + cout, step):
        o1 = min(start + cout, o0 + step)
        idx = rows[:, o0:o1].T[:, :, None] + taps                      # (block, N, k)
        windows = xf[idx].reshape(o1 - o0, n, k * c)
        np.matmul(share[:, o0:o1].T[:, None, :], windows, out=gw[o0 - start:o1 - start].reshape(o1 - o0, 1, k * c))
    if extra is not None:
        mine = (extra[2] >= start) & (extra[2] < start + cout)
        ns, ts, os = extra[0][mine], extra[1][mine], extra[2][mine]
        if ns.size:
            windows = xf[(ns * lp + ts)[:, None] + taps]               # (E, k, C)
            np.add.at(gw, os - start, share[ns, os][:, None, None] * windows)
    return gw.transpose(0, 2, 1)


__all__ = ["Conv1dWindowsMax", "GATHER_BLOCK"]
