"""Dataset registry and lookup order: data_dir, $SCRATCHCNN_DATA, user cache, system folder, download, offline error.

No network: the download seam (``_fetch``) is replaced in every test that could reach it.
"""
from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

import scratchcnn.data.sources as dl
from scratchcnn.data import DatasetNotFoundError, get_info, list_datasets, load_dataset, locate
from scratchcnn.data.idx import encode_idx
from scratchcnn.data.registry import REGISTRY, available_datasets

FILES = get_info("mnist").file_names


def make_fake(folder: Path, n_train: int = 12, n_test: int = 6, seed: int = 0, gz: bool = True) -> Path:
    """Four tiny valid IDX files (labels 0..9) in ``folder``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        for kind, arr, dims in (("images", imgs, 3), ("labels", labels, 1)):
            name = f"{split}-{kind}-idx{dims}-ubyte"
            data = encode_idx(arr)
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
    return folder


def test_registry_entries():
    assert available_datasets() == ["fashion-mnist", "kmnist", "mnist"]
    for info in REGISTRY.values():
        assert info.file_names == ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                   "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
        assert len(info.classes) == 10 and 0 < info.mean < 1 and 0 < info.std < 1
        assert all(len(f.md5) == 32 for f in info.files)
        assert info.mirrors and all(m.startswith("http") and m.endswith("/") for m in info.mirrors)
    assert get_info("mnist").mirrors[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert get_info("Fashion_MNIST").name == "fashion-mnist"
    assert get_info("mnist").mean == 0.1307 and get_info("mnist").std == 0.3081
    with pytest.raises(ValueError, match="unknown dataset 'cifar'.*mnist"):
        get_info("cifar")


def test_library_never_mentions_development_paths():
    src = Path(dl.__file__).parent
    for f in src.glob("*.py"):
        text = f.read_text()
        assert "/work" not in text and "shared/datasets" not in text, f


def test_explicit_data_dir_folder_or_parent(env):
    d = make_fake(env["root"] / "mine")
    assert locate("mnist", data_dir=d) == d
    parent = env["root"] / "parent"
    make_fake(parent / "mnist")
    assert locate("mnist", data_dir=parent) == parent / "mnist"
    assert env["calls"] == []


def test_lookup_order(env, monkeypatch):
    root = env["root"]
    system = make_fake(root / "usr-share-datasets" / "mnist")
    assert locate("mnist") == system
    cache = make_fake(env["home"] / ".cache" / "scratchcnn" / "mnist")
    assert locate("mnist") == cache
    xdg = root / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    assert locate("mnist") == system  # the XDG cache replaces ~/.cache, and it is empty
    xdg_cache = make_fake(xdg / "scratchcnn" / "mnist")
    assert locate("mnist") == xdg_cache
    envdir = make_fake(root / "envdata" / "mnist")
    monkeypatch.setenv("SCRATCHCNN_DATA", str(root / "envdata"))
    assert locate("mnist") == envdir
    explicit = make_fake(root / "explicit")
    assert locate("mnist", data_dir=explicit) == explicit
    # an explicit folder without the files falls through to the next place
    (root / "empty").mkdir()
    assert locate("mnist", data_dir=root / "empty") == envdir
    assert env["calls"] == []


def test_missing_explicit_data_dir_is_an_error_not_skipped(env, monkeypatch):
    root = env["root"]
    make_fake(root / "envdata" / "mnist")
    monkeypatch.setenv("SCRATCHCNN_DATA", str(root / "envdata"))
    for call in (lambda d: locate("mnist", data_dir=d), lambda d: load_dataset("mnist", "test", data_dir=d),
                 lambda d: list_datasets(d)):
        with pytest.raises(DatasetNotFoundError) as e:
            call(root / "typo")
        msg = str(e.value)
        assert "\n" not in msg and str(root / "typo") in msg and "does not exist" in msg
    a_file = root / "file.txt"
    a_file.write_text("x")
    with pytest.raises(DatasetNotFoundError, match="is a file, not a folder"):
        locate("mnist", data_dir=a_file)
    assert env["calls"] == []


def test_incomplete_folder_is_skipped(env):
    d = make_fake(env["root"] / "usr-share-datasets" / "mnist")
    (d / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError):
        locate("mnist")


def test_uncompressed_files_are_accepted(env):
    d = make_fake(env["root"] / "raw", gz=False)
    assert locate("mnist", data_dir=d) == d
    ds = load_dataset("mnist", "test", data_dir=d)
    assert ds.images.shape == (6, 28, 28)


def test_offline_error_is_one_clear_line(env):
    (env["root"] / "given").mkdir()
    with pytest.raises(DatasetNotFoundError) as e:
        locate("fashion-mnist", data_dir=env["root"] / "given")
    msg = str(e.value)
    assert isinstance(e.value, ValueError) and "\n" not in msg
    for name in get_info("fashion-mnist").file_names:
        assert name in msg
    for place in dl.search_paths("fashion-mnist", env["root"] / "given"):
        assert str(place) in msg
    assert "SCRATCHCNN_DATA" in msg and "network is unreachable" in msg
    assert len(env["calls"]) == 2 * 1  # both mirrors tried for the first file, then it stops
    assert str(env["home"] / ".cache" / "scratchcnn" / "fashion-mnist") in msg


def test_downloads_can_be_disabled(env, monkeypatch):
    with pytest.raises(DatasetNotFoundError, match="downloads are disabled"):
        locate("mnist", download=False)
    monkeypatch.setenv("SCRATCHCNN_OFFLINE", "1")
    with pytest.raises(DatasetNotFoundError, match="SCRATCHCNN_OFFLINE"):
        load_dataset("kmnist")
    assert env["calls"] == []


def test_download_into_cache_with_mirror_fallback(env, monkeypatch):
    """A fake fetch copies from a local 'server' and checks the md5 it is given, like pooch does."""
    server = make_fake(env["root"] / "server")
    info = get_info("mnist")
    fake_md5 = {f: hashlib.md5((server / f).read_bytes()).hexdigest() for f in info.file_names}
    patched = type(info)(**{**info.__dict__, "files": tuple(type(s)(s.name, fake_md5[s.name]) for s in info.files)})
    monkeypatch.setattr(dl, "get_info", lambda name: patched)
    seen = []

    def fetch(url, md5, folder, name):
        seen.append(url)
        if url.startswith(info.mirrors[0]):
            raise ConnectionError("503 Service Unavailable")  # first mirror down: fall back to the second
        data = (server / name).read_bytes()
        assert hashlib.md5(data).hexdigest() == md5
        (folder / name).write_bytes(data)
        return folder / name

    monkeypatch.setattr(dl, "_fetch", fetch)
    found = locate("mnist")
    assert found == env["home"] / ".cache" / "scratchcnn" / "mnist"
    assert sorted(p.name for p in found.iterdir()) == sorted(info.file_names)
    assert len(seen) == 8 and all(u.startswith(info.mirrors[1]) for u in seen[1::2])
    assert load_dataset("mnist", "train").images.shape == (12, 28, 28)


def test_fetch_uses_pooch_with_md5_and_progress_bar(monkeypatch, tmp_path):
    pooch = pytest.importorskip("pooch")
    got = {}

    def retrieve(url, known_hash, fname, path, progressbar):
        got.update(url=url, known_hash=known_hash, fname=fname, path=path, progressbar=progressbar)
        return str(Path(path) / fname)

    monkeypatch.setattr(pooch, "retrieve", retrieve)
    out = dl._fetch("https://example.org/a.gz", "0" * 32, tmp_path, "a.gz")
    assert out == tmp_path / "a.gz"
    assert got == {"url": "https://example.org/a.gz", "known_hash": "md5:" + "0" * 32, "fname": "a.gz",
                   "path": str(tmp_path), "progressbar": True}


def test_list_datasets_reports_locations(env):
    d = make_fake(env["root"] / "usr-share-datasets" / "kmnist")
    rows = {r["name"]: r for r in list_datasets()}
    assert rows["kmnist"]["found"] and rows["kmnist"]["path"] == str(d)
    assert not rows["mnist"]["found"] and rows["mnist"]["path"] is None
    assert rows["mnist"]["source"].startswith("https://")
    assert env["calls"] == []


def test_load_dataset_validates_counts_and_labels(env):
    d = make_fake(env["root"] / "bad")
    (d / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(encode_idx(np.zeros(5, np.uint8))))
    with pytest.raises(ValueError, match="6 images in t10k-images-idx3-ubyte.gz but 5 labels"):
        load_dataset("mnist", "test", data_dir=d)
    (d / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(encode_idx(np.full(6, 10, np.uint8))))
    with pytest.raises(ValueError, match="label 10.*only 10 classes"):
        load_dataset("mnist", "test", data_dir=d)
    (d / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(encode_idx(np.zeros((6, 32, 32), np.uint8))))
    with pytest.raises(ValueError, match=r"\(32, 32\) images"):
        load_dataset("mnist", "test", data_dir=d)
    with pytest.raises(ValueError, match="unknown split 'val'"):
        load_dataset("mnist", "val", data_dir=d)


def test_load_dataset_reports_corrupt_file(env):
    d = make_fake(env["root"] / "corrupt")
    p = d / "train-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[:-20])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz is damaged.*download it again"):
        load_dataset("mnist", "train", data_dir=d)


def test_verify_flags_mismatch_and_missing(env):
    d = make_fake(env["root"] / "fake")
    (d / "t10k-labels-idx1-ubyte.gz").unlink()
    report = dl.verify("mnist", d)
    assert report["t10k-labels-idx1-ubyte.gz"] == "missing"
    assert report["train-images-idx3-ubyte.gz"].startswith("mismatch: sha256")
    with pytest.raises(ValueError, match="does not match the registry"):
        load_dataset("mnist", "train", data_dir=make_fake(env["root"] / "fake2"), verify_checksums=True)
