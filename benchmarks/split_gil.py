"""Why the batch split gains little on small models: the GIL handovers between its two threads.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/split_gil.py [--model seed000]
        [--steps 60] [--alternations 2]

Prints, for one and for two threads (alternated), the training step's median ms and the voluntary context
switches per step (``getrusage``: a thread that waits for the GIL sleeps, and each handover costs a wake-up), and
the wake-up latency of scratchcnn's thread pool after it went idle (``parallel._executor``). No PyTorch.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time

import scratchcnn  # noqa: F401  (first: it sets OpenBLAS' thread timeout before NumPy loads)
import numpy as np


def _child(model: str, threads: int, steps: int) -> None:
    from scratchcnn.backend import tune_malloc
    from scratchcnn.bench.measure import limit_threads
    from scratchcnn.bench.workloads import make_workload
    tune_malloc()
    limit_threads(threads)
    step = make_workload(model, "scratchcnn", 64).make_step("train")
    for _ in range(5):
        step()
    r0, times = resource.getrusage(resource.RUSAGE_SELF), []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    print(f"{threads} thread(s): step median {np.median(times) * 1e3:.1f} ms, "
          f"{(r1.ru_nvcsw - r0.ru_nvcsw) / steps:.1f} voluntary context switches per step")


def _wake_latency() -> None:
    from scratchcnn import parallel
    pool = parallel._executor(1)
    idle, busy = [], []
    for i in range(200):
        if i % 2 == 0:
            time.sleep(0.002)                  # the worker goes idle (sleeps) first
        t0 = time.perf_counter()
        started = pool.submit(time.perf_counter).result()
        (idle if i % 2 == 0 else busy).append(started - t0)
    print(f"thread pool: a task starts {np.median(idle) * 1e6:.0f} us after submission when the worker was idle, "
          f"{np.median(busy) * 1e6:.0f} us back to back")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="seed000")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--alternations", type=int, default=2)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.model, args.child, args.steps)
        return
    for _ in range(args.alternations):       # a fresh process per run: thread pools and BLAS as at start-up
        for threads in (1, 2):
            subprocess.run([sys.executable, __file__, "--model", args.model, "--steps", str(args.steps),
                            "--child", str(threads)], check=True)
    _wake_latency()


if __name__ == "__main__":
    main()
