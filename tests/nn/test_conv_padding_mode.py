"""``nn.Conv1d/Conv2d(padding_mode=...)`` vs PyTorch's modules with the same weights, float64, rtol 1e-6:
forward, input gradient and every parameter gradient for 'zeros', 'reflect', 'replicate' and 'circular' with
int, per-axis, 'same' (odd and even kernels, dilated) and 'valid' padding; state_dict, repr, errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
from scratchcnn import nn

RTOL, ATOL = 1e-6, 1e-9
MODES = ("zeros", "reflect", "replicate", "circular")


def _pair(torch, nd: int, *args, **kw):
    """A torch conv layer and a float64 scratchcnn twin loaded with its state_dict."""
    th = getattr(torch.nn, f"Conv{nd}d")(*args, **kw, dtype=torch.float64)
    m = getattr(nn, f"Conv{nd}d")(*args, **kw, dtype=np.float64)
    m.load_state_dict(th.state_dict())
    return m, th


def _compare(torch, m, th, x: np.ndarray, seed: int = 0) -> None:
    """Forward, input gradient and parameter gradients of both layers on ``x`` agree."""
    xs, xt = sc.Tensor(x.copy(), requires_grad=True), torch.tensor(x.copy(), requires_grad=True)
    ys, yt = m(xs), th(xt)
    np.testing.assert_allclose(ys.data, yt.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg=f"forward of {th}")
    g = np.random.default_rng(seed).standard_normal(yt.shape)
    ys.backward(g)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=f"input grad of {th}")
    th_params = dict(th.named_parameters())
    assert [n for n, _ in m.named_parameters()] == list(th_params)
    for name, p in m.named_parameters():
        np.testing.assert_allclose(p.grad, th_params[name].grad.numpy(), rtol=RTOL, atol=ATOL,
                                   err_msg=f"grad of {name} in {th}")


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")    # torch's, for 'zeros'
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("nd", [1, 2])
@pytest.mark.parametrize("kernel,padding,dilation", [
    (3, 1, 1), (3, 2, 1), (5, (2, 0), 1), (2, (1, 3), 1), (3, "same", 1), (4, "same", 1), ((2, 3), "same", 2),
    (3, "valid", 1), (1, 0, 1)])
def test_padding_modes_match_torch(torch, mode, nd, kernel, padding, dilation):
    if nd == 1:                                     # the per-axis cases keep their first entry
        kernel = kernel[0] if isinstance(kernel, tuple) else kernel
        padding = padding[0] if isinstance(padding, tuple) else padding
    x = np.random.default_rng(nd).standard_normal((2, 4) + (7, 6)[:nd])
    m, th = _pair(torch, nd, 4, 6, kernel, padding=padding, dilation=dilation, padding_mode=mode)
    assert m._reversed_padding_repeated_twice == tuple(th._reversed_padding_repeated_twice)
    _compare(torch, m, th, x)
    _compare(torch, m, th, x[0])                    # unbatched (C, *S)
    assert repr(m) == repr(th)


@st.composite
def _cfg(draw):
    nd = draw(st.integers(1, 2))
    groups = draw(st.sampled_from([1, 2]))
    k = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    dil = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    spatial = tuple(d * (kk - 1) + 2 + draw(st.integers(0, 4)) for kk, d in zip(k, dil))
    mode = draw(st.sampled_from(MODES[1:]))
    if all(s == 1 for s in stride) and draw(st.booleans()):
        padding = draw(st.sampled_from(["same", "valid"]))
    else:
        top = [n - 1 if mode == "reflect" else n for n in spatial]
        padding = tuple(draw(st.integers(0, min(t, 3))) for t in top)
    return dict(nd=nd, args=(2 * groups, groups * draw(st.integers(1, 3)), k),
                kw=dict(stride=stride, padding=padding, dilation=dil, groups=groups, bias=draw(st.booleans()),
                        padding_mode=mode),
                shape=(draw(st.integers(1, 3)), 2 * groups, *spatial), seed=draw(st.integers(0, 2**31 - 1)))


@settings(max_examples=40, deadline=None)
@given(cfg=_cfg())
def test_random_layers_match_torch(torch, cfg):
    m, th = _pair(torch, cfg["nd"], *cfg["args"], **cfg["kw"])
    _compare(torch, m, th, np.random.default_rng(cfg["seed"]).standard_normal(cfg["shape"]), cfg["seed"])


@pytest.mark.parametrize("mode", MODES[1:])
def test_state_dict_and_repr_as_torch(torch, mode):
    m, th = _pair(torch, 2, 3, 5, (3, 2), stride=2, padding=(1, 0), bias=False, padding_mode=mode)
    assert repr(m) == repr(th) and f"padding_mode={mode}" in repr(m)
    sd, tsd = m.state_dict(), th.state_dict()
    assert list(sd) == list(tsd) and all(sd[k].shape == tuple(tsd[k].shape) for k in sd)
    th2 = torch.nn.Conv2d(3, 5, (3, 2), stride=2, padding=(1, 0), bias=False, padding_mode=mode, dtype=torch.float64)
    th2.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
    _compare(torch, m, th2, np.random.default_rng(3).standard_normal((2, 3, 6, 5)))


def test_invalid_padding_mode_names_the_choices():
    with pytest.raises(ValueError, match="Conv2d: padding_mode must be one of .*'circular'.* got 'mirror'"):
        nn.Conv2d(1, 1, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv1d(1, 1, 3, padding_mode="constant")    # torch's F.pad name, not a layer padding_mode


@pytest.mark.parametrize("mode,shape", [("reflect", (1, 2, 3, 5)), ("circular", (1, 2, 2, 5))])
def test_padding_too_wide_for_the_input_names_the_layer(mode, shape):
    conv = nn.Conv2d(2, 1, 3, padding=3, padding_mode=mode)
    with pytest.raises(ValueError, match=rf"Conv2d\(2, 1.*padding_mode='{mode}': pad: {mode} widths"):
        conv(sc.Tensor(np.zeros(shape, dtype=np.float32)))


def test_float32_layer_with_padding_mode():
    conv = nn.Conv1d(2, 3, 4, padding="same", padding_mode="replicate")
    out = conv(sc.Tensor(np.ones((2, 2, 9), dtype=np.float32)))
    assert out.shape == (2, 3, 9) and out.dtype == np.float32


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_fused_conv_pool_and_lora_respect_the_padding_mode(torch, mode):
    """The thin conv + ReLU + max pool fusion pads with zeros, so a conv with another padding mode must not take
    it; a LoRA branch on such a conv pads like its base, so the merged layer equals the unmerged one."""
    from scratchcnn.finetune.lora import LoRAConv
    from scratchcnn.nn.fused import conv_relu_max_pool
    sc.manual_seed(0)
    conv = nn.Conv2d(2, 4, 3, padding=1, padding_mode=mode, dtype=np.float64)
    relu, pool = nn.ReLU(), nn.MaxPool2d(2)
    x = np.random.default_rng(1).standard_normal((3, 2, 8, 8))
    got = conv_relu_max_pool(conv, relu, pool, sc.Tensor(x)).data
    tconv = torch.nn.Conv2d(2, 4, 3, padding=1, padding_mode=mode)
    tconv.load_state_dict({k: torch.tensor(v) for k, v in conv.state_dict().items()})
    want = torch.nn.functional.max_pool2d(torch.relu(tconv(torch.tensor(x))), 2).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    lora = LoRAConv(conv, rank=2, alpha=4.0)
    lora.lora_B.weight.data[...] = np.random.default_rng(2).standard_normal(lora.lora_B.weight.shape)
    unmerged = lora(sc.Tensor(x)).data
    lora.merge()
    np.testing.assert_allclose(lora(sc.Tensor(x)).data, unmerged, rtol=1e-10, atol=1e-12)
