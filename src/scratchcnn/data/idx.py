"""IDX files (the MNIST family's format), gzip-compressed or raw, read with full validation.

Layout: a 4-byte magic number ``0x00 0x00 <type code> <ndim>``, then ``ndim`` big-endian uint32 sizes, then the
values in C order, big-endian. Type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
0x0E float64. A file that breaks any rule raises a one-line ``ValueError`` naming the file and the fault.
"""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "parse_idx", "write_idx", "IDX_TYPES"]

IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("=").str[1:]: code for code, dt in IDX_TYPES.items()}  # "u1" -> 0x08, ...

_FIX = "delete it and download it again"
GZIP_MAGIC = b"\x1f\x8b"


def _fail(name: str, what: str) -> ValueError:
    return ValueError(f"IDX file {name} is damaged: {what}; {_FIX}")


def _decompress(raw: bytes, name: str) -> bytes:
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as e:  # BadGzipFile is an OSError
        raise _fail(name, f"the gzip data is truncated or corrupt ({e})") from None


def parse_idx(buf: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode the (already decompressed) bytes of an IDX file into a native-endian array of its shape."""
    if len(buf) < 4:
        raise _fail(name, f"only {len(buf)} bytes, too short for an IDX header")
    if buf[0] != 0 or buf[1] != 0:
        raise _fail(name, f"bad magic number 0x{buf[:4].hex()} (an IDX file starts with 0x0000)")
    code, ndim = buf[2], buf[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise _fail(name, f"unknown type code 0x{code:02X} (expected one of {known})")
    if ndim == 0:
        raise _fail(name, "the header says 0 dimensions")
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise _fail(name, f"truncated header: {ndim} dimensions need {header} bytes, the file has {len(buf)}")
    shape = tuple(int(d) for d in np.frombuffer(buf, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_TYPES[code]
    expected = dtype.itemsize
    for d in shape:  # Python ints: a damaged header's huge sizes must not wrap around in int64
        expected *= d
    got = len(buf) - header
    if got < expected:
        raise _fail(name, f"truncated: shape {shape} needs {expected} data bytes, found {got}")
    if got > expected:
        raise _fail(name, f"{got - expected} unexpected extra bytes after the data of shape {shape}")
    arr = np.frombuffer(buf, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))  # a writable, native-endian copy


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw, detected from its first bytes) into an array.

    Returns:
        an array of the file's shape and dtype (e.g. uint8 (60000, 28, 28) for MNIST training images).
    Raises:
        ValueError: the file is missing, not gzip although named ``.gz``, truncated or otherwise malformed.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"IDX file {path} is a folder, not a file: give the path of the IDX file itself "
                         "(e.g. train-images-idx3-ubyte.gz)")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"IDX file {path} does not exist") from None
    except OSError as e:
        raise ValueError(f"IDX file {path} cannot be read: {e.strerror or e}") from None
    if raw[:2] == GZIP_MAGIC:
        raw = _decompress(raw, str(path))
    elif path.suffix == ".gz":   # strict: a name that lies about the content is an error (verify says "misnamed")
        raise ValueError(f"IDX file {path} is named .gz but is not gzip-compressed: if it holds the uncompressed "
                         f"data (`scratchcnn datasets verify` tells), rename it to {path.name[:-3]} (or compress it "
                         f"with gzip); otherwise {_FIX}")
    return parse_idx(raw, str(path))


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes (uncompressed) of ``array``."""
    arr = np.asarray(array)
    key = arr.dtype.newbyteorder("=").str[1:] if arr.dtype.kind in "uif" else arr.dtype.str
    if key not in _CODES:
        raise TypeError(f"write_idx: dtype {arr.dtype} has no IDX type code "
                        "(expected uint8, int8, int16, int32, float32 or float64)")
    if arr.ndim == 0 or arr.ndim > 255:
        raise ValueError(f"write_idx: expected 1 to 255 dimensions, got {arr.ndim}")
    code = _CODES[key]
    head = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    return head + np.ascontiguousarray(arr, dtype=IDX_TYPES[code]).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed when ``compress`` (default: when the name ends in .gz)."""
    from ..io.atomic import atomic_write_bytes

    path = Path(path)
    data = encode_idx(array)
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    return atomic_write_bytes(path, data)
