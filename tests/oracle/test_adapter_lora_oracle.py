"""Fine-tuning blocks vs PyTorch re-implementations (float64, rtol 1e-6) and finite differences.

* ``finetune.Adapter``: ``y = x + up(relu(down(x)))`` with 1x1 convs, checked with RANDOM (non-zero) ``up``
  weights and biases, so that the ReLU and the up path matter: forward, the gradients of x, down.weight,
  down.bias, up.weight, up.bias (1-D and 2-D feature maps); finite differences of all of them; an adapter
  inserted with ``add_adapters`` into a frozen seed000 (its hook disables the block fusion there, and the frozen
  conv2 then takes the blocked no-saved-columns path with an input gradient) vs the hand-hooked PyTorch twin.
* ``finetune.ParallelAdapter`` beside a Linear layer (``add_parallel``): ``y = linear(x) + up(relu(down(x)))``
  with random non-zero ``up``, in a frozen Linear and in a trainable one; forward and every gradient.
* LoRA (``LoRAConv`` 1-D / 2-D, ``LoRALinear``) with dropout > 0 in training: the library draws an element-wise
  keep mask on x (``functional.dropout.DropoutMask``, from the default generator); the mask is captured and the
  PyTorch side uses the SAME mask: ``base(x) + (alpha/r) * B(A(x * keep / (1 - p)))``. Forward and the gradients
  of x, A and B; eval mode draws no mask; finite differences with the generator reseeded per evaluation.
"""
from __future__ import annotations

from contextlib import contextmanager
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
import scratchcnn.functional.conv as conv_mod
from scratchcnn import nn
from scratchcnn.functional.dropout import DropoutMask
from scratchcnn.finetune import Adapter, LoRAConv, LoRALinear, add_adapters, max_rank
from scratchcnn.finetune.adapter import ParallelAdapter, add_parallel
from oracle.helpers import ATOL, RTOL, finite_difference_check

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")
SEEDS = st.integers(0, 2 ** 16)


def _close(a, b, msg):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=msg)


def _module_fd(run, params, seed: int, eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7):
    """Autograd gradients of ``sum(run() * G)`` w.r.t. the Parameters ``params`` vs central differences
    (each entry of each parameter perturbed in place). ``run`` must be deterministic."""
    for p in params:
        p.grad = None
    out = run()
    G = np.random.default_rng(seed).standard_normal(out.shape)
    (out * sc.Tensor(G)).sum().backward()
    for i, p in enumerate(params):
        assert p.grad is not None, f"no gradient for parameter {i}"
        num = np.zeros_like(p.data)
        flat, nflat = p.data.reshape(-1), num.reshape(-1)
        for j in range(flat.size):
            keep = flat[j]
            flat[j] = keep + eps
            with sc.no_grad():
                fp = (run().data * G).sum()
            flat[j] = keep - eps
            with sc.no_grad():
                fm = (run().data * G).sum()
            flat[j] = keep
            nflat[j] = (fp - fm) / (2 * eps)
        np.testing.assert_allclose(p.grad, num, rtol=rtol, atol=atol, err_msg=f"finite differences, param {i}")


# ------------------------------------------------------------------------------------------------ Adapter
def _random_adapter(channels, bottleneck, nd, rng) -> Adapter:
    ad = Adapter(channels, bottleneck, nd, dtype=np.float64)
    for p in (ad.down.weight, ad.down.bias, ad.up.weight, ad.up.bias):
        p.data[...] = rng.standard_normal(p.shape)              # up non-zero: the branch must matter
    ad.down.bias.data[...] -= 0.3                                # some hidden units inactive (ReLU at work)
    return ad


def _torch_adapter(torch, ad: Adapter):
    """PyTorch tensors (requiring grad) of the adapter's parameters and its forward on them."""
    nd = ad.spatial_dims
    conv = getattr(torch.nn.functional, f"conv{nd}d")
    ps = {k: torch.tensor(v.data.copy(), requires_grad=True) for k, v in ad.named_parameters()}

    def fwd(x):
        return x + conv(torch.relu(conv(x, ps["down.weight"], ps["down.bias"])), ps["up.weight"], ps["up.bias"])
    return ps, fwd


@settings(max_examples=40, deadline=None)
@given(nd=st.sampled_from([1, 2]), channels=st.integers(1, 8), bottleneck=st.integers(1, 6),
       batch=st.integers(1, 3), data=st.data(), seed=SEEDS)
def test_adapter_matches_torch(torch, nd, channels, bottleneck, batch, data, seed):
    rng = np.random.default_rng(seed)
    spatial = tuple(data.draw(st.integers(1, 6)) for _ in range(nd))
    ad = _random_adapter(channels, bottleneck, nd, rng)
    x = rng.standard_normal((batch, channels, *spatial))
    ps, fwd = _torch_adapter(torch, ad)
    xs, xt = sc.Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ref = ad(xs), fwd(xt)
    _close(y.data, ref.detach().numpy(), "forward")
    hidden = np.asarray(torch.nn.functional.conv1d(xt.reshape(batch, channels, -1), ps["down.weight"].reshape(
        bottleneck, channels, 1), ps["down.bias"]).detach())
    g = rng.standard_normal(ref.shape)
    y.backward(g)
    ref.backward(torch.tensor(g))
    _close(xs.grad, xt.grad.numpy(), "grad x")
    for name, p in ad.named_parameters():
        _close(p.grad, ps[name].grad.numpy(), f"grad {name}")
    if (hidden > 0).any():                          # the up path contributed: the output differs from x
        assert not np.allclose(y.data, x)


@pytest.mark.parametrize("nd,shape", [(2, (2, 3, 3, 2)), (1, (2, 4, 5))])
def test_adapter_finite_differences(nd, shape):
    rng = np.random.default_rng(21)
    ad = _random_adapter(shape[1], 3, nd, rng)
    x = rng.standard_normal(shape)
    finite_difference_check(lambda t: ad(t), [x], seed=1)
    xs = sc.Tensor(x)
    _module_fd(lambda: ad(xs), [ad.down.weight, ad.down.bias, ad.up.weight, ad.up.bias], seed=2)


def test_adapter_is_the_identity_at_initialisation():
    ad = Adapter(5, 2, 2, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((2, 5, 3, 4))
    np.testing.assert_array_equal(ad(sc.Tensor(x)).data, x)


# ------------------------------------------------------------------------------------------------ ParallelAdapter
@settings(max_examples=40, deadline=None)
@given(fin=st.integers(1, 9), fout=st.integers(1, 7), bottleneck=st.integers(1, 5), lead=st.sampled_from(
    [(1,), (4,), (2, 3)]), frozen=st.booleans(), seed=SEEDS)
def test_parallel_adapter_beside_linear_matches_torch(torch, fin, fout, bottleneck, lead, frozen, seed):
    rng = np.random.default_rng(seed)
    lin = nn.Linear(fin, fout, dtype=np.float64)
    pa = ParallelAdapter(fin, fout, bottleneck, dtype=np.float64)
    for p in pa.parameters():
        p.data[...] = rng.standard_normal(p.shape)               # up non-zero: the branch must matter
    pa.down.bias.data[...] -= 0.3                                 # some hidden units inactive
    lin.requires_grad_(not frozen)
    holder = nn.Sequential(lin)
    add_parallel(holder, "0", pa)
    assert "0.parallel.up.weight" in holder.state_dict()
    x = rng.standard_normal((*lead, fin))
    xs = sc.Tensor(x.copy(), requires_grad=True)
    y = holder(xs)
    F = torch.nn.functional
    ts = {k: torch.tensor(v.data.copy(), requires_grad=True) for k, v in holder.named_parameters()}
    xt = torch.tensor(x, requires_grad=True)
    ref = F.linear(xt, ts["0.weight"], ts["0.bias"]) + F.linear(
        torch.relu(F.linear(xt, ts["0.parallel.down.weight"], ts["0.parallel.down.bias"])),
        ts["0.parallel.up.weight"], ts["0.parallel.up.bias"])
    _close(y.data, ref.detach().numpy(), "forward")
    g = rng.standard_normal(ref.shape)
    y.backward(g)
    ref.backward(torch.tensor(g))
    _close(xs.grad, xt.grad.numpy(), "grad x")
    for name, p in holder.named_parameters():
        if frozen and not name.startswith("0.parallel."):
            assert p.grad is None, name
        else:
            _close(p.grad, ts[name].grad.numpy(), f"grad {name}")


def test_parallel_adapter_finite_differences_and_identity_at_init():
    rng = np.random.default_rng(5)
    pa = ParallelAdapter(4, 3, 2, dtype=np.float64)
    lin = nn.Linear(4, 3, dtype=np.float64)
    x = rng.standard_normal((5, 4))
    holder = nn.Sequential(lin)
    ref = holder(sc.Tensor(x)).data.copy()
    add_parallel(holder, "0", pa)
    np.testing.assert_array_equal(holder(sc.Tensor(x)).data, ref)   # zero up-projection: the base layer
    for p in pa.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    finite_difference_check(lambda t: holder(t), [x], seed=3)
    xs = sc.Tensor(x)
    _module_fd(lambda: holder(xs), list(pa.parameters()), seed=4)


@contextmanager
def _spy_chunked():
    with mock.patch.object(conv_mod, "_chunked_forward", wraps=conv_mod._chunked_forward) as spy:
        yield spy


def test_adapter_in_frozen_seed000_matches_torch_twin(torch):
    """Adapter strategy in seed000: base frozen, an adapter after pool1 (random up weights), batch 48 (conv2, frozen,
    runs without saved columns and passes the gradient back to the adapter)."""
    from scratchcnn.bench.twins import torch_twin
    from scratchcnn.models import get
    sc.manual_seed(3)
    model = get("seed000", num_classes=10).double()
    rng = np.random.default_rng(8)
    for p in model.parameters():
        if p.ndim == 1:
            p.data[...] = rng.standard_normal(p.shape) * 0.5
    twin = torch_twin(model)                        # before the adapter: its hook is added by hand below
    for p in model.parameters():
        p.requires_grad_(False)
    model.fc2.weight.requires_grad_(True)           # a trainable head, as in the adapter strategy
    model.fc2.bias.requires_grad_(True)
    add_adapters(model, [("pool1", (16, 14, 14))], bottleneck=4)
    ad = dict(model.named_modules())["inserted.pool1"]
    for p in ad.parameters():
        p.data[...] = rng.standard_normal(p.shape) * 0.3
    ps, fwd = _torch_adapter(torch, ad)
    twin.pool1.register_forward_hook(lambda mod, inp, out: fwd(out))
    for name, p in twin.named_parameters():
        p.requires_grad_(name.startswith("fc2."))

    x = rng.standard_normal((48, 1, 28, 28))
    g = rng.standard_normal((48, 10))
    xt = torch.tensor(x)
    with _spy_chunked() as spy:
        out = model(sc.Tensor(x))
    assert spy.call_count == 2                      # conv1 and conv2: frozen, im2col > 2^18 values
    ref = twin(xt)
    _close(out.data, ref.detach().numpy(), "logits")
    out.backward(g)
    ref.backward(torch.tensor(g))
    for name, p in ad.named_parameters():
        _close(p.grad, ps[name].grad.numpy(), f"grad adapter {name}")
    tp = dict(twin.named_parameters())
    for name in ("fc2.weight", "fc2.bias"):
        _close(dict(model.named_parameters())[name].grad, tp[name].grad.numpy(), f"grad {name}")
    assert model.conv2.weight.grad is None and model.conv1.weight.grad is None


# ------------------------------------------------------------------------------------------------ LoRA + dropout
@contextmanager
def _captured_masks():
    """Record every (keep mask, scale) that functional dropout applies."""
    masks = []
    orig = DropoutMask.forward

    def spy(ctx, x, keep, scale):
        masks.append((np.array(keep, copy=True), scale))
        return orig(ctx, x, keep, scale)
    with mock.patch.object(DropoutMask, "forward", staticmethod(spy)):
        yield masks


@st.composite
def lora_conv_configs(draw):
    nd = draw(st.sampled_from([1, 2]))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    kinds = ["int", "tuple"] + (["same"] if all(s == 1 for s in stride) else [])
    kind = draw(st.sampled_from(kinds))
    padding = {"int": draw(st.integers(0, 1)), "tuple": tuple(draw(st.integers(0, 1)) for _ in range(nd)),
               "same": "same"}[kind]
    pads = (0,) * nd if kind == "same" else ((padding,) * nd if kind == "int" else padding)
    side = tuple(max(1, (k - 1) * d + 1 - 2 * p) + draw(st.integers(0, 3))
                 for k, d, p in zip(kernel, dilation, pads))
    cin, cout = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    rank = draw(st.integers(1, min(cout, cin * int(np.prod(kernel)))))
    return dict(nd=nd, cin=cin, cout=cout, kernel=kernel, stride=stride, padding=padding, dilation=dilation,
                side=side, rank=rank, alpha=draw(st.sampled_from([1.0, 4.0, 16.0])), bias=draw(st.booleans()),
                mode=draw(st.sampled_from(["correlation", "convolution"])), batch=draw(st.integers(1, 3)),
                p=draw(st.sampled_from([0.1, 0.3, 0.5, 0.8])))


def _lora_conv(cfg, rng):
    conv_cls = nn.Conv1d if cfg["nd"] == 1 else nn.Conv2d
    base = conv_cls(cfg["cin"], cfg["cout"], cfg["kernel"], stride=cfg["stride"], padding=cfg["padding"],
                    dilation=cfg["dilation"], bias=cfg["bias"], mode=cfg["mode"], dtype=np.float64)
    layer = LoRAConv(base, rank=cfg["rank"], alpha=cfg["alpha"], dropout=cfg["p"])
    layer.lora_B.weight.data[...] = rng.standard_normal(layer.lora_B.weight.shape)
    return layer


def _torch_lora_conv(torch, cfg, layer):
    nd, mode = cfg["nd"], cfg["mode"]
    conv = getattr(torch.nn.functional, f"conv{nd}d")
    flip = (lambda w: torch.flip(w, dims=tuple(range(2, 2 + nd)))) if mode == "convolution" else (lambda w: w)
    geo = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"])
    W = torch.tensor(layer.weight.data.copy())
    b = torch.tensor(layer.bias.data.copy()) if cfg["bias"] else None
    A = torch.tensor(layer.lora_A.weight.data.copy(), requires_grad=True)
    B = torch.tensor(layer.lora_B.weight.data.copy(), requires_grad=True)

    def fwd(x, keep, scale):
        h = x if keep is None else x * torch.tensor(keep.astype(np.float64)) * scale
        return conv(x, flip(W), b, **geo) + (cfg["alpha"] / cfg["rank"]) * conv(conv(h, flip(A), None, **geo), B)
    return A, B, fwd


@settings(max_examples=40, deadline=None)
@given(cfg=lora_conv_configs(), seed=SEEDS)
def test_lora_conv_with_dropout_matches_torch_with_the_same_mask(torch, cfg, seed):
    rng = np.random.default_rng(seed)
    layer = _lora_conv(cfg, rng).train()
    x = rng.standard_normal((cfg["batch"], cfg["cin"], *cfg["side"]))
    sc.manual_seed(seed)
    xs = sc.Tensor(x.copy(), requires_grad=True)
    with _captured_masks() as masks:
        out = layer(xs)
    assert len(masks) == 1, "LoRA dropout in training should draw one mask"
    keep, scale = masks[0]
    assert keep.shape == x.shape and scale == pytest.approx(1 / (1 - cfg["p"]), rel=1e-15)
    A, B, fwd = _torch_lora_conv(torch, cfg, layer)
    xt = torch.tensor(x, requires_grad=True)
    ref = fwd(xt, keep, scale)
    _check_lora_against(torch, rng, layer, xs, out, xt, ref, A, B)
    assert layer.weight.grad is None and (layer.bias is None or layer.bias.grad is None)
    # the same seed gives the same mask (the default generator is the source)
    sc.manual_seed(seed)
    with _captured_masks() as again:
        layer(sc.Tensor(x.copy()))
    np.testing.assert_array_equal(again[0][0], keep)
    # eval: no mask is drawn, the branch sees x itself
    layer.eval()
    with _captured_masks() as none:
        y_eval = layer(sc.Tensor(x.copy()))
    assert not none
    _close(y_eval.data, fwd(torch.tensor(x), None, 1.0).detach().numpy(), "eval forward")


def _check_lora_against(torch, rng, layer, xs, out, xt, ref, At, Bt) -> None:
    """Forward, then one random output gradient through both: the gradients of x, A and B agree."""
    _close(out.data, ref.detach().numpy(), "forward")
    g = rng.standard_normal(ref.shape)
    out.backward(g)
    ref.backward(torch.tensor(g))
    _close(xs.grad, xt.grad.numpy(), "grad x")
    _close(layer.lora_A.weight.grad, At.grad.numpy(), "grad A")
    _close(layer.lora_B.weight.grad, Bt.grad.numpy(), "grad B")


@settings(max_examples=25, deadline=None)
@given(fin=st.integers(1, 7), fout=st.integers(1, 7), lead=st.lists(st.integers(1, 4), min_size=1, max_size=2),
       alpha=st.sampled_from([1.0, 8.0]), bias=st.booleans(), p=st.sampled_from([0.1, 0.5, 0.9]), data=st.data())
def test_lora_linear_with_dropout_matches_torch_with_the_same_mask(torch, fin, fout, lead, alpha, bias, p, data):
    seed = data.draw(SEEDS)
    rng = np.random.default_rng(seed)
    base = nn.Linear(fin, fout, bias=bias, dtype=np.float64)
    rank = data.draw(st.integers(1, max_rank(base)))
    layer = LoRALinear(base, rank=rank, alpha=alpha, dropout=p).train()
    layer.lora_B.weight.data[...] = rng.standard_normal(layer.lora_B.weight.shape)
    x = rng.standard_normal((*lead, fin))
    sc.manual_seed(seed)
    xs = sc.Tensor(x.copy(), requires_grad=True)
    with _captured_masks() as masks:
        out = layer(xs)
    assert len(masks) == 1
    keep, scale = masks[0]
    assert keep.shape == x.shape and scale == pytest.approx(1 / (1 - p), rel=1e-15)
    xt = torch.tensor(x, requires_grad=True)
    At = torch.tensor(layer.lora_A.weight.data.copy(), requires_grad=True)
    Bt = torch.tensor(layer.lora_B.weight.data.copy(), requires_grad=True)
    bt = torch.tensor(base.bias.data) if bias else None
    h = xt * torch.tensor(keep.astype(np.float64)) * scale
    ref = torch.nn.functional.linear(xt, torch.tensor(base.weight.data), bt) + (alpha / rank) * (h @ At.T) @ Bt.T
    _check_lora_against(torch, rng, layer, xs, out, xt, ref, At, Bt)
    assert base.weight.grad is None


@pytest.mark.parametrize("kind", ["conv2d", "conv1d", "linear"])
def test_lora_dropout_finite_differences(kind):
    """With the generator reseeded before every evaluation the mask is fixed, so the layer is a smooth function."""
    rng = np.random.default_rng(31)
    if kind == "linear":
        layer = LoRALinear(nn.Linear(4, 3, dtype=np.float64), rank=2, alpha=4.0, dropout=0.4)
        x = rng.standard_normal((3, 4))
    else:
        conv = nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64) if kind == "conv2d" else \
            nn.Conv1d(2, 3, 3, stride=2, padding=1, dtype=np.float64)
        layer = LoRAConv(conv, rank=2, alpha=4.0, dropout=0.4)
        x = rng.standard_normal((2, 2, 4, 3) if kind == "conv2d" else (2, 2, 7))
    layer.lora_B.weight.data[...] = rng.standard_normal(layer.lora_B.weight.shape)
    layer.train()

    def run(t):
        sc.manual_seed(99)
        return layer(t)
    with _captured_masks() as masks:
        run(sc.Tensor(x))
    assert masks[0][0].any() and not masks[0][0].all()     # seed 99 drops some inputs and keeps others
    finite_difference_check(run, [x], seed=3)
    xs = sc.Tensor(x)
    _module_fd(lambda: run(xs), [layer.lora_A.weight, layer.lora_B.weight], seed=4)
