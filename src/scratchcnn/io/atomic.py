"""Atomic file and directory writes: write to a temporary sibling, fsync, rename into place.

A reader (or a crash) sees either the old content or the new one, never half a file. Temporary names start with
a dot and live in the target's own folder, so the final ``os.replace`` never crosses file systems.

Replacing a directory swaps the new one in with one ``renameat2(RENAME_EXCHANGE)`` on Linux. Where that is not
available it takes two renames (old aside as ``.NAME.<id>.old``, new in); a crash between them leaves no
``NAME``, and ``recover_directory`` (called by the readers) moves the old version back. ``remove_stale_siblings``
deletes what interrupted saves left (``.NAME.<id>.tmp`` / ``.old``).

A target that is a symbolic link is written through: the link stays and what it points to is replaced (as
``open(path, "w")`` would), so a checkpoint folder or log kept elsewhere through a link stays there.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any, Iterator

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_directory", "fsync_dir", "exchange_paths",
           "recover_directory", "remove_stale_siblings"]

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
# EINVAL: file system without RENAME_EXCHANGE; ENOSYS: old kernel; EPERM: a seccomp filter refusing the call
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EPERM}
_renameat2: Any = None  # the libc function once looked up, False where there is none


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a directory entry to disk (makes renames durable); a no-op where directories cannot be opened."""
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    """The process umask (read from /proc where possible; ``os.umask`` can only be read by setting it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _through_link(path: str | os.PathLike) -> Path:
    """``path``, or what it points to when it is a symbolic link (so that writing replaces the target, not the
    link)."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _file_in_the_way(folder: Path) -> Path | None:
    """The innermost existing path at or above ``folder`` when it is not a folder (a file where a folder is
    needed), else None."""
    for p in (folder, *folder.parents):
        if os.path.lexists(p):
            return None if p.is_dir() else p
    return None


@contextlib.contextmanager
def _naming(target: Path) -> Iterator[None]:
    """Re-raise an OSError of making the target's folder or temporary sibling (read-only folder, full disk) as
    one naming the target the caller asked for, not the temporary name; a file standing where a folder has to
    be made is named as such."""
    try:
        yield
    except OSError as e:
        if e.errno is None:
            raise
        blocker = _file_in_the_way(target.parent) if e.errno in (errno.EEXIST, errno.ENOTDIR) else None
        if blocker is not None:
            what = "a link of that name leads to no folder" if blocker.is_symlink() else "a file of that name exists"
            exc = type(e)(f"cannot create folder {blocker}: {what} (to write {target})")
            exc.errno = e.errno
            raise exc from None
        raise type(e)(e.errno, f"cannot write {target}: {e.strerror} (in {target.parent})") from None


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, ``os.replace``; a symbolic link
    is written through). Returns ``path``."""
    given, path = Path(path), _through_link(path)
    with _naming(given):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with contextlib.suppress(OSError):  # mkstemp makes 0600; give the mode a plain open() would (umask)
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    return given


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see ``atomic_write_bytes``)."""
    return atomic_write_bytes(path, text.encode(encoding))


def _libc_renameat2() -> Any:
    """libc's ``renameat2`` via ctypes (looked up once), or None where there is none."""
    global _renameat2
    if _renameat2 is None:
        _renameat2 = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes
                fn = ctypes.CDLL(None, use_errno=True).renameat2
                fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
                fn.restype = ctypes.c_int
                _renameat2 = fn
            except (OSError, AttributeError):  # no libc found, or a libc without renameat2 (glibc < 2.28)
                pass
    return _renameat2 or None


def exchange_paths(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Swap two existing paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns False, touching nothing, where the OS, libc or file system cannot (the caller falls back);
    raises OSError for real failures (a path missing, no permission).
    """
    fn = _libc_renameat2()
    if fn is None:
        return False
    import ctypes
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in _UNSUPPORTED:
        return False
    raise OSError(err, os.strerror(err), os.fspath(a), None, os.fspath(b))


def _siblings(path: Path, kind: str) -> list[Path]:
    """``.NAME.<id>.<kind>`` entries next to ``path`` (left by atomic writes), newest first."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[A-Za-z0-9_]+\.{kind}\Z")
    try:
        found = [p for p in path.parent.iterdir() if pattern.match(p.name)]
    except OSError:
        return []

    def mtime(p: Path) -> float:
        try:
            return p.lstat().st_mtime
        except OSError:
            return 0.0

    return sorted(found, key=mtime, reverse=True)


def recover_directory(path: str | os.PathLike) -> bool:
    """When ``path`` is missing but a save was interrupted between its two renames, move the previous version
    (``.NAME.<id>.old``, a complete directory) back to ``path``. Returns True when it did."""
    path = Path(path)
    if os.path.lexists(path):
        return False
    for old in _siblings(path, "old"):
        if old.is_dir() and not old.is_symlink():
            try:
                os.rename(old, path)
            except OSError:  # read-only folder, or another reader was faster
                return path.is_dir()
            fsync_dir(path.parent)
            return True
    return False


def remove_stale_siblings(path: str | os.PathLike) -> list[Path]:
    """Delete the ``.NAME.<id>.tmp`` / ``.NAME.<id>.old`` leftovers of interrupted saves of ``path`` (after
    restoring an ``.old`` when ``path`` is missing); returns what was removed. Only while nobody else is saving
    ``path``: a save in progress is such a leftover too."""
    path = Path(path)
    recover_directory(path)
    removed = []
    for p in _siblings(path, "tmp") + _siblings(path, "old"):
        if p.name.endswith(".old") and not path.exists():
            continue  # never delete the only complete version
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()
        if not os.path.lexists(p):
            removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Build a directory under a temporary name and move it to ``path`` only if the block succeeds.

    Yields the temporary directory to fill. On an exception it is removed and ``path`` is left as it was.
    With ``overwrite`` an existing ``path`` is replaced: swapped with the new one in one step where the system
    can (``exchange_paths``), else moved aside first; the old version is deleted once the new one is in place,
    and so are the leftovers of earlier interrupted saves of ``path``. A symbolic link is written through.
    """
    path = _through_link(path)
    recover_directory(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"cannot write directory {path}: a file with that name exists")
    if path.exists() and not overwrite:
        raise ValueError(f"cannot write directory {path}: it already exists (choose another name or remove it)")
    with _naming(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    old: Path | None = None
    try:
        with contextlib.suppress(OSError):  # mkdtemp makes 0700; give the mode a plain mkdir would (umask)
            os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        for child in tmp.iterdir():
            if child.is_file():
                with open(child, "rb") as f:
                    os.fsync(f.fileno())
        fsync_dir(tmp)
        if path.exists() and exchange_paths(tmp, path):
            old = tmp  # swapped in one atomic step: tmp now holds the previous version
        else:
            if path.exists():
                old = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.old"
                os.replace(path, old)
            # a crash right here leaves no `path`; readers move `old` back (recover_directory)
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not path.exists():
            os.replace(old, path)  # put the previous version back
        raise
    fsync_dir(path.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    remove_stale_siblings(path)
