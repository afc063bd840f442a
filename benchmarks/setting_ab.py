"""Interleaved A/B of one module-level setting of the engine, in one process: the bench's training (or inference)
step timed in rounds that switch the setting between the given values; prints the median of the rounds' medians.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/setting_ab.py \
        --model seed000 [--phase infer] scratchcnn.functional.conv NARROW_MAX_COUT 64 0

The VM's speed drifts by tens of percent over minutes, so runs in separate processes (``step_time.py`` against two
checkouts) need many pairs; switching a setting between rounds of one process compares like with like. Only for
settings that the code reads at call time (module globals), not ones captured at import.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import time

import scratchcnn  # noqa: F401  (first: it sets OpenBLAS' thread timeout before NumPy loads)
import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("module", help="e.g. scratchcnn.functional.conv")
    ap.add_argument("name", help="the module-level setting, e.g. NARROW_MAX_COUT")
    ap.add_argument("values", nargs="+", help="Python literals, e.g. 64 0")
    ap.add_argument("--model", default="seed000")
    ap.add_argument("--phase", choices=["train", "infer"], default="train")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--steps", type=int, default=30, help="steps per round")
    args = ap.parse_args()
    from scratchcnn.backend import tune_malloc
    from scratchcnn.bench.measure import limit_threads
    from scratchcnn.bench.workloads import make_workload
    tune_malloc()
    limit_threads(args.threads)
    module = importlib.import_module(args.module)
    if not hasattr(module, args.name):
        raise SystemExit(f"{args.module} has no setting {args.name}")
    original = getattr(module, args.name)
    try:
        values = [ast.literal_eval(v) for v in args.values]
    except (ValueError, SyntaxError):
        raise SystemExit(f"values must be Python literals (262144, not 1<<18), got {args.values}") from None
    step = make_workload(args.model, "scratchcnn", args.batch).make_step(args.phase)
    for _ in range(10):
        step()
    medians: dict[int, list[float]] = {i: [] for i in range(len(values))}
    try:
        for _ in range(args.rounds):
            for i, v in enumerate(values):
                setattr(module, args.name, v)
                times = []
                for _ in range(args.steps):
                    t0 = time.perf_counter()
                    step()
                    times.append(time.perf_counter() - t0)
                medians[i].append(float(np.median(times)) * 1e3)
    finally:
        setattr(module, args.name, original)
    for i, v in enumerate(values):
        print(f"{args.model} {args.phase} {args.name}={v!r}: median of {args.rounds} round medians "
              f"{np.median(medians[i]):.2f} ms (rounds {min(medians[i]):.2f}-{max(medians[i]):.2f})")


if __name__ == "__main__":
    main()
