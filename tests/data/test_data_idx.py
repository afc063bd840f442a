"""IDX reader/writer: round trips for every type code, and every kind of damaged file."""
from __future__ import annotations

import gzip

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from scratchcnn.data.idx import IDX_TYPES, encode_idx, parse_idx, read_idx, write_idx

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@settings(max_examples=30, deadline=None)
@given(dtype=st.sampled_from(DTYPES), shape=st.lists(st.integers(0, 5), min_size=1, max_size=4),
       gz=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_round_trip(tmp_path_factory, dtype, shape, gz, seed):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    arr = (rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype) if info
           else rng.standard_normal(shape).astype(dtype))
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if gz else "a.idx")
    write_idx(path, arr)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative and back.shape == tuple(shape)
    np.testing.assert_array_equal(back, arr)
    assert back.flags.writeable


def test_header_layout_is_big_endian():
    b = encode_idx(np.array([[1, 2, 3]], dtype=np.int32))
    assert b[:4] == bytes([0, 0, 0x0C, 2])
    assert b[4:12] == (1).to_bytes(4, "big") + (3).to_bytes(4, "big")
    assert b[12:16] == (1).to_bytes(4, "big")
    assert set(IDX_TYPES) == {0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E}


def test_compression_is_sniffed_not_guessed_from_name(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    p = tmp_path / "labels"  # no .gz suffix, gzip content
    p.write_bytes(gzip.compress(encode_idx(arr)))
    np.testing.assert_array_equal(read_idx(p), arr)


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(TypeError, match="int64"):
        write_idx(tmp_path / "x.idx", np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="dimensions"):
        encode_idx(np.array(5, np.uint8))


def _good() -> bytes:
    return encode_idx(np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4))


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b"\x01\x00" + b[2:], "bad magic number"),
    (lambda b: b"\x00\x01" + b[2:], "bad magic number"),
    (lambda b: b[:2] + b"\x0a" + b[3:], "unknown type code 0x0A"),
    (lambda b: b[:2] + b"\x0c" + b[3:], "truncated"),          # int32 needs 4x the bytes
    (lambda b: b[:3] + b"\x00", "0 dimensions"),
    (lambda b: b[:-1], "truncated"),
    (lambda b: b[:10], "truncated header"),
    (lambda b: b + b"\x00\x00", "2 unexpected extra bytes"),
    (lambda b: b[:3], "too short"),
    (lambda b: b"", "too short"),
])
@pytest.mark.parametrize("gz", [False, True])
def test_corrupt_files_raise_one_line_errors(tmp_path, mutate, message, gz):
    data = mutate(_good())
    p = tmp_path / ("bad-idx3-ubyte.gz" if gz else "bad-idx3-ubyte")
    p.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(ValueError, match=message) as e:
        read_idx(p)
    text = str(e.value)
    assert str(p) in text and "\n" not in text and "download it again" in text


def test_named_gz_but_not_gzip(tmp_path):
    p = tmp_path / "train-images-idx3-ubyte.gz"
    p.write_bytes(_good())
    with pytest.raises(ValueError, match="not gzip-compressed"):
        read_idx(p)


@pytest.mark.parametrize("cut", [5, 40, -9])
def test_truncated_or_corrupt_gzip(tmp_path, cut):
    p = tmp_path / "t10k-images-idx3-ubyte.gz"
    p.write_bytes(gzip.compress(encode_idx(np.random.default_rng(0).integers(0, 255, (20, 28, 28), np.uint8)))[:cut])
    with pytest.raises(ValueError, match="gzip data is truncated or corrupt") as e:
        read_idx(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_flipped_gzip_bytes_detected(tmp_path):
    raw = bytearray(gzip.compress(_good() * 1))
    raw[len(raw) // 2] ^= 0xFF
    p = tmp_path / "x.gz"
    p.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=str(p).replace("\\", "\\\\")):
        read_idx(p)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_idx(tmp_path / "nope.gz")


def test_parse_idx_dims_other_than_3():
    arr = np.arange(6, dtype=np.float64).reshape(6)
    np.testing.assert_array_equal(parse_idx(encode_idx(arr)), arr)
