"""The activations and losses added after the first set (elu ... prelu, l1 ... kl_div) against PyTorch:
forward and backward (input, PReLU's weight, the target where torch differentiates it) in float64 at the repo's
tolerances (rtol 1e-6, atol 1e-9) over hypothesis-drawn shapes and values, with the kinks, +-large values, NaN
and +-inf planted; float32 forwards against torch's float32; central differences without torch; modules' repr;
error cases."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchcnn as sc
import scratchcnn.functional as F
from scratchcnn import nn
from oracle.helpers import ATOL, RTOL, compare_with_torch, finite_difference_check

# kl_div's default reduction "mean" warns (torch and here); test_kl_div_mean_warns_like_torch... checks that
pytestmark = pytest.mark.filterwarnings("ignore:.*'mean' divides the total loss:UserWarning")
SETTINGS = settings(max_examples=25, deadline=None)
SEEDS = st.integers(0, 2**31 - 1)
SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, max_side=5)
REDUCTIONS = st.sampled_from(["mean", "sum", "none"])
# float32: torch and NumPy round differently (a few ulps, more through exp/log1p/tanh); float32 eps is 1.2e-7
RTOL32, ATOL32 = 1e-5, 1e-6


def tF(torch):
    return torch.nn.functional


# ------------------------------------------------------------------------------------------------ activations
# name -> (scratchcnn function, torch function, kinks: values where the formula switches branch)
ACTIVATIONS = {
    "elu": (F.elu, lambda T, x: tF(T).elu(x), [0.0]),
    "elu_0.3": (lambda x: F.elu(x, 0.3), lambda T, x: tF(T).elu(x, 0.3), [0.0]),
    "elu_-0.7": (lambda x: F.elu(x, alpha=-0.7), lambda T, x: tF(T).elu(x, alpha=-0.7), [0.0]),
    "selu": (F.selu, lambda T, x: tF(T).selu(x), [0.0]),
    "celu": (F.celu, lambda T, x: tF(T).celu(x), [0.0]),
    "celu_2.5": (lambda x: F.celu(x, 2.5), lambda T, x: tF(T).celu(x, 2.5), [0.0]),
    "silu": (F.silu, lambda T, x: tF(T).silu(x), []),
    "mish": (F.mish, lambda T, x: tF(T).mish(x), []),
    "softplus": (F.softplus, lambda T, x: tF(T).softplus(x), [20.0]),
    "softplus_2_5": (lambda x: F.softplus(x, 2.0, 5.0), lambda T, x: tF(T).softplus(x, 2.0, 5.0), [2.5]),
    "softplus_0.5_3": (lambda x: F.softplus(x, beta=0.5, threshold=3.0),
                       lambda T, x: tF(T).softplus(x, beta=0.5, threshold=3.0), [6.0]),
    "softplus_-1": (lambda x: F.softplus(x, beta=-1.0), lambda T, x: tF(T).softplus(x, beta=-1.0), [-20.0]),
    "hardtanh": (F.hardtanh, lambda T, x: tF(T).hardtanh(x), [-1.0, 1.0]),
    "hardtanh_-0.5_2": (lambda x: F.hardtanh(x, -0.5, 2.0), lambda T, x: tF(T).hardtanh(x, -0.5, 2.0), [-0.5, 2.0]),
    "hardtanh_point": (lambda x: F.hardtanh(x, 0.5, 0.5), lambda T, x: tF(T).hardtanh(x, 0.5, 0.5), [0.5]),
    "relu6": (F.relu6, lambda T, x: tF(T).relu6(x), [0.0, 6.0]),
    "hardsigmoid": (F.hardsigmoid, lambda T, x: tF(T).hardsigmoid(x), [-3.0, 3.0]),
    "hardswish": (F.hardswish, lambda T, x: tF(T).hardswish(x), [-3.0, 3.0]),
    "softsign": (F.softsign, lambda T, x: tF(T).softsign(x), [0.0]),
    "logsigmoid": (F.logsigmoid, lambda T, x: tF(T).logsigmoid(x), [0.0]),
}
# torch's gradient at a NaN input depends on which of its kernels ran (vectorised body: NaN for the elu family
# and hardswish, 0 for hardtanh/relu6; scalar tail: the linear-branch slope): ours is the vectorised one's,
# checked in test_nan_gradient_where_torch_is_path_dependent, and NaN is not planted for these in the comparisons.
NAN_GRAD = {"elu": np.nan, "elu_0.3": np.nan, "elu_-0.7": np.nan, "selu": np.nan, "celu": np.nan, "celu_2.5": np.nan,
            "hardswish": np.nan, "hardtanh": 0.0, "hardtanh_-0.5_2": 0.0, "hardtanh_point": 0.0, "relu6": 0.0}
EXTREMES = [-800.0, -100.0, -40.0, -21.0, -1e-8, -0.0, 0.0, 1e-8, 19.0, 21.0, 40.0, 100.0, 800.0]


@st.composite
def values(draw, kinks, dtype=np.float64, nan: bool = True):
    """Random values of a random shape at a random scale, with kinks, extremes (and NaN, +-inf) planted."""
    shape = draw(SHAPES)
    rng = np.random.default_rng(draw(SEEDS))
    x = np.asarray(rng.standard_normal(shape) * draw(st.sampled_from([0.3, 3.0, 12.0, 100.0])))
    specials = np.array(list(kinks) + EXTREMES + ([np.nan, np.inf, -np.inf] if nan else []))
    if x.size and draw(st.booleans()):
        where = np.asarray(rng.random(shape) < 0.4)
        x[where] = rng.choice(specials, size=int(where.sum()))
    return x.astype(dtype)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@SETTINGS
@given(data=st.data())
def test_activation_forward_backward(torch, name, data):
    sc_fn, th_fn, kinks = ACTIVATIONS[name]
    x = data.draw(values(kinks, nan=name not in NAN_GRAD))
    compare_with_torch(torch, sc_fn, lambda t: th_fn(torch, t), [x])


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_kinks_extremes_and_nan(torch, name):
    """Every kink (torch's one-sided gradient there), |x| up to 1e300 without overflow warnings, NaN and
    +-inf (values and gradients NaN exactly where torch's are)."""
    sc_fn, th_fn, kinks = ACTIVATIONS[name]
    finite = np.array(sorted(set(kinks + [k + d for k in kinks for d in (-1e-9, 1e-9)] + EXTREMES + [1e300, -1e300])))
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        compare_with_torch(torch, sc_fn, lambda t: th_fn(torch, t), [finite])
    special = np.array([np.inf, -np.inf, 0.0, 1.0] + ([] if name in NAN_GRAD else [np.nan]))
    compare_with_torch(torch, sc_fn, lambda t: th_fn(torch, t), [special])


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_nan_gradient_where_torch_is_path_dependent(torch, name):
    """NaN in: NaN out (as torch); the gradient there is torch's, or our documented choice (NAN_GRAD) where
    torch's kernels disagree."""
    sc_fn, th_fn, _ = ACTIVATIONS[name]
    x = sc.Tensor(np.array([np.nan, -1.0, 2.0]), requires_grad=True)
    out = sc_fn(x)
    assert np.isnan(out.data[0]) and np.isnan(th_fn(torch, torch.tensor([np.nan])).item())
    out.backward(np.ones(3))
    if name in NAN_GRAD:
        want = NAN_GRAD[name]
    else:                                   # one kernel path in torch: its value
        t = torch.tensor([np.nan], requires_grad=True)
        th_fn(torch, t).sum().backward()
        want = t.grad.item()
    assert np.isnan(x.grad[0]) if np.isnan(want) else x.grad[0] == want
    assert np.isfinite(x.grad[1:]).all()


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@SETTINGS
@given(data=st.data())
def test_activation_float32_forward(torch, name, data):
    sc_fn, th_fn, kinks = ACTIVATIONS[name]
    x = data.draw(values(kinks, np.float32, nan=False))
    with np.errstate(over="raise", divide="raise"):
        out = sc_fn(sc.Tensor(x, requires_grad=True))
    ref = th_fn(torch, torch.tensor(x, dtype=torch.float32))
    assert out.dtype == np.float32 and ref.dtype == torch.float32
    np.testing.assert_allclose(out.data, ref.numpy(), rtol=RTOL32, atol=ATOL32)
    out.sum().backward()


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_finite_differences(name):
    """Central differences (no torch) away from the kinks."""
    sc_fn, _, kinks = ACTIVATIONS[name]
    x = np.random.default_rng(7).uniform(-8, 8, (3, 7))
    for k in kinks:
        x[np.abs(x - k) < 1e-3] += 0.01
    finite_difference_check(sc_fn, [x])


def test_softplus_never_overflows_and_is_linear_above_threshold(torch):
    x = np.array([-1e4, -745.0, 30.0, 710.0, 1e4])
    with np.errstate(over="raise"):
        for beta, threshold in [(1.0, 20.0), (1.0, 1e6), (3.0, 1e6)]:
            out = F.softplus(sc.Tensor(x), beta, threshold).data
            np.testing.assert_allclose(out, np.maximum(x, 0) + np.log1p(np.exp(-np.abs(beta * x))) / beta,
                                       rtol=RTOL, atol=ATOL)
    out = F.softplus(sc.Tensor(x), 1.0, 20.0).data
    assert np.array_equal(out[2:], x[2:])                   # x itself where beta x > threshold (torch)


# ---- PReLU
@st.composite
def prelu_problem(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, max_side=4))
    rng = np.random.default_rng(draw(SEEDS))
    x = np.asarray(rng.standard_normal(shape) * 3)
    if x.size:
        x[rng.random(shape) < 0.3] = 0.0
    if x.size and draw(st.booleans()):
        x[rng.random(shape) < 0.2] = np.nan
    per_channel = len(shape) >= 2 and draw(st.booleans())
    n = shape[1] if per_channel else 1
    w = rng.uniform(-1.5, 1.5, n)
    if not per_channel and draw(st.booleans()):
        w = w.reshape(())                                      # a 0-d slope, as torch allows
    return x, w


@SETTINGS
@given(prob=prelu_problem())
def test_prelu(torch, prob):
    x, w = prob
    compare_with_torch(torch, F.prelu, tF(torch).prelu, [x, w])


def test_prelu_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4))
    x[np.abs(x) < 1e-3] = 0.5
    finite_difference_check(F.prelu, [x, np.array([0.1, -0.4, 1.3])])
    finite_difference_check(F.prelu, [x, np.array([0.2])])


def test_prelu_module_matches_torch(torch):
    for n, init in [(1, 0.25), (3, -0.1)]:
        m, ref = nn.PReLU(n, init).double(), torch.nn.PReLU(n, init)
        assert repr(m) == repr(ref) and m.weight.shape == tuple(ref.weight.shape)
        assert list(m.state_dict()) == list(ref.state_dict()) == ["weight"] and m.init == ref.init
        x = np.random.default_rng(n).standard_normal((4, 3, 5))
        xs, xt = sc.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, want = m(xs), ref(xt)
        np.testing.assert_allclose(out.data, want.detach().numpy(), rtol=RTOL, atol=ATOL)
        out.sum().backward()
        want.sum().backward()
        np.testing.assert_allclose(m.weight.grad, ref.weight.grad.numpy(), rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=RTOL, atol=ATOL)
    m = nn.PReLU(2, init=0.5)
    assert m.weight.dtype == np.float32 and list(m.parameters()) == [m.weight] and m.weight.requires_grad
    m.weight.data[:] = 3.0
    m.reset_parameters()
    assert np.array_equal(m.weight.data, [0.5, 0.5])


@pytest.mark.parametrize("xshape, wshape, match", [
    ((3,), (3,), "3 slopes.*1 channels"), ((2, 3), (2,), "2 slopes.*3 channels"), ((), (2,), "zero-dim"),
    ((2, 3), (3, 1), "scalar or 1-D"),
])
def test_prelu_errors(torch, xshape, wshape, match):
    with pytest.raises(RuntimeError):
        tF(torch).prelu(torch.ones(xshape), torch.ones(wshape))
    with pytest.raises(ValueError, match=match):
        F.prelu(sc.Tensor(np.ones(xshape)), sc.Tensor(np.ones(wshape)))
    with pytest.raises(ValueError, match="num_parameters"):
        nn.PReLU(0)


# ---- modules
MODULES = [("ELU", (), {}), ("ELU", (0.5, True), {}), ("SELU", (), {}), ("SELU", (True,), {}), ("CELU", (2.0,), {}),
           ("CELU", (), {"inplace": True}), ("SiLU", (), {}), ("SiLU", (True,), {}), ("Mish", (True,), {}),
           ("Softplus", (), {}), ("Softplus", (2, 10), {}), ("Hardtanh", (), {}), ("Hardtanh", (-2, 3, True), {}),
           ("ReLU6", (), {}), ("ReLU6", (True,), {}), ("Hardsigmoid", (True,), {}), ("Hardswish", (True,), {}),
           ("Softsign", (), {}), ("LogSigmoid", (), {}), ("PReLU", (), {}), ("PReLU", (4,), {"init": 0.1})]


@pytest.mark.parametrize("name, args, kwargs", MODULES, ids=lambda v: str(v))
def test_activation_modules_repr_and_forward_like_torch(torch, name, args, kwargs):
    m, ref = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(m) == repr(ref)
    x = np.random.default_rng(0).standard_normal((2, 4, 3)) * 5
    m = m.double() if name == "PReLU" else m
    np.testing.assert_allclose(m(sc.Tensor(x)).data, ref(torch.tensor(x)).detach().numpy(), rtol=RTOL, atol=ATOL)


def test_relu6_is_a_hardtanh_like_torch():
    assert isinstance(nn.ReLU6(), nn.Hardtanh) and (nn.ReLU6().min_val, nn.ReLU6().max_val) == (0.0, 6.0)


def test_activation_argument_errors(torch):
    with pytest.raises(ValueError, match="min_val"):
        F.hardtanh(sc.Tensor(np.ones(2)), 1.0, 0.0)
    with pytest.raises(ValueError):
        tF(torch).hardtanh(torch.ones(2), 1.0, 0.0)
    with pytest.raises(ValueError, match="max_val"):
        nn.Hardtanh(1.0, 0.0)
    with pytest.raises(ValueError, match="alpha cannot be 0"):
        F.celu(sc.Tensor(np.ones(2)), 0.0)
    with pytest.raises(RuntimeError, match="alpha cannot be 0"):
        tF(torch).celu(torch.ones(2), 0.0)
    for fn in (F.elu, F.selu, F.silu, F.mish, F.softplus, F.hardtanh, F.relu6, F.hardsigmoid, F.hardswish,
               F.softsign, F.logsigmoid):
        with pytest.raises(TypeError, match="floating"):
            fn(sc.Tensor(np.arange(3)))


# ------------------------------------------------------------------------------------------------ losses
def grid_pair(draw, shape, rng):
    """Input and target on a grid of multiples of 1/4, so differences hit 0 and +-beta/delta exactly."""
    x = np.asarray(rng.integers(-16, 17, size=shape) / 4.0)
    y = np.asarray(rng.integers(-16, 17, size=shape) / 4.0)
    if x.size and draw(st.booleans()):
        x = x * draw(st.sampled_from([10.0, 1e6]))               # large differences
    return x, y


REGRESSION = {
    "l1_loss": (lambda r, p: (lambda a, b: F.l1_loss(a, b, reduction=r)),
                lambda T, r, p: (lambda a, b: tF(T).l1_loss(a, b, reduction=r))),
    "smooth_l1_loss": (lambda r, p: (lambda a, b: F.smooth_l1_loss(a, b, reduction=r, beta=p)),
                       lambda T, r, p: (lambda a, b: tF(T).smooth_l1_loss(a, b, reduction=r, beta=p))),
    "huber_loss": (lambda r, p: (lambda a, b: F.huber_loss(a, b, reduction=r, delta=p)),
                   lambda T, r, p: (lambda a, b: tF(T).huber_loss(a, b, reduction=r, delta=p))),
}


@pytest.mark.parametrize("name", list(REGRESSION))
@SETTINGS
@given(data=st.data(), reduction=REDUCTIONS, param=st.sampled_from([0.5, 1.0, 2.0]), grad_target=st.booleans())
def test_regression_losses(torch, name, data, reduction, param, grad_target):
    shape = data.draw(SHAPES)
    rng = np.random.default_rng(data.draw(SEEDS))
    x, y = grid_pair(data.draw, shape, rng)
    sc_make, th_make = REGRESSION[name]
    compare_with_torch(torch, sc_make(reduction, param), th_make(torch, reduction, param), [x, y],
                       grad_mask=[True, grad_target])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_smooth_l1_beta_zero_is_l1(torch, reduction):
    x, y = np.array([0.0, 1.0, -2.0, 0.5]), np.array([0.0, 0.0, 0.0, 0.75])
    compare_with_torch(torch, lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction, beta=0.0),
                       lambda a, b: tF(torch).smooth_l1_loss(a, b, reduction=reduction, beta=0.0), [x, y])


@pytest.mark.parametrize("name", list(REGRESSION))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses_at_kinks_nan_and_inf(torch, name, reduction):
    """d = 0 (l1: gradient 0, torch's sign), |d| = beta/delta exactly, NaN and inf."""
    x = np.array([1.0, 1.0, 2.0, 0.0, -1.0, 3.0, np.nan, 0.0, np.inf, 5.0])
    y = np.array([1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, np.nan, 0.0, -np.inf])
    sc_make, th_make = REGRESSION[name]
    compare_with_torch(torch, sc_make(reduction, 1.0), th_make(torch, reduction, 1.0), [x[:6], y[:6]])
    compare_with_torch(torch, sc_make(reduction, 1.0), th_make(torch, reduction, 1.0), [x, y])


@pytest.mark.parametrize("name", list(REGRESSION))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("xshape, yshape", [((4, 1), (4,)), ((3,), (2, 3)), ((2, 1, 3), (4, 1))])
def test_regression_losses_broadcast_with_torch_warning(torch, name, reduction, xshape, yshape):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(xshape) * 2, rng.standard_normal(yshape) * 2
    sc_make, th_make = REGRESSION[name]
    with pytest.warns(UserWarning, match=f"{name}: Using a target size"):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Using a target size \(torch\.Size")  # torch's own
            compare_with_torch(torch, sc_make(reduction, 1.0), th_make(torch, reduction, 1.0), [x, y])


@pytest.mark.parametrize("name", ["l1_loss", "huber_loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_weighted_l1_and_huber(torch, name, reduction):
    """torch's ``weight``: l1 "mean" divides by sum(weight), huber "mean" by the element count."""
    rng = np.random.default_rng(4)
    x, y, w = rng.standard_normal((3, 4)) * 2, rng.standard_normal((3, 4)), rng.uniform(0.1, 2, (3, 4))
    compare_with_torch(torch, lambda a, b: getattr(F, name)(a, b, reduction=reduction, weight=sc.Tensor(w)),
                       lambda a, b: getattr(tF(torch), name)(a, b, reduction=reduction, weight=torch.tensor(w)),
                       [x, y])
    with pytest.raises(ValueError, match="weight shape"):
        getattr(F, name)(sc.Tensor(x), sc.Tensor(y), weight=sc.Tensor(w[:1]))


# ---- binary cross entropy
@st.composite
def bce_problem(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, max_side=4))
    rng = np.random.default_rng(draw(SEEDS))
    x = np.asarray(rng.random(shape))
    if x.size and draw(st.booleans()):     # the clamp region and the 1e-12 floor of the input gradient
        where = np.asarray(rng.random(shape) < 0.5)
        x[where] = rng.choice([0.0, 1.0, 1e-50, 1 - 1e-15, 1e-7], size=int(where.sum()))
    y = np.asarray(rng.random(shape) if draw(st.booleans()) else (rng.random(shape) < 0.5).astype(np.float64))
    w = None
    if draw(st.booleans()):
        wshape = tuple(s if draw(st.booleans()) else 1 for s in shape)[draw(st.integers(0, len(shape))):]
        w = rng.uniform(0.1, 2.0, size=wshape)
    return x, y, w


@SETTINGS
@given(prob=bce_problem(), reduction=REDUCTIONS, grad_target=st.booleans())
def test_binary_cross_entropy(torch, prob, reduction, grad_target):
    x, y, w = prob
    compare_with_torch(
        torch,
        lambda a, b: F.binary_cross_entropy(a, b, None if w is None else sc.Tensor(w), reduction=reduction),
        lambda a, b: tF(torch).binary_cross_entropy(a, b, None if w is None else torch.tensor(w),
                                                    reduction=reduction),
        [x, y], grad_mask=[True, grad_target])


def test_binary_cross_entropy_clamps_logs_at_minus_100(torch):
    x, y = np.array([0.0, 1.0, 0.0, 1.0, 1e-300]), np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    out = F.binary_cross_entropy(sc.Tensor(x), sc.Tensor(y), reduction="none").data
    assert np.array_equal(out, [100.0, 100.0, 0.0, 0.0, 100.0])
    compare_with_torch(torch, lambda a, b: F.binary_cross_entropy(a, b, reduction="sum"),
                       lambda a, b: tF(torch).binary_cross_entropy(a, b, reduction="sum"), [x, y])


@pytest.mark.parametrize("x, y, match", [
    ([0.5, 1.5], [0.0, 1.0], "input should be between 0 and 1"),
    ([-0.1, 0.5], [0.0, 1.0], "input should be between 0 and 1"),
    ([np.nan, 0.5], [0.0, 1.0], "input should be between 0 and 1"),
    ([0.5, 0.5], [0.0, 1.2], "target should be between 0 and 1"),
    ([0.5, 0.5], [np.nan, 1.0], "target should be between 0 and 1"),
])
def test_binary_cross_entropy_out_of_range_raises_like_torch(torch, x, y, match):
    with pytest.raises(RuntimeError, match=match.split(" should")[0].join(["all elements of ", ""])):
        tF(torch).binary_cross_entropy(torch.tensor(x), torch.tensor(y))
    with pytest.raises(ValueError, match=match):
        F.binary_cross_entropy(sc.Tensor(np.array(x)), sc.Tensor(np.array(y)))


def test_binary_cross_entropy_shape_errors(torch):
    x, y = sc.Tensor(np.full((1, 2), 0.5)), sc.Tensor(np.full((2,), 0.5))
    with pytest.raises(ValueError, match="target size"):
        tF(torch).binary_cross_entropy(torch.full((1, 2), 0.5), torch.full((2,), 0.5))
    with pytest.raises(ValueError, match="target size"):
        F.binary_cross_entropy(x, y)
    with pytest.raises(ValueError, match="weight of shape"):
        F.binary_cross_entropy(sc.Tensor(np.full((2, 2), 0.5)), sc.Tensor(np.full((2, 2), 0.5)),
                               sc.Tensor(np.ones((1, 2, 2))))


# ---- KL divergence
@st.composite
def kl_problem(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, max_side=4))
    rng = np.random.default_rng(draw(SEEDS))
    x = np.log(np.asarray(rng.random(shape)) + 1e-3)
    y = np.asarray(rng.random(shape))
    if y.size and draw(st.booleans()):
        y[rng.random(shape) < 0.3] = 0.0                     # xlogy(0, 0) = 0; torch's target gradient is NaN
    if draw(st.booleans()):                                  # a target that broadcasts (silently in torch)
        keep = draw(st.integers(0, len(shape)))
        y = y[(0,) * keep] if keep else y
    return x, y


@SETTINGS
@given(prob=kl_problem(), reduction=st.sampled_from(["mean", "sum", "none", "batchmean"]),
       log_target=st.booleans(), grad_target=st.booleans())
def test_kl_div(torch, prob, reduction, log_target, grad_target):
    x, y = prob
    if log_target:
        with np.errstate(divide="ignore"):
            y = np.log(y)                                    # zeros become -inf (torch: NaN there)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*'mean' divides the total loss")
        compare_with_torch(
            torch,
            lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target),
            lambda a, b: tF(torch).kl_div(a, b, reduction=reduction, log_target=log_target),
            [x, y], grad_mask=[True, grad_target])


def test_kl_div_edges_like_torch(torch):
    """NaN/-inf inputs, negative targets (NaN), a 0-d batchmean (sum), an empty batch (NaN, as 0/0)."""
    x = np.array([0.0, -1.0, np.nan, -np.inf, -2.0, -1.0])
    y = np.array([0.0, 0.5, 0.5, 0.0, -0.5, 1.0])
    for reduction in ("none", "sum", "batchmean"):
        for log_target in (False, True):
            compare_with_torch(torch, lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target),
                               lambda a, b: tF(torch).kl_div(a, b, reduction=reduction, log_target=log_target),
                               [x, y])
    compare_with_torch(torch, lambda a, b: F.kl_div(a, b, reduction="batchmean"),
                       lambda a, b: tF(torch).kl_div(a, b, reduction="batchmean"), [np.array(-1.0), np.array(0.5)])
    empty = F.kl_div(sc.Tensor(np.zeros((0, 3))), sc.Tensor(np.zeros((0, 3))), reduction="batchmean")
    assert np.isnan(empty.item())


def test_kl_div_mean_warns_like_torch_and_batchmean_does_not(torch):
    x, y = sc.Tensor(np.log(np.full((2, 3), 1 / 3))), sc.Tensor(np.full((2, 3), 1 / 3))
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        tF(torch).kl_div(torch.tensor(x.data), torch.tensor(y.data))
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        F.kl_div(x, y)
    with pytest.warns(UserWarning, match="'batchmean'"):
        nn.KLDivLoss()(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert F.kl_div(x, y, reduction="batchmean").item() == pytest.approx(0.0, abs=1e-15)
        F.kl_div(x, sc.Tensor(np.full((1, 3), 1 / 3)), reduction="sum")       # broadcasting: silent


# ---- all losses: float32, finite differences, errors, modules
LOSSES = {
    "l1_loss": (lambda a, b: F.l1_loss(a, b), lambda T, a, b: tF(T).l1_loss(a, b)),
    "smooth_l1_loss": (lambda a, b: F.smooth_l1_loss(a, b, beta=0.5),
                       lambda T, a, b: tF(T).smooth_l1_loss(a, b, beta=0.5)),
    "huber_loss": (lambda a, b: F.huber_loss(a, b, delta=0.5), lambda T, a, b: tF(T).huber_loss(a, b, delta=0.5)),
    "binary_cross_entropy": (lambda a, b: F.binary_cross_entropy(a, b),
                             lambda T, a, b: tF(T).binary_cross_entropy(a, b)),
    "kl_div": (lambda a, b: F.kl_div(a, b, reduction="batchmean"),
               lambda T, a, b: tF(T).kl_div(a, b, reduction="batchmean")),
    "kl_div_log_target": (lambda a, b: F.kl_div(a, b, reduction="sum", log_target=True),
                          lambda T, a, b: tF(T).kl_div(a, b, reduction="sum", log_target=True)),
}


def _loss_inputs(name, shape, seed):
    rng = np.random.default_rng(seed)
    if name == "binary_cross_entropy":
        return rng.uniform(0.05, 0.95, shape), rng.uniform(0.05, 0.95, shape)
    if name.startswith("kl_div"):
        return np.log(rng.uniform(0.05, 1, shape)), rng.uniform(0.05, 1, shape)
    x, y = rng.standard_normal(shape) * 2, rng.standard_normal(shape) * 2
    return x, y


@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_float32_forward(torch, name):
    x, y = _loss_inputs(name, (5, 7), 0)
    x, y = x.astype(np.float32), y.astype(np.float32)
    if name == "kl_div_log_target":
        y = np.log(y)
    out = LOSSES[name][0](sc.Tensor(x), sc.Tensor(y))
    ref = LOSSES[name][1](torch, torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, ref.numpy(), rtol=RTOL32, atol=ATOL32)


@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_finite_differences(name):
    """Gradients in input and target against central differences, away from the kinks (no torch)."""
    x, y = _loss_inputs(name, (3, 4), 1)
    if name in ("l1_loss", "smooth_l1_loss", "huber_loss"):
        d = x - y
        x[np.abs(np.abs(d) - 0.5) < 1e-3] += 0.01
        x[np.abs(d) < 1e-3] += 0.01
    finite_difference_check(LOSSES[name][0], [x, y])


@pytest.mark.parametrize("name", ["l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy", "kl_div"])
def test_loss_reduction_and_shape_errors(torch, name):
    x, y = sc.Tensor(np.full((2, 3), 0.5)), sc.Tensor(np.full((2, 3), 0.5))
    for bad in ("bogus", "batchmean", "elementwise_mean"):
        if name == "kl_div" and bad == "batchmean":
            continue
        with pytest.raises(ValueError, match="reduction"):
            getattr(F, name)(x, y, reduction=bad)
        if bad != "elementwise_mean":       # torch still takes its deprecated alias of "mean" (with a warning)
            with pytest.raises(ValueError, match="not a valid value for reduction"):
                getattr(tF(torch), name)(torch.tensor(x.data), torch.tensor(y.data), reduction=bad)
    if name != "binary_cross_entropy":
        with pytest.raises(RuntimeError, match="must match the size"), warnings.catch_warnings():
            warnings.simplefilter("ignore")            # torch warns about the sizes, then fails
            getattr(tF(torch), name)(torch.ones(2, 3), torch.ones(2, 2))
        with pytest.raises(ValueError, match=r"input shape \(2, 3\) and target shape \(2, 2\)"):
            getattr(F, name)(x, sc.Tensor(np.ones((2, 2))))
    with pytest.raises(TypeError, match="floating point"):
        getattr(F, name)(sc.Tensor(np.ones((2, 3), dtype=np.int64)), y)


def test_loss_parameter_errors(torch):
    x = sc.Tensor(np.zeros(3))
    with pytest.raises(ValueError, match="negative values for beta"):
        F.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(RuntimeError, match="negative values for beta"):
        tF(torch).smooth_l1_loss(torch.zeros(3), torch.zeros(3), beta=-1.0)
    for delta in (0.0, -1.0):
        with pytest.raises(ValueError, match="non-positive values for delta"):
            F.huber_loss(x, x, delta=delta)
        with pytest.raises(RuntimeError, match="non-positive values for delta"):
            tF(torch).huber_loss(torch.zeros(3), torch.zeros(3), delta=delta)


def test_empty_mean_is_nan_like_torch(torch):
    e = np.zeros((0, 3))
    for name in ("l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy"):
        assert np.isnan(getattr(F, name)(sc.Tensor(e), sc.Tensor(e)).item())
        assert np.isnan(getattr(tF(torch), name)(torch.tensor(e), torch.tensor(e)).item())


LOSS_MODULES = [("L1Loss", {}), ("L1Loss", {"reduction": "sum"}), ("SmoothL1Loss", {"beta": 0.3}),
                ("SmoothL1Loss", {"reduction": "none"}), ("HuberLoss", {"delta": 0.4}),
                ("HuberLoss", {"reduction": "sum", "delta": 2.0}), ("BCELoss", {}),
                ("BCELoss", {"weight": [0.5, 2.0, 1.0]}), ("BCELoss", {"reduction": "none"}),
                ("KLDivLoss", {"reduction": "batchmean"}), ("KLDivLoss", {"reduction": "sum", "log_target": True}),
                ("KLDivLoss", {"reduction": "none"})]


@pytest.mark.parametrize("name, kwargs", LOSS_MODULES, ids=lambda v: str(v))
def test_loss_modules_match_torch(torch, name, kwargs):
    tkw = {k: torch.tensor(v) if k == "weight" else v for k, v in kwargs.items()}
    skw = {k: np.array(v) if k == "weight" else v for k, v in kwargs.items()}
    m, ref = getattr(nn, name)(**skw), getattr(torch.nn, name)(**tkw)
    fname = {"L1Loss": "l1_loss", "SmoothL1Loss": "smooth_l1_loss", "HuberLoss": "huber_loss",
             "BCELoss": "binary_cross_entropy", "KLDivLoss": "kl_div"}[name]
    x, y = _loss_inputs(fname, (4, 3), 2)
    if kwargs.get("log_target"):
        y = np.log(y)
    compare_with_torch(torch, m, ref, [x, y])
    if not kwargs or kwargs.get("reduction", "mean") == "mean":
        assert repr(m) == repr(ref) == f"{name}()"
    if "weight" in kwargs:
        assert list(m.state_dict()) == list(ref.state_dict()) == ["weight"]


def test_loss_module_reduction_errors():
    for name in ("L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss"):
        with pytest.raises(ValueError, match="reduction"):
            getattr(nn, name)(reduction="batchmean")
    with pytest.raises(ValueError, match="reduction"):
        nn.KLDivLoss(reduction="bogus")
    assert nn.KLDivLoss(reduction="batchmean").reduction == "batchmean"
