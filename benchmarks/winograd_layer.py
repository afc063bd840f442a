"""One convolution layer's forward + backward by Winograd F(4x4, 3x3) against im2col + GEMM (both the library's).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/winograd_layer.py \
        [--reps 30] [--batch 64] [--shape C_IN C_OUT SIDE]

Default: seed001's second layer (64 images, 64 -> 128 channels, 14 x 14, padding 1, channels-last input as in
the model). First checks that the two paths agree in float64 (forward and every gradient), then times them
interleaved in float32 (``functional.conv_winograd.set_enabled`` switched between calls) and prints min and median
ms of each. (The F(2x2, 3x3) experiment that came before it, sessions 3-4 of 2026-12-01, is in git history as
benchmarks/winograd_f2x3.py.)
"""
from __future__ import annotations

import argparse
import time

import scratchcnn  # noqa: F401  (first: it sets OpenBLAS' thread timeout before NumPy loads)
import numpy as np


def _grads(tensors):
    return [np.asarray(t.grad) for t in tensors]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--shape", type=int, nargs=3, default=(64, 128, 14), metavar=("C_IN", "C_OUT", "SIDE"))
    args = ap.parse_args()
    import scratchcnn.functional as F
    from scratchcnn.backend import tune_malloc
    from scratchcnn.functional import conv_winograd
    from scratchcnn.functional.conv_winograd import Conv2dWinograd
    from scratchcnn.tensor import Tensor
    tune_malloc()
    c, k, side = args.shape
    rng = np.random.default_rng(0)

    arrays = [rng.standard_normal((2, c, side + 1, side)), rng.standard_normal((k, c, 3, 3)), rng.standard_normal(k)]
    g = rng.standard_normal((2, k, side + 1, side))
    runs = []
    for winograd in (True, False):
        ts = [Tensor(a, requires_grad=True) for a in arrays]
        y = Conv2dWinograd.apply(*ts, ((1, 1), (1, 1)), False) if winograd else F.conv2d(*ts, padding=1)
        y.backward(Tensor(g))
        runs.append([y.data] + _grads(ts))
    diff = max(float(np.abs(a - b).max()) for a, b in zip(*runs))
    print(f"float64 check, Winograd vs im2col: max abs difference {diff:.1e}")

    dt = np.float32
    x = np.ascontiguousarray(rng.standard_normal((args.batch, side, side, c), dtype=dt)).transpose(0, 3, 1, 2)
    gy = Tensor(np.ascontiguousarray(rng.standard_normal((args.batch, side, side, k), dtype=dt)).transpose(0, 3, 1, 2))
    xt = Tensor(x, requires_grad=True)
    wt = Tensor((rng.standard_normal((k, c, 3, 3)) / np.sqrt(9 * c)).astype(dt), requires_grad=True)
    bt = Tensor(rng.standard_normal(k, dtype=dt), requires_grad=True)
    times = {flag: ([], []) for flag in (True, False)}
    old = conv_winograd.is_enabled()
    try:
        for _ in range(args.reps):
            for flag in times:
                conv_winograd.set_enabled(flag)
                xt.grad = wt.grad = bt.grad = None
                t0 = time.perf_counter()
                y = F.conv2d(xt, wt, bt, padding=1)
                t1 = time.perf_counter()
                y.backward(gy)
                times[flag][0].append(t1 - t0)
                times[flag][1].append(time.perf_counter() - t1)
    finally:
        conv_winograd.set_enabled(old)
    print(f"conv2d {args.batch}x{c}x{side}x{side} -> {k} channels, ms, {args.reps} interleaved repetitions:")
    for flag, (fw, bw) in times.items():
        fw, bw = np.array(fw) * 1e3, np.array(bw) * 1e3
        name = "winograd F(4x4,3x3)" if flag else "im2col + GEMM"
        print(f"  {name:20s} forward min {fw.min():6.2f} median {np.median(fw):6.2f}   backward min {bw.min():6.2f} "
              f"median {np.median(bw):6.2f}   total median {np.median(fw + bw):6.2f}")


if __name__ == "__main__":
    main()
