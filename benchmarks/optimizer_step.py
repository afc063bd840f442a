"""One Adam step on a model's parameters: scratchcnn's ``optim.Adam`` against ``torch.optim.Adam``, interleaved.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/optimizer_step.py [--model seed001]

Both optimisers get the same float32 parameters and gradients (seed001: 6.5 M parameters, 26 MB, almost all
in ``fc1``); first both run ``--check`` steps from the same start and the largest relative parameter
difference is printed, then ``--reps`` steps of each are timed alternately (2 threads, median and min in ms),
and then ``--reps`` of scratchcnn's steps back to back (its state warm in the caches, as in a loop of nothing but
optimizer steps; interleaved, each library's steps find the caches holding the other's state).
PyTorch's default Adam on the CPU is its single-tensor loop (lerp_, mul_, addcmul_, sqrt, div, add_, addcdiv_
per parameter).
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="seed001")
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--check", type=int, default=5)
    args = ap.parse_args()
    from scratchcnn.backend import tune_malloc
    tune_malloc()
    import torch

    from scratchcnn.optim import Adam
    from scratchcnn.bench.measure import limit_threads
    from scratchcnn.models import get
    limit_threads(2)
    rng = np.random.default_rng(0)
    ours = [p for p in get(args.model).parameters()]
    grads = [rng.standard_normal(p.shape).astype(np.float32) for p in ours]
    theirs = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in ours]
    for p, t, g in zip(ours, theirs, grads):
        p.grad = g
        t.grad = torch.from_numpy(g.copy())
    opt, topt = Adam(ours, lr=1e-3), torch.optim.Adam(theirs, lr=1e-3)
    for _ in range(args.check):
        opt.step()
        topt.step()
    rel = max(float(np.abs(p.data - t.detach().numpy()).max() / (np.abs(t.detach().numpy()).max() + 1e-30))
              for p, t in zip(ours, theirs))
    n = sum(p.data.size for p in ours)
    print(f"{args.model}: {n:,} parameters; after {args.check} steps max relative difference {rel:.2e}")
    times: dict[str, list[float]] = {"scratchcnn": [], "torch": []}
    for _ in range(args.reps):
        for name, step in (("scratchcnn", opt.step), ("torch", topt.step)):
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
    for name, v in times.items():
        print(f"  {name:10s} Adam step {med[name]:6.2f} ms (min {min(v) * 1e3:5.2f})")
    print(f"  speed (torch / scratchcnn, medians): {med['torch'] / med['scratchcnn']:.2f}")
    alone = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        opt.step()
        alone.append(time.perf_counter() - t0)
    print(f"  scratchcnn Adam step back to back {np.median(alone) * 1e3:6.2f} ms (min {min(alone) * 1e3:5.2f})")


if __name__ == "__main__":
    main()
