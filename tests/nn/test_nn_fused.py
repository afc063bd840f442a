"""``nn.fused``: ReLU -> max pool computed as max pool -> ReLU, and a first conv + max pool as one op, must be
indistinguishable from the written order: the same values and gradients (bit for bit, the fused conv's weight
gradient to float rounding), and the written order whenever a hook could observe an intermediate output."""
from __future__ import annotations

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import nn
from scratchcnn import models
from scratchcnn.nn.fused import conv_relu_max_pool, relu_max_pool


def _input(shape, seed, dtype=np.float64):
    """Random values with ties, all-negative windows, zeros and exact repeats (first-max rule)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, size=shape).astype(dtype)        # many ties and non-positive windows
    x[..., ::3] += rng.standard_normal(x[..., ::3].shape).astype(dtype)
    return x


def _run(fn, x, g):
    t = sc.Tensor(x, requires_grad=True)
    out = fn(t)
    out.backward(g)
    return out.data, t.grad


@pytest.mark.parametrize("shape, pool", [((3, 4, 8, 6), nn.MaxPool2d(2)), ((2, 5, 9, 7), nn.MaxPool2d(3, 2, 1)),
                                         ((4, 3, 12), nn.MaxPool1d(2)), ((2, 3, 11), nn.MaxPool1d(3, 2, 1))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_swapped_order_is_bit_identical(shape, pool, dtype):
    relu = nn.ReLU()
    x = _input(shape, 0, dtype)
    out_shape = pool(sc.Tensor(x)).shape
    g = np.random.default_rng(1).standard_normal(out_shape).astype(dtype)
    fused = _run(lambda t: relu_max_pool(relu, pool, t), x, g)
    plain = _run(lambda t: pool(relu(t)), x, g)
    assert fused[0].dtype == plain[0].dtype == dtype
    np.testing.assert_array_equal(fused[0], plain[0])
    np.testing.assert_array_equal(fused[1], plain[1])


def test_hooks_see_the_written_order():
    relu, pool = nn.ReLU(), nn.MaxPool2d(2)
    seen = []
    relu.register_forward_hook(lambda m, args, out: seen.append(out.shape))
    out = relu_max_pool(relu, pool, sc.Tensor(_input((2, 3, 8, 8), 2)))
    assert seen == [(2, 3, 8, 8)] and out.shape == (2, 3, 4, 4)      # the ReLU ran on the full-size input


def test_other_layers_keep_the_written_order():
    calls = []

    class Act(nn.ReLU):      # a subclass may do anything: never reordered
        def forward(self, x):
            calls.append(x.shape)
            return super().forward(x)
    relu_max_pool(Act(), nn.MaxPool2d(2), sc.Tensor(_input((1, 2, 4, 4), 3)))
    relu_max_pool(Act(), nn.AvgPool2d(2), sc.Tensor(_input((1, 2, 4, 4), 3)))
    assert calls == [(1, 2, 4, 4), (1, 2, 4, 4)]


@pytest.mark.parametrize("name", ["seed000", "seed001", "lenet5"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_models_train_the_same_with_and_without_the_fusions(name, dtype):
    """A training step with the fused blocks (conv + max pool, ReLU after pooling) and with the written order
    (forced by hooks on the ReLUs): the same loss bit for bit, every gradient bit for bit except those of the
    fused convs, which sum per window offset (float rounding apart)."""
    x = np.random.default_rng(4).standard_normal((6, 1, 28, 28)).astype(dtype)
    y = sc.Tensor(np.arange(6) % 10)
    results = []
    for hooked in (False, True):
        sc.manual_seed(0)
        model = models.get(name).to(dtype)
        if hooked:
            for m in model.modules():
                if isinstance(m, nn.ReLU):
                    m.register_forward_hook(lambda *a: None)
        loss = nn.CrossEntropyLoss()(model(sc.Tensor(x)), y)
        loss.backward()
        results.append((loss.data, {k: p.grad for k, p in model.named_parameters()}))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    rtol = 1e-12 if dtype == np.float64 else 1e-4
    for key, a in results[0][1].items():
        b = results[1][1][key]
        if key.startswith("conv"):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max(), err_msg=key)
        else:
            np.testing.assert_array_equal(a, b, err_msg=key)


def test_first_block_runs_fused():
    model = models.get("seed001")
    out = model.conv1, model.relu1, model.pool1
    y = conv_relu_max_pool(*out, sc.Tensor(np.zeros((2, 1, 28, 28), np.float32)))
    assert y._node.inputs[0]._node.fn.__name__ == "ConvMaxPoolNd"
    y2 = conv_relu_max_pool(model.conv2, model.relu2, model.pool2, y)     # a 73,728-value weight: separate ops
    assert y2._node.inputs[0]._node.fn.__name__ == "MaxPoolNd"
    small = models.get("seed000")
    y3 = conv_relu_max_pool(small.conv2, small.relu2, small.pool2, sc.Tensor(np.zeros((2, 16, 14, 14), np.float32)))
    assert y3._node.inputs[0]._node.fn.__name__ == "ConvMaxPoolNd"


def test_plain_layers_run_the_relu_on_the_pooled_tensor(monkeypatch):
    seen = []
    forward = nn.ReLU.forward
    monkeypatch.setattr(nn.ReLU, "forward", lambda self, x: (seen.append(x.shape), forward(self, x))[1])
    relu_max_pool(nn.ReLU(), nn.MaxPool2d(2), sc.Tensor(_input((2, 3, 8, 8), 5)))
    assert seen == [(2, 3, 4, 4)]
