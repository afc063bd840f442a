"""Image files: ``ImageFolder`` (one sub-folder per class) and ``load_image_for_mnist`` (any picture -> 28x28).

Pillow is imported only when an image is opened. An unreadable file raises a one-line ``ValueError`` naming it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .dataset import ArrayDataset

__all__ = ["IMAGE_EXTENSIONS", "open_image", "load_image_for_mnist", "load_images_for_mnist", "ImageFolder"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
"""Image files read by ImageFolder and predict (torchvision's list; Pillow decodes them all)."""


def open_image(path: str | os.PathLike):
    """Open and decode an image with Pillow (EXIF rotation applied). Raises a one-line ValueError if unreadable or
    larger than Pillow's ``Image.MAX_IMAGE_PIXELS`` (~89 megapixels; checked from the header, before decoding,
    where Pillow would only warn of a possible decompression bomb)."""
    import warnings

    from PIL import Image, ImageOps  # lazy

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"image {path} does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)   # raised from the header, not decoded
            with Image.open(path) as im:
                im.load()
                return ImageOps.exif_transpose(im)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        size = str(e).split(", could be")[0]          # "Image size (N pixels) exceeds limit of M pixels"
        raise ValueError(f"image {path} is too large to read: {size}; scale it down first") from None
    except Exception as e:  # UnidentifiedImageError, truncated data, ...
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"cannot read image {path}: {reason} (expected an image file: "
                         f"{', '.join(ext.lstrip('.').upper() for ext in IMAGE_EXTENSIONS)})") from None


_HIGH_DEPTH = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")
"""Single-channel modes deeper than 8 bits (16-bit PNGs open as I;16)."""


def _float01(arr: np.ndarray, source: str) -> np.ndarray:
    """A floating-point image (PIL mode ``F``, e.g. a 32-bit float TIFF) in [0, 1]: values that all lie in [0, 1]
    are taken as 0..1, values up to 255 as 0..255 (an 8-bit picture stored as floats); anything else (negative,
    above 255, NaN or infinite) has no range a picture is known by, and is a one-line error naming the file."""
    if not np.isfinite(arr).all():
        raise ValueError(f"image {source}: it holds NaN or infinite pixel values; a floating-point image must hold "
                         "values in 0..1 or 0..255")
    if arr.size == 0:
        return arr
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 255.0:
        raise ValueError(f"image {source}: its floating-point pixel values span {lo:g}..{hi:g}, but they must lie "
                         "in 0..1 or 0..255; rescale them to one of those ranges (or save an 8- or 16-bit image)")
    return arr if hi <= 1.0 else arr / 255.0


def _gray01(img, source: str | os.PathLike | None = None) -> np.ndarray:
    """A PIL image as a float64 (H, W) array in [0, 1]; transparency is flattened onto a contrasting colour.

    16-bit images are read as 0..65535, 32-bit integer ones as 0..255 when no value exceeds 255 (else as
    0..65535), floating-point ones by :func:`_float01`; ``source`` names the file in errors."""
    if img.mode in _HIGH_DEPTH:
        arr = np.asarray(img, dtype=np.float64)
        if img.mode == "F":
            return _float01(arr, str(source or getattr(img, "filename", "") or "(in memory)"))
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return np.clip(arr / top, 0.0, 1.0)
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    if not has_alpha:
        return np.asarray(img.convert("L"), dtype=np.float64) / 255.0
    rgba = img.convert("RGBA")
    lum = np.asarray(rgba.convert("L"), dtype=np.float64) / 255.0
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.float64) / 255.0
    opaque = alpha > 0.5
    ink_is_dark = not opaque.any() or lum[opaque].mean() < 0.5
    backdrop = 1.0 if ink_is_dark else 0.0  # dark strokes on transparency -> white paper, and vice versa
    return alpha * lum + (1.0 - alpha) * backdrop


def _resize(a: np.ndarray, h: int, w: int) -> np.ndarray:
    from PIL import Image

    out = Image.fromarray(a.astype(np.float32)).resize((w, h), Image.Resampling.LANCZOS)
    return np.clip(np.asarray(out, dtype=np.float64), 0.0, 1.0)


FITS = ("digit", "fill")


def load_image_for_mnist(image, size: int = 28, box: int = 20, fit: str = "digit") -> np.ndarray:
    """Convert a picture of one object to an MNIST-style image: bright object on black.

    Steps: grayscale (transparency flattened); inverted if the background (the median of the border pixels) is
    light, so the object is bright on black; background level removed; cropped to the object's bounding box;
    then, by ``fit``:

    * ``"digit"`` (MNIST's making): contrast stretched to [0, 1]; resized (aspect kept) so the longer side is
      ``box`` pixels; pasted into a ``size`` x ``size`` black canvas with its centre of mass at pixel
      (size/2, size/2) (MNIST digits' mean centre of mass is (14.0, 14.0));
    * ``"fill"`` (Fashion-MNIST's making): intensities kept; the longer side resized to ``size`` and the
      picture centred on the canvas (its items fill the frame).

    Args:
        image: a file path, a PIL image, or an (H, W) / (H, W, C) array (uint8, or float in [0, 1]).
    Returns:
        float32 (size, size) array in [0, 1] (all zeros for a blank picture).
    """
    if fit not in FITS:
        raise ValueError(f"load_image_for_mnist: fit must be one of {', '.join(FITS)}, got {fit!r}")
    if isinstance(image, (str, os.PathLike)):
        g = _gray01(open_image(image), image)
    elif isinstance(image, np.ndarray):
        g = image.astype(np.float64) / (255.0 if image.dtype == np.uint8 else 1.0)
        g = g.mean(axis=-1) if g.ndim == 3 else g
    else:
        g = _gray01(image)
    if g.ndim != 2 or g.size == 0:
        raise ValueError(f"load_image_for_mnist: expected a 2-D image, got shape {g.shape}")
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    bg = float(np.median(border))
    if bg > 0.5:
        g, bg = 1.0 - g, 1.0 - bg
    peak = float(g.max())
    out = np.zeros((size, size), dtype=np.float32)
    if peak - bg < 1e-3:
        return out
    if fit == "fill":
        x = np.clip((g - bg) / (1.0 - bg), 0.0, 1.0) if bg < 1.0 else np.zeros_like(g)
        rows, cols = np.nonzero(x > 0.05 * (peak - bg) / (1.0 - bg))   # trim the background (5%, as Fashion-MNIST)
        target = size
    else:
        x = np.clip((g - bg) / (peak - bg), 0.0, 1.0)
        rows, cols = np.nonzero(x > 0.1)
        target = box
    x = x[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = x.shape
    scale = target / max(h, w)
    nh, nw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    if fit == "digit" or (nh, nw) != (h, w):      # a "fill" picture already at full size is kept exactly
        x = _resize(x, nh, nw)
    if x.max() <= 0:
        return out
    if fit == "fill":
        top, left = -(-(size - nh) // 2), -(-(size - nw) // 2)   # Fashion-MNIST puts the odd pixel left/top
        out[top:top + nh, left:left + nw] = np.clip(x, 0.0, 1.0)
        return out
    x /= x.max()
    mass = x.sum()
    cy = float((x.sum(axis=1) * np.arange(nh)).sum() / mass)
    cx = float((x.sum(axis=0) * np.arange(nw)).sum() / mass)
    top = int(np.clip(round(size / 2 - cy), 0, size - nh))  # MNIST: mean centre of mass at (14.0, 14.0)
    left = int(np.clip(round(size / 2 - cx), 0, size - nw))
    out[top:top + nh, left:left + nw] = x
    return out


def load_images_for_mnist(paths: Sequence[str | os.PathLike], size: int = 28, fit: str = "digit") -> np.ndarray:
    """``load_image_for_mnist`` for several files: float32 (N, size, size)."""
    return np.stack([load_image_for_mnist(p, size=size, fit=fit) for p in paths]) if paths else \
        np.zeros((0, size, size), np.float32)


def _size(size) -> tuple[int, int] | None:
    """``size`` as a validated (H, W) of positive ints (an int means square), or None."""
    if size is None:
        return None
    hw = (size, size) if np.ndim(size) == 0 else tuple(size)
    if len(hw) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in hw):
        raise ValueError(f"ImageFolder: size must be a positive int or an (H, W) pair of them, or None, got {size!r}")
    return int(hw[0]), int(hw[1])


def _image_files(folder: Path, exts: tuple[str, ...]) -> list[Path]:
    """Files under ``folder`` (recursively) ending in ``exts``, ordered like torchvision; hidden ones skipped."""
    found, seen = [], set()
    for dirpath, dirnames, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:                  # a symlink back up the tree: each real folder is read once
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found.append((dirpath, [n for n in names if n.lower().endswith(exts) and not n.startswith(".")]))
    return [Path(dirpath, n) for dirpath, names in sorted(found) for n in sorted(names)]


class ImageFolder(ArrayDataset):
    """A labelled image dataset from ``root/<class name>/<image files>``, loaded into memory.

    Classes are the sub-folder names, sorted (or ``classes`` in the given order); each class holds the image
    files anywhere below its folder, in torchvision's order (sorted walk, sorted names); files with other
    extensions and hidden files or folders are ignored.

    Args:
        root: the folder holding one sub-folder per class.
        size: (H, W) every image is resized to; None: images must all have the same size already.
        mode: "L" (grayscale, images (N, H, W)) or "RGB" (images (N, 3, H, W)).
        mnist_style: convert each picture with ``load_image_for_mnist`` (size 28, ink bright on black).
        classes: which sub-folders to use, and their label order.
        mean, std: normalisation the DataLoader should apply (e.g. the model's training values).
    Attributes:
        paths: the file of each sample, in order.
    """

    def __init__(self, root: str | os.PathLike, size: tuple[int, int] | int | None = (28, 28), mode: str = "L",
                 mnist_style: bool = False, classes: Sequence[str] | None = None,
                 mean: float | tuple[float, ...] | None = None, std: float | tuple[float, ...] | None = None,
                 extensions: Sequence[str] = IMAGE_EXTENSIONS):
        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"ImageFolder: {root} is not a folder (expected one sub-folder of images per class)")
        if mode not in ("L", "RGB"):
            raise ValueError(f"ImageFolder: mode must be 'L' or 'RGB', got {mode!r}")
        if mnist_style and mode != "L":
            raise ValueError("ImageFolder: mnist_style images are grayscale; use mode='L'")
        size = _size(size)
        if mnist_style:
            size = (28, 28)
        found = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
        if classes is None:
            classes = found
        missing = [c for c in classes if c not in found]
        if missing:
            raise ValueError(f"ImageFolder: class folders {missing} not found in {root}")
        if not classes:
            raise ValueError(f"ImageFolder: {root} has no class sub-folders")
        if len(set(classes)) != len(classes):
            raise ValueError(f"ImageFolder: classes must be distinct, got {list(classes)}")
        exts = tuple(e.lower() for e in extensions)
        paths, labels = [], []
        for k, c in enumerate(classes):
            files = _image_files(root / c, exts)
            if not files:
                raise ValueError(f"ImageFolder: class folder {root / c} has no {'/'.join(exts)} images")
            paths += files
            labels += [k] * len(files)
        arrays = [self._load(p, size, mode, mnist_style) for p in paths]
        shape = arrays[0].shape
        for p, a in zip(paths, arrays):
            if a.shape != shape:
                raise ValueError(f"ImageFolder: {p} is {a.shape[-2:]} but {paths[0]} is {shape[-2:]}; "
                                 "pass size=(H, W) to resize all images")
        self.paths = [str(p) for p in paths]
        super().__init__(images=np.stack(arrays), labels=np.asarray(labels, dtype=np.int64),
                         classes=tuple(classes), mean=mean, std=std, name=root.name, split="",
                         extra={"root": str(root)})

    @staticmethod
    def _load(path: Path, size, mode: str, mnist_style: bool) -> np.ndarray:
        if mnist_style:
            return np.rint(load_image_for_mnist(path) * 255.0).astype(np.uint8)
        from PIL import Image

        img = open_image(path)
        if img.mode in _HIGH_DEPTH:  # Pillow's convert("L") clips 16-bit values at 255 instead of scaling them
            img = Image.fromarray(np.rint(_gray01(img, path) * 255.0).astype(np.uint8))
        img = img.convert("RGBA").convert(mode) if img.mode in ("P", "PA") else img.convert(mode)
        if size is not None and (img.height, img.width) != tuple(size):
            img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        arr = np.asarray(img, dtype=np.uint8)
        return arr.transpose(2, 0, 1) if mode == "RGB" else arr
