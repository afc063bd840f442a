"""Stride-1 1-D convolution without im2col: one GEMM per kernel tap over the whole batch as one long sequence.

For channels-last, padded input ``xp`` (N, Lp, C) flattened to (N*Lp, C), output row ``r = n*Lp + t`` of
``out = sum_j xp_flat[r + j*d] @ W_j`` (W_j = weight[:, :, j].T, (C, C_out)) is output position t of sample
n whenever t < L_out: its taps never leave sample n. The other (k-1)*d rows per sample straddle two samples;
they are computed and dropped (4% extra work for TextCNN's 96-token sentences and a width-5 window). Every tap
is a *contiguous* row block of ``xp_flat``, so no (N*L_out, k*C) im2col matrix is written or kept: forward and
backward are k GEMMs each, on the padded input itself (saved instead of the columns: k times less memory).

Backward: the output gradient is placed in the same (N*Lp, C_out) row space with zeros on the dropped rows;
then dW_j = xp_flat[j*d : j*d+R].T @ g and dxp_flat[j*d : j*d+R] += g @ W_j.T (contiguous adds).

Used by :func:`~scratchcnn.functional.conv.conv_nd` for 1-D, stride 1, groups 1 (TextCNN's convolutions);
:class:`~scratchcnn.functional.conv.ConvNd` handles everything else.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Context, Function
from ..parallel import map_rows
from ._im2col import pad_channels_last


class Conv1dShifted(Function):
    """conv1d (N, C, L) * (C_out, C, k) -> (N, C_out, L_out) for stride 1, groups 1; dilation and padding any."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, pads: tuple[tuple[int, int]],
                dilation: int, flip: bool) -> np.ndarray:
        unbatched = x.ndim == 2
        if unbatched:
            x = x[None]
        dt = np.result_type(x.dtype, w.dtype)
        n, c, length = x.shape
        cout, k = w.shape[0], w.shape[2]
        if flip:
            w = w[:, :, ::-1]
        xp = pad_channels_last(x, pads, dt)                       # (N, Lp, C), contiguous
        lp = xp.shape[1]
        lout = lp - (k - 1) * dilation
        rows = n * lp - (k - 1) * dilation                          # rows whose taps stay inside the buffer
        xf = xp.reshape(n * lp, c)
        wk = np.ascontiguousarray(w.transpose(2, 1, 0), dtype=dt)   # (k, C, C_out)
        full = np.empty((n * lp, cout), dtype=dt)
        out = full[:rows]
        np.matmul(xf[:rows], wk[0], out=out)
        tmp = np.empty_like(out) if k > 1 else None
        for j in range(1, k):
            np.matmul(xf[j * dilation:j * dilation + rows], wk[j], out=tmp)
            map_rows(np.add, out, out, tmp)                         # on all cores
        if b is not None:
            out += b.astype(dt, copy=False)
        nx, nw = ctx.needs_input_grad[:2]
        ctx.save_for_backward(xp if nw else None, wk if nx else None)
        ctx.geom = (x.shape, pads, dilation, flip, unbatched, lout, dt)
        y = full.reshape(n, lp, cout)[:, :lout].transpose(0, 2, 1)  # (N, C_out, L_out) view, channels-last
        return y[0] if unbatched else y

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray):
        xp, wk = ctx.saved
        xshape, pads, dilation, flip, unbatched, lout, dt = ctx.geom
        nx, nw, nb = ctx.needs_input_grad[:3]
        if unbatched:
            grad = grad[None]
        n, c, length = xshape
        cout = grad.shape[1]
        lp = length + pads[0][0] + pads[0][1]
        k = (lp - lout) // dilation + 1
        rows = n * lp - (k - 1) * dilation
        gfull = np.zeros((n, lp, cout), dtype=dt)
        gfull[:, :lout] = grad.transpose(0, 2, 1)
        gf = gfull.reshape(n * lp, cout)[:rows]
        gx = gw = gb = None
        if nw:
            xf = xp.reshape(n * lp, c)
            gwk = np.empty((k, c, cout), dtype=dt)
            for j in range(k):
                np.matmul(xf[j * dilation:j * dilation + rows].T, gf, out=gwk[j])
            gw = gwk.transpose(2, 1, 0)                             # (C_out, C, k)
            if flip:
                gw = gw[:, :, ::-1]
            gw = np.ascontiguousarray(gw)
        if nb:
            gb = gf.sum(axis=0)
        if nx:
            dxf = np.zeros((n * lp, c), dtype=dt)
            tmp = np.empty((rows, c), dtype=dt)
            for j in range(k):
                np.matmul(gf, wk[j].T, out=tmp)
                dst = dxf[j * dilation:j * dilation + rows]
                map_rows(np.add, dst, dst, tmp)
            lo = pads[0][0]
            gx = dxf.reshape(n, lp, c)[:, lo:lo + length].transpose(0, 2, 1)
            if unbatched:
                gx = gx[0]
        return gx, gw, gb, None, None, None
