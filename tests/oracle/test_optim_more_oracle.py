"""RMSprop / Adagrad / NAdam / Adamax and the LR schedulers added beside StepLR & co. vs torch.optim in float64.

Optimisers: 20-step trajectories of a least-squares problem with two parameter groups (per-group options),
hypothesis-randomised hyper-parameters, parameters after every step and the state at the end (same keys and
values), state_dict round trips that continue like torch, tensors bigger than a chunk / Fortran-ordered.
Schedulers: the lr sequence over 60 steps for random hyper-parameters and two groups, resumed mid-way from
state dicts (ours, and torch's loaded into ours) against an uninterrupted torch run; ReduceLROnPlateau fed the
same metric sequences (plateaus, improvements below the threshold, cooldown, min_lr, both modes and threshold
modes). Error cases raise ValueError / TypeError where torch does."""
from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
from scratchcnn import backend, nn, optim
from scratchcnn.optim import lr_scheduler as S
from oracle.test_optim_oracle import _Problem  # the shared least-squares problem in both libraries

RTOL, ATOL = 1e-6, 1e-10
SETTINGS = settings(max_examples=15, deadline=None)
SEEDS = st.integers(0, 2**31 - 1)
OPTS = ("RMSprop", "Adagrad", "NAdam", "Adamax")


pytestmark = pytest.mark.usefixtures("float64_default_dtype")   # tests/oracle/conftest.py


def _build(torch, name: str, params_sc, params_th, kw: dict, groups: list[dict] | None):
    if groups is not None:
        params_sc = [dict(g, params=[p]) for g, p in zip(groups, params_sc)]
        params_th = [dict(g, params=[p]) for g, p in zip(groups, params_th)]
    return getattr(optim, name)(params_sc, **kw), getattr(torch.optim, name)(params_th, foreach=False, **kw)


def _check_state(o_sc, o_th) -> None:
    sd, sd_th = o_sc.state_dict(), o_th.state_dict()
    assert sorted(sd["state"]) == sorted(sd_th["state"])
    for i in sd_th["state"]:
        assert set(sd["state"][i]) == set(sd_th["state"][i]), i
        for key, v in sd_th["state"][i].items():
            np.testing.assert_allclose(np.asarray(sd["state"][i][key], dtype=float), v.numpy(), rtol=RTOL, atol=ATOL,
                                       err_msg=f"state {i} {key}")
    for g, g_th in zip(sd["param_groups"], sd_th["param_groups"]):
        assert g["params"] == g_th["params"]
        for key, v in g.items():          # every hyper-parameter we keep is torch's, with torch's value
            assert key in g_th, key
            assert (tuple(v) if isinstance(v, (list, tuple)) else v) == \
                (tuple(g_th[key]) if isinstance(g_th[key], (list, tuple)) else g_th[key]), key


def _trajectory(torch, seed: int, name: str, kw: dict, groups=None, steps: int = 20):
    prob = _Problem(torch, seed)
    o_sc, o_th = _build(torch, name, prob.sc_params, prob.th_params, kw, groups)
    for step in range(steps):
        prob.sc_step(o_sc)
        prob.th_step(o_th)
        prob.check(f"after step {step}")
    _check_state(o_sc, o_th)
    return prob, o_sc, o_th


# ------------------------------------------------------------------------------------------------ optimisers
@SETTINGS
@given(lr=st.floats(1e-3, 0.05), alpha=st.sampled_from([0.0, 0.3, 0.9, 0.99]), eps=st.sampled_from([1e-8, 1e-3]),
       wd=st.sampled_from([0.0, 0.05]), momentum=st.sampled_from([0.0, 0.5, 0.9]), centered=st.booleans(),
       maximize=st.booleans(), g_momentum=st.sampled_from([0.0, 0.7]), g_centered=st.booleans(), seed=SEEDS)
def test_rmsprop_trajectory(torch, lr, alpha, eps, wd, momentum, centered, maximize, g_momentum, g_centered, seed):
    if centered and alpha == 0.0:   # v - a^2 = g^2 - g^2: torch's fused kernels go slightly negative -> nan
        alpha = 0.5
    kw = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=wd, momentum=momentum, centered=centered, maximize=maximize)
    groups = [{}, {"lr": lr * 2, "momentum": g_momentum, "centered": g_centered, "alpha": 0.95}]
    _trajectory(torch, seed, "RMSprop", kw, groups)


@SETTINGS
@given(lr=st.floats(1e-3, 0.5), lr_decay=st.sampled_from([0.0, 0.01, 0.5]), wd=st.sampled_from([0.0, 0.05]),
       init=st.sampled_from([0.0, 0.1, 2.0]), eps=st.sampled_from([1e-10, 1e-3]), maximize=st.booleans(),
       g_decay=st.sampled_from([0.0, 0.2]), seed=SEEDS)
def test_adagrad_trajectory(torch, lr, lr_decay, wd, init, eps, maximize, g_decay, seed):
    kw = dict(lr=lr, lr_decay=lr_decay, weight_decay=wd, initial_accumulator_value=init, eps=eps, maximize=maximize)
    # a group's own initial_accumulator_value is ignored by torch (the constructor's is used): so here too
    groups = [{}, {"lr": lr / 2, "lr_decay": g_decay, "initial_accumulator_value": 5.0, "weight_decay": 0.1}]
    _trajectory(torch, seed, "Adagrad", kw, groups)


@SETTINGS
@given(lr=st.floats(1e-3, 0.05), b1=st.sampled_from([0.0, 0.3, 0.9]), b2=st.sampled_from([0.9, 0.999]),
       eps=st.sampled_from([1e-8, 1e-3]), wd=st.sampled_from([0.0, 0.05]), mdecay=st.sampled_from([4e-3, 0.0, 0.1]),
       decoupled=st.booleans(), maximize=st.booleans(), seed=SEEDS)
def test_nadam_trajectory(torch, lr, b1, b2, eps, wd, mdecay, decoupled, maximize, seed):
    kw = dict(lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, momentum_decay=mdecay,
              decoupled_weight_decay=decoupled, maximize=maximize)
    groups = [{}, {"lr": lr * 3, "betas": (0.8, 0.99), "weight_decay": 0.02}]
    _trajectory(torch, seed, "NAdam", kw, groups)


@SETTINGS
@given(lr=st.floats(1e-3, 0.05), b1=st.sampled_from([0.0, 0.3, 0.9]), b2=st.sampled_from([0.5, 0.9, 0.999]),
       eps=st.sampled_from([1e-8, 1e-3]), wd=st.sampled_from([0.0, 0.05]), maximize=st.booleans(), seed=SEEDS)
def test_adamax_trajectory(torch, lr, b1, b2, eps, wd, maximize, seed):
    kw = dict(lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, maximize=maximize)
    groups = [{}, {"lr": lr / 2, "betas": (0.6, 0.95)}]
    _trajectory(torch, seed, "Adamax", kw, groups)


@pytest.mark.parametrize("name", OPTS)
def test_defaults_match_torch(torch, name):
    """Default hyper-parameters: same trajectory and the same group values as torch's defaults."""
    _trajectory(torch, 5, name, {})
    p_sc, p_th = nn.Parameter(np.zeros(2)), torch.zeros(2, requires_grad=True)
    d_sc, d_th = getattr(optim, name)([p_sc]).defaults, getattr(torch.optim, name)([p_th]).defaults
    for key, v in d_sc.items():
        assert (tuple(v) if isinstance(v, tuple) else v) == (tuple(d_th[key]) if isinstance(d_th[key], tuple)
                                                             else d_th[key]), key


STATE_CASES = [("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.01)),
               ("RMSprop", dict(lr=0.02, alpha=0.9)),
               ("Adagrad", dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.3, weight_decay=0.01)),
               ("NAdam", dict(lr=0.01, weight_decay=0.05, decoupled_weight_decay=True)),
               ("NAdam", dict(lr=0.02, momentum_decay=0.05)),
               ("Adamax", dict(lr=0.02, weight_decay=0.01, betas=(0.8, 0.99)))]


@pytest.mark.parametrize("name, kw", STATE_CASES)
@pytest.mark.parametrize("source", ["scratchcnn", "torch"])
def test_state_dict_round_trip_continues_like_torch(torch, name, kw, source):
    """10 steps, then a fresh optimiser (other lr) loads the state dict (ours, or torch's tensors) and runs on:
    the same parameters as torch's uninterrupted run."""
    prob = _Problem(torch, 11)
    o_sc, o_th = _build(torch, name, prob.sc_params, prob.th_params, kw, None)
    for _ in range(10):
        prob.sc_step(o_sc)
        prob.th_step(o_th)
    _check_state(o_sc, o_th)
    sd = copy.deepcopy(o_sc.state_dict()) if source == "scratchcnn" else copy.deepcopy(o_th.state_dict())
    fresh = getattr(optim, name)(prob.sc_params, lr=123.0)
    fresh.load_state_dict(sd)
    assert fresh.param_groups[0]["lr"] == kw["lr"]
    for step in range(10):
        prob.sc_step(fresh)
        prob.th_step(o_th)
        prob.check(f"after resuming, step {10 + step}")


@pytest.mark.parametrize("name, kw", STATE_CASES)
def test_large_and_fortran_tensors(torch, name, kw):
    """A tensor larger than one chunk (updated in flat chunks, on several cores) and a Fortran-ordered one."""
    rng = np.random.default_rng(7)
    inits = [rng.standard_normal((3, 70001)), np.asfortranarray(rng.standard_normal((300, 200))), rng.standard_normal(7)]
    coefs = [rng.standard_normal(a.shape) for a in inits]
    ps = [nn.Parameter(a.copy(order="K")) for a in inits]
    assert not ps[1].data.flags.c_contiguous
    ts = [torch.tensor(a, requires_grad=True) for a in inits]
    o_sc, o_th = _build(torch, name, ps, ts, kw, None)
    for step in range(5):
        o_sc.zero_grad()
        sum((((p * sc.Tensor(c)) ** 2).sum() + p.sum()) for p, c in zip(ps, coefs)).backward()
        o_sc.step()
        o_th.zero_grad()
        sum((((t * torch.tensor(c)) ** 2).sum() + t.sum()) for t, c in zip(ts, coefs)).backward()
        o_th.step()
        for i, (p, t) in enumerate(zip(ps, ts)):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg=f"param {i} {step}")
    _check_state(o_sc, o_th)


def test_adagrad_state_exists_before_the_first_step_and_for_added_groups(torch):
    """torch creates Adagrad's state in the constructor; a group added later gets it on its first step, filled
    with the constructor's initial_accumulator_value (not the group's)."""
    prob = _Problem(torch, 2)
    o_sc = optim.Adagrad([prob.sc_params[0]], lr=0.1, initial_accumulator_value=0.4)
    o_th = torch.optim.Adagrad([prob.th_params[0]], lr=0.1, initial_accumulator_value=0.4, foreach=False)
    _check_state(o_sc, o_th)
    o_sc.add_param_group({"params": [prob.sc_params[1]], "initial_accumulator_value": 3.0, "lr_decay": 0.1})
    o_th.add_param_group({"params": [prob.th_params[1]], "initial_accumulator_value": 3.0, "lr_decay": 0.1})
    for step in range(8):
        prob.sc_step(o_sc)
        prob.th_step(o_th)
        prob.check(f"after step {step}")
    _check_state(o_sc, o_th)


def test_nadam_mu_product_in_float32_like_torchs_default(torch):
    """With float32 as the default dtype (both libraries' usual default) torch keeps mu_product in float32;
    scratchcnn rounds it the same way, so float64 parameters still follow torch's."""
    old_th = torch.get_default_dtype()
    backend.set_default_dtype(np.float32)
    torch.set_default_dtype(torch.float32)
    try:
        prob = _Problem(torch, 9)
        o_sc, o_th = _build(torch, "NAdam", prob.sc_params, prob.th_params, dict(lr=0.02), None)
        for step in range(20):
            prob.sc_step(o_sc)
            prob.th_step(o_th)
            prob.check(f"after step {step}")
        mp_sc = o_sc.state[prob.sc_params[0]]["mu_product"]
        mp_th = o_th.state[prob.th_params[0]]["mu_product"]
        assert mp_th.dtype == torch.float32 and mp_sc == mp_th.item()
    finally:
        torch.set_default_dtype(old_th)


@pytest.mark.parametrize("name", OPTS)
def test_float32_parameters_stay_float32(torch, name):
    """float32 parameters and state (as torch's float32 run, to float32 precision)."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 5)).astype(np.float32)
    p, t = nn.Parameter(a.copy()), torch.tensor(a.copy(), requires_grad=True)
    o_sc, o_th = getattr(optim, name)([p], lr=0.01), getattr(torch.optim, name)([t], lr=0.01, foreach=False)
    for _ in range(10):
        p.grad = (p.data * 2 + 1).astype(np.float32)
        t.grad = t.detach() * 2 + 1
        o_sc.step()
        o_th.step()
    assert p.dtype == np.float32
    assert all(v.dtype == np.float32 for s in o_sc.state.values() for v in s.values() if isinstance(v, np.ndarray))
    np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-5, atol=1e-6)


ERRORS = [("RMSprop", dict(lr=-0.1)), ("RMSprop", dict(lr=math.nan)), ("RMSprop", dict(eps=-1e-8)),
          ("RMSprop", dict(momentum=-0.5)), ("RMSprop", dict(weight_decay=-1.0)), ("RMSprop", dict(alpha=-0.1)),
          ("Adagrad", dict(lr=-1.0)), ("Adagrad", dict(lr_decay=-0.1)), ("Adagrad", dict(weight_decay=-0.1)),
          ("Adagrad", dict(initial_accumulator_value=-1.0)), ("Adagrad", dict(eps=-1.0)),
          ("NAdam", dict(lr=-1.0)), ("NAdam", dict(eps=-1.0)), ("NAdam", dict(betas=(1.0, 0.9))),
          ("NAdam", dict(betas=(0.9, 1.0))), ("NAdam", dict(betas=(-0.1, 0.9))), ("NAdam", dict(weight_decay=-1.0)),
          ("NAdam", dict(momentum_decay=-1e-3)),
          ("Adamax", dict(lr=-1.0)), ("Adamax", dict(eps=-1.0)), ("Adamax", dict(betas=(0.9, 1.5))),
          ("Adamax", dict(betas=(1.0, 0.9))), ("Adamax", dict(weight_decay=-0.5))]


@pytest.mark.parametrize("name, kw", ERRORS)
def test_invalid_hyper_parameters_raise_like_torch(torch, name, kw):
    with pytest.raises(ValueError):
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kw)
    with pytest.raises(ValueError, match=name):
        getattr(optim, name)([nn.Parameter(np.zeros(2))], **kw)


@pytest.mark.parametrize("name, kw", [("RMSprop", dict(lr=0.0, alpha=0.0, momentum=0.0, eps=0.0)),
                                      ("Adagrad", dict(lr=0.0, eps=0.0)), ("NAdam", dict(betas=(0.0, 0.0))),
                                      ("Adamax", dict(lr=0.0, betas=(0.0, 0.0)))])
def test_boundary_values_accepted_like_torch(torch, name, kw):
    getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kw)
    getattr(optim, name)([nn.Parameter(np.zeros(2))], **kw)


# ------------------------------------------------------------------------------------------------ schedulers
LRS = (0.1, 0.03)


class _Sched:
    """The same scheduler over SGD (two groups) in both libraries; ``build(module, opt)`` makes one."""

    def __init__(self, torch, build, lrs=LRS, opt_kw=None):
        self.torch, self.build, self.lrs, self.opt_kw = torch, build, lrs, opt_kw or {}
        self.o_sc, self.s_sc = self.make_sc()
        self.o_th = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs],
                                    **self.opt_kw)
        self.s_th = build(torch.optim.lr_scheduler, self.o_th)

    def make_sc(self, lrs=None):
        o = optim.SGD([{"params": [nn.Parameter(np.zeros(1))], "lr": lr} for lr in (lrs or self.lrs)], **self.opt_kw)
        return o, self.build(S, o)

    def check(self, where: str) -> None:
        np.testing.assert_allclose(self.s_sc.get_last_lr(), self.s_th.get_last_lr(), rtol=1e-12, atol=1e-15,
                                   err_msg=f"last lr {where}")
        for i, (g, g_th) in enumerate(zip(self.o_sc.param_groups, self.o_th.param_groups)):
            assert g["lr"] == pytest.approx(g_th["lr"], rel=1e-12, abs=1e-15), f"group {i} lr {where}"

    def step(self, *args) -> None:
        self.o_sc.step()
        self.o_th.step()
        self.s_sc.step(*args)
        self.s_th.step(*args)

    def resume(self, source: str) -> None:
        """Replace ours by a fresh optimiser + scheduler (other lrs) that load the saved state dicts."""
        o_sd = copy.deepcopy(self.o_sc.state_dict())
        if source == "torch":
            s_sd = {k: v for k, v in self.s_th.state_dict().items()}
            s_sd = copy.deepcopy(s_sd)
        else:
            s_sd = copy.deepcopy(self.s_sc.state_dict())
        self.o_sc, self.s_sc = self.make_sc(lrs=(7.0, 9.0))
        self.o_sc.load_state_dict(o_sd)
        self.s_sc.load_state_dict(s_sd)


def _compare(torch, build, steps=60, resume_at=None, source="scratchcnn", **kw):
    pair = _Sched(torch, build, **kw)
    pair.check("after construction")
    for k in range(steps):
        if k == resume_at:
            pair.resume(source)
            pair.check(f"after resuming at {k}")
        pair.step()
        pair.check(f"at step {k + 1}")
    return pair


RESUME = st.one_of(st.none(), st.integers(1, 59))
SOURCES = st.sampled_from(["scratchcnn", "torch"])


class _Decay:
    """A callable object (its __dict__ is saved by torch's lambda schedulers)."""

    def __init__(self, rate: float):
        self.rate = rate
        self.calls = 0

    def __call__(self, epoch: int) -> float:
        self.calls += 1
        return self.rate ** epoch


@settings(max_examples=10, deadline=None)
@given(a=st.floats(0.8, 0.99), b=st.floats(0.0, 0.5), per_group=st.booleans(), resume=RESUME)
def test_lambda_lr(torch, a, b, per_group, resume):
    fns = [lambda e: a ** e * (1 + b * math.sin(e)), lambda e: 1.0 / (1 + b * e)] if per_group \
        else (lambda e: a ** e * (1 + b * math.sin(e)))
    _compare(torch, lambda m, o: m.LambdaLR(o, fns), resume_at=resume)


@settings(max_examples=10, deadline=None)
@given(g1=st.floats(0.8, 1.05), g2=st.floats(0.5, 1.0), every=st.integers(1, 5), per_group=st.booleans(),
       resume=RESUME, source=SOURCES)
def test_multiplicative_lr(torch, g1, g2, every, per_group, resume, source):
    f = lambda e: g2 if e % every == 0 else g1  # noqa: E731
    fns = [f, lambda e: g1] if per_group else f
    _compare(torch, lambda m, o: m.MultiplicativeLR(o, fns), resume_at=resume, source=source)


def test_lambda_lr_state_dict_keeps_callable_objects_state(torch):
    """Plain functions are saved as None; a callable object's attributes are saved and restored (torch's rule)."""
    p = nn.Parameter(np.zeros(1))
    s = S.LambdaLR(optim.SGD([p], lr=1.0), _Decay(0.9))
    s_th = torch.optim.lr_scheduler.LambdaLR(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0),
                                             _Decay(0.9))
    for _ in range(3):
        s.optimizer.step()
        s_th.optimizer.step()
        s.step()
        s_th.step()
    sd, sd_th = s.state_dict(), s_th.state_dict()
    assert sd["lr_lambdas"] == sd_th["lr_lambdas"] == [{"rate": 0.9, "calls": 4}]
    fresh = S.LambdaLR(optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0), _Decay(0.5))
    fresh.load_state_dict(sd)
    assert fresh.lr_lambdas[0].rate == 0.9 and fresh.last_epoch == 3
    sd2 = S.LambdaLR(optim.SGD([p], lr=1.0), lambda e: 1.0).state_dict()
    assert sd2["lr_lambdas"] == [None]


@settings(max_examples=10, deadline=None)
@given(step_size=st.integers(1, 9), gamma=st.floats(0.1, 0.99), resume=RESUME, source=SOURCES)
def test_step_lr_resumed(torch, step_size, gamma, resume, source):
    _compare(torch, lambda m, o: m.StepLR(o, step_size, gamma), resume_at=resume, source=source)


@settings(max_examples=10, deadline=None)
@given(milestones=st.lists(st.integers(1, 55), min_size=1, max_size=5), gamma=st.floats(0.1, 0.9), resume=RESUME)
def test_multistep_lr_resumed(torch, milestones, gamma, resume):
    _compare(torch, lambda m, o: m.MultiStepLR(o, milestones, gamma), resume_at=resume)


@settings(max_examples=10, deadline=None)
@given(gamma=st.floats(0.8, 1.0), resume=RESUME, source=SOURCES)
def test_exponential_lr(torch, gamma, resume, source):
    _compare(torch, lambda m, o: m.ExponentialLR(o, gamma), resume_at=resume, source=source)


@settings(max_examples=10, deadline=None)
@given(start=st.floats(0.01, 1.0), end=st.floats(0.0, 1.0), total=st.integers(1, 40), resume=RESUME)
def test_linear_lr_resumed(torch, start, end, total, resume):
    _compare(torch, lambda m, o: m.LinearLR(o, start, end, total), resume_at=resume)


def test_linear_lr_defaults(torch):
    _compare(torch, lambda m, o: m.LinearLR(o), steps=10)


@settings(max_examples=10, deadline=None)
@given(factor=st.floats(0.05, 1.0), total=st.integers(0, 40), resume=RESUME, source=SOURCES)
def test_constant_lr(torch, factor, total, resume, source):
    _compare(torch, lambda m, o: m.ConstantLR(o, factor, total), resume_at=resume, source=source)


def test_constant_lr_defaults(torch):
    _compare(torch, lambda m, o: m.ConstantLR(o), steps=10)


@settings(max_examples=10, deadline=None)
@given(total=st.integers(1, 40), power=st.sampled_from([0.5, 1.0, 2.0, 3.7]), resume=RESUME)
def test_polynomial_lr(torch, total, power, resume):
    _compare(torch, lambda m, o: m.PolynomialLR(o, total, power), resume_at=resume)


@settings(max_examples=10, deadline=None)
@given(t_max=st.integers(1, 25), eta_min=st.sampled_from([0.0, 1e-4, 0.01]), resume=RESUME, source=SOURCES)
def test_cosine_annealing_lr_resumed(torch, t_max, eta_min, resume, source):
    _compare(torch, lambda m, o: m.CosineAnnealingLR(o, t_max, eta_min), resume_at=resume, source=source)


@settings(max_examples=15, deadline=None)
@given(t0=st.integers(1, 12), t_mult=st.integers(1, 3), eta_min=st.sampled_from([0.0, 1e-3, 0.02]), resume=RESUME,
       source=SOURCES)
def test_cosine_annealing_warm_restarts(torch, t0, t_mult, eta_min, resume, source):
    _compare(torch, lambda m, o: m.CosineAnnealingWarmRestarts(o, t0, t_mult, eta_min), resume_at=resume,
             source=source)


@settings(max_examples=10, deadline=None)
@given(t0=st.integers(1, 6), t_mult=st.integers(1, 3), iters=st.integers(1, 7))
def test_cosine_annealing_warm_restarts_fractional_epochs(torch, t0, t_mult, iters):
    """Per-batch use: ``step(epoch + i / iters)`` (torch's documented pattern), then plain steps."""
    pair = _Sched(torch, lambda m, o: m.CosineAnnealingWarmRestarts(o, t0, t_mult, eta_min=1e-3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in range(12):
            for i in range(iters):
                pair.step(epoch + i / iters)
                pair.check(f"at epoch {epoch} + {i}/{iters}")
                assert pair.s_sc.T_cur == pytest.approx(pair.s_th.T_cur, rel=1e-12, abs=1e-12)
                assert pair.s_sc.T_i == pair.s_th.T_i and pair.s_sc.last_epoch == pair.s_th.last_epoch
    for k in range(10):
        pair.step()
        pair.check(f"plain step {k}")


SEQ_KINDS = ["warmup-cosine", "constant-exp-step", "linear-multistep", "lambda-warmrestarts", "nested"]


def _sequential(kind: str, m, o, milestones):
    if kind == "warmup-cosine":
        return m.SequentialLR(o, [m.LinearLR(o, 0.1, 1.0, 5), m.CosineAnnealingLR(o, 20, 1e-4)], milestones[:1])
    if kind == "constant-exp-step":
        return m.SequentialLR(o, [m.ConstantLR(o, 0.3, 4), m.ExponentialLR(o, 0.9), m.StepLR(o, 3, 0.5)],
                              milestones[:2])
    if kind == "linear-multistep":
        return m.SequentialLR(o, [m.LinearLR(o, 0.5, 1.0, 3), m.MultiStepLR(o, [5, 12, 12], 0.5)], milestones[:1])
    if kind == "lambda-warmrestarts":
        return m.SequentialLR(o, [m.LambdaLR(o, lambda e: (e + 1) / 4), m.CosineAnnealingWarmRestarts(o, 5, 2)],
                              milestones[:1])
    # a ChainedScheduler child only works first (torch's milestone restart calls its missing get_lr)
    inner = m.ChainedScheduler([m.ExponentialLR(o, 0.95), m.ConstantLR(o, 0.5, 6)])
    return m.SequentialLR(o, [inner, m.ExponentialLR(o, 0.9)], milestones[:1])


@settings(max_examples=20, deadline=None)
@given(kind=st.sampled_from(SEQ_KINDS), milestones=st.lists(st.integers(1, 45), min_size=2, max_size=2, unique=True),
       resume=RESUME, source=SOURCES)
def test_sequential_lr(torch, kind, milestones, resume, source):
    milestones = sorted(milestones)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # torch warns about children stepped before optimizer.step()
        _compare(torch, lambda m, o: _sequential(kind, m, o, milestones), resume_at=resume, source=source)


@settings(max_examples=10, deadline=None)
@given(gamma=st.floats(0.8, 0.99), factor=st.floats(0.1, 1.0), total=st.integers(1, 20), resume=RESUME,
       source=SOURCES)
def test_chained_scheduler(torch, gamma, factor, total, resume, source):
    def build(m, o):
        return m.ChainedScheduler([m.ConstantLR(o, factor, total), m.ExponentialLR(o, gamma),
                                   m.StepLR(o, 7, 0.5)])
    _compare(torch, build, resume_at=resume, source=source)


@pytest.mark.parametrize("name", ["StepLR", "LinearLR", "ExponentialLR", "ConstantLR", "CosineAnnealingWarmRestarts",
                                  "SequentialLR", "LambdaLR", "PolynomialLR"])
def test_scheduler_state_dict_matches_torch(torch, name):
    """Same keys (torch's bookkeeping flag ``_get_lr_called_within_step`` aside) and values after 7 steps."""
    builds = {"StepLR": lambda m, o: m.StepLR(o, 3, 0.5), "LinearLR": lambda m, o: m.LinearLR(o, 0.2, 0.9, 6),
              "ExponentialLR": lambda m, o: m.ExponentialLR(o, 0.9), "ConstantLR": lambda m, o: m.ConstantLR(o),
              "CosineAnnealingWarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, 3, 2, 1e-3),
              "SequentialLR": lambda m, o: _sequential("warmup-cosine", m, o, [4]),
              "LambdaLR": lambda m, o: m.LambdaLR(o, lambda e: 0.9 ** e),
              "PolynomialLR": lambda m, o: m.PolynomialLR(o, 10, 2.0)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pair = _compare(torch, builds[name], steps=7)

    def same(a, b, where):
        if isinstance(b, dict):
            keys_b = {k for k in b if k != "_get_lr_called_within_step"}
            assert set(a) == keys_b, (where, set(a) ^ keys_b)
            for k in keys_b:
                same(a[k], b[k], f"{where}.{k}")
        elif isinstance(b, (list, tuple)):
            assert len(a) == len(b), where
            for i, (x, y) in enumerate(zip(a, b)):
                same(x, y, f"{where}[{i}]")
        elif isinstance(b, float):
            assert a == pytest.approx(b, rel=1e-12, abs=1e-15), where
        else:
            assert a == b, where

    same(pair.s_sc.state_dict(), pair.s_th.state_dict(), name)


# ------------------------------------------------------------------------------------------ ReduceLROnPlateau
def _metrics(draw_steps: list[str], mode: str) -> list[float]:
    """A metric sequence from moves: big improvement, tiny improvement (below most thresholds), plateau, worse."""
    value, out = 1.0, []
    moves = {"better": 0.8, "tiny": 1 - 2e-5, "same": 1.0, "worse": 1.15, "slightly": 1 - 3e-3}
    for move in draw_steps:
        value = value * moves[move] if mode == "min" else value / moves[move]
        out.append(value)
    return out


@settings(max_examples=40, deadline=None)
@given(mode=st.sampled_from(["min", "max"]), threshold_mode=st.sampled_from(["rel", "abs"]),
       factor=st.sampled_from([0.1, 0.5, 0.9]), patience=st.integers(0, 4), threshold=st.sampled_from([1e-4, 1e-2, 0.0]),
       cooldown=st.integers(0, 3), min_lr=st.sampled_from([0.0, 1e-3, [1e-3, 0.02]]), eps=st.sampled_from([1e-8, 1e-3]),
       moves=st.lists(st.sampled_from(["better", "tiny", "same", "worse", "slightly"]), min_size=60, max_size=60),
       resume=RESUME, source=SOURCES)
def test_reduce_lr_on_plateau(torch, mode, threshold_mode, factor, patience, threshold, cooldown, min_lr, eps, moves,
                              resume, source):
    kw = dict(mode=mode, factor=factor, patience=patience, threshold=threshold, threshold_mode=threshold_mode,
              cooldown=cooldown, min_lr=min_lr, eps=eps)
    pair = _Sched(torch, lambda m, o: m.ReduceLROnPlateau(o, **kw))
    pair.check("after construction")
    for k, metric in enumerate(_metrics(moves, mode)):
        if k == resume:
            pair.resume(source)
            pair.check(f"after resuming at {k}")
        pair.step(metric)
        pair.check(f"at step {k + 1} (metric {metric})")
        for attr in ("best", "num_bad_epochs", "cooldown_counter", "last_epoch"):
            assert getattr(pair.s_sc, attr) == getattr(pair.s_th, attr), (attr, k)


def test_reduce_lr_on_plateau_defaults_and_state_dict(torch):
    pair = _Sched(torch, lambda m, o: m.ReduceLROnPlateau(o))
    for k in range(40):
        pair.step(1.0 - 1e-6 * k)           # improvements far below the default rel threshold 1e-4
        pair.check(f"at step {k + 1}")
    assert pair.o_sc.param_groups[0]["lr"] < LRS[0]
    sd, sd_th = pair.s_sc.state_dict(), pair.s_th.state_dict()
    assert set(sd) == set(sd_th)
    for key, v in sd_th.items():
        assert sd[key] == (pytest.approx(v) if isinstance(v, float) else v), key


# ------------------------------------------------------------------------------------------------ errors
def _sched_errors(m, o, o2):
    """Constructors torch refuses (m: torch's or our lr_scheduler module; o2: another optimiser)."""
    return {
        "ConstantLR factor > 1": lambda: m.ConstantLR(o, factor=1.5),
        "ConstantLR factor < 0": lambda: m.ConstantLR(o, factor=-0.1),
        "LinearLR start 0": lambda: m.LinearLR(o, start_factor=0.0),
        "LinearLR end > 1": lambda: m.LinearLR(o, end_factor=1.5),
        "WarmRestarts T_0 = 0": lambda: m.CosineAnnealingWarmRestarts(o, 0),
        "WarmRestarts T_0 float": lambda: m.CosineAnnealingWarmRestarts(o, 2.5),
        "WarmRestarts T_mult = 0": lambda: m.CosineAnnealingWarmRestarts(o, 3, T_mult=0),
        "WarmRestarts T_mult float": lambda: m.CosineAnnealingWarmRestarts(o, 3, T_mult=1.5),
        "WarmRestarts eta_min str": lambda: m.CosineAnnealingWarmRestarts(o, 3, eta_min="0"),
        "Sequential milestones": lambda: m.SequentialLR(o, [m.StepLR(o, 2), m.StepLR(o, 3)], [2, 4]),
        "Sequential empty": lambda: m.SequentialLR(o, [], []),
        "Sequential other optimizer": lambda: m.SequentialLR(o, [m.StepLR(o, 2), m.StepLR(o2, 3)], [2]),
        "Sequential plateau": lambda: m.SequentialLR(o, [m.StepLR(o, 2), m.ReduceLROnPlateau(o)], [2]),
        "Chained empty": lambda: m.ChainedScheduler([]),
        "Chained plateau": lambda: m.ChainedScheduler([m.ReduceLROnPlateau(o)]),
        "Plateau factor 1": lambda: m.ReduceLROnPlateau(o, factor=1.0),
        "Plateau mode": lambda: m.ReduceLROnPlateau(o, mode="avg"),
        "Plateau threshold mode": lambda: m.ReduceLROnPlateau(o, threshold_mode="pct"),
        "Plateau min_lrs": lambda: m.ReduceLROnPlateau(o, min_lr=[0.1, 0.2, 0.3]),
        "Lambda count": lambda: m.LambdaLR(o, [lambda e: 1.0] * 3),
        "Multiplicative count": lambda: m.MultiplicativeLR(o, [lambda e: 1.0] * 3),
    }


@pytest.mark.parametrize("case", list(_sched_errors(S, None, None)))
def test_scheduler_errors_raise_value_error_like_torch(torch, case):
    def opt(mod, param):
        return mod.SGD([{"params": [param()], "lr": 0.1}, {"params": [param()], "lr": 0.2}])
    o_th, o2_th = opt(torch.optim, lambda: torch.zeros(1, requires_grad=True)), \
        opt(torch.optim, lambda: torch.zeros(1, requires_grad=True))
    o_sc, o2_sc = opt(optim, lambda: nn.Parameter(np.zeros(1))), opt(optim, lambda: nn.Parameter(np.zeros(1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError):
            _sched_errors(torch.optim.lr_scheduler, o_th, o2_th)[case]()
        with pytest.raises(ValueError):
            _sched_errors(S, o_sc, o2_sc)[case]()


def test_scheduler_type_errors_like_torch(torch):
    o_th = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    o_sc = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1)
    for m, o in ((torch.optim.lr_scheduler, o_th), (S, o_sc)):
        with pytest.raises(TypeError):
            m.MultiplicativeLR(o, 0.9)
        with pytest.raises(TypeError):
            m.ReduceLROnPlateau(object())
        with pytest.raises(TypeError):
            m.SequentialLR(o, [object()], [])


def test_names_exported_like_torch(torch):
    for name in torch.optim.lr_scheduler.__all__:
        if name != "CyclicLR":
            assert hasattr(S, name), name
            assert name in S.__all__, name
    for name in ("RMSprop", "Adagrad", "NAdam", "Adamax"):
        assert getattr(optim, name).__name__ == name and name in optim.__all__
