"""scratchcnn.optim vs torch.optim in float64: 20-step trajectories of a small linear model (rtol 1e-6) for
SGD / Adam / AdamW over random hyper-parameters, param groups with different lrs, state_dict round trips that
continue identically, and every scheduler's lr (and momentum) sequence over 40 steps."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
import scratchcnn.functional as F
from scratchcnn import nn, optim

RTOL, ATOL = 1e-6, 1e-10
SETTINGS = settings(max_examples=15, deadline=None)
SEEDS = st.integers(0, 2**31 - 1)


class _Problem:
    """Least squares ``mean((X W^T + b - Y)^2)`` with identical parameters in both libraries."""

    def __init__(self, torch, seed: int):
        rng = np.random.default_rng(seed)
        self.torch = torch
        self.X, self.Y = rng.standard_normal((16, 4)), rng.standard_normal((16, 3))
        w0, b0 = rng.standard_normal((3, 4)) * 0.5, rng.standard_normal(3) * 0.5
        self.sc_params = [nn.Parameter(w0.copy()), nn.Parameter(b0.copy())]
        self.th_params = [torch.tensor(w0.copy(), requires_grad=True), torch.tensor(b0.copy(), requires_grad=True)]

    def sc_step(self, opt) -> None:
        opt.zero_grad()
        w, b = self.sc_params
        loss = ((F.linear(sc.Tensor(self.X), w, b) - sc.Tensor(self.Y)) ** 2).mean()
        loss.backward()
        opt.step()

    def th_step(self, opt) -> None:
        opt.zero_grad()
        w, b = self.th_params
        loss = ((self.torch.tensor(self.X) @ w.T + b - self.torch.tensor(self.Y)) ** 2).mean()
        loss.backward()
        opt.step()

    def check(self, where: str) -> None:
        """Both libraries' parameters equal; ``where`` says when (e.g. "after step 3") in the failure message."""
        for i, (p, t) in enumerate(zip(self.sc_params, self.th_params)):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=RTOL, atol=ATOL,
                                       err_msg=f"parameter {i} {where}")


def _trajectory(torch, seed, make_sc, make_th, steps: int = 20, groups=None) -> None:
    prob = _Problem(torch, seed)
    if groups is None:
        o_sc, o_th = make_sc(prob.sc_params), make_th(prob.th_params)
    else:
        o_sc = make_sc([dict(g, params=[p]) for g, p in zip(groups, prob.sc_params)])
        o_th = make_th([dict(g, params=[p]) for g, p in zip(groups, prob.th_params)])
    for step in range(steps):
        prob.sc_step(o_sc)
        prob.th_step(o_th)
        prob.check(f"after step {step}")


@SETTINGS
@given(lr=st.floats(1e-3, 0.2), momentum=st.sampled_from([0.0, 0.5, 0.9]), dampening=st.sampled_from([0.0, 0.3]),
       wd=st.sampled_from([0.0, 0.01, 0.2]), nesterov=st.booleans(), maximize=st.booleans(), seed=SEEDS)
def test_sgd_trajectory(torch, lr, momentum, dampening, wd, nesterov, maximize, seed):
    if nesterov and (momentum == 0 or dampening != 0):
        nesterov = False
    kw = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=wd, nesterov=nesterov, maximize=maximize)
    _trajectory(torch, seed, lambda ps: optim.SGD(ps, **kw), lambda ps: torch.optim.SGD(ps, foreach=False, **kw))


@SETTINGS
@given(lr=st.floats(1e-3, 0.1), b1=st.sampled_from([0.0, 0.8, 0.9]), b2=st.sampled_from([0.9, 0.999]),
       eps=st.sampled_from([1e-8, 1e-3]), wd=st.sampled_from([0.0, 0.05]), amsgrad=st.booleans(),
       maximize=st.booleans(), decoupled=st.booleans(), seed=SEEDS)
def test_adam_and_adamw_trajectory(torch, lr, b1, b2, eps, wd, amsgrad, maximize, decoupled, seed):
    kw = dict(lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, amsgrad=amsgrad, maximize=maximize)
    if decoupled:
        _trajectory(torch, seed, lambda ps: optim.AdamW(ps, **kw), lambda ps: torch.optim.AdamW(ps, foreach=False, **kw))
    else:
        _trajectory(torch, seed, lambda ps: optim.Adam(ps, **kw), lambda ps: torch.optim.Adam(ps, foreach=False, **kw))


@pytest.mark.parametrize("name, kw", [("Adam", dict(lr=0.01, weight_decay=0.05, amsgrad=True)),
                                      ("AdamW", dict(lr=0.02, betas=(0.8, 0.99), maximize=True)),
                                      ("Adam", dict(lr=0.003))])
def test_adam_on_large_and_non_contiguous_tensors(torch, name, kw):
    """Tensors larger than Adam's cache chunk (split into flat chunks) and a Fortran-ordered one (updated whole)."""
    rng = np.random.default_rng(7)
    inits = [rng.standard_normal((5, 60011)), np.asfortranarray(rng.standard_normal((300, 200))), rng.standard_normal(7)]
    coefs = [rng.standard_normal(a.shape) for a in inits]
    ps = [nn.Parameter(a.copy(order="K")) for a in inits]
    assert not ps[1].data.flags.c_contiguous
    ts = [torch.tensor(a, requires_grad=True) for a in inits]
    o_sc = getattr(optim, name)(ps, **kw)
    o_th = getattr(torch.optim, name)(ts, foreach=False, **kw)
    for step in range(5):
        o_sc.zero_grad()
        sum((((p * sc.Tensor(c)) ** 2).sum() + p.sum()) for p, c in zip(ps, coefs)).backward()
        o_sc.step()
        o_th.zero_grad()
        sum((((t * torch.tensor(c)) ** 2).sum() + t.sum()) for t, c in zip(ts, coefs)).backward()
        o_th.step()
        for i, (p, t) in enumerate(zip(ps, ts)):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=RTOL, atol=ATOL,
                                       err_msg=f"parameter {i} after step {step}")


def test_adamw_defaults_match(torch):
    _trajectory(torch, 3, lambda ps: optim.AdamW(ps, lr=0.05), lambda ps: torch.optim.AdamW(ps, lr=0.05, foreach=False))
    _trajectory(torch, 4, lambda ps: optim.Adam(ps), lambda ps: torch.optim.Adam(ps, foreach=False))
    _trajectory(torch, 5, lambda ps: optim.SGD(ps), lambda ps: torch.optim.SGD(ps, foreach=False))


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_param_groups_with_different_lrs(torch, name):
    groups = [{"lr": 0.05}, {"lr": 0.2, "weight_decay": 0.1}]
    extra = {"SGD": dict(momentum=0.9), "Adam": dict(amsgrad=True), "AdamW": {}}[name]
    _trajectory(torch, 7, lambda ps: getattr(optim, name)(ps, lr=1.0, **extra),
                lambda ps: getattr(torch.optim, name)(ps, lr=1.0, foreach=False, **extra), groups=groups)


@pytest.mark.parametrize("name, kw", [("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
                                      ("Adam", dict(lr=0.02, amsgrad=True, weight_decay=0.01)),
                                      ("AdamW", dict(lr=0.02, weight_decay=0.1))])
def test_state_dict_round_trip_continues_like_torch(torch, name, kw):
    prob = _Problem(torch, 11)
    o_th = getattr(torch.optim, name)(prob.th_params, foreach=False, **kw)
    o_sc = getattr(optim, name)(prob.sc_params, **kw)
    for _ in range(10):
        prob.sc_step(o_sc)
        prob.th_step(o_th)
    sd = o_sc.state_dict()
    sd_th = o_th.state_dict()
    assert sorted(sd["state"]) == sorted(sd_th["state"])
    for i in sd_th["state"]:
        assert set(sd["state"][i]) == set(sd_th["state"][i])
        for key, v in sd_th["state"][i].items():
            np.testing.assert_allclose(np.asarray(sd["state"][i][key]), v.numpy(), rtol=RTOL, atol=ATOL, err_msg=key)
    assert sd["param_groups"][0]["params"] == sd_th["param_groups"][0]["params"]
    fresh = getattr(optim, name)(prob.sc_params, lr=123.0)  # hyper-parameters come back from the state dict
    fresh.load_state_dict(sd)
    for step in range(10):
        prob.sc_step(fresh)
        prob.th_step(o_th)
        prob.check(f"after step {10 + step}")


# ------------------------------------------------------------------------------------------ schedulers
def _schedules(torch, make_sc, make_th, steps=40, opt="SGD", lrs=(0.1, 0.03), **opt_kw):
    p_sc = [nn.Parameter(np.zeros(1)) for _ in lrs]
    p_th = [torch.zeros(1, requires_grad=True) for _ in lrs]
    o_sc = getattr(optim, opt)([{"params": [p], "lr": lr} for p, lr in zip(p_sc, lrs)], **opt_kw)
    o_th = getattr(torch.optim, opt)([{"params": [p], "lr": lr} for p, lr in zip(p_th, lrs)], **opt_kw)
    s_sc, s_th = make_sc(o_sc), make_th(o_th)
    mom_key = "betas" if opt != "SGD" else "momentum"
    for step in range(steps + 1):
        np.testing.assert_allclose(s_sc.get_last_lr(), s_th.get_last_lr(), rtol=1e-12, atol=1e-15,
                                   err_msg=f"lr at step {step}")
        for g_sc, g_th in zip(o_sc.param_groups, o_th.param_groups):
            assert g_sc["lr"] == pytest.approx(g_th["lr"], rel=1e-12, abs=1e-15)
            np.testing.assert_allclose(np.asarray(g_sc[mom_key]), np.asarray(g_th[mom_key]), rtol=1e-12,
                                       err_msg=f"{mom_key} at step {step}")
        if step < steps:
            o_sc.step()
            o_th.step()
            s_sc.step()
            s_th.step()


@settings(max_examples=10, deadline=None)
@given(step_size=st.integers(1, 7), gamma=st.floats(0.1, 0.99))
def test_step_lr(torch, step_size, gamma):
    _schedules(torch, lambda o: optim.lr_scheduler.StepLR(o, step_size, gamma),
               lambda o: torch.optim.lr_scheduler.StepLR(o, step_size, gamma))


@settings(max_examples=10, deadline=None)
@given(milestones=st.lists(st.integers(1, 35), min_size=1, max_size=4), gamma=st.floats(0.1, 0.9))
def test_multistep_lr(torch, milestones, gamma):
    _schedules(torch, lambda o: optim.lr_scheduler.MultiStepLR(o, milestones, gamma),
               lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones, gamma))


@settings(max_examples=10, deadline=None)
@given(start=st.floats(0.01, 1.0), end=st.floats(0.0, 1.0), total=st.integers(1, 30))
def test_linear_lr(torch, start, end, total):
    _schedules(torch, lambda o: optim.lr_scheduler.LinearLR(o, start, end, total),
               lambda o: torch.optim.lr_scheduler.LinearLR(o, start, end, total))


@settings(max_examples=10, deadline=None)
@given(t_max=st.integers(1, 25), eta_min=st.sampled_from([0.0, 1e-4, 0.01]))
def test_cosine_annealing_lr(torch, t_max, eta_min):
    # 40 steps: beyond T_max the schedule climbs back up (torch's recursive, periodic form)
    _schedules(torch, lambda o: optim.lr_scheduler.CosineAnnealingLR(o, t_max, eta_min),
               lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, t_max, eta_min))


@settings(max_examples=15, deadline=None)
@given(total=st.integers(10, 40), pct=st.sampled_from([0.1, 0.25, 0.3, 0.5]), anneal=st.sampled_from(["cos", "linear"]),
       three=st.booleans(), div=st.sampled_from([25.0, 10.0]), final_div=st.sampled_from([1e4, 100.0]),
       opt=st.sampled_from(["SGD", "Adam"]))
def test_one_cycle_lr(torch, total, pct, anneal, three, div, final_div, opt):
    if float(pct * total) - 1 == 0:  # torch divides by zero there; scratchcnn says why
        with pytest.raises(ValueError, match="warm-up"):
            optim.lr_scheduler.OneCycleLR(optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1), 1.0, total, pct_start=pct)
        return
    kw = dict(max_lr=[0.5, 0.2], total_steps=total, pct_start=pct, anneal_strategy=anneal, three_phase=three,
              div_factor=div, final_div_factor=final_div)
    opt_kw = {"momentum": 0.9} if opt == "SGD" else {}
    _schedules(torch, lambda o: optim.lr_scheduler.OneCycleLR(o, **kw),
               lambda o: torch.optim.lr_scheduler.OneCycleLR(o, **kw), steps=total - 1, opt=opt, **opt_kw)


def test_one_cycle_epochs_form_and_no_momentum(torch):
    kw = dict(max_lr=0.3, epochs=3, steps_per_epoch=7, cycle_momentum=False)
    _schedules(torch, lambda o: optim.lr_scheduler.OneCycleLR(o, **kw),
               lambda o: torch.optim.lr_scheduler.OneCycleLR(o, **kw), steps=20, momentum=0.5)


def test_scheduler_state_dict_keys_match_torch(torch):
    p_sc, p_th = nn.Parameter(np.zeros(1)), torch.zeros(1, requires_grad=True)
    s_sc = optim.lr_scheduler.StepLR(optim.SGD([p_sc], lr=0.1), 3)
    s_th = torch.optim.lr_scheduler.StepLR(torch.optim.SGD([p_th], lr=0.1), 3)
    for key in ("step_size", "gamma", "base_lrs", "last_epoch", "_step_count", "_last_lr"):
        assert s_sc.state_dict()[key] == s_th.state_dict()[key], key
