"""Intra-op parallelism for NumPy work that BLAS does not thread: elementwise passes, pooling, optimiser updates.

NumPy's ufuncs run on one core and release the GIL inside their loops, so splitting one large array operation
into ``get_num_threads()`` contiguous parts (along the batch axis, or over flat chunks) and running the parts on
a small persistent thread pool uses every core, the way PyTorch's ``at::parallel_for`` does. Parts are a handful
of large slices, never a loop over pixels or batch items. ``set_num_threads(1)`` turns it off.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any, Callable

__all__ = ["get_num_threads", "set_num_threads", "parallel_for", "one_blas_thread", "MIN_PARALLEL_ELEMENTS"]

MIN_PARALLEL_ELEMENTS = 1 << 19
"""Below this many elements an op runs on the calling thread: a dispatch costs ~0.1 ms here (measured
break-even for a memory-bound elementwise op: ~500k float32 elements on 2 cores)."""

_num_threads: int | None = None
_blas: Any = None
_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()
_local = threading.local()


def _default_threads() -> int:
    env = os.environ.get("SCRATCHCNN_NUM_THREADS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"SCRATCHCNN_NUM_THREADS must be a positive whole number of threads, got {env!r}; "
                             "set it to e.g. 2, or unset it to use every CPU this process may use")
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def get_num_threads() -> int:
    """Threads used by scratchcnn's own parallel loops (default: the CPUs this process may use, or
    ``$SCRATCHCNN_NUM_THREADS``). NumPy's BLAS has its own setting (threadpoolctl)."""
    global _num_threads
    if _num_threads is None:
        _num_threads = _default_threads()
    return _num_threads


def set_num_threads(n: int) -> None:
    """Use ``n`` >= 1 threads in scratchcnn's parallel loops (like ``torch.set_num_threads``)."""
    global _num_threads, _pool
    if int(n) < 1:
        raise ValueError(f"set_num_threads: expected a positive number of threads, got {n}")
    with _lock:
        _num_threads = int(n)
        if _pool is not None:
            _pool.shutdown(wait=False)
            _pool = None


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None or _pool._max_workers < workers:  # noqa: SLF001 - grow lazily
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scratchcnn")
        return _pool


def parallel_for(fn: Callable[[int, int], None], n: int, work: int | None = None) -> None:
    """Call ``fn(lo, hi)`` over contiguous parts covering ``range(n)``, in parallel when it pays.

    ``work`` is the total element count the call touches (default ``n``): with fewer than
    ``MIN_PARALLEL_ELEMENTS`` or one thread, ``fn(0, n)`` runs directly. Parts must write disjoint memory.
    Nested calls (from inside a part) run serially.
    """
    threads = min(get_num_threads(), n)
    if threads <= 1 or (work if work is not None else n) < MIN_PARALLEL_ELEMENTS or getattr(_local, "inside", False):
        fn(0, n)
        return
    bounds = [n * i // threads for i in range(threads + 1)]
    pool = _executor(threads - 1)

    def part(lo: int, hi: int) -> None:
        _local.inside = True
        try:
            fn(lo, hi)
        finally:
            _local.inside = False

    futures = [pool.submit(part, bounds[i], bounds[i + 1]) for i in range(1, threads)]
    try:
        part(bounds[0], bounds[1])
    finally:
        for f in futures:
            f.result()


def cores_free() -> bool:
    """Whether a parallel loop started here would run on several cores: more than one thread, and not called from
    inside a part of another parallel loop (such as a split training step's part), where loops run serially."""
    return get_num_threads() > 1 and not getattr(_local, "inside", False)


def map_rows(fn: Callable[..., None], out, *inputs) -> None:
    """Run ``fn(*[a[lo:hi] for a in inputs], out=out[lo:hi])`` over parts of axis 0 in parallel.

    Inputs must have ``out``'s leading dimension (or be scalars / shorter-rank arrays, passed whole); 0-d
    outputs, outputs below ``MIN_PARALLEL_ELEMENTS`` and single-thread runs call ``fn`` once, directly."""
    if out.ndim == 0 or out.size < MIN_PARALLEL_ELEMENTS or get_num_threads() <= 1:
        fn(*inputs, out=out)              # small: no parts (saves the closure and slicing per call)
        return
    n = out.shape[0]

    def part(lo: int, hi: int) -> None:
        fn(*[a[lo:hi] if getattr(a, "ndim", 0) == out.ndim else a for a in inputs], out=out[lo:hi])
    parallel_for(part, n, out.size)


def run_blocks(fn: Callable[[int, int], None], blocks: int, work: int) -> None:
    """``fn(a, b)`` over parts of ``range(blocks)`` on all cores, each part's GEMMs on one BLAS thread (blocks of
    GEMM work whose parts write disjoint memory); ``fn(0, blocks)`` when it does not pay (see ``parallel_for``)."""
    if blocks > 1 and get_num_threads() > 1 and work >= MIN_PARALLEL_ELEMENTS:
        with one_blas_thread():
            parallel_for(fn, blocks, work)
    else:
        fn(0, blocks)


def balanced_step(count: int, step: int) -> int:
    """A block size <= ``step`` for ``count`` items whose number of blocks is a multiple of the thread count, so
    that ``run_blocks`` gives every core the same work (64 sentences in blocks of 9 are 8 blocks, 36 sentences on
    one core and 28 on the other; in blocks of 8, 32 each)."""
    blocks = -(-count // max(1, step))
    threads = get_num_threads()
    if blocks <= 1 or threads <= 1:
        return step
    blocks = -(-blocks // threads) * threads
    return max(1, -(-count // blocks))


__all__ += ["map_rows", "run_blocks", "balanced_step", "cores_free"]


def one_blas_thread():
    """Context limiting NumPy's BLAS to one thread per call, for GEMMs issued from several threads at once (each
    part of a parallel loop is one core); a no-op without threadpoolctl. The limit is process-wide while it holds."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
            _blas = ThreadpoolController()
        except ImportError:     # pragma: no cover - threadpoolctl is a dependency (imported here, lazily)
            _blas = False
    return _blas.limit(limits=1, user_api="blas") if _blas else nullcontext()
