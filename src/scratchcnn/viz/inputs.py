"""Reading the small matrices that ``explain`` works on: inline JSON, ``.json``/``.npy`` files or images.

Every problem (ragged rows, text where a number should be, NaN, an unreadable file) is a one-line
``ValueError`` that says which argument was wrong, what was expected and what came.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .kernels import KERNELS, get_kernel

__all__ = ["matrix_from_nested", "load_matrix", "load_kernel", "load_gray_image", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def matrix_from_nested(rows: Any, what: str = "matrix") -> np.ndarray:
    """A nested list (list of rows of numbers) as a float64 (H, W) array, checked element by element.

    Raises ValueError for a non-list, a 1-D list, ragged rows, an empty matrix, non-numeric or non-finite values.
    """
    if isinstance(rows, np.ndarray):
        rows = rows.tolist()
    if not isinstance(rows, (list, tuple)):
        raise ValueError(f"{what}: expected a 2-D matrix (a list of rows of numbers), got {type(rows).__name__} "
                         f"{_short(rows)}")
    if not rows:
        raise ValueError(f"{what}: the matrix is empty (expected at least one row of numbers)")
    if not all(isinstance(r, (list, tuple)) for r in rows):
        if all(_is_number(r) for r in rows):
            raise ValueError(f"{what}: expected a 2-D matrix (a list of rows), got a flat list {_short(rows)}; "
                             f"write one row as [[...]]")
        bad = next(i for i, r in enumerate(rows) if not isinstance(r, (list, tuple)))
        raise ValueError(f"{what}: row {bad} is {_short(rows[bad])}, not a list of numbers")
    width = len(rows[0])
    if width == 0:
        raise ValueError(f"{what}: row 0 is empty (expected numbers)")
    for i, r in enumerate(rows):
        if len(r) != width:
            raise ValueError(f"{what}: ragged matrix: row {i} has {len(r)} value(s) but row 0 has {width} "
                             "(all rows must have the same length)")
        for j, v in enumerate(r):
            if not _is_number(v):
                raise ValueError(f"{what}: non-numeric value {_short(v)} at row {i}, column {j} "
                                 "(expected a number)")
            if not math.isfinite(float(v)):
                raise ValueError(f"{what}: value {v} at row {i}, column {j} is not finite")
    return np.array(rows, dtype=np.float64)


def _short(v: Any, n: int = 40) -> str:
    s = json.dumps(v) if isinstance(v, (list, tuple, dict, str)) or v is None else repr(v)
    return s if len(s) <= n else s[: n - 3] + "..."


def _from_array(a: np.ndarray, what: str, source: str) -> np.ndarray:
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{what}: {source} holds {a.dtype} values, expected numbers")
    a = np.asarray(a, dtype=np.float64)
    if a.ndim > 2:
        a = a.reshape([n for n in a.shape if n != 1] or [1])
    if a.ndim != 2:
        raise ValueError(f"{what}: {source} holds an array of shape {a.shape}, expected a 2-D matrix (H, W)")
    if a.size == 0:
        raise ValueError(f"{what}: {source} holds an empty matrix of shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{what}: {source} contains NaN or infinite values")
    return a


def load_gray_image(path: str | os.PathLike, scale: float = 255.0) -> np.ndarray:
    """An image file as a float64 (H, W) grayscale array in ``[0, scale]`` (Pillow's luminance, ``L`` mode; a
    16-bit or 32-bit integer image stretched to its maximum; a floating-point one read as 0..1 or 0..255).

    Raises a one-line ValueError naming the file when it does not exist or cannot be decoded.
    """
    from PIL import Image

    from ..data import open_image

    img = open_image(path)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        bg.alpha_composite(img)
        img = bg
    if img.mode == "F":    # floating point: 0..1 or 0..255 as predict reads it, else a one-line error
        from ..data.image_folder import _float01
        return _float01(np.asarray(img, dtype=np.float64), str(path)) * scale
    if img.mode in ("I", "I;16", "I;16B", "I;16L"):
        arr = np.asarray(img, dtype=np.float64)
        top = arr.max() if arr.max() > 0 else 1.0
        return arr / top * scale
    return np.asarray(img.convert("L"), dtype=np.float64) * (scale / 255.0)


def load_matrix(spec: Any, what: str = "input") -> np.ndarray:
    """A 2-D float64 matrix from an array, a nested list, inline JSON text (``"[[1, 2], [3, 4]]"``), or a file:
    ``.json`` (a nested list), ``.npy`` (an array; unit axes are dropped) or an image (grayscale, 0..255).
    """
    if isinstance(spec, np.ndarray):
        return _from_array(spec, what, "the array")
    if isinstance(spec, (list, tuple)):
        return matrix_from_nested(spec, what)
    if not isinstance(spec, (str, os.PathLike)):
        raise ValueError(f"{what}: expected a matrix, a JSON string or a file path, got {type(spec).__name__}")
    text = os.fspath(spec).strip()
    if text.startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{what}: {_short(text)} is not valid JSON ({e.msg} at column {e.colno}); "
                             "expected a nested list like [[1, 2], [3, 4]]") from None
        return matrix_from_nested(rows, what)
    path = Path(text)
    if not path.is_file():
        raise ValueError(f"{what}: {text!r} is neither an existing file (.json, .npy or an image) nor a JSON "
                         "matrix like [[1, 2], [3, 4]]")
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise ValueError(f"{what}: {path} is not UTF-8 text (expected a JSON nested list)") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{what}: {path} is not valid JSON ({e.msg} at line {e.lineno}, "
                             f"column {e.colno})") from None
        return matrix_from_nested(rows, f"{what} ({path})")
    if suffix == ".npy":
        with open(path, "rb") as fh:
            if fh.read(6) != b"\x93NUMPY":     # else np.load would try pickle and blame "pickled data"
                raise ValueError(f"{what}: {path} is not a .npy file (no NumPy header; corrupt or another format): "
                                 "save the array with numpy.save")
        try:
            arr = np.load(path, allow_pickle=False)
        except Exception as e:  # bad magic, truncated, pickled objects
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ValueError(f"{what}: cannot read {path} as a .npy array: {reason}") from None
        return _from_array(np.asarray(arr), what, str(path))
    return load_gray_image(path)


def load_kernel(spec: Any, what: str = "kernel") -> np.ndarray:
    """A kernel by name (``identity``, ``edge``, ``sobel-x``, ... see ``kernels.kernel_names()``) or any matrix
    accepted by :func:`load_matrix`."""
    if isinstance(spec, str):
        key = spec.strip().lower().replace("_", "-")
        if key in KERNELS:
            return get_kernel(key)
        if not key.startswith("[") and not Path(spec).is_file():
            raise ValueError(f"{what}: {spec!r} is not a kernel name ({', '.join(KERNELS)}), a JSON matrix "
                             "like [[1, 0], [0, -1]] or an existing file")
    return load_matrix(spec, what)
