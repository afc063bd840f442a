"""Which dataset a folder's files are: a --data-dir of another dataset, a folder mixing two, a file misnamed .gz, and
``download`` keeping valid files.

Fake IDX files stand in for the real ones: ``_register`` makes the registry know them (checksums and the CRC-32 +
length fingerprint) as a dataset's files, as it knows MNIST's and Fashion-MNIST's.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import struct
import zlib
from pathlib import Path

import pytest

import scratchcnn.data.sources as dl
from scratchcnn.data import DatasetNotFoundError, get_info, list_datasets, load_dataset, locate
from scratchcnn.data.registry import REGISTRY

from fake_idx import write_fake_idx

NAMES = get_info("mnist").file_names


def _fake(folder: Path, seed: int, gz: bool = True, n: int = 6) -> Path:
    """Four small valid IDX files, gzip-compressed (``gz``) or stored without ``.gz``."""
    return write_fake_idx(folder, seed, gz=gz, n_train=n, n_test=n, random_labels=True)


def _content(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def _register(monkeypatch, name: str, folder: Path, official_gz: bool = True) -> None:
    """Make the registry know ``folder``'s four files as dataset ``name``'s (``official_gz``: their .gz MD5 too)."""
    info = get_info(name)
    files = []
    for spec in info.files:
        path = dl.resolve_file(folder, spec.name)
        data = _content(path)
        md5 = hashlib.md5(path.read_bytes()).hexdigest() if official_gz else spec.md5
        files.append(dataclasses.replace(spec, md5=md5, content_md5=hashlib.md5(data).hexdigest(),
                                         content_sha256=hashlib.sha256(data).hexdigest(),
                                         content_crc32=zlib.crc32(data), content_size=len(data)))
    monkeypatch.setitem(REGISTRY, name, dataclasses.replace(info, files=tuple(files)))


# ------------------------------------------------------------------------------------------- identification
def test_identify_file_recognises_recompressed_and_uncompressed_copies(env, monkeypatch):
    official = _fake(env["root"] / "official", seed=1)
    _register(monkeypatch, "fashion-mnist", official)
    raw = env["root"] / "raw"
    raw.mkdir()
    recompressed = env["root"] / "recompressed"
    recompressed.mkdir()
    for name in NAMES:
        data = _content(official / name)
        (raw / name[:-3]).write_bytes(data)
        (recompressed / name).write_bytes(gzip.compress(data, compresslevel=1, mtime=12345))
        assert (recompressed / name).read_bytes() != (official / name).read_bytes()
    for folder in (official, raw, recompressed):
        for name in NAMES:
            assert dl.identify_file(dl.resolve_file(folder, name)) == ("fashion-mnist", name)
        assert dl.identify(folder) == "fashion-mnist"
    assert dl.identify_file(_fake(env["root"] / "custom", seed=9) / NAMES[0]) is None   # custom data: unknown


def test_registry_fingerprints_match_the_real_files(data_dir):
    """The CRC-32 and length recorded per file are those of the real data (read from the .gz trailers)."""
    for name in ("mnist", "fashion-mnist"):
        folder = data_dir / name
        if not folder.is_dir():
            continue
        for spec in get_info(name).files:
            path = dl.resolve_file(folder, spec.name)
            with path.open("rb") as f:
                f.seek(-8, 2)
                crc, size = struct.unpack("<II", f.read(8))
            assert (crc, size) == (spec.content_crc32, spec.content_size), (name, spec.name)
            assert dl.identify_file(path) == (name, spec.name)


# ------------------------------------------------------------------------------- --data-dir of another dataset
def test_data_dir_holding_another_dataset_is_an_error_not_a_fall_through(env, monkeypatch):
    """A --data-dir with Fashion-MNIST's files asked for mnist silently took MNIST from the cache instead."""
    cache = _fake(env["home"] / ".cache" / "scratchcnn" / "mnist", seed=0)
    _register(monkeypatch, "mnist", cache)
    mine = _fake(env["root"] / "mine" / "mnist", seed=1)
    _register(monkeypatch, "fashion-mnist", mine)
    assert locate("mnist") == cache
    for given in (mine, mine.parent):     # the folder itself, or its parent holding mnist/
        with pytest.raises(DatasetNotFoundError) as e:
            locate("mnist", data_dir=given)
        msg = str(e.value)
        assert f"data folder {mine} holds the fashion-mnist files, not mnist (--data-dir {given})" in msg, msg
        assert "\n" not in msg
        with pytest.raises(DatasetNotFoundError, match="holds the fashion-mnist files, not mnist"):
            load_dataset("mnist", "test", data_dir=given)
    assert locate("fashion-mnist", data_dir=mine) == mine
    rows = {r["name"]: r for r in list_datasets(mine)}          # `datasets list --data-dir` looks, never refuses
    assert rows["fashion-mnist"]["path"] == str(mine) and rows["mnist"]["path"] == str(cache)
    assert env["calls"] == []


def test_a_folder_mixing_two_datasets_is_refused_naming_the_odd_files(env, monkeypatch):
    """Fashion-MNIST's training files beside MNIST's test files were taken as mnist (only the test labels were
    identified) and trained on clothes."""
    mnist = _fake(env["root"] / "real-mnist", seed=0)
    fashion = _fake(env["root"] / "real-fashion", seed=1)
    _register(monkeypatch, "mnist", mnist)
    _register(monkeypatch, "fashion-mnist", fashion)
    mixed = env["root"] / "d" / "mnist"
    mixed.mkdir(parents=True)
    for name in NAMES:
        src = fashion if name.startswith("train") else mnist
        (mixed / name).write_bytes((src / name).read_bytes())
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset("mnist", "train", data_dir=mixed.parent)
    msg = str(e.value)
    assert (f"data folder {mixed} mixes up files: train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz are "
            f"fashion-mnist's (not mnist's own)") in msg, msg
    assert "\n" not in msg
    # a file of the right dataset under another file's name is named too
    (mixed / NAMES[1]).write_bytes((mnist / NAMES[3]).read_bytes())
    (mixed / NAMES[0]).write_bytes((mnist / NAMES[0]).read_bytes())
    with pytest.raises(DatasetNotFoundError, match="train-labels-idx1-ubyte.gz is mnist's t10k-labels-idx1-ubyte.gz"):
        locate("mnist", data_dir=mixed)
    # found on the search path (not given), such a folder is skipped and named in the final error
    monkeypatch.setenv("SCRATCHCNN_DATA", str(mixed.parent))
    monkeypatch.setenv("SCRATCHCNN_OFFLINE", "1")
    with pytest.raises(DatasetNotFoundError, match=f"Skipped: {mixed} mixes up files"):
        locate("mnist")


# ------------------------------------------------------------------------------------- uncompressed under .gz
def test_verify_calls_uncompressed_data_under_a_gz_name_misnamed_as_the_loader_refuses_it(env, monkeypatch):
    d = _fake(env["root"] / "d" / "mnist", seed=0)
    _register(monkeypatch, "mnist", d)
    lbl = d / "train-labels-idx1-ubyte.gz"
    lbl.write_bytes(gzip.decompress(lbl.read_bytes()))
    report = dl.verify("mnist", d)
    assert report["train-labels-idx1-ubyte.gz"].startswith("misnamed: named .gz but not gzip-compressed")
    assert "rename it to train-labels-idx1-ubyte" in report["train-labels-idx1-ubyte.gz"]
    assert report["train-images-idx3-ubyte.gz"] == "ok"
    with pytest.raises(ValueError, match="named .gz but is not gzip-compressed.*rename it to train-labels-idx1-ubyte"):
        load_dataset("mnist", "train", data_dir=d)
    with pytest.raises(ValueError, match="misnamed"):
        load_dataset("mnist", "train", data_dir=d, verify_checksums=True)
    lbl.rename(d / "train-labels-idx1-ubyte")                   # the fix the messages give
    assert set(dl.verify("mnist", d).values()) == {"ok"}
    assert len(load_dataset("mnist", "train", data_dir=d)) == 6


# ----------------------------------------------------------------------------------- download keeps valid files
def _recording_fetch(env, monkeypatch, source: Path | None):
    """A ``_fetch`` that copies from ``source`` (None: the network is down) and records the files asked for."""
    asked = []

    def fetch(url, md5, folder, name):
        asked.append(name)
        if source is None:
            raise OSError("network is unreachable")
        (Path(folder) / name).write_bytes((source / name).read_bytes())
        return Path(folder) / name

    monkeypatch.setattr(dl, "_fetch", fetch)
    return asked


def test_download_keeps_files_whose_content_is_right_and_fetches_only_the_rest(env, monkeypatch):
    official = _fake(env["root"] / "server", seed=0)
    _register(monkeypatch, "mnist", official)                  # the official .gz MD5s are those of the server
    cache = env["home"] / ".cache" / "scratchcnn" / "mnist"
    cache.mkdir(parents=True)
    for name in NAMES[:3]:                                       # re-compressed copies (different .gz bytes)
        (cache / name).write_bytes(gzip.compress(_content(official / name), compresslevel=1, mtime=1))
    asked = _recording_fetch(env, monkeypatch, None)
    with pytest.raises(DatasetNotFoundError) as e:
        dl.download("mnist")
    assert asked == [NAMES[3], NAMES[3]]                         # each mirror, for the missing file only
    assert "download failed" in str(e.value) and NAMES[0] not in str(e.value).split("Put the four files")[0]
    asked = _recording_fetch(env, monkeypatch, official)
    assert dl.download("mnist") == cache and asked == [NAMES[3]]
    assert (cache / NAMES[0]).read_bytes() != (official / NAMES[0]).read_bytes()     # kept as it was
    # complete and valid: nothing to fetch, offline too
    asked = _recording_fetch(env, monkeypatch, None)
    assert dl.download("mnist") == cache and asked == []
    monkeypatch.setenv("SCRATCHCNN_OFFLINE", "1")
    assert dl.download("mnist") == cache
    # a damaged file is fetched again; offline, the error names it
    (cache / NAMES[1]).write_bytes(gzip.compress(b"\0\0\x08\x01\0\0\0\0"))
    with pytest.raises(DatasetNotFoundError, match=f"downloads are disabled.*put {NAMES[1]} in {cache}"):
        dl.download("mnist")
    monkeypatch.delenv("SCRATCHCNN_OFFLINE")
    asked = _recording_fetch(env, monkeypatch, official)
    assert dl.download("mnist") == cache and asked == [NAMES[1]]
