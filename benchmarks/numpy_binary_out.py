"""Why scratchcnn's elementwise passes write into one of their inputs: NumPy's two-array loops into a THIRD array.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/numpy_binary_out.py [--reps 2000]

For float32 arrays of several sizes (cache-resident to memory-bound), prints ns per element of
``np.add(a, b, out=c)`` (three distinct arrays), ``np.add(a, b, out=a)`` (in place), a copy followed by the in-place
op (what Adam and batch norm do now), ``np.multiply(a, s, out=c)`` (array times scalar into a third array) and the
mask multiply of ReLU's backward in both forms (``g * (y > 0)`` into a third array vs the 0/1 mask written into
the output, then multiplied in place). Each pair is checked to give identical values. One thread.
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def per_element_ns(fn, n: int, reps: int) -> float:
    """Median over 5 blocks of ``reps`` calls, in ns per element."""
    fn()
    blocks = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        blocks.append((time.perf_counter() - t0) / reps / n * 1e9)
    return float(np.median(blocks))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2000, help="calls per timed block at the smallest size")
    ap.add_argument("--sizes", default="16384,131072,1048576")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"numpy {np.__version__}; ns per element (median of 5 blocks)")
    print(f"{'elements':>9} {'c=a+b':>7} {'a+=b':>7} {'copy,+=':>8} {'c=a*s':>7} {'relu c=g*m':>11} {'relu m,*=':>10}")
    smallest = min(int(s) for s in args.sizes.split(","))
    for n in (int(s) for s in args.sizes.split(",")):
        reps = max(3, args.reps * smallest // n)
        a = rng.standard_normal(n).astype(np.float32)
        b = rng.standard_normal(n).astype(np.float32)
        c = np.empty_like(a)
        w = a.copy()
        y = np.maximum(a, 0)

        def copy_then_add() -> None:
            np.copyto(c, a)
            np.add(c, b, out=c)

        def relu_mask_inplace() -> None:
            np.greater(y, 0, out=c, casting="unsafe")
            np.multiply(c, b, out=c)

        np.add(a, b, out=c)
        expect = c.copy()
        copy_then_add()
        assert np.array_equal(c, expect)
        np.multiply(b, y > 0, out=c, dtype=c.dtype)
        expect = c.copy()
        relu_mask_inplace()
        assert np.array_equal(c, expect)
        row = [per_element_ns(lambda: np.add(a, b, out=c), n, reps),
               per_element_ns(lambda: np.add(w, b, out=w), n, reps),
               per_element_ns(copy_then_add, n, reps),
               per_element_ns(lambda: np.multiply(a, np.float32(0.9), out=c), n, reps),
               per_element_ns(lambda: np.multiply(b, y > 0, out=c, dtype=c.dtype), n, reps),
               per_element_ns(relu_mask_inplace, n, reps)]
        w[:] = a                                       # keep the in-place operand bounded
        print(f"{n:>9} " + " ".join(f"{v:>{wd}.3f}" for v, wd in zip(row, (7, 7, 8, 7, 11, 10))))


if __name__ == "__main__":
    main()
