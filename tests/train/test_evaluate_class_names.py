"""``evaluate`` and the mistakes gallery refuse a dataset whose classes are not the checkpoint's ``class_names``
(an MNIST model on Fashion-MNIST used to be scored and reported under the digit names), and keep working on the
checkpoint's own dataset, its fine-tuned class subset and a given ``ArrayDataset``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import scratchcnn
from cli.helpers import assert_one_line_error, one_json, run
from scratchcnn import models
from scratchcnn.data import ArrayDataset, write_idx
from scratchcnn.data.registry import get_info
from scratchcnn.io import save_checkpoint
from scratchcnn.models.loading import model_meta
from scratchcnn.train.evaluate import evaluate_checkpoint
from scratchcnn.viz import plot_mistakes


WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _write_fake(root: Path, name: str, per_class: int = 3) -> None:
    rng = np.random.default_rng(0)
    for split in ("train", "t10k"):
        labels = np.repeat(np.arange(10), per_class).astype(np.uint8)
        write_idx(root / name / f"{split}-images-idx3-ubyte.gz",
                  rng.integers(0, 256, (len(labels), 28, 28)).astype(np.uint8))
        write_idx(root / name / f"{split}-labels-idx1-ubyte.gz", labels)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A data dir with fake mnist + fashion-mnist, a 10-class mnist checkpoint, a 5-9 subset checkpoint and an
    mnist checkpoint whose class_names relabel the digits as words."""
    root = tmp_path_factory.mktemp("evalnames")
    data = root / "data"
    for name in ("mnist", "fashion-mnist"):
        _write_fake(data, name)
    norm = {"mean": [0.1307], "std": [0.3081]}
    scratchcnn.manual_seed(0)
    full = models.get("seed000")
    ckpt = save_checkpoint(root / "full", full.state_dict(),
                           model_meta(full, dataset="mnist", class_names=[str(i) for i in range(10)],
                                      normalization=norm, input_shape=[1, 28, 28]))
    sub = models.get("seed000", num_classes=5)
    sub_ckpt = save_checkpoint(root / "sub", sub.state_dict(),
                               model_meta(sub, dataset="mnist", class_names=["5", "6", "7", "8", "9"],
                                          class_subset=[5, 6, 7, 8, 9], normalization=norm,
                                          input_shape=[1, 28, 28]))
    named = save_checkpoint(root / "named", full.state_dict(),
                            model_meta(full, dataset="mnist", class_names=WORDS, normalization=norm,
                                       input_shape=[1, 28, 28]))
    return data, ckpt, sub_ckpt, named


def test_other_dataset_is_refused_naming_both_class_lists(setup, capsys):
    data, ckpt, _, _ = setup
    with pytest.raises(ValueError) as e:
        evaluate_checkpoint(ckpt, dataset="fashion-mnist", data_dir=data)
    msg = str(e.value)
    assert "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9] (mnist)" in msg and "T-shirt/top, Trouser" in msg
    assert "--dataset mnist" in msg
    rc, out, err = run(capsys, "evaluate", ckpt, "--dataset", "fashion-mnist", "--data-dir", data, "--json")
    assert_one_line_error(rc, out, err, "but fashion-mnist has classes [T-shirt/top")


def test_subset_checkpoint_refused_on_other_dataset(setup):
    data, _, sub_ckpt, _ = setup
    with pytest.raises(ValueError, match=r"predicts classes \[5, 6, 7, 8, 9\] \(mnist\) but classes "
                                         r"\[5, 6, 7, 8, 9\] of fashion-mnist has classes \[Sandal"):
        evaluate_checkpoint(sub_ckpt, dataset="fashion-mnist", data_dir=data)


def test_mistakes_gallery_refused_and_nothing_written(setup, tmp_path, capsys):
    data, ckpt, _, _ = setup
    with pytest.raises(ValueError, match="but fashion-mnist has classes"):
        plot_mistakes(ckpt, "fashion-mnist", tmp_path / "m.png", data_dir=data)
    rc, out, err = run(capsys, "visualize", "mistakes", ckpt, "--dataset", "fashion-mnist", "--data-dir", data,
                       "--out", tmp_path / "m.png", "--json")
    assert_one_line_error(rc, out, err, "(mnist) but fashion-mnist has classes")
    assert list(tmp_path.iterdir()) == []


def test_legitimate_cases_still_work(setup, capsys, tmp_path):
    data, ckpt, sub_ckpt, named = setup
    rc, out, err = run(capsys, "evaluate", ckpt, "--data-dir", data, "--limit", "7", "--json")
    assert rc == 0, err
    res = one_json(out)
    assert res["num_samples"] == 7 and res["class_names"] == [str(i) for i in range(10)]
    res = evaluate_checkpoint(sub_ckpt, dataset="mnist", data_dir=data)      # its class subset, relabelled
    assert res["num_samples"] == 15 and res["class_names"] == ["5", "6", "7", "8", "9"]
    pic = plot_mistakes(sub_ckpt, None, tmp_path / "m.png", data_dir=data, limit=5)
    assert pic.info["examined"] == 5
    res = evaluate_checkpoint(named, data_dir=data)              # its own dataset: class_names are its labels
    assert res["class_names"] == WORDS and res["num_samples"] == 30
    with pytest.raises(ValueError, match=r"predicts classes \[zero, one, .*\(mnist\) but fashion-mnist has"):
        evaluate_checkpoint(named, dataset="fashion-mnist", data_dir=data)
    # an ArrayDataset (e.g. an image folder or a validation split) is used as given
    rng = np.random.default_rng(1)
    ds = ArrayDataset(rng.integers(0, 256, (6, 28, 28)).astype(np.uint8), np.arange(6) % 10,
                      get_info("mnist").classes, name="folder", split="test")
    assert evaluate_checkpoint(ckpt, dataset=ds)["num_samples"] == 6
