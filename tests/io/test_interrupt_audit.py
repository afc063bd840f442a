"""Atomic writes as a run on a flaky machine sees them: the files and folders they make have the modes a plain
write would give (not mkstemp's 0600 / mkdtemp's 0700), and an interrupt mid-write keeps the old file."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from scratchcnn.io import save_checkpoint
from scratchcnn.io.atomic import atomic_directory, atomic_write_text


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_atomic_writes_get_the_modes_of_plain_writes(tmp_path, umask_022):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    (tmp_path / "plain_dir").mkdir()
    atomic_write_text(tmp_path / "history.json", "[]\n")
    with atomic_directory(tmp_path / "snapshot") as tmp:
        (tmp / "a.json").write_text("{}")
    save_checkpoint(tmp_path / "best", {"w": np.ones(2, np.float32)}, {"v": 1})
    assert _mode(tmp_path / "history.json") == _mode(plain) == 0o644
    assert _mode(tmp_path / "snapshot") == _mode(tmp_path / "best") == _mode(tmp_path / "plain_dir") == 0o755


def test_a_stricter_umask_is_honoured(tmp_path):
    old = os.umask(0o077)
    try:
        atomic_write_text(tmp_path / "secret.json", "{}")
        with atomic_directory(tmp_path / "d"):
            pass
    finally:
        os.umask(old)
    assert _mode(tmp_path / "secret.json") == 0o600 and _mode(tmp_path / "d") == 0o700


def test_interrupted_atomic_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "history.json"
    atomic_write_text(target, "old\n")

    def interrupted(fd):
        raise KeyboardInterrupt
    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(target, "new\n")
    monkeypatch.undo()
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["history.json"]
