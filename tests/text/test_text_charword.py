"""The ``char+jieba`` tokenizer (characters tagged with hashed jieba words) and TextCNN's word channel: packing,
alignment, padding invariance, and a tiny training run whose checkpoint predicts and evaluates."""
from __future__ import annotations

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import models
from scratchcnn.text import (TextTrainConfig, Vocab, encode_texts, evaluate_text_checkpoint, get_tokenizer, pad_batch,
                             predict_texts, train_text)

pytest.importorskip("jieba")


def test_char_jieba_tokens_and_word_buckets():
    tok = get_tokenizer({"name": "char+jieba", "word_buckets": 1000})
    assert tok.config() == {"name": "char+jieba", "lower": True, "word_buckets": 1000}
    text = "我们  很喜欢这个酒店 OK"
    chars = tok(text)
    assert chars == get_tokenizer("char")(text)
    b = tok.word_buckets(text)
    assert b.shape == (len(chars),) and b.min() >= 1 and b.max() <= 1000
    assert b[0] == b[1] and b[-1] == b[-2]  # 我们, ok: one word each
    again = get_tokenizer(tok.config()).word_buckets(text)
    np.testing.assert_array_equal(b, again)  # deterministic (CRC-32), rebuilt from the checkpoint's config
    vocab = Vocab.build([chars])
    ids, truncated, _ = encode_texts([text, "差评"], tok, vocab, max_len=4)
    assert truncated == 1 and len(ids[0]) == 4
    np.testing.assert_array_equal(ids[0] % len(vocab), vocab.encode(chars[:4]))
    np.testing.assert_array_equal(ids[0] // len(vocab), b[:4])
    assert (ids[1] % len(vocab) == 1).all()  # unknown characters are <unk>, their word still tagged


@pytest.mark.parametrize("mode", ["sum", "concat"])
def test_word_channel_padding_invariance_and_zero_start(mode):
    sc.manual_seed(0)
    vocab_size, cfg = 12, dict(embed_dim=5, kernel_sizes=[2, 3], num_filters=4, ngram_orders=[2], ngram_buckets=9)
    net = models.get("textcnn", num_classes=2, vocab_size=vocab_size, word_buckets=7, word_mode=mode, **cfg)
    net.eval()
    rng = np.random.default_rng(0)
    seqs = [rng.integers(1, vocab_size, n) + vocab_size * rng.integers(1, 8, n) for n in (1, 4, 9)]
    batch = net(sc.Tensor(pad_batch(seqs, 3))).data
    for i, s in enumerate(seqs):
        np.testing.assert_allclose(batch[i], net(sc.Tensor(s[None])).data[0], rtol=1e-5, atol=1e-6)
    if mode == "sum":  # the word table starts at zero: the same model without words gives the same output
        plain = models.get("textcnn", num_classes=2, vocab_size=vocab_size, **cfg)
        plain.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("word_")})
        plain.eval()
        chars = [s % vocab_size for s in seqs]
        np.testing.assert_allclose(batch, plain(sc.Tensor(pad_batch(chars, 3))).data, rtol=1e-5, atol=1e-6)
    net.train()
    out = net(sc.Tensor(pad_batch(seqs, 3)))
    (out * sc.Tensor(rng.standard_normal(out.shape).astype(np.float32))).sum().backward()
    used = np.unique(np.concatenate([s // vocab_size for s in seqs]))
    grad = net.word_embedding.weight.grad
    assert np.abs(grad[used]).sum() > 0 and not np.abs(np.delete(grad, used, axis=0)).any()
    with pytest.raises(ValueError, match="word bucket"):
        net(sc.Tensor(np.array([[1 + vocab_size * 8]])))


def test_char_jieba_training_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    cues = {"pos": ["非常满意", "很喜欢", "推荐购买"], "neg": ["太差了", "很失望", "不推荐"]}
    filler = ["这个酒店", "房间", "服务", "价格", "早餐"]
    d = tmp_path / "c"
    d.mkdir()
    for label, cue in cues.items():
        lines = ["".join(list(rng.choice(filler, 2)) + [str(rng.choice(cue))] + [f"{label}{i}"]) for i in range(120)]
        (d / f"{label}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = TextTrainConfig(data=str(d), tokenizer="char+jieba", word_buckets=500, embed_dim=8, num_filters=6,
                          kernel_sizes=[2, 3], epochs=3, lr=0.01, batch_size=16, ensemble=2)
    res = train_text(cfg, out_dir=tmp_path / "run", progress=False)
    assert res["tokenizer"] == "char+jieba" and res["test_accuracy"] > 0.8
    ev = evaluate_text_checkpoint(tmp_path / "run")
    assert ev["accuracy"] == pytest.approx(res["test_accuracy"])
    preds, _ = predict_texts(tmp_path / "run", ["房间非常满意", "服务太差了"])
    assert [p["label"] for p in preds] == ["pos", "neg"]
    with pytest.raises(ValueError, match="char\\+jieba"):
        TextTrainConfig(data="x", word_buckets=10)
