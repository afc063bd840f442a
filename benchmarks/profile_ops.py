"""Where a training step's time goes, per op and direction: scratchcnn's Functions vs PyTorch's profiler.

    .venv/bin/python benchmarks/profile_ops.py [--model seed001] [--steps 20] [--phase train] [--threads 2]

scratchcnn: every ``Function.forward``/``backward`` (and ``Adam.step``) is wrapped with a wall-clock timer;
PyTorch: ``torch.profiler`` self-CPU time per aten op. Both run the same network (``scratchcnn.bench``'s
workloads), batch 64, in one process. Numbers are ms per step.
"""
from __future__ import annotations

import argparse
import collections
import threading
import time

_depth = threading.local()


def _instrument(stats: dict) -> None:
    import scratchcnn.autograd as A
    import scratchcnn.optim.adam as adam

    classes, todo = set(), [A.Function]
    while todo:
        for sub in todo.pop().__subclasses__():
            classes.add(sub)
            todo.append(sub)
    for cls in classes:
        for kind in ("forward", "backward"):
            if kind not in cls.__dict__:
                continue
            fn = cls.__dict__[kind].__func__

            def timed(*a, _fn=fn, _key=f"{cls.__name__}.{'fwd' if kind == 'forward' else 'bwd'}", **k):
                nested = getattr(_depth, "n", 0)      # an op run inside another (fused ops call ConvNd) counts
                _depth.n = nested + 1                  # only in the outer one
                t0 = time.perf_counter()
                try:
                    return _fn(*a, **k)
                finally:
                    _depth.n = nested
                    if not nested:
                        stats[_key] += time.perf_counter() - t0
            setattr(cls, kind, staticmethod(timed))
    step = adam.Adam.step

    def timed_step(self, *a):
        t0 = time.perf_counter()
        try:
            return step(self, *a)
        finally:
            stats["Adam.step"] += time.perf_counter() - t0
    adam.Adam.step = timed_step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="seed001")
    ap.add_argument("--phase", default="train", choices=["train", "infer"])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--top", type=int, default=14)
    args = ap.parse_args()

    from scratchcnn.backend import tune_malloc
    tune_malloc()
    import torch
    from scratchcnn.bench.measure import limit_threads
    from scratchcnn.bench.workloads import make_workload
    limit_threads(args.threads)
    stats: dict = collections.defaultdict(float)
    _instrument(stats)
    ours = make_workload(args.model, "scratchcnn", 64).make_step(args.phase)
    theirs = make_workload(args.model, "torch", 64).make_step(args.phase)
    for step in (ours, theirs):
        for _ in range(5):
            step()
    stats.clear()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        ours()
    total = (time.perf_counter() - t0) / args.steps * 1e3
    print(f"{args.model} {args.phase}: scratchcnn {total:.2f} ms/step")
    for key, sec in sorted(stats.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"  {key:<26} {sec / args.steps * 1e3:8.3f}")
    print(f"  {'(outside ops)':<26} {total - sum(stats.values()) / args.steps * 1e3:8.3f}")
    from torch.profiler import profile
    t0 = time.perf_counter()
    for _ in range(args.steps):
        theirs()
    print(f"{args.model} {args.phase}: torch {(time.perf_counter() - t0) / args.steps * 1e3:.2f} ms/step")
    with profile() as prof:
        for _ in range(args.steps):
            theirs()
    rows = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:args.top]
    for e in rows:
        print(f"  {e.key:<40} {e.self_cpu_time_total / 1e3 / args.steps:8.3f}")


if __name__ == "__main__":
    main()
