"""The conv paths that keep no im2col columns (``functional.conv._chunked_forward``) vs PyTorch (float64, rtol 1e-6).

ConvNd skips saving the columns when no weight gradient is needed (inference, a frozen conv during fine-tuning)
and, once the im2col matrix would exceed ``_UNSAVED_COLS`` values (2^18), builds it a few images at a time; the
fused conv + max pool (``functional.conv_max_pool_nd``, ``nn.fused.conv_relu_max_pool``) then hands each block to
its pooling epilogue. Other oracle tests use batches far below that size, so this path was untested (a mutation
dropping its bias column survived). Here:

* random small geometries with ``_UNSAVED_COLS`` lowered so that the blocked path runs with 1-3 images per block
  (ragged last block): inference (no_grad), a frozen weight with the input gradient (bias trainable or frozen),
  non-square pools, int / tuple / "same" padding, strides, dilations, both conv modes, 1-D and 2-D, the
  functional op and the nn.fused layer triple; a spy asserts that the blocked path (with its epilogue) ran;
* the unpatched size rule at realistic sizes (seed000's conv2 at batch 40 / 64);
* finite differences of the input (and bias) gradient through the blocked path;
* seed000 / seed001 in float64: eval logits at batch 64 (blocked) == batch-by-batch at batch 2 (columns kept)
  == the PyTorch twin; and a fine-tuning step with a frozen conv2 weight vs the twin.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from unittest import mock

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import scratchcnn as sc
import scratchcnn.functional as F
import scratchcnn.functional.conv as conv_mod
import scratchcnn.parallel as parallel
from scratchcnn import nn
from scratchcnn.functional._im2col import output_size
from scratchcnn.nn.fused import conv_relu_max_pool
from oracle.helpers import ATOL, RTOL, compare_with_torch, finite_difference_check

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")


@contextmanager
def blocked_path(limit: int | None = None):
    """Spy on ``_chunked_forward``; with ``limit``, lower the size above which the columns are built in blocks."""
    with mock.patch.object(conv_mod, "_chunked_forward", wraps=conv_mod._chunked_forward) as spy:
        if limit is None:
            yield spy
        else:       # and the blocks split over the threads however small (each part with its own buffer)
            with mock.patch.object(conv_mod, "_UNSAVED_COLS", limit), \
                    mock.patch.object(parallel, "MIN_PARALLEL_ELEMENTS", 1):
                yield spy


def _epilogue_of(spy):
    args = spy.call_args.args
    return args[7] if len(args) > 7 else spy.call_args.kwargs.get("epilogue")


def _pads(padding, nd):
    if padding == "same":
        return None
    return (padding,) * nd if isinstance(padding, int) else tuple(padding)


@st.composite
def blocked_configs(draw):
    nd = draw(st.sampled_from([1, 2]))
    pool = tuple(draw(st.integers(1, 3)) for _ in range(nd))            # non-square pools included
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    kind = draw(st.sampled_from(["int", "tuple", "same"]))
    stride = (1,) * nd if kind == "same" else tuple(draw(st.integers(1, 2)) for _ in range(nd))
    padding = {"int": draw(st.integers(0, 2)), "tuple": tuple(draw(st.integers(0, 2)) for _ in range(nd)),
               "same": "same"}[kind]
    outs = tuple(p * draw(st.integers(1, 3)) for p in pool)
    if kind == "same":
        sizes = outs
    else:
        pads = _pads(padding, nd)
        sizes = tuple(max(1, (o - 1) * s + d * (k - 1) + 1 - 2 * p)
                      for o, s, d, k, p in zip(outs, stride, dilation, kernel, pads))
    n = draw(st.integers(2, 5))
    return dict(nd=nd, pool=pool, kernel=kernel, stride=stride, dilation=dilation, padding=padding, sizes=sizes,
                cin=draw(st.integers(1, 6)),   # 1-3 channels: the blocks are filled transposed
                cout=draw(st.integers(1, 4)), n=n, step=draw(st.integers(1, n - 1)), bias=draw(st.booleans()),
                mode=draw(st.sampled_from(["correlation", "convolution"])),
                seed=draw(st.integers(0, 2 ** 16)))


def _geometry(c):
    """(conv output sizes, im2col rows per image, columns) of a config."""
    pads = _pads(c["padding"], c["nd"])
    if pads is None:
        out = tuple(c["sizes"])
    else:
        out = tuple(output_size(s, k, st_, p, p, d) for s, k, st_, p, d
                    in zip(c["sizes"], c["kernel"], c["stride"], pads, c["dilation"]))
    kb = math.prod(c["kernel"]) * c["cin"] + c["bias"]
    return out, math.prod(out), kb


def _limit(c) -> int:
    """An ``_UNSAVED_COLS`` giving ``c["step"]`` images per block (n > step, so the blocked path is taken)."""
    _, per, kb = _geometry(c)
    return c["step"] * per * kb


def _fits(c) -> bool:
    out, _, _ = _geometry(c)
    return all(o >= p and o % p == 0 for o, p in zip(out, c["pool"]))


def _torch_block(torch, c, relu: bool):
    nd = c["nd"]
    conv_t = getattr(torch.nn.functional, f"conv{nd}d")
    pool_t = getattr(torch.nn.functional, f"max_pool{nd}d")

    def theirs(x, w, b=None):
        if c["mode"] == "convolution":
            w = torch.flip(w, dims=tuple(range(2, 2 + nd)))
        y = conv_t(x, w, b, c["stride"], c["padding"], c["dilation"])
        return pool_t(torch.relu(y) if relu else y, c["pool"])
    return theirs


def _arrays(c):
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal((c["n"], c["cin"], *c["sizes"]))
    w = rng.standard_normal((c["cout"], c["cin"], *c["kernel"]))
    b = rng.standard_normal(c["cout"]) + 0.5       # clearly non-zero: a dropped bias must show
    return [x, w] + ([b] if c["bias"] else [])


@settings(max_examples=50, deadline=None)
@given(c=blocked_configs(), grads=st.sampled_from(["no_grad", "x", "x_and_bias", "bias"]))
def test_conv_max_pool_blocked_path_matches_torch(torch, c, grads):
    """functional.conv_max_pool_nd through the blocked path: forward, and the input / bias gradients with the
    weight frozen."""
    assume(_fits(c))
    assume(grads != "x_and_bias" and grads != "bias" or c["bias"])
    arrays = _arrays(c)

    def ours(x, w, b=None):
        return F.conv_max_pool_nd(x, w, b, c["stride"], c["padding"], c["dilation"], c["mode"], c["pool"])
    theirs = _torch_block(torch, c, relu=False)
    with blocked_path(_limit(c)) as spy:
        if grads == "no_grad":                     # parameters that require grad, as in model.eval() inference
            ts = [sc.Tensor(a.copy(), requires_grad=True) for a in arrays]
            with sc.no_grad():
                y = ours(*ts)
            ref = theirs(*[torch.tensor(a) for a in arrays])
            np.testing.assert_allclose(y.data, ref.numpy(), rtol=RTOL, atol=ATOL)
        else:
            mask = [grads != "bias", False] + ([grads in ("x_and_bias", "bias")] if c["bias"] else [])
            compare_with_torch(torch, ours, theirs, arrays, grad_mask=mask, seed=c["seed"])
    assert spy.call_count == 1, "the blocked (no saved columns) path did not run"
    assert _epilogue_of(spy) is not None, "the blocked path ran without the pooling epilogue"


@settings(max_examples=30, deadline=None)
@given(c=blocked_configs(), bias_grad=st.booleans(), no_grad=st.booleans())
def test_fused_layer_triple_blocked_path_matches_torch(torch, c, bias_grad, no_grad):
    """nn.fused.conv_relu_max_pool with nn.Conv1d/2d (weight frozen, as in fine-tuning) + ReLU + MaxPool."""
    assume(_fits(c))
    nd = c["nd"]
    conv = (nn.Conv1d if nd == 1 else nn.Conv2d)(c["cin"], c["cout"], c["kernel"], stride=c["stride"],
                                                  padding=c["padding"], dilation=c["dilation"], bias=c["bias"],
                                                  mode=c["mode"], dtype=np.float64)
    pool = (nn.MaxPool1d if nd == 1 else nn.MaxPool2d)(c["pool"] if nd == 2 else c["pool"][0])
    arrays = _arrays(c)
    conv.weight.data[...] = arrays[1]
    conv.weight.requires_grad_(False)
    if c["bias"]:
        conv.bias.data[...] = arrays[2]
        conv.bias.requires_grad_(bias_grad)
    assert F.fuses(sc.Tensor(arrays[0]), conv.weight, conv.stride, conv.padding, conv.dilation, 1, c["pool"])
    theirs = _torch_block(torch, c, relu=True)
    xt = torch.tensor(arrays[0], requires_grad=not no_grad)
    bt = torch.tensor(arrays[2], requires_grad=bias_grad) if c["bias"] else None
    ref = theirs(xt, torch.tensor(arrays[1]), bt)
    xs = sc.Tensor(arrays[0].copy(), requires_grad=not no_grad)
    with blocked_path(_limit(c)) as spy:
        if no_grad:
            with sc.no_grad():
                y = conv_relu_max_pool(conv, nn.ReLU(), pool, xs)
        else:
            y = conv_relu_max_pool(conv, nn.ReLU(), pool, xs)
    assert spy.call_count == 1 and _epilogue_of(spy) is not None
    np.testing.assert_allclose(y.data, ref.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg="forward")
    if no_grad:
        return
    g = np.random.default_rng(c["seed"] + 1).standard_normal(ref.shape)
    y.backward(g)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg="input grad")
    assert conv.weight.grad is None
    if c["bias"] and bias_grad:
        np.testing.assert_allclose(conv.bias.grad, bt.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg="bias grad")
    elif c["bias"]:
        assert conv.bias.grad is None


# ------------------------------------------------------------------------------------ the unpatched size rule
@pytest.mark.parametrize("case", [
    dict(n=40, cin=16, cout=32, size=(14, 14), kernel=3, padding=1, pool=2, bias=True),       # seed000 conv2
    dict(n=40, cin=16, cout=32, size=(14, 14), kernel=3, padding=1, pool=2, bias=False),
    dict(n=24, cin=12, cout=8, size=(18, 24), kernel=(3, 5), padding="same", pool=(3, 2), bias=True),
    dict(n=64, cin=16, cout=16, size=(12, 16), kernel=(2, 3), padding=(0, 1), pool=(1, 4), bias=True),
])
@pytest.mark.parametrize("grads", ["no_grad", "x"])
def test_real_size_blocked_path_matches_torch(torch, case, grads):
    """Sizes whose im2col matrix exceeds 2^18 values: the blocked path runs by the library's own rule."""
    rng = np.random.default_rng(7)
    kernel = case["kernel"] if isinstance(case["kernel"], tuple) else (case["kernel"],) * 2
    x = rng.standard_normal((case["n"], case["cin"], *case["size"]))
    w = rng.standard_normal((case["cout"], case["cin"], *kernel)) * 0.2
    b = rng.standard_normal(case["cout"]) + 0.5
    arrays = [x, w] + ([b] if case["bias"] else [])

    def ours(x, w, b=None):
        return F.relu(F.conv_max_pool_nd(x, w, b, 1, case["padding"], 1, "correlation", case["pool"]))

    def theirs(x, w, b=None):
        y = torch.nn.functional.conv2d(x, w, b, 1, case["padding"])
        return torch.nn.functional.max_pool2d(torch.relu(y), case["pool"])
    with blocked_path() as spy:
        mask = [grads == "x", False] + ([False] if case["bias"] else [])
        compare_with_torch(torch, ours, theirs, arrays, grad_mask=mask)
    assert spy.call_count == 1, "expected the blocked path at this size"
    assert _epilogue_of(spy) is not None


# ------------------------------------------------------------------------------------ finite differences
@pytest.mark.parametrize("nd,padding,pool,bias_grad", [(2, 1, (2, 2), False), (2, "same", (1, 2), True),
                                                        (1, 2, (3,), True)])
def test_blocked_path_finite_differences(nd, padding, pool, bias_grad):
    rng = np.random.default_rng(11)
    cin, cout, n = 4, 3, 3
    sizes = (4, 6) if nd == 2 else (7,)
    kernel = (3,) * nd if padding != 2 else (3,)
    x = rng.standard_normal((n, cin, *sizes))
    W = sc.Tensor(rng.standard_normal((cout, cin, *kernel)))      # frozen weight: no column saving
    b_arr = rng.standard_normal(cout)
    per = math.prod(output_size(s, k, 1, *(((k - 1) // 2, k // 2) if padding == "same" else (padding, padding)), 1)
                    for s, k in zip(sizes, kernel))
    limit = per * (math.prod(kernel) * cin + 1)                    # one image per block
    with blocked_path(limit) as spy:
        if bias_grad:
            finite_difference_check(lambda x, b: F.relu(F.conv_max_pool_nd(x, W, b, 1, padding, 1, "correlation",
                                                                           pool)), [x, b_arr])
        else:
            b = sc.Tensor(b_arr)
            finite_difference_check(lambda x: F.conv_max_pool_nd(x, W, b, 1, padding, 1, "correlation", pool), [x])
    assert spy.call_count > 0 and all(c.args[7] is not None for c in spy.call_args_list)


# ------------------------------------------------------------------------------------ seed000 / seed001
def _model(name: str, seed: int):
    from scratchcnn.models import get
    sc.manual_seed(seed)
    m = get(name, num_classes=10).double()
    rng = np.random.default_rng(seed)
    for p in m.parameters():                       # non-zero biases everywhere: a dropped bias must show
        if p.ndim == 1:
            p.data[...] = rng.standard_normal(p.shape) * 0.5
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):        # BN in eval must use non-trivial running statistics
            mod.running_mean.data[...] = rng.standard_normal(mod.num_features) * 0.3
            mod.running_var.data[...] = rng.uniform(0.5, 2.0, mod.num_features)
    return m


@pytest.mark.parametrize("name", ["seed000", "seed001"])
def test_model_eval_logits_batch64_blocked_equal_batch2_and_torch(torch, name):
    from scratchcnn.bench.twins import torch_twin
    model = _model(name, 5).eval()
    x = np.random.default_rng(3).standard_normal((64, 1, 28, 28))
    with blocked_path() as spy, sc.no_grad():
        big = model(sc.Tensor(x)).data
    assert spy.call_count >= 1, "batch 64 eval should take the blocked path (conv2)"
    if name == "seed000":
        assert _epilogue_of(spy) is not None       # seed000's conv2 is fused with its pool
    with blocked_path() as spy, sc.no_grad():
        small = np.concatenate([model(sc.Tensor(x[i:i + 2])).data for i in range(0, 64, 2)])
    assert spy.call_count == 0, "batch 2 should keep the columns (the other path)"
    assert big.dtype == np.float64
    # the same GEMMs in other blocks: equal up to float64 summation order
    np.testing.assert_allclose(big, small, rtol=1e-10, atol=1e-12)
    twin = torch_twin(model).eval()
    with torch.no_grad():
        ref = twin(torch.tensor(x)).numpy()
    np.testing.assert_allclose(big, ref, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(small, ref, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("bias_trains", [True, False])
def test_seed000_frozen_conv2_fine_tuning_step_matches_torch(torch, bias_trains):
    """Fine-tuning with conv2's weight frozen (batch 64): conv2 takes the blocked path in training too."""
    from scratchcnn.bench.twins import torch_twin
    model = _model("seed000", 9).train()
    model.conv2.weight.requires_grad_(False)
    model.conv2.bias.requires_grad_(bias_trains)
    twin = torch_twin(model).train()
    for name, p in twin.named_parameters():
        p.requires_grad_(dict(model.named_parameters())[name].requires_grad)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((64, 1, 28, 28))
    g = rng.standard_normal((64, 10))
    xs, xt = sc.Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    with blocked_path() as spy:
        out = model(xs)
    assert spy.call_count == 1 and _epilogue_of(spy) is not None
    ref = twin(xt)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg="logits")
    out.backward(g)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg="input grad")
    tp = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        if tp[name].grad is None:
            assert p.grad is None, name
        else:
            np.testing.assert_allclose(p.grad, tp[name].grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=name)
    assert model.conv2.weight.grad is None
    assert (model.conv2.bias.grad is not None) == bias_trains
