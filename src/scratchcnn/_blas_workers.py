"""OpenBLAS' idle worker threads, made to sleep at once when NumPy loaded OpenBLAS before ``import scratchcnn``.

After every multi-threaded GEMM, OpenBLAS' workers spin for ``2^OPENBLAS_THREAD_TIMEOUT`` cycles (default 2^28,
~0.1 s) waiting for more work. A spinning worker holds a core that scratchcnn's own parallel loops
(:mod:`scratchcnn.parallel`) need: measured here, 36 small GEMMs split over two cores right after a threaded GEMM
took 9.4 ms instead of 4.8, and a seed001 training step 15-25% longer. ``import scratchcnn`` sets
``OPENBLAS_THREAD_TIMEOUT=4`` when NumPy is not loaded yet; when it is (``import numpy`` came first), OpenBLAS has
already read its environment, so :func:`quiet_openblas_workers` sets the variable, has OpenBLAS read it again
(``openblas_read_env``) and stops its worker threads (``blas_thread_shutdown_``, what OpenBLAS does itself
before a fork); the next threaded call starts them again with the short timeout. The thread count is kept.
"""
from __future__ import annotations

import ctypes
import os


def quiet_openblas_workers() -> bool:
    """Apply ``OPENBLAS_THREAD_TIMEOUT=4`` to every OpenBLAS NumPy has loaded (see the module doc); True if one
    took it. Libraries without the two functions (other builds, MKL, BLIS) are left alone."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:          # pragma: no cover - threadpoolctl is a dependency
        return False
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = "4"
    done = False
    for info in threadpool_info():
        if info.get("internal_api") != "openblas":
            continue
        try:
            lib = ctypes.CDLL(info["filepath"])
            read_env, shutdown, timeout = lib.openblas_read_env, lib.blas_thread_shutdown_, lib.openblas_thread_timeout
        except (OSError, AttributeError):
            continue
        read_env()
        if timeout() == 4:
            shutdown()
            done = True
    return done
