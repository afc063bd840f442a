"""More optimiser / scheduler checks vs torch.optim in float64: OneCycleLR with non-default momentum bounds,
div factors, pct_start, annealing and per-group values (lr, momentum / beta1 and the parameters themselves,
step by step, for SGD and Adam); every scheduler resumed from state dicts mid-way and built with
``last_epoch != -1``; clip_grad_norm_ for norm types 0.5, 1, 2, 3, inf, -inf and 0 (returned total norm and
clipped gradients) and ``error_if_nonfinite``; Adam(decoupled_weight_decay=True) vs torch's."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import scratchcnn as sc
import scratchcnn.functional as F
from scratchcnn import nn, optim

RTOL, ATOL = 1e-6, 1e-10
SEEDS = st.integers(0, 2**31 - 1)
LRS = (0.1, 0.03)


class _Pair:
    """The same least-squares problem in both libraries: W (3, 4) in group 0 and b (3,) in group 1."""

    def __init__(self, torch, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.torch = torch
        self.X, self.Y = rng.standard_normal((12, 4)), rng.standard_normal((12, 3))
        w0, b0 = rng.standard_normal((3, 4)) * 0.5, rng.standard_normal(3) * 0.5
        self.p_sc = [nn.Parameter(w0.copy()), nn.Parameter(b0.copy())]
        self.p_th = [torch.tensor(w0.copy(), requires_grad=True), torch.tensor(b0.copy(), requires_grad=True)]

    def optimizers(self, opt: str, lrs=LRS, **kw):
        o_sc = getattr(optim, opt)([{"params": [p], "lr": lr} for p, lr in zip(self.p_sc, lrs)], **kw)
        o_th = getattr(self.torch.optim, opt)([{"params": [p], "lr": lr} for p, lr in zip(self.p_th, lrs)],
                                              foreach=False, **kw)
        return o_sc, o_th

    def step(self, o_sc, o_th) -> None:
        """One step of each optimiser (``o_sc`` None: torch only)."""
        if o_sc is not None:
            o_sc.zero_grad()
            w, b = self.p_sc
            ((F.linear(sc.Tensor(self.X), w, b) - sc.Tensor(self.Y)) ** 2).mean().backward()
            o_sc.step()
        o_th.zero_grad()
        w, b = self.p_th
        t = self.torch
        ((t.tensor(self.X) @ w.T + b - t.tensor(self.Y)) ** 2).mean().backward()
        o_th.step()

    def check(self, o_sc, o_th, s_sc, s_th, where: str) -> None:
        np.testing.assert_allclose(s_sc.get_last_lr(), s_th.get_last_lr(), rtol=1e-12, atol=1e-15,
                                   err_msg=f"last lr {where}")
        for i, (g_sc, g_th) in enumerate(zip(o_sc.param_groups, o_th.param_groups)):
            assert g_sc["lr"] == pytest.approx(g_th["lr"], rel=1e-12, abs=1e-15), f"group {i} lr {where}"
            key = "betas" if "betas" in g_th else "momentum"
            np.testing.assert_allclose(np.asarray(g_sc[key], dtype=float), np.asarray(g_th[key], dtype=float),
                                       rtol=1e-12, atol=1e-15, err_msg=f"group {i} {key} {where}")
        for i, (p, t) in enumerate(zip(self.p_sc, self.p_th)):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg=f"param {i} {where}")


def _run(pair, o_sc, o_th, s_sc, s_th, steps: int, start: int = 0) -> None:
    pair.check(o_sc, o_th, s_sc, s_th, f"at step {start}")
    for k in range(start, start + steps):
        pair.step(o_sc, o_th)
        s_sc.step()
        s_th.step()
        pair.check(o_sc, o_th, s_sc, s_th, f"at step {k + 1}")


# ------------------------------------------------------------------------------------------------- OneCycleLR
@settings(max_examples=25, deadline=None)
@given(total=st.integers(8, 30), pct=st.sampled_from([0.2, 0.3, 0.45, 0.6]), anneal=st.sampled_from(["cos", "linear"]),
       three=st.booleans(), cycle=st.booleans(), div=st.sampled_from([25.0, 5.0, 2.0]),
       final_div=st.sampled_from([1e4, 50.0, 1.0]), base_m=st.sampled_from([0.5, 0.7, [0.6, 0.8]]),
       max_m=st.sampled_from([0.9, 0.99, [0.95, 0.85]]), opt=st.sampled_from(["SGD", "Adam"]), seed=SEEDS)
def test_one_cycle_non_default_momentum_and_factors(torch, total, pct, anneal, three, cycle, div, final_div, base_m,
                                                    max_m, opt, seed):
    """base_momentum / max_momentum (scalars or per group) actually drive momentum (SGD) or beta1 (Adam):
    a library ignoring base_momentum, or any other argument, diverges from torch here."""
    assume(float(pct * total) - 1 != 0 and (not three or float(2 * pct * total) - 2 > float(pct * total) - 1))
    pair = _Pair(torch, seed)
    o_sc, o_th = pair.optimizers(opt, **({"momentum": 0.5} if opt == "SGD" else {}))
    kw = dict(max_lr=[0.4, 0.15], total_steps=total, pct_start=pct, anneal_strategy=anneal, three_phase=three,
              cycle_momentum=cycle, base_momentum=base_m, max_momentum=max_m, div_factor=div,
              final_div_factor=final_div)
    s_sc, s_th = optim.lr_scheduler.OneCycleLR(o_sc, **kw), torch.optim.lr_scheduler.OneCycleLR(o_th, **kw)
    for key in ("initial_lr", "max_lr", "min_lr") + (("max_momentum", "base_momentum") if cycle else ()):
        for g_sc, g_th in zip(o_sc.param_groups, o_th.param_groups):
            assert g_sc[key] == pytest.approx(g_th[key], rel=1e-15), key
    _run(pair, o_sc, o_th, s_sc, s_th, total - 1)


@pytest.mark.parametrize("opt", ["SGD", "Adam"])
def test_one_cycle_momentum_reaches_base_momentum_at_the_peak(torch, opt):
    """At the end of the warm-up the momentum / beta1 is exactly base_momentum (and max_momentum at both ends)."""
    pair = _Pair(torch, 1)
    o_sc, o_th = pair.optimizers(opt, **({"momentum": 0.9} if opt == "SGD" else {}))
    kw = dict(max_lr=0.3, total_steps=10, pct_start=0.5, base_momentum=0.6, max_momentum=0.8,
              anneal_strategy="linear")
    s_sc, s_th = optim.lr_scheduler.OneCycleLR(o_sc, **kw), torch.optim.lr_scheduler.OneCycleLR(o_th, **kw)
    seen = []
    for k in range(9):
        g = o_sc.param_groups[0]
        seen.append(g["betas"][0] if opt == "Adam" else g["momentum"])
        pair.step(o_sc, o_th)
        s_sc.step()
        s_th.step()
        pair.check(o_sc, o_th, s_sc, s_th, f"at step {k + 1}")
    seen.append(o_sc.param_groups[0]["betas"][0] if opt == "Adam" else o_sc.param_groups[0]["momentum"])
    assert seen[0] == pytest.approx(0.8) and min(seen) == pytest.approx(0.6) and seen[-1] == pytest.approx(0.8)
    assert seen[4] == pytest.approx(0.6)           # the warm-up ends at step 0.5 * 10 - 1 = 4


# ------------------------------------------------------------------------------------------ resumed schedulers
SCHEDULERS = {
    "StepLR": (dict(step_size=3, gamma=0.5), 20, "SGD"),
    "MultiStepLR": (dict(milestones=[2, 5, 5, 11], gamma=0.3), 20, "SGD"),
    "LinearLR": (dict(start_factor=0.2, end_factor=0.9, total_iters=7), 20, "SGD"),
    "CosineAnnealingLR": (dict(T_max=6, eta_min=0.001), 20, "SGD"),
    "OneCycleLR": (dict(max_lr=[0.4, 0.2], total_steps=21, pct_start=0.3, base_momentum=0.7, max_momentum=0.9), 20,
                   "SGD"),
    "OneCycleLR-Adam": (dict(max_lr=0.05, total_steps=21, pct_start=0.4, anneal_strategy="linear", three_phase=True,
                             base_momentum=0.6, max_momentum=0.95), 20, "Adam"),
}


def _sched(module, name: str, o, **extra):
    """``module``: scratchcnn's or torch's lr_scheduler."""
    kw, _, _ = SCHEDULERS[name]
    return getattr(module, name.split("-")[0])(o, **kw, **extra)


def _opt_kw(opt: str) -> dict:
    return {"momentum": 0.9, "nesterov": True} if opt == "SGD" else {"amsgrad": True}


@pytest.mark.parametrize("name", list(SCHEDULERS))
@pytest.mark.parametrize("k", [1, 4, 7, 12])
def test_scheduler_resumed_from_state_dicts_continues_like_torch(torch, name, k):
    """Run k steps, save optimiser + scheduler state dicts, build fresh ones (other lr), load both and go on:
    the same lrs, momenta and parameters as torch doing the same, and as an uninterrupted torch run."""
    _, steps, opt = SCHEDULERS[name]
    pair = _Pair(torch, 3)
    ref = _Pair(torch, 3)          # torch only, never interrupted
    o_sc, o_th = pair.optimizers(opt, **_opt_kw(opt))
    s_sc, s_th = _sched(optim.lr_scheduler, name, o_sc), _sched(torch.optim.lr_scheduler, name, o_th)
    _, o_ref = ref.optimizers(opt, **_opt_kw(opt))
    s_ref = _sched(torch.optim.lr_scheduler, name, o_ref)
    _run(pair, o_sc, o_th, s_sc, s_th, k)
    for _ in range(k):
        ref.step(None, o_ref)
        s_ref.step()
    sd = (o_sc.state_dict(), s_sc.state_dict(), o_th.state_dict(), s_th.state_dict())
    o_sc, o_th = pair.optimizers(opt, lrs=(9.0, 9.0), **_opt_kw(opt))
    s_sc, s_th = _sched(optim.lr_scheduler, name, o_sc), _sched(torch.optim.lr_scheduler, name, o_th)
    o_sc.load_state_dict(sd[0])
    s_sc.load_state_dict(sd[1])
    o_th.load_state_dict(sd[2])
    s_th.load_state_dict(sd[3])
    assert s_sc.last_epoch == s_th.last_epoch == k
    for step in range(k, steps):
        pair.step(o_sc, o_th)
        s_sc.step()
        s_th.step()
        ref.step(None, o_ref)
        s_ref.step()
        pair.check(o_sc, o_th, s_sc, s_th, f"after resuming, at step {step + 1}")
        np.testing.assert_allclose(s_sc.get_last_lr(), s_ref.get_last_lr(), rtol=1e-12, atol=1e-15)
        for p, t in zip(pair.p_sc, ref.p_th):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=RTOL, atol=ATOL,
                                       err_msg=f"vs the uninterrupted run at step {step + 1}")


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)`")
@pytest.mark.parametrize("name", list(SCHEDULERS))
@pytest.mark.parametrize("k", [0, 3, 8])
def test_scheduler_built_with_last_epoch_matches_torch(torch, name, k):
    """After k steps, a fresh optimiser loads the saved optimiser state (initial_lr etc. in its groups) and the
    scheduler is built with last_epoch=k (no scheduler state dict): values as torch's from then on."""
    _, steps, opt = SCHEDULERS[name]
    pair = _Pair(torch, 4)
    o_sc, o_th = pair.optimizers(opt, **_opt_kw(opt))
    s_sc, s_th = _sched(optim.lr_scheduler, name, o_sc), _sched(torch.optim.lr_scheduler, name, o_th)
    _run(pair, o_sc, o_th, s_sc, s_th, k)
    sd_sc, sd_th = o_sc.state_dict(), o_th.state_dict()
    o_sc, o_th = pair.optimizers(opt, lrs=(9.0, 9.0), **_opt_kw(opt))
    o_sc.load_state_dict(sd_sc)
    o_th.load_state_dict(sd_th)
    s_sc = _sched(optim.lr_scheduler, name, o_sc, last_epoch=k)
    s_th = _sched(torch.optim.lr_scheduler, name, o_th, last_epoch=k)
    assert s_sc.last_epoch == s_th.last_epoch == k + 1
    _run(pair, o_sc, o_th, s_sc, s_th, steps - k - 1, start=k + 1)


def test_scheduler_last_epoch_without_initial_lr_is_refused_like_torch(torch):
    p_sc, p_th = nn.Parameter(np.zeros(1)), torch.zeros(1, requires_grad=True)
    with pytest.raises(KeyError, match="initial_lr"):
        optim.lr_scheduler.StepLR(optim.SGD([p_sc], lr=0.1), 3, last_epoch=2)
    with pytest.raises(KeyError, match="initial_lr"):
        torch.optim.lr_scheduler.StepLR(torch.optim.SGD([p_th], lr=0.1), 3, last_epoch=2)


# ------------------------------------------------------------------------------------------------ clip_grad_norm_
NORMS = [0.5, 1.0, 2.0, 3.0, math.inf, -math.inf, 0.0]
SHAPES = [(3, 4), (5,), (2, 2, 2), ()]


def _grads(seed: int, zeros: str):
    rng = np.random.default_rng(seed)
    grads = [np.asarray(rng.standard_normal(s) * rng.uniform(0.1, 3.0)) for s in SHAPES]
    if zeros == "some":
        for g in grads[:2]:
            g.flat[::3] = 0.0
    elif zeros == "tensor":
        grads[1][...] = 0.0                           # a whole zero gradient (counts 0 in the 0-"norm")
    return grads


def _clip_both(torch, grads, max_norm, norm_type, with_none=True, **kw):
    p_sc = [nn.Parameter(np.zeros(g.shape)) for g in grads]
    p_th = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for p, t, g in zip(p_sc, p_th, grads):
        p.grad = g.copy()
        t.grad = torch.tensor(g.copy())
    if with_none:                                      # a parameter without a gradient is skipped
        p_sc.insert(1, nn.Parameter(np.ones(2)))
        p_th.insert(1, torch.ones(2, requires_grad=True))
    tot_sc = nn.utils.clip_grad_norm_(iter(p_sc), max_norm, norm_type, **kw)
    tot_th = torch.nn.utils.clip_grad_norm_(iter(p_th), max_norm, norm_type, foreach=False, **kw)
    return tot_sc, tot_th, p_sc, p_th


@pytest.mark.parametrize("norm_type", NORMS)
@settings(max_examples=12, deadline=None)
@given(seed=SEEDS, max_norm=st.sampled_from([1e-3, 0.5, 2.0, 7.5, 1e3]),
       zeros=st.sampled_from(["no", "some", "tensor"]))
def test_clip_grad_norm_types_match_torch(torch, norm_type, seed, max_norm, zeros):
    """The returned total norm (torch: vector norm of the per-tensor norms; 0: how many are non-zero; -inf: the
    smallest |g|) and the clipped gradients (scaled by min(1, max_norm / (total + 1e-6)))."""
    grads = _grads(seed, zeros)
    tot_sc, tot_th, p_sc, p_th = _clip_both(torch, grads, max_norm, norm_type)
    assert isinstance(tot_sc, sc.Tensor) and tot_sc.shape == () and tot_sc.dtype == tot_th.numpy().dtype
    assert float(tot_sc) == pytest.approx(float(tot_th), rel=1e-12, abs=1e-300), "total norm"
    for i, (p, t) in enumerate(zip(p_sc, p_th)):
        if t.grad is None:
            assert p.grad is None
            continue
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12, atol=1e-300, err_msg=f"grad {i}")


@pytest.mark.parametrize("norm_type", NORMS)
def test_clip_grad_norm_known_totals(torch, norm_type):
    """Hand-computed totals: g1 = [3, -4], g2 = [0, 0.5]; per-tensor norms, then the same norm over them."""
    g = [np.array([3.0, -4.0]), np.array([0.0, 0.5])]
    flat = np.abs(np.concatenate(g))
    expected = {0.5: (np.sqrt(flat).sum()) ** 2, 1.0: flat.sum(), 2.0: np.sqrt((flat ** 2).sum()),
                3.0: ((flat ** 3).sum()) ** (1 / 3), math.inf: 4.0, -math.inf: 0.0, 0.0: 2.0}[norm_type]
    tot_sc, tot_th, p_sc, _ = _clip_both(torch, g, 1.0, norm_type, with_none=False)
    assert tot_sc == pytest.approx(expected, rel=1e-12) and float(tot_th) == pytest.approx(expected, rel=1e-12)
    coef = min(1.0, 1.0 / (expected + 1e-6))
    for p, gi in zip(p_sc, g):
        np.testing.assert_allclose(p.grad, gi * coef, rtol=1e-12)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, -math.inf, 0.5])
def test_clip_grad_norm_single_tensor_and_no_grads(torch, norm_type):
    g = np.random.default_rng(2).standard_normal((4, 3))
    p, t = nn.Parameter(np.zeros((4, 3))), torch.zeros((4, 3), requires_grad=True)
    p.grad, t.grad = g.copy(), torch.tensor(g.copy())
    assert nn.utils.clip_grad_norm_(p, 0.3, norm_type) == pytest.approx(
        float(torch.nn.utils.clip_grad_norm_(t, 0.3, norm_type)), rel=1e-12)
    np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)
    assert optim.clip_grad_norm_ is nn.utils.clip_grad_norm_
    tot_sc = nn.utils.clip_grad_norm_([nn.Parameter(np.zeros(2))], 1.0, norm_type)
    tot_th = torch.nn.utils.clip_grad_norm_([torch.zeros(2, requires_grad=True)], 1.0, norm_type)
    assert tot_sc == float(tot_th) == 0.0


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("norm_type", [1.0, 2.0, math.inf, 3.0])
def test_clip_grad_norm_nonfinite(torch, bad, norm_type):
    """error_if_nonfinite=True: both raise; False: both clip anyway, to the same (nan / inf / 0) gradients."""
    grads = _grads(5, "no")
    grads[0][1, 2] = bad
    with pytest.raises(RuntimeError, match="non-finite"):
        _clip_both(torch, grads, 1.0, norm_type, error_if_nonfinite=True)
    tot_sc, tot_th, p_sc, p_th = _clip_both(torch, grads, 1.0, norm_type, error_if_nonfinite=False)
    np.testing.assert_allclose(tot_sc, float(tot_th), rtol=1e-12)
    for i, (p, t) in enumerate(zip(p_sc, p_th)):
        if t.grad is not None:
            np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12, err_msg=f"grad {i}")


def test_clip_grad_norm_scales_a_0d_gradient_from_backward(torch):
    """A 0-d parameter used twice: its accumulated .grad must stay an array that clipping scales in place
    (it used to become a NumPy scalar, which clip_grad_norm_ silently left unclipped)."""
    p, w = nn.Parameter(np.array(1.5)), nn.Parameter(np.array([2.0, -1.0]))
    t, tw = torch.tensor(1.5, requires_grad=True), torch.tensor([2.0, -1.0], requires_grad=True)
    ((p * p * 3.0) + (w * p).sum()).backward()
    ((t * t * 3.0) + (tw * t).sum()).backward()
    assert isinstance(p.grad, np.ndarray) and p.grad.shape == ()
    for norm_type in (2.0, math.inf, 1.0):
        tot = nn.utils.clip_grad_norm_([p, w], 0.5, norm_type)
        tot_th = torch.nn.utils.clip_grad_norm_([t, tw], 0.5, norm_type, foreach=False)
        assert tot == pytest.approx(float(tot_th), rel=1e-12)
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(w.grad, tw.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_minus_inf_is_a_minimum(torch):
    """-inf: the smallest absolute gradient element over all tensors (a max here would be 9, not 0.25)."""
    g = [np.array([9.0, -0.5]), np.array([-0.25, 3.0])]
    tot_sc, tot_th, p_sc, p_th = _clip_both(torch, g, 0.1, -math.inf, with_none=False)
    assert tot_sc == float(tot_th) == 0.25
    for p, t in zip(p_sc, p_th):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)


# ------------------------------------------------------------------------------ Adam(decoupled_weight_decay=True)
@settings(max_examples=15, deadline=None)
@given(lr=st.floats(1e-3, 0.1), b1=st.sampled_from([0.0, 0.8, 0.9]), b2=st.sampled_from([0.9, 0.999]),
       wd=st.sampled_from([0.0, 0.01, 0.3]), amsgrad=st.booleans(), maximize=st.booleans(), seed=SEEDS)
def test_adam_decoupled_weight_decay_flag_matches_torch(torch, lr, b1, b2, wd, amsgrad, maximize, seed):
    """optim.Adam(decoupled_weight_decay=True) vs torch.optim.Adam(decoupled_weight_decay=True) (torch >= 2.6)
    and vs torch's AdamW with the same weight decay: 15 steps, parameters and state."""
    kw = dict(betas=(b1, b2), weight_decay=wd, amsgrad=amsgrad, maximize=maximize)
    pair, pair_w = _Pair(torch, seed), _Pair(torch, seed)
    o_sc, o_th = pair.optimizers("Adam", lrs=(lr, lr / 2), decoupled_weight_decay=True, **kw)
    _, o_w = pair_w.optimizers("AdamW", lrs=(lr, lr / 2), **kw)
    assert o_sc.param_groups[0]["decoupled_weight_decay"] is True
    for step in range(15):
        pair.step(o_sc, o_th)
        pair_w.step(None, o_w)
        for i, (p, t, tw) in enumerate(zip(pair.p_sc, pair.p_th, pair_w.p_th)):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg=f"param {i} {step}")
            np.testing.assert_allclose(p.data, tw.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg=f"AdamW {i} {step}")
    sd, sd_th = o_sc.state_dict(), o_th.state_dict()
    for i in sd_th["state"]:
        for key, v in sd_th["state"][i].items():
            np.testing.assert_allclose(np.asarray(sd["state"][i][key]), v.numpy(), rtol=RTOL, atol=ATOL, err_msg=key)
    assert sd["param_groups"][0]["decoupled_weight_decay"] == sd_th["param_groups"][0]["decoupled_weight_decay"]


def test_adam_decoupled_differs_from_coupled(torch):
    """With weight decay the two flags give different trajectories in both libraries (the flag is not ignored)."""
    ends = {}
    for flag in (False, True):
        pair = _Pair(torch, 8)
        o_sc, o_th = pair.optimizers("Adam", lrs=(0.05, 0.05), weight_decay=0.5, decoupled_weight_decay=flag)
        for _ in range(10):
            pair.step(o_sc, o_th)
        for p, t in zip(pair.p_sc, pair.p_th):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=RTOL, atol=ATOL)
        ends[flag] = pair.p_sc[0].data.copy()
    assert not np.allclose(ends[False], ends[True], rtol=1e-3)
