"""Three ways to compute the input gradient of seed001's 64->128 3x3 convolution (padding 1, 14x14 maps).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/conv_input_grad_layouts.py [--reps 25]

* ``current``: what ``functional/conv.py`` does: per kernel offset one GEMM (M, C_out) @ (C_out, C_in) into a
  reused buffer, added onto a strided slab of the padded input gradient (adds on both cores);
* ``one-gemm``: one GEMM against all nine offsets' weights, (M, C_out) @ (C_out, 9 C_in), then the nine adds per
  block of images on both cores;
* ``blocked-B``: each core takes blocks of B images, runs that block's GEMM with one BLAS thread and its nine
  adds while both sit in L2.

First every variant is checked in float64 against the input gradient of ``scratchcnn.functional.conv2d`` (max
abs differences printed), then the three are timed interleaved in float32 (median and min in ms over ``--reps``).
"""
from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np

OFFSETS = [(i, j) for i in range(3) for j in range(3)]


def variants(g2: np.ndarray, w: np.ndarray, n: int, h: int) -> dict[str, Callable[[], np.ndarray]]:
    """Input-gradient functions for an output gradient ``g2`` (N*H*W, C_out), channels-last, and a weight ``w``
    (C_out, C_in, 3, 3); each returns the padded input gradient (N, H+2, W+2, C_in)."""
    from threadpoolctl import threadpool_limits

    from scratchcnn.functional._im2col import offset_slices
    from scratchcnn.parallel import map_rows, parallel_for
    cout, cin = w.shape[:2]
    wt = np.ascontiguousarray(w.transpose(2, 3, 0, 1).reshape(9, cout, cin))     # per offset (C_out, C_in)
    wcat = np.ascontiguousarray(wt.transpose(1, 0, 2).reshape(cout, 9 * cin))
    m, dt = g2.shape[0], g2.dtype

    def current() -> np.ndarray:
        dxp = np.zeros((n, h + 2, h + 2, cin), dtype=dt)
        buf = np.empty((m, cin), dtype=dt)
        src = buf.reshape(n, h, h, cin)
        for i, k in enumerate(OFFSETS):
            np.matmul(g2, wt[i], out=buf)
            slab = dxp[(slice(None),) + offset_slices(k, (h, h), (1, 1), (1, 1))]
            map_rows(np.add, slab, slab, src)
        return dxp

    def add_offsets(dxp: np.ndarray, p: np.ndarray) -> None:
        for i, (a, b) in enumerate(OFFSETS):
            dxp[:, a:a + h, b:b + h] += p[:, :, :, i]

    def one_gemm() -> np.ndarray:
        p = (g2 @ wcat).reshape(n, h, h, 9, cin)
        dxp = np.zeros((n, h + 2, h + 2, cin), dtype=dt)
        parallel_for(lambda lo, hi: add_offsets(dxp[lo:hi], p[lo:hi]), n, dxp.size)
        return dxp

    def blocked(size: int) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            dxp = np.zeros((n, h + 2, h + 2, cin), dtype=dt)
            g4 = g2.reshape(n, h * h, cout)

            def part(lo: int, hi: int) -> None:
                for a in range(lo, hi, size):
                    b = min(hi, a + size)
                    p = (g4[a:b].reshape(-1, cout) @ wcat).reshape(b - a, h, h, 9, cin)
                    add_offsets(dxp[a:b], p)
            with threadpool_limits(1):
                parallel_for(part, n, 1 << 30)
            return dxp
        return run

    return {"current": current, "one-gemm": one_gemm, "blocked-2": blocked(2), "blocked-8": blocked(8)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=25)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    import scratchcnn as sc
    from scratchcnn import functional as F
    from scratchcnn.backend import tune_malloc
    from scratchcnn.bench.measure import limit_threads
    tune_malloc()
    limit_threads(2)
    n, h, cin, cout = args.batch, 14, 64, 128
    rng = np.random.default_rng(0)
    x = sc.Tensor(rng.standard_normal((n, cin, h, h)), requires_grad=True)
    w = rng.standard_normal((cout, cin, 3, 3)) * 0.05
    g = rng.standard_normal((n, cout, h, h))
    (F.conv2d(x, sc.Tensor(w), padding=1) * sc.Tensor(g)).sum().backward()
    g2 = np.ascontiguousarray(g.transpose(0, 2, 3, 1)).reshape(-1, cout)
    for name, fn in variants(g2, w, n, h).items():
        gx = fn()[:, 1:-1, 1:-1].transpose(0, 3, 1, 2)
        print(f"{name:10s} float64: max abs difference {float(np.abs(gx - x.grad).max()):.3e}")
    fns = variants(g2.astype(np.float32), w.astype(np.float32), n, h)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(args.reps):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    for name, v in times.items():
        print(f"  {name:10s} median {np.median(v) * 1e3:7.2f} ms   min {min(v) * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
