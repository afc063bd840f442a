"""scratchcnn's training step alone (no PyTorch in the process): median and min ms over ``--steps`` steps.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/step_time.py [--model seed001]

For before/after comparisons of the engine run it alternately against two checkouts, e.g.
``PYTHONPATH=<old checkout>/src`` and ``PYTHONPATH=<new checkout>/src``, several pairs: the VM's speed drifts by
tens of percent over minutes, so only pairs run back to back compare. The step is the bench's (the Trainer's:
zero_grad, forward, cross-entropy, backward, Adam; the batch split over the cores where the model allows it).
"""
from __future__ import annotations

import argparse
import time

import scratchcnn  # noqa: F401  (first: it sets OpenBLAS' thread timeout before NumPy loads)
import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="seed001")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    from scratchcnn.backend import tune_malloc
    from scratchcnn.bench.measure import limit_threads
    from scratchcnn.bench.workloads import make_workload
    tune_malloc()
    limit_threads(args.threads)
    step = make_workload(args.model, "scratchcnn", args.batch).make_step("train")
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1e3
    print(f"{args.model} training step (batch {args.batch}, {args.threads} threads): median {np.median(ms):.1f} ms, "
          f"min {ms.min():.1f} ms over {args.steps} steps")


if __name__ == "__main__":
    main()
