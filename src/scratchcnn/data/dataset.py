"""In-memory datasets: ``ArrayDataset`` (images + labels + class names + normalisation) and ``load_dataset``.

Images stay uint8 in memory ((N, H, W) grayscale or (N, C, H, W)); the DataLoader converts batches to float32.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Sequence

import numpy as np

from .sources import locate, resolve_file, verify
from .idx import read_idx
from .registry import get_info

__all__ = ["ArrayDataset", "load_dataset", "subset", "select_classes"]

Stat = float | tuple[float, ...] | None


@dataclass
class ArrayDataset:
    """Images and integer labels held in memory.

    Attributes:
        images: (N, H, W) or (N, C, H, W) array, usually uint8 (0..255); float arrays are taken as [0, 1].
        labels: (N,) int64 class indices in ``0 .. len(classes)-1``.
        classes: class names, index = label.
        mean, std: the normalisation to apply to [0, 1] pixels (per channel or one value), or None.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    mean: Stat = None
    std: Stat = None
    name: str = ""
    split: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.images = np.asarray(self.images)
        self.labels = np.asarray(self.labels)
        if self.labels.dtype.kind not in "iu":
            raise TypeError(f"ArrayDataset: labels must be integers, got dtype {self.labels.dtype}")
        self.labels = self.labels.astype(np.int64, copy=False)
        self.classes = tuple(str(c) for c in self.classes)
        where = f"dataset {self.name}" + (f" ({self.split})" if self.split else "") if self.name else "ArrayDataset"
        if self.images.ndim not in (3, 4):
            raise ValueError(f"{where}: expected images of shape (N, H, W) or (N, C, H, W), "
                             f"got {self.images.shape}")
        if self.labels.ndim != 1:
            raise ValueError(f"{where}: expected labels of shape (N,), got {self.labels.shape}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{where}: {len(self.images)} images but {len(self.labels)} labels")
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise ValueError(f"{where}: labels must lie in 0..{len(self.classes) - 1} for {len(self.classes)} "
                             f"classes, found {self.labels.min()}..{self.labels.max()}")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index):
        """``(image, label)`` for an int; an ``ArrayDataset`` for a slice or an index array."""
        if isinstance(index, (int, np.integer)):
            return self.images[index], int(self.labels[index])
        return self.subset(np.arange(len(self))[index])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, indices) -> "ArrayDataset":
        """A new dataset with the samples at ``indices`` (ints, negative ones from the end, or a boolean mask)."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        elif idx.size == 0:  # [] is float64 to NumPy: an empty subset, as torch's Subset(ds, [])
            idx = idx.astype(np.intp)
        elif idx.dtype.kind not in "iu":
            raise TypeError(f"subset: indices must be integers or a boolean mask, got dtype {idx.dtype}")
        return _derive(self, images=self.images[idx], labels=self.labels[idx])

    def class_counts(self) -> np.ndarray:
        """Number of samples per class, shape (num_classes,)."""
        return np.bincount(self.labels, minlength=self.num_classes)

    def __repr__(self) -> str:
        return (f"ArrayDataset(name={self.name!r}, split={self.split!r}, n={len(self)}, "
                f"image_shape={self.images.shape[1:]}, classes={self.num_classes})")


def _derive(ds: ArrayDataset, **changes) -> ArrayDataset:
    """A plain ``ArrayDataset`` copying ``ds``'s fields except ``changes`` (subclasses such as ImageFolder too)."""
    kw = {f.name: getattr(ds, f.name) for f in fields(ArrayDataset)}
    kw["extra"] = dict(ds.extra)
    kw.update(changes)
    return ArrayDataset(**kw)


def subset(dataset: ArrayDataset, indices) -> ArrayDataset:
    """``dataset.subset(indices)``."""
    return dataset.subset(indices)


def select_classes(dataset: ArrayDataset, classes: Sequence[int | str], relabel: bool = True) -> ArrayDataset:
    """Keep only samples of ``classes`` (indices or names); with ``relabel`` they become 0..k-1 in the given order.

    Example: ``select_classes(mnist, [5, 6, 7, 8, 9])`` gives digits 5-9 labelled 0-4, classes ("5", ..., "9").
    """
    keep = []
    for c in classes:
        if isinstance(c, str):
            if c not in dataset.classes:
                raise ValueError(f"select_classes: unknown class {c!r}; classes are {list(dataset.classes)}")
            keep.append(dataset.classes.index(c))
        else:
            if not 0 <= int(c) < dataset.num_classes:
                raise ValueError(f"select_classes: class index {c} out of range 0..{dataset.num_classes - 1}")
            keep.append(int(c))
    if len(set(keep)) != len(keep) or not keep:
        raise ValueError(f"select_classes: expected distinct classes, got {list(classes)}")
    lut = np.full(dataset.num_classes, -1, dtype=np.int64)
    lut[keep] = np.arange(len(keep))
    mapped = lut[dataset.labels]
    mask = mapped >= 0
    if not relabel:
        return dataset.subset(mask)
    return _derive(dataset, images=dataset.images[mask], labels=mapped[mask],
                   classes=tuple(dataset.classes[k] for k in keep))


def load_dataset(name: str, split: str = "train", data_dir: str | os.PathLike | None = None,
                 download: bool = True, verify_checksums: bool = False) -> ArrayDataset:
    """Load a registered IDX dataset split into memory.

    Args:
        name: ``mnist``, ``fashion-mnist`` or ``kmnist``.
        split: ``"train"`` or ``"test"``.
        data_dir: a folder with the four files (or its parent holding ``<name>/``); searched first.
        download: allow downloading when the files are nowhere on disk.
        verify_checksums: also compare the files with the registry's checksums (slower).
    Returns:
        ``ArrayDataset`` with uint8 images (N, 28, 28), int64 labels, class names and mean/std.
    Raises:
        DatasetNotFoundError: not found and not downloadable; ValueError: damaged or inconsistent files.
    """
    info = get_info(name)
    img_name, lbl_name = info.split_files(split)
    folder = locate(info.name, data_dir, download=download)
    if verify_checksums:
        bad = {k: v for k, v in verify(info.name, folder).items()
               if k in (img_name, lbl_name) and v not in ("ok", "unverified")}
        if bad:
            k, v = next(iter(bad.items()))
            fix = "" if "; " in v else "; delete it and download it again"
            raise ValueError(f"dataset {info.name}: {resolve_file(folder, k) or folder / k} does not match the "
                             f"registry ({v}){fix}")
    img_path = resolve_file(folder, img_name)
    lbl_path = resolve_file(folder, lbl_name)
    images, labels = read_idx(img_path), read_idx(lbl_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"dataset {info.name}: {img_path} should hold uint8 images (N, H, W), "
                         f"holds {images.dtype} {images.shape}")
    if images.shape[1:] != info.image_shape:
        raise ValueError(f"dataset {info.name}: {img_path} holds {images.shape[1:]} images, "
                         f"expected {info.image_shape}")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"dataset {info.name}: {lbl_path} should hold integer labels (N,), "
                         f"holds {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"dataset {info.name}: {len(images)} images in {img_path.name} but {len(labels)} labels "
                         f"in {lbl_path.name} (in {folder}); the files do not belong together, download them again")
    labels = labels.astype(np.int64)
    if len(labels) and (labels.min() < 0 or labels.max() >= info.num_classes):
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise ValueError(f"dataset {info.name}: {lbl_path} has label {bad}, but there are only "
                         f"{info.num_classes} classes (0..{info.num_classes - 1}); download the file again")
    return ArrayDataset(images=images, labels=labels, classes=info.classes, mean=info.mean, std=info.std,
                        name=info.name, split=split, extra={"root": str(Path(folder))})
