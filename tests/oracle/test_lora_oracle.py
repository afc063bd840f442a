"""LoRA layers vs a PyTorch re-implementation of PEFT's scheme (float64, rtol 1e-6).

PyTorch side: ``y = conv(x, W, b) + (alpha/r) * conv(conv(x, A; base stride/padding/dilation), B; 1x1)`` (and the
Linear analogue). Compared: the forward output, the gradients of x, A and B, that the frozen W and b get none,
and that the merged layer (W + delta W) gives the two-branch output. Random configurations: Conv1d and Conv2d,
kernels 1-5, strides 1-3, paddings (ints, tuples, "same"/"valid"), dilations 1-3, ranks up to the layer's limit,
both conv modes, with and without bias.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
from scratchcnn import nn
from scratchcnn.finetune import LoRAConv, LoRALinear, max_rank

RTOL, ATOL = 1e-6, 1e-9


@st.composite
def lora_conv_configs(draw):
    nd = draw(st.sampled_from([1, 2]))
    cin, cout = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    kernel = tuple(draw(st.integers(1, 5)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    kinds = ["int", "tuple", "valid"] + (["same"] if all(s == 1 for s in stride) else [])
    kind = draw(st.sampled_from(kinds))
    padding = {"int": draw(st.integers(0, 2)), "tuple": tuple(draw(st.integers(0, 2)) for _ in range(nd)),
               "valid": "valid", "same": "same"}[kind]
    if kind == "same":
        pads = None                                        # any input size works
    elif kind == "valid":
        pads = (0,) * nd
    else:
        pads = (padding,) * nd if kind == "int" else padding
    need = [1 if pads is None else (k - 1) * d + 1 - 2 * p
            for k, d, p in zip(kernel, dilation, pads or (0,) * nd)]
    side = tuple(max(1, n) + draw(st.integers(0, 4)) for n in need)
    limit = min(cout, cin * int(np.prod(kernel)))
    rank = draw(st.integers(1, limit))
    return dict(nd=nd, cin=cin, cout=cout, kernel=kernel, stride=stride, padding=padding, dilation=dilation,
                side=side, rank=rank, alpha=draw(st.sampled_from([1.0, 4.0, 16.0])),
                bias=draw(st.booleans()), mode=draw(st.sampled_from(["correlation", "convolution"])),
                batch=draw(st.integers(1, 3)))


def _torch_conv(torch, nd):
    return getattr(torch.nn.functional, f"conv{nd}d")


def _flip(torch, w, nd, mode):
    return torch.flip(w, dims=tuple(range(2, 2 + nd))) if mode == "convolution" else w


@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")  # torch's note on even kernels
@settings(max_examples=40, deadline=None)
@given(cfg=lora_conv_configs(), seed=st.integers(0, 2**16))
def test_lora_conv_matches_torch(torch, cfg, seed):
    rng = np.random.default_rng(seed)
    nd = cfg["nd"]
    conv_cls = nn.Conv1d if nd == 1 else nn.Conv2d
    base = conv_cls(cfg["cin"], cfg["cout"], cfg["kernel"], stride=cfg["stride"], padding=cfg["padding"],
                    dilation=cfg["dilation"], bias=cfg["bias"], mode=cfg["mode"], dtype=np.float64)
    layer = LoRAConv(base, rank=cfg["rank"], alpha=cfg["alpha"])
    layer.lora_B.weight.data[:] = rng.standard_normal(layer.lora_B.weight.shape)  # B = 0 would hide the branch
    W = base.weight.data.copy()
    b = base.bias.data.copy() if cfg["bias"] else None
    A, B = layer.lora_A.weight.data.copy(), layer.lora_B.weight.data.copy()
    x = rng.standard_normal((cfg["batch"], cfg["cin"], *cfg["side"]))

    xs = sc.Tensor(x.copy(), requires_grad=True)
    out = layer(xs)
    conv = _torch_conv(torch, nd)
    xt = torch.tensor(x, requires_grad=True)
    At, Bt = torch.tensor(A, requires_grad=True), torch.tensor(B, requires_grad=True)
    Wt = torch.tensor(W)
    bt = torch.tensor(b) if b is not None else None
    geo = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"])
    mode = cfg["mode"]
    ref = conv(xt, _flip(torch, Wt, nd, mode), bt, **geo) \
        + (cfg["alpha"] / cfg["rank"]) * conv(conv(xt, _flip(torch, At, nd, mode), None, **geo), Bt)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg="forward")

    g = rng.standard_normal(ref.shape)
    out.backward(g)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg="grad x")
    np.testing.assert_allclose(layer.lora_A.weight.grad, At.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg="grad A")
    np.testing.assert_allclose(layer.lora_B.weight.grad, Bt.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg="grad B")
    assert base.weight.grad is None and (base.bias is None or base.bias.grad is None)

    # merged: one convolution with W + delta W gives the same output as the two branches
    layer.merge()
    with sc.no_grad():
        merged = layer(sc.Tensor(x.copy())).data
    np.testing.assert_allclose(merged, ref.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg="merged forward")
    np.testing.assert_allclose(layer.weight.data, W + layer.delta_weight(), rtol=1e-12, atol=1e-14)


@settings(max_examples=25, deadline=None)
@given(fin=st.integers(1, 7), fout=st.integers(1, 7), lead=st.lists(st.integers(1, 3), min_size=1, max_size=2),
       alpha=st.sampled_from([1.0, 8.0]), bias=st.booleans(), data=st.data())
def test_lora_linear_matches_torch(torch, fin, fout, lead, alpha, bias, data):
    seed = data.draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    base = nn.Linear(fin, fout, bias=bias, dtype=np.float64)
    rank = data.draw(st.integers(1, max_rank(base)))
    layer = LoRALinear(base, rank=rank, alpha=alpha)
    layer.lora_B.weight.data[:] = rng.standard_normal(layer.lora_B.weight.shape)
    x = rng.standard_normal((*lead, fin))
    xs = sc.Tensor(x.copy(), requires_grad=True)
    out = layer(xs)
    xt = torch.tensor(x, requires_grad=True)
    At = torch.tensor(layer.lora_A.weight.data.copy(), requires_grad=True)
    Bt = torch.tensor(layer.lora_B.weight.data.copy(), requires_grad=True)
    bt = torch.tensor(base.bias.data) if bias else None
    ref = torch.nn.functional.linear(xt, torch.tensor(base.weight.data), bt) + (alpha / rank) * (xt @ At.T) @ Bt.T
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=RTOL, atol=ATOL)
    g = rng.standard_normal(ref.shape)
    out.backward(g)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(layer.lora_A.weight.grad, At.grad.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(layer.lora_B.weight.grad, Bt.grad.numpy(), rtol=RTOL, atol=ATOL)
    assert base.weight.grad is None
