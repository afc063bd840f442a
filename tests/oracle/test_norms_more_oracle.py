"""layer_norm, group_norm, instance_norm, local_response_norm and their modules vs PyTorch.

* float64, the repo's tolerances (RTOL/ATOL of ``oracle.helpers``): forward and the gradients of input, weight and
  bias over hypothesis-drawn shapes, groups, eps and affine on/off (weight only, bias only, both, none);
  channels-last (strided) inputs as convolutions produce them.
* ``instance_norm`` running statistics (functional, and ``nn.InstanceNorm1d/2d`` over several training steps
  then eval, momentum 0.1 / 0.5 / None, unbatched inputs).
* ``local_response_norm`` with even and odd sizes (the window leans back for even sizes), sizes beyond C, ranks
  3 to 5.
* central differences (no torch), float32 forwards against torch's float32, module repr / state_dict / parameter
  gradients like torch, errors.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import scratchcnn as sc
import scratchcnn.functional as F
from scratchcnn import nn
from oracle.helpers import ATOL, RTOL, compare_with_torch, finite_difference_check

SETTINGS = settings(max_examples=25, deadline=None)
SEEDS = st.integers(0, 2 ** 31 - 1)
AFFINE = st.sampled_from(["both", "weight", "bias", "none"])
EPS = st.sampled_from([1e-5, 1e-3, 0.5])
# float32: torch and NumPy sum in different orders (a few ulps on O(1) normalised values)
RTOL32, ATOL32 = 1e-5, 1e-6


def _close(a, b, msg):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=msg)


def _affine_fns(affine: str, sc_op, th_op, x, w, b):
    """(arrays, sc_fn, torch_fn) passing weight and/or bias as tensors (or None) to ``op(x, weight, bias)``."""
    if affine == "both":
        return [x, w, b], lambda xx, ww, bb: sc_op(xx, ww, bb), lambda xx, ww, bb: th_op(xx, ww, bb)
    if affine == "weight":
        return [x, w], lambda xx, ww: sc_op(xx, ww, None), lambda xx, ww: th_op(xx, ww, None)
    if affine == "bias":
        return [x, b], lambda xx, bb: sc_op(xx, None, bb), lambda xx, bb: th_op(xx, None, bb)
    return [x], lambda xx: sc_op(xx, None, None), lambda xx: th_op(xx, None, None)


def _data(rng, shape):
    """Values with a per-tensor offset and scale so that the mean and variance matter."""
    return rng.standard_normal(shape) * rng.uniform(0.5, 3.0) + rng.uniform(-2.0, 2.0)


# ------------------------------------------------------------------------------------------ layer_norm
@st.composite
def ln_case(draw):
    lead = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=3)))
    norm = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    assume(int(np.prod(norm)) > 1 or draw(st.booleans()))   # a single normalised value: output = bias
    return lead, norm, draw(SEEDS)


@SETTINGS
@given(case=ln_case(), affine=AFFINE, eps=EPS, as_int=st.booleans())
def test_layer_norm_matches_torch(torch, case, affine, eps, as_int):
    lead, norm, seed = case
    rng = np.random.default_rng(seed)
    x, w, b = _data(rng, lead + norm), rng.standard_normal(norm), rng.standard_normal(norm)
    ns = norm[0] if as_int and len(norm) == 1 else list(norm)
    arrays, sc_fn, th_fn = _affine_fns(
        affine, lambda xx, ww, bb: F.layer_norm(xx, ns, ww, bb, eps),
        lambda xx, ww, bb: torch.nn.functional.layer_norm(xx, norm, ww, bb, eps), x, w, b)
    compare_with_torch(torch, sc_fn, th_fn, arrays, seed=seed % 1000)


# ------------------------------------------------------------------------------------------ group_norm
@st.composite
def gn_case(draw):
    G, per = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    N = draw(st.integers(1, 3))
    spatial = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=3)))
    assume(N * per * int(np.prod(spatial)) > 1)          # PyTorch refuses one value per group
    return (N, G * per) + spatial, G, draw(SEEDS)


@SETTINGS
@given(case=gn_case(), affine=AFFINE, eps=EPS)
def test_group_norm_matches_torch(torch, case, affine, eps):
    shape, G, seed = case
    rng = np.random.default_rng(seed)
    C = shape[1]
    x, w, b = _data(rng, shape), rng.standard_normal(C), rng.standard_normal(C)
    ones = torch.ones(C)   # torch 2.13's CPU group_norm backward fails with a bias but no weight: same values

    def th_op(xx, ww, bb):
        return torch.nn.functional.group_norm(xx, G, ones if ww is None and bb is not None else ww, bb, eps)
    arrays, sc_fn, th_fn = _affine_fns(affine, lambda xx, ww, bb: F.group_norm(xx, G, ww, bb, eps), th_op, x, w, b)
    compare_with_torch(torch, sc_fn, th_fn, arrays, seed=seed % 1000)


# ------------------------------------------------------------------------------------------ instance_norm
@st.composite
def in_case(draw):
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    spatial = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    assume(int(np.prod(spatial)) > 1)
    return (N, C) + spatial, draw(SEEDS)


@SETTINGS
@given(case=in_case(), affine=AFFINE, eps=EPS, use_input_stats=st.booleans(), tracked=st.booleans(),
       momentum=st.sampled_from([0.1, 0.5, 1.0, 0.0]))
def test_instance_norm_matches_torch(torch, case, affine, eps, use_input_stats, tracked, momentum):
    shape, seed = case
    assume(tracked or use_input_stats)                   # eval without running statistics is an error
    rng = np.random.default_rng(seed)
    C = shape[1]
    x, w, b = _data(rng, shape), rng.standard_normal(C), rng.standard_normal(C)
    rm0, rv0 = rng.standard_normal(C), rng.uniform(0.5, 2.0, C)
    rm_s, rv_s = (sc.Tensor(rm0.copy()), sc.Tensor(rv0.copy())) if tracked else (None, None)
    rm_t, rv_t = (torch.tensor(rm0.copy()), torch.tensor(rv0.copy())) if tracked else (None, None)
    arrays, sc_fn, th_fn = _affine_fns(
        affine, lambda xx, ww, bb: F.instance_norm(xx, rm_s, rv_s, ww, bb, use_input_stats, momentum, eps),
        lambda xx, ww, bb: torch.nn.functional.instance_norm(xx, rm_t, rv_t, ww, bb, use_input_stats, momentum,
                                                             eps), x, w, b)
    compare_with_torch(torch, sc_fn, th_fn, arrays, seed=seed % 1000)
    if tracked:
        _close(rm_s.data, rm_t.numpy(), "running_mean")
        _close(rv_s.data, rv_t.numpy(), "running_var")
        if not use_input_stats or momentum == 0.0:
            np.testing.assert_array_equal(rm_s.data, rm0)


# ------------------------------------------------------------------------------------------ strided inputs
@pytest.mark.parametrize("op", ["layer_norm", "group_norm", "instance_norm"])
def test_channels_last_input_and_gradient(torch, op):
    """(N, C, H, W) views of (N, H, W, C) memory (what conv returns), and a strided output gradient."""
    rng = np.random.default_rng(3)
    x = _data(rng, (2, 4, 3, 5))
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    G = rng.standard_normal((2, 4, 3, 5))
    strided = np.moveaxis(np.ascontiguousarray(np.moveaxis(x, 1, -1)), -1, 1)
    g_strided = np.moveaxis(np.ascontiguousarray(np.moveaxis(G, 1, -1)), -1, 1)
    assert not strided.flags.c_contiguous and not g_strided.flags.c_contiguous
    fns = {"layer_norm": (lambda t, ww, bb: F.layer_norm(t, (3, 5)),
                          lambda t, ww, bb: torch.nn.functional.layer_norm(t, (3, 5))),
           "group_norm": (lambda t, ww, bb: F.group_norm(t, 2, ww, bb),
                          lambda t, ww, bb: torch.nn.functional.group_norm(t, 2, ww, bb)),
           "instance_norm": (lambda t, ww, bb: F.instance_norm(t, weight=ww, bias=bb),
                             lambda t, ww, bb: torch.nn.functional.instance_norm(t, weight=ww, bias=bb))}
    sc_fn, th_fn = fns[op]
    xs, ws, bs = (sc.Tensor(a, requires_grad=True) for a in (strided, w.copy(), b.copy()))
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x.copy(), w.copy(), b.copy()))
    ys, yt = sc_fn(xs, ws, bs), th_fn(xt, wt, bt)
    _close(ys.data, yt.detach().numpy(), "forward")
    ys.backward(g_strided)
    yt.backward(torch.tensor(G))
    _close(xs.grad, xt.grad.numpy(), "input grad")
    if op != "layer_norm":
        _close(ws.grad, wt.grad.numpy(), "weight grad")
        _close(bs.grad, bt.grad.numpy(), "bias grad")
    np.testing.assert_array_equal(strided, x)         # the input is never written to


# ------------------------------------------------------------------------------------------ local_response_norm
@st.composite
def lrn_case(draw):
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 7))
    spatial = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    size = draw(st.integers(1, 9))
    return (N, C) + spatial, size, draw(SEEDS)


@SETTINGS
@given(case=lrn_case(), alpha=st.sampled_from([1e-4, 0.3, 2.0]), beta=st.sampled_from([0.75, 0.5, 1.7]),
       k=st.sampled_from([1.0, 2.0, 0.5]))
def test_local_response_norm_matches_torch(torch, case, alpha, beta, k):
    shape, size, seed = case
    x = _data(np.random.default_rng(seed), shape)
    compare_with_torch(torch, lambda t: F.local_response_norm(t, size, alpha, beta, k),
                       lambda t: torch.nn.functional.local_response_norm(t, size, alpha, beta, k), [x],
                       seed=seed % 1000)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6])
def test_local_response_norm_even_and_odd_windows(torch, size):
    """One non-zero channel: its square reaches exactly the channels whose window holds it (lean back for
    even sizes, as PyTorch's padding (size // 2, (size - 1) // 2)); then a full comparison."""
    x = np.zeros((1, 8, 1, 2))
    x[0, 4] = 3.0
    x[0, :, 0, 1] = np.arange(8) - 3.5
    ys = F.local_response_norm(sc.Tensor(x), size, alpha=1.0, beta=1.0, k=1.0).data
    yt = torch.nn.functional.local_response_norm(torch.tensor(x), size, alpha=1.0, beta=1.0, k=1.0).numpy()
    _close(ys, yt, f"size {size}")
    touched = sorted(np.nonzero(np.abs(ys[0, :, 0, 0] - x[0, :, 0, 0]) > 0)[0].tolist())
    assert touched == [4]                                  # only channel 4 is non-zero in column 0
    compare_with_torch(torch, lambda t: F.local_response_norm(t, size, 0.7, 0.8, 1.2),
                       lambda t: torch.nn.functional.local_response_norm(t, size, 0.7, 0.8, 1.2),
                       [np.random.default_rng(size).standard_normal((2, 8, 3, 2))])


def test_local_response_norm_empty_input_is_returned():
    x = sc.Tensor(np.zeros((0, 3, 4)))
    assert F.local_response_norm(x, 3) is x


# ------------------------------------------------------------------------------------------ finite differences
@pytest.mark.parametrize("name", ["layer_norm", "group_norm", "instance_norm", "local_response_norm"])
def test_finite_differences(name):
    rng = np.random.default_rng(7)
    x = _data(rng, (2, 4, 3))
    w, b = rng.uniform(0.5, 1.5, 4), rng.standard_normal(4)
    w3, b3 = rng.uniform(0.5, 1.5, (4, 3)), rng.standard_normal((4, 3))
    cases = {
        "layer_norm": (lambda a, c, d: F.layer_norm(a, (4, 3), c, d, 1e-3), [x, w3, b3]),
        "group_norm": (lambda a, c, d: F.group_norm(a, 2, c, d, 1e-3), [x, w, b]),
        "instance_norm": (lambda a, c, d: F.instance_norm(a, weight=c, bias=d, eps=1e-3), [x, w, b]),
        "local_response_norm": (lambda a: F.local_response_norm(a, 2, 0.5, 0.75, 1.0), [x]),
    }
    fn, arrays = cases[name]
    finite_difference_check(fn, arrays)


# ------------------------------------------------------------------------------------------ float32
@pytest.mark.parametrize("name", ["layer_norm", "group_norm", "instance_norm", "local_response_norm"])
def test_float32_forward_close_to_torch(torch, name):
    rng = np.random.default_rng(11)
    x = _data(rng, (4, 6, 7, 9)).astype(np.float32)
    w, b = rng.standard_normal(6).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    wl, bl = rng.standard_normal((7, 9)).astype(np.float32), rng.standard_normal((7, 9)).astype(np.float32)
    tf = torch.nn.functional
    ops = {
        "layer_norm": (lambda t, tw, tb: F.layer_norm(t, (7, 9), tw, tb),
                       lambda t, tw, tb: tf.layer_norm(t, (7, 9), tw, tb), (wl, bl)),
        "group_norm": (lambda t, tw, tb: F.group_norm(t, 3, tw, tb), lambda t, tw, tb: tf.group_norm(t, 3, tw, tb),
                       (w, b)),
        "instance_norm": (lambda t, tw, tb: F.instance_norm(t, weight=tw, bias=tb),
                          lambda t, tw, tb: tf.instance_norm(t, weight=tw, bias=tb), (w, b)),
        "local_response_norm": (lambda t, tw, tb: F.local_response_norm(t, 4, 0.1, 0.75, 1.0),
                                lambda t, tw, tb: tf.local_response_norm(t, 4, 0.1, 0.75, 1.0), (w, b)),
    }
    sc_op, th_op, (pw, pb) = ops[name]
    out = sc_op(sc.Tensor(x, requires_grad=True), sc.Tensor(pw), sc.Tensor(pb))
    ref = th_op(torch.tensor(x, dtype=torch.float32), torch.tensor(pw, dtype=torch.float32),
                torch.tensor(pb, dtype=torch.float32))
    assert out.dtype == np.float32 and ref.dtype == torch.float32
    np.testing.assert_allclose(out.data, ref.numpy(), rtol=RTOL32, atol=ATOL32)
    out.backward(np.ones(out.shape, dtype=np.float32))     # the float32 backward runs and stays float32


# ------------------------------------------------------------------------------------------ modules
def _module_step(torch, sc_mod, th_mod, x: np.ndarray, seed: int, msg: str):
    """One forward + backward of both modules (same input and cotangent); compare output and every gradient."""
    xs = sc.Tensor(x.copy(), requires_grad=True)
    xt = torch.tensor(x.copy(), requires_grad=True)
    ys, yt = sc_mod(xs), th_mod(xt)
    _close(ys.data, yt.detach().numpy(), f"forward {msg}")
    G = np.random.default_rng(seed).standard_normal(yt.shape)
    ys.backward(G)
    yt.backward(torch.tensor(G))
    _close(xs.grad, xt.grad.numpy(), f"input grad {msg}")
    th_params = dict(th_mod.named_parameters())
    assert [n for n, _ in sc_mod.named_parameters()] == list(th_params)
    for name, p in sc_mod.named_parameters():
        _close(p.grad, th_params[name].grad.numpy(), f"grad of {name} {msg}")
        p.grad = None
        th_params[name].grad = None


def _from_torch(sc_mod, th_mod):
    sc_mod.double()
    sc_mod.load_state_dict(th_mod.state_dict())
    return sc_mod


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("track, momentum", [(True, 0.1), (True, 0.5), (True, None), (False, 0.1)])
def test_instance_norm_modules_over_training_steps_then_eval(torch, dims, affine, track, momentum):
    rng = np.random.default_rng(dims * 10 + affine)
    C = 3
    th = getattr(torch.nn, f"InstanceNorm{dims}d")(C, eps=1e-4, momentum=momentum, affine=affine,
                                                   track_running_stats=track)
    if affine:
        with torch.no_grad():
            th.weight.copy_(torch.tensor(rng.uniform(0.5, 1.5, C)))
            th.bias.copy_(torch.tensor(rng.standard_normal(C)))
    m = _from_torch(getattr(nn, f"InstanceNorm{dims}d")(C, eps=1e-4, momentum=momentum, affine=affine,
                                                        track_running_stats=track), th)
    spatial = (5,) if dims == 1 else (4, 3)
    for step in range(4):
        x = _data(rng, (2, C) + spatial)
        _module_step(torch, m, th, x, step, f"train step {step}")
        if track:
            _close(m.running_mean.data, th.running_mean.numpy(), f"running_mean after step {step}")
            _close(m.running_var.data, th.running_var.numpy(), f"running_var after step {step}")
            assert int(m.num_batches_tracked.data) == int(th.num_batches_tracked) == 0   # torch never counts
    _module_step(torch, m, th, _data(rng, (C,) + spatial), 9, "unbatched train")
    m.eval()
    th.eval()
    for i, shape in enumerate([(3, C) + spatial, (C,) + spatial]):
        _module_step(torch, m, th, _data(rng, shape), 20 + i, f"eval {shape}")
    if track and momentum is not None:
        assert not np.allclose(m.running_mean.data, 0.0)    # the statistics did move (eval used them)


@pytest.mark.parametrize("make", [
    lambda nn_: nn_.LayerNorm([3, 4]), lambda nn_: nn_.LayerNorm(4, eps=1e-3, bias=False),
    lambda nn_: nn_.LayerNorm(4, elementwise_affine=False),
    lambda nn_: nn_.GroupNorm(2, 6), lambda nn_: nn_.GroupNorm(3, 6, eps=0.1, affine=False),
    lambda nn_: nn_.GroupNorm(1, 6, bias=False),
])
def test_layer_and_group_norm_modules(torch, make):
    rng = np.random.default_rng(5)
    th, m = make(torch.nn), make(nn)
    assert repr(m) == repr(th)
    assert list(m.state_dict()) == list(th.state_dict())
    for (k, v), (_, tv) in zip(m.state_dict().items(), th.state_dict().items()):
        assert tuple(v.shape) == tuple(tv.shape), k
        np.testing.assert_array_equal(np.asarray(v), tv.numpy())      # default init: ones and zeros
    with torch.no_grad():
        for p in th.parameters():
            p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape))))
    _from_torch(m, th)
    x = _data(rng, (2, 6, 3, 4))
    _module_step(torch, m, th, x, 1, repr(th))
    m.eval()
    th.eval()
    _module_step(torch, m, th, x[:1], 2, repr(th) + " in eval")


def test_reprs_and_state_dicts_match_torch(torch):
    for make in (lambda nn_: nn_.InstanceNorm1d(3), lambda nn_: nn_.InstanceNorm2d(4, affine=True),
                 lambda nn_: nn_.InstanceNorm2d(4, momentum=None, track_running_stats=True),
                 lambda nn_: nn_.InstanceNorm1d(2, eps=1e-3, affine=True, bias=False, track_running_stats=True),
                 lambda nn_: nn_.InstanceNorm3d(2, affine=True),
                 lambda nn_: nn_.LocalResponseNorm(2),
                 lambda nn_: nn_.LocalResponseNorm(5, alpha=1e-3, beta=0.5, k=2.0)):
        th, m = make(torch.nn), make(nn)
        assert repr(m) == repr(th)
        sd, tsd = m.state_dict(), th.state_dict()
        assert list(sd) == list(tsd)
        for k in sd:
            np.testing.assert_array_equal(np.asarray(sd[k]), tsd[k].numpy(), err_msg=k)
        m.load_state_dict(tsd)                          # torch's state loads into ours


def test_local_response_norm_module_and_instance_norm_3d(torch):
    rng = np.random.default_rng(2)
    _module_step(torch, nn.LocalResponseNorm(4, 0.3, 0.6, 1.5), torch.nn.LocalResponseNorm(4, 0.3, 0.6, 1.5),
                 _data(rng, (2, 7, 3, 3)), 0, "LocalResponseNorm")
    th = torch.nn.InstanceNorm3d(2, affine=True, track_running_stats=True)
    m = _from_torch(nn.InstanceNorm3d(2, affine=True, track_running_stats=True), th)
    _module_step(torch, m, th, _data(rng, (2, 2, 2, 3, 2)), 1, "InstanceNorm3d")
    _close(m.running_var.data, th.running_var.numpy(), "InstanceNorm3d running_var")


def test_instance_norm_unused_num_features_warns_like_torch():
    m = nn.InstanceNorm1d(5)                            # affine=False, no running stats: num_features unused
    with pytest.warns(UserWarning, match="does not match num_features"):
        y = m(sc.Tensor(np.random.default_rng(0).standard_normal((2, 3, 4))))
    assert y.shape == (2, 3, 4)


def test_default_dtype_and_float64_modules():
    x32 = sc.Tensor(np.random.default_rng(0).standard_normal((2, 4, 3)).astype(np.float32))
    for m in (nn.LayerNorm(3), nn.GroupNorm(2, 4), nn.InstanceNorm1d(4, affine=True, track_running_stats=True),
              nn.LocalResponseNorm(3)):
        assert all(p.dtype == np.float32 for p in m.parameters())
        assert m(x32).dtype == np.float32
        assert m.double()(sc.Tensor(x32.data.astype(np.float64))).dtype == np.float64


def test_empty_batch(torch):
    x = np.zeros((0, 4, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for sc_fn, th_fn in ((lambda t: F.layer_norm(t, 3), lambda t: torch.nn.functional.layer_norm(t, (3,))),
                             (lambda t: F.group_norm(t, 2), lambda t: torch.nn.functional.group_norm(t, 2))):
            out = sc_fn(sc.Tensor(x))
            assert out.shape == tuple(th_fn(torch.tensor(x)).shape) == (0, 4, 3)


# ------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("call, match", [
    (lambda: nn.GroupNorm(4, 6), r"num_channels \(6\) must be divisible by num_groups \(4\)"),
    (lambda: nn.GroupNorm(0, 6), "num_groups must be a positive int"),
    (lambda: F.group_norm(sc.Tensor(np.zeros((2, 6, 3))), 4), r"channels \(6\) must be divisible by num_groups \(4\)"),
    (lambda: F.group_norm(sc.Tensor(np.zeros((2, 6, 3))), 3, sc.Tensor(np.ones(3))), r"weight must have shape \(6,\)"),
    (lambda: F.group_norm(sc.Tensor(np.zeros((1, 2))), 2), "more than 1 value per channel"),
    (lambda: F.group_norm(sc.Tensor(np.zeros(6)), 2), "at least 2 dimensions"),
    (lambda: nn.GroupNorm(2, 6)(sc.Tensor(np.zeros((2, 4, 3)))), r"expected input \(N, 6, \*\)"),
    (lambda: F.layer_norm(sc.Tensor(np.zeros((2, 3, 4))), (3,)), r"normalized_shape \(3,\) must match the trailing"),
    (lambda: F.layer_norm(sc.Tensor(np.zeros(4)), (2, 4)), "must match the trailing dims"),
    (lambda: F.layer_norm(sc.Tensor(np.zeros((2, 4))), 4, bias=sc.Tensor(np.zeros(3))), r"bias must have shape \(4,\)"),
    (lambda: F.layer_norm(sc.Tensor(np.zeros((2, 4))), []), "at least one dimension"),
    (lambda: nn.LayerNorm(4)(sc.Tensor(np.zeros((2, 5)))), "must match the trailing dims"),
    (lambda: F.instance_norm(sc.Tensor(np.zeros((2, 3, 1)))), "more than 1 spatial element"),
    (lambda: F.instance_norm(sc.Tensor(np.zeros((2, 3, 4))), use_input_stats=False), "needs running_mean"),
    (lambda: F.instance_norm(sc.Tensor(np.zeros((2, 3, 4))), sc.Tensor(np.zeros(2)), sc.Tensor(np.ones(2))),
     r"shape \(3,\)"),
    (lambda: F.instance_norm(sc.Tensor(np.zeros((2, 3, 4))), sc.Tensor(np.zeros(3))), "both be given"),
    (lambda: nn.InstanceNorm2d(3)(sc.Tensor(np.zeros((2, 3)))), "expected 3D or 4D input"),
    (lambda: nn.InstanceNorm1d(3)(sc.Tensor(np.zeros((2, 3, 4, 4)))), "expected 2D or 3D input"),
    (lambda: nn.InstanceNorm1d(4, affine=True)(sc.Tensor(np.zeros((2, 3, 4)))), "match num_features"),
    (lambda: nn.InstanceNorm1d(4, track_running_stats=True)(sc.Tensor(np.zeros((2, 3, 4)))), "match num_features"),
    (lambda: F.local_response_norm(sc.Tensor(np.zeros((2, 3))), 2), "3D or higher"),
    (lambda: F.local_response_norm(sc.Tensor(np.zeros((2, 3, 4))), 0), "size must be a positive int"),
    (lambda: nn.LocalResponseNorm(0), "size must be a positive int"),
])
def test_errors_are_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("call", [
    lambda: F.layer_norm(sc.Tensor(np.zeros((2, 4), dtype=np.int64)), 4),
    lambda: F.group_norm(np.zeros((2, 4)), 2),
    lambda: F.instance_norm(sc.Tensor(np.zeros((2, 4, 3), dtype=np.int32))),
    lambda: F.local_response_norm(sc.Tensor(np.zeros((2, 4, 3), dtype=np.int32)), 2),
])
def test_non_float_or_non_tensor_input_is_a_type_error(call):
    with pytest.raises(TypeError):
        call()
