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
    return lab


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
    # map labels -> 0..K-1 without a Python loop over samples
    order = np.argsort(lab)
    sorted_lab = lab[order]
    ti = np.searchsorted(sorted_lab, t)
    pi = np.searchsorted(sorted_lab, p)
    ti_c, pi_c = np.minimum(ti, k - 1), np.minimum(pi, k - 1)
    keep = (sorted_lab[ti_c] == t) & (sorted_lab[pi_c] == p)
    rows, cols = order[ti_c[keep]], order[pi_c[keep]]
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (rows, cols), 1)
    return cm


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = num.astype(np.float64)
    den = den.astype(np.float64)
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _per_class(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    tp = np.diag(cm)
    pred_pos = cm.sum(axis=0)
    support = cm.sum(axis=1)
    precision = _safe_div(tp, pred_pos)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    return precision, recall, f1, support


def precision_recall_f1(y_true: Any, y_pred: Any, labels: Iterable[int] | None = None,
                        average: str | None = "macro") -> tuple[Any, Any, Any]:
    """Precision, recall and F1.

    Args:
        average: ``None`` -> three (K,) float64 arrays (per class, in ``labels`` order); ``"macro"`` -> unweighted
            means over classes; ``"weighted"`` -> means weighted by support; ``"micro"`` -> global counts.
    """
    t, p = _pair(y_true, y_pred)
    cm = confusion_matrix(t, p, labels)
    precision, recall, f1, support = _per_class(cm)
    if average is None:
        return precision, recall, f1
    if average == "macro":
        return float(precision.mean()), float(recall.mean()), float(f1.mean())
    if average == "weighted":
        total = support.sum()
        if total == 0:
            return 0.0, 0.0, 0.0
        w = support / total
        return float((precision * w).sum()), float((recall * w).sum()), float((f1 * w).sum())
    if average == "micro":
        tp = np.diag(cm).sum()
        prec = float(_safe_div(np.array(tp), np.array(cm.sum(axis=0).sum())))
        rec = float(_safe_div(np.array(tp), np.array(cm.sum(axis=1).sum())))
        f = float(_safe_div(np.array(2 * prec * rec), np.array(prec + rec)))
        return prec, rec, f
    raise ValueError(f"precision_recall_f1: average must be None, 'macro', 'weighted' or 'micro', got {average!r}")


def classification_report(y_true: Any, y_pred: Any, labels: Iterable[int] | None = None,
                          target_names: Sequence[str] | None = None) -> dict:
    """A dict shaped like ``sklearn.metrics.classification_report(..., output_dict=True, zero_division=0)``.

    Keys: one per class name (``target_names`` or the label as a string) with ``precision``, ``recall``,
    ``f1-score``, ``support``; then ``accuracy``, ``macro avg`` and ``weighted avg``.
    """
    t, p = _pair(y_true, y_pred)
    lab = _resolve_labels(t, p, labels)
    if target_names is not None and len(target_names) != lab.size:
        raise ValueError(f"classification_report: {lab.size} labels but {len(target_names)} target_names")
    names = list(target_names) if target_names is not None else [str(int(v)) for v in lab]
    cm = confusion_matrix(t, p, lab)
    precision, recall, f1, support = _per_class(cm)
    report: dict = {}
    for i, name in enumerate(names):
        report[name] = {"precision": float(precision[i]), "recall": float(recall[i]),
                        "f1-score": float(f1[i]), "support": float(support[i])}
    total = float(support.sum())
    report["accuracy"] = accuracy(t, p)
    report["macro avg"] = {"precision": float(precision.mean()), "recall": float(recall.mean()),
                           "f1-score": float(f1.mean()), "support": total}
    w = support / total if total else np.zeros_like(support, dtype=np.float64)
    report["weighted avg"] = {"precision": float((precision * w).sum()), "recall": float((recall * w).sum()),
                              "f1-score": float((f1 * w).sum()), "support": total}
    return report


def summarize(y_true: Any, y_pred: Any, num_classes: int) -> dict:
    """The evaluation dict used by the trainer and the CLI: ``accuracy``, macro ``precision``/``recall``/``f1``,
    per-class lists and ``confusion_matrix`` (nested lists), all JSON-ready.

    The per-class lists and the matrix cover all ``num_classes`` classes; the macro averages cover the classes
    that occur in ``y_true`` or ``y_pred`` (scikit-learn's default labels), so a class absent from a small test
    split is not counted as a 0."""
    t, p = _pair(y_true, y_pred)
    labels = range(num_classes)
    cm = confusion_matrix(t, p, labels)
    precision, recall, f1, support = _per_class(cm)
    seen = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
    seen = seen if seen.any() else np.ones_like(seen)
    return {
        "accuracy": accuracy(t, p),
        "precision": float(precision[seen].mean()),
        "recall": float(recall[seen].mean()),
        "f1": float(f1[seen].mean()),
        "per_class": {"precision": precision.tolist(), "recall": recall.tolist(), "f1": f1.tolist(),
                      "support": support.tolist()},
        "confusion_matrix": cm.tolist(),
        "num_samples": int(t.size),
    }
