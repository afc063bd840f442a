"""Corpora too small for the 80/10/10 rule: under 10 texts there is no validation split (the run keeps its last
epoch and says so); too few texts to split, or a training split without some label, is refused in one line."""
from __future__ import annotations

import pytest

from scratchcnn.io import read_meta
from scratchcnn.text import TextCorpusError, TextTrainConfig, load_corpus, split_corpus, train_text
from scratchcnn.text.fit import prepare_text
from scratchcnn.text.splits import min_examples


def table(path, rows: list[tuple[str, str]]):
    path.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows), encoding="utf-8")
    return path


def config(path, **kw) -> TextTrainConfig:
    base = dict(embed_dim=8, num_filters=4, kernel_sizes=[1, 2], epochs=2, lr=0.01, batch_size=4)
    return TextTrainConfig(data=str(path), **{**base, **kw})


def test_min_examples():
    assert min_examples(2) == 3 and min_examples(3) == 4          # a training text per label and a test text
    assert min_examples(2, (0.5, 0.25, 0.25)) == 4 and min_examples(2, (1.0, 0.0, 0.0)) is None


@pytest.mark.parametrize("n,sizes", [(9, (7, 0, 2)), (10, (8, 1, 1)), (3, (2, 0, 1))])
def test_split_sizes_of_small_corpora(tmp_path, n, sizes):
    rows = [(f"text {i}", "pos" if i % 2 else "neg") for i in range(n)]
    sp = split_corpus(load_corpus(table(tmp_path / "t.csv", rows)))
    assert (len(sp.train), len(sp.val), len(sp.test)) == sizes


def test_too_few_texts_says_how_many_are_needed(tmp_path):
    with pytest.raises(TextCorpusError) as e:
        split_corpus(load_corpus(table(tmp_path / "t.csv", [("a", "x"), ("b", "y")])))
    msg = str(e.value)
    assert "only 2 usable text(s)" in msg and "2 labels need at least 3 usable texts" in msg and "\n" not in msg


def _seed_without(path, label: str) -> int:
    """A seed whose training split has no text labelled ``label``."""
    raw = load_corpus(path)
    for seed in range(200):
        sp = split_corpus(raw, seed=seed)
        if sp.classes.index(label) not in sp.train.labels:
            return seed
    raise AssertionError("no such seed")


def test_training_split_without_a_label_is_refused(tmp_path):
    path = table(tmp_path / "t.csv", [(f"good {i}", "pos") for i in range(8)] + [("bad", "neg")])
    seed = _seed_without(path, "neg")
    with pytest.raises(ValueError) as e:
        prepare_text(config(path, seed=seed))
    msg = str(e.value)
    assert "t.csv: the training split (7 of 9 usable texts) has no text labelled 'neg'" in msg
    assert "neg 1, pos 8" in msg and "\n" not in msg


def test_limit_train_without_a_label_is_refused(tmp_path):
    path = table(tmp_path / "t.csv", [(f"text {i}", "pos" if i % 2 else "neg") for i in range(40)])
    prep = prepare_text(config(path))
    first = int(prep.splits.train.labels[0])
    k = next(i for i, y in enumerate(prep.splits.train.labels) if y != first)   # the first k have one label
    with pytest.raises(ValueError, match=f"--limit-train {k} leaves no training text labelled"):
        prepare_text(config(path, limit_train=k))


def test_no_validation_split_keeps_the_last_epoch(tmp_path, capsys):
    rows = [(f"good film {i}", "pos") for i in range(4)] + [(f"bad film {i}", "neg") for i in range(5)]
    path = table(tmp_path / "t.csv", rows)
    seed = next(s for s in range(200) if len(set(split_corpus(load_corpus(path), seed=s).train.labels)) == 2)
    res = train_text(config(path, seed=seed, epochs=3), out_dir=tmp_path / "run", progress=False)
    assert "no validation texts (the split of 9 usable texts has none; 10 give one): the last epoch is kept" \
        in capsys.readouterr().err
    assert res["num_val"] == 0 and res["val_accuracy"] is None and res["best_epoch"] == 3
    meta = read_meta(tmp_path / "run" / "best")
    assert meta["data"]["train_on"] == "train" and meta["selected_on"] == "epoch"
