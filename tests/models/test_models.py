"""Built-in models: registry, output shapes, parameter counts, state_dict names (checked by loading into an
equivalent PyTorch module and comparing logits), and the summary's totals."""
from __future__ import annotations

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import models

SEED000_KEYS = ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias",
                "fc2.weight", "fc2.bias"]


def test_registry_lists_and_errors():
    assert {"seed000", "seed001", "lenet5"} <= set(models.list_models())
    assert "1568" in models.describe("seed000")
    with pytest.raises(ValueError, match="unknown model 'nope'.*seed000"):
        models.get("nope")
    with pytest.raises(ValueError, match="num_classes"):
        models.get("seed000", num_classes=0)
    with pytest.raises(ValueError, match="bad configuration"):
        models.get("seed000", colour=True)
    with pytest.raises(ValueError, match="activation"):
        models.get("lenet5", activation="swish")


@pytest.mark.parametrize("name,params", [("seed000", 206_922), ("seed001", 6_508_682), ("lenet5", 61_706)])
def test_param_counts_and_shapes(name, params):
    m = models.get(name)
    assert m.num_parameters() == params
    assert m.model_name == name and m.model_config == {"num_classes": 10}
    for k in (10, 3):
        m = models.get(name, num_classes=k)
        m.eval()
        with sc.no_grad():
            out = m(sc.Tensor(np.zeros((2, 1, 28, 28), np.float32)))
        assert out.shape == (2, k) and out.dtype == np.float32


def test_state_dict_names():
    assert list(models.get("seed000").state_dict()) == SEED000_KEYS
    keys = list(models.get("seed001").state_dict())
    assert keys[:2] == ["conv1.weight", "conv1.bias"]
    assert {"bn1.running_mean", "bn1.running_var", "bn2.weight", "fc1.weight", "fc2.bias"} <= set(keys)
    assert list(models.get("lenet5").state_dict())[-2:] == ["fc3.weight", "fc3.bias"]


def test_config_options():
    m = models.get("seed000", in_channels=3, input_size=32)
    assert m.fc1.weight.shape == (128, 32 * 8 * 8)
    with pytest.raises(ValueError, match="divisible by 4"):
        models.get("seed000", input_size=30)
    assert models.get("lenet5", activation="tanh", pool="avg").num_parameters() == 61_706


def _torch_twin(torch, name):
    nn = torch.nn
    if name == "seed000":
        class Net(nn.Module):  # seed 000 §5.2, verbatim layer names
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(1, 16, 3, 1, 1)
                self.pool = nn.MaxPool2d(2, 2)
                self.conv2 = nn.Conv2d(16, 32, 3, 1, 1)
                self.fc1 = nn.Linear(32 * 7 * 7, 128)
                self.fc2 = nn.Linear(128, 10)

            def forward(self, x):
                x = self.pool(nn.functional.relu(self.conv1(x)))
                x = self.pool(nn.functional.relu(self.conv2(x)))
                return self.fc2(nn.functional.relu(self.fc1(x.view(-1, 32 * 7 * 7))))
        return Net()
    if name == "seed001":
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1, self.bn1 = nn.Conv2d(1, 64, 3, padding=1), nn.BatchNorm2d(64)
                self.conv2, self.bn2 = nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128)
                self.fc1, self.fc2 = nn.Linear(6272, 1024), nn.Linear(1024, 10)
                self.dropout = nn.Dropout(0.5)

            def forward(self, x):
                F = nn.functional
                x = self.bn1(F.max_pool2d(F.relu(self.conv1(x)), 2))
                x = self.bn2(F.max_pool2d(F.relu(self.conv2(x)), 2))
                return self.fc2(self.dropout(F.relu(self.fc1(x.flatten(1)))))
        return Net()

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
            self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

        def forward(self, x):
            F = nn.functional
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2).flatten(1)
            return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))
    return Net()


@pytest.mark.parametrize("name", ["seed000", "seed001", "lenet5"])
def test_weights_transfer_to_pytorch_twin(torch, name):
    sc.manual_seed(3)
    m = models.get(name).double()
    state = m.state_dict()
    if name == "seed001":  # non-trivial running statistics
        rng = np.random.default_rng(0)
        for k in state:
            if k.endswith("running_mean"):
                state[k] = rng.standard_normal(state[k].shape)
            elif k.endswith("running_var"):
                state[k] = rng.random(state[k].shape) + 0.5
        m.load_state_dict(state)
    twin = _torch_twin(torch, name).double()
    twin.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}, strict=True)
    twin.eval()
    m.eval()
    x = np.random.default_rng(1).standard_normal((3, 1, 28, 28))
    with sc.no_grad():
        ours = m(sc.Tensor(x)).data
    ref = twin(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)


def test_summary_seed000_totals():
    s = models.summary(models.get("seed000"))
    assert s.total_params == s.trainable_params == 206_922 and s.non_trainable_params == 0
    assert [r["name"] for r in s.rows] == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten",
                                           "fc1", "relu3", "fc2"]
    assert [tuple(r["output_shape"]) for r in s.rows] == [
        (16, 28, 28), (16, 28, 28), (16, 14, 14), (32, 14, 14), (32, 14, 14), (32, 7, 7), (1568,), (128,),
        (128,), (10,)]
    assert sum(r["params"] for r in s.rows) == 206_922
    macs = 28 * 28 * 16 * 9 + 14 * 14 * 32 * 16 * 9 + 1568 * 128 + 128 * 10
    assert s.total_macs == macs and s.total_flops == 2 * macs
    text = str(s)
    assert "Total params: 206,922" in text and "conv1 (Conv2d)" in text and "(None, 16, 28, 28)" in text
    d = s.to_dict()
    assert d["total_params"] == 206_922 and d["layers"][0]["output_shape"] == [None, 16, 28, 28]


def test_summary_counts_frozen_and_buffers_and_restores_mode():
    m = models.get("seed001")
    m.conv1.requires_grad_(False)
    m.train()
    s = models.summary(m)
    assert s.non_trainable_params == 64 * 9 + 64
    assert s.total_params == 6_508_682
    assert s.buffers == 2 * (64 + 128)  # running mean/var of bn1, bn2
    assert m.training  # the summary ran in eval mode and put training mode back
    assert [r["output_shape"] for r in s.rows if r["name"] == "fc1"] == [[1024]]


def test_summary_text_models_get_token_ids():
    m = models.get("textcnn", num_classes=2, vocab_size=50, embed_dim=16, num_filters=8)
    s = models.summary(m)
    assert s.input_shape == (64,) and s.input_dtype == "int64"
    assert [r["name"] for r in s.rows] == ["embedding", "embed_dropout", "convs.0", "convs.1", "convs.2",
                                           "dropout", "fc"]
    assert s.rows[0]["output_shape"] == [64, 16] and s.rows[0]["params"] == 50 * 16
    assert [r["output_shape"] for r in s.rows[2:5]] == [[8, 62], [8, 61], [8, 60]]
    assert s.rows[-1]["output_shape"] == [2] and s.total_params == m.num_parameters()
    macs = sum((64 - k + 1) * 8 * 16 * k for k in (3, 4, 5)) + 24 * 2
    assert s.total_macs == macs and s.total_flops == 2 * macs
    assert "input: (None, 64) int64 token ids" in str(s) and s.to_dict()["input_shape"] == [None, 64]
    s = models.summary(m, input_shape=(20,))
    assert s.input_shape == (20,) and s.rows[2]["output_shape"] == [8, 18]
    with pytest.raises(ValueError, match=r"token ids.*\(L,\).*\(1, 28, 28\)"):
        models.summary(m, input_shape=(1, 28, 28))
    char = models.get("charcnn", num_classes=3, vocab_size=40, seq_len=128, embed_dim=8, channels=16, fc_dim=32)
    s = models.summary(char)   # a fixed-length model: its own length
    assert s.input_shape == (128,) and s.rows[0]["output_shape"] == [128, 8] and s.rows[-1]["output_shape"] == [3]
    assert models.summary(models.get("seed000")).input_dtype == "float32"


def test_load_model_keeps_0d_buffers(tmp_path):
    """Checkpoints keep 0-d tensors 0-d (BatchNorm's num_batches_tracked), so loading needs no reshaping."""
    from scratchcnn.io import load_checkpoint, save_checkpoint
    from scratchcnn.models.loading import model_meta
    m = models.get("seed001")
    m.bn1.num_batches_tracked.data[...] = 7
    save_checkpoint(tmp_path / "c", m.state_dict(), model_meta(m, normalization=None))
    state, _ = load_checkpoint(tmp_path / "c")
    assert state["bn1.num_batches_tracked"].shape == () and state["bn1.num_batches_tracked"].dtype == np.int64
    loaded, _ = models.load_model(tmp_path / "c")
    assert loaded.bn1.num_batches_tracked.data.shape == () and int(loaded.bn1.num_batches_tracked.data) == 7
