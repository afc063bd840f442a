"""``run_bench``: the rows of ``scratchcnn bench`` (throughput, ratio, peak memory, GFLOP/s per model and phase)."""
from __future__ import annotations

import importlib.util
import os
import statistics
from typing import Callable, Sequence

from .measure import limit_threads, peak_memory_mb, round_rates, sgemm_peak_gflops
from .workloads import MODELS, make_workload

__all__ = ["run_bench", "default_threads", "format_table"]

PHASES = ("train", "infer")
# training FLOPs per sample ~ 3 x forward (forward, input gradient, weight gradient)
_FLOP_FACTOR = {"train": 3, "infer": 1}


def default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def run_bench(models: Sequence[str] = ("seed000", "seed001", "lenet5", "textcnn"), batch_size: int = 64,
              threads: int | None = None, seconds: float = 1.0, rounds: int = 3, memory: bool = True,
              with_torch: bool = True, log: Callable[[str], None] = lambda s: None) -> dict:
    """Benchmark each model's training and inference; returns ``{"rows": [...], "threads", "batch_size", ...}``.

    ``with_torch`` compares with PyTorch when it is installed (``torch_per_s``/``ratio`` are None otherwise).
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
    threads = threads or default_threads()
    use_torch = with_torch and importlib.util.find_spec("torch") is not None
    if use_torch:
        import torch  # noqa: F401  (loaded before the thread limit is applied to it)
    limit_threads(threads)
    peak = sgemm_peak_gflops()
    log(f"threads={threads} batch={batch_size} SGEMM peak {peak:.0f} GFLOP/s; torch: {use_torch}")
    rows = []
    for name in models:
        libs = ("scratchcnn", "torch") if use_torch else ("scratchcnn",)
        loads = {lib: make_workload(name, lib, batch_size) for lib in libs}
        for phase in PHASES:
            per_round = round_rates({lib: w.make_step(phase) for lib, w in loads.items()}, batch_size, seconds,
                                    rounds)
            w = loads["scratchcnn"]
            mem = {lib: peak_memory_mb(lib, name, phase, batch_size, threads) if memory else None for lib in libs}
            s, t = max(per_round["scratchcnn"]), max(per_round["torch"]) if use_torch else None
            paired = ([a / b for a, b in zip(per_round["scratchcnn"], per_round["torch"])] if use_torch else [])
            row = {"model": name, "phase": phase, "unit": w.unit,
                   "scratchcnn_per_s": round(s, 1), "torch_per_s": None if t is None else round(t, 1),
                   "ratio": None if t is None else round(s / t, 3),
                   "ratio_median": round(float(statistics.median(paired)), 3) if paired else None,
                   "ratio_min": round(min(paired), 3) if paired else None,
                   "ratio_max": round(max(paired), 3) if paired else None,
                   "scratchcnn_peak_mb": mem["scratchcnn"], "torch_peak_mb": mem.get("torch"),
                   "gflops": round(_FLOP_FACTOR[phase] * w.flops_per_sample * s / 1e9, 2),
                   "sgemm_peak_gflops": round(peak, 1)}
            rows.append(row)
            log(format_table([row], header=False))
    return {"rows": rows, "threads": threads, "batch_size": batch_size,
            "flops_convention": "2 x MACs of conv/linear layers; training counted as 3 x forward"}


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
