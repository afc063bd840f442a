"""ImageFolder and load_image_for_mnist on generated PNG/JPEG files (and real MNIST digits re-rendered)."""
from __future__ import annotations

import numpy as np
import pytest

from scratchcnn.data import DataLoader, ImageFolder, load_dataset, load_image_for_mnist, load_images_for_mnist

Image = pytest.importorskip("PIL.Image")


def glyph(h: int, w: int, dark_on_light: bool = True, rgb: bool = False, seed: int = 0) -> np.ndarray:
    """A 'digit': a thick cross, off-centre, on a plain (slightly noisy) background."""
    rng = np.random.default_rng(seed)
    a = np.zeros((h, w))
    cy, cx, t = int(h * 0.4), int(w * 0.55), max(1, min(h, w) // 10)
    a[int(h * 0.15):int(h * 0.7), cx - t:cx + t] = 1
    a[cy - t:cy + t, int(w * 0.3):int(w * 0.8)] = 1
    a = np.clip(a + rng.normal(0, 0.02, a.shape), 0, 1)
    if dark_on_light:
        a = 1 - a
    img = (a * 255).astype(np.uint8)
    return np.stack([img, img, img], axis=-1) if rgb else img


def save(path, arr, **kw):
    Image.fromarray(arr).save(path, **kw)
    return path


def check_mnist_like(out: np.ndarray):
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() == pytest.approx(1.0)
    rows, cols = np.nonzero(out > 0.1)
    assert rows.max() - rows.min() + 1 <= 20 and cols.max() - cols.min() + 1 <= 20
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 >= 18   # fitted to the 20-pixel box
    assert out[:3].max() < 0.05 and out[-3:].max() < 0.05 and out[:, :3].max() < 0.05  # dark frame
    m = out.sum()
    cy = (out.sum(1) * np.arange(28)).sum() / m
    cx = (out.sum(0) * np.arange(28)).sum() / m
    assert abs(cy - 14) <= 0.6 and abs(cx - 14) <= 0.6  # centred by mass


@pytest.mark.parametrize("h, w", [(28, 28), (300, 200), (57, 413), (17, 9)])
@pytest.mark.parametrize("dark_on_light", [True, False])
@pytest.mark.parametrize("rgb", [False, True])
def test_png_any_size_and_polarity(tmp_path, h, w, dark_on_light, rgb):
    p = save(tmp_path / "x.png", glyph(h, w, dark_on_light, rgb))
    out = load_image_for_mnist(p)
    check_mnist_like(out)


def test_light_and_dark_backgrounds_agree(tmp_path):
    a = load_image_for_mnist(save(tmp_path / "a.png", glyph(120, 90, True)))
    b = load_image_for_mnist(save(tmp_path / "b.png", glyph(120, 90, False)))
    assert np.abs(a - b).max() < 0.1


def test_jpeg_close_to_png(tmp_path):
    arr = glyph(160, 140, True, rgb=True)
    a = load_image_for_mnist(save(tmp_path / "a.png", arr))
    b = load_image_for_mnist(save(tmp_path / "a.jpg", arr, quality=85))
    check_mnist_like(b)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.97


def test_transparent_png(tmp_path):
    ink = glyph(80, 80, dark_on_light=False)  # 1 where the stroke is
    rgba = np.zeros((80, 80, 4), np.uint8)
    rgba[..., 3] = ink  # black strokes, transparent elsewhere
    a = load_image_for_mnist(save(tmp_path / "t.png", rgba))
    b = load_image_for_mnist(save(tmp_path / "w.png", glyph(80, 80, True)))
    check_mnist_like(a)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.97


def test_aspect_ratio_is_kept(tmp_path):
    bar = np.full((60, 300), 255, np.uint8)
    bar[25:35, 20:280] = 0  # a wide dark bar: 260 x 10
    out = load_image_for_mnist(save(tmp_path / "bar.png", bar))
    rows, cols = np.nonzero(out > 0.5)
    assert cols.max() - cols.min() + 1 == 20 and rows.max() - rows.min() + 1 <= 2


def test_blank_image_gives_zeros(tmp_path):
    out = load_image_for_mnist(save(tmp_path / "blank.png", np.full((40, 30), 255, np.uint8)))
    assert out.shape == (28, 28) and not out.any()


def test_array_input_and_batch_helper(tmp_path):
    arr = glyph(50, 50, True)
    p = save(tmp_path / "g.png", arr)
    np.testing.assert_allclose(load_image_for_mnist(arr), load_image_for_mnist(p), atol=1e-6)
    batch = load_images_for_mnist([p, p])
    assert batch.shape == (2, 28, 28) and batch.dtype == np.float32


def test_real_mnist_digits_round_trip(data_dir, tmp_path):
    """MNIST digits drawn black-on-white at 4x size come back close to the originals."""
    ds = load_dataset("mnist", "test", data_dir=data_dir, download=False)
    corr = []
    for i in range(40):
        big = Image.fromarray(255 - ds.images[i]).resize((112, 112), Image.Resampling.BICUBIC).convert("RGB")
        p = tmp_path / f"{i}.png"
        big.save(p)
        out = load_image_for_mnist(p)
        corr.append(np.corrcoef(out.ravel(), ds.images[i].ravel())[0, 1])
    assert np.mean(corr) > 0.93 and np.min(corr) > 0.6


def test_real_fashion_items_round_trip_with_fill(data_dir, tmp_path):
    """Fashion-MNIST items fill the frame: ``fit="fill"`` gives a saved test image back (almost always exactly),
    while MNIST's digit fitting would shrink it to 20 px. Also at 4x size, black-on-white, as a photo would be."""
    ds = load_dataset("fashion-mnist", "test", data_dir=data_dir, download=False)
    diffs, exact, corr = [], 0, []
    for i in range(200):
        ref = ds.images[i].astype(np.float32) / 255
        out = load_image_for_mnist(save(tmp_path / f"{i}.png", ds.images[i]), fit="fill")
        diffs.append(np.abs(out - ref).mean())
        exact += bool(np.abs(out - ref).max() < 1e-6)
    for i in range(20):
        big = Image.fromarray(255 - ds.images[i]).resize((112, 112), Image.Resampling.BICUBIC)
        out = load_image_for_mnist(save(tmp_path / f"big{i}.png", np.asarray(big)), fit="fill")
        corr.append(np.corrcoef(out.ravel(), ds.images[i].ravel())[0, 1])
    assert exact >= 160 and np.mean(diffs) < 0.02, (exact, np.mean(diffs))
    assert np.mean(corr) > 0.9, corr
    digit = [np.abs(load_image_for_mnist(ds.images[i]) - ds.images[i] / 255).mean() for i in range(20)]
    assert np.mean(digit) > 5 * np.mean(diffs[:20]) + 0.05


def test_fill_centres_the_item_at_full_size(tmp_path):
    pic = np.full((60, 90), 255, np.uint8)
    pic[20:40, 10:80] = 30                                     # a dark 20 x 70 bar on white
    out = load_image_for_mnist(save(tmp_path / "bar.png", pic), fit="fill")
    rows, cols = np.nonzero(out > 0.5)
    assert (cols.min(), cols.max()) == (0, 27) and rows.max() - rows.min() + 1 == 8
    assert abs((rows.min() + rows.max()) / 2 - 13.5) <= 0.5
    with pytest.raises(ValueError, match="fit must be one of"):
        load_image_for_mnist(pic, fit="stretch")


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 30])
def test_unreadable_image_is_one_line_error(tmp_path, content):
    p = tmp_path / "broken.png"
    p.write_bytes(content)
    with pytest.raises(ValueError, match="cannot read image") as e:
        load_image_for_mnist(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ValueError, match="does not exist"):
        load_image_for_mnist(tmp_path / "missing.png")


def test_truncated_jpeg(tmp_path):
    p = save(tmp_path / "t.jpg", glyph(64, 64, rgb=True))
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(ValueError, match="cannot read image .*t.jpg"):
        load_image_for_mnist(p)


def make_folder(root, sizes=((30, 20), (28, 28), (41, 33))):
    for k, cls in enumerate(["zebra", "ant", "cat"]):
        d = root / cls
        d.mkdir(parents=True)
        for j, (h, w) in enumerate(sizes):
            ext = ".png" if j % 2 == 0 else ".JPG"
            save(d / f"img{j}{ext}", glyph(h, w, True, rgb=(k == 1), seed=j))
        (d / "notes.txt").write_text("ignored")
        save(d / ".hidden.png", glyph(5, 5))
    (root / ".git").mkdir()
    return root


def test_image_folder(tmp_path):
    root = make_folder(tmp_path / "imgs")
    ds = ImageFolder(root)
    assert ds.classes == ("ant", "cat", "zebra")
    assert ds.images.shape == (9, 28, 28) and ds.images.dtype == np.uint8
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert [p.split("/")[-2:] for p in ds.paths][:2] == [["ant", "img0.png"], ["ant", "img1.JPG"]]
    rgb = ImageFolder(root, size=16, mode="RGB", classes=["zebra", "ant"])
    assert rgb.images.shape == (6, 3, 16, 16) and rgb.classes == ("zebra", "ant")
    mn = ImageFolder(root, mnist_style=True, mean=0.1307, std=0.3081)
    assert mn.images.shape == (9, 28, 28) and mn.images[:, :2].max() < 13  # dark frame, ink bright
    x, y = next(iter(DataLoader(mn, batch_size=9)))
    assert x.shape == (9, 1, 28, 28) and y.tolist() == mn.labels.tolist()
    sub = mn.subset([0, 4])
    assert len(sub) == 2 and sub.labels.tolist() == [0, 1]


def test_image_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        ImageFolder(tmp_path / "nope")
    root = make_folder(tmp_path / "a")
    with pytest.raises(ValueError, match=r"pass size=\(H, W\)"):
        ImageFolder(root, size=None)
    with pytest.raises(ValueError, match="class folders \\['dog'\\] not found"):
        ImageFolder(root, classes=["dog"])
    (root / "empty").mkdir()
    with pytest.raises(ValueError, match="has no .png/.jpg/.jpeg/.bmp/.ppm/.pgm/.tif/.tiff/.webp images"):
        ImageFolder(root)
    (root / "empty" / "bad.png").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot read image .*bad.png") as e:
        ImageFolder(root)
    assert "\n" not in str(e.value)


def test_image_folder_and_predict_read_torchvisions_extensions(tmp_path):
    """BMP, TIFF, WebP and PPM/PGM pictures are read like PNG (torchvision's list; they used to be skipped)."""
    from PIL import Image

    from scratchcnn.data.image_folder import IMAGE_EXTENSIONS
    from scratchcnn.train.predict import image_files
    exts = [".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".png"]
    assert set(exts) <= set(IMAGE_EXTENSIONS)
    for i, ext in enumerate(exts):
        cls = tmp_path / ("a" if i % 2 else "b")
        cls.mkdir(exist_ok=True)
        Image.new("L", (6, 6), 40 * i).save(cls / f"p{i}{ext}", **({"lossless": True} if ext == ".webp" else {}))
    ds = ImageFolder(tmp_path, mode="L")
    assert len(ds) == len(exts)
    assert sorted(int(v) for v in ds.images[:, 0, 0]) == [40 * i for i in range(len(exts))]
    assert len(image_files([tmp_path / "a"])) + len(image_files([tmp_path / "b"])) == len(exts)


def test_predict_folder_skips_hidden_files_like_image_folder(tmp_path):
    """macOS leaves ``._name.png`` beside pictures (not images): a folder leaves them out, as ImageFolder does;
    a hidden file named explicitly is still read."""
    from PIL import Image

    from scratchcnn.train.predict import image_files
    Image.new("L", (6, 6), 200).save(tmp_path / "digit.png")
    (tmp_path / "._digit.png").write_bytes(b"\x00\x05\x16\x07 not an image")
    assert image_files([tmp_path]) == [str(tmp_path / "digit.png")]
    assert image_files([tmp_path / "._digit.png"]) == [str(tmp_path / "._digit.png")]


def test_huge_or_unreadable_pictures_are_one_line(tmp_path, monkeypatch):
    """Above Pillow's MAX_IMAGE_PIXELS a picture is refused from its header (no decompression-bomb warning);
    an unreadable file's error lists the formats that are read."""
    import warnings

    from PIL import Image

    from scratchcnn.data.image_folder import open_image
    Image.new("L", (40, 30)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"big\.png is too large to read: Image size \(1200 pixels\) exceeds limit "
                                             r"of 1000 pixels; scale it down first$"):
            open_image(tmp_path / "big.png")
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)     # beyond twice the limit Pillow refuses it itself
        with pytest.raises(ValueError, match=r"too large to read: Image size \(1200 pixels\) exceeds limit"):
            open_image(tmp_path / "big.png")
    (tmp_path / "junk.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"junk\.png: .*\(expected an image file: PNG, JPG, JPEG, BMP"):
        open_image(tmp_path / "junk.png")
