"""TextCNN's windows fused (``conv1d_windows``: one GEMM per tap over every window) vs one conv per window.

    .venv/bin/python benchmarks/textcnn_windows.py [--reps 120]

Same model and batch (64 sentences of 96 tokens, D 128, windows 3/4/5 x 100) both ways, interleaved; the
per-window path is forced by a no-op forward hook on each conv (hooked convs are not fused). Prints min and
median ms of ``features`` forward + backward and of inference.
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=120)
    args = ap.parse_args()
    import scratchcnn as sc
    from scratchcnn import models
    from scratchcnn.backend import tune_malloc
    tune_malloc()
    sc.manual_seed(0)
    m = models.get("textcnn", num_classes=2, vocab_size=4000, embed_dim=128)
    m.eval()
    x = np.random.default_rng(0).integers(1, 4000, (64, 96)).astype(np.int64)
    hooks: list = []

    def per_window(on: bool) -> None:
        while hooks:
            hooks.pop().remove()
        if on:
            hooks.extend(c.register_forward_hook(lambda *a: None) for c in m.convs)

    def train_step() -> None:
        m.features(x).sum().backward()
        for p in m.parameters():
            p.grad = None

    def infer() -> None:
        with sc.no_grad():
            m.features(x)

    cases = {(kind, fused): fn for kind, fn in (("train", train_step), ("infer", infer)) for fused in (True, False)}
    times: dict = {k: [] for k in cases}
    for _ in range(args.reps):
        for (kind, fused), fn in cases.items():
            per_window(not fused)
            t0 = time.perf_counter()
            fn()
            times[(kind, fused)].append(time.perf_counter() - t0)
    per_window(False)
    for (kind, fused), ts in times.items():
        label = "fused" if fused else "per-window"
        print(f"{kind:5s} {label:10s} min {min(ts) * 1e3:6.2f} ms  median {np.median(ts) * 1e3:6.2f} ms")


if __name__ == "__main__":
    main()
