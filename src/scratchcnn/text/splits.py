"""The fixed cleaning and split rule, so that numbers on a corpus are comparable between runs and libraries:

1. strip every text (Python's ``str.strip``: Unicode whitespace, including the ideographic space U+3000),
   drop empty ones;
2. deduplicate within each label (file);
3. drop every text that occurs under more than one label (conflicting labels), and report how many;
4. sort the remaining ``(text, label)`` pairs (by code point; texts are unique by now);
5. ``random.Random(seed).shuffle`` them;
6. the first ``int(0.8 n)`` are train, the next ``int(0.1 n)`` validation, the rest test (under 10 texts the
   validation split is empty; fewer texts than it takes to give every label a training slot and keep a test
   text are refused, see :func:`min_examples`).

No text can land in two splits, because every text occurs once after step 3.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from .corpus import RawCorpus, TextCorpusError

__all__ = ["TextSplit", "CorpusSplits", "split_corpus", "min_examples", "DEFAULT_FRACTIONS"]

DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


@dataclass
class TextSplit:
    """One split: ``texts[i]`` has class index ``labels[i]`` (int64) into ``classes``."""

    texts: list[str]
    labels: np.ndarray
    classes: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx) -> "TextSplit":
        idx = np.asarray(idx, dtype=np.int64)
        return TextSplit([self.texts[i] for i in idx], self.labels[idx], self.classes)

    def __add__(self, other: "TextSplit") -> "TextSplit":
        if list(other.classes) != list(self.classes):
            raise ValueError(f"cannot join splits with different classes: {self.classes} and {other.classes}")
        return TextSplit(self.texts + other.texts, np.concatenate([self.labels, other.labels]), self.classes)


@dataclass
class CorpusSplits:
    """train/val/test splits plus what cleaning did (``report``: counts, JSON-ready)."""

    train: TextSplit
    val: TextSplit
    test: TextSplit
    classes: list[str]
    report: dict = field(default_factory=dict)

    def get(self, name: str) -> TextSplit:
        if name not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {name!r}")
        return getattr(self, name)


def min_examples(num_classes: int, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
                 limit: int = 100_000) -> int | None:
    """The fewest usable texts whose split by ``fractions`` has ``num_classes`` training texts and a test text
    (None if none up to ``limit``). 80/10/10 with 2 labels: 3 (train 2, val 0, test 1; val needs 10)."""
    for n in range(1, limit + 1):
        n_train, n_val = int(n * fractions[0]), int(n * fractions[1])
        if n_train >= num_classes and n - n_train - n_val >= 1:
            return n
    return None


def split_corpus(raw: RawCorpus, seed: int = 0,
                 fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> CorpusSplits:
    """Clean ``raw`` and split it by the fixed rule (module docstring). ``fractions`` = (train, val, test)."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"split_corpus: fractions must be three non-negative numbers summing to 1, got {fractions}")
    groups: dict[str, list[str]] = raw.groups or {}
    if not groups:
        for t, lab in zip(raw.texts, raw.labels):
            groups.setdefault(lab, []).append(t)
    unique: dict[str, set[str]] = {}
    n_in, n_empty = 0, raw.empty
    for label, texts in groups.items():
        kept = set()
        for t in texts:
            n_in += 1
            s = t.strip()
            if s:
                kept.add(s)
            else:
                n_empty += 1
        unique[label] = kept
    owners: dict[str, int] = {}
    for kept in unique.values():
        for t in kept:
            owners[t] = owners.get(t, 0) + 1
    conflicting = {t for t, c in owners.items() if c > 1}
    classes = sorted(unique)
    if len(classes) < 2:
        raise TextCorpusError(f"{raw.source}: only one label ({', '.join(classes) or 'none'}); "
                              "a classifier needs at least two")
    pairs = sorted((t, lab) for lab, kept in unique.items() for t in kept if t not in conflicting)
    random.Random(seed).shuffle(pairs)
    n = len(pairs)
    n_train, n_val = int(n * fractions[0]), int(n * fractions[1])
    if n_train < len(classes) or n - n_train - n_val < 1:
        need = min_examples(len(classes), fractions)
        enough = f"at least {need} usable texts" if need else "more texts"
        raise TextCorpusError(f"{raw.source}: only {n} usable text(s) after cleaning, too few to split into "
                              f"train/validation/test: {len(classes)} labels need {enough} (a training text "
                              "per label and a test text)")
    index = {c: i for i, c in enumerate(classes)}

    def make(part: list[tuple[str, str]]) -> TextSplit:
        return TextSplit([t for t, _ in part], np.array([index[lab] for _, lab in part], dtype=np.int64), classes)

    report = {
        "rule": "strip, drop empty, dedupe per label, drop texts under >1 label, sort, "
                f"random.Random({seed}).shuffle, {'/'.join(str(round(f * 100)) for f in fractions)}",
        "seed": int(seed),
        "examples_read": n_in + raw.empty,
        "empty_dropped": n_empty,
        "duplicates_dropped": sum(len(g) for g in groups.values()) - (n_empty - raw.empty)
        - sum(len(u) for u in unique.values()),
        "unique_texts": len(owners),
        "conflicting_dropped": len(conflicting),
        "per_label_unique": {lab: len(unique[lab]) for lab in classes},
        "kept": n,
        "sizes": {"train": n_train, "val": n_val, "test": n - n_train - n_val},
    }
    return CorpusSplits(make(pairs[:n_train]), make(pairs[n_train:n_train + n_val]),
                        make(pairs[n_train + n_val:]), classes, report)
