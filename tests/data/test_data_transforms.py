"""Batch transforms: shapes/dtypes kept, seeded, and equal to straightforward loop references."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from scratchcnn.data import Compose, Normalize, RandomCrop, RandomRotation, RandomShift


def rotate_reference(img: np.ndarray, deg: float, fill: float, nearest: bool) -> np.ndarray:
    """Textbook per-pixel rotation of one (H, W) image (loops: the oracle, not the implementation)."""
    h, w = img.shape
    cy, cx = (h - 1) / 2, (w - 1) / 2
    t = math.radians(deg)
    out = np.empty_like(img, dtype=np.float64)

    def px(y, x):
        return img[y, x] if 0 <= y < h and 0 <= x < w else fill

    for i in range(h):
        for j in range(w):
            sx = math.cos(t) * (j - cx) - math.sin(t) * (i - cy) + cx
            sy = math.sin(t) * (j - cx) + math.cos(t) * (i - cy) + cy
            if nearest:
                out[i, j] = px(int(np.rint(sy)), int(np.rint(sx)))
            else:
                y0, x0 = math.floor(sy), math.floor(sx)
                fy, fx = sy - y0, sx - x0
                out[i, j] = ((1 - fy) * ((1 - fx) * px(y0, x0) + fx * px(y0, x0 + 1))
                             + fy * ((1 - fx) * px(y0 + 1, x0) + fx * px(y0 + 1, x0 + 1)))
    return out


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
       fill=st.sampled_from([0.0, 0.5]), nearest=st.booleans(), seed=st.integers(0, 10**6))
def test_rotation_matches_loop_reference(n, c, h, w, fill, nearest, seed):
    rng = np.random.default_rng(seed)
    x = rng.random((n, c, h, w))
    angles = rng.uniform(-180, 180, n)
    t = RandomRotation(30, interpolation="nearest" if nearest else "bilinear", fill=fill)
    out = t(x, angles=angles)
    assert out.shape == x.shape and out.dtype == x.dtype
    for i in range(n):
        for k in range(c):
            ref = rotate_reference(x[i, k], angles[i], fill, nearest)
            # the implementation computes sampling coordinates in float32 (speed), hence atol 1e-6 for bilinear
            np.testing.assert_allclose(out[i, k], ref, rtol=0, atol=0 if nearest else 1e-6)


def test_rotation_90_degrees_is_rot90():
    x = np.arange(2 * 3 * 6 * 6, dtype=np.float32).reshape(2, 3, 6, 6)
    for interp in ("bilinear", "nearest"):
        out = RandomRotation(0, interpolation=interp)(x, angles=np.array([90.0, -90.0]))
        np.testing.assert_allclose(out[0], np.rot90(x[0], 1, axes=(1, 2)), atol=1e-4)
        np.testing.assert_allclose(out[1], np.rot90(x[1], -1, axes=(1, 2)), atol=1e-4)
    np.testing.assert_array_equal(RandomRotation(0)(x, angles=np.zeros(2)), x)


@pytest.mark.parametrize("t", [RandomRotation(15), RandomRotation((-5, 20), interpolation="nearest"),
                               RandomShift(3), RandomCrop(28, padding=4), Normalize(0.1307, 0.3081),
                               Compose([RandomRotation(10), RandomShift(2), Normalize(0.5, 0.5)])])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shape_dtype_and_seeding(t, dtype):
    x = np.random.default_rng(0).random((16, 1, 28, 28)).astype(dtype)
    a = t(x, np.random.default_rng(7))
    b = t(x, np.random.default_rng(7))
    assert a.shape == x.shape and a.dtype == dtype and a.flags.c_contiguous
    np.testing.assert_array_equal(a, b)
    assert x.dtype == dtype and np.all((x >= 0) & (x <= 1))  # input untouched
    if not isinstance(t, Normalize):
        assert not np.array_equal(a, t(x, np.random.default_rng(8)))


def test_shift_moves_content_and_fills_zero():
    x = np.zeros((200, 1, 5, 5), np.float32)
    x[:, 0, 2, 2] = 1.0
    out = RandomShift(2)(x, np.random.default_rng(0))
    assert (out.sum(axis=(1, 2, 3)) == 1).all()  # the pixel stays in the frame (shift <= 2 from the centre)
    pos = np.argwhere(out[:, 0] == 1)[:, 1:]
    assert pos.min() == 0 and pos.max() == 4  # all shifts of -2..2 occur
    edge = np.zeros((100, 1, 5, 5), np.float32)
    edge[:, 0, 0, 0] = 1.0
    moved = RandomShift(1, fill=0.0)(edge, np.random.default_rng(1))
    assert set(moved.sum(axis=(1, 2, 3)).tolist()) == {0.0, 1.0}  # shifted out -> zeros came in


def test_crop_matches_slicing_reference():
    rng = np.random.default_rng(3)
    x = rng.random((6, 2, 7, 9))
    out = RandomCrop((5, 6), padding=2, fill=-1.0)(x, np.random.default_rng(4))
    g = np.random.default_rng(4)
    oy, ox = g.integers(0, 7 + 4 - 5 + 1, 6), g.integers(0, 9 + 4 - 6 + 1, 6)
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=-1.0)
    for i in range(6):
        np.testing.assert_array_equal(out[i], padded[i, :, oy[i]:oy[i] + 5, ox[i]:ox[i] + 6])


def test_normalize_per_channel_and_errors():
    x = np.ones((2, 3, 2, 2), np.float32)
    out = Normalize([0.0, 0.5, 1.0], [1.0, 0.5, 2.0])(x)
    np.testing.assert_allclose(out[0, :, 0, 0], [1.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="2 mean values for 3 channels"):
        Normalize([0.1, 0.2], 1.0)(x)
    with pytest.raises(ValueError, match="std must be positive"):
        Normalize(0.0, 0.0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        RandomShift(1)(np.ones((3, 3), np.float32))
    with pytest.raises(TypeError, match="float batch"):
        RandomRotation(5)(np.ones((1, 1, 3, 3), np.uint8))
    with pytest.raises(ValueError, match="larger than"):
        RandomCrop(10)(np.ones((1, 1, 5, 5), np.float32))
