"""Training throughput of the seeds' CNNs: scratchcnn vs PyTorch, same process, same thread count.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/bench_train.py [--threads 2]

Prints images/s for both and the ratio scratchcnn / PyTorch (Adam 1e-3, batch 64, random MNIST-shaped data).
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def build(nn, name: str):
    """The same network from either library: scratchcnn.nn and torch.nn share names and signatures."""
    if name == "seed000":
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(1568, 128), nn.ReLU(), nn.Linear(128, 10))
    return nn.Sequential(
        nn.Conv2d(1, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(6272, 1024), nn.ReLU(), nn.Dropout(0.5), nn.Linear(1024, 10))


def time_steps(step, n_steps: int, warmup: int) -> float:
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(n_steps):
        step()
    return time.perf_counter() - t0


def bench_scratch(name: str, x: np.ndarray, y: np.ndarray, steps: int, warmup: int) -> float:
    import scratchcnn as sc
    from scratchcnn import nn, optim
    sc.manual_seed(0)
    model = build(nn, name)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = sc.Tensor(x), sc.Tensor(y)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
    return steps * len(x) / time_steps(step, steps, warmup)


def bench_torch(name: str, x: np.ndarray, y: np.ndarray, steps: int, warmup: int) -> float:
    import torch
    torch.manual_seed(0)
    model = build(torch.nn, name)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
    return steps * len(x) / time_steps(step, steps, warmup)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--models", default="seed000,seed001")
    ap.add_argument("--no-tune-malloc", action="store_true", help="keep glibc's default malloc thresholds")
    args = ap.parse_args()

    from scratchcnn.backend import tune_malloc
    if not args.no_tune_malloc:
        tune_malloc()  # process-wide, so it applies to PyTorch and scratchcnn alike
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    blas = [(i["internal_api"], i.get("architecture"), i["num_threads"]) for i in threadpool_info()]
    print(f"threads={args.threads} batch={args.batch_size} numpy BLAS={blas} torch={torch.__version__}")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch_size, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, args.batch_size).astype(np.int64)
    for name in args.models.split(","):
        steps = args.steps if name == "seed000" else max(args.steps // 3, 5)
        s = bench_scratch(name, x, y, steps, args.warmup)
        t = bench_torch(name, x, y, steps, args.warmup)
        print(f"{name}: scratchcnn {s:8.0f} img/s   torch {t:8.0f} img/s   ratio {s / t:.2f}")


if __name__ == "__main__":
    main()
