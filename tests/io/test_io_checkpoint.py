"""Checkpoints (safetensors + meta.json): round trip, atomicity, damage detection; atomic file writes."""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

import scratchcnn as sc
import scratchcnn.io.checkpoint as ckpt
from scratchcnn.io import (CheckpointError, atomic_write_bytes, atomic_write_text, file_sha256, load_checkpoint,
                           read_meta, save_checkpoint)


def state(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "conv1.weight": rng.standard_normal((16, 1, 5, 5)).astype(np.float32),
        "conv1.bias": rng.standard_normal(16).astype(np.float32),
        "bn.running_mean": rng.standard_normal(8),  # float64 stays float64
        "bn.num_batches_tracked": np.array(7, dtype=np.int64),
        "fc.weight": rng.standard_normal((10, 4)).astype(np.float32)[:, ::2],  # non-contiguous
        "mask": np.array([True, False]),
        "empty": np.zeros((0, 3), np.float32),
    }


def leftovers(parent):
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_round_trip(tmp_path):
    s = state()
    meta = {"model": "seed000", "config": {"num_classes": 10}, "classes": list("0123456789"),
            "normalization": {"mean": [0.1307], "std": [0.3081]},
            "metrics": {"acc": np.float32(0.99), "loss": float("nan"), "steps": np.int64(3)},
            "shape": (1, 28, 28)}
    out = save_checkpoint(tmp_path / "run" / "best", s, meta)
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "model.safetensors"]
    loaded, m = load_checkpoint(out)
    assert list(loaded) == list(s)  # order kept
    for k in s:
        assert loaded[k].dtype == s[k].dtype and loaded[k].shape == s[k].shape
        np.testing.assert_array_equal(loaded[k], s[k])
        assert loaded[k].flags.writeable
    assert m["model"] == "seed000" and m["config"] == {"num_classes": 10} and m["shape"] == [1, 28, 28]
    assert m["metrics"] == {"acc": pytest.approx(0.99), "loss": None, "steps": 3}
    assert m["format_version"] == ckpt.FORMAT_VERSION and m["created"].endswith("+00:00")
    assert m["versions"]["scratchcnn"] == sc.__version__ and m["versions"]["numpy"] == np.__version__
    assert m["weights"]["sha256"] == file_sha256(out / "model.safetensors")
    assert m["weights"]["num_elements"] == sum(a.size for a in s.values())
    json.loads((out / "meta.json").read_text())  # strict JSON (no NaN)
    assert read_meta(out / "meta.json") == m and load_checkpoint(out / "model.safetensors")[1] == m


def test_tensors_and_names_as_given(tmp_path):
    t = sc.Tensor(np.ones((2, 2), np.float32), requires_grad=True)
    save_checkpoint(tmp_path / "c", {"features.0.weight": t})
    loaded, _ = load_checkpoint(tmp_path / "c")
    assert list(loaded) == ["features.0.weight"] and loaded["features.0.weight"].dtype == np.float32


def test_torch_can_read_the_weights(tmp_path, torch):
    from safetensors.torch import load_file

    save_checkpoint(tmp_path / "c", state())
    loaded = load_file(str(tmp_path / "c" / "model.safetensors"))
    np.testing.assert_array_equal(loaded["conv1.weight"].numpy(), state()["conv1.weight"])
    assert loaded["bn.num_batches_tracked"].dtype == torch.int64


def test_overwrite_replaces_atomically(tmp_path):
    d = tmp_path / "ck"
    save_checkpoint(d, state(0), {"v": 1})
    save_checkpoint(d, {"only": np.ones(3)}, {"v": 2})
    s, m = load_checkpoint(d)
    assert list(s) == ["only"] and m["v"] == 2
    assert leftovers(tmp_path) == []
    with pytest.raises(ValueError, match="already exists"):
        save_checkpoint(d, state(), overwrite=False)


@pytest.mark.parametrize("fail_at", ["serialise", "meta_json", "rename"])
def test_failure_mid_save_leaves_nothing(tmp_path, monkeypatch, fail_at):
    import safetensors.numpy

    if fail_at == "serialise":
        monkeypatch.setattr(safetensors.numpy, "save", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    elif fail_at == "meta_json":
        real = type(tmp_path).write_text

        def boom(self, *a, **k):
            if self.name == "meta.json":
                raise OSError("disk full")
            return real(self, *a, **k)

        monkeypatch.setattr(type(tmp_path), "write_text", boom)
    else:
        real_replace = os.replace

        def flaky(src, dst):
            if str(src).endswith(".tmp"):
                raise OSError("rename failed")
            return real_replace(src, dst)

        monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(OSError):
        save_checkpoint(tmp_path / "new", state(), {"v": 1})
    assert not (tmp_path / "new").exists() and leftovers(tmp_path) == []


def test_failure_keeps_previous_checkpoint(tmp_path, monkeypatch):
    d = tmp_path / "ck"
    save_checkpoint(d, state(0), {"v": 1})
    real = type(tmp_path).write_text

    def boom(self, *a, **k):
        raise KeyboardInterrupt  # even an interrupt mid-save

    monkeypatch.setattr(type(tmp_path), "write_text", boom)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(d, {"x": np.ones(1)}, {"v": 2})
    monkeypatch.setattr(type(tmp_path), "write_text", real)
    s, m = load_checkpoint(d)
    assert m["v"] == 1 and "conv1.weight" in s and leftovers(tmp_path) == []


def test_bad_inputs_to_save(tmp_path):
    with pytest.raises(TypeError, match="JSON-serialisable"):
        save_checkpoint(tmp_path / "a", state(), {"fn": print})
    with pytest.raises(TypeError, match="names must be non-empty strings"):
        save_checkpoint(tmp_path / "a", {1: np.ones(2)})
    with pytest.raises(TypeError, match="unsupported dtype"):
        save_checkpoint(tmp_path / "a", {"s": np.array(["x"])})
    if np.dtype(np.longdouble).itemsize > 8:        # float80/128 has no safetensors dtype: refused by name
        with pytest.raises(TypeError, match="tensor 'x' has unsupported dtype float"):
            save_checkpoint(tmp_path / "a", {"x": np.ones(2, np.longdouble)})
    assert not (tmp_path / "a").exists()


@pytest.fixture
def saved(tmp_path):
    return save_checkpoint(tmp_path / "ck", state(), {"model": "seed000"})


def damaged_message(path) -> str:
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    msg = str(e.value)
    assert isinstance(e.value, ValueError) and "\n" not in msg and str(path) in msg
    return msg


def test_missing_things(tmp_path, saved):
    assert "does not exist" in damaged_message(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    assert "is not a directory" in damaged_message(tmp_path / "file")
    (saved / "model.safetensors").unlink()
    assert "is damaged: model.safetensors is missing" in damaged_message(saved)
    (saved / "meta.json").unlink()       # neither file: a folder that is not a checkpoint at all
    assert "is not a checkpoint folder (no meta.json or model.safetensors in it)" in damaged_message(saved)
    (saved / "model.safetensors").write_bytes(b"")
    assert "is damaged: meta.json is missing" in damaged_message(saved)


@pytest.mark.parametrize("text, expect", [
    ("{not json", "meta.json is not valid JSON"),
    ("[1, 2]", "should hold a JSON object"),
    ('{"model": "x"}', "no integer format_version"),
    ("", "meta.json is not valid JSON"),
    ('{"format_version": true}', "no integer format_version"),          # a bool is no version
    ('{"format_version": 0}', "meta.json has format_version 0; versions start at 1"),
])
def test_damaged_meta(saved, text, expect):
    (saved / "meta.json").write_text(text)
    assert expect in damaged_message(saved)


def test_newer_format_is_refused(saved):
    meta = json.loads((saved / "meta.json").read_text())
    meta["format_version"] = 99
    (saved / "meta.json").write_text(json.dumps(meta))
    assert "upgrade scratchcnn" in damaged_message(saved)


def _rewrite_weights(saved, data: bytes, fix_hash: bool):
    (saved / "model.safetensors").write_bytes(data)
    if fix_hash:  # a consistent meta.json, so the structural checks are what catches the damage
        meta = json.loads((saved / "meta.json").read_text())
        meta["weights"]["sha256"] = file_sha256(saved / "model.safetensors")
        (saved / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("mutate, expect", [
    (lambda b: b[:-10], "lies outside the file's data"),
    (lambda b: b[:5], "too short for a safetensors header"),
    (lambda b: (10**12).to_bytes(8, "little") + b[8:], "declares a 1000000000000-byte header"),
    (lambda b: b[:8] + b"\xff" * (len(b) - 8), "unreadable header"),
    (lambda b: b + b"\x00" * 8, "bytes not belonging to any tensor"),
    (lambda b: b"hello world, definitely not a checkpoint", "declares a"),
    (lambda b: b[:8] + b[8:40].replace(b'"', b"'") + b[40:], "unreadable header"),
    (lambda b: _edit_header(b, "data_offsets", lambda v: [str(x) for x in v]), "malformed header entry for tensor"),
    (lambda b: _edit_header(b, "shape", lambda v: v + [True]), "malformed header entry for tensor"),
    (lambda b: b"\x80\x04\x95" + b"\x00" * 40, "model.safetensors is a pickle file, not safetensors"),
    (lambda b: b"PK\x03\x04" + b"\x00" * 40, "model.safetensors is a zip archive (torch.save's format), not safe"),
])
def test_damaged_weights(saved, mutate, expect):
    data = (saved / "model.safetensors").read_bytes()
    _rewrite_weights(saved, mutate(data), fix_hash=True)
    assert "is damaged: model.safetensors" in damaged_message(saved) and expect in damaged_message(saved)


def _edit_header(blob: bytes, field: str, change) -> bytes:
    """``blob`` with ``field`` of the first tensor's header entry replaced by ``change(old value)``."""
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    first = next(k for k in header if k != "__metadata__")
    header[first][field] = change(header[first][field])
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + blob[8 + n:]


def test_bfloat16_tensors_get_a_clear_message(saved):
    from safetensors.numpy import save as st_save

    blob = st_save({"w": np.ones(2, np.float16)})       # F16 relabelled as BF16: what torch writes for bfloat16
    _rewrite_weights(saved, _edit_header(blob, "dtype", lambda v: "BF16"), fix_hash=True)
    assert damaged_message(saved).endswith("model.safetensors: tensor 'w' has dtype BF16, which NumPy (and so "
                                           "scratchcnn) has no type for; save it as float32 (in PyTorch: "
                                           "{k: v.float() for k, v in state.items()})")


def test_meta_tensor_list_of_other_types_is_ignored(saved):
    meta = json.loads((saved / "meta.json").read_text())
    names = meta["weights"]["tensors"]
    meta["weights"]["tensors"] = [1] + names[1:]         # not names: the file's own order is kept
    (saved / "meta.json").write_text(json.dumps(meta))
    loaded, _ = load_checkpoint(saved)
    assert sorted(loaded) == sorted(names)


@pytest.mark.parametrize("name, head, kind", [
    ("model.pt", b"PK\x03\x04\x00\x00\x08\x08", "a zip archive (torch.save's format)"),
    ("weights.pkl", b"\x80\x02}q\x00", "a pickle file"),
    ("legacy.pth", b"\x80\x02\x8a\nl\xfc\x9cF", "a pickle file"),
    ("model.ckpt", b"anything", "a .ckpt file"),
])
def test_pickle_and_torch_files_are_refused_with_the_way_out(tmp_path, name, head, kind):
    from scratchcnn.models import load_model

    f = tmp_path / name
    f.write_bytes(head + b"\x00" * 64)
    expect = (f"{f} is {kind}: scratchcnn loads no pickle-based format (unpickling a file can run arbitrary code). "
              f"Convert it once in PyTorch: safetensors.torch.save_file(torch.load({str(f)!r}, weights_only=True), "
              "'model.safetensors'), then load it with scratchcnn.io.load_torch_state_dict(model, 'model.safetensors')")
    for load in (load_checkpoint, read_meta, load_model):
        with pytest.raises(CheckpointError) as e:
            load(f)
        assert str(e.value) == expect


def test_a_bare_safetensors_file_is_not_a_checkpoint(tmp_path):
    from safetensors.numpy import save_file

    f = tmp_path / "weights.safetensors"
    save_file({"w": np.ones(2, np.float32)}, str(f))
    assert damaged_message(f) == (f"{f} is a bare safetensors file, not a checkpoint folder (model.safetensors + "
                                  "meta.json); load its tensors into a model with "
                                  "scratchcnn.io.load_torch_state_dict(model, path)")


def test_a_save_between_the_two_reads_is_not_damage(tmp_path, monkeypatch):
    """A reader that got meta.json of one version and then the weights of the next (a concurrent save swapped the
    folder between its two reads) reads both again instead of calling the checkpoint damaged."""
    d = save_checkpoint(tmp_path / "best", {"w": np.zeros(4)}, {"v": 1})
    real = type(d).read_bytes
    saves = []

    def read_bytes(self):
        if self.name == "model.safetensors" and not saves:   # another process saves right now
            saves.append(save_checkpoint(d, {"w": np.ones(4)}, {"v": 2}))
        return real(self)

    monkeypatch.setattr(type(d), "read_bytes", read_bytes)
    s, m = load_checkpoint(d)
    assert saves and m["v"] == 2 and s["w"].tolist() == [1, 1, 1, 1]


def test_disk_full_while_writing_the_weights_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    import errno

    d = save_checkpoint(tmp_path / "ck", state(0), {"v": 1})
    real = type(d).write_bytes

    def half_then_full(self, data):
        real(self, data[: len(data) // 2])                  # half of it reached the disk
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(type(d), "write_bytes", half_then_full)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(d, state(1), {"v": 2})
    monkeypatch.setattr(type(d), "write_bytes", real)
    s, m = load_checkpoint(d)
    assert m["v"] == 1 and all(np.array_equal(s[k], v) for k, v in state(0).items())
    assert leftovers(tmp_path) == []


def test_a_symlinked_checkpoint_is_written_through(tmp_path):
    real = save_checkpoint(tmp_path / "disk" / "best", state(0), {"v": 1})
    link = tmp_path / "best"
    link.symlink_to(real, target_is_directory=True)
    save_checkpoint(link, state(1), {"v": 2})
    assert link.is_symlink() and read_meta(real)["v"] == 2 and load_checkpoint(link)[1]["v"] == 2
    assert leftovers(tmp_path) == [] and leftovers(real.parent) == []
    f = tmp_path / "disk" / "history.json"
    atomic_write_text(f, "old")
    (tmp_path / "history.json").symlink_to(f)
    atomic_write_text(tmp_path / "history.json", "new")
    assert (tmp_path / "history.json").is_symlink() and f.read_text() == "new"


def test_unicode_paths(tmp_path):
    d = save_checkpoint(tmp_path / "ünïcødé ✓ 模型" / "best", state(), {"v": 1})
    s, m = load_checkpoint(d)
    assert m["v"] == 1 and list(s) == list(state())


def test_bit_flip_caught_by_sha256(saved):
    data = bytearray((saved / "model.safetensors").read_bytes())
    data[-3] ^= 0x01  # inside the tensor data: structurally fine, numerically wrong
    _rewrite_weights(saved, bytes(data), fix_hash=False)
    assert "does not match the SHA-256" in damaged_message(saved)
    s, _ = load_checkpoint(saved, verify=False)  # the caller may skip the check
    assert "conv1.weight" in s


def test_file_sha256(tmp_path):
    import hashlib

    p = tmp_path / "f.bin"
    data = os.urandom(3 * (1 << 20) + 17)
    p.write_bytes(data)
    assert file_sha256(p) == hashlib.sha256(data).hexdigest()


def test_atomic_writes(tmp_path, monkeypatch):
    p = atomic_write_text(tmp_path / "sub" / "history.json", '{"a": 1}\n')
    assert p.read_text() == '{"a": 1}\n'
    atomic_write_bytes(p, b"new")
    assert p.read_bytes() == b"new"

    def fail_fsync(fd):
        raise OSError("I/O error")

    monkeypatch.setattr(os, "fsync", fail_fsync)
    with pytest.raises(OSError):
        atomic_write_text(p, "half")
    assert p.read_bytes() == b"new" and leftovers(p.parent) == []


def test_no_pickle_in_io_or_data():
    from pathlib import Path

    root = Path(ckpt.__file__).parents[1]
    for sub in ("io", "data"):
        for f in (root / sub).glob("*.py"):
            text = f.read_text()
            assert "import pickle" not in text and "np.load(" not in text and "allow_pickle" not in text, f


def test_non_finite_weights_are_damage(tmp_path):
    from safetensors.numpy import save as st_save

    s = state()
    s["conv1.bias"][[2, 5]] = [np.nan, -np.inf]
    d = tmp_path / "ck"
    d.mkdir()
    blob = st_save(s)
    (d / "model.safetensors").write_bytes(blob)
    (d / "meta.json").write_text(json.dumps({"format_version": 1,
                                             "weights": {"sha256": hashlib.sha256(blob).hexdigest()}}))
    assert damaged_message(d) == f"checkpoint {d} is damaged: conv1.bias has 2 non-finite values"
    loaded, _ = load_checkpoint(d, allow_nonfinite=True)  # on request, e.g. to inspect a diverged run
    assert np.isnan(loaded["conv1.bias"][2]) and loaded["conv1.bias"][5] == -np.inf


def test_non_finite_weights_are_not_saved(tmp_path):
    d = save_checkpoint(tmp_path / "ck", state(), {"v": 1})
    bad = state()
    bad["bn.running_mean"][0] = np.inf
    with pytest.raises(ValueError) as e:
        save_checkpoint(d, bad, {"v": 2})
    assert str(e.value) == ("save_checkpoint: tensor 'bn.running_mean' has 1 non-finite values (NaN/inf); "
                            "refusing to save damaged weights")
    assert load_checkpoint(d)[1]["v"] == 1 and leftovers(tmp_path) == []


def test_export_cli_refuses_a_pt_file_in_one_line(tmp_path, capsys):
    from scratchcnn.cli import main

    f = tmp_path / "model.pt"
    f.write_bytes(b"PK\x03\x04" + b"\x00" * 60)
    assert main(["export", str(f), "--out", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{f} is a zip archive (torch.save's format): scratchcnn loads no pickle" in err
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("verb", [["evaluate"], ["predict", "{img}"], ["finetune", "--dataset", "mnist"],
                                  ["finetune-compare", "--dataset", "mnist"], ["predict-text", "hello"],
                                  ["visualize", "kernels"], ["visualize", "gradcam", "--image", "{img}"]])
def test_every_checkpoint_verb_refuses_a_pt_file_in_one_line(tmp_path, capsys, verb):
    """Not click's "is a file": the line that says why pickle is refused and how to convert the file."""
    from scratchcnn.cli import main

    f = tmp_path / "model.pt"
    f.write_bytes(b"\x80\x02}q\x00." + b"\x00" * 8)         # a pickle (protocol 2)
    img = tmp_path / "x.png"
    img.write_bytes(b"")
    args = [verb[0]] + ([verb[1]] if verb[0] == "visualize" else []) + [str(f)]
    args += [a.format(img=img) for a in (verb[2:] if verb[0] == "visualize" else verb[1:])]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{f} is a pickle file: scratchcnn loads no pickle" in err, err


def test_unwritable_destination_names_the_target(tmp_path, monkeypatch):
    """A read-only folder (simulated: the tests may run as root) is reported for the path asked for, not for the
    temporary sibling the save would have made; the old checkpoint stays."""
    import errno
    import tempfile

    d = save_checkpoint(tmp_path / "ck", state(0), {"v": 1})

    def refuse(*a, prefix="", dir=None, **k):
        raise PermissionError(errno.EACCES, "Permission denied", os.path.join(dir, prefix + "x1y2.tmp"))

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError) as e:
        save_checkpoint(d, state(1), {"v": 2})
    assert str(e.value) == f"[Errno 13] cannot write {d}: Permission denied (in {tmp_path})"
    with pytest.raises(PermissionError, match=r"cannot write .*history.json: Permission denied"):
        atomic_write_text(tmp_path / "history.json", "{}")
    monkeypatch.undo()
    assert load_checkpoint(d)[1]["v"] == 1 and leftovers(tmp_path) == []
