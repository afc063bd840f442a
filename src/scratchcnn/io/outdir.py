"""Take back what a failed run wrote into its output folder.

``with OutputGuard(out, snapshot="last"): ...`` notes what ``out`` holds on entry. When the block fails it deletes
every entry added to ``out`` since, ``out`` itself when it did not exist, and the then empty parent folders made
for it; entries that were there before are left alone. Two failures are interruptions, not failures, and keep
what the run wrote so that ``--resume`` can continue it, but only once the run has written its resumable
``snapshot`` folder: ``KeyboardInterrupt`` (Ctrl-C, SIGTERM) and an ``OSError`` (a full disk, an I/O error).
Before that (and always for a run without a snapshot) they take back what the run wrote like any failure.

Used by ``scratchcnn train``, ``train-text`` and ``finetune`` for new runs only: a resumed run's folder is the
run's own and is never deleted. The checks before a new run: ``check_output_folder`` (no file in the way),
``check_new_output_folder`` (a non-empty folder only with ``--overwrite``), ``make_output_folder`` (made and
writable); ``write_error`` turns an ``OSError`` of writing the run (a full disk) into one line naming the folder,
and ``write_fix`` says what to do before going on in it.
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Callable

__all__ = ["OutputGuard", "check_output_folder", "check_new_output_folder", "make_output_folder", "write_error",
           "write_fix"]

_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
# errors of writing (never of reading a dataset file outside the run folder, see ``write_error``)
_CANNOT_WRITE = _NO_SPACE | {errno.EROFS, errno.EACCES, errno.EPERM}


def check_output_folder(path: str | os.PathLike, verb: str) -> None:
    """Refuse, before any work, an output folder that cannot be made because a file stands at it or above it."""
    from .atomic import _file_in_the_way
    blocker = _file_in_the_way(Path(path))
    if blocker is not None:
        raise ValueError(f"{verb}: cannot create the output folder {path}: {blocker} is a file, not a folder; "
                         "choose another --out")


def check_new_output_folder(path: str | os.PathLike, verb: str, overwrite: bool = False) -> None:
    """Refuse a new run's output folder that already holds something, unless ``overwrite`` (``finetune``'s rule):
    the run's best/, history.json, curves.png ... would replace what is there or mix with it."""
    path = Path(path)
    if not path.is_dir() or not _entries(path):
        return
    if not overwrite:
        raise ValueError(f"{verb}: output folder {path} already exists and is not empty; choose another --out, or "
                         "pass --overwrite to replace what it holds")
    why = _not_to_replace(path)
    if why:
        raise ValueError(f"{verb}: --overwrite would delete everything in {path} ({why}); give the run a folder of "
                         "its own as --out")


def _not_to_replace(path: Path) -> str | None:
    """Why ``--overwrite`` must not empty ``path``: it holds the working folder or the home folder (``--out .``,
    ``--out ~``) or is a git checkout; None for an ordinary output folder."""
    where = path.resolve()
    for name, get in (("the current folder", Path.cwd), ("your home folder", Path.home)):
        try:
            inside = get().resolve()
        except (OSError, RuntimeError, KeyError):    # no working folder any more, or no home known
            continue
        if inside == where or where in inside.parents:
            return f"it is or holds {name}, {inside}" if inside != where else f"it is {name}"
    if (path / ".git").exists():
        return "it is a git checkout"
    return None


def _remedy(err: int | None) -> str:
    return "free some space or choose another --out" if err in _NO_SPACE else "choose another --out"


def write_fix(err: int | None) -> str:
    """What a run that stopped on an error of writing (errno ``err``) can do before it goes on in the same folder:
    free some space (a full disk or quota, a file too large) or make the folder writable."""
    return "free some space" if err in _NO_SPACE else "make the folder writable"


def make_output_folder(path: str | os.PathLike, verb: str) -> None:
    """Make the output folder (and the folders above it) and check that files can be created in it, so that a
    read-only or otherwise unwritable ``--out`` is one line before any work (an ``OSError`` of the same type)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix=".write-check.", dir=path))
    except OSError as e:
        if e.errno is None:
            raise
        raise _one_line(e, f"{verb}: cannot write the output folder {path}: {e.strerror}; {_remedy(e.errno)}") \
            from None


def _one_line(exc: OSError, line: str) -> OSError:
    """An OSError of ``exc``'s type and errno whose message is ``line`` (marked: ``write_error`` leaves it)."""
    new = type(exc)(line)
    new.errno = exc.errno
    new.explained = True  # type: ignore[attr-defined]
    return new


def _inside(name: str | os.PathLike, folder: Path) -> bool:
    """True when ``name`` is ``folder``, inside it or one of the folders above it (made for it)."""
    p, f = Path(os.path.abspath(name)), Path(os.path.abspath(folder))
    return p == f or f in p.parents or p in f.parents


def write_error(exc: BaseException, path: str | os.PathLike, verb: str,
                then: Callable[[], str | None] | None = None) -> OSError | None:
    """``exc`` as one line naming the run folder ``path``, the system's reason and what to do (free space or
    another --out; what ``then()`` says instead when it says something, e.g. how to resume: it is called only for
    such an error), when it is an ``OSError`` of writing the run (a full disk, a read-only folder); None for
    anything else (a dataset file that cannot be read keeps its own line)."""
    if not isinstance(exc, OSError) or exc.errno not in _CANNOT_WRITE or getattr(exc, "explained", False):
        return None
    if exc.filename is not None and not _inside(exc.filename, Path(path)):
        return None
    reason = exc.strerror or str(exc)
    if reason.startswith("cannot "):          # io.atomic already named the file: "cannot write X: why (in DIR)"
        line = f"{verb}: {reason}"
    else:
        line = f"{verb}: cannot write in the run folder {path}: {reason}" + \
            (f" ({exc.filename})" if exc.filename is not None and Path(exc.filename) != Path(path) else "")
    return _one_line(exc, f"{line}; {(then and then()) or _remedy(exc.errno)}")


def _entries(path: Path) -> set[str]:
    """Names in the folder ``path`` (none when it is missing, not a folder or unreadable)."""
    try:
        return set(os.listdir(path))
    except OSError:
        return set()


def _remove(path: Path) -> None:
    """Delete a file, link or folder tree; best effort (the run's own error is the one to report)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


class OutputGuard:
    """Remembers what the output folder ``path`` holds; ``failed(exc)`` (called by the context manager when its
    block raises) deletes what was added since unless ``exc`` interrupted a run that can be resumed.

    Args:
        path: the run's output folder (it need not exist yet).
        snapshot: name of the run's resumable snapshot folder inside ``path`` (``"last"``), or None when the run
            cannot be resumed.
    """

    def __init__(self, path: str | os.PathLike, snapshot: str | None = None) -> None:
        self.path = Path(path)
        self.snapshot = snapshot
        self.existed = os.path.lexists(self.path)
        self.before = _entries(self.path) if self.existed else set()
        self.created: list[Path] = []           # path and the missing folders above it, innermost first
        p = self.path
        while not os.path.lexists(p) and p.parent != p:
            self.created.append(p)
            p = p.parent

    def resumable(self, exc: BaseException) -> bool:
        """True when ``exc`` interrupted the run rather than failed it: Ctrl-C or SIGTERM, or an ``OSError``, once
        the snapshot is written (the run continues with ``--resume``, e.g. when the disk has room again). Before
        the first snapshot there is nothing to resume: the run is taken back as if it had failed."""
        return (isinstance(exc, (KeyboardInterrupt, OSError)) and self.snapshot is not None
                and (self.path / self.snapshot).is_dir())

    def failed(self, exc: BaseException) -> None:
        """The run failed with ``exc``: delete what it wrote unless it can be resumed (see ``resumable``)."""
        if not self.resumable(exc):
            self.discard_additions()

    def clear(self) -> None:
        """Delete what ``path`` holds (``--overwrite``: a new run replaces it); from now on all of it is the run's."""
        for name in sorted(_entries(self.path)):
            _remove(self.path / name)
        self.before = set()

    def discard_additions(self) -> None:
        """Delete what was added to ``path`` (and ``path`` with the empty folders above it that were made for it,
        when it did not exist)."""
        if self.existed:
            for name in sorted(_entries(self.path) - self.before):
                _remove(self.path / name)
            return
        if os.path.lexists(self.path):
            _remove(self.path)
        for parent in self.created[1:]:
            try:
                parent.rmdir()                   # only while empty: never what someone else put there
            except OSError:
                break

    def __enter__(self) -> "OutputGuard":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if exc is not None:
            self.failed(exc)
        return False
