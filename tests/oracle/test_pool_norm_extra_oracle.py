"""Pooling with ``return_indices`` and BatchNorm without a weight or without a bias vs PyTorch (float64, rtol 1e-6),
plus finite differences.

* ``max_pool1d/2d(..., return_indices=True)``: the gradient of the VALUES (the other pool tests check the
  indices only without a backward), with strides, padding, dilation, ceil_mode, ties, batched and unbatched,
  a ReLU before the pool (the pool's backward fusion), ``nn.MaxPool1d/2d(return_indices=True)``; the indices
  equal torch's and carry no gradient.
* functional ``batch_norm`` with ``weight=None`` and a bias (and weight without bias): training with running
  statistics (momentum 0.1 / 0.5 / cumulative), without them, and eval; forward, gradients of input and of the
  given parameter, and the running statistics; NCHW and channels-last memory; several statistics blocks
  (``norm._BLOCK`` lowered).
* ``nn.BatchNorm1d/2d(..., bias=False)``: several training steps then eval vs ``torch.nn.BatchNorm*(bias=False)``.
* finite differences of ``batch_norm`` in training with momentum != 0 and affine on (and bias-only), in eval,
  and of ``nn.BatchNorm2d(momentum=0.5)``'s weight and bias.
"""
from __future__ import annotations

from contextlib import nullcontext
from unittest import mock

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import scratchcnn as sc
import scratchcnn.functional as F
from scratchcnn import nn
from oracle.helpers import ATOL, RTOL, compare_with_torch, finite_difference_check

SEEDS = st.integers(0, 2 ** 16)


def _close(a, b, msg):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=msg)


# ------------------------------------------------------------------------------------------ max pool indices
@st.composite
def pool_configs(draw, nd: int):
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    stride = None if draw(st.booleans()) else tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    spatial = tuple(max(1, e - 2 * p) + draw(st.integers(0, 7)) for e, p in zip(extent, padding))
    batch = draw(st.sampled_from([(), (1,), (2,), (3,)]))          # () = unbatched
    shape = (*batch, draw(st.integers(1, 3)), *spatial)
    return shape, kernel, stride, padding, dilation, draw(st.booleans())


def _windows_see_input(spatial, kernel, stride, padding, dilation, out_sz) -> bool:
    """False when a window holds only padding (PyTorch then routes its gradient out of range: left out, as in
    test_pool_oracle.py)."""
    return all(any(0 <= o * s - p + j * d < n for j in range(k))
               for n, k, s, p, d, osz in zip(spatial, kernel, stride, padding, dilation, out_sz) for o in range(osz))


def _input(seed, shape, ties: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if ties:
        return rng.integers(-2, 3, size=shape).astype(np.float64)
    return rng.standard_normal(shape)


@settings(max_examples=60, deadline=None)
@given(nd=st.sampled_from([1, 2]), data=st.data(), seed=SEEDS, ties=st.booleans(), relu=st.booleans())
def test_max_pool_return_indices_value_gradient_matches_torch(torch, nd, data, seed, ties, relu):
    shape, kernel, stride, padding, dilation, ceil = data.draw(pool_configs(nd))
    tpool = getattr(torch.nn.functional, f"max_pool{nd}d")
    pool = getattr(F, f"max_pool{nd}d")
    x = _input(seed, shape, ties)
    try:
        t_out, t_idx = tpool(torch.tensor(x), kernel, stride, padding, dilation, ceil_mode=ceil,
                             return_indices=True)
    except RuntimeError:                            # sizes torch refuses (test_pool_ceil_oracle checks we do too)
        assume(False)
    assume(_windows_see_input(shape[-nd:], kernel, stride or kernel, padding, dilation, t_out.shape[-nd:]))
    pre = (lambda a: F.relu(a * 1.0)) if relu else (lambda a: a)
    tpre = (lambda a: torch.relu(a * 1.0)) if relu else (lambda a: a)
    seen = {}

    def ours(a):
        out, idx = pool(pre(a), kernel, stride, padding, dilation, ceil_mode=ceil, return_indices=True)
        seen["idx"] = idx
        return out

    def theirs(a):
        return tpool(tpre(a), kernel, stride, padding, dilation, ceil_mode=ceil, return_indices=True)[0]
    compare_with_torch(torch, ours, theirs, [x], seed=seed)
    idx = seen["idx"]
    t_idx = tpool(tpre(torch.tensor(x)), kernel, stride, padding, dilation, ceil_mode=ceil, return_indices=True)[1]
    np.testing.assert_array_equal(idx.data, t_idx.numpy())
    assert idx.dtype == np.int64 and not idx.requires_grad


@pytest.mark.parametrize("nd,kw", [(2, dict(kernel_size=3, stride=2, padding=1)),
                                   (2, dict(kernel_size=(2, 3), stride=(2, 1), dilation=(1, 2), ceil_mode=True)),
                                   (1, dict(kernel_size=4, stride=3, padding=2))])
def test_max_pool_module_return_indices_matches_torch(torch, nd, kw):
    rng = np.random.default_rng(5)
    x = rng.integers(-2, 3, size=(2, 3, 9, 8) if nd == 2 else (2, 3, 13)).astype(np.float64)
    m = (nn.MaxPool1d if nd == 1 else nn.MaxPool2d)(return_indices=True, **kw)
    t = (torch.nn.MaxPool1d if nd == 1 else torch.nn.MaxPool2d)(return_indices=True, **kw)
    xs, xt = sc.Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    (ys, idx), (yt, t_idx) = m(xs), t(xt)
    _close(ys.data, yt.detach().numpy(), "forward")
    np.testing.assert_array_equal(idx.data, t_idx.numpy())
    g = rng.standard_normal(yt.shape)
    ys.backward(g)
    yt.backward(torch.tensor(g))
    _close(xs.grad, xt.grad.numpy(), "input grad")


def test_max_pool_return_indices_finite_differences():
    x = np.random.default_rng(6).standard_normal((2, 2, 5, 6))
    finite_difference_check(lambda a: F.max_pool2d(a, (2, 3), (1, 2), (1, 1), return_indices=True)[0], [x])
    finite_difference_check(lambda a: F.max_pool1d(a, 3, 2, 1, 2, ceil_mode=True, return_indices=True)[0],
                            [x.reshape(2, 2, 30)])


# ------------------------------------------------------------------------------------------ batch_norm
def _bn_input(rng, shape, channels_last: bool) -> np.ndarray:
    x = rng.standard_normal(shape) * rng.uniform(0.5, 3.0) + rng.standard_normal()
    if channels_last and len(shape) > 2:            # the memory order conv and pooling outputs have
        x = np.moveaxis(np.ascontiguousarray(np.moveaxis(x, 1, -1)), -1, 1)
    return x


@st.composite
def bn_configs(draw):
    c = draw(st.integers(1, 5))
    shape = draw(st.sampled_from([(draw(st.integers(2, 6)), c), (draw(st.integers(1, 4)), c, draw(st.integers(2, 5))),
                                  (draw(st.integers(1, 3)), c, draw(st.integers(1, 4)), draw(st.integers(2, 4)))]))
    return dict(shape=shape, params=draw(st.sampled_from(["bias", "weight"])),
                mode=draw(st.sampled_from(["train", "train_no_stats", "eval"])),
                momentum=draw(st.sampled_from([0.1, 0.5, None])), eps=draw(st.sampled_from([1e-5, 1e-2])),
                channels_last=draw(st.booleans()), block=draw(st.sampled_from([None, 3, 8, 17])),
                seed=draw(SEEDS))


@settings(max_examples=60, deadline=None)
@given(cfg=bn_configs())
def test_batch_norm_weight_or_bias_only_matches_torch(torch, cfg):
    """batch_norm(weight=None, bias=b) and (weight=w, bias=None): forward, input and parameter gradients, and the
    running statistics, vs torch.nn.functional.batch_norm."""
    rng = np.random.default_rng(cfg["seed"])
    shape, c = cfg["shape"], cfg["shape"][1]
    x = _bn_input(rng, shape, cfg["channels_last"])
    p = rng.standard_normal(c) + (1.5 if cfg["params"] == "weight" else 0.0)
    rm0, rv0 = rng.standard_normal(c) * 0.5, rng.uniform(0.5, 2.0, c)
    training = cfg["mode"] != "eval"
    stats = cfg["mode"] != "train_no_stats"
    count = 3                                       # num_batches_tracked (cumulative average when momentum None)
    factor = 1.0 / count if cfg["momentum"] is None else cfg["momentum"]

    xs = sc.Tensor(x, requires_grad=True)           # as given: channels-last memory reaches batch_norm
    ps = sc.Tensor(p.copy(), requires_grad=True)
    rm_s, rv_s = (sc.Tensor(rm0.copy()), sc.Tensor(rv0.copy())) if stats else (None, None)
    kw = dict(weight=ps, bias=None) if cfg["params"] == "weight" else dict(weight=None, bias=ps)
    patch = mock.patch("scratchcnn.functional.norm._BLOCK", cfg["block"]) if cfg["block"] else nullcontext()
    with patch:
        y = F.batch_norm(xs, rm_s, rv_s, training=training, momentum=cfg["momentum"], eps=cfg["eps"],
                         num_batches_tracked=count, **kw)
    xt = torch.tensor(np.ascontiguousarray(x), requires_grad=True)
    pt = torch.tensor(p.copy(), requires_grad=True)
    rm_t, rv_t = (torch.tensor(rm0.copy()), torch.tensor(rv0.copy())) if stats else (None, None)
    tkw = dict(weight=pt, bias=None) if cfg["params"] == "weight" else dict(weight=None, bias=pt)
    ref = torch.nn.functional.batch_norm(xt, rm_t, rv_t, training=training, momentum=factor, eps=cfg["eps"],
                                         **tkw)
    _close(y.data, ref.detach().numpy(), "forward")
    if stats:
        _close(rm_s.data, rm_t.numpy(), "running_mean")
        _close(rv_s.data, rv_t.numpy(), "running_var")
    g = rng.standard_normal(ref.shape)
    with patch:
        y.backward(g)
    ref.backward(torch.tensor(g))
    _close(xs.grad, xt.grad.numpy(), "grad x")
    _close(ps.grad, pt.grad.numpy(), f"grad {cfg['params']}")


@pytest.mark.parametrize("shape,channels_last", [((130, 8, 9, 9), True), ((70, 5, 200), False)])
def test_batch_norm_bias_only_many_blocks_matches_torch(torch, shape, channels_last):
    """Inputs above the 2^16-element block size at the library's own blocking (statistics merged over blocks)."""
    rng = np.random.default_rng(12)
    x = _bn_input(rng, shape, channels_last)
    c = shape[1]
    b = rng.standard_normal(c)
    rm, rv = np.zeros(c), np.ones(c)
    rm_s, rv_s = sc.Tensor(rm.copy()), sc.Tensor(rv.copy())
    rm_t, rv_t = torch.tensor(rm.copy()), torch.tensor(rv.copy())
    xs, bs = sc.Tensor(x, requires_grad=True), sc.Tensor(b.copy(), requires_grad=True)
    xt, bt = torch.tensor(np.ascontiguousarray(x), requires_grad=True), torch.tensor(b.copy(), requires_grad=True)
    y = F.batch_norm(xs, rm_s, rv_s, None, bs, training=True, momentum=0.3)
    ref = torch.nn.functional.batch_norm(xt, rm_t, rv_t, None, bt, training=True, momentum=0.3)
    _close(y.data, ref.detach().numpy(), "forward")
    _close(rm_s.data, rm_t.numpy(), "running_mean")
    _close(rv_s.data, rv_t.numpy(), "running_var")
    g = rng.standard_normal(shape)
    y.backward(g)
    ref.backward(torch.tensor(g))
    _close(xs.grad, xt.grad.numpy(), "grad x")
    _close(bs.grad, bt.grad.numpy(), "grad bias")


@settings(max_examples=20, deadline=None)
@given(kind=st.sampled_from(["1d-2D", "1d-3D", "2d"]), c=st.integers(1, 4), momentum=st.sampled_from([0.1, 0.5, None]),
       track=st.booleans(), channels_last=st.booleans(), seed=SEEDS)
def test_batchnorm_module_without_bias_matches_torch(torch, kind, c, momentum, track, channels_last, seed):
    """nn.BatchNorm1d/2d(bias=False): 4 training steps then eval, vs torch.nn.BatchNorm*(bias=False)."""
    rng = np.random.default_rng(seed)
    cls_th, cls_sc, shape = {"1d-2D": (torch.nn.BatchNorm1d, nn.BatchNorm1d, (5, c)),
                             "1d-3D": (torch.nn.BatchNorm1d, nn.BatchNorm1d, (3, c, 4)),
                             "2d": (torch.nn.BatchNorm2d, nn.BatchNorm2d, (2, c, 3, 3))}[kind]
    kw = dict(momentum=momentum, track_running_stats=track, bias=False)
    th = cls_th(c, **kw)
    with torch.no_grad():
        th.weight.copy_(torch.tensor(rng.uniform(0.5, 2.0, c)))
    m = cls_sc(c, **kw).double()
    m.load_state_dict(th.state_dict())
    assert m.bias is None and [n for n, _ in m.named_parameters()] == ["weight"]
    assert list(m.state_dict()) == list(th.state_dict())
    assert repr(m) == repr(th)

    def step(x, s):
        xs = sc.Tensor(x, requires_grad=True)
        xt = torch.tensor(np.ascontiguousarray(x), requires_grad=True)
        m.zero_grad()
        th.zero_grad()
        ys, yt = m(xs), th(xt)
        _close(ys.data, yt.detach().numpy(), f"forward, step {s}")
        g = np.random.default_rng(seed + s).standard_normal(yt.shape)
        ys.backward(g)
        yt.backward(torch.tensor(g))
        _close(xs.grad, xt.grad.numpy(), f"grad x, step {s}")
        _close(m.weight.grad, th.weight.grad.numpy(), f"grad weight, step {s}")
    for s in range(4):
        step(_bn_input(rng, shape, channels_last), s)
    for k, v in th.state_dict().items():
        _close(m.state_dict()[k], v.numpy(), f"state {k}")
    m.eval()
    th.eval()
    step(_bn_input(rng, shape, channels_last), 99)


# ------------------------------------------------------------------------------------------ finite differences
@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 5), (2, 3, 3, 2)])
@pytest.mark.parametrize("params", ["affine", "bias_only", "weight_only"])
def test_batch_norm_train_finite_differences(shape, params):
    """Training mode, momentum 0.3 (running statistics updated on every call; the output does not use them)."""
    rng = np.random.default_rng(17)
    c = shape[1]
    x = rng.standard_normal(shape) * 2 + 1
    rm, rv = sc.Tensor(np.zeros(c)), sc.Tensor(np.ones(c))
    w, b = rng.uniform(0.5, 2.0, c), rng.standard_normal(c)
    if params == "affine":
        finite_difference_check(lambda a, w_, b_: F.batch_norm(a, rm, rv, w_, b_, True, 0.3), [x, w, b])
    elif params == "bias_only":
        finite_difference_check(lambda a, b_: F.batch_norm(a, rm, rv, None, b_, True, 0.3), [x, b])
    else:
        finite_difference_check(lambda a, w_: F.batch_norm(a, rm, rv, w_, None, True, 0.3), [x, w])


@pytest.mark.parametrize("params", ["affine", "bias_only"])
def test_batch_norm_eval_finite_differences(params):
    rng = np.random.default_rng(18)
    x = rng.standard_normal((3, 4, 2, 3))
    rm, rv = sc.Tensor(rng.standard_normal(4)), sc.Tensor(rng.uniform(0.5, 2.0, 4))
    w, b = rng.uniform(0.5, 2.0, 4), rng.standard_normal(4)
    if params == "affine":
        finite_difference_check(lambda a, w_, b_: F.batch_norm(a, rm, rv, w_, b_, False), [x, w, b])
    else:
        finite_difference_check(lambda a, b_: F.batch_norm(a, rm, rv, None, b_, False), [x, b])


@pytest.mark.parametrize("bias", [True, False])
def test_batchnorm_module_parameter_finite_differences(bias):
    """nn.BatchNorm2d(momentum=0.5, affine) in training: weight (and bias) gradients vs central differences."""
    rng = np.random.default_rng(19)
    m = nn.BatchNorm2d(3, momentum=0.5, bias=bias).double().train()
    m.weight.data[...] = rng.uniform(0.5, 2.0, 3)
    if bias:
        m.bias.data[...] = rng.standard_normal(3)
    x = rng.standard_normal((2, 3, 3, 2)) * 1.5 - 0.5
    finite_difference_check(lambda a: m(a), [x], seed=1)
    params = [m.weight] + ([m.bias] if bias else [])
    G = rng.standard_normal(x.shape)
    for p in params:
        p.grad = None
    (m(sc.Tensor(x)) * sc.Tensor(G)).sum().backward()
    eps = 1e-6
    for p in params:
        num = np.zeros_like(p.data)
        for j in range(p.data.size):
            keep = p.data[j]
            p.data[j] = keep + eps
            fp = (m(sc.Tensor(x)).data * G).sum()
            p.data[j] = keep - eps
            fm = (m(sc.Tensor(x)).data * G).sum()
            p.data[j] = keep
            num[j] = (fp - fm) / (2 * eps)
        np.testing.assert_allclose(p.grad, num, rtol=1e-5, atol=1e-7)
