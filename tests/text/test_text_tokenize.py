"""Tokenizers, vocabulary, encoding/padding, the bucketing loader and pretrained-vector files."""
from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchcnn.text import (CharTokenizer, TextCorpusError, TextLoader, Vocab, WordTokenizer, cjk_fraction,
                             detect_tokenizer, encode_texts, get_tokenizer, load_vectors, pad_batch, save_vectors)
from scratchcnn.text.vectors import vectors_dim


def test_char_tokenizer():
    tok = CharTokenizer()
    assert tok("  很好  Good\u3000用 ") == ["很", "好", " ", "g", "o", "o", "d", " ", "用"]
    assert tok("\t \n") == []
    assert CharTokenizer(lower=False)("Ab") == ["A", "b"]


def test_char_tokenizer_normalizes_full_width_forms():
    """normalize=True (``--nfkc``): the full-width punctuation, digits and letters of Chinese text are their ASCII
    twins; a compatibility ideograph is its unified character; the ideographic space is whitespace either way.
    Off by default, and ``config()`` names it only when on (checkpoints without it load as they were)."""
    tok = CharTokenizer(normalize=True)
    assert tok("\u5f88\u597d\uff0c\uff2f\uff2b\uff01\uff11\uff12") == tok("\u5f88\u597d,OK!12") == \
        ["\u5f88", "\u597d", ",", "o", "k", "!", "1", "2"]
    assert tok("\uf900") == ["\u8c48"] and tok("\u597d\u2026") == ["\u597d", ".", ".", "."]
    assert tok("\u3000\u597d\u3000\u3000\u5dee ") == ["\u597d", " ", "\u5dee"]
    assert CharTokenizer()("\uff0c\uff21") == ["\uff0c", "\uff41"]
    assert get_tokenizer("char").config() == {"name": "char", "lower": True}
    assert tok.config() == {"name": "char", "lower": True, "normalize": True}
    assert get_tokenizer(tok.config())("\uff21") == ["a"] and get_tokenizer({"name": "char"})("\uff21") == ["\uff41"]
    assert get_tokenizer({"name": "char", "lower": False, "normalize": True})("\uff21") == ["A"]


def test_char_jieba_tokenizer_normalizes_like_char():
    pytest.importorskip("jieba")
    text = "\u8fd9\u5bb6\u9152\u5e97\u7684\u670d\u52a1\uff0c\u975e\u5e38\u597d\uff01\u2026"
    tok = get_tokenizer({"name": "char+jieba", "lower": True, "word_buckets": 7, "normalize": True})
    assert tok(text) == CharTokenizer(normalize=True)(text) and len(tok.word_buckets(text)) == len(tok(text))
    assert tok.buckets == 7 and tok.config()["normalize"] is True
    assert get_tokenizer("char+jieba")("\uff0c") == ["\uff0c"]


def test_word_tokenizer():
    tok = WordTokenizer()
    assert tok("I don't LIKE it... 10/10!") == ["i", "don't", "like", "it", ".", ".", ".", "10", "/", "10", "!"]
    assert tok("café, naïve") == ["café", ",", "naïve"]
    assert tok("   ") == []


def test_auto_detection():
    zh = ["这本书很好看", "酒店不错 but noisy"]
    en = ["This book is great", "含 some Chinese 字"]
    assert cjk_fraction(zh) > 0.5 > cjk_fraction(en)
    assert detect_tokenizer(zh) == "char" and detect_tokenizer(en) == "word"
    assert get_tokenizer("auto", texts=zh).name == "char"
    assert get_tokenizer("auto", texts=en).name == "word"
    with pytest.raises(ValueError, match="needs the texts"):
        get_tokenizer("auto")
    with pytest.raises(ValueError, match="unknown tokenizer 'bpe'"):
        get_tokenizer("bpe")


def test_tokenizer_config_roundtrip():
    for name in ("char", "word"):
        tok = get_tokenizer(name)
        tok.lower = False
        again = get_tokenizer(tok.config())
        assert type(again) is type(tok) and again.lower is False


def test_jieba_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "jieba", None)  # import jieba -> ImportError
    with pytest.raises(ImportError) as e:
        get_tokenizer("jieba")
    assert "pip install 'scratchcnn[jieba]'" in str(e.value) and "--tokenizer char" in str(e.value)


def test_jieba_when_installed():
    pytest.importorskip("jieba")
    words = get_tokenizer("jieba")("这家酒店的服务非常好")
    assert "".join(words) == "这家酒店的服务非常好" and len(words) < 10 and "酒店" in words


def test_vocab_build_rules():
    lists = [list("aabbbc"), list("abd"), ["<pad>", "<unk>", "e"]]
    v = Vocab.build(lists)
    assert v.tokens == ["<pad>", "<unk>", "b", "a", "c", "d", "e"]  # by count, ties by code point
    assert Vocab.build(lists, min_freq=2).tokens == ["<pad>", "<unk>", "b", "a"]
    assert Vocab.build(lists, max_size=4).tokens == ["<pad>", "<unk>", "b", "a"]
    assert v.encode(["a", "z", "<pad>", "b"]).tolist() == [3, 1, 1, 2]  # unknown and literal "<pad>" -> <unk>
    assert v.decode([2, 3]) == ["b", "a"] and len(v) == 7 and "c" in v
    for bad in (-1, 7):
        with pytest.raises(IndexError, match=f"Vocab.decode: id {bad} is outside the vocabulary's 0..6"):
            v.decode([2, bad])
    assert Vocab.from_list(v.to_list()).tokens == v.tokens
    with pytest.raises(ValueError, match="first two tokens"):
        Vocab(["a", "<pad>"])
    with pytest.raises(ValueError, match="min_freq"):
        Vocab.build(lists, min_freq=0)


def test_encode_truncate_and_empty():
    tok, v = CharTokenizer(), Vocab(["<pad>", "<unk>", "好", "差"])
    seqs, truncated, kept = encode_texts(["好好差", "差", "好差好差好"], tok, v, max_len=3)
    assert [s.tolist() for s in seqs] == [[2, 2, 3], [3], [2, 3, 2]] and truncated == 1 and kept == [0, 1, 2]
    with pytest.raises(ValueError, match="text 2 is empty"):
        encode_texts(["好", "  "], tok, v)
    assert encode_texts(["好", " ", "差"], tok, v, skip_empty=True)[2] == [0, 2]
    with pytest.raises(ValueError, match="has no word tokens"):
        encode_texts(["___"], WordTokenizer(), v)


def test_pad_batch():
    seqs = [np.array([5, 6, 7]), np.array([8])]
    assert pad_batch(seqs).tolist() == [[5, 6, 7], [8, 0, 0]]
    assert pad_batch(seqs, min_len=5).tolist() == [[5, 6, 7, 0, 0], [8, 0, 0, 0, 0]]
    assert pad_batch(seqs, fixed_len=2).tolist() == [[5, 6], [8, 0]]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 120), bs=st.integers(1, 17), seed=st.integers(0, 5), epoch=st.integers(0, 3))
def test_loader_covers_every_text_once(n, bs, seed, epoch):
    rng = np.random.default_rng(n)
    seqs = [rng.integers(2, 50, size=rng.integers(1, 30)) for _ in range(n)]
    labels = np.arange(n)
    dl = TextLoader(seqs, labels, batch_size=bs, shuffle=True, seed=seed, min_len=5, pool_batches=3)
    dl.set_epoch(epoch)
    seen = []
    for ids, y in dl:
        assert ids.dtype == np.int64 and ids.shape[1] >= 5 and len(y) <= bs
        for row, i in zip(ids.data, y.data):
            assert row[:len(seqs[i])].tolist() == seqs[i].tolist() and not row[len(seqs[i]):].any()
        seen += y.data.tolist()
    assert sorted(seen) == list(range(n)) and len(dl) == -(-n // bs)
    again = [b.tolist() for b in dl.batch_indices()]
    assert again == [b.tolist() for b in dl.batch_indices()]  # epoch order depends on (seed, epoch) only


def test_loader_buckets_lengths_and_orders():
    rng = np.random.default_rng(0)
    seqs = [np.ones(int(k), dtype=np.int64) for k in rng.integers(1, 200, size=1000)]
    dl = TextLoader(seqs, np.zeros(1000), batch_size=20, shuffle=True, seed=0)
    padded = sum(ids.shape[0] * ids.shape[1] for ids, _ in dl)
    plain = TextLoader(seqs, np.zeros(1000), batch_size=20, shuffle=True, seed=0, bucket=False)
    assert padded < 0.7 * sum(ids.shape[0] * ids.shape[1] for ids, _ in plain)
    orders = []
    for e in range(2):
        dl.set_epoch(e)
        orders.append(np.concatenate(dl.batch_indices()))
    assert not np.array_equal(orders[0], orders[1])
    ev = TextLoader(seqs, np.zeros(1000), batch_size=20, sort_by_length=True)
    lens = [ids.shape[1] for ids, _ in ev]
    assert lens == sorted(lens)
    with pytest.raises(ValueError, match="3 texts but 2 labels"):
        TextLoader(seqs[:3], [0, 1])


def test_vectors_word2vec_and_glove(tmp_path):
    v = Vocab(["<pad>", "<unk>", "good", "bad", "meh", "Big"])
    w2v = tmp_path / "v.txt"
    w2v.write_text("3 2\ngood 1 2\nBAD 3 4\nbig -1 0.5\nbad 5 6\n", encoding="utf-8")
    mat, rep = load_vectors(w2v, v, generator=np.random.default_rng(0))
    assert mat.shape == (6, 2) and mat.dtype == np.float32
    assert mat[2].tolist() == [1, 2] and mat[3].tolist() == [5, 6]  # the exact token wins over a case variant
    assert mat[0].tolist() == [0, 0]
    assert rep["found"] == 2 and rep["missing"] == 2 and rep["dim"] == 2
    assert np.abs(mat[4]).max() <= np.sqrt(3 * np.var([1, 2, 5, 6])) + 1e-6  # Kim's U[-a, a] for missing tokens
    assert vectors_dim(w2v) == 2
    glove = save_vectors(tmp_path / "g.txt", ["good", "meh"], np.array([[0.5, 1.0], [2.0, 3.0]]), header=False)
    mat, rep = load_vectors(glove, v)
    assert mat[4].tolist() == [2, 3] and rep["found"] == 2 and vectors_dim(glove) == 2
    with pytest.raises(ValueError, match="dimension 2, but the model's embedding has 300"):
        load_vectors(glove, v, dim=300)
    (tmp_path / "bad.txt").write_text("good 1 2\nbad 1\n", encoding="utf-8")
    with pytest.raises(TextCorpusError, match="line 2 has 1 numbers, expected 2"):
        load_vectors(tmp_path / "bad.txt", v)
    (tmp_path / "latin.txt").write_bytes("good 1 2\ncaf\xe9 1 2\n".encode("latin-1"))
    with pytest.raises(TextCorpusError, match=r"latin\.txt: not UTF-8 text \(line 2"):
        load_vectors(tmp_path / "latin.txt", v)


def test_save_vectors_header_counts_the_records_written(tmp_path):
    """Tokens the word2vec text format cannot hold (whitespace, empty) are left out and the header says so."""
    path = save_vectors(tmp_path / "w.txt", ["good", " ", "a b", "bad", ""], np.arange(10.0).reshape(5, 2))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "2 2" and [ln.split()[0] for ln in lines[1:]] == ["good", "bad"]
    with pytest.raises(ValueError, match=r"shape \(len\(tokens\), dim\) = \(3, dim\), got \(2, 3\)"):
        save_vectors(tmp_path / "x.txt", ["a", "b", "c"], np.zeros((2, 3)))
    assert not (tmp_path / "x.txt").exists()


def test_cooccurrence_and_ppmi_vectors():
    from scratchcnn.text.pretrain import cooccurrence, ppmi_svd_vectors
    seqs = [np.array([2, 3, 4]), np.array([3, 2])]
    c = cooccurrence(seqs, 5, window=2)
    expect = np.zeros((5, 5))
    for a, b, w in [(2, 3, 1), (3, 4, 1), (2, 4, 0.5), (3, 2, 1)]:  # never across the two texts
        expect[a, b] += w
        expect[b, a] += w
    np.testing.assert_allclose(c, expect)
    rng = np.random.default_rng(0)
    seqs = [rng.integers(2, 30, size=20) for _ in range(50)] + [np.array([5, 6] * 10)] * 20
    vec = ppmi_svd_vectors(seqs, 32, dim=8)
    assert vec.shape == (32, 8) and vec.dtype == np.float32 and not vec[0].any() and not vec[30:].any()
    unit = vec / np.linalg.norm(vec, axis=1, keepdims=True).clip(1e-9)
    assert unit[5] @ unit[6] > 0.5  # tokens that always occur together get similar vectors


def test_config_errors():
    from scratchcnn.text import TextTrainConfig
    with pytest.raises(ValueError, match="--vectors FILE"):
        TextTrainConfig(data="x", embedding="multichannel")
    with pytest.raises(ValueError, match="give one"):
        TextTrainConfig(data="x", vectors="v.txt", pretrain="ppmi")
    with pytest.raises(ValueError, match="TextCNN options"):
        TextTrainConfig(data="x", model="charcnn", ngram_orders=[2], ngram_buckets=10)
    with pytest.raises(ValueError, match="ngram_dropout must be in"):
        TextTrainConfig(data="x", ngram_dropout=1.5)
    assert TextTrainConfig(data="x", pretrain="ppmi").embedding_type == "non-static"
