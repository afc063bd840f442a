"""Seeded index splits: train/validation, arbitrary random splits, and few-shot samples per class.

All return int64 index arrays (sorted, so the selected data keep their original order); the same seed always
gives the same split, and the parts of one split are disjoint.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["train_val_split", "random_split", "few_shot"]


def _n(n_or_dataset) -> int:
    n = n_or_dataset if isinstance(n_or_dataset, (int, np.integer)) else len(n_or_dataset)
    if n < 0:
        raise ValueError(f"expected a non-negative number of samples, got {n}")
    return int(n)


def random_split(n_or_dataset, lengths: Sequence[int | float], seed: int = 0) -> list[np.ndarray]:
    """Split ``range(n)`` into disjoint random parts.

    Args:
        n_or_dataset: the number of samples, or anything with ``len()``.
        lengths: part sizes (ints summing to n) or fractions summing to 1 (rounding leftovers go to the first
            parts, like PyTorch).
        seed: the shuffle seed.
    Returns:
        one sorted int64 index array per part.
    """
    n = _n(n_or_dataset)
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: expected at least one length")
    if all(isinstance(x, (int, np.integer)) for x in lengths):
        sizes = [int(x) for x in lengths]
        if any(s < 0 for s in sizes) or sum(sizes) != n:
            raise ValueError(f"random_split: lengths {sizes} must be non-negative and sum to {n}")
    else:
        fr = np.asarray(lengths, dtype=np.float64)
        if np.any(fr < 0) or not abs(fr.sum() - 1.0) <= 1e-9:  # looser would over-fill the parts
            raise ValueError(f"random_split: fractions {list(lengths)} must be non-negative and sum to 1")
        sizes = [int(np.floor(n * f)) for f in fr]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
    perm = np.random.default_rng(seed).permutation(n)
    bounds = np.cumsum([0] + sizes)
    return [np.sort(perm[a:b]).astype(np.int64) for a, b in zip(bounds[:-1], bounds[1:])]


def train_val_split(n_or_dataset, val_fraction: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint (train indices, validation indices); ``round(n * val_fraction)`` samples go to validation.

    With ``val_fraction > 0`` both parts get at least one sample (so at least 2 samples are needed).
    """
    n = _n(n_or_dataset)
    if not 0.0 <= float(val_fraction) < 1.0:
        raise ValueError(f"train_val_split: val_fraction must be in [0, 1), got {val_fraction}")
    if val_fraction > 0 and n < 2:
        raise ValueError(f"train_val_split: cannot hold out a validation part of {n} sample(s) "
                         f"(val_fraction {val_fraction}); need at least 2, or use val_fraction 0")
    n_val = int(round(n * float(val_fraction)))
    if val_fraction > 0:
        n_val = min(max(n_val, 1), n - 1)
    train, val = random_split(n, [n - n_val, n_val], seed=seed)
    return train, val


def few_shot(labels: np.ndarray, per_class: int, seed: int = 0,
             classes: Sequence[int] | None = None) -> np.ndarray:
    """Indices of ``per_class`` random samples of each class (all classes present in ``labels`` by default).

    Raises:
        ValueError: a class has fewer than ``per_class`` samples.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"few_shot: expected 1-D integer labels, got {labels.dtype} {labels.shape}")
    if len(labels) and labels.min() < 0:
        raise ValueError(f"few_shot: labels must be >= 0, found {labels.min()}")
    if per_class < 1:
        raise ValueError(f"few_shot: per_class must be >= 1, got {per_class}")
    wanted = np.unique(labels) if classes is None else np.asarray(list(classes), dtype=np.int64).reshape(-1)
    if classes is not None and (np.any(wanted < 0) or len(np.unique(wanted)) != len(wanted)):
        raise ValueError(f"few_shot: classes must be distinct non-negative class indices, got {list(classes)}")
    counts = np.bincount(labels, minlength=int(max(labels.max(initial=0), wanted.max(initial=0))) + 1)
    short = [int(c) for c in wanted if counts[c] < per_class]
    if short:
        raise ValueError(f"few_shot: classes {short} have fewer than {per_class} samples "
                         f"(counts {[int(counts[c]) for c in short]})")
    # One random key per sample; sorting by (label, key) and taking each class's first `per_class` rows
    # samples without replacement, with no loop over samples.
    keys = np.random.default_rng(seed).random(len(labels))
    order = np.lexsort((keys, labels))
    sorted_labels = labels[order]
    starts = np.searchsorted(sorted_labels, wanted)
    picks = (starts[:, None] + np.arange(per_class)[None, :]).ravel()
    return np.sort(order[picks]).astype(np.int64)
