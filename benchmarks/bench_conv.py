"""conv2d forward / forward+backward: scratchcnn vs torch.nn.functional.conv2d, same process, same threads.

Layer shapes are those of the seed000 and seed001 nets (batch 64, 3x3 kernels, padding 1, bias):
first layers see a contiguous NCHW data batch and need no input gradient; second layers get their input
channels-last in memory, and all layers get their output gradient channels-last, as inside a scratchcnn net
(conv and pool outputs are NCHW views of channels-last buffers, and ReLU/pool backward keep that layout).
Prints the median (or, with ``--stat min``, the minimum) in ms and ``speed = torch_ms / scratchcnn_ms``
(>= 1: scratchcnn as fast or faster).

``--tune-malloc`` first tells glibc to keep freed memory for reuse (``mallopt``: no mmap/munmap or heap
trimming per large array). On this VM touching fresh pages is very slow; without it every large temporary
pays page faults on each call, in both libraries (e.g. torch's seed001.conv1 step ~19 ms -> ~2.5 ms).

Run (this machine exports OpenBLAS variables that slow NumPy's BLAS down):
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/bench_conv.py --tune-malloc
When other processes load the machine, a single-thread CPU-time comparison is a steadier proxy:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 .venv/bin/python \
        benchmarks/bench_conv.py --threads 1 --clock cpu --stat min --tune-malloc
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import scratchcnn as sc
from scratchcnn.functional.conv import conv2d

LAYERS = [  # name, batch, C_in, C_out, size, input needs grad
    ("seed000.conv1", 64, 1, 16, 28, False),
    ("seed000.conv2", 64, 16, 32, 14, True),
    ("seed001.conv1", 64, 1, 64, 28, False),
    ("seed001.conv2", 64, 64, 128, 14, True),
]


CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = time.perf_counter


def _time_ms(fn, repeat: int, stat: str) -> float:
    """Run ``fn`` ``repeat`` times after 3 warm-up calls; the median (or min) in ms.

    scratchcnn and torch are timed in separate blocks, not interleaved: both runtimes keep their worker
    threads spinning for a while after each call, and on 2 cores interleaving makes them fight.
    """
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeat):
        t0 = _clock()
        fn()
        times.append(_clock() - t0)
    return float((np.min if stat == "min" else np.median)(times) * 1e3)


def _channels_last(a: np.ndarray) -> np.ndarray:
    """Same values, NCHW shape, channels-last memory (what a scratchcnn conv/pool produces)."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def bench_layer(torch, name: str, n: int, cin: int, cout: int, size: int, x_grad: bool, repeat: int,
                stat: str) -> dict:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, cin, size, size), dtype=np.float32)
    w = (rng.standard_normal((cout, cin, 3, 3), dtype=np.float32) * 0.1).astype(np.float32)
    b = rng.standard_normal(cout, dtype=np.float32)
    g = rng.standard_normal((n, cout, size, size), dtype=np.float32)
    g = _channels_last(g)          # grads arrive channels-last: conv outputs (and ReLU/pool of them) are
    if x_grad:
        x = _channels_last(x)      # second layers read a pooled conv output
    X, W, B = sc.Tensor(x, requires_grad=x_grad), sc.Tensor(w, requires_grad=True), sc.Tensor(b, requires_grad=True)
    tx = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_(x_grad)
    tw, tb = torch.from_numpy(w).requires_grad_(), torch.from_numpy(b).requires_grad_()
    tg = torch.from_numpy(np.ascontiguousarray(g))

    def sc_fwd():
        with sc.no_grad():
            conv2d(X, W, B, padding=1)

    def sc_step():
        X.grad = W.grad = B.grad = None
        conv2d(X, W, B, padding=1).backward(g)

    def th_fwd():
        with torch.no_grad():
            torch.nn.functional.conv2d(tx, tw, tb, padding=1)

    def th_step():
        tx.grad = tw.grad = tb.grad = None
        torch.nn.functional.conv2d(tx, tw, tb, padding=1).backward(tg)

    r = {"layer": name, "shape": f"{n}x{cin}x{size}x{size} -> {cout}"}
    r["sc_fwd"], r["sc_step"] = _time_ms(sc_fwd, repeat, stat), _time_ms(sc_step, repeat, stat)
    r["th_fwd"], r["th_step"] = _time_ms(th_fwd, repeat, stat), _time_ms(th_step, repeat, stat)
    return r


def _tune_malloc() -> None:
    """Ask glibc to serve large arrays from the heap and never trim it (Linux/glibc only; else a no-op)."""
    import ctypes
    import ctypes.util
    name = ctypes.util.find_library("c")
    if not name or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(name)
    m_trim_threshold, m_mmap_threshold = -1, -3
    ok = libc.mallopt(m_mmap_threshold, 1 << 30) and libc.mallopt(m_trim_threshold, 1 << 31)
    print(f"mallopt: {'ok' if ok else 'failed'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2,
                    help="threads of both libraries (PyTorch, NumPy's BLAS, scratchcnn's own loops)")
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--stat", choices=["median", "min"], default="median",
                    help="aggregate of the repeats (min is robust when other processes share the CPUs)")
    ap.add_argument("--tune-malloc", action="store_true",
                    help="glibc: keep freed memory (M_MMAP_THRESHOLD / M_TRIM_THRESHOLD), see the docstring")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu = process CPU time: with --threads 1 and OPENBLAS_NUM_THREADS=1 a load-robust proxy")
    args = ap.parse_args()
    if args.tune_malloc:
        _tune_malloc()
    import torch

    from scratchcnn.bench.measure import limit_threads
    global _clock
    _clock = CLOCK[args.clock]
    limit_threads(args.threads)
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            print(f"warning: {var}={os.environ[var]} is set; NumPy's BLAS runs slower (see module docstring)")
    print(f"numpy {np.__version__}, torch {torch.__version__}, torch threads {torch.get_num_threads()}, "
          f"{os.cpu_count()} cpus, {args.stat} of {args.repeat} runs, {args.clock} clock, "
          f"malloc {'tuned' if args.tune_malloc else 'default'}")
    hdr = f"{'layer':15s} {'shape':22s} {'fwd sc':>8s} {'fwd th':>8s} {'speed':>6s}   " \
          f"{'f+b sc':>8s} {'f+b th':>8s} {'speed':>6s}"
    print(hdr)
    tot_sc = {"seed000": 0.0, "seed001": 0.0}
    tot_th = dict(tot_sc)
    for spec in LAYERS:
        r = bench_layer(torch, *spec, repeat=args.repeat, stat=args.stat)
        seed = r["layer"].split(".")[0]
        tot_sc[seed] += r["sc_step"]
        tot_th[seed] += r["th_step"]
        print(f"{r['layer']:15s} {r['shape']:22s} {r['sc_fwd']:8.2f} {r['th_fwd']:8.2f} "
              f"{r['th_fwd'] / r['sc_fwd']:6.2f}   {r['sc_step']:8.2f} {r['th_step']:8.2f} "
              f"{r['th_step'] / r['sc_step']:6.2f}")
    for seed in tot_sc:
        print(f"{seed} conv layers, forward+backward: scratchcnn {tot_sc[seed]:.2f} ms, torch {tot_th[seed]:.2f} ms, "
              f"speed {tot_th[seed] / tot_sc[seed]:.2f}x")


if __name__ == "__main__":
    main()
