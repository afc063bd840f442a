"""Lookup and download errors: a ``--data-dir`` whose ``<name>/`` lacks a file is an error naming it (it used to
fall back to ``$SCRATCHCNN_DATA`` silently), and a failed download leaves no empty or partial folder behind.

No network: the download seam is replaced (``env`` fixture), or pooch itself raises.
"""
from __future__ import annotations

import pytest

import scratchcnn.data.sources as dl
from scratchcnn.data import DatasetNotFoundError, load_dataset, locate
from test_data_lookup import make_fake


@pytest.fixture
def envdata(env, monkeypatch):
    """A complete mnist under $SCRATCHCNN_DATA: the place a partial --data-dir used to fall back to."""
    envdir = make_fake(env["root"] / "envdata" / "mnist", seed=3)
    monkeypatch.setenv("SCRATCHCNN_DATA", str(env["root"] / "envdata"))
    return envdir


def test_data_dir_named_folder_missing_a_file_is_an_error(env, envdata):
    given = env["root"] / "given"
    d = make_fake(given / "mnist")
    (d / "t10k-labels-idx1-ubyte.gz").unlink()
    for call in (lambda: locate("mnist", data_dir=given), lambda: load_dataset("mnist", "test", data_dir=given)):
        with pytest.raises(DatasetNotFoundError) as e:
            call()
        msg = str(e.value)
        assert "\n" not in msg
        assert f"data folder {d} lacks t10k-labels-idx1-ubyte.gz of dataset mnist (--data-dir {given})" in msg
    for f in d.iterdir():                                    # an empty <name>/ is refused the same way
        f.unlink()
    with pytest.raises(DatasetNotFoundError, match=f"{d} lacks train-images-idx3-ubyte.gz, "):
        locate("mnist", data_dir=given)


def test_data_dir_itself_partial_is_an_error_not_a_fallback(env, envdata):
    d = make_fake(env["root"] / "flat")
    (d / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError, match=f"data folder {d} lacks train-labels-idx1-ubyte.gz"):
        locate("mnist", data_dir=d)


def test_documented_lookup_order_is_kept(env, envdata):
    parent = env["root"] / "parent"
    (parent / "fashion-mnist").mkdir(parents=True)          # no mnist/ and no files: the next place is searched
    assert locate("mnist", data_dir=parent) == envdata
    whole = make_fake(parent / "mnist")
    assert locate("mnist", data_dir=parent) == whole
    flat = make_fake(env["root"] / "flat")                   # the files themselves win over a partial <name>/
    make_fake(flat / "mnist")
    (flat / "mnist" / "train-labels-idx1-ubyte.gz").unlink()
    assert locate("mnist", data_dir=flat) == flat
    assert env["calls"] == []


def test_failed_download_leaves_no_folder(env):
    cache = env["home"] / ".cache"
    with pytest.raises(DatasetNotFoundError, match="network is unreachable"):
        locate("kmnist")
    assert env["calls"] and not cache.exists()              # ~/.cache/scratchcnn/kmnist and its parents are gone


def test_partial_download_is_removed_but_an_existing_folder_kept(env, monkeypatch, tmp_path):
    def first_only(url, md5, folder, name):
        if name != "train-images-idx3-ubyte.gz":
            raise OSError("connection reset")
        (folder / name).write_bytes(b"downloaded")
        return folder / name

    monkeypatch.setattr(dl, "_fetch", first_only)
    root = tmp_path / "dl"
    root.mkdir()
    with pytest.raises(DatasetNotFoundError, match="connection reset"):
        dl.download("kmnist", root)
    assert list(root.iterdir()) == []                        # root was there before: kept, kmnist/ removed
    kept = root / "kmnist"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    with pytest.raises(DatasetNotFoundError):
        dl.download("kmnist", root)
    assert sorted(p.name for p in kept.iterdir()) == ["notes.txt", "train-images-idx3-ubyte.gz"]


def test_pooch_failure_cleans_up(tmp_path, monkeypatch):
    pooch = pytest.importorskip("pooch")

    def refuse(*args, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.setattr(pooch, "retrieve", refuse)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("SCRATCHCNN_OFFLINE", raising=False)
    monkeypatch.setattr(dl, "SYSTEM_DATA_DIRS", (tmp_path / "system",))
    monkeypatch.delenv("SCRATCHCNN_DATA", raising=False)
    with pytest.raises(DatasetNotFoundError, match="ConnectionError: offline"):
        locate("kmnist")
    assert not (tmp_path / "xdg").exists()
