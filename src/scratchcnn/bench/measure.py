"""Measurements: throughput of a step, the SGEMM peak of this machine, and the peak memory of a step.

Throughput blocks of the two libraries alternate (``rounds`` times, the order swapped every round so that
neither library always runs right after the other); the bench keeps each one's best block, so a noisy machine
slows both alike, and the ratio of the two blocks of each round (taken back to back), whose median and range
show how far one run's ratio can be trusted. Peak memory is measured in a fresh child process per (library,
model, phase): first the same steps run on a separate, discarded instance of the model (the library's one-time
costs: code paged in from its shared libraries, thread pools, kernel caches), then freed heap memory is handed
back to the OS (glibc ``malloc_trim``, so that memory freed while building the model cannot be reused unseen),
and the number is the resident set's high-water mark (Linux ``VmHWM``, reset through ``/proc/self/clear_refs``)
during the measured steps above the resident set just before them: the memory the steps need (activations,
gradients, optimiser state, temporaries), excluding one-time library start-up.
"""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from typing import Callable

import numpy as np

__all__ = ["round_rates", "sgemm_peak_gflops", "peak_memory_mb", "limit_threads", "thread_counts"]


def limit_threads(threads: int) -> None:
    """Use ``threads`` threads in NumPy's BLAS, in scratchcnn's own parallel loops (elementwise passes, the
    batch split of a training step) and, when it is loaded, in PyTorch (intra-op threads and its OpenMP/MKL)."""
    from threadpoolctl import threadpool_limits

    from ..parallel import set_num_threads
    threadpool_limits(threads)
    set_num_threads(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def thread_counts() -> dict[str, int | None]:
    """The thread counts in effect: NumPy's BLAS, scratchcnn's parallel loops, PyTorch (None when not loaded)."""
    from threadpoolctl import threadpool_info

    from ..parallel import get_num_threads
    blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas" and "numpy" in p["filepath"]]
    torch = sys.modules.get("torch")
    return {"numpy_blas": max(blas) if blas else None, "scratchcnn": get_num_threads(),
            "torch": torch.get_num_threads() if torch is not None else None}


def _block(step: Callable[[], None], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return time.perf_counter() - t0


def round_rates(steps: dict[str, Callable[[], None]], batch: int, seconds: float = 1.0, rounds: int = 3,
                warmup: int = 3) -> dict[str, list[float]]:
    """Samples per second (``batch`` x steps / seconds) of each step in each of ``rounds`` rounds; a round times
    one block of about ``seconds`` per step, back to back, so the blocks of one round saw the same machine. Each
    step first runs ``warmup`` untimed calls (first-call costs) and 2 more that size its block; the order of the
    steps within a round alternates from one round to the next."""
    counts = {}
    for name, step in steps.items():
        _block(step, warmup)
        t = _block(step, 2) / 2
        counts[name] = max(2, int(seconds / max(t, 1e-6)))
    rates: dict[str, list[float]] = {name: [] for name in steps}
    order = list(steps)
    for r in range(rounds):
        for name in (order if r % 2 == 0 else order[::-1]):
            rates[name].append(counts[name] * batch / _block(steps[name], counts[name]))
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


def _malloc_trim() -> None:
    """Hand the heap's free memory back to the OS (glibc; a no-op elsewhere)."""
    import ctypes
    import ctypes.util
    name = ctypes.util.find_library("c")
    if name and sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(name).malloc_trim(0)
        except (OSError, AttributeError):
            pass


def _reset_peak() -> bool:
    """Reset VmHWM to the current resident set; False when the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return _status_kb("VmHWM") <= _status_kb("VmRSS") + 256      # reset (allowing for a few pages since)


def measure_here(lib: str, model: str, phase: str, batch: int, threads: int, steps: int = 5,
                 warmup: int = 2, torch_adam: str = "default") -> float | None:
    """In this process: MB of resident memory that ``steps`` steps add on top of what was resident before,
    after ``warmup`` steps on a discarded instance (one-time library costs) and a heap trim; None when the
    high-water mark cannot be reset."""
    from ..backend import tune_malloc
    from .workloads import make_workload
    tune_malloc()                   # as in the timed process (the CLI applies it)
    if lib == "torch":
        import torch  # noqa: F401  (loaded before limiting threads)
    limit_threads(threads)
    if warmup:
        first = make_workload(model, lib, batch, torch_adam).make_step(phase)
        for _ in range(warmup):
            first()
        del first
    step = make_workload(model, lib, batch, torch_adam).make_step(phase)
    gc.collect()
    _malloc_trim()
    before = _status_kb("VmRSS")
    if not _reset_peak():
        return None
    for _ in range(steps):
        step()
    return max(0, _status_kb("VmHWM") - before) / 1024


def peak_memory_mb(lib: str, model: str, phase: str, batch: int, threads: int,
                   torch_adam: str = "default") -> float | None:
    """Peak extra memory of ``lib`` running ``model``'s ``phase`` steps, from a child process; None if unmeasurable."""
    if not os.path.exists("/proc/self/status"):
        return None
    cmd = [sys.executable, "-m", "scratchcnn.bench._memory_child", lib, model, phase, str(batch), str(threads),
           torch_adam]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        raise RuntimeError(f"bench: peak-memory child for {lib}/{model}/{phase} failed: "
                           f"{(res.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(res.stdout.strip().splitlines()[-1])["peak_mb"]
