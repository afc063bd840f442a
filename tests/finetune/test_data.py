"""Target data: class parsing, relabelled subsets, seeded few-shot samples, incremental layouts, bad classes."""
from __future__ import annotations

import numpy as np
import pytest

from scratchcnn.finetune import parse_classes, prepare_data

from .conftest import TEST_PER_CLASS, TRAIN_PER_CLASS

NAMES = [str(i) for i in range(10)]


def test_parse_classes():
    assert parse_classes("5-9", NAMES) == [5, 6, 7, 8, 9]
    assert parse_classes("0,2,4-6", NAMES) == [0, 2, 4, 5, 6]
    assert parse_classes("9, 1", NAMES) == [9, 1]
    assert parse_classes([3, 4], NAMES) == [3, 4]
    fashion = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"]
    assert parse_classes("Sneaker,T-shirt/top,9", fashion) == [7, 0, 9]


@pytest.mark.parametrize("text,match", [("10-12", "absent from mnist"), ("3,3", "twice"), ("7-5", "empty"),
                                        ("cat", "not a class of mnist"), ("", "selects no class"),
                                        ("-1", "absent")])
def test_parse_classes_errors(text, match):
    with pytest.raises(ValueError, match=match):
        parse_classes(text, NAMES, "mnist")


def test_subset_and_few_shot(fake_data):
    d = prepare_data("mnist", fake_data, "7,5", labels_per_class=4, seed=3)
    assert d.class_subset == [7, 5] and d.class_names == ["7", "5"] and d.num_old == 0
    assert np.bincount(d.train.labels).tolist() == [4, 4]
    assert len(d.test) == 2 * TEST_PER_CLASS and set(d.test.labels.tolist()) == {0, 1}
    assert d.train.classes == ("7", "5")
    again = prepare_data("mnist", fake_data, "7,5", labels_per_class=4, seed=3)
    np.testing.assert_array_equal(again.train.images, d.train.images)
    other = prepare_data("mnist", fake_data, "7,5", labels_per_class=4, seed=4)
    assert not np.array_equal(other.train.images, d.train.images)
    full = prepare_data("mnist", fake_data)
    assert len(full.train) == 10 * TRAIN_PER_CLASS and full.class_subset == list(range(10))
    limited = prepare_data("mnist", fake_data, limit_test=17)
    assert len(limited.test) == 17


def test_extension_layout(fake_data):
    d = prepare_data("mnist", fake_data, "5-9", labels_per_class=3, extend_from=["0", "1", "2", "3", "4"],
                     replay=2)
    assert d.class_subset == list(range(10)) and d.num_old == 5
    assert np.bincount(d.train.labels, minlength=10).tolist() == [2] * 5 + [3] * 5
    assert len(d.old_test) == 5 * TEST_PER_CLASS and d.old_test.labels.max() == 4
    d = prepare_data("mnist", fake_data, None, extend_from=["8", "9"])
    assert d.class_subset == [8, 9, 0, 1, 2, 3, 4, 5, 6, 7] and d.class_names[:2] == ["8", "9"]
    assert np.all(d.train.labels >= 2)  # no replay: only the new classes train
    with pytest.raises(ValueError, match="already known"):
        prepare_data("mnist", fake_data, "4-6", extend_from=["0", "1", "2", "3", "4"])
    with pytest.raises(ValueError, match="absent from mnist"):
        prepare_data("mnist", fake_data, "5", extend_from=["Sneaker"])


def test_too_few_samples(fake_data):
    with pytest.raises(ValueError, match="fewer than"):
        prepare_data("mnist", fake_data, "0-1", labels_per_class=TRAIN_PER_CLASS + 1)
    # the classes are named as asked for (5, 6), not by their relabelled indices (0, 1)
    with pytest.raises(ValueError, match=rf"fewer than {TRAIN_PER_CLASS + 1} training images of classes "
                                         rf"5 \({TRAIN_PER_CLASS}\), 6 \({TRAIN_PER_CLASS}\)$"):
        prepare_data("mnist", fake_data, "5-6", labels_per_class=TRAIN_PER_CLASS + 1)
