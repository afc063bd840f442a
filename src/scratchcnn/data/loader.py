"""DataLoader: batches of ``(images, labels)`` Tensors from an in-memory dataset, with seeded shuffling.

Each batch is one fancy-indexing gather (no per-item Python work): uint8 pixels -> float32 in [0, 1] ->
optional random transform -> normalisation with the dataset's mean/std -> ``Tensor`` (B, C, H, W).

Reproducibility and resume: epoch ``e`` shuffles and augments with generators derived from ``(seed, e)`` only, so
``state_dict()`` is just ``{"seed", "epoch"}`` and a resumed loader yields exactly the batches the uninterrupted
one would have.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from ..random import default_generator
from ..tensor import Tensor
from .transforms import Compose, Normalize

__all__ = ["DataLoader"]

_SHUFFLE, _AUGMENT = 0, 1  # stream ids mixed into each epoch's seed


class DataLoader:
    """Iterate over a dataset in batches.

    Args:
        dataset: an object with ``.images`` ((N, H, W) or (N, C, H, W); uint8 0..255 or float 0..1) and
            ``.labels`` (N,) — e.g. an ``ArrayDataset`` — or an ``(images, labels)`` tuple.
        batch_size: samples per batch.
        shuffle: a new random order every epoch.
        drop_last: skip the last, smaller batch.
        seed: seeds shuffling and transforms; default: drawn from ``generator`` or the library's default
            generator (so ``scratchcnn.manual_seed`` makes it reproducible).
        generator: where to draw the seed from when ``seed`` is None.
        transform: ``t(batch, generator) -> batch`` on float (B, C, H, W) pixels in [0, 1], before normalising.
        normalize: True: use the dataset's ``mean``/``std`` (if it has them); False: none; or a ``(mean, std)``.
    Yields:
        ``(images, labels)``: Tensor float32 (B, C, H, W) and Tensor int64 (B,).
    """

    def __init__(self, dataset, batch_size: int = 64, shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None, generator: np.random.Generator | None = None,
                 transform: Callable | None = None, normalize: bool | tuple = True):
        if isinstance(dataset, (tuple, list)) and len(dataset) == 2:
            images, labels = dataset
            mean = std = None
        elif hasattr(dataset, "images") and hasattr(dataset, "labels"):
            images, labels = dataset.images, dataset.labels
            mean, std = getattr(dataset, "mean", None), getattr(dataset, "std", None)
        else:
            raise TypeError("DataLoader: expected a dataset with .images and .labels or an (images, labels) "
                            f"tuple, got {type(dataset).__name__}")
        try:
            images, labels = np.asarray(images), np.asarray(labels)
        except ValueError as e:  # e.g. a list of two (image, label) samples taken for an (images, labels) pair
            raise TypeError(f"DataLoader: cannot make arrays of (images, labels) ({str(e).splitlines()[0]}); a "
                            "list of (image, label) samples is not a dataset here: stack them into an ArrayDataset"
                            ) from None
        if images.ndim == 3:
            images = images[:, None]  # (N, H, W) -> (N, 1, H, W), a view
        if images.ndim != 4:
            raise ValueError(f"DataLoader: expected images (N, H, W) or (N, C, H, W), got {images.shape}")
        if images.dtype != np.uint8 and images.dtype.kind != "f":
            raise TypeError(f"DataLoader: expected uint8 or float images, got {images.dtype}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(f"DataLoader: {len(images)} images but labels of shape {labels.shape}")
        if labels.dtype.kind not in "iu":  # float labels would be truncated to the wrong class without a word
            raise TypeError(f"DataLoader: labels must be integer class indices, got dtype {labels.dtype}")
        try:
            ok = not isinstance(batch_size, bool) and int(batch_size) == batch_size and int(batch_size) >= 1
        except (TypeError, ValueError, OverflowError):  # None, strings, NaN, inf
            ok = False
        if not ok:
            hint = " (torch's batch_size=None, one unbatched sample at a time, is not supported)" \
                if batch_size is None else ""
            raise ValueError(f"DataLoader: batch_size must be an integer >= 1, got {batch_size!r}{hint}")
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(f"DataLoader: generator must be a numpy.random.Generator, got {type(generator).__name__}"
                            " (pass an int as seed=...)")
        if len(images) == 0:
            raise ValueError("DataLoader: the dataset is empty (0 samples)")
        if drop_last and len(images) < int(batch_size):
            raise ValueError(f"DataLoader: drop_last with {len(images)} samples and batch_size {int(batch_size)} "
                             "gives no batches; use a smaller batch_size or drop_last=False")
        self.images, self.labels = images, labels.astype(np.int64, copy=False)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.transform = transform
        if seed is None:
            seed = int((generator if generator is not None else default_generator()).integers(2**63 - 1))
        self.seed = int(seed)
        self.epoch = 0
        if normalize is True:
            normalize = (mean, std) if mean is not None and std is not None else None
        elif normalize is False:
            normalize = None
        self._norm = self._affine(normalize, images.shape[1])
        if self._norm is not None and _has_normalize(transform):
            raise ValueError("DataLoader: the transform contains a Normalize and the loader normalises too (with the "
                             "dataset's mean/std or normalize=(mean, std)), which would normalise twice; pass "
                             "normalize=False to keep the transform's Normalize, or drop it from the transform")
        if self._norm is not None and images.dtype.kind == "f":
            lo, hi = float(images.min()), float(images.max())
            if not (lo >= 0.0 and hi <= 1.0):  # NaN fails too
                raise ValueError(f"DataLoader: float images must hold pixels in [0, 1] before normalising, found "
                                 f"{lo:g}..{hi:g} (0..255 data: divide by 255 or pass uint8; already normalised "
                                 "data: pass normalize=False)")

    @staticmethod
    def _affine(normalize, channels: int) -> tuple[np.ndarray, np.ndarray] | None:
        """``(x - mean) / std`` as ``x * scale + shift`` with (1, C, 1, 1) float32 arrays (None: no-op)."""
        if normalize is None:
            return None
        if not isinstance(normalize, (tuple, list)) or len(normalize) != 2:
            raise ValueError(f"DataLoader: normalize must be True, False or a (mean, std) pair, got {normalize!r}")
        mean, std = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in normalize)
        if (mean.ndim != 1 or std.ndim != 1 or mean.size not in (1, channels) or std.size not in (1, channels)
                or not np.all(np.isfinite(mean)) or not np.all(std > 0) or not np.all(np.isfinite(std))):
            raise ValueError(f"DataLoader: normalize needs 1 or {channels} finite mean/std values with std > 0, "
                             f"got mean={mean.tolist()}, std={std.tolist()}")
        return ((1.0 / std).astype(np.float32).reshape(1, -1, 1, 1),
                (-mean / std).astype(np.float32).reshape(1, -1, 1, 1))

    def __len__(self) -> int:
        """Batches per epoch: ceil(n / batch_size), or floor with ``drop_last`` (as torch)."""
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_samples(self) -> int:
        return len(self.labels)

    def _rng(self, epoch: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed % 2**64, int(epoch), stream])

    def order(self, epoch: int | None = None) -> np.ndarray:
        """The sample order of ``epoch`` (default: the next one) — a permutation, or arange without shuffle."""
        e = self.epoch if epoch is None else epoch
        n = len(self.labels)
        return self._rng(e, _SHUFFLE).permutation(n) if self.shuffle else np.arange(n)

    def _batch(self, idx: np.ndarray, g: np.random.Generator | None) -> tuple[Tensor, Tensor]:
        x = self.images[idx]  # fancy indexing: a fresh copy, so transforms never touch the dataset
        if x.dtype == np.uint8:
            x = x.astype(np.float32)
            x *= np.float32(1.0 / 255.0)
        else:
            x = x.astype(np.float32, copy=False)
        if self.transform is not None:
            x = self.transform(x, g)
            if not isinstance(x, np.ndarray) or x.ndim != 4 or len(x) != len(idx):
                raise ValueError(f"DataLoader: the transform must return a (B, C, H, W) array with B = "
                                 f"{len(idx)}, got {getattr(x, 'shape', type(x).__name__)}")
            # a C-contiguous float32 array of our own (a transform may return a view, e.g. a flip)
            if not (x.dtype == np.float32 and x.flags.c_contiguous and x.flags.owndata):
                x = np.array(x, dtype=np.float32, order="C")
        if self._norm is not None:
            x *= self._norm[0]
            x += self._norm[1]
        return Tensor(x), Tensor(self.labels[idx])

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        epoch = self.epoch
        self.epoch += 1  # advanced at the start, so a saved state after an epoch points at the next one
        order = self.order(epoch)
        g = self._rng(epoch, _AUGMENT) if self.transform is not None else None
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        for start in range(0, stop, self.batch_size):
            yield self._batch(order[start:start + self.batch_size], g)

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration use the order and augmentation of ``epoch``."""
        self.epoch = int(epoch)

    def state_dict(self) -> dict:
        """``{"seed", "epoch"}``: everything needed to continue with identical batches (JSON-serialisable)."""
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])

    def __repr__(self) -> str:
        return (f"DataLoader(n={len(self.labels)}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, batches={len(self)})")


def _has_normalize(transform) -> bool:
    """Whether ``transform`` is a ``Normalize`` or a ``Compose`` holding one (at any depth)."""
    if isinstance(transform, Normalize):
        return True
    return isinstance(transform, Compose) and any(_has_normalize(t) for t in transform.transforms)
