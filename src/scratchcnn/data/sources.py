"""Finding a dataset's files on disk, downloading them when absent, and verifying checksums.

Lookup order of ``locate(name, data_dir)``:
  1. ``data_dir`` itself (the folder holding the four files) or ``data_dir/<name>/``;
  2. ``$SCRATCHCNN_DATA/<name>/``;
  3. the user cache, ``$XDG_CACHE_HOME/scratchcnn/<name>/`` (default ``~/.cache/scratchcnn/<name>/``);
  4. ``/usr/share/datasets/<name>/`` (Debian/Ubuntu dataset packages);
  5. a download from the official mirrors into the cache (pooch, progress bar, MD5 check), unless
     ``download=False`` or ``$SCRATCHCNN_OFFLINE`` is set.
A folder is taken only when it holds all four files (each may also be stored uncompressed, the name without
``.gz``) and none of them is recognised as another registered dataset's file (all share the same file names;
``identify_file`` tells every file apart by the CRC-32 and length of its content that the registry records, read
from a ``.gz`` file's trailer, so a folder mixing two datasets' files is caught too; files it does not recognise,
custom data, are accepted). A ``data_dir/<name>/`` folder lacking any of the files, or a ``data_dir`` holding some
but not all, is an error naming the missing files (a ``data_dir`` with none of them is skipped: it may be a parent
of other datasets' folders); so is a ``data_dir`` (or its ``<name>/``) holding another dataset's files, naming the
odd files. If all fail, one ``DatasetNotFoundError`` says which files to put where, and which searched folders were
skipped and why.
"""
from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

from .identify import GZIP_MAGIC, foreign_note, identify, identify_file, is_gzip, resolve_file
from .registry import DatasetInfo, FileSpec, available_datasets, get_info

__all__ = ["DatasetNotFoundError", "ENV_DATA", "ENV_OFFLINE", "cache_dir", "search_paths", "find_local", "locate",
           "download", "verify", "list_datasets", "resolve_file", "identify", "identify_file", "absolute_dir"]

ENV_DATA = "SCRATCHCNN_DATA"
ENV_OFFLINE = "SCRATCHCNN_OFFLINE"
SYSTEM_DATA_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets"),)
"""Folders of system-wide dataset packages, searched after the user cache."""


class DatasetNotFoundError(ValueError):
    """A dataset is neither on disk nor downloadable; the message says what to put where."""


def cache_dir() -> Path:
    """The user cache root: ``$XDG_CACHE_HOME/scratchcnn`` or ``~/.cache/scratchcnn``."""
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "scratchcnn"


def search_paths(name: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The folders ``locate`` looks in, in order (whether or not they exist)."""
    info = get_info(name)
    paths: list[Path] = []
    if data_dir is not None:
        d = Path(data_dir).expanduser()
        paths += [d, d / info.name]
    env = os.environ.get(ENV_DATA)
    if env:
        paths.append(Path(env).expanduser() / info.name)
    paths.append(cache_dir() / info.name)
    paths += [p / info.name for p in SYSTEM_DATA_DIRS]
    return paths


def absolute_dir(path: str | os.PathLike | None) -> str | None:
    """``path`` as an absolute, resolved folder name (``~`` expanded), or None: what a run records as its
    ``data_dir``, so that a later ``report`` or ``--resume`` from another working folder finds the same data."""
    return None if path is None else str(Path(path).expanduser().resolve())


def _missing(info: DatasetInfo, folder: Path) -> list[str]:
    """The files of ``info`` that ``folder`` lacks (all of them when it is not a folder)."""
    if not folder.is_dir():
        return list(info.file_names)
    return [f for f in info.file_names if resolve_file(folder, f) is None]


def _complete(info: DatasetInfo, folder: Path) -> bool:
    return not _missing(info, folder)


def find_local(name: str, data_dir: str | os.PathLike | None = None) -> Path | None:
    """The first folder in ``search_paths`` holding all four files, none of them another dataset's, or None.

    Raises:
        DatasetNotFoundError: ``data_dir`` is given but is not a folder, or it (or its ``<name>/``) holds only
            part of the files, or files recognised as another dataset's (a typo, a missing file or the wrong
            folder must not silently fall through to the other places).
    """
    return _find_local(get_info(name), data_dir, strict=True)


def _find_local(info: DatasetInfo, data_dir: str | os.PathLike | None, strict: bool) -> Path | None:
    """``find_local``; without ``strict`` a ``data_dir`` holding another dataset's files is skipped, not an error
    (``datasets list --data-dir`` looks for every dataset there)."""
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        what = "is a file, not a folder" if Path(data_dir).expanduser().exists() else "does not exist"
        raise DatasetNotFoundError(f"data folder {data_dir} {what} (--data-dir): give the folder that holds "
                                   f"the dataset files (or a <name>/ folder with them), or leave it out to search "
                                   f"${ENV_DATA}, the cache and {SYSTEM_DATA_DIRS[0]}")
    paths = search_paths(info.name, data_dir)
    if data_dir is not None:   # the folder the user gave, or its <name>/: taken, or refused when partial/foreign
        given = [p for p in paths[:2] if _complete(info, p) and foreign_note(info, p) is None]
        if given:
            return given[0]
        _refuse_partial(info, paths[0], paths[1])
        if strict:
            _refuse_foreign(info, paths[0], paths[1])
        paths = paths[2:]
    for p in paths:
        if _complete(info, p) and foreign_note(info, p) is None:
            return p
    return None


def _refuse_foreign(info: DatasetInfo, given: Path, named: Path) -> None:
    """DatasetNotFoundError when ``named`` or ``given`` (``--data-dir``'s ``<name>/`` or itself) holds all the
    files but (some of) another dataset's: never a silent fall-through to ``$SCRATCHCNN_DATA``, the cache or a
    download of the right data."""
    for folder in (named, given):
        note = foreign_note(info, folder) if _complete(info, folder) else None
        if note is not None:
            raise DatasetNotFoundError(
                f"data folder {note} (--data-dir {given}): give the folder with {info.name}'s own files, or leave "
                f"--data-dir out to search ${ENV_DATA}, the cache and {SYSTEM_DATA_DIRS[0]}; official source: "
                f"{info.mirrors[0]}")


def _refuse_partial(info: DatasetInfo, given: Path, named: Path) -> None:
    """DatasetNotFoundError when ``named`` (``--data-dir``'s ``<name>/``) is a folder lacking any of the files,
    or ``given`` (``--data-dir`` itself) holds some of them but not all: files missing from the folder the user
    named are an error there, never a silent fall-through to ``$SCRATCHCNN_DATA`` or the cache."""
    total = len(info.file_names)
    for folder, limit in ((named, total + 1), (given, total)):   # ``given`` without any file may be a parent
        missing = _missing(info, folder)
        if folder.is_dir() and 0 < len(missing) < limit:
            raise DatasetNotFoundError(
                f"data folder {folder} lacks {', '.join(missing)} of dataset {info.name} (--data-dir {given}): "
                f"put the missing files there (also accepted uncompressed, without .gz), or leave --data-dir out "
                f"to search ${ENV_DATA}, the cache and {SYSTEM_DATA_DIRS[0]}; official source: {info.mirrors[0]}")


def _offline() -> bool:
    return os.environ.get(ENV_OFFLINE, "").strip().lower() not in ("", "0", "false", "no", "off")


def _fetch(url: str, md5: str | None, folder: Path, file_name: str) -> Path:
    """Download one file with pooch (progress bar, hash check, atomic rename); the seam tests replace."""
    import pooch  # lazy: only downloads need it

    known = f"md5:{md5}" if md5 else None
    return Path(pooch.retrieve(url, known_hash=known, fname=file_name, path=str(folder), progressbar=True))


class _DownloadFailed(Exception):
    """Internal: every mirror failed for some file; the message lists why."""


def _to_fetch(info: DatasetInfo, folder: Path) -> list[FileSpec]:
    """The files of ``info`` that ``folder`` lacks or holds with the wrong content (by ``verify``: a re-compressed
    or uncompressed copy with the right content is kept; one with no checksum known too)."""
    if not folder.is_dir():
        return list(info.files)
    report = verify(info.name, folder)
    return [spec for spec in info.files if report[spec.name] not in ("ok", "unverified")]


def _download_into(info: DatasetInfo, folder: Path, todo: list[FileSpec] | None = None) -> Path:
    """Fetch ``todo`` (default: ``_to_fetch``, what ``folder`` lacks or holds wrongly) into ``folder``. A failed
    (or interrupted) attempt removes the folders it created, with whatever it had fetched into them; a folder that
    was already there keeps its files."""
    todo = _to_fetch(info, folder) if todo is None else todo
    created = [p for p in (folder, *folder.parents) if not p.exists()]   # deepest first
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        _remove_created(created)
        raise _DownloadFailed(f"cannot create the download folder {folder}: {e.strerror or e}") from None
    done = False
    try:
        for spec in todo:
            errors = []
            for mirror in info.mirrors:
                try:
                    _fetch(mirror + spec.name, spec.md5, folder, spec.name)
                    break
                except Exception as e:  # network, HTTP and checksum errors alike: try the next mirror
                    errors.append(f"{mirror}{spec.name}: {_short(e)}")
            else:
                raise _DownloadFailed("download failed: " + "; ".join(errors))
        done = True
    finally:
        if not done:
            _remove_created(created)
    return folder


def _remove_created(created: list[Path]) -> None:
    """Remove the folders a failed download created (``created[0]`` with its partial files, then each parent in
    ``created`` that is left empty); cleanup problems are ignored, the download's own error is what matters."""
    import shutil
    if created:
        shutil.rmtree(created[0], ignore_errors=True)
    for p in created[1:]:
        try:
            p.rmdir()
        except OSError:  # not empty (something else was put there meanwhile) or already gone
            break


def download(name: str, root: str | os.PathLike | None = None) -> Path:
    """Download ``name``'s four files into ``root/<name>/`` (default: the user cache) and return that folder.

    Files already there with the right content (``verify``: re-compressed or uncompressed copies too) are kept;
    only the missing or wrong ones are fetched, so a complete folder needs no network. Mirrors are tried in order
    for each file.
    Raises:
        DatasetNotFoundError: no mirror could deliver a file (offline, server down, checksum mismatch), or
            ``$SCRATCHCNN_OFFLINE`` is set and a file is missing or wrong; the message names the file.
    """
    info = get_info(name)
    folder = (Path(root).expanduser() if root is not None else cache_dir()) / info.name
    todo = _to_fetch(info, folder)
    if not todo:
        return folder
    if _offline():
        raise DatasetNotFoundError(f"cannot download dataset {info.name!r}: downloads are disabled by ${ENV_OFFLINE} "
                                   f"(unset it, or put {', '.join(s.name for s in todo)} in {folder} by hand; "
                                   f"official source: {info.mirrors[0]})")
    try:
        return _download_into(info, folder, todo)
    except _DownloadFailed as e:
        raise DatasetNotFoundError(_not_found_message(info, root, str(e))) from None


def _short(e: BaseException, limit: int = 120) -> str:
    """``Type: first line of the message``, cut to ``limit`` characters (network errors can be very long)."""
    text = str(e).strip().splitlines()
    out = f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")
    return out if len(out) <= limit else out[:limit - 3] + "..."


def _near_misses(info: DatasetInfo, data_dir) -> str:
    """What the searched folders that exist got wrong: some files missing, or another dataset's files."""
    notes = []
    for p in search_paths(info.name, data_dir):
        missing = _missing(info, p)
        if p.is_dir() and missing and len(missing) < len(info.file_names):
            notes.append(f"{p} lacks {', '.join(missing)}")
        elif not missing and (note := foreign_note(info, p)):
            notes.append(note)
    return f" Skipped: {'; '.join(notes)}." if notes else ""


def _not_found_message(info: DatasetInfo, data_dir, reason: str) -> str:
    places = ", ".join(str(p) for p in search_paths(info.name, data_dir))
    return (f"dataset {info.name!r} not found ({reason}).{_near_misses(info, data_dir)} Put the four files "
            f"{', '.join(info.file_names)} in one of: {places}; or set {ENV_DATA}=DIR with them in DIR/{info.name}/ "
            f"(or pass --data-dir DIR). Official source: {info.mirrors[0]}")


def locate(name: str, data_dir: str | os.PathLike | None = None, download: bool = True) -> Path:
    """The folder holding ``name``'s four IDX files, searching (and downloading) as the module doc describes.

    Raises:
        DatasetNotFoundError: not found anywhere and not downloadable.
    """
    info = get_info(name)
    found = find_local(info.name, data_dir)
    if found is not None:
        return found
    if not download or _offline():
        why = "downloads are disabled" + (f" by ${ENV_OFFLINE}" if _offline() else "")
        raise DatasetNotFoundError(_not_found_message(info, data_dir, why))
    try:
        return _download_into(info, cache_dir() / info.name)
    except _DownloadFailed as e:
        raise DatasetNotFoundError(_not_found_message(info, data_dir, str(e))) from None


def _content(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except Exception as e:
            raise ValueError(f"not valid gzip data ({_short(e)}); delete it and download it again") from None
    return raw


def verify(name: str, folder: str | os.PathLike) -> dict[str, str]:
    """Check every file of ``name`` in ``folder`` against the registry.

    The decompressed content is compared with ``content_sha256``/``content_md5`` where known (so re-compressed
    or uncompressed copies pass); otherwise the ``.gz`` file's MD5 is compared with the official one. A file named
    ``.gz`` that is not gzip-compressed is "misnamed" even with the right content: the loader refuses it (rename it
    without ``.gz``). The keys are the registry's (``.gz``) names; ``resolve_file`` gives the file actually checked,
    which may be stored without ``.gz``.
    Returns:
        file name -> "ok", "missing", "unverified" (no checksum known), "misnamed: ..." or "mismatch: ...".
    """
    info = get_info(name)
    folder = Path(folder)
    report: dict[str, str] = {}
    for spec in info.files:
        path = resolve_file(folder, spec.name)
        report[spec.name] = "missing" if path is None else _verify_file(spec, path)
    return report


def _verify_file(spec: FileSpec, path: Path) -> str:
    """``verify``'s status of one present file ``path`` (stored as ``spec.name`` or without ``.gz``)."""
    gz = is_gzip(path)
    if spec.content_sha256 or spec.content_md5:
        try:
            data = _content(path)
        except ValueError as e:
            return f"mismatch: {e}"
        algo, want = ("sha256", spec.content_sha256) if spec.content_sha256 else ("md5", spec.content_md5)
        got = hashlib.new(algo, data).hexdigest()
    elif spec.md5 and gz:
        algo, want, got = "md5", spec.md5, hashlib.md5(path.read_bytes()).hexdigest()
    elif path.name.endswith(".gz") and not gz:
        algo = want = got = None   # no content checksum known: it can only be misnamed
    else:
        return "unverified"
    if got != want:
        return f"mismatch: {algo} {got} != {want}; delete it and download it again"
    if path.name.endswith(".gz") and not gz:
        what = "the right data, uncompressed" if want is not None else "uncompressed? no checksum to tell"
        return (f"misnamed: named .gz but not gzip-compressed ({what}); rename it to {path.name[:-3]} (or "
                f"compress it with gzip)")
    return "ok"


def list_datasets(data_dir: str | os.PathLike | None = None) -> list[dict]:
    """One dict per registered dataset for ``scratchcnn datasets list``: name, title, path (None if not found),
    classes, sizes and the download source. Looks only on disk; never downloads."""
    rows = []
    for name in available_datasets():
        info = get_info(name)
        found = _find_local(info, data_dir, strict=False)
        rows.append({"name": name, "title": info.title, "path": str(found) if found else None,
                     "found": found is not None, "num_classes": info.num_classes, "sizes": dict(info.sizes),
                     "source": info.mirrors[0], "license": info.license})
    return rows
