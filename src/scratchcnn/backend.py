"""Array backend: the only module that knows which array library runs (NumPy today).

Everything else imports ``xp`` from here, so a CuPy backend would be a one-file change.
"""
from __future__ import annotations

import numpy as np

xp = np
"""The array module in use (NumPy)."""

_default_dtype = np.dtype(np.float32)

FloatDType = np.dtype


def get_default_dtype() -> np.dtype:
    """The floating dtype used for new tensors made from Python numbers/lists (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Set the default floating dtype (``float32`` or ``float64``)."""
    global _default_dtype
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"default dtype must be float32 or float64, got {dt}")
    _default_dtype = dt


def as_array(data, dtype=None) -> np.ndarray:
    """Convert ``data`` to an ndarray: floats keep float32/float64 (other floats -> default),
    Python floats/lists -> default dtype, integers and bools keep an integer/bool dtype."""
    if dtype is not None:
        return np.asarray(data, dtype=np.dtype(dtype))
    if isinstance(data, np.ndarray):
        if data.dtype.kind == "f" and data.dtype not in (np.float32, np.float64):
            return data.astype(_default_dtype)
        return data
    arr = np.asarray(data)
    if arr.dtype.kind == "f":
        return arr.astype(_default_dtype, copy=False)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    return arr


def tune_malloc() -> bool:
    """Ask glibc to keep freed memory for reuse instead of returning it to the OS after every large array.

    Training allocates and frees the same large temporaries every step; by default glibc serves them with
    mmap/munmap, so each step pays page faults again (on some VMs that is most of a small CNN's step time). This
    sets M_MMAP_THRESHOLD to 1 GiB and M_TRIM_THRESHOLD to 2 GiB for the whole process: the process keeps its peak
    heap. Applications call it (the CLI and benchmarks do); ``import scratchcnn`` never does. Returns True when
    applied (Linux/glibc), False elsewhere. Opt out with ``SCRATCHCNN_NO_MALLOC_TUNING=1``.
    """
    import ctypes
    import ctypes.util
    import os
    import sys

    if not sys.platform.startswith("linux") or os.environ.get("SCRATCHCNN_NO_MALLOC_TUNING"):
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 1 << 30) and libc.mallopt(m_trim_threshold, 1 << 31))
    except (OSError, AttributeError):
        return False
