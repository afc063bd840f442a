"""Per-call time of small ops (batch 1, one thread): what a layer costs beyond its arithmetic (Python and NumPy
call overhead), scratchcnn next to PyTorch when it is installed.

    .venv/bin/python benchmarks/op_overhead.py [--reps 1500]

Prints microseconds per call (best of 5 runs of ``--reps`` calls) for seed000's second convolution (16->32, 3x3,
padding 1, on 14x14), its first (1->16 on 28x28), ReLU, 2x2 max pooling and a 1568->128 linear layer.
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def _best(fn, reps: int) -> float:
    for _ in range(min(50, reps)):
        fn()
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps * 1e6)
    return best


def _cases(lib: str, x, x1, w, w1, b, a, lw, lb):
    """name -> zero-argument call, for ``lib`` = "scratchcnn" or "torch" (same arrays)."""
    if lib == "scratchcnn":
        import scratchcnn as sc
        import scratchcnn.functional as F
        T = lambda v, g=False: sc.Tensor(v, requires_grad=g)   # noqa: E731
        conv, relu, pool, linear = F.conv2d, F.relu, F.max_pool2d, F.linear
        ones = lambda y: np.ones(y.shape, np.float32)        # noqa: E731
    else:
        import torch
        import torch.nn.functional as F
        T = lambda v, g=False: torch.tensor(v, requires_grad=g)   # noqa: E731
        conv, relu, pool, linear = F.conv2d, F.relu, F.max_pool2d, F.linear
        ones = lambda y: torch.ones_like(y)                  # noqa: E731
    X, X1, W, W1, B = T(x, True), T(x1), T(w, True), T(w1, True), T(b, True)
    A, LW, LB = T(a), T(lw, True), T(lb, True)
    Y = conv(X, W, B, padding=1)

    def conv_fb():
        y = conv(X, W, B, padding=1)
        y.backward(ones(y))

    def block_fb():
        z = pool(relu(conv(X, W, B, padding=1)), 2)
        z.backward(ones(z))
    return {"conv2d 16->32 forward": lambda: conv(X, W, B, padding=1),
            "conv2d 1->16 forward": lambda: conv(X1, W1, None, padding=1),
            "conv2d 16->32 fwd + bwd": conv_fb,
            "relu forward": lambda: relu(Y),
            "max_pool2d forward": lambda: pool(Y, 2),
            "conv + relu + pool fwd + bwd": block_fb,
            "linear forward": lambda: linear(A, LW, LB)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1500)
    args = ap.parse_args()
    import scratchcnn  # noqa: F401  (first: it sets OpenBLAS' thread timeout before NumPy loads)
    from scratchcnn.bench.measure import limit_threads
    rng = np.random.default_rng(0)
    arrays = (rng.random((1, 16, 14, 14), dtype=np.float32), rng.random((1, 1, 28, 28), dtype=np.float32),
              rng.random((32, 16, 3, 3), dtype=np.float32), rng.random((16, 1, 3, 3), dtype=np.float32),
              rng.random(32, dtype=np.float32), rng.random((1, 1568), dtype=np.float32),
              rng.random((128, 1568), dtype=np.float32), np.zeros(128, np.float32))
    libs = ["scratchcnn"]
    try:
        import torch  # noqa: F401  (loaded before the thread limit is applied to it)
        libs.append("torch")
    except ImportError:
        pass
    limit_threads(1)    # one thread everywhere: scratchcnn's loops, NumPy's BLAS, PyTorch
    results = {lib: {k: _best(f, args.reps) for k, f in _cases(lib, *arrays).items()} for lib in libs}
    print(f"{'op (batch 1, 1 thread)':<30}" + "".join(f"{lib + ' us':>14}" for lib in libs))
    for name in results["scratchcnn"]:
        print(f"{name:<30}" + "".join(f"{results[lib][name]:14.1f}" for lib in libs))


if __name__ == "__main__":
    main()
