"""Grad-CAM, saliency, feature maps and the bilinear resize against the same computations in PyTorch, with the
same weights (a random-init scratchcnn model's state_dict copied into an equivalent torch model)."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchcnn import nn
from scratchcnn.viz import feature_maps, grad_cam, resize_bilinear, saliency
from scratchcnn.viz.attribution import cam_layer

from .helpers import build_model


def torch_twin(torch, model):
    """An equivalent torch model: the same children in the same order (seed000/lenet5/seed001 apply their
    children sequentially), then the same state_dict."""
    tnn = torch.nn
    layers = OrderedDict()
    for name, m in model.named_children():
        if isinstance(m, nn.Conv2d):
            layers[name] = tnn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
                                      m.groups, bias=m.bias is not None)
        elif isinstance(m, nn.Linear):
            layers[name] = tnn.Linear(m.in_features, m.out_features, bias=m.bias is not None)
        elif isinstance(m, nn.MaxPool2d):
            layers[name] = tnn.MaxPool2d(m.kernel_size, m.stride, m.padding)
        elif isinstance(m, nn.AvgPool2d):
            layers[name] = tnn.AvgPool2d(m.kernel_size, m.stride, m.padding)
        elif isinstance(m, nn.BatchNorm2d):
            layers[name] = tnn.BatchNorm2d(m.num_features, eps=m.eps, momentum=m.momentum)
        else:
            layers[name] = {"ReLU": tnn.ReLU, "Tanh": tnn.Tanh, "Flatten": tnn.Flatten,
                            "Dropout": tnn.Dropout}[type(m).__name__]()
    tm = tnn.Sequential(layers).double()
    tm.load_state_dict({k: torch.tensor(np.asarray(v, dtype=np.float64) if v.dtype.kind == "f" else v)
                        for k, v in model.state_dict().items()})
    return tm.eval()


def torch_grad_cam(torch, tm, x, target, layer):
    store = {}

    def hook(mod, inputs, output):
        output.retain_grad()
        store["a"] = output

    h = dict(tm.named_modules())[layer].register_forward_hook(hook)
    logits = tm(torch.tensor(x))
    logits[0, target].backward()
    h.remove()
    a, g = store["a"][0].detach(), store["a"].grad[0]
    w = g.mean(dim=(1, 2))
    cam = torch.relu((w[:, None, None] * a).sum(0))
    heat = torch.nn.functional.interpolate(cam[None, None], size=x.shape[-2:], mode="bilinear",
                                           align_corners=False)[0, 0]
    return cam.numpy(), heat.numpy(), w.numpy(), logits.detach().numpy()[0]


def _model(name, seed=0):
    m = build_model(name, seed).double()
    m.eval()
    return m


@pytest.mark.parametrize("name, layer, expected_default", [("seed000", None, "relu2"), ("seed000", "conv2", None),
                                                          ("lenet5", None, "act2"), ("seed001", None, "relu2"),
                                                          ("seed000", "conv1", None)])
def test_grad_cam_matches_torch(torch, name, layer, expected_default):
    model = _model(name)
    tm = torch_twin(torch, model)
    x = np.random.default_rng(1).standard_normal((1, 1, 28, 28))
    nonzero = 0
    targets = (0, 3, 6, 9) if name != "seed001" else (1, 4)
    for target in targets:
        r = grad_cam(model, x, target=target, layer=layer)
        assert r.layer == (layer or expected_default)
        cam, heat, w, logits = torch_grad_cam(torch, tm, x, target, r.layer)
        np.testing.assert_allclose(r.weights, w, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(r.cam, cam, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(r.heatmap, heat, rtol=1e-6, atol=1e-12)
        assert r.heatmap.shape == (28, 28) and r.target == target and r.predicted == int(np.argmax(logits))
        nonzero += bool(r.cam.max() > 0)
    assert nonzero >= 2, "too few non-zero maps for the comparison to mean anything"


def test_grad_cam_default_class_is_the_prediction_and_grads_are_untouched():
    model = _model("seed000")
    x = np.random.default_rng(2).standard_normal((1, 1, 28, 28))
    assert all(p.grad is None for p in model.parameters())
    r = grad_cam(model, x)
    assert r.target == r.predicted == int(np.argmax(r.probabilities))
    assert np.isclose(r.probabilities.sum(), 1.0)
    assert all(p.grad is None for p in model.parameters())
    assert cam_layer(model, x)[0] == "relu2"


def test_saliency_matches_torch(torch):
    model = _model("lenet5", seed=3)
    tm = torch_twin(torch, model)
    x = np.random.default_rng(4).standard_normal((1, 1, 28, 28))
    for target in (None, 3):
        r = saliency(model, x, target)
        xt = torch.tensor(x, requires_grad=True)
        logits = tm(xt)
        t = int(logits.argmax()) if target is None else target
        logits[0, t].backward()
        g = xt.grad[0].numpy()
        np.testing.assert_allclose(r.grad, g, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(r.saliency, np.abs(g).max(axis=0), rtol=1e-6, atol=1e-12)
        assert r.target == t and r.saliency.max() > 0


def test_feature_maps_match_torch(torch):
    model = _model("seed000", seed=5)
    tm = torch_twin(torch, model)
    x = np.random.default_rng(6).standard_normal((1, 1, 28, 28))
    maps = feature_maps(model, x)
    assert [label for label, _ in maps] == ["conv1 -> relu1", "conv2 -> relu2"]
    xt = torch.tensor(x)
    with torch.no_grad():
        a1 = tm.relu1(tm.conv1(xt))
        a2 = tm.relu2(tm.conv2(tm.pool1(a1)))
    np.testing.assert_allclose(maps[0][1], a1[0].numpy(), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(maps[1][1], a2[0].numpy(), rtol=1e-6, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), oh=st.integers(1, 20), ow=st.integers(1, 20),
       seed=st.integers(0, 1000))
def test_resize_bilinear_matches_torch(torch, h, w, oh, ow, seed):
    a = np.random.default_rng(seed).standard_normal((2, h, w))
    want = torch.nn.functional.interpolate(torch.tensor(a)[None], size=(oh, ow), mode="bilinear",
                                           align_corners=False)[0].numpy()
    np.testing.assert_allclose(resize_bilinear(a, (oh, ow)), want, rtol=1e-9, atol=1e-12)


def test_no_conv_model_is_refused():
    from .helpers import NoConvNet
    m = NoConvNet()
    x = np.zeros((1, 1, 28, 28), dtype=np.float32)
    with pytest.raises(ValueError, match="no Conv2d layers"):
        grad_cam(m, x)
    with pytest.raises(ValueError, match="no Conv2d layers"):
        feature_maps(m, x)
    with pytest.raises(ValueError, match=r"\(1, C, H, W\)"):
        grad_cam(_model("seed000"), np.zeros((2, 1, 28, 28)))
