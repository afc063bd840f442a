"""``run_bench``: the rows of ``scratchcnn bench`` (throughput, ratio, peak memory, GFLOP/s per model and phase)."""
from __future__ import annotations

import os
import statistics
from typing import Callable, Sequence

from .measure import limit_threads, peak_memory_mb, round_rates, sgemm_peak_gflops, thread_counts
from .workloads import MODELS, TORCH_ADAM, make_workload

__all__ = ["run_bench", "default_threads", "format_table", "torch_available", "FLOPS_CONVENTION",
           "OPENBLAS_SLOW_VARS"]

PHASES = ("train", "infer")
FLOPS_CONVENTION = ("2 x MACs of conv/linear layers per sample (scratchcnn summary); inference = forward; "
                    "training = forward + weight gradients + input gradients (none for an image model's first "
                    "layer, whose input is the data) = 3 x forward - 2 x MACs of that layer")
OPENBLAS_SLOW_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
"""Environment variables that change NumPy's BLAS kernels (read when NumPy loads: unset them in the shell)."""


def torch_available() -> str | None:
    """PyTorch's version when it can be imported, else None."""
    try:
        import torch
    except ImportError:
        return None
    return str(torch.__version__)


def default_threads() -> int:
    """The number of CPUs this process may use (its affinity mask; ``os.cpu_count()`` off Linux)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _cpus() -> int:
    return os.cpu_count() or 1


def _load_average() -> float | None:
    """This machine's 1-minute load average (None where unknown)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def run_bench(models: Sequence[str] = ("seed000", "seed001", "lenet5", "textcnn"), batch_size: int = 64,
              threads: int | None = None, seconds: float = 1.0, rounds: int = 3, memory: bool = True,
              with_torch: bool = True, log: Callable[[str], None] = lambda s: None,
              torch_adam: str = "default") -> dict:
    """Benchmark each model's training and inference; returns ``{"rows": [...], "threads", "batch_size", ...}``.

    ``with_torch`` compares with PyTorch when it is installed (``torch_per_s``/``ratio`` are None otherwise).
    ``torch_adam`` is PyTorch's Adam implementation (``default``: what ``torch.optim.Adam`` picks on the CPU;
    ``fused``: ``fused=True``, the same update in one kernel per parameter, faster).
    ``ratio`` is best block over best block; ``ratio_median``/``ratio_min``/``ratio_max`` summarise the ratios
    of the ``rounds`` pairs of blocks timed back to back (more robust on a noisy machine).
    """
    if not models:
        raise ValueError(f"bench: no models given; choose from {', '.join(MODELS)}")
    bad = [m for m in models if m not in MODELS]
    if bad:
        raise ValueError(f"bench: unknown model(s) {', '.join(bad)}; choose from {', '.join(MODELS)}")
    if batch_size < 1:
        raise ValueError(f"bench: --batch-size must be >= 1, got {batch_size}")
    if torch_adam not in TORCH_ADAM:
        raise ValueError(f"bench: unknown --torch-adam {torch_adam!r}; choose from {', '.join(TORCH_ADAM)}")
    threads = threads or default_threads()
    torch_version = torch_available() if with_torch else None    # imported before the thread limit
    use_torch = torch_version is not None
    if not with_torch:
        torch_note = "PyTorch not measured (--no-torch): scratchcnn-only numbers"
    elif not use_torch:
        torch_note = "PyTorch is not installed: scratchcnn-only numbers (torch_per_s, ratio and torch_peak_mb are null)"
    else:
        torch_note = None
    limit_threads(threads)
    used = thread_counts()
    env = {v: os.environ[v] for v in OPENBLAS_SLOW_VARS if v in os.environ}
    load = _load_average()
    peak = sgemm_peak_gflops()
    log(f"threads={threads} (NumPy BLAS {used['numpy_blas']}, scratchcnn {used['scratchcnn']}, PyTorch "
        f"{used['torch'] if use_torch else '-'}) batch={batch_size} SGEMM peak {peak:.0f} GFLOP/s; "
        f"torch: {torch_version if use_torch else False}" + (f" (Adam: {torch_adam})" if use_torch else ""))
    if torch_note:
        log(f"note: {torch_note}")
    busy = _cpus() - threads + 0.5
    if load is not None and load > busy:
        log(f"warning: load average {load:.1f} over the last minute: other processes compete for the {threads} "
            "cores used, and the libraries do not slow down alike (PyTorch's OpenMP threads the most): ratios "
            "from a busy machine are not comparable")
    if env:
        log("warning: " + ", ".join(f"{k}={v}" for k, v in env.items()) + " is set: NumPy's BLAS (and the SGEMM "
            "peak) may run slower than with it unset; unset it in the shell for comparable numbers")
    rows = []
    for name in models:
        libs = ("scratchcnn", "torch") if use_torch else ("scratchcnn",)
        loads = {lib: make_workload(name, lib, batch_size, torch_adam) for lib in libs}
        for phase in PHASES:
            per_round = round_rates({lib: w.make_step(phase) for lib, w in loads.items()}, batch_size, seconds,
                                    rounds)
            w = loads["scratchcnn"]
            mem = {lib: peak_memory_mb(lib, name, phase, batch_size, threads, torch_adam) if memory else None
                   for lib in libs}
            s, t = max(per_round["scratchcnn"]), max(per_round["torch"]) if use_torch else None
            paired = ([a / b for a, b in zip(per_round["scratchcnn"], per_round["torch"])] if use_torch else [])
            row = {"model": name, "phase": phase, "unit": w.unit,
                   "scratchcnn_per_s": round(s, 1), "torch_per_s": None if t is None else round(t, 1),
                   "ratio": None if t is None else round(s / t, 3),
                   "ratio_median": round(float(statistics.median(paired)), 3) if paired else None,
                   "ratio_min": round(min(paired), 3) if paired else None,
                   "ratio_max": round(max(paired), 3) if paired else None,
                   "scratchcnn_peak_mb": mem["scratchcnn"], "torch_peak_mb": mem.get("torch"),
                   "gflops": round(w.flops(phase) * s / 1e9, 2),
                   "sgemm_peak_gflops": round(peak, 1)}
            rows.append(row)
            log(format_table([row], header=False))
    return {"rows": rows, "threads": threads, "threads_in_effect": used, "batch_size": batch_size,
            "load_average_1min": [load, _load_average()],
            "torch_version": torch_version if use_torch else None, "torch_adam": torch_adam if use_torch else None,
            "note": torch_note, "openblas_env": env,
            "flops_convention": FLOPS_CONVENTION}


def _paired(r: dict) -> str:
    if r.get("ratio_median") is None:
        return "-"
    return f"{r['ratio_median']:.2f} ({r['ratio_min']:.2f}-{r['ratio_max']:.2f})"


def format_table(rows: Sequence[dict], header: bool = True) -> str:
    """Fixed-width text table of bench rows."""
    def num(v, fmt):
        return f"{'-':>{fmt.split('.')[0]}}" if v is None else format(v, fmt)
    lines = []
    if header:
        lines.append(f"{'model':<8} {'phase':<5} {'scratchcnn/s':>12} {'torch/s':>9} {'ratio':>6} "
                     f"{'paired median (range)':>22} {'MB ours':>8} {'MB torch':>8} {'GFLOP/s':>8} {'SGEMM':>6}")
    for r in rows:
        lines.append(f"{r['model']:<8} {r['phase']:<5} {r['scratchcnn_per_s']:>12.0f} {num(r['torch_per_s'], '9.0f')} "
                     f"{num(r['ratio'], '6.2f')} {_paired(r):>22} {num(r['scratchcnn_peak_mb'], '8.1f')} "
                     f"{num(r['torch_peak_mb'], '8.1f')} {r['gflops']:>8.1f} {r['sgemm_peak_gflops']:>6.0f}")
    return "\n".join(lines)
