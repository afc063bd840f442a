"""Floating-point pictures (PIL mode "F", e.g. a 32-bit float TIFF): values in [0, 1] are read as 0..1, values up
to 255 as 0..255, anything else is a one-line error naming the file. A float TIFF holding the usual 0..255 values
used to be read as 0..1 (every pixel above 1 clipped to white), so predict answered differently than for the
same digit as PNG."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cli.helpers import assert_one_line_error, run
from scratchcnn.data import ImageFolder, load_image_for_mnist


def _digit() -> np.ndarray:
    """A 16x16 anti-aliased stroke: grey levels in between, so clipping them to white changes the result."""
    yy, xx = np.mgrid[0:16, 0:16]
    return np.clip(255 - 60 * np.abs(xx - 0.5 * yy - 4), 0, 255).astype(np.uint8)


@pytest.fixture
def pictures(tmp_path):
    img = _digit()
    Image.fromarray(img).save(tmp_path / "d.png")
    Image.fromarray(img.astype(np.float32)).save(tmp_path / "d255.tiff")
    Image.fromarray(img.astype(np.float32) / 255).save(tmp_path / "d01.tiff")
    assert Image.open(tmp_path / "d255.tiff").mode == "F"
    return tmp_path


@pytest.mark.parametrize("fit", ["digit", "fill"])
def test_float_tiff_reads_like_the_png(pictures, fit):
    png = load_image_for_mnist(pictures / "d.png", fit=fit)
    np.testing.assert_array_equal(load_image_for_mnist(pictures / "d255.tiff", fit=fit), png)
    np.testing.assert_allclose(load_image_for_mnist(pictures / "d01.tiff", fit=fit), png, atol=1e-6)


def test_image_folder_reads_float_tiffs_like_pngs(pictures):
    for c in ("a", "b"):
        (pictures / c).mkdir()
    Image.open(pictures / "d.png").save(pictures / "a" / "x.png")
    (pictures / "d255.tiff").rename(pictures / "b" / "x.tiff")
    ds = ImageFolder(pictures, classes=["a", "b"], size=None)
    np.testing.assert_array_equal(ds.images[1], ds.images[0])


@pytest.mark.parametrize("change,span", [(lambda a: a - 1.0, "-1..254"), (lambda a: a * 2.0, "0..510"),
                                         (lambda a: np.where(a > 200, np.nan, a), "NaN")],
                         ids=["negative", "above-255", "nan"])
def test_float_values_outside_both_ranges_are_an_error(tmp_path, capsys, change, span):
    path = tmp_path / "bad.tiff"
    Image.fromarray(change(_digit().astype(np.float32)).astype(np.float32)).save(path)
    with pytest.raises(ValueError) as e:
        load_image_for_mnist(path)
    msg = str(e.value)
    assert msg.startswith(f"image {path}: ") and span in msg and "0..1 or 0..255" in msg and "\n" not in msg
    rc, out, err = run(capsys, "visualize", "filter", "--image", path, "--out", tmp_path / "f.png")
    assert_one_line_error(rc, out, err, f"image {path}: ", span)
    assert not (tmp_path / "f.png").exists()


def test_filter_and_explain_read_float_tiffs_like_pngs(pictures):
    from scratchcnn.viz.inputs import load_gray_image, load_matrix
    png = load_gray_image(pictures / "d.png")
    np.testing.assert_array_equal(load_gray_image(pictures / "d255.tiff"), png)
    np.testing.assert_allclose(load_gray_image(pictures / "d01.tiff", scale=1.0), png / 255, atol=1e-6)
    np.testing.assert_array_equal(load_matrix(str(pictures / "d255.tiff")), png)
