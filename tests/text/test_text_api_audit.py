"""Audit of the text pieces a user calls from Python: tokenizers on edge inputs, CJK detection of rare
characters, the vocabulary (ties, JSON round trip, malformed lists), encoding of texts shorter than a window,
hashing stable across processes, vectors errors, and predictions of a saved checkpoint (batch vs one by one)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scratchcnn.models.textcnn import hash_ngrams
from scratchcnn.text import (CharTokenizer, TextTrainConfig, Vocab, WordTokenizer, cjk_fraction, detect_tokenizer,
                             encode_texts, evaluate_text_checkpoint, load_text_model, pad_batch, predict_texts,
                             train_text)
from scratchcnn.text.corpus import TextCorpusError
from scratchcnn.text.vectors import load_vectors

sys.path.insert(0, str(Path(__file__).parent))
from tiny_corpus import make_corpus  # noqa: E402


# ------------------------------------------------------------------------------------------------- tokenizers
@pytest.mark.parametrize("text", ["", " ", "\t\n", "\u3000\u3000", "\u00a0 \u2003"])
def test_whitespace_only_texts_have_no_tokens(text):
    assert CharTokenizer()(text) == [] and WordTokenizer()(text) == []


def test_char_tokenizer_emoji_rare_cjk_and_whitespace_runs():
    assert CharTokenizer()(" 好\u3000\u3000😀 𠀀\U00030000 ") == ["好", " ", "😀", " ", "𠀀", "\U00030000"]


def test_word_tokenizer_documented_english_rules():
    assert WordTokenizer()("Don\u2019t PAY $3.50 for 1,000 pills (2.5mg)!") == \
        ["don't", "pay", "$", "3.50", "for", "1,000", "pills", "(", "2.5mg", ")", "!"]
    assert WordTokenizer()("cafe\u0301 CAF\u00c9") == ["caf\u00e9", "caf\u00e9"]


@pytest.mark.parametrize("texts", [["\U00030000\U00030001"],          # CJK extension G (plane 3)
                                   ["\U00031350\U000323af"],          # extension H (newer than some Pythons)
                                   ["\u3005\u3007\u4eba"]])           # iteration mark, ideographic zero
def test_rare_cjk_is_detected_as_cjk(texts):
    """Before: characters of CJK extensions G/H and the marks U+3005/U+3007 were not CJK, so a text of them
    picked the ``word`` tokenizer (or, for extension H, a fraction above 1 was possible after a naive fix)."""
    assert cjk_fraction(texts) == 1.0
    assert detect_tokenizer(texts) == "char"


def test_cjk_fraction_stays_a_fraction():
    assert cjk_fraction(["abc", "好好好"]) == 0.5 and cjk_fraction(["123 !!"]) == 0.0


# ------------------------------------------------------------------------------------------------- vocabulary
def test_vocab_ties_are_deterministic_whatever_the_input_order():
    lists = [["b", "a"], ["c"], ["a", "😀"], ["b", "c", "😀"]]
    one = Vocab.build(lists, max_size=5)
    other = Vocab.build(lists[::-1], max_size=5)
    assert one.tokens == other.tokens == ["<pad>", "<unk>", "a", "b", "c"]
    assert Vocab.build(lists, min_freq=2).tokens == ["<pad>", "<unk>", "a", "b", "c", "😀"]


def test_vocab_json_round_trip_with_unusual_tokens():
    v = Vocab.build([["好", "😀", "\U00030000", "\u2028", "\"", "\\", "<pad>", "é"]])
    again = Vocab.from_list(json.loads(json.dumps(v.to_list())))
    assert again.tokens == v.tokens and again.index == v.index
    assert again.encode(["<pad>", "😀", "missing"]).tolist() == [1, v.id("😀"), 1]   # a literal <pad> is unk


@pytest.mark.parametrize("bad,fragment", [
    ("<pad><unk>ab", "got a str"), (None, "got a NoneType"), ({"<pad>": 0}, "got a dict"), (7, "got a int"),
    (["<pad>", "<unk>", 3], "token 2 is a int"), (["<pad>", "<unk>", ["a"]], "token 2 is a list"),
    (["<unk>", "<pad>", "a"], "first two tokens"), (["<pad>", "<unk>", "a", "a"], "unique")])
def test_malformed_vocab_is_one_clear_error(bad, fragment):
    """Before: non-string entries were accepted (and an unhashable one raised a bare TypeError)."""
    with pytest.raises(ValueError) as e:
        Vocab.from_list(bad)
    assert fragment in str(e.value) and "\n" not in str(e.value)


# ---------------------------------------------------------------------------------------------- encoding/hashing
def test_texts_shorter_than_the_widest_window_are_padded():
    vocab = Vocab(["<pad>", "<unk>", "好"])
    seqs, truncated, kept = encode_texts(["好", "好好好好好好"], CharTokenizer(), vocab, max_len=4)
    assert [s.tolist() for s in seqs] == [[2], [2, 2, 2, 2]] and truncated == 1 and kept == [0, 1]
    assert pad_batch(seqs[:1], min_len=5).tolist() == [[2, 0, 0, 0, 0]]


def test_ngram_hashing_is_the_same_in_another_process():
    ids = np.array([[5, 9, 2, 7, 0, 0], [3, 3, 3, 3, 3, 3]], dtype=np.int64)
    code = ("import numpy as np, sys; from scratchcnn.models.textcnn import hash_ngrams; "
            "from scratchcnn.text.tokenize import CharWordTokenizer as C; "
            "ids = np.array([[5, 9, 2, 7, 0, 0], [3, 3, 3, 3, 3, 3]]); "
            "print(hash_ngrams(ids, 2, 97).tolist(), hash_ngrams(ids, 3, 97).tolist())")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": s}).stdout for s in ("1", "2")}
    assert outs == {f"{hash_ngrams(ids, 2, 97).tolist()} {hash_ngrams(ids, 3, 97).tolist()}\n"}


# ------------------------------------------------------------------------------------------------------ vectors
@pytest.mark.parametrize("content,fragment", [
    ("2 3\nfilm 1 2 3\ngood 1 2\n", "line 3 has 2 numbers, the header (line 1) says 3"),
    ("film 1 2 3\ngood 1 2 3 4\n", "line 2 has 4 numbers, expected 3"),
    ("film 1 2 x\n", "line 1 has a value that is not a number"),
    ("film 1 2 nan\n", "line 1 (token 'film') has a value that is not a finite number"),
    ("film\n", "line 1 is not 'token v1 v2 ...'"),
    ("\n\n", "no vectors in this file")])
def test_malformed_vectors_name_the_line(tmp_path, content, fragment):
    path = tmp_path / "v.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TextCorpusError) as e:
        load_vectors(path, Vocab(["<pad>", "<unk>", "film", "good"]))
    assert fragment in str(e.value)


def test_vectors_wrong_dimension_and_missing_words(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("Film 1 2\nfilm 3 4\nother 5 6\n", encoding="utf-8")
    vocab = Vocab(["<pad>", "<unk>", "film", "absent"])
    with pytest.raises(ValueError, match="dimension 2, but the model's embedding has 3"):
        load_vectors(path, vocab, dim=3)
    mat, rep = load_vectors(path, vocab, dim=2)
    assert mat[2].tolist() == [3, 4] and not mat[0].any() and rep["found"] == 1 and rep["missing"] == 1


# --------------------------------------------------------------------------------------------- saved checkpoints
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("audit")
    cfg = TextTrainConfig(data=str(make_corpus(d / "corpus", n=30)), embed_dim=8, num_filters=4,
                          kernel_sizes=[2, 5], epochs=1, batch_size=8, max_len=9, ngram_orders=[2],
                          ngram_buckets=31)
    train_text(cfg, d / "run", progress=False)
    return d / "run"


def test_predictions_batch_equal_one_by_one_and_short_texts(run):
    texts = ["good", "x", "bad film", "the film was great and love it nice plot it was the film", "hate"]
    batch, truncated = predict_texts(run, texts)
    single = [predict_texts(run, [t])[0][0] for t in texts]
    assert truncated == 1
    for b, s in zip(batch, single):
        assert b["label"] == s["label"] and b["probability"] == s["probability"]
    with pytest.raises(ValueError, match="text 2 is empty"):
        predict_texts(run, ["good", "   "])


def test_prediction_matches_evaluation(run):
    """The probabilities predict-text gives the test texts reproduce evaluate's accuracy."""
    model, meta, tokenizer, vocab = load_text_model(run)
    from scratchcnn.text.fit import prepare_splits
    info = meta["data"]
    test = prepare_splits(info["path"], seed=info["seed"]).test
    preds, _ = predict_texts(run, test.texts)
    names = meta["class_names"]
    acc = np.mean([names.index(p["label"]) == y for p, y in zip(preds, test.labels)])
    assert acc == pytest.approx(evaluate_text_checkpoint(run)["accuracy"])


def test_checkpoint_with_malformed_vocab_is_one_clear_error(run, tmp_path):
    import shutil
    ckpt = tmp_path / "ckpt"
    shutil.copytree(run / "best", ckpt)
    meta = json.loads((ckpt / "meta.json").read_text(encoding="utf-8"))
    meta["vocab"] = meta["vocab"][:2] + [1, 2]
    (ckpt / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ValueError, match=f"checkpoint {ckpt}: meta.json field vocab should be a list of token "
                                         "strings"):
        predict_texts(ckpt, ["good"])
