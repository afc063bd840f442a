"""Take back what a failed run wrote into its output folder.

``with OutputGuard(out, snapshot="last"): ...`` notes what ``out`` holds on entry. When the block fails it deletes
every entry added to ``out`` since, ``out`` itself when it did not exist, and the then empty parent folders made
for it; entries that were there before are left alone. Two failures are interruptions, not failures, and keep
what the run wrote so that ``--resume`` can continue it: ``KeyboardInterrupt`` (Ctrl-C, SIGTERM) and an
``OSError`` (a full disk, an I/O error) once the run has written its resumable ``snapshot`` folder.

Used by ``scratchcnn train``, ``train-text`` and ``finetune`` for new runs only: a resumed run's folder is the
run's own and is never deleted.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from types import TracebackType

__all__ = ["OutputGuard", "check_output_folder"]


def check_output_folder(path: str | os.PathLike, verb: str) -> None:
    """Refuse, before any work, an output folder that cannot be made because a file stands at it or above it."""
    from .atomic import _file_in_the_way
    blocker = _file_in_the_way(Path(path))
    if blocker is not None:
        raise ValueError(f"{verb}: cannot create the output folder {path}: {blocker} is a file, not a folder; "
                         "choose another --out")


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
        """True when ``exc`` interrupted the run rather than failed it: Ctrl-C or SIGTERM, or an ``OSError`` once
        the snapshot is written (the run continues with ``--resume`` when the disk has room again)."""
        if isinstance(exc, KeyboardInterrupt):
            return True
        return (isinstance(exc, OSError) and self.snapshot is not None
                and (self.path / self.snapshot).is_dir())

    def failed(self, exc: BaseException) -> None:
        """The run failed with ``exc``: delete what it wrote unless it can be resumed (see ``resumable``)."""
        if not self.resumable(exc):
            self.discard_additions()

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
