"""TextCNN and CharCNN against PyTorch re-implementations with the same weights (float64): forward values and
the gradients of every parameter; masking of padding in max-over-time pooling; hashed n-grams; max-norm."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
from scratchcnn import models
from scratchcnn.models.textcnn import hash_ngrams, masked_max_over_time
from scratchcnn.text import pad_batch

from oracle.helpers import finite_difference_check

RTOL, ATOL = 1e-6, 1e-9


def torch_textcnn(torch, cfg: dict, num_classes: int):
    """Kim's TextCNN in PyTorch, run one text at a time without any padding (the oracle for the masking)."""
    nn = torch.nn

    class TorchTextCNN(nn.Module):
        def __init__(self):
            super().__init__()
            d, v = cfg["embed_dim"], cfg["vocab_size"]
            self.orders, self.buckets = cfg.get("ngram_orders", []), cfg.get("ngram_buckets", 0)
            self.mode, self.kind = cfg.get("ngram_mode", "sum"), cfg.get("embedding", "rand")
            self.ks = cfg["kernel_sizes"]
            self.embedding = nn.Embedding(v, d, padding_idx=0)
            ch = d
            if self.kind == "multichannel":
                self.embedding_static = nn.Embedding(v, d, padding_idx=0)
                self.embedding_static.weight.requires_grad_(False)
                ch += d
            if self.kind == "static":
                self.embedding.weight.requires_grad_(False)
            if self.orders:
                self.ngram_embeddings = nn.ModuleList(nn.Embedding(self.buckets + 1, d, padding_idx=0)
                                                      for _ in self.orders)
                if self.mode == "concat":
                    ch += d * len(self.orders)
            self.convs = nn.ModuleList(nn.Conv1d(ch, cfg["num_filters"], k) for k in self.ks)
            mult = 2 if cfg.get("pooling") == "max+mean" else 1
            self.fc = nn.Linear(cfg["num_filters"] * len(self.ks) * mult, num_classes)

        def embed(self, ids):
            x = torch.as_tensor(ids)
            parts = [self.embedding(x)]
            if self.kind == "multichannel":
                parts.append(self.embedding_static(x))
            for o, table in zip(self.orders, getattr(self, "ngram_embeddings", [])):
                g = table(torch.as_tensor(hash_ngrams(ids[None], o, self.buckets)[0]))
                if self.mode == "sum":
                    parts[0] = parts[0] + g
                else:
                    parts.append(g)
            return torch.cat(parts, 1)  # (L, C)

        def forward(self, texts):
            rows = []
            for ids in texts:
                feats = []
                for conv, k in zip(self.convs, self.ks):
                    x = np.pad(ids, (0, max(0, k - len(ids))))  # a text shorter than the window: zero vectors
                    h = self.embed(x).T[None]
                    r = torch.relu(conv(h))
                    feats.append((r.amax(dim=2), r.mean(dim=2)))  # amax: ties share the gradient, as in scratchcnn
                pooling = cfg.get("pooling", "max")
                parts = ([f[0] for f in feats] if pooling != "mean" else []) + \
                    ([f[1] for f in feats] if pooling != "max" else [])
                rows.append(torch.cat(parts, 1))
            return self.fc(torch.cat(rows, 0))

    return TorchTextCNN()


def copy_weights(torch, sc_model, th_model):
    state = {k: torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in sc_model.state_dict().items()}
    th_model.load_state_dict(state)


def random_texts(rng, n, vocab, max_len):
    return [rng.integers(1, vocab, size=rng.integers(1, max_len + 1)) for _ in range(n)]


CONFIGS = st.fixed_dictionaries({
    "embed_dim": st.integers(2, 6),
    "kernel_sizes": st.lists(st.integers(1, 5), min_size=1, max_size=3),
    "num_filters": st.integers(1, 5),
    "embedding": st.sampled_from(["rand", "static", "non-static", "multichannel"]),
    "ngram": st.sampled_from([None, ([2], "sum"), ([2, 3], "sum"), ([3], "concat")]),
    "pooling": st.sampled_from(["max", "mean", "max+mean"]),
})


@settings(max_examples=20, deadline=None)
@given(c=CONFIGS, n=st.integers(1, 5), max_len=st.integers(1, 9), classes=st.integers(2, 4),
       seed=st.integers(0, 10_000))
def test_textcnn_matches_torch(torch, c, n, max_len, classes, seed):
    rng = np.random.default_rng(seed)
    cfg = {"vocab_size": 12, "embed_dim": c["embed_dim"], "kernel_sizes": c["kernel_sizes"],
           "num_filters": c["num_filters"], "embedding": c["embedding"], "pooling": c["pooling"]}
    if c["ngram"]:
        cfg.update(ngram_orders=c["ngram"][0], ngram_buckets=7, ngram_mode=c["ngram"][1])
    sc.manual_seed(seed)
    m = models.get("textcnn", num_classes=classes, **cfg).double()
    m.eval()
    t = torch_textcnn(torch, cfg, classes)
    t.eval()
    copy_weights(torch, m, t)
    texts = random_texts(rng, n, 12, max_len)
    ids = pad_batch(texts, min_len=1)
    out = m(sc.Tensor(ids))
    ref = t(texts)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=RTOL, atol=ATOL)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g))
    th_params = dict(t.named_parameters())
    for name, p in m.named_parameters():
        if not p.requires_grad:
            assert p.grad is None and not th_params[name].requires_grad, name
            continue
        np.testing.assert_allclose(p.grad, th_params[name].grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=name)


def test_textcnn_train_mode_without_dropout_matches_torch(torch):
    cfg = {"vocab_size": 30, "embed_dim": 8, "kernel_sizes": [3, 4, 5], "num_filters": 6, "dropout": 0.0}
    sc.manual_seed(3)
    m = models.get("textcnn", num_classes=3, **cfg).double()
    t = torch_textcnn(torch, cfg, 3)
    copy_weights(torch, m, t)
    texts = random_texts(np.random.default_rng(0), 7, 30, 12)
    np.testing.assert_allclose(m(sc.Tensor(pad_batch(texts))).data, t(texts).detach().numpy(), rtol=RTOL,
                               atol=ATOL)


@settings(max_examples=20, deadline=None)
@given(lengths=st.lists(st.integers(1, 10), min_size=1, max_size=5), extra=st.integers(0, 7),
       seed=st.integers(0, 1000), ngrams=st.booleans(), pooling=st.sampled_from(["max", "mean", "max+mean"]))
def test_padding_does_not_change_outputs(lengths, extra, seed, ngrams, pooling):
    rng = np.random.default_rng(seed)
    cfg = {"vocab_size": 20, "embed_dim": 5, "num_filters": 4, "pooling": pooling}
    if ngrams:
        cfg.update(ngram_orders=[2, 3], ngram_buckets=11)
    sc.manual_seed(seed)
    m = models.get("textcnn", num_classes=2, **cfg).double()
    m.eval()
    texts = [rng.integers(2, 20, size=k) for k in lengths]
    batch = m(sc.Tensor(pad_batch(texts, fixed_len=max(lengths) + extra))).data
    alone = np.concatenate([m(sc.Tensor(t[None])).data for t in texts])  # each text unpadded (len < 5 allowed)
    np.testing.assert_allclose(batch, alone, rtol=1e-12, atol=1e-12)


def test_padding_gets_no_gradient_and_stays_zero():
    m = models.get("textcnn", num_classes=2, vocab_size=10, embed_dim=4, ngram_orders=[2], ngram_buckets=5)
    assert not m.embedding.weight.data[0].any() and not m.ngram_embeddings[0].weight.data[0].any()
    m(sc.Tensor(np.array([[3, 4, 5, 0, 0, 0, 0]]))).sum().backward()
    assert not m.embedding.weight.grad[0].any() and not m.ngram_embeddings[0].weight.grad[0].any()


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 3), f=st.integers(1, 3), lout=st.integers(1, 6), k=st.integers(1, 4), seed=st.integers(0, 99))
def test_masked_max_finite_differences(n, f, lout, k, seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, lout + k, size=n)
    x = rng.standard_normal((n, f, lout))
    finite_difference_check(lambda c: masked_max_over_time(c, lengths, k), [x])
    valid = np.maximum(lengths - k + 1, 1)
    out = masked_max_over_time(sc.Tensor(x), lengths, k).data
    np.testing.assert_array_equal(out, np.stack([x[i, :, :valid[i]].max(axis=1) for i in range(n)]))


def test_hash_ngrams():
    ids = np.array([[5, 6, 7, 8, 0, 0], [5, 6, 9, 0, 0, 0]])
    h2 = hash_ngrams(ids, 2, 1000)
    assert h2[0, :3].min() >= 1 and h2[0, 3:].max() == 0 and h2[1, 2:].max() == 0
    assert h2[0, 0] == h2[1, 0]                        # the same bigram (5, 6) -> the same bucket
    assert len({*h2[0, :3].tolist()}) == 3
    h3 = hash_ngrams(ids, 3, 1000)
    assert h3[0, :2].min() >= 1 and h3[0, 2:].max() == 0 and h3[1, 0] != h3[0, 0]
    assert hash_ngrams(ids[:, :1], 2, 10).tolist() == [[0], [0]]
    big = hash_ngrams(np.random.default_rng(0).integers(1, 5000, size=(50, 400)), 2, 97)
    counts = np.bincount(big[:, :-1].ravel(), minlength=98)[1:]
    assert counts.min() > 0.5 * counts.mean()          # buckets are used about evenly


def test_max_norm_constraint_and_options():
    m = models.get("textcnn", num_classes=3, vocab_size=10, embed_dim=4)
    m.fc.weight.data[...] = 10.0
    m.apply_constraints()
    np.testing.assert_allclose(np.linalg.norm(m.fc.weight.data, axis=1), 3.0, rtol=1e-5)
    assert m.dropout.p == 0.5 and [c.kernel_size for c in m.convs] == [(3,), (4,), (5,)]
    assert all(c.out_channels == 100 for c in m.convs) and m.embedding.embedding_dim == 4
    assert models.get("textcnn", vocab_size=10, embed_dim=4, embedding="static").embedding.weight.requires_grad is False
    with pytest.raises(ValueError, match="embedding must be one of"):
        models.get("textcnn", vocab_size=10, embedding="dynamic")
    with pytest.raises(ValueError, match="ngram_buckets"):
        models.get("textcnn", vocab_size=10, ngram_orders=[2])
    with pytest.raises(ValueError, match="expected token ids"):
        models.get("textcnn", vocab_size=10, embed_dim=4)(sc.Tensor(np.zeros((1, 1, 28, 28), np.float32)))


def test_charcnn_matches_torch(torch):
    nn = torch.nn
    cfg = dict(vocab_size=15, seq_len=40, embed_dim=5, channels=6, kernel_sizes=[7, 3, 3], pools=[3, 0, 3],
               fc_dim=8, dropout=0.5)
    sc.manual_seed(0)
    m = models.get("charcnn", num_classes=3, **cfg).double()
    m.eval()
    feats = nn.Sequential(nn.Conv1d(5, 6, 7), nn.ReLU(), nn.MaxPool1d(3), nn.Conv1d(6, 6, 3), nn.ReLU(),
                          nn.Conv1d(6, 6, 3), nn.ReLU(), nn.MaxPool1d(3))
    length = ((40 - 6) // 3 - 4) // 3
    t = nn.ModuleDict({"embedding": nn.Embedding(15, 5, padding_idx=0), "features": feats,
                       "classifier": nn.Sequential(nn.Linear(6 * length, 8), nn.ReLU(), nn.Dropout(0.5),
                                                   nn.Linear(8, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))})
    t.eval()
    copy_weights(torch, m, t)
    texts = random_texts(np.random.default_rng(1), 4, 15, 60)
    ids = pad_batch(texts, fixed_len=40)
    out = m(sc.Tensor(pad_batch(texts)))  # any length in: cut or padded to seq_len inside
    ref = t["classifier"](t["features"](t["embedding"](torch.as_tensor(ids)).transpose(1, 2)).flatten(1))
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=RTOL, atol=ATOL)
    g = np.random.default_rng(2).standard_normal(out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g))
    th = dict(t.named_parameters())
    for name, p in m.named_parameters():
        np.testing.assert_allclose(p.grad, th[name].grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=name)
    with pytest.raises(ValueError, match="too short"):
        models.get("charcnn", vocab_size=10, seq_len=20)


def test_ngram_dropout_only_in_training():
    sc.manual_seed(0)
    m = models.get("textcnn", num_classes=2, vocab_size=30, embed_dim=4, ngram_orders=[2], ngram_buckets=50,
                   ngram_dropout=0.5, ngram_init_std=1.0, dropout=0.0)
    ids = np.random.default_rng(0).integers(1, 30, size=(4, 12))
    m.eval()
    a, b = m(ids).data, m(ids).data
    np.testing.assert_array_equal(a, b)
    m.train()
    assert not np.allclose(m(ids).data, a)
    with pytest.raises(ValueError, match="ngram_dropout"):
        models.get("textcnn", vocab_size=30, ngram_orders=[2], ngram_buckets=5, ngram_dropout=1.0)


def test_fused_windows_equal_the_per_window_path_and_hooks_still_run():
    """TextCNN runs its windows fused (conv1d_windows) unless a conv is wrapped or hooked: both give the same
    outputs and gradients, and a hooked conv module sees its call."""
    sc.manual_seed(0)
    m = models.get("textcnn", num_classes=3, vocab_size=30, embed_dim=6, num_filters=5, dropout=0.0).double()
    ids = sc.Tensor(pad_batch([np.arange(2, 2 + k) for k in (3, 9, 12, 5)]))
    assert m._plain_convs()
    fused = m(ids)
    fused.sum().backward()
    grads = {k: p.grad.copy() for k, p in m.named_parameters()}
    m.zero_grad()
    seen = []
    handle = m.convs[1].register_forward_hook(lambda mod, inp, out: seen.append(out.shape))
    assert not m._plain_convs()
    apart = m(ids)
    apart.sum().backward()
    handle.remove()
    assert seen == [(4, 5, 9)]
    np.testing.assert_allclose(fused.data, apart.data, rtol=1e-12, atol=1e-12)
    for k, p in m.named_parameters():
        np.testing.assert_allclose(p.grad, grads[k], rtol=1e-10, atol=1e-12, err_msg=k)
