"""The English word-level path: word tokenisation of Unicode, numbers and apostrophes; pretrained vectors in
every format the docs name (word2vec text and binary, GloVe, fastText .vec) and their errors; CharCNN on
English; options refused before anything is written; ensemble members not reused across a changed corpus."""
from __future__ import annotations

import json
import unicodedata

import numpy as np
import pytest

from scratchcnn.text import TextTrainConfig, predict_texts, train_text
from scratchcnn.text.corpus import TextCorpusError
from scratchcnn.text.fit import prepare_text
from scratchcnn.text.loader import encode_texts
from scratchcnn.text.tokenize import WordTokenizer, get_tokenizer
from scratchcnn.text.vectors import load_vectors, vectors_dim
from scratchcnn.text.vocab import Vocab

GOOD = ["good", "great", "wonderful", "loved", "superb"]
BAD = ["bad", "awful", "terrible", "hated", "boring"]
FILLER = ["the", "movie", "film", "was", "plot", "acting", "and", "it", "really", "story"]


def english_csv(path, n=60, seed=0, extra=()):
    """A two-label English review table whose label shows in one cue word (texts of 1 to 8 tokens)."""
    rng = np.random.default_rng(seed)
    rows = ["text,label"]
    for i in range(n):
        lab = i % 2
        words = list(rng.choice(FILLER, size=rng.integers(0, 7))) + [rng.choice(GOOD if lab else BAD)]
        rng.shuffle(words)
        rows.append(f"{' '.join(words)} r{i},{'pos' if lab else 'neg'}")
    rows += list(extra)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def tiny(data, **kw):
    base = dict(data=str(data), embed_dim=6, num_filters=3, epochs=1, batch_size=16)
    return TextTrainConfig(**{**base, **kw})


# --------------------------------------------------------------------------------------------------- tokenizer
def test_word_tokenizer_unicode_forms_give_the_same_words():
    w = WordTokenizer()
    composed, decomposed = "Caf\u00e9 na\u00efve", unicodedata.normalize("NFD", "Caf\u00e9 na\u00efve")
    assert composed != decomposed
    assert w(decomposed) == w(composed) == ["caf\u00e9", "na\u00efve"]       # was ['cafe', '\u0301', ...]
    assert w("\u0130stanbul!") == ["i\u0307stanbul", "!"]                   # lower() leaves a combining dot
    assert w("\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e") == [
        "\u0928\u092e\u0938\u094d\u0924\u0947", "\u0926\u0941\u0928\u093f\u092f\u093e"]  # marks stay in words


def test_word_tokenizer_apostrophes_and_numbers():
    w = WordTokenizer()
    assert w("Don\u2019t") == w("don't") == ["don't"]
    assert w("rock\u2019n\u2019roll, isn\u02bct it") == ["rock'n'roll", ",", "isn't", "it"]
    assert w("\u2018quoted\u2019 words") == ["'", "quoted", "'", "words"]
    assert w("It costs $3.50, 1,000 times; 2.5mg.") == ["it", "costs", "$", "3.50", ",", "1,000", "times", ";",
                                                       "2.5mg", "."]
    assert w("The end. 42") == ["the", "end", ".", "42"]
    assert w("") == [] and w("   \t") == [] and w("foo_bar") == ["foo", "bar"]


def test_word_tokenizer_config_and_old_checkpoints():
    assert get_tokenizer("word").config() == {"name": "word", "lower": True, "normalize": True}
    new = get_tokenizer(get_tokenizer("word").config())
    assert new("don\u2019t 3.5") == ["don't", "3.5"]
    old = get_tokenizer({"name": "word", "lower": True})            # a checkpoint saved before normalize
    assert old.normalize is False and old("don\u2019t 3.5") == ["don\u2019t", "3", ".", "5"]
    assert get_tokenizer({"name": "word", "lower": False, "normalize": True})("The") == ["The"]


def test_text_without_tokens_message():
    vocab = Vocab(["<pad>", "<unk>", "a"])
    with pytest.raises(ValueError, match=r"^text 2 \('___'\) has no word tokens; every text needs"):
        encode_texts(["a", "___"], WordTokenizer(), vocab)
    with pytest.raises(ValueError, match=r"^text 1 is empty;"):
        encode_texts([" "], WordTokenizer(), vocab)


# ------------------------------------------------------------------------------------------------------ vectors
VEC = {"the": [0.5, -1.0, 2.0], "movie": [1.5, 0.25, -0.75], "The": [9.0, 9.0, 9.0], "Great": [3.0, 2.0, 1.0]}


def write_text_vectors(path, items, header=True, trailing="", bom=False):
    lines = [f"{len(items)} {len(items[0][1])}"] if header else []
    lines += [w + " " + " ".join(repr(float(v)) for v in vec) + trailing for w, vec in items]
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + ("\n".join(lines) + "\n").encode())
    return path


def write_binary_vectors(path, items, header_count=None, cut=0):
    data = f"{header_count or len(items)} {len(items[0][1])}\n".encode()
    for w, vec in items:
        data += w.encode() + b" " + np.asarray(vec, dtype="<f4").tobytes() + b"\n"
    path.write_bytes(data[:len(data) - cut] if cut else data)
    return path


@pytest.mark.parametrize("fmt", ["glove", "word2vec", "fasttext", "bom", "binary"])
def test_vectors_every_format_same_matrix(tmp_path, fmt):
    items = list(VEC.items())
    path = {"glove": lambda p: write_text_vectors(p, items, header=False),
            "word2vec": lambda p: write_text_vectors(p, items),
            "fasttext": lambda p: write_text_vectors(p, items, trailing=" "),   # .vec lines end with a space
            "bom": lambda p: write_text_vectors(p, items, header=False, bom=True),
            "binary": lambda p: write_binary_vectors(p, items)}[fmt](tmp_path / "v")
    vocab = Vocab(["<pad>", "<unk>", "the", "movie", "great", "boring"])
    assert vectors_dim(path) == 3
    mat, rep = load_vectors(path, vocab, dim=3)
    assert rep["found"] == 3 and rep["missing"] == 1 and rep["dim"] == 3
    np.testing.assert_array_equal(mat[2], np.float32(VEC["the"]))       # the exact entry, not "The"
    np.testing.assert_array_equal(mat[3], np.float32(VEC["movie"]))
    np.testing.assert_array_equal(mat[4], np.float32(VEC["Great"]))     # lower-cased match
    assert not mat[0].any() and np.isfinite(mat).all()
    with pytest.raises(ValueError, match="vectors have dimension 3, but the model's embedding has 4"):
        load_vectors(path, vocab, dim=4)


def test_binary_vectors_without_trailing_newlines_and_invalid_words(tmp_path):
    data = b"3 2\n" + b"the " + np.float32([1, 2]).tobytes() + b"\xff\xfe " + np.float32([5, 5]).tobytes() \
        + b"movie " + np.float32([3, -4]).tobytes()
    (tmp_path / "v.bin").write_bytes(data)
    mat, rep = load_vectors(tmp_path / "v.bin", Vocab(["<pad>", "<unk>", "the", "movie"]))
    assert rep["found"] == 2 and mat[2].tolist() == [1, 2] and mat[3].tolist() == [3, -4]


@pytest.mark.parametrize("make, fragments", [
    (lambda p: p.write_text("2 5\nthe 1 2 3\nmovie 1 2 3\n"), ["line 2 has 3 numbers", "header (line 1) says 5"]),
    (lambda p: p.write_text("the 1 2 3\nmovie 1 2\n"), ["line 2 has 2 numbers, expected 3"]),
    (lambda p: p.write_text("the 1 nan 3\n"), ["line 1", "'the'", "not a finite number"]),
    (lambda p: p.write_text("2 3\nmovie 1 2 3\nthe inf 2 3\n"), ["line 3", "not a finite number"]),
    (lambda p: p.write_text("the 1 x 3\n"), ["line 1 has a value that is not a number"]),
    (lambda p: write_binary_vectors(p, list(VEC.items()), cut=5), ["ends inside vector 4", "4 vectors of 3"]),
    (lambda p: write_binary_vectors(p, list(VEC.items()), header_count=6), ["ends inside vector 5"]),
    (lambda p: p.write_bytes(b"1 2\nthe " + np.float32([np.nan, 1]).tobytes()), ["vector 1", "not a finite"]),
    (lambda p: p.write_text("\n\n"), ["no vectors in this file"]),
])
def test_vectors_errors_name_the_line(tmp_path, make, fragments):
    path = tmp_path / "vec"
    make(path)
    with pytest.raises(TextCorpusError) as exc:
        load_vectors(path, Vocab(["<pad>", "<unk>", "the", "movie", "great"]))
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg
    for f in fragments:
        assert f in msg, msg


def test_cli_embed_dim_from_binary_vectors_and_multichannel(tmp_path):
    """Binary word2vec vectors through train_text (Kim's multichannel): both channels start from the vectors,
    the static one never moves, the other does; a text of unknown words only, or shorter than the widest window,
    still gets a prediction."""
    data = english_csv(tmp_path / "en.csv")
    words = sorted({*GOOD, *BAD, *FILLER} - {"boring"})
    rng = np.random.default_rng(1)
    vecs = [(w.capitalize() if w == "movie" else w, rng.standard_normal(4)) for w in words]
    path = write_binary_vectors(tmp_path / "vectors.bin", vecs)
    assert vectors_dim(path) == 4
    cfg = tiny(data, embed_dim=4, vectors=str(path), embedding="multichannel", epochs=2)
    res = train_text(cfg, tmp_path / "run", progress=False)
    from scratchcnn.io import load_checkpoint
    state, meta = load_checkpoint(tmp_path / "run" / "best")
    vocab = meta["vocab"]
    assert meta["vectors"]["found"] == len(words) and meta["vectors"]["dim"] == 4
    static, tuned = state["embedding_static.weight"], state["embedding.weight"]
    for w, v in vecs:
        np.testing.assert_array_equal(static[vocab.index(w.lower())], np.float32(v))
    assert not static[0].any() and not tuned[0].any()
    assert not np.array_equal(static, tuned)                 # the non-static channel was trained
    preds, _ = predict_texts(tmp_path / "run", ["zzz qqq", "great", "Wonderful!!"])
    assert [p["label"] in ("neg", "pos") for p in preds] == [True] * 3
    assert abs(sum(t["probability"] for t in preds[0]["top_k"]) - 1) < 1e-5
    assert res["embedding"] == "multichannel"


# -------------------------------------------------------------------------------------- runs and their options
def test_charcnn_reads_characters_of_english(tmp_path):
    data = english_csv(tmp_path / "en.csv")
    prep = prepare_text(tiny(data, model="charcnn", max_len=130))
    assert prep.tokenizer.name == "char" and len(prep.vocab) < 40
    assert prepare_text(tiny(data)).tokenizer.name == "word"
    assert prepare_text(tiny(data, model="charcnn", max_len=130, tokenizer="word")).tokenizer.name == "word"


def test_charcnn_too_short_max_len_names_the_minimum(tmp_path):
    data = english_csv(tmp_path / "en.csv")
    with pytest.raises(ValueError, match="--max-len.*needs at least 123"):
        train_text(tiny(data, model="charcnn", max_len=122), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_static_embedding_with_adversarial_is_refused_before_writing(tmp_path):
    data = english_csv(tmp_path / "en.csv")
    vec = write_text_vectors(tmp_path / "v.txt", list(VEC.items()), header=False)
    with pytest.raises(ValueError, match="--adversarial perturbs the trainable embedding tables.*static"):
        TextTrainConfig(data=str(data), vectors=str(vec), embedding="static", adversarial=1.0, embed_dim=3)
    # with a trainable n-gram table there is something to perturb
    TextTrainConfig(data=str(data), vectors=str(vec), embedding="static", adversarial=1.0, embed_dim=3,
                    ngram_orders=[2], ngram_buckets=10)
    cfg = TextTrainConfig(data=str(data), vectors=str(vec), embedding="static", embed_dim=3)
    cfg.adversarial = 1.0   # set after validation: fit_model still refuses before creating the folder
    with pytest.raises(ValueError, match="no trainable embedding table"):
        from scratchcnn.text.fit import fit_model
        fit_model(cfg, prepare_text(cfg), tmp_path / "run", 0, progress=False)
    assert not (tmp_path / "run").exists()


def test_empty_vocabulary_is_warned(tmp_path, capsys):
    data = english_csv(tmp_path / "en.csv")
    prep = prepare_text(tiny(data, min_freq=10_000))
    assert len(prep.vocab) == 2
    assert "the vocabulary is empty" in capsys.readouterr().err


def test_ensemble_member_of_another_corpus_is_retrained(tmp_path, capsys):
    data = english_csv(tmp_path / "en.csv")
    cfg = tiny(data, ensemble=2, max_vocab=30)
    train_text(cfg, tmp_path / "run", progress=False)
    capsys.readouterr()
    train_text(cfg, tmp_path / "run", progress=False)
    assert capsys.readouterr().err.count("reusing") == 2
    # the same file name, other texts (the vocabulary keeps its size, 30): the members are trained again
    english_csv(data, seed=5, extra=[f"plot twist number {i},pos" for i in range(10)])
    res = train_text(cfg, tmp_path / "run", progress=False)
    assert "reusing" not in capsys.readouterr().err
    meta = json.loads((tmp_path / "run" / "best" / "meta.json").read_text())
    for k in range(2):
        member = json.loads((tmp_path / "run" / "members" / str(k) / "best" / "meta.json").read_text())
        assert member["vocab"] == meta["vocab"] and len(meta["vocab"]) == 30
    assert res["ensemble"] == 2
