"""``scratchcnn.bench.twins``: the PyTorch twins compute the same function as the scratchcnn models they mirror
(same layers, names and weights), in eval and in training mode; unknown layers are a clear ValueError."""
from __future__ import annotations

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import models, nn
from scratchcnn.bench import torch_textcnn, torch_twin

RTOL, ATOL = 1e-6, 1e-9          # float64, as in tests/oracle
RTOL32, ATOL32 = 1e-4, 1e-5      # float32 (the benchmarks' dtype)


def ours(model, x: np.ndarray) -> np.ndarray:
    with sc.no_grad():
        return model(sc.Tensor(x)).data


def theirs(torch, twin, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return twin(torch.from_numpy(x)).numpy()


def image_model(name: str, dtype=np.float64):
    """A model with non-trivial BatchNorm parameters and statistics (seed001), dropout off (p=0)."""
    sc.manual_seed(3)
    m = models.get(name)
    m = m.double() if dtype == np.float64 else m.float()
    if name == "seed001":
        rng = np.random.default_rng(0)
        state = m.state_dict()
        for k, v in state.items():
            if k.startswith("bn") and k.endswith(("running_mean", "bias")):
                state[k] = rng.standard_normal(v.shape)
            elif k.startswith("bn") and k.endswith(("running_var", "weight")):
                state[k] = rng.random(v.shape) + 0.5
        m.load_state_dict(state)
        m.dropout.p = 0.0   # training mode: the two libraries' dropout masks differ
    return m


@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("name", ["seed000", "seed001", "lenet5"])
def test_image_twin_matches(torch, name, mode):
    m = image_model(name)
    m.train(mode == "train")
    twin = torch_twin(m)
    assert isinstance(twin, torch.nn.Module) and twin.training == m.training
    assert list(twin.state_dict()) == list(m.state_dict())
    x = np.random.default_rng(1).standard_normal((4, 1, 28, 28))
    np.testing.assert_allclose(ours(m, x), theirs(torch, twin, x), rtol=RTOL, atol=ATOL)
    # in training mode BatchNorm updated its running statistics alike in both
    ts = twin.state_dict()
    for k, v in m.state_dict().items():
        np.testing.assert_allclose(v, ts[k].numpy(), rtol=RTOL, atol=ATOL, err_msg=k)


def test_image_twin_float32(torch):
    m = image_model("seed001", dtype=np.float32).eval()
    twin = torch_twin(m).float()
    x = np.random.default_rng(2).standard_normal((3, 1, 28, 28)).astype(np.float32)
    out = theirs(torch, twin, x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(ours(m, x), out, rtol=RTOL32, atol=ATOL32)


def text_ids(rng, lengths, width, vocab):
    """(N, width) ids in 1..vocab-1, each row padded with zeros after its length."""
    ids = rng.integers(1, vocab, (len(lengths), width)).astype(np.int64)
    for i, n in enumerate(lengths):
        ids[i, n:] = 0
    return ids


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_textcnn_twin_matches(torch, mode):
    sc.manual_seed(5)
    m = models.get("textcnn", num_classes=2, vocab_size=50, embed_dim=16, num_filters=8).double()
    m.dropout.p = 0.0       # training mode without dropout: the same function
    m.train(mode == "train")
    twin = torch_textcnn(m)
    assert twin.training == m.training
    # full rows, padded rows, and rows shorter than the widest window (5)
    ids = text_ids(np.random.default_rng(0), [12, 9, 6, 4, 2, 1], 12, 50)
    assert (ids[:, -1] == 0).sum() == 5
    np.testing.assert_allclose(ours(m, ids), theirs(torch, twin, ids), rtol=RTOL, atol=ATOL)


def test_textcnn_twin_rejects_variants(torch):
    m = models.get("textcnn", num_classes=2, vocab_size=50, embed_dim=8, num_filters=4, ngram_orders=[2],
                   ngram_buckets=10)
    with pytest.raises(ValueError, match="plain Kim"):
        torch_textcnn(m)


def test_unknown_layer_is_a_clear_error(torch):
    class Mystery(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(ValueError, match="torch_twin: no PyTorch equivalent known for layer Mystery"):
        torch_twin(nn.Sequential(nn.Linear(4, 2), Mystery()))
    text = models.get("textcnn", num_classes=2, vocab_size=50, embed_dim=8, num_filters=4)
    with pytest.raises(ValueError, match="layer Embedding"):   # TextCNN needs torch_textcnn
        torch_twin(text)


def test_convolution_mode_has_no_twin(torch):
    with pytest.raises(ValueError, match="mode='convolution'"):
        torch_twin(nn.Sequential(nn.Conv2d(1, 2, 3, mode="convolution")))
