"""Batch transforms on float arrays of shape (N, C, H, W): normalise, random crop/shift, small rotations.

Each transform is called as ``t(batch, generator)`` and returns a new array of the same shape and dtype.
Random parameters are drawn per sample from ``generator`` (default: ``scratchcnn.random.default_generator()``);
the pixel work is vectorised over the whole batch (gathers with index arrays, no Python loop over samples).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..random import default_generator

__all__ = ["Transform", "Compose", "Normalize", "RandomCrop", "RandomShift", "RandomRotation"]


def _check(x: np.ndarray, who: str) -> None:
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(f"{who}: expected a batch of shape (N, C, H, W), got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    if x.dtype.kind != "f":
        raise TypeError(f"{who}: expected a float batch (pixels in [0, 1]), got dtype {x.dtype}")


class Transform:
    """Base class: ``__call__(x, generator=None) -> array`` of the same shape and dtype."""

    def __call__(self, x: np.ndarray, generator: np.random.Generator | None = None) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class Compose(Transform):
    """Apply transforms in order, all drawing from the same generator."""

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, x: np.ndarray, generator: np.random.Generator | None = None) -> np.ndarray:
        g = generator if generator is not None else default_generator()
        for t in self.transforms:
            x = t(x, g)
        return x


class Normalize(Transform):
    """``(x - mean) / std`` per channel (one value or one per channel)."""

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]):
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if self.mean.ndim != 1 or self.std.ndim != 1:
            raise ValueError(f"Normalize: mean and std must be numbers or 1-D sequences, got {mean!r}, {std!r}")
        if not (np.all(np.isfinite(self.mean)) and np.all(np.isfinite(self.std)) and np.all(self.std > 0)):
            raise ValueError(f"Normalize: mean must be finite and std must be positive and finite, got "
                             f"mean={mean!r}, std={std!r}")

    def __call__(self, x: np.ndarray, generator: np.random.Generator | None = None) -> np.ndarray:
        _check(x, "Normalize")
        c = x.shape[1]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if v.size not in (1, c):
                raise ValueError(f"Normalize: {v.size} {name} values for {c} channels")
        m = self.mean.astype(x.dtype).reshape(1, -1, 1, 1)
        s = self.std.astype(x.dtype).reshape(1, -1, 1, 1)
        return (x - m) / s


def _random_window(x: np.ndarray, size: tuple[int, int], padding: int, fill: float,
                   g: np.random.Generator, who: str) -> np.ndarray:
    """Pad (N, C, H, W) by ``padding`` and gather one random ``size`` window per sample."""
    n, c, h, w = x.shape
    p = padding
    th, tw = size
    if th > h + 2 * p or tw > w + 2 * p:
        raise ValueError(f"{who}: crop {size} larger than the padded input {(h + 2 * p, w + 2 * p)}")
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill) if p else x
    oy = g.integers(0, h + 2 * p - th + 1, size=n)
    ox = g.integers(0, w + 2 * p - tw + 1, size=n)
    rows = (oy[:, None] + np.arange(th))[:, :, None]          # (N, th, 1)
    cols = (ox[:, None] + np.arange(tw))[:, None, :]          # (N, 1, tw)
    nidx = np.arange(n)[:, None, None]
    out = xp.transpose(0, 2, 3, 1)[nidx, rows, cols]           # (N, th, tw, C)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


class RandomCrop(Transform):
    """Pad by ``padding`` with ``fill`` and cut a random ``size`` window per sample (torchvision's RandomCrop)."""

    def __init__(self, size: int | tuple[int, int], padding: int = 0, fill: float = 0.0):
        self.size = (int(size), int(size)) if np.isscalar(size) else tuple(int(s) for s in size)
        self.padding = int(padding)
        self.fill = float(fill)
        if len(self.size) != 2 or min(self.size) < 1 or self.padding < 0:
            raise ValueError(f"RandomCrop: expected size > 0 and padding >= 0, got size={size}, padding={padding}")

    def __call__(self, x: np.ndarray, generator: np.random.Generator | None = None) -> np.ndarray:
        _check(x, "RandomCrop")
        g = generator if generator is not None else default_generator()
        return _random_window(x, self.size, self.padding, self.fill, g, "RandomCrop")


class RandomShift(Transform):
    """Translate each image by up to ``max_shift`` pixels in each direction (``fill`` enters); keeps the size.

    The same as ``RandomCrop(size=(H, W), padding=max_shift)``.
    """

    def __init__(self, max_shift: int = 2, fill: float = 0.0):
        if int(max_shift) < 0:
            raise ValueError(f"RandomShift: max_shift must be >= 0, got {max_shift}")
        self.max_shift = int(max_shift)
        self.fill = float(fill)

    def __call__(self, x: np.ndarray, generator: np.random.Generator | None = None) -> np.ndarray:
        _check(x, "RandomShift")
        g = generator if generator is not None else default_generator()
        return _random_window(x, x.shape[2:], self.max_shift, self.fill, g, "RandomShift")


class RandomRotation(Transform):
    """Rotate each image about its centre by an angle drawn uniformly from [-degrees, degrees].

    Bilinear sampling (``interpolation="bilinear"``) or nearest; pixels from outside the image get ``fill``.
    """

    def __init__(self, degrees: float | tuple[float, float], interpolation: str = "bilinear", fill: float = 0.0):
        if not np.isscalar(degrees) and len(degrees) != 2:
            raise ValueError(f"RandomRotation: degrees must be a number or a (min, max) pair, got {degrees!r}")
        lo, hi = (-abs(float(degrees)), abs(float(degrees))) if np.isscalar(degrees) else map(float, degrees)
        if lo > hi:
            raise ValueError(f"RandomRotation: degrees range {degrees} is empty")
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"RandomRotation: interpolation must be 'bilinear' or 'nearest', got {interpolation!r}")
        self.degrees = (lo, hi)
        self.interpolation = interpolation
        self.fill = float(fill)

    def __call__(self, x: np.ndarray, generator: np.random.Generator | None = None,
                 angles: np.ndarray | None = None) -> np.ndarray:
        """Rotate; ``angles`` (degrees, shape (N,)) overrides the random draw (tests, explanations)."""
        _check(x, "RandomRotation")
        g = generator if generator is not None else default_generator()
        n, c, h, w = x.shape
        if angles is None:
            angles = g.uniform(self.degrees[0], self.degrees[1], size=n)
        theta = np.deg2rad(np.asarray(angles, dtype=np.float64)).reshape(n, 1, 1)
        cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
        yy, xx = np.meshgrid(np.arange(h, dtype=np.float32) - np.float32(cy),
                             np.arange(w, dtype=np.float32) - np.float32(cx), indexing="ij")
        cos, sin = np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)  # float32 coords: faster
        # inverse map: output pixel (y, x) samples the input at R(-theta) (y, x); positive angle = anticlockwise
        src_x = cos * xx - sin * yy + np.float32(cx)               # (N, H, W)
        src_y = sin * xx + cos * yy + np.float32(cy)
        # Pad two `fill` pixels all round and clip corner coordinates into [-2, size]: a corner outside the image
        # then always lands on padding (fill), so no masks are needed; the 4 bilinear corners are fixed offsets.
        hp, wp = h + 4, w + 4
        table = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=self.fill)
        table = np.ascontiguousarray(table.transpose(0, 2, 3, 1)).reshape(n * hp * wp, c)  # one row per pixel
        offset = (np.arange(n) * (hp * wp))[:, None, None]

        def index(yi: np.ndarray, xi: np.ndarray) -> np.ndarray:  # (N, H, W) coords -> flat table rows
            return (offset + (np.clip(yi, -2, h) + 2) * wp + (np.clip(xi, -2, w) + 2)).ravel()

        def take(idx: np.ndarray) -> np.ndarray:
            return np.take(table, idx, axis=0).reshape(n, h, w, c)

        if self.interpolation == "nearest":
            out = take(index(np.rint(src_y).astype(np.int64), np.rint(src_x).astype(np.int64)))
        else:
            y0, x0 = np.floor(src_y), np.floor(src_x)
            wy, wx = (src_y - y0).astype(x.dtype)[..., None], (src_x - x0).astype(x.dtype)[..., None]
            i00 = index(y0.astype(np.int64), x0.astype(np.int64))
            top = take(i00) * (1 - wx) + take(i00 + 1) * wx
            bottom = take(i00 + wp) * (1 - wx) + take(i00 + wp + 1) * wx
            out = top * (1 - wy) + bottom * wy
        out = out.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(out.astype(x.dtype, copy=False))
