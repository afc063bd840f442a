"""Measurements: throughput of a step, the SGEMM peak of this machine, and the peak memory of a step.

Throughput blocks of the two libraries alternate (``rounds`` times); the bench keeps each one's best block, so
a noisy machine slows both alike, and the ratio of the two blocks of each round (taken back to back), whose
median and range show how far one run's ratio can be trusted. Peak memory is measured in a fresh child
process per (library, model, phase): the resident set's high-water mark (Linux ``VmHWM``, reset through
``/proc/self/clear_refs``) above the resident set just before the first step, i.e. the extra memory that
running the steps needs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Callable

import numpy as np

__all__ = ["round_rates", "sgemm_peak_gflops", "peak_memory_mb", "limit_threads"]


def limit_threads(threads: int) -> None:
    """Use ``threads`` threads in NumPy's BLAS and, when it is loaded, in PyTorch."""
    from threadpoolctl import threadpool_limits
    threadpool_limits(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def _block(step: Callable[[], None], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return time.perf_counter() - t0


def round_rates(steps: dict[str, Callable[[], None]], batch: int, seconds: float = 1.0, rounds: int = 3,
                warmup: int = 3) -> dict[str, list[float]]:
    """Samples per second of each step in each of ``rounds`` rounds; a round times one block of about
    ``seconds`` per step, back to back, so the blocks of one round saw the same machine."""
    counts = {}
    for name, step in steps.items():
        _block(step, warmup)
        t = _block(step, 2) / 2
        counts[name] = max(2, int(seconds / max(t, 1e-6)))
    rates: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            rates[name].append(counts[name] * batch / _block(step, counts[name]))
    return rates


def sgemm_peak_gflops(n: int = 1024, repeats: int = 5) -> float:
    """Best float32 GEMM rate (n x n @ n x n) of NumPy's BLAS, GFLOP/s."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    best = min(_block(lambda: np.matmul(a, b, out=out), 1) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def measure_here(lib: str, model: str, phase: str, batch: int, threads: int, steps: int = 5) -> float:
    """In this process: MB of resident memory that ``steps`` steps add on top of what was resident before."""
    from ..backend import tune_malloc
    from .workloads import make_workload
    tune_malloc()
    if lib == "torch":
        import torch  # noqa: F401  (loaded before limiting threads)
    limit_threads(threads)
    step = make_workload(model, lib, batch).make_step(phase)
    before = _status_kb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")            # reset VmHWM to the current RSS
    except OSError:
        pass
    for _ in range(steps):
        step()
    return max(0, _status_kb("VmHWM") - before) / 1024


def peak_memory_mb(lib: str, model: str, phase: str, batch: int, threads: int) -> float | None:
    """Peak extra memory of ``lib`` running ``model``'s ``phase`` steps, from a child process; None if unmeasurable."""
    if not os.path.exists("/proc/self/status"):
        return None
    cmd = [sys.executable, "-m", "scratchcnn.bench._memory_child", lib, model, phase, str(batch), str(threads)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        raise RuntimeError(f"bench: peak-memory child for {lib}/{model}/{phase} failed: "
                           f"{(res.stderr.strip().splitlines() or ['?'])[-1]}")
    return float(json.loads(res.stdout.strip().splitlines()[-1])["peak_mb"])
