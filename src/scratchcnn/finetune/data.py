"""Target data for fine-tuning: a class subset (relabelled), a seeded few-shot sample, and the class layout of an
incremental extension (old classes first, then the new ones).

``parse_classes("5-9")`` -> [5, 6, 7, 8, 9]; ``"0,2,4-6"`` and class names (``"Sneaker,Bag"``) work too.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["parse_classes", "FinetuneData", "prepare_data"]

_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


def parse_classes(text: str | Sequence, classes: Sequence[str], dataset: str = "dataset") -> list[int]:
    """Class indices of ``dataset`` named by ``text`` (ranges ``a-b``, indices, names; comma separated).

    Raises ``ValueError`` for a class the dataset does not have, an empty or repeated selection.
    """
    items = [t for t in (text.split(",") if isinstance(text, str) else list(text))]
    out: list[int] = []
    n = len(classes)
    for item in items:
        tok = str(item).strip()
        if not tok:
            continue
        m = _RANGE.match(tok)
        if tok in classes and not tok.isdigit():
            out.append(list(classes).index(tok))
        elif m:
            a, b = int(m.group(1)), int(m.group(2))
            if a > b:
                raise ValueError(f"classes: range {tok!r} is empty (start > end)")
            out.extend(range(a, b + 1))
        elif tok.lstrip("-").isdigit():
            out.append(int(tok))
        else:
            raise ValueError(f"classes: {tok!r} is not a class of {dataset} (classes: {', '.join(classes)})")
    bad = [c for c in out if not 0 <= c < n]
    if bad:
        raise ValueError(f"classes: {', '.join(map(str, bad))} absent from {dataset}, which has classes 0..{n - 1}")
    if not out:
        raise ValueError(f"classes: {text!r} selects no class")
    if len(set(out)) != len(out):
        raise ValueError(f"classes: {text!r} names a class twice")
    return out


@dataclass
class FinetuneData:
    """Train/test sets relabelled to 0..K-1 in ``class_subset`` order (dataset class indices)."""

    train: object
    test: object
    class_subset: list[int]
    class_names: list[str]
    num_old: int = 0                # extension: labels 0..num_old-1 are the base's classes
    old_test: object = None         # extension: test images of the old classes, labelled for the base head
    base_old_accuracy: float | None = None  # extension: the base model's accuracy on ``old_test`` (cached)


def prepare_data(dataset: str, data_dir=None, classes: str | Sequence | None = None,
                 labels_per_class: int | None = None, seed: int = 0, extend_from: Sequence[str] | None = None,
                 replay: int = 0, limit_test: int | None = None) -> FinetuneData:
    """Load ``dataset`` and build the fine-tuning data.

    Args:
        classes: the target classes (default: all); with ``extend_from`` the *new* classes (default: every class
            the base does not know).
        labels_per_class: training labels per (new) class, a seeded sample (default: all).
        extend_from: names of the base model's classes (incremental fine-tuning): labels 0..k-1 keep them.
        replay: with ``extend_from``, training labels kept per *old* class (rehearsal; 0 = none).
        limit_test: keep this many test images (a seeded random pick when smaller than the set).
    """
    from ..data import few_shot, load_dataset, select_classes

    train_full = load_dataset(dataset, "train", data_dir=data_dir)
    test_full = load_dataset(dataset, "test", data_dir=data_dir)
    names = list(train_full.classes)
    num_old = 0
    if extend_from is not None:
        missing = [c for c in extend_from if c not in names]
        if missing:
            raise ValueError(f"--extend-classes: the base model's classes {missing} are absent from {dataset} "
                             f"(classes: {', '.join(names)}); extend on the dataset the base was trained on")
        old = [names.index(c) for c in extend_from]
        new = parse_classes(classes, names, dataset) if classes is not None else \
            [i for i in range(len(names)) if i not in old]
        clash = [names[c] for c in new if c in old]
        if clash:
            raise ValueError(f"--extend-classes: classes {clash} are already known to the base model")
        if not new:
            raise ValueError(f"--extend-classes: the base model already knows every class of {dataset}")
        subset, num_old = old + new, len(old)
    else:
        subset = parse_classes(classes, names, dataset) if classes is not None else list(range(len(names)))
        if len(subset) < 2:     # (an extension adds to the base's classes: one new class is fine there)
            given = classes if isinstance(classes, str) else ",".join(map(str, classes or []))
            what = f"--classes {given} selects" if classes is not None else f"{dataset} has"
            raise ValueError(f"{what} one class; a classifier needs at least two (name more classes, or add it "
                             "to a base checkpoint's classes with --extend-classes)")
    train = select_classes(train_full, subset)
    test = select_classes(test_full, subset)
    counts = train.class_counts()
    if (counts == 0).any():
        absent = [names[subset[i]] for i in np.flatnonzero(counts == 0)]
        raise ValueError(f"classes {absent} have no training images in {dataset}")
    short = [f"{names[subset[i]]} ({int(counts[i])})" for i in range(num_old, len(subset))
             if labels_per_class is not None and counts[i] < int(labels_per_class)]
    if short:       # named as the user wrote them, not by the relabelled indices few_shot would report
        raise ValueError(f"--labels-per-class {labels_per_class}: {dataset} has fewer than {labels_per_class} "
                         f"training images of classes {', '.join(short)}")
    seed_seq = np.random.SeedSequence([int(seed), 11]).generate_state(2)
    if labels_per_class is not None or (num_old and replay >= 0):
        new_labels = list(range(num_old, len(subset)))
        if labels_per_class is not None:
            idx_new = few_shot(train.labels, int(labels_per_class), seed=int(seed_seq[0]), classes=new_labels)
        else:
            idx_new = np.flatnonzero(train.labels >= num_old)
        idx_old = (few_shot(train.labels, int(replay), seed=int(seed_seq[1]), classes=range(num_old))
                   if num_old and replay > 0 else np.zeros(0, np.int64))
        train = train.subset(np.sort(np.concatenate([idx_old, idx_new])))
    if limit_test is not None and limit_test < len(test):
        pick = np.sort(np.random.default_rng([int(seed), 13]).permutation(len(test))[:int(limit_test)])
        test = test.subset(pick)
    old_test = None
    if num_old:
        old_test = test.subset(test.labels < num_old)
    return FinetuneData(train, test, list(subset), [names[i] for i in subset], num_old, old_test)
