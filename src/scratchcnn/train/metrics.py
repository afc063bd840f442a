"""Classification metrics on label arrays: accuracy, confusion matrix, precision/recall/F1, a report.

Conventions follow scikit-learn: the confusion matrix has true labels on rows and predictions on columns, and a
ratio whose denominator is zero counts as 0 (sklearn's ``zero_division=0``). Without ``labels`` the classes are
the sorted union of the labels present in ``y_true`` and ``y_pred`` (sklearn's default); pass
``labels=range(num_classes)`` to fix them.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

__all__ = ["accuracy", "confusion_matrix", "precision_recall_f1", "classification_report", "summarize"]


def _labels_1d(y: Any, name: str) -> np.ndarray:
    arr = np.asarray(y.data if hasattr(y, "data") and not isinstance(y, np.ndarray) else y)
    if arr.ndim != 1:
        raise ValueError(f"metrics: {name} must be a 1-D array of class labels, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iub":
        raise TypeError(f"metrics: {name} must hold integer class labels, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t, p = _labels_1d(y_true, "y_true"), _labels_1d(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"metrics: y_true and y_pred must have the same length, got {t.size} and {p.size}")
    return t, p


def _resolve_labels(t: np.ndarray, p: np.ndarray, labels: Iterable[int] | None) -> np.ndarray:
    if labels is None:
        return np.union1d(t, p).astype(np.int64)
    lab = np.asarray(list(labels), dtype=np.int64)
    if lab.ndim != 1 or lab.size == 0:
        raise ValueError("metrics: labels must be a non-empty list of class indices")
    values, counts = np.unique(lab, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"metrics: labels must list each class once, got {values[counts > 1].tolist()} more "
                         "than once")
    return lab


def _positions(lab: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Index of each value of ``y`` in ``lab`` (-1 where it is not there), without a Python loop."""
    if lab.size == 0:
        return np.full(y.shape, -1, dtype=np.int64)
    order = np.argsort(lab, kind="stable")
    sorted_lab = lab[order]
    pos = np.minimum(np.searchsorted(sorted_lab, y), lab.size - 1)
    return np.where(sorted_lab[pos] == y, order[pos], -1)


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of positions where ``y_pred == y_true`` (0.0 for empty input). Shapes: (N,), (N,)."""
    t, p = _pair(y_true, y_pred)
    return float((t == p).mean()) if t.size else 0.0


def confusion_matrix(y_true: Any, y_pred: Any, labels: Iterable[int] | None = None) -> np.ndarray:
    """Counts ``C[i, j]`` of samples with true label ``labels[i]`` predicted as ``labels[j]``; (K, K) int64.

    Samples whose true or predicted label is not in ``labels`` are ignored (as in scikit-learn).
    """
    t, p = _pair(y_true, y_pred)
    lab = _resolve_labels(t, p, labels)
    k = lab.size
    ti, pi = _positions(lab, t), _positions(lab, p)
    keep = (ti >= 0) & (pi >= 0)
    return np.bincount(ti[keep] * k + pi[keep], minlength=k * k).astype(np.int64).reshape(k, k)


def _counts(t: np.ndarray, p: np.ndarray, lab: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per label of ``lab``: true positives, predictions of it, true occurrences of it (support). A sample whose
    other label is outside ``lab`` still counts (a miss or a false alarm), as in scikit-learn's
    ``multilabel_confusion_matrix``; memory O(N + K), not K x K."""
    k = lab.size
    ti, pi = _positions(lab, t), _positions(lab, p)
    tp = np.bincount(ti[(ti >= 0) & (t == p)], minlength=k)
    return tp, np.bincount(pi[pi >= 0], minlength=k), np.bincount(ti[ti >= 0], minlength=k)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _per_class(tp: np.ndarray, pred_pos: np.ndarray,
               support: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    precision = _safe_div(tp, pred_pos)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    return precision, recall, f1, support


def _mean(x: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean (weighted by ``weights``), 0.0 when there is nothing to average."""
    if weights is None:
        return float(x.mean()) if x.size else 0.0
    total = weights.sum()
    return float((x * weights).sum() / total) if total else 0.0


def _micro(tp: np.ndarray, pred_pos: np.ndarray, support: np.ndarray) -> tuple[float, float, float]:
    prec = float(_safe_div(tp.sum(), pred_pos.sum()))
    rec = float(_safe_div(tp.sum(), support.sum()))
    return prec, rec, float(_safe_div(2 * prec * rec, prec + rec))


def precision_recall_f1(y_true: Any, y_pred: Any, labels: Iterable[int] | None = None,
                        average: str | None = "macro") -> tuple[Any, Any, Any]:
    """Precision, recall and F1, as ``sklearn.metrics.precision_recall_fscore_support(..., zero_division=0)``.

    Args:
        labels: the classes to score (default: those in ``y_true`` or ``y_pred``); samples of other classes
            still count as misses and false alarms of these.
        average: ``None`` -> three (K,) float64 arrays (per class, in ``labels`` order); ``"macro"`` -> unweighted
            means over classes; ``"weighted"`` -> means weighted by support; ``"micro"`` -> global counts
            (0.0 when there is nothing to average).
    """
    if average not in (None, "macro", "weighted", "micro"):
        raise ValueError(f"precision_recall_f1: average must be None, 'macro', 'weighted' or 'micro', "
                         f"got {average!r}")
    t, p = _pair(y_true, y_pred)
    counts = _counts(t, p, _resolve_labels(t, p, labels))
    precision, recall, f1, support = _per_class(*counts)
    if average is None:
        return precision, recall, f1
    if average == "micro":
        return _micro(*counts)
    w = support if average == "weighted" else None
    return _mean(precision, w), _mean(recall, w), _mean(f1, w)


def classification_report(y_true: Any, y_pred: Any, labels: Iterable[int] | None = None,
                          target_names: Sequence[str] | None = None) -> dict:
    """A dict shaped like ``sklearn.metrics.classification_report(..., output_dict=True, zero_division=0)``.

    Keys: one per class name (``target_names`` or the label as a string) with ``precision``, ``recall``,
    ``f1-score``, ``support``; then ``accuracy`` (``micro avg``, a dict, instead when ``labels`` leave out a
    class that occurs), ``macro avg`` and ``weighted avg``.
    """
    t, p = _pair(y_true, y_pred)
    if labels is None and t.size == 0:
        raise ValueError("classification_report: y_true and y_pred are empty and no labels were given; there is "
                         "nothing to report (pass labels= to list the classes)")
    lab = _resolve_labels(t, p, labels)
    if target_names is not None and len(target_names) != lab.size:
        raise ValueError(f"classification_report: {lab.size} labels but {len(target_names)} target_names")
    names = list(target_names) if target_names is not None else [str(int(v)) for v in lab]
    counts = _counts(t, p, lab)
    precision, recall, f1, support = _per_class(*counts)
    report: dict = {}
    for i, name in enumerate(names):
        report[name] = {"precision": float(precision[i]), "recall": float(recall[i]),
                        "f1-score": float(f1[i]), "support": float(support[i])}
    total = float(support.sum())
    if np.isin(np.union1d(t, p), lab).all():
        report["accuracy"] = accuracy(t, p)
    else:   # as sklearn: with classes left out, the micro average is not the accuracy
        micro = _micro(*counts)
        report["micro avg"] = {"precision": micro[0], "recall": micro[1], "f1-score": micro[2], "support": total}
    for key, w in (("macro avg", None), ("weighted avg", support)):
        report[key] = {"precision": _mean(precision, w), "recall": _mean(recall, w), "f1-score": _mean(f1, w),
                       "support": total}
    return report


def summarize(y_true: Any, y_pred: Any, num_classes: int) -> dict:
    """The evaluation dict used by the trainer and the CLI: ``accuracy``, macro ``precision``/``recall``/``f1``,
    per-class lists and ``confusion_matrix`` (nested lists), all JSON-ready.

    The per-class lists and the matrix cover all ``num_classes`` classes; the macro averages cover the classes
    that occur in ``y_true`` or ``y_pred`` (scikit-learn's default labels), so a class absent from a small test
    split is not counted as a 0."""
    t, p = _pair(y_true, y_pred)
    labels = np.arange(num_classes, dtype=np.int64)
    counts = _counts(t, p, labels)
    precision, recall, f1, support = _per_class(*counts)
    seen = (counts[1] + support) > 0
    seen = seen if seen.any() else np.ones_like(seen)
    return {
        "accuracy": accuracy(t, p),
        "precision": _mean(precision[seen]),
        "recall": _mean(recall[seen]),
        "f1": _mean(f1[seen]),
        "per_class": {"precision": precision.tolist(), "recall": recall.tolist(), "f1": f1.tolist(),
                      "support": support.tolist()},
        "confusion_matrix": confusion_matrix(t, p, labels).tolist(),
        "num_samples": int(t.size),
    }
