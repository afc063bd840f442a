"""``--train-on train+val``: refit on the training and validation splits with a fixed schedule (the last epoch
is kept), single models and ensembles; the validation split is then training data and cannot be evaluated.
``--stop-epoch``: stop a longer schedule early (how an epoch chosen on validation is reproduced in a refit)."""
from __future__ import annotations

import json

import pytest

from scratchcnn.io import read_meta
from scratchcnn.text import TextTrainConfig, evaluate_text_checkpoint, train_text
from scratchcnn.text.fit import prepare_text

from tiny_corpus import make_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("refit") / "corpus")


def config(corpus, **kw) -> TextTrainConfig:
    base = dict(embed_dim=8, num_filters=6, kernel_sizes=[2, 3], epochs=3, lr=0.01, batch_size=16)
    return TextTrainConfig(data=str(corpus), **{**base, **kw})


def test_train_and_val_texts_become_the_training_split(corpus):
    plain, refit = prepare_text(config(corpus)), prepare_text(config(corpus, train_on="train+val"))
    assert refit.splits.train.texts == plain.splits.train.texts            # the fixed rule is unchanged
    n_train, n_val = len(plain.encoded["train"][0]), len(plain.encoded["val"][0])
    assert n_val > 0 and len(refit.encoded["train"][0]) == n_train + n_val and len(refit.encoded["val"][0]) == 0
    assert refit.encoded["test"][1].tolist() == plain.encoded["test"][1].tolist()   # same test texts
    joined = plain.splits.train + plain.splits.val
    assert joined.texts == plain.splits.train.texts + plain.splits.val.texts
    assert joined.labels.tolist() == plain.splits.train.labels.tolist() + plain.splits.val.labels.tolist()
    # the vocabulary now covers validation tokens too (built on the joined split)
    assert set(plain.vocab.to_list()) < set(refit.vocab.to_list())


def test_refit_keeps_the_last_epoch_and_refuses_val(corpus, tmp_path):
    res = train_text(config(corpus, train_on="train+val"), out_dir=tmp_path / "one", progress=False)
    assert res["val_accuracy"] is None and res["best_epoch"] == 3 and res["num_val"] == 0
    assert res["test_accuracy"] > 0.8
    meta = read_meta(tmp_path / "one" / "best")
    assert meta["epoch"] == 3 and meta["selected_on"] == "epoch" and meta["data"]["train_on"] == "train+val"
    hist = json.loads((tmp_path / "one" / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2, 3] and not any("val_accuracy" in h for h in hist)
    ev = evaluate_text_checkpoint(tmp_path / "one" / "best")
    assert ev["accuracy"] == pytest.approx(res["test_accuracy"])
    with pytest.raises(ValueError, match="train-on train\\+val.*evaluate on test"):
        evaluate_text_checkpoint(tmp_path / "one" / "best", split="val")


def test_stop_epoch_cuts_the_schedule_short(corpus, tmp_path):
    full = train_text(config(corpus, epochs=4, scheduler="cosine"), out_dir=tmp_path / "full", progress=False)
    cut = train_text(config(corpus, epochs=4, scheduler="cosine", stop_epoch=2), out_dir=tmp_path / "cut",
                     progress=False)
    h_full = json.loads((tmp_path / "full" / "history.json").read_text())
    h_cut = json.loads((tmp_path / "cut" / "history.json").read_text())
    assert [h["epoch"] for h in h_cut] == [1, 2] and cut["epochs"] == 2 and full["epochs"] == 4
    for a, b in zip(h_cut, h_full[:2]):        # the same run as the first two epochs of the 4-epoch schedule
        assert a["lr"] == b["lr"] and a["loss"] == b["loss"] and a["val_accuracy"] == b["val_accuracy"]
    assert h_cut[-1]["lr"] > 0


def test_refit_ensemble(corpus, tmp_path):
    kw = dict(train_on="train+val", ensemble=2, epochs=4, stop_epoch=3, scheduler="cosine")
    res = train_text(config(corpus, **kw), out_dir=tmp_path / "ens", progress=False)
    assert res["val_accuracy"] is None and res["best_epoch"] == [3, 3]
    assert all(m["val_accuracy"] is None for m in res["members"]) and res["test_accuracy"] > 0.8
    again = train_text(config(corpus, **kw), out_dir=tmp_path / "ens", progress=False)
    assert [m.get("reused") for m in again["members"]] == [True, True]
    plain = train_text(config(corpus, **{**kw, "train_on": "train"}), out_dir=tmp_path / "ens", progress=False)
    assert not any(m.get("reused") for m in plain["members"])           # train-only members are other members


def test_refit_config_errors():
    with pytest.raises(ValueError, match="train_on must be one of train, train\\+val"):
        TextTrainConfig(data="x", train_on="val")
    with pytest.raises(ValueError, match="--patience stops on validation"):
        TextTrainConfig(data="x", train_on="train+val", patience=2)
    with pytest.raises(ValueError, match="--stop-epoch 5 lies beyond the schedule's --epochs 4"):
        TextTrainConfig(data="x", epochs=4, stop_epoch=5)
    with pytest.raises(ValueError, match="stop_epoch must be a positive integer"):
        TextTrainConfig(data="x", stop_epoch=0)
