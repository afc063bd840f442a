"""Checkpoints: a directory with ``model.safetensors`` (the state dict, PyTorch names) and ``meta.json``.

Saving is atomic: both files are written and fsynced in a temporary sibling directory that is then renamed to the
target, so a crash never leaves half a checkpoint; weights with NaN/inf are refused. Loading first restores a
version a crash left aside (``io.atomic.recover_directory``), validates both files (the weights against the
SHA-256 that ``meta.json`` must record) and the values (finite floats) and reports any damage as one line,
``checkpoint DIR is damaged: ...``. No pickle is involved anywhere.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import platform
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .atomic import atomic_directory, recover_directory

__all__ = ["FORMAT_VERSION", "WEIGHTS_FILE", "META_FILE", "CheckpointError", "save_checkpoint",
           "load_checkpoint", "read_meta", "file_sha256", "to_jsonable", "count_nonfinite", "pickle_kind",
           "pickle_refusal", "check_safetensors", "decode_safetensors"]

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
META_FILE = "meta.json"
_MAX_HEADER = 100 * 1024 * 1024
_READ_TRIES = 5  # reads of a checkpoint that a concurrent save replaced meanwhile, before giving up
_NOT_NUMPY = ("BF16", "F8_E5M2", "F8_E4M3")  # safetensors dtypes NumPy has no type for
_ST_SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
             "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


class CheckpointError(ValueError):
    """A checkpoint is missing, damaged or of an unsupported format (the message is one line)."""


_PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def pickle_kind(path: str | os.PathLike, head: bytes) -> str | None:
    """What pickle-based format a file is (from its first bytes ``head`` and its name), or None: a zip archive
    (``torch.save``'s format), a pickle (protocol 2+, also ``torch.save``'s legacy format) or a PyTorch-named
    file."""
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (torch.save's format)"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "a pickle file"
    if Path(path).suffix.lower() in _PICKLE_SUFFIXES:
        return f"a {Path(path).suffix} file"
    return None


def pickle_refusal(path: str | os.PathLike, kind: str) -> str:
    """One line refusing the pickle-based file ``path`` (``kind`` from ``pickle_kind``): why, and how to convert."""
    return (f"{path} is {kind}: scratchcnn loads no pickle-based format (unpickling a file can run arbitrary "
            f"code). Convert it once in PyTorch: safetensors.torch.save_file(torch.load({os.fspath(path)!r}, "
            "weights_only=True), 'model.safetensors'), then load it with "
            "scratchcnn.io.load_torch_state_dict(model, 'model.safetensors')")


def _file_head(path: Path, n: int = 8) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def to_jsonable(obj: Any, where: str = "meta") -> Any:
    """Convert ``obj`` to plain JSON types: NumPy scalars/arrays, tuples and paths are converted; NaN/inf
    become None (strict JSON has no such numbers). Raises TypeError naming the offending key."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, np.bool_):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), where)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: keys must be strings, got {k!r}")
            out[k] = to_jsonable(v, f"{where}[{k!r}]")
        return out
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    raise TypeError(f"{where}: {type(obj).__name__} is not JSON-serialisable")


def count_nonfinite(arr: np.ndarray) -> int:
    """How many NaN/inf values a float array holds (0 for other dtypes)."""
    if arr.dtype.kind not in "fc":
        return 0
    return int(arr.size - np.count_nonzero(np.isfinite(arr)))


def _as_arrays(state_dict: Mapping[str, Any]) -> dict[str, np.ndarray]:
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"save_checkpoint: state_dict must be a dict of arrays, got {type(state_dict).__name__}")
    out = {}
    for k, v in state_dict.items():
        if not isinstance(k, str) or not k:
            raise TypeError(f"save_checkpoint: tensor names must be non-empty strings, got {k!r}")
        arr = np.asarray(getattr(v, "data", v) if not isinstance(v, np.ndarray) else v)
        if arr.dtype.kind not in "biuf" or (arr.dtype.kind == "f" and arr.dtype.itemsize > 8):
            raise TypeError(f"save_checkpoint: tensor {k!r} has unsupported dtype {arr.dtype} (safetensors holds "
                            "bool, integers and float16/32/64)")
        bad = count_nonfinite(arr)
        if bad:
            raise ValueError(f"save_checkpoint: tensor {k!r} has {bad} non-finite values (NaN/inf); refusing to "
                             "save damaged weights")
        out[k] = arr if arr.flags.c_contiguous else arr.copy(order="C")  # (ascontiguousarray makes 0-d 1-d)
    return out


def _versions() -> dict[str, str]:
    from .. import __version__

    return {"scratchcnn": __version__, "numpy": np.__version__, "python": platform.python_version()}


def save_checkpoint(directory: str | os.PathLike, state_dict: Mapping[str, Any],
                    meta: Mapping[str, Any] | None = None, overwrite: bool = True) -> Path:
    """Write ``directory/model.safetensors`` and ``directory/meta.json`` atomically.

    Args:
        directory: the checkpoint folder (created; replaced as a whole if it exists and ``overwrite``).
        state_dict: tensor name (PyTorch ``state_dict`` names) -> array (or Tensor); float values must be finite
            (a ValueError names the first tensor holding NaN/inf, and nothing is written).
        meta: JSON-able information (model name and config, classes, normalisation, metrics, ...). The library
            adds ``format_version``, ``created`` (UTC, ISO 8601), ``versions`` and ``weights`` (file, SHA-256,
            tensor names in order, parameter count), overriding keys of those names.
    Returns:
        the checkpoint directory.
    """
    from safetensors.numpy import save as st_save  # lazy

    arrays = _as_arrays(state_dict)
    info = to_jsonable(dict(meta or {}))
    blob = st_save(arrays, metadata={"format": "pt"})
    info.update({
        "format_version": FORMAT_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
        "weights": {"file": WEIGHTS_FILE, "sha256": hashlib.sha256(blob).hexdigest(),
                    "tensors": list(arrays), "num_elements": int(sum(a.size for a in arrays.values()))},
    })
    text = json.dumps(info, indent=2, allow_nan=False) + "\n"
    directory = Path(directory)
    with atomic_directory(directory, overwrite=overwrite) as tmp:
        (tmp / WEIGHTS_FILE).write_bytes(blob)
        (tmp / META_FILE).write_text(text, encoding="utf-8")
    return directory


def _damaged(directory: Path, what: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {directory} is damaged: {what}")


def _checkpoint_dir(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not os.path.lexists(p):  # a crash between the two renames of a save may have left the old version aside
        if not recover_directory(p) and p.name in (WEIGHTS_FILE, META_FILE):
            recover_directory(p.parent)
    if p.is_file() and p.name in (WEIGHTS_FILE, META_FILE):
        p = p.parent
    if not p.exists():
        raise CheckpointError(f"checkpoint {p} does not exist")
    if not p.is_dir():
        kind = pickle_kind(p, _file_head(p))
        if kind:
            raise CheckpointError(pickle_refusal(p, kind))
        if p.suffix == ".safetensors":
            raise CheckpointError(f"{p} is a bare safetensors file, not a checkpoint folder ({WEIGHTS_FILE} + "
                                  f"{META_FILE}); load its tensors into a model with "
                                  "scratchcnn.io.load_torch_state_dict(model, path)")
        raise CheckpointError(f"checkpoint {p} is not a directory (expected a folder with {WEIGHTS_FILE} "
                              f"and {META_FILE})")
    return p


def read_meta(path: str | os.PathLike) -> dict:
    """The validated ``meta.json`` of a checkpoint (``path``: the folder, or one of its two files)."""
    d = _checkpoint_dir(path)
    f = d / META_FILE
    if not f.is_file():
        if not (d / WEIGHTS_FILE).exists():     # neither file: some other folder, not a damaged checkpoint
            raise CheckpointError(f"{d} is not a checkpoint folder (no {META_FILE} or {WEIGHTS_FILE} in it); give "
                                  "a checkpoint folder or a run folder with best/")
        raise _damaged(d, f"{META_FILE} is missing")
    try:
        meta = json.loads(f.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise _damaged(d, f"{META_FILE} is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise _damaged(d, f"{META_FILE} is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    if not isinstance(meta, dict):
        raise _damaged(d, f"{META_FILE} should hold a JSON object, holds {type(meta).__name__}")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _damaged(d, f"{META_FILE} has no integer format_version")
    if version < 1:
        raise _damaged(d, f"{META_FILE} has format_version {version}; versions start at 1")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {d} has format version {version}, newer than this scratchcnn "
                              f"understands ({FORMAT_VERSION}); upgrade scratchcnn")
    return meta


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def check_safetensors(buf: bytes, name: str, fail: Callable[[str], Exception]) -> None:
    """Validate the safetensors layout of ``buf`` (the bytes of file ``name``) before the library decodes it:
    the header length (a length beyond the file is refused before anything is allocated for it), the JSON
    header, each tensor's dtype, shape and offsets lying inside the data, nothing after the last tensor. Raises
    ``fail(what)`` with ``what`` starting with ``name``."""
    if len(buf) < 8:
        raise fail(f"{name} has {len(buf)} bytes, too short for a safetensors header")
    kind = pickle_kind("", buf[:8])
    if kind:
        raise fail(f"{name} is {kind}, not safetensors")
    n = int.from_bytes(buf[:8], "little")
    if n == 0 or n > min(len(buf) - 8, _MAX_HEADER):
        raise fail(f"{name} declares a {n}-byte header but the file has {len(buf)} bytes "
                   "(truncated or not a safetensors file)")
    try:
        header = json.loads(buf[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise fail(f"{name} has an unreadable header (not a safetensors file?)") from None
    if not isinstance(header, dict):
        raise fail(f"{name} header is not a JSON object")
    data_len = len(buf) - 8 - n
    end = 0
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        try:
            dtype, shape, (a, b) = entry["dtype"], entry["shape"], entry["data_offsets"]
            if not (isinstance(shape, list) and all(_is_count(s) for s in shape) and _is_count(a) and _is_count(b)):
                raise ValueError
            size = _ST_SIZES[dtype] * math.prod(shape)
        except (KeyError, TypeError, ValueError):
            raise fail(f"{name} has a malformed header entry for tensor {key!r}") from None
        if not (a <= b <= data_len) or b - a != size:
            raise fail(f"{name}: tensor {key!r} lies outside the file's data "
                       f"(offsets {a}..{b}, data {data_len} bytes; truncated?)")
        if dtype in _NOT_NUMPY:
            raise fail(f"{name}: tensor {key!r} has dtype {dtype}, which NumPy (and so scratchcnn) has no type for; "
                       "save it as float32 (in PyTorch: {k: v.float() for k, v in state.items()})")
        end = max(end, b)
    if end != data_len:
        raise fail(f"{name} has {data_len - end} bytes not belonging to any tensor")


def decode_safetensors(buf: bytes, name: str, fail: Callable[[str], Exception]) -> dict[str, np.ndarray]:
    """The tensors of safetensors bytes ``buf`` (file ``name``) as writable arrays, in the file's order, after
    ``check_safetensors``; any damage raises ``fail(what)``."""
    from safetensors.numpy import load as st_load  # lazy

    check_safetensors(buf, name, fail)
    try:
        return st_load(buf)
    except Exception as e:
        raise fail(f"{name} cannot be decoded ({str(e).splitlines()[0] if str(e) else e!r})") from None


def _identity(d: Path) -> tuple:
    """What changes when a save swaps another version of folder ``d`` in (its inode, its ctime)."""
    try:
        st = os.stat(d)
    except OSError:
        return ()
    return st.st_dev, st.st_ino, st.st_ctime_ns


def _read_both(path: str | os.PathLike) -> tuple[Path, dict, bytes | None]:
    """``(folder, meta, weights bytes or None)`` read from one version of the folder: a save that replaced the
    folder between the two reads makes it read both again (so a reader never pairs one version's meta.json with
    another's weights)."""
    for _ in range(_READ_TRIES):
        d = _checkpoint_dir(path)
        before = _identity(d)
        meta = read_meta(d)
        try:
            buf: bytes | None = (d / WEIGHTS_FILE).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            buf = None
        if _identity(d) == before:
            break
    return d, meta, buf


def _verify_weights(d: Path, meta: dict, buf: bytes) -> None:
    """The weights file's bytes ``buf`` must have the SHA-256 that ``meta.json`` records (``weights.sha256``); a
    meta.json without it is damaged too (the weights could not be checked)."""
    weights = meta.get("weights")
    if not isinstance(weights, dict):
        raise _damaged(d, f"{META_FILE} has no field weights (the SHA-256 of {WEIGHTS_FILE}, to check it against)"
                       if weights is None else f"{META_FILE} field weights should be an object, is "
                       f"{type(weights).__name__}")
    want = weights.get("sha256")
    if not isinstance(want, str) or len(want) != 64:
        raise _damaged(d, f"{META_FILE} field weights.sha256 " + ("is missing" if want is None else
                                                                  "is not a SHA-256 (64 hex digits)")
                       + f" (the SHA-256 of {WEIGHTS_FILE}, to check it against)")
    if hashlib.sha256(buf).hexdigest() != want.lower():
        raise _damaged(d, f"{WEIGHTS_FILE} does not match the SHA-256 recorded in {META_FILE} "
                          "(modified or corrupted after saving)")


def load_checkpoint(path: str | os.PathLike, verify: bool = True,
                    allow_nonfinite: bool = False) -> tuple[dict[str, np.ndarray], dict]:
    """Load a checkpoint saved by ``save_checkpoint``.

    Args:
        path: the checkpoint folder (or one of its two files).
        verify: compare the weights file with the SHA-256 recorded in ``meta.json`` (``weights.sha256``, which
            must be there).
        allow_nonfinite: accept float tensors holding NaN/inf (by default they make the checkpoint damaged).
    Returns:
        ``(state_dict, meta)``: tensor name -> writable ndarray, in the order saved; the parsed ``meta.json``.
    Raises:
        CheckpointError (a ValueError): missing folder/file, damaged or inconsistent content, a pickle/PyTorch
        ``.pt`` file (not loaded; the message says how to convert it).
    """
    d, meta, buf = _read_both(path)
    if buf is None:
        raise _damaged(d, f"{WEIGHTS_FILE} is missing")
    weights = meta.get("weights") if isinstance(meta.get("weights"), dict) else {}
    if verify:
        _verify_weights(d, meta, buf)
    state = decode_safetensors(buf, WEIGHTS_FILE, lambda what: _damaged(d, what))
    order = weights.get("tensors")
    if isinstance(order, list) and all(isinstance(k, str) for k in order) and sorted(order) == sorted(state):
        state = {k: state[k] for k in order}
    if not allow_nonfinite:
        for k, arr in state.items():
            bad = count_nonfinite(arr)
            if bad:
                raise _damaged(d, f"{k} has {bad} non-finite values")
    return state, meta
