"""Activations and losses vs PyTorch in float64 (rtol 1e-6) over random shapes, dims, weights, reductions,
ignore_index and label smoothing."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchcnn as sc
import scratchcnn.functional as F
from oracle.helpers import compare_with_torch

SETTINGS = settings(max_examples=25, deadline=None)
SEEDS = st.integers(0, 2**31 - 1)
SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, max_side=5)
REDUCTIONS = st.sampled_from(["mean", "sum", "none"])


def _x(seed: int, shape, scale: float = 3.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape) * scale


ACTIVATIONS = {
    "relu": (F.relu, lambda T, x: T.nn.functional.relu(x)),
    "leaky_relu": (F.leaky_relu, lambda T, x: T.nn.functional.leaky_relu(x)),
    "leaky_relu_0.2": (lambda x: F.leaky_relu(x, 0.2), lambda T, x: T.nn.functional.leaky_relu(x, 0.2)),
    "leaky_relu_1.5": (lambda x: F.leaky_relu(x, 1.5), lambda T, x: T.nn.functional.leaky_relu(x, 1.5)),
    "leaky_relu_-0.3": (lambda x: F.leaky_relu(x, -0.3), lambda T, x: T.nn.functional.leaky_relu(x, -0.3)),
    "sigmoid": (F.sigmoid, lambda T, x: T.sigmoid(x)),
    "tanh": (F.tanh, lambda T, x: T.tanh(x)),
    "gelu": (F.gelu, lambda T, x: T.nn.functional.gelu(x)),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), lambda T, x: T.nn.functional.gelu(x, approximate="tanh")),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@SETTINGS
@given(shape=SHAPES, seed=SEEDS, scale=st.sampled_from([0.3, 3.0, 12.0]))
def test_elementwise_activations(torch, name, shape, seed, scale):
    sc_fn, th_fn = ACTIVATIONS[name]
    compare_with_torch(torch, sc_fn, lambda x: th_fn(torch, x), [_x(seed, shape, scale)])


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activations_at_kinks_and_extremes(torch, name):
    """0 (relu/leaky kink: torch's subgradient), and |x| up to 800 (no overflow, no NaN)."""
    sc_fn, th_fn = ACTIVATIONS[name]
    x = np.array([-800.0, -40.0, -9.0, -1e-8, 0.0, 1e-8, 0.5, 9.0, 40.0, 800.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        compare_with_torch(torch, sc_fn, lambda t: th_fn(torch, t), [x])


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=5), seed=SEEDS, data=st.data(),
       scale=st.sampled_from([1.0, 50.0]))
def test_softmax_family(torch, name, shape, seed, data, scale):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    sc_fn = getattr(F, name)
    th_fn = getattr(torch.nn.functional, name)
    compare_with_torch(torch, lambda t: sc_fn(t, dim), lambda t: th_fn(t, dim), [_x(seed, shape, scale)])


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_huge_logits_are_stable(torch, name):
    x = np.array([[1000.0, 999.0, -1000.0], [-1e4, -1e4, -1e4]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        compare_with_torch(torch, lambda t: getattr(F, name)(t, 1),
                           lambda t: getattr(torch.nn.functional, name)(t, 1), [x])


# ---- cross entropy / nll
@st.composite
def class_problem(draw, soft: bool = False):
    """Logits (N, C[, d...]) or (C,), targets, optional weights; some targets set to ignore_index."""
    C = draw(st.integers(1, 6))
    kind = draw(st.sampled_from(["unbatched", "2d", "nd"]))
    if kind == "unbatched":
        shape = (C,)
    elif kind == "2d":
        shape = (draw(st.integers(1, 6)), C)
    else:
        shape = (draw(st.integers(1, 3)), C) + tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
    seed = draw(SEEDS)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * draw(st.sampled_from([0.5, 4.0]))
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    ignore_index = draw(st.sampled_from([-100, 0, 2]))
    if soft:
        t = rng.random(shape)
        if draw(st.booleans()):
            t = t / t.sum(axis=0 if len(shape) == 1 else 1, keepdims=True)
    else:
        t = rng.integers(0, C, size=tshape)
        if ignore_index == -100 and t.size:
            t[rng.random(tshape) < 0.25] = -100
    w = rng.uniform(0.2, 2.0, size=C) if draw(st.booleans()) else None
    return x, t, w, ignore_index


def _torch_w(torch, w):
    return None if w is None else torch.tensor(w)


def _sc_w(w):
    return None if w is None else sc.Tensor(w)


@SETTINGS
@given(prob=class_problem(), reduction=REDUCTIONS, ls=st.sampled_from([0.0, 0.1, 0.5, 1.0]))
def test_cross_entropy_class_indices(torch, prob, reduction, ls):
    x, t, w, ii = prob
    compare_with_torch(
        torch,
        lambda a, b: F.cross_entropy(a, b, weight=_sc_w(w), ignore_index=ii, reduction=reduction, label_smoothing=ls),
        lambda a, b: torch.nn.functional.cross_entropy(a, b, weight=_torch_w(torch, w), ignore_index=ii,
                                                       reduction=reduction, label_smoothing=ls),
        [x, t])


@SETTINGS
@given(prob=class_problem(soft=True), reduction=REDUCTIONS, ls=st.sampled_from([0.0, 0.2]))
def test_cross_entropy_probabilities(torch, prob, reduction, ls):
    x, t, w, _ = prob
    compare_with_torch(
        torch,
        lambda a, b: F.cross_entropy(a, b, weight=_sc_w(w), reduction=reduction, label_smoothing=ls),
        lambda a, b: torch.nn.functional.cross_entropy(a, b, weight=_torch_w(torch, w), reduction=reduction,
                                                       label_smoothing=ls),
        [x, t])


@SETTINGS
@given(prob=class_problem(), reduction=REDUCTIONS)
def test_nll_loss(torch, prob, reduction):
    x, t, w, ii = prob
    compare_with_torch(
        torch,
        lambda a, b: F.nll_loss(F.log_softmax(a, 0 if a.ndim == 1 else 1), b, weight=_sc_w(w), ignore_index=ii,
                                reduction=reduction),
        lambda a, b: torch.nn.functional.nll_loss(torch.log_softmax(a, 0 if a.ndim == 1 else 1), b,
                                                  weight=_torch_w(torch, w), ignore_index=ii, reduction=reduction),
        [x, t])
    compare_with_torch(
        torch,
        lambda a, b: F.nll_loss(a, b, weight=_sc_w(w), ignore_index=ii, reduction=reduction),
        lambda a, b: torch.nn.functional.nll_loss(a, b, weight=_torch_w(torch, w), ignore_index=ii,
                                                  reduction=reduction),
        [x, t])


def test_cross_entropy_all_ignored_mean_is_nan_like_torch(torch):
    x = _x(0, (3, 4))
    t = np.full(3, -100)
    out = F.cross_entropy(sc.Tensor(x), sc.Tensor(t))
    ref = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t))
    assert np.isnan(out.item()) and np.isnan(ref.item())


# ---- regression losses
@SETTINGS
@given(shape=SHAPES, seed=SEEDS, reduction=REDUCTIONS)
def test_mse_loss(torch, shape, seed, reduction):
    compare_with_torch(torch, lambda a, b: F.mse_loss(a, b, reduction=reduction),
                       lambda a, b: torch.nn.functional.mse_loss(a, b, reduction=reduction),
                       [_x(seed, shape), _x(seed + 1, shape)])


@pytest.mark.filterwarnings("ignore:Using a target size")
def test_mse_loss_broadcast_warns_like_torch(torch):
    a, b = _x(0, (4, 1)), _x(1, (4,))
    with pytest.warns(UserWarning, match="mse_loss"):
        compare_with_torch(torch, F.mse_loss, lambda p, q: torch.nn.functional.mse_loss(p, q), [a, b])


@st.composite
def bce_problem(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4))
    rng = np.random.default_rng(draw(SEEDS))
    x = rng.standard_normal(shape) * draw(st.sampled_from([1.0, 30.0]))
    t = rng.random(shape) if draw(st.booleans()) else (rng.random(shape) < 0.5).astype(np.float64)
    w = None
    if draw(st.booleans()):
        wshape = tuple(s if draw(st.booleans()) else 1 for s in shape)[draw(st.integers(0, len(shape))):]
        w = rng.uniform(0.1, 2.0, size=wshape)
    pw = rng.uniform(0.2, 3.0, size=(shape[-1],)) if draw(st.booleans()) else None
    return x, t, w, pw


@SETTINGS
@given(prob=bce_problem(), reduction=REDUCTIONS, grad_target=st.booleans())
def test_binary_cross_entropy_with_logits(torch, prob, reduction, grad_target):
    x, t, w, pw = prob
    compare_with_torch(
        torch,
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, weight=_sc_w(w), reduction=reduction,
                                                        pos_weight=_sc_w(pw)),
        lambda a, b: torch.nn.functional.binary_cross_entropy_with_logits(
            a, b, weight=_torch_w(torch, w), reduction=reduction, pos_weight=_torch_w(torch, pw)),
        [x, t], grad_mask=[True, grad_target])
