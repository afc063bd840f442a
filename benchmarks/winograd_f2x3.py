"""Tried and not kept: seed001's 64->128 convolution by Winograd's F(2x2, 3x3) against the im2col path.

    .venv/bin/python benchmarks/winograd_f2x3.py [--reps 25] [--batch 64]

An experiment, not library code (docs/performance.md, "Tried and not kept"). ``Conv2dWinograd`` below is a
complete Function (any padding, odd sizes, both conv modes, float32/64): the 4x4 input patches are gathered and
transformed by one small GEMM (kron(B^T, B^T)), the 16 tile-position GEMMs do 2.25x fewer multiplies than
im2col's one GEMM, the output transform is one more small GEMM; backward runs the transposes, with the 16
weight-gradient GEMMs split over the cores (one BLAS thread each). It is first checked against the library's
conv2d in float64 (forward and every gradient), then conv forward + backward of both are timed interleaved on
seed001's second layer (64 images, 64 -> 128 channels, 14 x 14, channels-last input as in the model).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from scratchcnn.autograd import Context, Function
from scratchcnn.parallel import MIN_PARALLEL_ELEMENTS, map_rows, parallel_for

_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)
_BB, _GG, _AA = np.kron(_BT, _BT), np.kron(_G, _G), np.kron(_AT, _AT)   # (16, 16), (16, 9), (4, 16)


def _blas_parts(fn, n: int) -> None:
    """fn(lo, hi) over parts of range(n), one part per thread with single-threaded BLAS."""
    with threadpool_limits(1, "blas"):
        parallel_for(fn, n, work=MIN_PARALLEL_ELEMENTS)


def _copy(src: np.ndarray, out: np.ndarray) -> None:
    np.copyto(out, src)


class Conv2dWinograd(Function):
    """Conv2d with a 3x3 kernel, stride 1, dilation 1, one group, any padding; input (N, C, H, W) or (C, H, W),
    weight (K, C, 3, 3), bias (K,) or None -> (N, K, H_out, W_out) as a view of channels-last memory."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                pads: tuple[tuple[int, int], tuple[int, int]], flip: bool) -> np.ndarray:
        unbatched = x.ndim == 3
        if unbatched:
            x = x[None]
        dt = np.result_type(x.dtype, w.dtype)
        n, c, h, wd = x.shape
        k = w.shape[0]
        if flip:
            w = w[:, :, ::-1, ::-1]
        oh, ow = h + sum(pads[0]) - 2, wd + sum(pads[1]) - 2
        th, tw = (oh + 1) // 2, (ow + 1) // 2                     # tiles per column / row
        t = n * th * tw

        xp = np.zeros((n, 2 * th + 2, 2 * tw + 2, c), dtype=dt)   # padded (and rounded up to whole tiles)
        (top, _), (left, _) = pads
        rows, cols = slice(top, top + h), slice(left, left + wd)
        map_rows(_copy, xp[:, rows, cols], x.transpose(0, 2, 3, 1))
        s = xp.strides
        patches = np.lib.stride_tricks.as_strided(xp, (4, 4, n, th, tw, c), (s[1], s[2], s[0], 2 * s[1], 2 * s[2], s[3]))
        d = np.empty((16, t * c), dtype=dt)
        d.reshape(4, 4, n, th, tw, c)[...] = patches
        del xp
        v = (_BB.astype(dt) @ d).reshape(16, t, c)                                         # input transform
        del d
        u = (_GG.astype(dt) @ w.transpose(2, 3, 1, 0).reshape(9, c * k)).reshape(16, c, k)   # weight transform
        m = np.matmul(v, u)                                                                 # (16, T, K)
        y = (_AA.astype(dt) @ m.reshape(16, t * k)).reshape(2, 2, n, th, tw, k)            # output transform
        del m
        out = np.empty((n, th, 2, tw, 2, k), dtype=dt)
        tiles = y.transpose(2, 3, 0, 4, 1, 5)
        if b is None:
            map_rows(_copy, out, tiles)
        else:
            map_rows(np.add, out, tiles, b.astype(dt, copy=False))
        out = out.reshape(n, 2 * th, 2 * tw, k)
        if (oh, ow) != (2 * th, 2 * tw):
            out = np.ascontiguousarray(out[:, :oh, :ow])

        nx, nw, _ = ctx.needs_input_grad[:3]
        ctx.save_for_backward(v if nw else None, u if nx else None)
        ctx.geom = (x.shape, pads, (oh, ow), flip, unbatched, dt)
        y = out.transpose(0, 3, 1, 2)
        return y[0] if unbatched else y

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray):
        v, u = ctx.saved
        (n, c, h, wd), pads, (oh, ow), flip, unbatched, dt = ctx.geom
        nx, nw, nb = ctx.needs_input_grad[:3]
        if unbatched:
            grad = grad[None]
        k = grad.shape[1]
        th, tw = (oh + 1) // 2, (ow + 1) // 2
        t = n * th * tw
        gl = grad.transpose(0, 2, 3, 1)                                  # (N, OH, OW, K): free when channels-last
        if (oh, ow) != (2 * th, 2 * tw):
            full = np.zeros((n, 2 * th, 2 * tw, k), dtype=dt)
            full[:, :oh, :ow] = gl
            gl = full
        gd = np.empty((2, 2, n, th, tw, k), dtype=dt)                    # the 2x2 output tiles, tile-major
        map_rows(_copy, gd.transpose(2, 0, 1, 3, 4, 5), gl.reshape(n, th, 2, tw, 2, k).transpose(0, 2, 4, 1, 3, 5))
        gt = (_AA.T.astype(dt) @ gd.reshape(4, t * k)).reshape(16, t, k)

        gx = gw = gb = None
        if nb:
            gb = gd.reshape(4 * t, k).sum(axis=0)
        del gd
        if nw:
            du = np.empty((16, c, k), dtype=dt)

            def weight_part(lo: int, hi: int) -> None:   # 16 GEMMs with a long inner dimension, split over cores
                np.matmul(v[lo:hi].transpose(0, 2, 1), gt[lo:hi], out=du[lo:hi])
            _blas_parts(weight_part, 16)
            gw = (_GG.T.astype(dt) @ du.reshape(16, c * k)).reshape(3, 3, c, k).transpose(3, 2, 0, 1)
            if flip:
                gw = gw[:, :, ::-1, ::-1]
            gw = np.ascontiguousarray(gw)
        if nx:
            dv = np.matmul(gt, u.transpose(0, 2, 1))                              # (16, T, C)
            dd = (_BB.T.astype(dt) @ dv.reshape(16, t * c)).reshape(4, 4, n, th, tw, c)
            del dv
            dxp = np.zeros((n, 2 * th + 2, 2 * tw + 2, c), dtype=dt)
            for a in range(4):              # patches overlap by 2: add each of the 16 patch positions back
                for e in range(4):
                    slab = dxp[:, a:a + 2 * th:2, e:e + 2 * tw:2]
                    map_rows(np.add, slab, slab, dd[a, e])
            (top, _), (left, _) = pads
            gx = dxp[:, top:top + h, left:left + wd].transpose(0, 3, 1, 2)       # (N, C, H, W) view
            if unbatched:
                gx = gx[0]
        return gx, gw, gb, None, None


def _arr(t) -> np.ndarray:
    return t if isinstance(t, np.ndarray) else t.data


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=25)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    import scratchcnn.functional as F
    from scratchcnn.backend import tune_malloc
    from scratchcnn.tensor import Tensor
    tune_malloc()
    rng = np.random.default_rng(0)
    for shape, pad, mode in [((2, 32, 7, 9), 1, "correlation"), ((3, 33, 6, 6), 0, "convolution"), ((1, 32, 5, 8), (2, 0), "correlation")]:
        x, w, b = rng.standard_normal(shape), rng.standard_normal((40, shape[1], 3, 3)), rng.standard_normal(40)
        pads = tuple((p, p) for p in ((pad, pad) if isinstance(pad, int) else pad))
        ts = [[Tensor(a, requires_grad=True) for a in (x, w, b)] for _ in range(2)]
        y0 = F.conv2d(*ts[0], padding=pad, mode=mode)
        y1 = Conv2dWinograd.apply(*ts[1], pads, mode == "convolution")
        g = rng.standard_normal(y0.shape)
        y0.backward(Tensor(g))
        y1.backward(Tensor(g))
        err = max(np.abs(y0.data - y1.data).max(), *(np.abs(_arr(a.grad) - _arr(c.grad)).max() for a, c in zip(*ts)))
        print(f"float64 check {shape} pad {pad} {mode}: max abs difference {err:.1e}")
        assert err < 1e-10
    n, c, k, h = args.batch, 64, 128, 14
    dt = np.float32
    x = np.ascontiguousarray(rng.standard_normal((n, h, h, c), dtype=dt)).transpose(0, 3, 1, 2)
    g = np.ascontiguousarray(rng.standard_normal((n, h, h, k), dtype=dt)).transpose(0, 3, 1, 2)
    xt = Tensor(x, requires_grad=True)
    wt = Tensor(rng.standard_normal((k, c, 3, 3), dtype=dt), requires_grad=True)
    bt = Tensor(rng.standard_normal(k, dtype=dt), requires_grad=True)
    runs = {"im2col (library)": lambda: F.conv2d(xt, wt, bt, padding=1),
            "winograd F(2x2,3x3)": lambda: Conv2dWinograd.apply(xt, wt, bt, ((1, 1), (1, 1)), False)}
    times: dict = {name: ([], []) for name in runs}
    for _ in range(args.reps):
        for name, f in runs.items():
            xt.grad = wt.grad = bt.grad = None
            t0 = time.perf_counter()
            y = f()
            t1 = time.perf_counter()
            y.backward(Tensor(g))
            t2 = time.perf_counter()
            times[name][0].append(t1 - t0)
            times[name][1].append(t2 - t1)
    print(f"seed001 conv2 ({n}x{c}x{h}x{h} -> {k}), ms, {args.reps} interleaved repetitions:")
    for name, (fw, bw) in times.items():
        fw, bw = np.array(fw) * 1e3, np.array(bw) * 1e3
        print(f"  {name:20s} forward min {fw.min():6.2f} median {np.median(fw):6.2f}   backward min {bw.min():6.2f} "
              f"median {np.median(bw):6.2f}   total median {np.median(fw + bw):6.2f}")


if __name__ == "__main__":
    main()
