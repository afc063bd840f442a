"""Metrics against scikit-learn on random label sets (including absent classes and zero divisions)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchcnn.train import metrics

sk = pytest.importorskip("sklearn.metrics")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # sklearn warns on single-label inputs


@st.composite
def label_pairs(draw):
    k = draw(st.integers(1, 8))
    n = draw(st.integers(1, 60))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    t = rng.integers(0, k, n)
    # sometimes predictions are mostly right, sometimes a few classes never get predicted
    p = np.where(rng.random(n) < draw(st.floats(0, 1)), t, rng.integers(0, k, n))
    if draw(st.booleans()):
        p = np.minimum(p, max(k - 2, 0))
    return t.astype(np.int64), p.astype(np.int64), k


@settings(max_examples=60, deadline=None)
@given(label_pairs())
def test_against_sklearn(pair):
    t, p, k = pair
    labels = list(range(k))
    assert metrics.accuracy(t, p) == pytest.approx(sk.accuracy_score(t, p), abs=1e-12)
    np.testing.assert_array_equal(metrics.confusion_matrix(t, p, labels), sk.confusion_matrix(t, p, labels=labels))
    np.testing.assert_array_equal(metrics.confusion_matrix(t, p), sk.confusion_matrix(t, p))
    for average in (None, "macro", "weighted", "micro"):
        ours = metrics.precision_recall_f1(t, p, labels, average=average)
        ref = sk.precision_recall_fscore_support(t, p, labels=labels, average=average, zero_division=0)[:3]
        for a, b in zip(ours, ref):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    ours = metrics.classification_report(t, p, labels)
    ref = sk.classification_report(t, p, labels=labels, output_dict=True, zero_division=0)
    if "accuracy" not in ref:  # sklearn reports "micro avg" instead when labels miss classes; not our case
        pytest.fail("unexpected sklearn report layout")
    assert ours.keys() == ref.keys()
    for key, val in ref.items():
        if isinstance(val, dict):
            for m, v in val.items():
                assert ours[key][m] == pytest.approx(v, abs=1e-12), (key, m)
        else:
            assert ours[key] == pytest.approx(val, abs=1e-12)


def test_default_labels_are_union_like_sklearn():
    t = np.array([3, 3, 7, 7, 9])
    p = np.array([3, 7, 7, 5, 9])
    ours = metrics.precision_recall_f1(t, p, average=None)
    ref = sk.precision_recall_fscore_support(t, p, zero_division=0)[:3]
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b)


def test_labels_outside_set_are_ignored_like_sklearn():
    t = np.array([0, 1, 2, 5])
    p = np.array([0, 2, 2, 1])
    np.testing.assert_array_equal(metrics.confusion_matrix(t, p, [0, 1, 2]),
                                  sk.confusion_matrix(t, p, labels=[0, 1, 2]))


def test_summarize_keys_and_values():
    t = np.array([0, 0, 1, 1, 2])
    p = np.array([0, 1, 1, 1, 0])
    s = metrics.summarize(t, p, 3)
    assert s["accuracy"] == pytest.approx(0.6)
    assert s["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert s["precision"] == pytest.approx(sk.precision_score(t, p, average="macro", zero_division=0))
    assert s["f1"] == pytest.approx(sk.f1_score(t, p, average="macro", zero_division=0))
    assert s["per_class"]["support"] == [2, 2, 1]


def test_bad_input():
    with pytest.raises(ValueError, match="same length"):
        metrics.accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="1-D"):
        metrics.confusion_matrix(np.zeros((2, 2), int), np.zeros((2, 2), int))
    with pytest.raises(TypeError, match="integer"):
        metrics.accuracy([0.5, 1.0], [0, 1])
    with pytest.raises(ValueError, match="average"):
        metrics.precision_recall_f1([0, 1], [0, 1], average="bogus")


def test_summarize_macro_averages_skip_classes_absent_from_labels_and_predictions():
    """A 5-class model on a test split holding classes 0, 1, 3 only (and predicting 0, 1, 3, 4): the macro
    averages equal sklearn's default (labels that occur), the per-class lists and the matrix keep all 5."""
    t = np.array([0, 0, 1, 1, 3, 3, 3])
    p = np.array([0, 1, 1, 1, 3, 4, 3])
    s = metrics.summarize(t, p, 5)
    for key, fn in (("precision", sk.precision_score), ("recall", sk.recall_score), ("f1", sk.f1_score)):
        assert s[key] == pytest.approx(fn(t, p, average="macro", zero_division=0))
    assert len(s["per_class"]["f1"]) == 5 and len(s["confusion_matrix"]) == 5
    perfect = metrics.summarize(np.array([2, 2]), np.array([2, 2]), 3)
    assert perfect["accuracy"] == perfect["precision"] == perfect["recall"] == perfect["f1"] == 1.0
    empty = metrics.summarize(np.array([], int), np.array([], int), 3)
    assert empty["f1"] == 0.0
