"""``finetune.adapter.ResidualBlock`` (what ``scratchcnn finetune --insert-block`` inserts) vs a PyTorch
re-implementation, float64, rtol 1e-6, and finite differences.

* the block alone, ``y = x + second(relu(first(x)))``: Conv2d / Conv1d C -> C (kernel 1, 3 or 5, padding 'same')
  or Linear F -> F, checked with RANDOM (non-zero) second-layer weights so that the ReLU and both layers matter:
  forward and the gradients of x and of the four parameters;
* identity at initialisation (second layer zero): output == x bit for bit;
* the block inserted with ``add_residual_blocks`` into a small frozen model (after a BatchNorm feature map and
  after a hidden Linear vector), head trainable, vs the hand-written PyTorch twin: forward, the gradients of the
  input, of the blocks and of the head, and no gradient on the frozen layers.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
from scratchcnn import nn
from scratchcnn.finetune.adapter import ResidualBlock, add_residual_blocks, inserted_blocks
from oracle.helpers import ATOL, RTOL, finite_difference_check

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")
SEEDS = st.integers(0, 2 ** 16)


def _close(a, b, msg):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=msg)


def _randomise(block: ResidualBlock, rng) -> ResidualBlock:
    for p in block.parameters():
        p.data[...] = rng.standard_normal(p.shape) * 0.5          # second layer non-zero: the branch matters
    block.layers[0].bias.data[...] -= 0.3                          # some hidden units inactive (ReLU at work)
    return block


def _torch_block(torch, block: ResidualBlock, prefix: str = ""):
    """PyTorch tensors (requiring grad) of the block's parameters and its forward on them."""
    F = torch.nn.functional
    ps = {k: torch.tensor(v.data.copy(), requires_grad=True) for k, v in block.named_parameters()}
    nd = block.spatial_dims

    def layer(x, which):
        w, b = ps[f"{which}.weight"], ps[f"{which}.bias"]
        if nd == 0:
            return F.linear(x, w, b)
        return getattr(F, f"conv{nd}d")(x, w, b, padding="same")

    first, second = ("fc1", "fc2") if nd == 0 else ("conv1", "conv2")

    def fwd(x):
        return x + layer(torch.relu(layer(x, first)), second)
    return ps, fwd


@settings(max_examples=40, deadline=None)
@given(nd=st.sampled_from([0, 1, 2]), channels=st.integers(1, 6), kernel=st.sampled_from([1, 3, 5]),
       batch=st.integers(1, 3), data=st.data(), seed=SEEDS)
def test_residual_block_matches_torch(torch, nd, channels, kernel, batch, data, seed):
    rng = np.random.default_rng(seed)
    spatial = tuple(data.draw(st.integers(1, 7)) for _ in range(nd))
    blk = _randomise(ResidualBlock(channels, nd, kernel, dtype=np.float64), rng)
    x = rng.standard_normal((batch, channels, *spatial))
    ps, fwd = _torch_block(torch, blk)
    xs, xt = sc.Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ref = blk(xs), fwd(xt)
    assert y.shape == x.shape
    _close(y.data, ref.detach().numpy(), "forward")
    g = rng.standard_normal(ref.shape)
    y.backward(g)
    ref.backward(torch.tensor(g))
    _close(xs.grad, xt.grad.numpy(), "grad x")
    for name, p in blk.named_parameters():
        _close(p.grad, ps[name].grad.numpy(), f"grad {name}")


@pytest.mark.parametrize("nd,shape", [(2, (2, 3, 4, 3)), (1, (2, 3, 6)), (0, (3, 5))])
def test_residual_block_finite_differences(nd, shape):
    rng = np.random.default_rng(11)
    blk = _randomise(ResidualBlock(shape[1], nd, dtype=np.float64), rng)
    x = rng.standard_normal(shape)
    finite_difference_check(lambda t: blk(t), [x], seed=1)


@pytest.mark.parametrize("nd,shape", [(2, (2, 5, 3, 4)), (1, (3, 4, 7)), (0, (4, 6))])
def test_residual_block_is_the_identity_at_initialisation(nd, shape):
    x = np.random.default_rng(0).standard_normal(shape)
    np.testing.assert_array_equal(ResidualBlock(shape[1], nd, dtype=np.float64)(sc.Tensor(x)).data, x)


class _Small(nn.Module):
    """conv-relu-pool-BN, flatten, fc-relu, fc head (seed001's layout, small)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.bn1 = nn.BatchNorm2d(3, dtype=np.float64)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(3 * 4 * 4, 7, dtype=np.float64)
        self.relu2 = nn.ReLU()
        self.fc2 = nn.Linear(7, 4, dtype=np.float64)

    def forward(self, x):
        x = self.bn1(self.pool1(self.relu1(self.conv1(x))))
        return self.fc2(self.relu2(self.fc1(self.flatten(x))))


def test_blocks_inserted_in_a_frozen_model_match_torch_twin(torch):
    """Blocks after bn1 (a (3, 4, 4) map) and after fc1 (a 7-vector) of a frozen model, head trainable, BN in
    eval mode: forward and every gradient against the PyTorch twin written out by hand."""
    F = torch.nn.functional
    sc.manual_seed(4)
    model = _Small()
    rng = np.random.default_rng(6)
    model.bn1.running_mean.data[...] = rng.normal(0, 0.2, 3)
    model.bn1.running_var.data[...] = rng.uniform(0.5, 1.5, 3)
    for p in model.parameters():
        p.requires_grad_(False)
    for p in model.fc2.parameters():
        p.requires_grad_(True)
    add_residual_blocks(model, [("bn1", (3, 4, 4)), ("fc1", (7,))])
    blocks = inserted_blocks(model)
    for b in blocks.values():
        _randomise(b, rng)
    model.eval()
    t = {k: torch.tensor(v.data.copy(), requires_grad=v.requires_grad) for k, v in model.named_parameters()}
    buf = {k: torch.tensor(v.data.copy()) for k, v in model.named_buffers()}
    # each block's PyTorch side has its own tensors (names relative to the block), mapped back below
    ps_map, blk_map = _torch_block(torch, blocks["bn1"])
    ps_vec, blk_vec = _torch_block(torch, blocks["fc1"])

    def twin(x):
        h = F.max_pool2d(torch.relu(F.conv2d(x, t["conv1.weight"], t["conv1.bias"], padding=1)), 2)
        h = F.batch_norm(h, buf["bn1.running_mean"], buf["bn1.running_var"], t["bn1.weight"], t["bn1.bias"],
                         training=False, eps=model.bn1.eps)
        h = blk_map(h)
        h = blk_vec(F.linear(h.flatten(1), t["fc1.weight"], t["fc1.bias"]))
        return F.linear(torch.relu(h), t["fc2.weight"], t["fc2.bias"])

    x = rng.standard_normal((3, 2, 8, 8))
    xs, xt = sc.Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ref = model(xs), twin(xt)
    _close(y.data, ref.detach().numpy(), "forward")
    g = rng.standard_normal(ref.shape)
    y.backward(g)
    ref.backward(torch.tensor(g))
    _close(xs.grad, xt.grad.numpy(), "grad x")
    for name, p in model.named_parameters():
        if name.startswith("inserted.bn1."):
            _close(p.grad, ps_map[name[len("inserted.bn1."):]].grad.numpy(), f"grad {name}")
        elif name.startswith("inserted.fc1."):
            _close(p.grad, ps_vec[name[len("inserted.fc1."):]].grad.numpy(), f"grad {name}")
        elif name.startswith("fc2."):
            _close(p.grad, t[name].grad.numpy(), f"grad {name}")
        else:
            assert p.grad is None, name                         # frozen base layers get no gradient
