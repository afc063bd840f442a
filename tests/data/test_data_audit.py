"""Audit of the image-data pipeline: each test pins a defect that was found and fixed (or checks a result against
an independent implementation). No network: downloads go through a replaced ``_fetch`` or never start."""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import scratchcnn.data.sources as dl
from scratchcnn.cli import main
from scratchcnn.data import (ArrayDataset, DataLoader, DatasetNotFoundError, ImageFolder, RandomRotation, few_shot,
                             get_info, list_datasets, load_dataset, locate, read_idx, train_val_split)
from scratchcnn.data.idx import encode_idx, parse_idx
from scratchcnn.data.registry import REGISTRY

# ---------------------------------------------------------------- IDX against an independent struct reader

_STRUCT = {0x08: "B", 0x09: "b", 0x0B: "h", 0x0C: "i", 0x0D: "f", 0x0E: "d"}


def _struct_encode(code: int, shape: tuple[int, ...], values: list) -> bytes:
    """IDX bytes written by hand with struct (big-endian), independent of the library's writer."""
    head = struct.pack(">BBBB", 0, 0, code, len(shape)) + struct.pack(f">{len(shape)}I", *shape)
    return head + struct.pack(f">{len(values)}{_STRUCT[code]}", *values)


def _struct_decode(buf: bytes) -> tuple[tuple[int, ...], list]:
    zero, code, ndim = struct.unpack_from(">HBB", buf, 0)
    assert zero == 0
    shape = struct.unpack_from(f">{ndim}I", buf, 4)
    n = int(np.prod(shape)) if shape else 1
    return shape, list(struct.unpack_from(f">{n}{_STRUCT[code]}", buf, 4 + 4 * ndim))


@pytest.mark.parametrize("code", sorted(_STRUCT))
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), (2, 1, 3, 2)])
@pytest.mark.parametrize("gz", [False, True])
def test_every_type_code_and_rank_matches_a_struct_reader(tmp_path, code, shape, gz):
    rng = np.random.default_rng(code * 100 + len(shape))
    n = int(np.prod(shape))
    if _STRUCT[code] in "fd":
        values = [float(v) for v in rng.normal(0, 1e3, n).astype(np.float32 if code == 0x0D else np.float64)]
    else:
        info = np.iinfo({0x08: np.uint8, 0x09: np.int8, 0x0B: np.int16, 0x0C: np.int32}[code])
        values = [int(v) for v in rng.integers(info.min, info.max, n, endpoint=True)]
    raw = _struct_encode(code, shape, values)
    path = tmp_path / ("f.idx.gz" if gz else "f.idx")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    arr = read_idx(path)
    ref_shape, ref_values = _struct_decode(raw)
    assert arr.shape == ref_shape and arr.dtype.isnative
    np.testing.assert_array_equal(arr.ravel(), np.array(ref_values, dtype=arr.dtype))
    assert encode_idx(arr) == raw  # and the writer produces the same bytes as struct


def test_huge_header_sizes_do_not_wrap_around():
    """Sizes whose product overflows int64 used to wrap (to 0 here: a raw numpy reshape error)."""
    head = bytes([0, 0, 8, 3]) + struct.pack(">3I", 2**21, 2**21, 2**22)
    with pytest.raises(ValueError, match=r"<bytes> is damaged: truncated: shape \(2097152, 2097152, 4194304\)"):
        parse_idx(head)
    head = bytes([0, 0, 8, 4]) + struct.pack(">4I", *[2**32 - 1] * 4)
    with pytest.raises(ValueError, match="truncated"):  # was: "... unexpected extra bytes"
        parse_idx(head + b"\0" * 10)


def test_a_folder_given_as_idx_file_is_one_clear_line(tmp_path):
    with pytest.raises(ValueError) as e:
        read_idx(tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path) in msg and "is a folder, not a file" in msg


# ---------------------------------------------------------------- lookup


def _fake(folder: Path, seed: int = 0, n: int = 6) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "t10k"):
        (folder / f"{split}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(encode_idx(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))))
        (folder / f"{split}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(encode_idx(rng.integers(0, 10, n, dtype=np.uint8))))
    return folder


def _register_as(monkeypatch, name: str, folder: Path) -> None:
    """Make the registry recognise ``folder``'s test labels as dataset ``name`` (by their content MD5, CRC-32 and
    length, the fingerprint that identifies files)."""
    info = get_info(name)
    content = gzip.decompress((folder / "t10k-labels-idx1-ubyte.gz").read_bytes())
    files = tuple(dataclasses.replace(f, content_md5=hashlib.md5(content).hexdigest(), content_sha256=None,
                                      content_crc32=zlib.crc32(content), content_size=len(content))
                  if f.name == "t10k-labels-idx1-ubyte.gz" else f for f in info.files)
    monkeypatch.setitem(REGISTRY, name, dataclasses.replace(info, files=files))


def test_a_folder_of_another_dataset_is_not_taken(env, monkeypatch):
    """All datasets share the four file names: --data-dir pointing at MNIST's folder used to make every dataset
    (fashion-mnist, kmnist) 'found' there, so training on fashion-mnist silently read MNIST."""
    mnist = _fake(env["root"] / "data" / "mnist")
    _register_as(monkeypatch, "mnist", mnist)
    assert dl.identify(mnist) == "mnist"
    assert locate("mnist", data_dir=mnist) == mnist
    rows = {r["name"]: r for r in list_datasets(mnist)}
    assert rows["mnist"]["path"] == str(mnist)
    assert not rows["fashion-mnist"]["found"] and not rows["kmnist"]["found"]
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset("fashion-mnist", data_dir=mnist)
    assert f"{mnist} holds the mnist files, not fashion-mnist" in str(e.value) and "\n" not in str(e.value)
    # the right folder beside it is still found, and a folder of unknown (custom) data is accepted as before
    fashion = _fake(env["root"] / "data" / "fashion-mnist", seed=1)
    assert locate("fashion-mnist", data_dir=mnist.parent) == fashion
    custom = _fake(env["root"] / "custom", seed=2)
    assert dl.identify(custom) is None and locate("fashion-mnist", data_dir=custom) == custom


def test_real_folders_identify_as_themselves(data_dir):
    for name in ("mnist", "fashion-mnist"):
        if (data_dir / name).is_dir():
            assert dl.identify(data_dir / name) == name
            assert dl.find_local(name, data_dir / name) == data_dir / name


def test_a_partial_folder_is_named_in_the_error(env):
    d = _fake(env["root"] / "given")
    (d / "t10k-labels-idx1-ubyte.gz").unlink()
    (d / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError) as e:
        locate("mnist", data_dir=d)
    msg = str(e.value)
    assert "\n" not in msg
    assert f"{d} lacks train-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz" in msg


def test_explicit_download_respects_offline(env, monkeypatch):
    monkeypatch.setenv("SCRATCHCNN_OFFLINE", "1")
    with pytest.raises(DatasetNotFoundError, match=r"downloads are disabled by \$SCRATCHCNN_OFFLINE"):
        dl.download("kmnist", env["root"] / "dl")
    assert env["calls"] == []
    monkeypatch.setenv("SCRATCHCNN_OFFLINE", "off")  # "off" means online, like "0"/"false"/"no"
    with pytest.raises(DatasetNotFoundError, match="network is unreachable"):
        dl.download("kmnist", env["root"] / "dl")
    assert len(env["calls"]) == 1


def test_negative_label_names_the_file(env):
    d = _fake(env["root"] / "neg")
    (d / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(encode_idx(np.array([0, -3, 1, 2, 3, 4], np.int8))))
    with pytest.raises(ValueError) as e:
        load_dataset("mnist", "test", data_dir=d)
    assert str(d / "t10k-labels-idx1-ubyte.gz") in str(e.value) and "label -3" in str(e.value)


def test_cli_verify(env, capsys, monkeypatch):
    d = _fake(env["root"] / "v")
    rc = main(["datasets", "verify", "mnist", "--data-dir", str(d), "--json"])
    out, err = capsys.readouterr()
    assert rc == 2 and out.count("\n") == 1 and '"ok": false' in out
    assert err.count("\n") == 1 and "failed verification" in err and "train-images-idx3-ubyte.gz" in err
    info = get_info("mnist")  # make the registry agree with the fake files
    files = tuple(dataclasses.replace(f, content_sha256=hashlib.sha256(gzip.decompress((d / f.name).read_bytes()))
                                      .hexdigest()) for f in info.files)
    monkeypatch.setitem(REGISTRY, "mnist", dataclasses.replace(info, files=files))
    rc = main(["datasets", "verify", "mnist", "--data-dir", str(d)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert [line.split() for line in out.splitlines()] == [[f, "ok"] for f in get_info("mnist").file_names]


# ---------------------------------------------------------------- DataLoader


def _toy(n=5):
    return np.arange(n * 16, dtype=np.uint8).reshape(n, 4, 4), np.arange(n) % 3


def test_loader_rejects_float_labels():
    """Float labels used to be truncated to int (1.7 -> class 1) without a word."""
    imgs, _ = _toy()
    with pytest.raises(TypeError, match="integer class indices"):
        DataLoader((imgs, np.array([0.5, 1.7, 2.2, 3.9, 4.0])))


@pytest.mark.parametrize("mean, std", [(float("nan"), 1.0), (0.1, float("nan")), (0.1, float("inf")),
                                       (float("inf"), 1.0)])
def test_loader_rejects_non_finite_normalisation(mean, std):
    with pytest.raises(ValueError, match="finite mean/std"):
        DataLoader(_toy(), normalize=(mean, std))


def test_loader_empty_and_batchless_are_errors():
    imgs, labels = _toy()
    with pytest.raises(ValueError, match="empty"):
        DataLoader((imgs[:0], labels[:0]))
    with pytest.raises(ValueError, match="gives no batches"):
        DataLoader((imgs, labels), batch_size=8, drop_last=True)
    with pytest.raises(ValueError, match="integer >= 1"):
        DataLoader((imgs, labels), batch_size=2.7)  # used to become 2 silently
    (x, y), = list(DataLoader((imgs, labels), batch_size=8))  # smaller than one batch: one partial batch
    assert x.shape == (5, 1, 4, 4) and y.data.tolist() == labels.tolist()


def test_loader_batches_are_contiguous_float32_after_a_view_transform():
    imgs, labels = _toy()
    loader = DataLoader((imgs, labels), batch_size=2, transform=lambda x, g: x[..., ::-1], normalize=(0.5, 0.25))
    x, _ = next(iter(loader))
    assert x.data.dtype == np.float32 and x.data.flags.c_contiguous
    ref = (imgs[:2, None, :, ::-1].astype(np.float32) / 255 - 0.5) / 0.25
    np.testing.assert_allclose(x.data, ref, rtol=1e-6, atol=1e-6)


def test_loader_rejects_a_transform_that_changes_the_batch_size():
    loader = DataLoader(_toy(), batch_size=4, transform=lambda x, g: x[:1])
    with pytest.raises(ValueError, match="B = 4"):
        next(iter(loader))


def test_loader_refuses_float_pixels_outside_unit_range_when_normalising():
    imgs, labels = _toy()
    ds = ArrayDataset(imgs.astype(np.float32), labels, ("a", "b", "c"), mean=0.1307, std=0.3081)  # 0..79: unscaled
    with pytest.raises(ValueError, match="in \\[0, 1\\] before normalising, found 0..79"):
        DataLoader(ds)
    nan = imgs.astype(np.float32) / 255
    nan[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="before normalising"):
        DataLoader((nan, labels), normalize=(0.5, 0.5))
    x, _ = next(iter(DataLoader(ds, normalize=False)))  # pre-scaled data without normalisation passes through
    np.testing.assert_array_equal(x.data[:, 0], imgs[:len(x.data)].astype(np.float32))


# ---------------------------------------------------------------- splits


def test_few_shot_rejects_negative_and_duplicate_classes():
    labels = np.array([0, 0, 1, 1, 2, 2])
    with pytest.raises(ValueError, match="distinct non-negative"):
        few_shot(labels, 1, classes=[-1])  # used to wrap around to the last class and return a class-0 sample
    with pytest.raises(ValueError, match="distinct non-negative"):
        few_shot(labels, 1, classes=[1, 1])  # used to return the same sample twice
    picked = few_shot(labels, 2, classes=[2, 0], seed=3)
    assert picked.tolist() == [0, 1, 4, 5]


def test_train_val_split_keeps_both_parts_non_empty():
    tr, va = train_val_split(3, 0.99, seed=0)  # used to give an empty training part
    assert len(tr) == 1 and len(va) == 2 and set(tr) | set(va) == {0, 1, 2}
    with pytest.raises(ValueError, match="at least 2"):
        train_val_split(1, 0.1)  # used to return an empty validation part
    tr, va = train_val_split(1, 0.0)
    assert tr.tolist() == [0] and va.tolist() == []


# ---------------------------------------------------------------- image folders


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_image_folder_scales_16_bit_pngs(tmp_path, mode):
    """Pillow's convert() clips 16-bit values at 255: a 16-bit PNG used to load almost all white."""
    from PIL import Image

    a16 = (np.arange(12 * 10, dtype=np.uint32).reshape(12, 10) * 547).astype(np.uint16)  # 0 .. 65093
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        Image.fromarray(a16).save(tmp_path / c / "x.png")
    assert Image.open(tmp_path / "a" / "x.png").mode.startswith("I")
    ds = ImageFolder(tmp_path, size=None, mode=mode)
    expect = np.floor(a16.astype(np.float64) * 255 / 65535 + 0.5).astype(np.uint8)  # round(v / 257)
    got = ds.images[0] if mode == "L" else ds.images[0, 1]
    np.testing.assert_array_equal(got, expect)


def test_image_folder_modes_match_independent_conversions(tmp_path):
    """Gray, RGB (ITU-R 601 luma), palette and 8-bit grayscale+alpha all load as the expected gray levels."""
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, (6, 5), dtype=np.uint8)
    (tmp_path / "k").mkdir()
    Image.fromarray(gray).save(tmp_path / "k" / "0gray.png")
    Image.fromarray(rgb).save(tmp_path / "k" / "1rgb.png")
    Image.fromarray(np.dstack([gray, np.full_like(gray, 255)]), "LA").save(tmp_path / "k" / "2la.png")
    pal = Image.fromarray(gray).convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
    pal.save(tmp_path / "k" / "3pal.png")
    (tmp_path / "k" / "notes.txt").write_text("not an image")
    ds = ImageFolder(tmp_path, size=None)
    assert [Path(p).name for p in ds.paths] == ["0gray.png", "1rgb.png", "2la.png", "3pal.png"]
    r, g, b = (rgb[..., k].astype(np.int64) for k in range(3))
    luma = (r * 299 + g * 587 + b * 114 + 500) // 1000
    np.testing.assert_array_equal(ds.images[0], gray)
    assert np.abs(ds.images[1].astype(int) - luma).max() <= 1
    np.testing.assert_array_equal(ds.images[2], gray)
    np.testing.assert_array_equal(ds.images[3], np.asarray(pal.convert("L")))


# ---------------------------------------------------------------- rotation against scipy


@pytest.mark.parametrize("fill", [0.0, 0.25])
def test_rotation_matches_scipy_affine_transform(fill):
    """Bilinear rotation about ((H-1)/2, (W-1)/2), positive = anticlockwise, fill entering smoothly at the edges,
    compared with scipy.ndimage.affine_transform (order 1, grid-constant)."""
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(0)
    x = rng.random((4, 2, 9, 12))
    angles = np.array([17.0, -33.0, 90.0, 181.5])
    out = RandomRotation(45, fill=fill)(x, angles=angles)
    h, w = x.shape[2:]
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    for i, a in enumerate(np.deg2rad(angles)):
        m = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])  # output (y, x) -> input (y, x)
        for c in range(2):
            ref = ndimage.affine_transform(x[i, c], m, offset=centre - m @ centre, order=1, mode="grid-constant",
                                           cval=fill)
            np.testing.assert_allclose(out[i, c], ref, rtol=0, atol=2e-6)
    dot = np.zeros((1, 1, 11, 11))
    dot[0, 0, 5, 8] = 1.0  # right of centre
    assert np.argwhere(RandomRotation(90)(dot, angles=np.array([90.0]))[0, 0] > 0.5).tolist() == [[2, 5]]  # up
