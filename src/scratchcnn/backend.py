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
