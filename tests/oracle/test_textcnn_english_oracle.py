"""TextCNN on the English word path against a PyTorch twin (float64): English texts tokenized and encoded by the
library, pretrained vectors loaded by ``load_vectors`` (OOV rows initialised, ``<pad>`` zero), Kim's ``static``
and ``multichannel`` variants (PyTorch: ``nn.Embedding.from_pretrained(freeze=True)``), a padded batch holding
texts shorter than the widest window; forward, every gradient, then Adam steps with max-norm: the frozen tables
never move and the trained weights match PyTorch's."""
from __future__ import annotations

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import models
from scratchcnn.optim import Adam
from scratchcnn.text import pad_batch
from scratchcnn.text.loader import encode_texts
from scratchcnn.text.tokenize import WordTokenizer
from scratchcnn.text.vectors import load_vectors
from scratchcnn.text.vocab import Vocab

RTOL, ATOL = 1e-6, 1e-9

TRAIN = ["The movie was GREAT!", "I hated it.", "Don\u2019t watch this boring, dull film", "Superb acting",
         "awful", "3.5 stars: a wonderful story, really", "It isn't bad at all"]
TEXTS = ["great", "Boring film!!", "zzz qqq", "The plot was awful and the cast was worse than I feared", "don't"]
KS = [2, 3, 5]


def twin(torch, sc_model, kind: str, num_classes: int):
    """Kim's TextCNN in PyTorch, one text at a time without padding (a text shorter than a window is padded
    with zero vectors to that window, as Kim does)."""
    nn = torch.nn
    state = {k: torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in sc_model.state_dict().items()}

    class Twin(nn.Module):
        def __init__(self):
            super().__init__()
            w = state["embedding.weight"]
            self.embedding = nn.Embedding.from_pretrained(w.clone(), freeze=kind == "static", padding_idx=0)
            ch = w.shape[1]
            if kind == "multichannel":
                self.embedding_static = nn.Embedding.from_pretrained(state["embedding_static.weight"].clone(),
                                                                     freeze=True, padding_idx=0)
                ch *= 2
            self.convs = nn.ModuleList(nn.Conv1d(ch, sc_model.convs[0].out_channels, k) for k in KS)
            self.fc = nn.Linear(len(KS) * sc_model.convs[0].out_channels, num_classes)

        def forward(self, texts):
            rows = []
            for ids in texts:
                feats = []
                for conv, k in zip(self.convs, KS):
                    x = torch.as_tensor(np.pad(ids, (0, max(0, k - len(ids)))))
                    parts = [self.embedding(x)] + ([self.embedding_static(x)] if kind == "multichannel" else [])
                    feats.append(torch.relu(conv(torch.cat(parts, 1).T[None])).amax(dim=2))
                rows.append(torch.cat(feats, 1))
            return self.fc(torch.cat(rows, 0))

    t = Twin().double()
    t.load_state_dict(state)
    return t


@pytest.mark.parametrize("kind", ["static", "non-static", "multichannel"])
def test_english_textcnn_with_pretrained_vectors_matches_torch(torch, tmp_path, kind):
    tok = WordTokenizer()
    vocab = Vocab.build(tok.tokenize_all(TRAIN))
    rng = np.random.default_rng(0)
    known = [t for t in vocab.tokens[2:] if t not in ("boring", "3.5")]      # two tokens without a vector
    lines = [f"{t.upper() if t == 'great' else t} " + " ".join(f"{v:.5f}" for v in rng.standard_normal(6))
             for t in known]
    (tmp_path / "glove.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    mat, rep = load_vectors(tmp_path / "glove.txt", vocab, dim=6, generator=np.random.default_rng(1))
    assert rep["found"] == len(known) and rep["missing"] == 2

    seqs, _, _ = encode_texts(TEXTS, tok, vocab)
    assert min(len(s) for s in seqs) < max(KS) and any((s == 1).all() for s in seqs)   # short; all <unk>
    sc.manual_seed(0)
    m = models.get("textcnn", num_classes=3, vocab_size=len(vocab), embed_dim=6, kernel_sizes=KS, num_filters=4,
                   dropout=0.0, max_norm=0.5, embedding=kind).double()
    m.embedding.weight.data[...] = mat
    if kind == "multichannel":
        m.embedding_static.weight.data[...] = mat
    t = twin(torch, m, kind, 3)
    ids = pad_batch(seqs, min_len=m.min_length)
    labels = np.array([0, 1, 2, 1, 0])

    frozen = {n: p.data.copy() for n, p in m.named_parameters() if not p.requires_grad}
    assert set(frozen) == {"static": {"embedding.weight"}, "non-static": set(),
                           "multichannel": {"embedding_static.weight"}}[kind]
    opt = Adam([p for p in m.parameters() if p.requires_grad], lr=0.05)
    topt = torch.optim.Adam([p for p in t.parameters() if p.requires_grad], lr=0.05)
    th = dict(t.named_parameters())
    for step in range(3):
        out = m(sc.Tensor(ids))
        ref = t(seqs)
        np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg=f"step {step}")
        loss = sc.nn.CrossEntropyLoss()(out, sc.Tensor(labels))
        tloss = torch.nn.functional.cross_entropy(ref, torch.as_tensor(labels))
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=RTOL)
        opt.zero_grad()
        topt.zero_grad()
        loss.backward()
        tloss.backward()
        for name, p in m.named_parameters():
            if not p.requires_grad:
                assert p.grad is None and not th[name].requires_grad, name
                continue
            np.testing.assert_allclose(p.grad, th[name].grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=name)
        opt.step()
        topt.step()
        m.apply_constraints()
        with torch.no_grad():   # Kim's max-norm on the output layer's weight vectors
            t.fc.weight.copy_(torch.renorm(t.fc.weight, 2, 0, 0.5))
        for name, p in m.named_parameters():
            np.testing.assert_allclose(p.data, th[name].detach().numpy(), rtol=RTOL, atol=ATOL, err_msg=name)
    for name, before in frozen.items():
        np.testing.assert_array_equal(dict(m.named_parameters())[name].data, before)
    assert not m.embedding.weight.data[0].any()
    assert np.abs(np.linalg.norm(m.fc.weight.data, axis=1)).max() <= 0.5 + 1e-12
