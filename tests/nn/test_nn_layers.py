"""Layers without PyTorch: shape checks that name the layer, mode behaviour, and finite-difference gradients
of parameters through whole modules (float64)."""
from __future__ import annotations

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import nn


def _t(a, grad=False):
    return sc.Tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def _fd_params(model: nn.Module, x: sc.Tensor, eps: float = 1e-6, seed: int = 0) -> None:
    """Autograd gradients of sum(model(x) * G) w.r.t. every parameter and x vs central differences."""
    out = model(x)
    G = np.random.default_rng(seed).standard_normal(out.shape)
    model.zero_grad()
    x.grad = None
    (out * sc.Tensor(G)).sum().backward()

    def loss() -> float:
        with sc.no_grad():
            return float((model(sc.Tensor(x.data)).data * G).sum())

    targets = [(n, p) for n, p in model.named_parameters()] + [("input", x)]
    for name, p in targets:
        num = np.zeros_like(p.data)
        flat, nflat = p.data.reshape(-1), num.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            lp = loss()
            flat[i] = old - eps
            lm = loss()
            flat[i] = old
            nflat[i] = (lp - lm) / (2 * eps)
        assert p.grad is not None, f"no gradient for {name}"
        np.testing.assert_allclose(p.grad, num, rtol=1e-5, atol=1e-7, err_msg=name)


def test_conv_linear_chain_finite_differences():
    sc.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, stride=2, padding=1, groups=1), nn.Tanh(), nn.Flatten(),
                          nn.Linear(3 * 3 * 3, 2)).double()
    x = _t(np.random.default_rng(1).standard_normal((2, 2, 5, 5)), grad=True)
    _fd_params(model, x)


def test_conv1d_grouped_dilated_finite_differences():
    sc.manual_seed(1)
    model = nn.Conv1d(4, 6, 3, dilation=2, groups=2, padding=2).double()
    x = _t(np.random.default_rng(2).standard_normal((2, 4, 7)), grad=True)
    _fd_params(model, x)


def test_batchnorm_train_finite_differences():
    sc.manual_seed(2)
    model = nn.Sequential(nn.BatchNorm2d(3), nn.Sigmoid()).double()
    model[0].weight.data[:] = np.random.default_rng(3).standard_normal(3)
    x = _t(np.random.default_rng(4).standard_normal((3, 3, 2, 2)), grad=True)
    _fd_params(model, x)


def test_shape_errors_name_the_layer():
    conv = nn.Conv2d(1, 16, 3)
    with pytest.raises(ValueError, match=r"Conv2d\(1, 16, kernel_size=\(3, 3\).*expected input \(N, 1, H, W\).*"
                                         r"got \(2, 3, 8, 8\)"):
        conv(sc.Tensor(np.zeros((2, 3, 8, 8), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"Conv1d\(2, 4.*\(N, 2, L\).*got \(5, 2\)"):
        nn.Conv1d(2, 4, 3)(sc.Tensor(np.zeros((5, 2), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"Linear\(in_features=4.*expected input \(\.\.\., 4\), got \(2, 5\)"):
        nn.Linear(4, 2)(sc.Tensor(np.zeros((2, 5), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3.*\(N, 3, H, W\), got \(2, 4, 5, 5\)"):
        nn.BatchNorm2d(3)(sc.Tensor(np.zeros((2, 4, 5, 5), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3.*got \(2, 3, 4, 4\)"):
        nn.BatchNorm1d(3)(sc.Tensor(np.zeros((2, 3, 4, 4), dtype=np.float32)))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(sc.Tensor(np.zeros((1, 3), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=2.*\(N, C, H, W\)"):
        nn.MaxPool2d(2)(sc.Tensor(np.zeros((4,), dtype=np.float32)))
    with pytest.raises(TypeError, match="Tensor"):
        conv(np.zeros((1, 1, 5, 5)))


def test_constructor_validation():
    with pytest.raises(ValueError, match="groups=3 must divide"):
        nn.Conv2d(4, 6, 3, groups=3)
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(1, 1, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="mode"):
        nn.Conv1d(1, 1, 3, mode="xcorr")
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv2d(1, 1, (3, 3, 3))
    with pytest.raises(ValueError, match="same"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(4, 2, padding_idx=4)
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="num_features"):
        nn.BatchNorm1d(0)


def test_conv_mode_convolution_flips_the_kernel():
    sc.manual_seed(0)
    corr = nn.Conv2d(2, 3, (2, 3)).double()
    conv = nn.Conv2d(2, 3, (2, 3), mode="convolution").double()
    conv.load_state_dict({"weight": corr.weight.data[:, :, ::-1, ::-1], "bias": corr.bias.data})
    x = _t(np.random.default_rng(0).standard_normal((1, 2, 5, 6)))
    np.testing.assert_allclose(conv(x).data, corr(x).data, rtol=1e-12)
    assert "mode=convolution" in repr(conv)


def test_unbatched_and_shapes():
    x = sc.Tensor(np.random.default_rng(0).standard_normal((3, 9, 9)).astype(np.float32))
    assert nn.Conv2d(3, 5, 3, padding="same")(x).shape == (5, 9, 9)
    assert nn.Flatten()(sc.Tensor(np.zeros((2, 3, 4, 5)))).shape == (2, 60)
    assert nn.Flatten(0, 1)(sc.Tensor(np.zeros((2, 3, 4)))).shape == (6, 4)
    assert nn.Identity(3, foo=1)(x) is x
    y = nn.Linear(9, 2)(x)
    assert y.shape == (3, 9, 2) and y.dtype == np.float32


def test_batchnorm_running_stats_and_modes():
    bn = nn.BatchNorm1d(2, momentum=None).double()
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((6, 2)) * 3 + 1 for _ in range(3)]
    for b in batches:
        bn(_t(b))
    assert int(bn.num_batches_tracked.data) == 3
    # momentum=None: cumulative average of the batch means / unbiased variances
    np.testing.assert_allclose(bn.running_mean.data, np.mean([b.mean(0) for b in batches], axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.data, np.mean([b.var(0, ddof=1) for b in batches], axis=0),
                               rtol=1e-12)
    bn.eval()
    x = rng.standard_normal((4, 2))
    expected = (x - bn.running_mean.data) / np.sqrt(bn.running_var.data + bn.eps)
    np.testing.assert_allclose(bn(_t(x)).data, expected, rtol=1e-12)
    assert int(bn.num_batches_tracked.data) == 3  # eval does not count
    bn.reset_running_stats()
    assert not bn.running_mean.data.any() and int(bn.num_batches_tracked.data) == 0
    free = nn.BatchNorm2d(2, affine=False, track_running_stats=False)
    assert free.running_mean is None and list(free.state_dict()) == []
    free.eval()  # without running stats, eval still normalises with the batch statistics
    y = free(sc.Tensor(rng.standard_normal((3, 2, 2, 2)).astype(np.float32))).data
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)


def test_dropout_modes_and_generator():
    x = sc.Tensor(np.ones((200, 50), dtype=np.float32))
    d = nn.Dropout(0.3, generator=np.random.default_rng(0))
    y = d(x).data
    frac = (y == 0).mean()
    assert 0.27 < frac < 0.33
    np.testing.assert_allclose(y[y != 0], 1 / 0.7, rtol=1e-6)
    d.eval()
    np.testing.assert_array_equal(d(x).data, x.data)
    sc.manual_seed(5)
    a = nn.Dropout(0.5)(x).data
    sc.manual_seed(5)
    b = nn.Dropout(0.5)(x).data
    np.testing.assert_array_equal(a, b)


def test_embedding_padding_and_pretrained():
    emb = nn.Embedding(5, 3, padding_idx=0).double()
    idx = sc.Tensor(np.array([[0, 1, 1], [4, 0, 2]]))
    out = emb(idx)
    assert out.shape == (2, 3, 3)
    out.sum().backward()
    assert not emb.weight.grad[0].any()
    np.testing.assert_array_equal(emb.weight.grad[1], 2.0)
    table = np.arange(12, dtype=np.float32).reshape(4, 3)
    pre = nn.Embedding.from_pretrained(table)
    assert not pre.weight.requires_grad and pre.weight.dtype == np.float32
    np.testing.assert_array_equal(pre(sc.Tensor(np.array([3, 1]))).data, table[[3, 1]])
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad
    with pytest.raises(ValueError, match="2-D"):
        nn.Embedding.from_pretrained(np.zeros(3))


def test_loss_weights_are_buffers():
    ce = nn.CrossEntropyLoss(weight=np.array([1.0, 2.0, 0.5]))
    assert list(ce.state_dict()) == ["weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    bce = nn.BCEWithLogitsLoss(pos_weight=np.array([2.0]))
    assert list(bce.state_dict()) == ["pos_weight"]
    loss = nn.MSELoss()(sc.Tensor(np.array([1.0, 3.0])), sc.Tensor(np.array([0.0, 0.0])))
    assert loss.item() == pytest.approx(5.0)


def test_activation_modules():
    x = _t([[-2.0, 0.5, 3.0]])
    np.testing.assert_allclose(nn.ReLU()(x).data, [[0, 0.5, 3]])
    np.testing.assert_allclose(nn.LeakyReLU(0.1)(x).data, [[-0.2, 0.5, 3]])
    np.testing.assert_allclose(nn.Softmax(dim=1)(x).data.sum(), 1.0)
    np.testing.assert_allclose(np.exp(nn.LogSoftmax(dim=-1)(x).data), nn.Softmax(dim=-1)(x).data)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        implicit = nn.Softmax()(x)
    np.testing.assert_allclose(implicit.data.sum(axis=1), 1.0)
    np.testing.assert_allclose(nn.Tanh()(x).data, np.tanh(x.data))
    np.testing.assert_allclose(nn.Sigmoid()(x).data, 1 / (1 + np.exp(-x.data)))
    assert nn.GELU("tanh")(x).shape == (1, 3)
