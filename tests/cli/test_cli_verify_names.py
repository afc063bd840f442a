"""`datasets verify` names the files as they are stored (uncompressed too) and agrees with the loader about a file
misnamed .gz."""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import zlib
from pathlib import Path

from scratchcnn.data import get_info
from scratchcnn.data.registry import REGISTRY

from cli.helpers import assert_one_line_error, one_json, run
from fake_idx import write_fake_idx


def _fake(folder: Path, gz: bool = True, n_train: int = 20, n_test: int = 10) -> Path:
    return write_fake_idx(folder, gz=gz, n_train=n_train, n_test=n_test)


def _register_mnist(monkeypatch, folder: Path) -> None:
    """The registry's mnist checksums become those of ``folder``'s files (as stored, .gz or not)."""
    info = get_info("mnist")
    files = []
    for spec in info.files:
        path = folder / spec.name if (folder / spec.name).is_file() else folder / spec.name[:-3]
        raw = path.read_bytes()
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        files.append(dataclasses.replace(spec, content_md5=hashlib.md5(data).hexdigest(),
                                         content_sha256=hashlib.sha256(data).hexdigest(),
                                         content_crc32=zlib.crc32(data), content_size=len(data)))
    monkeypatch.setitem(REGISTRY, "mnist", dataclasses.replace(info, files=tuple(files)))


def test_verify_names_the_uncompressed_file_it_checked(capsys, tmp_path, monkeypatch):
    """It told the user to delete train-labels-idx1-ubyte.gz, a file that does not exist."""
    d = _fake(tmp_path / "d" / "mnist", gz=False)
    _register_mnist(monkeypatch, d)
    bad = d / "train-labels-idx1-ubyte"
    data = bytearray(bad.read_bytes())
    data[10] ^= 1
    bad.write_bytes(bytes(data))
    rc, out, err = run(capsys, "datasets", "verify", "mnist", "--data-dir", d)
    assert "train-labels-idx1-ubyte      mismatch: sha256" in out
    assert "train-labels-idx1-ubyte.gz" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1, err
    assert "failed verification (train-labels-idx1-ubyte: mismatch: sha256" in lines[0]
    assert lines[0].endswith("); delete it and download it again") and lines[0].count("download it again") == 1
    rc, out, err = run(capsys, "datasets", "verify", "mnist", "--data-dir", d, "--json")
    obj = one_json(out)
    assert rc == 2 and obj["files"]["train-labels-idx1-ubyte.gz"].startswith("mismatch")
    assert obj["stored_as"]["train-labels-idx1-ubyte.gz"] == "train-labels-idx1-ubyte"


def test_verify_and_train_agree_about_uncompressed_data_under_a_gz_name(capsys, tmp_path, monkeypatch):
    """verify said ok for every file and train refused the same file as 'damaged'."""
    d = _fake(tmp_path / "d" / "mnist")
    _register_mnist(monkeypatch, d)
    lbl = d / "train-labels-idx1-ubyte.gz"
    lbl.write_bytes(gzip.decompress(lbl.read_bytes()))
    rc, out, err = run(capsys, "datasets", "verify", "mnist", "--data-dir", d)
    assert rc == 2 and "train-labels-idx1-ubyte.gz   misnamed" in out
    assert "rename it to train-labels-idx1-ubyte (or compress it with gzip)" in err and "\n" not in err.strip()
    rc, out, err = run(capsys, "train", "--model", "seed000", "--data-dir", d, "--epochs", "1", "--no-progress",
                       "--no-plots", "--no-tensorboard", "--out", tmp_path / "run")
    assert_one_line_error(rc, out, err, "named .gz but is not gzip-compressed", "rename it to train-labels-idx1-ubyte")
