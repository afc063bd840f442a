"""Grad-CAM, saliency and feature maps against PyTorch (float64, same weights) in the cases the basic tests in
tests/viz/test_attribution.py do not reach: a model handed over in training mode (BatchNorm + dropout must run
as in inference, and the model must come back as it was), layers that are never called or called twice, and a
LoRA fine-tuned model whose branches are folded the way ``scratchcnn visualize`` loads an adapter-only checkpoint."""
from __future__ import annotations

import numpy as np
import pytest

from scratchcnn.viz import feature_maps, grad_cam, saliency

from viz.helpers import build_model
from viz.test_attribution import torch_grad_cam, torch_twin

RTOL, ATOL = 1e-6, 1e-12


def _seed001_in_training_mode(seed: int = 7):
    """seed001 in float64 with non-trivial BatchNorm running statistics, left in training mode (as a training
    loop or a callback would hand it over)."""
    model = build_model("seed001", seed).double()
    rng = np.random.default_rng(seed)
    for bn in (model.bn1, model.bn2):
        bn.running_mean.data[...] = rng.standard_normal(bn.running_mean.data.shape) * 0.3
        bn.running_var.data[...] = rng.uniform(0.5, 2.0, bn.running_var.data.shape)
        bn.weight.data[...] = rng.uniform(0.5, 1.5, bn.weight.data.shape)
        bn.bias.data[...] = rng.standard_normal(bn.bias.data.shape) * 0.1
    model.train()
    return model


def _state(model):
    return {k: np.array(v, copy=True) for k, v in model.state_dict().items()}


def _assert_untouched(model, before):
    assert model.training and all(m.training for m in model.modules()), "the model's training mode was changed"
    after = model.state_dict()
    for k, v in before.items():
        np.testing.assert_array_equal(after[k], v, err_msg=f"{k} changed (BatchNorm statistics updated?)")


def test_grad_cam_and_saliency_on_a_training_mode_model_use_inference_and_restore_the_mode(torch):
    model = _seed001_in_training_mode()
    tm = torch_twin(torch, model)          # eval(): running statistics, no dropout
    x = np.random.default_rng(8).standard_normal((1, 1, 28, 28))
    before = _state(model)
    for target in (2, 5):
        r = grad_cam(model, x, target=target)
        _assert_untouched(model, before)
        cam, heat, w, logits = torch_grad_cam(torch, tm, x, target, r.layer)
        assert r.layer == "relu2" and r.predicted == int(np.argmax(logits))
        np.testing.assert_allclose(r.weights, w, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(r.cam, cam, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(r.heatmap, heat, rtol=RTOL, atol=ATOL)
        s = saliency(model, x, target)
        _assert_untouched(model, before)
        xt = torch.tensor(x, requires_grad=True)
        tm.zero_grad()
        tm(xt)[0, target].backward()
        np.testing.assert_allclose(s.grad, xt.grad[0].numpy(), rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(s.saliency, xt.grad[0].abs().amax(0).numpy(), rtol=RTOL, atol=ATOL)


def test_feature_maps_on_a_training_mode_model_are_the_inference_maps(torch):
    model = _seed001_in_training_mode(9)
    tm = torch_twin(torch, model)
    x = np.random.default_rng(10).standard_normal((1, 1, 28, 28))
    before = _state(model)
    maps = feature_maps(model, x)
    _assert_untouched(model, before)
    assert [label for label, _ in maps] == ["conv1 -> relu1", "conv2 -> relu2"]
    with torch.no_grad():
        a1 = tm.relu1(tm.conv1(torch.tensor(x)))
        a2 = tm.relu2(tm.conv2(tm.bn1(tm.pool1(a1))))
    np.testing.assert_allclose(maps[0][1], a1[0].numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(maps[1][1], a2[0].numpy(), rtol=RTOL, atol=ATOL)


def test_grad_cam_refuses_a_layer_that_never_runs_or_runs_twice():
    from scratchcnn import nn

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
            self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
            self.act = nn.ReLU()                  # reused after both convolutions
            self.unused = nn.Conv2d(4, 4, 1)
            self.flatten = nn.Flatten()
            self.fc = nn.Linear(4 * 8 * 8, 3)

        def forward(self, x):
            return self.fc(self.flatten(self.act(self.conv2(self.act(self.conv1(x))))))

    m = Twice().double()
    x = np.random.default_rng(0).standard_normal((1, 1, 8, 8))
    with pytest.raises(ValueError, match="layer unused is not called"):
        grad_cam(m, x, layer="unused")
    with pytest.raises(ValueError, match="layer act is called 2 times"):
        grad_cam(m, x, layer="act")
    assert grad_cam(m, x).layer == "conv2"      # the reused ReLU is not taken as conv2's activation


def test_grad_cam_of_a_lora_model_folded_for_display_matches_torch_on_the_merged_weights(torch):
    """``scratchcnn visualize`` loads an adapter-only LoRA checkpoint and folds the branches (strip_lora): the
    maps must be those of the merged model, computed by PyTorch from W + (alpha/r) B A."""
    from scratchcnn.finetune.lora import strip_lora, wrap_lora
    from scratchcnn.finetune.structure import set_submodule
    model = build_model("seed000", 11).double()
    for name in ("conv1", "conv2", "fc1"):
        set_submodule(model, name, wrap_lora(model.get_submodule(name), rank=2, alpha=4.0, name=name))
    rng = np.random.default_rng(12)
    for n, p in model.named_parameters():
        if "lora" in n:
            p.data[...] = rng.standard_normal(p.data.shape) * 0.2     # B starts at zero: make the branch count
    model.eval()
    x = rng.standard_normal((1, 1, 28, 28))
    from scratchcnn import no_grad
    from scratchcnn.tensor import Tensor
    with no_grad():
        want_logits = model(Tensor(x)).data.copy()
    strip_lora(model)
    tm = torch_twin(torch, model)
    with torch.no_grad():
        np.testing.assert_allclose(tm(torch.tensor(x)).numpy(), want_logits, rtol=RTOL, atol=1e-10)
    for target in (1, 8):
        r = grad_cam(model, x, target=target)
        cam, heat, w, _ = torch_grad_cam(torch, tm, x, target, "relu2")
        np.testing.assert_allclose(r.cam, cam, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(r.heatmap, heat, rtol=RTOL, atol=ATOL)
