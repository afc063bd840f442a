"""How well the batch split (train/split_batch.py) uses two cores: a training step split and unsplit next to
PyTorch's, and one part's forward and backward alone vs next to the other part.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/split_parts.py [--model seed000]
        [--rounds 5] [--reps 15]

Step times are ms per training step (batch 64, 2 threads, Adam) in interleaved blocks of ``--reps`` steps; the
ratios are PyTorch's step time over ours (median over ``--rounds``). Part times are medians over 30 split steps
(concurrent) and over 20 half-batch steps on one thread with one BLAS thread (alone).
"""
from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np


def _block(step, reps: int) -> float:
    step()
    t0 = time.perf_counter()
    for _ in range(reps):
        step()
    return (time.perf_counter() - t0) / reps * 1e3


def _part_times(name: str) -> tuple[dict, dict]:
    """Median forward / backward ms of one part, concurrent (split step) and alone (half batch, one thread)."""
    import scratchcnn as sc
    import scratchcnn.train.split_batch as SB
    from scratchcnn.parallel import one_blas_thread
    from scratchcnn import nn
    from scratchcnn.bench.workloads import _inputs, _scratch_model
    model = _scratch_model(name)
    x, y = _inputs(name, 64)
    loss_fn = nn.CrossEntropyLoss()
    rec: list = []
    call, backward = type(model).__call__, sc.Tensor.backward

    def timed_call(self, *a, **k):
        t0 = time.perf_counter()
        out = call(self, *a, **k)
        rec.append(("forward", time.perf_counter() - t0))
        return out

    def timed_backward(self, *a, **k):
        t0 = time.perf_counter()
        out = backward(self, *a, **k)
        if threading.current_thread() is not threading.main_thread() or a:   # the parts', not the loss's
            rec.append(("backward", time.perf_counter() - t0))
        return out
    type(model).__call__, sc.Tensor.backward = timed_call, timed_backward
    try:
        os.environ["SCRATCHCNN_SPLIT_BATCH"] = "1"
        xt, yt = sc.Tensor(x), sc.Tensor(y)
        for i in range(40):
            if i == 10:
                rec.clear()
            logits, finish = SB.forward_for_training(model, xt)
            loss_fn(logits, yt).backward()
            finish()
            model.zero_grad()
        concurrent = _medians(rec)
        rec.clear()
        half = sc.Tensor(x[:32])
        with one_blas_thread():
            for i in range(30):
                if i == 10:
                    rec.clear()
                out = model(half)
                out.backward(np.ones(out.shape, out.dtype) / 64)
                model.zero_grad()
        alone = _medians(rec)
    finally:
        type(model).__call__, sc.Tensor.backward = call, backward
    return concurrent, alone


def _medians(rec: list) -> dict:
    return {k: float(np.median([t for kind, t in rec if kind == k]) * 1e3) for k in ("forward", "backward")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="seed000")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args()
    from scratchcnn.backend import tune_malloc
    tune_malloc()
    from scratchcnn.bench.measure import limit_threads
    from scratchcnn.bench.workloads import make_workload
    limit_threads(2)
    ours = make_workload(args.model, "scratchcnn", 64).make_step("train")
    try:
        theirs = make_workload(args.model, "torch", 64).make_step("train")
    except ImportError:
        theirs = None
    rows = []
    for _ in range(args.rounds):
        os.environ["SCRATCHCNN_SPLIT_BATCH"] = "1"
        split = _block(ours, args.reps)
        torch_ms = _block(theirs, args.reps) if theirs else float("nan")
        os.environ["SCRATCHCNN_SPLIT_BATCH"] = "0"
        unsplit = _block(ours, args.reps)
        rows.append((split, unsplit, torch_ms))
        print(f"step ms: split {split:.1f}  unsplit {unsplit:.1f}  torch {torch_ms:.1f}")
    os.environ.pop("SCRATCHCNN_SPLIT_BATCH", None)
    r = np.array(rows)
    if theirs:
        print(f"{args.model} training ratio (median of {args.rounds}): split {np.median(r[:, 2] / r[:, 0]):.2f}  "
              f"unsplit {np.median(r[:, 2] / r[:, 1]):.2f}")
    concurrent, alone = _part_times(args.model)
    for k in ("forward", "backward"):
        print(f"one part's {k}: {concurrent[k]:.2f} ms next to the other part, {alone[k]:.2f} ms alone")


if __name__ == "__main__":
    main()
