"""Replacing a directory atomically: the one-step swap, the two-step fallback, a crash between its steps
(simulated by freezing the file system at that point) and how readers and later saves recover."""
from __future__ import annotations

import ctypes
import errno
import os
import shutil

import numpy as np
import pytest

import scratchcnn.io.atomic as atomic
from scratchcnn.io import load_checkpoint, read_meta, recover_directory, remove_stale_siblings, save_checkpoint


class Crash(BaseException):
    """The process dying: nothing after it runs (the freeze below makes every later rename/delete fail)."""


def hidden(parent) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def save(d, version: int):
    return save_checkpoint(d, {"w": np.full(3, version, np.float32)}, {"v": version})


def crash_after(monkeypatch, fn_name: str, calls: int, on=os, freeze=("replace", "rmtree")):
    """Let ``on.fn_name`` run ``calls`` times, then die: that call and every later rename/delete raise Crash."""
    real = getattr(on, fn_name)
    state = {"n": 0, "dead": False}

    def dead(*a, **k):
        raise Crash

    def wrapped(*a, **k):
        if state["dead"]:
            raise Crash
        state["n"] += 1
        if state["n"] > calls:
            state["dead"] = True
            for name in freeze:
                monkeypatch.setattr(os if name == "replace" else shutil, name, dead)
            monkeypatch.setattr(atomic, "exchange_paths", dead)
            raise Crash
        return real(*a, **k)

    monkeypatch.setattr(on, fn_name, wrapped)


def has_exchange(tmp_path) -> bool:
    a, b = tmp_path / ".probe_a", tmp_path / ".probe_b"
    a.mkdir()
    b.mkdir()
    ok = atomic.exchange_paths(a, b)
    a.rmdir()
    b.rmdir()
    return ok


def no_exchange(monkeypatch):
    monkeypatch.setattr(atomic, "_renameat2", False)  # as on a system without renameat2


def test_exchange_paths_swaps_two_directories(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "from_a").write_text("a")
    if not atomic.exchange_paths(tmp_path / "a", tmp_path / "b"):
        pytest.skip("this system or file system has no renameat2(RENAME_EXCHANGE)")
    assert os.listdir(tmp_path / "b") == ["from_a"] and os.listdir(tmp_path / "a") == []
    with pytest.raises(FileNotFoundError):
        atomic.exchange_paths(tmp_path / "a", tmp_path / "missing")


@pytest.mark.parametrize("err, supported", [(errno.EINVAL, False), (errno.ENOSYS, False), (errno.EACCES, True)])
def test_exchange_falls_back_only_where_unsupported(tmp_path, monkeypatch, err, supported):
    def fake_renameat2(*args):
        ctypes.set_errno(err)
        return -1

    monkeypatch.setattr(atomic, "_renameat2", fake_renameat2)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    if supported:  # a real failure is reported, not papered over
        with pytest.raises(PermissionError):
            atomic.exchange_paths(tmp_path / "a", tmp_path / "b")
    else:
        assert atomic.exchange_paths(tmp_path / "a", tmp_path / "b") is False
        d = save(tmp_path / "ck", 1)
        save(d, 2)  # the two-step replacement
        assert read_meta(d)["v"] == 2 and hidden(tmp_path) == []


def test_two_step_replacement_without_exchange(tmp_path, monkeypatch):
    no_exchange(monkeypatch)
    d = save(tmp_path / "ck", 1)
    save(d, 2)
    state, meta = load_checkpoint(d)
    assert meta["v"] == 2 and state["w"].tolist() == [2, 2, 2] and hidden(tmp_path) == []


def test_crash_between_the_two_renames_is_recovered_by_readers(tmp_path, monkeypatch):
    no_exchange(monkeypatch)
    d = save(tmp_path / "best", 1)
    crash_after(monkeypatch, "replace", calls=1)  # old moved aside, then the process dies
    with pytest.raises(Crash):
        save(d, 2)
    monkeypatch.undo()
    assert not d.exists()
    left = hidden(tmp_path)
    assert len(left) == 2 and all(n.startswith(".best.") for n in left)          # random ids: any order
    assert sorted(n.rsplit(".", 1)[1] for n in left) == ["old", "tmp"]
    state, meta = load_checkpoint(d)  # the reader moves the previous version back
    assert meta["v"] == 1 and state["w"].tolist() == [1, 1, 1]
    assert d.is_dir() and len(hidden(tmp_path)) == 1  # the new, never committed copy stays until cleaned up
    save(d, 3)  # a successful save removes what the crashed one left
    assert read_meta(d)["v"] == 3 and hidden(tmp_path) == []


def test_crash_after_the_swap_leaves_the_new_version(tmp_path, monkeypatch):
    d = save(tmp_path / "last", 1)
    if not has_exchange(tmp_path):
        pytest.skip("this system or file system has no renameat2(RENAME_EXCHANGE)")
    crash_after(monkeypatch, "rmtree", calls=0, on=shutil)  # dies before deleting the old version
    with pytest.raises(Crash):
        save(d, 2)
    monkeypatch.undo()
    assert read_meta(d)["v"] == 2
    (left,) = hidden(tmp_path)
    assert left.startswith(".last.") and left.endswith(".tmp") and read_meta(tmp_path / left)["v"] == 1
    assert remove_stale_siblings(d) == [tmp_path / left] and hidden(tmp_path) == []


def test_recover_picks_the_newest_old_and_never_overwrites(tmp_path):
    d = tmp_path / "best"
    for i, name in enumerate([".best.aaaa0001.old", ".best.bbbb0002.old"]):
        save(tmp_path / name, i + 1)
        os.utime(tmp_path / name, (1000 + i, 1000 + i))
    assert recover_directory(d) is True and read_meta(d)["v"] == 2
    assert recover_directory(d) is False  # present: nothing to do
    assert remove_stale_siblings(d) == [tmp_path / ".best.aaaa0001.old"] and hidden(tmp_path) == []
    assert recover_directory(tmp_path / "nothing") is False


def test_cleanup_keeps_an_old_version_it_could_not_restore(tmp_path, monkeypatch):
    save(tmp_path / ".best.aaaa0001.old", 1)
    (tmp_path / ".best.cccc0003.tmp").mkdir()

    def refuse(*a, **k):
        raise PermissionError("read-only")

    monkeypatch.setattr(os, "rename", refuse)
    assert remove_stale_siblings(tmp_path / "best") == [tmp_path / ".best.cccc0003.tmp"]
    assert hidden(tmp_path) == [".best.aaaa0001.old"]


def test_load_checkpoint_given_a_file_inside_a_folder_left_aside(tmp_path):
    save(tmp_path / ".best.aaaa0001.old", 7)
    assert read_meta(tmp_path / "best" / "meta.json")["v"] == 7 and (tmp_path / "best").is_dir()
