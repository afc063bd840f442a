"""Which registered dataset's file a file is, from a cheap fingerprint of its content.

Every registered dataset uses the same four IDX file names, so a folder's or a file's name is no proof of what it
holds. The registry records, per file, the CRC-32 and length of the decompressed content; a gzip file's last 8 bytes
hold exactly those, so identifying a ``.gz`` file reads 8 bytes, and an uncompressed one costs one CRC pass (about
12 ms for MNIST's 47 MB of training images, cached per path and modification time). Re-compressed and uncompressed
copies are recognised alike. Files that no registered dataset has (custom data in the IDX layout) are unknown, and
unknown is never an error. This identifies data; it does not check integrity (the loader and ``verify`` do).
"""
from __future__ import annotations

import functools
import hashlib
import os
import struct
import zlib
from pathlib import Path

from .idx import GZIP_MAGIC
from .registry import IDX_FILES, DatasetInfo, available_datasets, get_info

__all__ = ["resolve_file", "is_gzip", "identify_file", "identify", "identities", "foreign_note"]


def resolve_file(folder: Path, file_name: str) -> Path | None:
    """``folder/file_name`` if present, else its uncompressed twin (name without ``.gz``), else None."""
    p = folder / file_name
    if p.is_file():
        return p
    if file_name.endswith(".gz"):
        raw = folder / file_name[:-3]
        if raw.is_file():
            return raw
    return None


def is_gzip(path: Path) -> bool:
    """Whether ``path`` starts with the gzip magic bytes (whatever its name says)."""
    with path.open("rb") as f:
        return f.read(2) == GZIP_MAGIC


@functools.lru_cache(maxsize=64)
def _raw_crc32(path: str, mtime_ns: int, size: int) -> int:
    """CRC-32 of an uncompressed file (cached per path, modification time and size: lookups repeat)."""
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            crc = zlib.crc32(chunk, crc)
    return crc


def _fingerprint(path: Path) -> tuple[int, int] | None:
    """(CRC-32, length mod 2**32) of a file's decompressed bytes: a gzip file's last 8 bytes hold both; an
    uncompressed file of a registered length is read once. None when unreadable or of no registered length."""
    try:
        st = path.stat()
        if is_gzip(path):
            with path.open("rb") as f:
                f.seek(-8, os.SEEK_END)
                crc, size = struct.unpack("<II", f.read(8))
            return crc, size
        if st.st_size not in _known_sizes():
            return None
        return _raw_crc32(str(path), st.st_mtime_ns, st.st_size), st.st_size % 2**32
    except (OSError, struct.error):  # unreadable, or a "gzip" file shorter than its trailer: the loader says why
        return None


def _known_sizes() -> set[int]:
    return {f.content_size for n in available_datasets() for f in get_info(n).files if f.content_size is not None}


def identify_file(path: str | os.PathLike) -> tuple[str, str] | None:
    """``(dataset, registry file name)`` of the registered file whose content ``path`` holds, or None if unknown.

    Cheap: the registry's CRC-32 and length of each file's decompressed content (a ``.gz`` file's trailer, 8
    bytes), so re-compressed and uncompressed copies are recognised too; a dataset without them in the registry
    (kmnist) is recognised by its official ``.gz`` MD5. This identifies data, it does not check integrity: the
    loader (gzip's own CRC, the IDX checks) and ``verify`` do that.
    """
    path = Path(path)
    fp = _fingerprint(path)
    if fp is None:
        return None
    specs = [(n, f) for n in available_datasets() for f in get_info(n).files]
    for n, f in specs:
        if f.content_crc32 is not None and (f.content_crc32, f.content_size % 2**32) == fp:
            return n, f.name
    by_md5 = [(n, f) for n, f in specs if f.content_crc32 is None and f.md5 and f.content_size is not None
              and f.content_size % 2**32 == fp[1]]
    if by_md5 and is_gzip(path):
        try:
            md5 = hashlib.md5(path.read_bytes()).hexdigest()
        except OSError:
            return None
        return next(((n, f.name) for n, f in by_md5 if f.md5 == md5), None)
    return None


def identify(folder: str | os.PathLike) -> str | None:
    """The registered dataset whose files ``folder`` holds (``identify_file`` of each), or None when none of them
    is recognised or they come from several datasets.

    Every registered dataset uses the same four file names, so a folder's name is no proof of what it holds.
    """
    names = {ident[0] for ident in identities(Path(folder)).values() if ident is not None}
    return names.pop() if len(names) == 1 else None


def identities(folder: Path) -> dict[str, tuple[str, str] | None]:
    """Name of each IDX file present in ``folder`` (as stored: ``.gz`` or not) -> ``identify_file`` of it."""
    out = {}
    for file_name in IDX_FILES["train"] + IDX_FILES["test"]:
        path = resolve_file(folder, file_name)
        if path is not None:
            out[path.name] = identify_file(path)
    return out


def foreign_note(info: DatasetInfo, folder: Path) -> str | None:
    """What ``folder`` holds instead of ``info``'s files (files recognised as another dataset's, or as another of
    ``info``'s files), e.g. ``F holds the fashion-mnist files, not mnist``; None when nothing is out of place.
    Unrecognised files (custom data) are never out of place."""
    idents = identities(folder)
    odd = {stored: ident for stored, ident in idents.items()
           if ident is not None and ident != (info.name, _registry_name(stored))}
    if not odd:
        return None
    others = {d for d, _ in odd.values()}
    own = any(ident is not None and ident[0] == info.name for ident in idents.values())
    if len(others) == 1 and not own and all(f == _registry_name(s) for s, (_, f) in odd.items()):
        return f"{folder} holds the {others.pop()} files, not {info.name}"
    groups: dict[str, list[str]] = {}   # another dataset -> its files here under their own names
    swapped = []                        # a file under another file's name
    for s, (d, f) in odd.items():
        if f == _registry_name(s):
            groups.setdefault(d, []).append(s)
        else:
            swapped.append(f"{s} is {d}'s {f}")
    parts = [f"{', '.join(ss)} {'is' if len(ss) == 1 else 'are'} {d}'s" for d, ss in groups.items()] + swapped
    return f"{folder} mixes up files: {'; '.join(parts)} (not {info.name}'s own)"


def _registry_name(stored: str) -> str:
    """The registry's (``.gz``) name of a file stored as ``stored`` (the same, or without ``.gz``)."""
    return stored if stored.endswith(".gz") else stored + ".gz"
