"""Batch norm in training mode on seed001's two shapes, scratchcnn's op against PyTorch's, interleaved.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/batchnorm_vs_torch.py [--reps 60]

The input is a channels-last (N, C, H, W) view, as seed001's pooling hands it over. First both libraries'
outputs and gradients are compared in float64 (printed as max abs differences), then forward and backward are
timed separately in float32 (median and min in ms over ``--reps`` interleaved calls, 2 threads).
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def _case(n: int, c: int, h: int, dtype, rng):
    x = np.ascontiguousarray(rng.standard_normal((n, h, h, c)).astype(dtype)).transpose(0, 3, 1, 2)
    g = np.ascontiguousarray(rng.standard_normal((n, h, h, c)).astype(dtype)).transpose(0, 3, 1, 2)
    return x, g, rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)


def _ours(x, g, w, b):
    from scratchcnn.autograd import Context
    from scratchcnn.functional.norm import BatchNormTrain
    ctx = Context((True, True, True, False, False))
    y = BatchNormTrain.forward(ctx, x, w, b, 1e-5, None)
    t1 = time.perf_counter()
    grads = BatchNormTrain.backward(ctx, g)[:3]
    return t1, (y,) + tuple(grads)


def _theirs(torch, x, g, w, b):
    xt = torch.from_numpy(x).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    bt = torch.from_numpy(b).requires_grad_()
    y = torch.nn.functional.batch_norm(xt, None, None, wt, bt, True)
    t1 = time.perf_counter()
    y.backward(torch.from_numpy(g))
    return t1, tuple(a.detach().numpy() for a in (y, xt.grad, wt.grad, bt.grad))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    from scratchcnn.backend import tune_malloc
    tune_malloc()
    import torch
    from scratchcnn.bench.measure import limit_threads
    limit_threads(2)
    rng = np.random.default_rng(0)
    for c, h in ((64, 14), (128, 7)):
        case = _case(args.batch, c, h, np.float64, rng)
        ours, theirs = _ours(*case)[1], _theirs(torch, *case)[1]
        diff = max(float(np.abs(a - b).max()) for a, b in zip(ours, theirs))
        print(f"bn ({args.batch}, {c}, {h}, {h}) float64: max abs difference {diff:.3e}")
        case = _case(args.batch, c, h, np.float32, rng)
        times = {"scratchcnn": [], "torch": []}
        for _ in range(args.reps):
            for name, fn in (("scratchcnn", lambda: _ours(*case)), ("torch", lambda: _theirs(torch, *case))):
                t0 = time.perf_counter()
                t1 = fn()[0]
                times[name].append((t1 - t0, time.perf_counter() - t1))
        for name, v in times.items():
            v = np.array(v) * 1e3
            print(f"  {name:10s} forward {np.median(v[:, 0]):6.2f} (min {v[:, 0].min():5.2f}) ms   "
                  f"backward {np.median(v[:, 1]):6.2f} (min {v[:, 1].min():5.2f}) ms")


if __name__ == "__main__":
    main()
