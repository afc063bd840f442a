"""Differential fuzzing of every optimiser and scheduler against torch.optim in float64, at 1e-12 (norm-wise
relative): three parameter groups (one added with ``add_param_group``) with their own lr / weight decay,
gradients randomly None, a group's lr changed between steps, state dicts round-tripped mid-run (ours -> ours and
torch's -> ours), a tensor big enough for the chunked / multi-core path; every scheduler over long horizons with two
groups (SGD momentum and Adam beta1 for OneCycleLR), resumed from state dicts and from ``last_epoch``, the
deprecated ``step(epoch)`` closed forms, fractional warm restarts, ReduceLROnPlateau; bad arguments raise what
torch raises (ValueError naming the argument). Also the regressions found by this audit."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from scratchcnn import nn, optim
from scratchcnn.optim import lr_scheduler as S

TOL = 1e-12


pytestmark = pytest.mark.usefixtures("float64_default_dtype")   # tests/oracle/conftest.py


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    """Norm-wise relative difference (max |a - b| / max |b|)."""
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)) if b.size else 0.0


# ------------------------------------------------------------------------------------------------ optimisers
OPT_CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.05, maximize=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.05, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.01, betas=(0.5, 0.7), eps=1e-3, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, amsgrad=True, weight_decay=0.3, maximize=True)),
    ("NAdam", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, momentum_decay=0.01, maximize=True)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("Adamax", dict(lr=0.01)),
    ("Adamax", dict(lr=0.01, weight_decay=0.1, maximize=True, betas=(0.3, 0.5))),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, alpha=0.7, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True, maximize=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, maximize=True, weight_decay=0.01)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.3, weight_decay=0.1, maximize=True)),
]


@pytest.mark.parametrize("big", [False, True], ids=["small", "chunked"])
@pytest.mark.parametrize("name,kw", OPT_CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(OPT_CONFIGS)])
def test_optimizer_trajectory_matches_torch(torch, name, kw, big):
    shapes = [(300, 500), (7,), ()] if big else [(3, 4), (5,), (2, 3, 2)]
    steps = 12 if big else 40
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(s) for s in shapes]
    ps = [nn.Parameter(x.copy()) for x in init]
    pt = [torch.tensor(x.copy(), requires_grad=True) for x in init]
    g2 = dict(lr=kw["lr"] * 0.5, weight_decay=0.02)

    def build(params, lib, extra):
        o = getattr(lib, name)([{"params": params[:1]}, {"params": params[1:2], **g2}], **kw, **extra)
        o.add_param_group({"params": params[2:], "lr": kw["lr"] * 2})
        return o

    o_sc, o_th = build(ps, optim, {}), build(pt, torch.optim, dict(foreach=False))
    for t in range(steps):
        for a, b in zip(ps, pt):
            if t > 0 and rng.random() < 0.2:     # no gradient: skipped, its step count does not advance
                a.grad, b.grad = None, None
            else:
                g = np.asarray(rng.standard_normal(a.data.shape))
                a.grad, b.grad = g.copy(), torch.tensor(g.copy())
        if t == steps // 4:
            for o in (o_sc, o_th):
                o.param_groups[0]["lr"] *= 0.3
        if t == steps // 2:             # our own state dict into a fresh optimiser
            fresh = build(ps, optim, {})
            fresh.load_state_dict(o_sc.state_dict())
            o_sc = fresh
        if t == 3 * steps // 4:         # torch's state dict into a fresh optimiser
            fresh = build(ps, optim, {})
            fresh.load_state_dict(o_th.state_dict())
            o_sc = fresh
        o_sc.step()
        o_th.step()
        for i, (a, b) in enumerate(zip(ps, pt)):
            err = _rel(a.data, b.detach().numpy())
            assert err <= TOL, f"step {t}, param {i}: relative difference {err:.2e}"


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad"])
def test_zero_grad_modes_match_torch(torch, name):
    kw = dict(lr=0.1, momentum=0.9) if name == "SGD" else dict(lr=0.1)
    rng = np.random.default_rng(3)
    x = rng.standard_normal(4)
    p, q = nn.Parameter(x.copy()), torch.tensor(x.copy(), requires_grad=True)
    o_sc, o_th = getattr(optim, name)([p], **kw), getattr(torch.optim, name)([q], **kw)
    for t in range(6):
        g = rng.standard_normal(4)
        p.grad, q.grad = g.copy(), torch.tensor(g)
        o_sc.step(), o_th.step()
        set_to_none = bool(t % 2)
        o_sc.zero_grad(set_to_none=set_to_none)
        o_th.zero_grad(set_to_none=set_to_none)
        assert (p.grad is None) == (q.grad is None)
        if p.grad is not None:
            np.testing.assert_array_equal(p.grad, 0.0)
            o_sc.step(), o_th.step()         # a zero gradient still moves stateful optimisers
        assert _rel(p.data, q.detach().numpy()) <= TOL


@pytest.mark.parametrize("name", ["SGD", "Adam", "NAdam", "Adamax", "RMSprop", "Adagrad"])
def test_state_dict_round_trip_keeps_a_scalar_parameters_state(torch, name):
    """Regression: ``load_state_dict`` turned every 0-d state array into a Python float, so the state of a 0-d
    parameter (``exp_avg``, ``sum``, ``momentum_buffer``, ...) was frozen after a resume (updates went nowhere)."""
    kw = dict(lr=0.1, momentum=0.9) if name in ("SGD", "RMSprop") else dict(lr=0.1)
    rng = np.random.default_rng(5)
    grads = [np.asarray(rng.standard_normal(())) for _ in range(10)]
    p, q, ref = nn.Parameter(np.array(0.7)), nn.Parameter(np.array(0.7)), torch.tensor(0.7, requires_grad=True)
    o_p, o_q, o_ref = getattr(optim, name)([p], **kw), getattr(optim, name)([q], **kw), getattr(torch.optim, name)([ref], **kw)
    for t, g in enumerate(grads):
        if t in (3, 6):    # resume from our own state dict, then from torch's
            o_q = getattr(optim, name)([q], **kw)
            o_q.load_state_dict((o_p if t == 3 else o_ref).state_dict())
        for x in (p, q):
            x.grad = g.copy()
        ref.grad = torch.tensor(g.copy())
        o_p.step(), o_q.step(), o_ref.step()
        assert isinstance(next(iter(o_q.state.values())).get("step", 0), (int, float))
        np.testing.assert_allclose(q.data, p.data, rtol=TOL, err_msg=f"step {t}")
        np.testing.assert_allclose(q.data, ref.detach().numpy(), rtol=TOL, err_msg=f"step {t}")


def test_load_state_dict_mismatched_groups_is_a_clear_error():
    a, b, c = (nn.Parameter(np.ones(3)) for _ in range(3))
    src = optim.Adam([a])
    src.add_param_group({"params": [b]})
    a.grad, b.grad = np.ones(3), np.ones(3)
    src.step()
    with pytest.raises(ValueError, match="parameter groups"):
        optim.Adam([a]).load_state_dict(src.state_dict())
    two = optim.Adam([a])
    two.add_param_group({"params": [b, c]})
    with pytest.raises(ValueError, match="group 1"):
        two.load_state_dict(src.state_dict())
    shape = optim.Adam([a])
    shape.add_param_group({"params": [nn.Parameter(np.ones(4))]})
    with pytest.raises(ValueError, match="shape"):
        shape.load_state_dict(src.state_dict())


def test_param_group_given_as_a_set_is_rejected_like_torch(torch):
    """A set's order changes between runs, so state_dict indices would map states onto the wrong parameters."""
    with pytest.raises(TypeError):
        torch.optim.SGD([{"params": {torch.ones(1, requires_grad=True)}}], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {nn.Parameter(np.ones(1))}}], lr=0.1)
    opt = optim.SGD([nn.Parameter(np.ones(1))], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        opt.add_param_group({"params": {nn.Parameter(np.ones(1)), nn.Parameter(np.ones(2))}})


# ------------------------------------------------------------------------------------------------ bad arguments
BAD_OPT_ARGS = [
    ("SGD", dict(lr=-1), "learning rate"), ("SGD", dict(momentum=-0.1), "momentum"),
    ("SGD", dict(weight_decay=-1), "weight_decay"), ("SGD", dict(nesterov=True), "Nesterov"),
    ("SGD", dict(nesterov=True, momentum=0.9, dampening=0.1), "dampening"),
    ("Adam", dict(lr=-1), "learning rate"), ("Adam", dict(eps=-1), "epsilon"), ("Adam", dict(betas=(1.0, 0.9)), "beta"),
    ("Adam", dict(betas=(0.9, 1.0)), "beta"), ("Adam", dict(betas=(-0.1, 0.9)), "beta"),
    ("Adam", dict(betas=(float("nan"), 0.9)), "beta"), ("Adam", dict(weight_decay=-1), "weight_decay"),
    ("AdamW", dict(lr=-1), "learning rate"), ("AdamW", dict(weight_decay=-1), "weight_decay"),
    ("AdamW", dict(betas=(0.9, 1.2)), "beta"),
    ("NAdam", dict(momentum_decay=-1), "momentum_decay"), ("NAdam", dict(betas=(1, 0.9)), "beta"),
    ("NAdam", dict(eps=-1), "epsilon"), ("Adamax", dict(lr=-1), "learning rate"),
    ("Adamax", dict(betas=(0.5, 1.0)), "beta"), ("Adamax", dict(weight_decay=-1), "weight_decay"),
    ("RMSprop", dict(alpha=-1), "alpha"), ("RMSprop", dict(eps=-1), "epsilon"), ("RMSprop", dict(momentum=-1), "momentum"),
    ("RMSprop", dict(weight_decay=-1), "weight_decay"), ("Adagrad", dict(lr_decay=-1), "lr_decay"),
    ("Adagrad", dict(initial_accumulator_value=-1), "initial_accumulator_value"), ("Adagrad", dict(eps=-1), "epsilon"),
]


@pytest.mark.parametrize("name,kw,word", BAD_OPT_ARGS, ids=[f"{n}-{'-'.join(k)}" for n, k, _ in BAD_OPT_ARGS])
def test_bad_optimizer_arguments_raise_like_torch(torch, name, kw, word):
    with pytest.raises(ValueError):
        getattr(torch.optim, name)([torch.ones(2, requires_grad=True)], **kw)
    with pytest.raises(ValueError, match=word):
        getattr(optim, name)([nn.Parameter(np.ones(2))], **kw)


BAD_SCHED_ARGS = [
    ("LinearLR(o, 0.0)", "start_factor"), ("LinearLR(o, 1.5)", "start_factor"), ("LinearLR(o, 0.5, 1.5)", "end_factor"),
    ("LinearLR(o, 0.5, -0.1)", "end_factor"), ("ConstantLR(o, 1.5)", "factor"), ("ConstantLR(o, -0.5)", "factor"),
    ("CosineAnnealingWarmRestarts(o, 0)", "T_0"), ("CosineAnnealingWarmRestarts(o, 5.0)", "T_0"),
    ("CosineAnnealingWarmRestarts(o, 5, 0)", "T_mult"), ("CosineAnnealingWarmRestarts(o, 5, 1.5)", "T_mult"),
    ("CosineAnnealingWarmRestarts(o, 5, 1, 'x')", "eta_min"), ("OneCycleLR(o, 1.0)", "total_steps"),
    ("OneCycleLR(o, 1.0, total_steps=0)", "total_steps"), ("OneCycleLR(o, 1.0, total_steps=10.0)", "total_steps"),
    ("OneCycleLR(o, 1.0, epochs=0, steps_per_epoch=3)", "epochs"),
    ("OneCycleLR(o, 1.0, epochs=2, steps_per_epoch=-3)", "steps_per_epoch"),
    ("OneCycleLR(o, 1.0, total_steps=10, pct_start=1.5)", "pct_start"),
    ("OneCycleLR(o, 1.0, total_steps=10, pct_start=1)", "pct_start"),
    ("OneCycleLR(o, 1.0, total_steps=10, anneal_strategy='exp')", "anneal_strategy"),
    ("OneCycleLR(o, [1.0, 2.0], total_steps=10)", "max_lr"), ("ReduceLROnPlateau(o, factor=1.0)", "factor"),
    ("ReduceLROnPlateau(o, mode='x')", "mode"), ("ReduceLROnPlateau(o, threshold_mode='x')", "threshold mode"),
    ("ReduceLROnPlateau(o, min_lr=[0, 0])", "min_lr"), ("LambdaLR(o, [lambda e: 1, lambda e: 2])", "lr_lambdas"),
    ("SequentialLR(o, [], [])", "scheduler"), ("SequentialLR(o, [StepLR(o, 2), StepLR(o, 3)], [])", "milestone"),
    ("ChainedScheduler([])", "scheduler"),
]


@pytest.mark.parametrize("src,word", BAD_SCHED_ARGS, ids=[s for s, _ in BAD_SCHED_ARGS])
def test_bad_scheduler_arguments_raise_like_torch(torch, src, word):
    o_th = torch.optim.SGD([torch.ones(2, requires_grad=True)], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError):
        eval(src, {**vars(torch.optim.lr_scheduler), "o": o_th})
    o_sc = optim.SGD([nn.Parameter(np.ones(2))], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=word):
        eval(src, {**vars(S), "o": o_sc})


def test_onecycle_total_steps_exceeded(torch):
    o_sc = optim.SGD([nn.Parameter(np.ones(2))], lr=0.1, momentum=0.9)
    o_th = torch.optim.SGD([torch.ones(2, requires_grad=True)], lr=0.1, momentum=0.9)
    s_sc, s_th = S.OneCycleLR(o_sc, 1.0, total_steps=5), torch.optim.lr_scheduler.OneCycleLR(o_th, 1.0, total_steps=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(5):
            s_sc.step(), s_th.step()
        with pytest.raises(ValueError):
            s_th.step()
    with pytest.raises(ValueError, match="total steps"):
        s_sc.step()


# ------------------------------------------------------------------------------------------------ schedulers
def _pair(torch, opt: str = "SGD"):
    kw = dict(lr=0.1, momentum=0.9) if opt == "SGD" else dict(lr=0.1)
    ps = [nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))]
    pt = [torch.ones(2, requires_grad=True), torch.ones(3, requires_grad=True)]
    o_sc = getattr(optim, opt)([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.37}], **kw)
    o_th = getattr(torch.optim, opt)([{"params": pt[:1]}, {"params": pt[1:], "lr": 0.37}], **kw)
    return o_sc, o_th


def _momenta(o) -> list:
    return [g["momentum"] if "momentum" in g else g["betas"][0] for g in o.param_groups]


SCHEDULES = {
    "StepLR": "StepLR(o, 7, 0.5)",
    "MultiStepLR": "MultiStepLR(o, [3, 10, 10, 40], 0.3)",
    "ExponentialLR": "ExponentialLR(o, 0.97)",
    "CosineAnnealingLR": "CosineAnnealingLR(o, 13, 0.001)",
    "CosineAnnealingLR-1": "CosineAnnealingLR(o, 1)",
    "WarmRestarts": "CosineAnnealingWarmRestarts(o, 5, 2, 0.01)",
    "WarmRestarts-1": "CosineAnnealingWarmRestarts(o, 7)",
    "LinearLR": "LinearLR(o, 0.1, 0.9, 17)",
    "LinearLR-down": "LinearLR(o, 1.0, 0.0, 10)",
    "ConstantLR": "ConstantLR(o, 0.25, 9)",
    "PolynomialLR": "PolynomialLR(o, 20, 2.5)",
    "LambdaLR": "LambdaLR(o, [lambda e: 0.9 ** e, lambda e: 1 / (e + 1)])",
    "MultiplicativeLR": "MultiplicativeLR(o, lambda e: 0.95)",
    "OneCycleLR": "OneCycleLR(o, [1.0, 0.5], total_steps=90)",
    "OneCycleLR-3": ("OneCycleLR(o, 1.0, epochs=9, steps_per_epoch=10, pct_start=0.25, anneal_strategy='linear', "
                     "three_phase=True, base_momentum=[0.7, 0.6], max_momentum=0.99, div_factor=10, "
                     "final_div_factor=100)"),
    "OneCycleLR-nomom": "OneCycleLR(o, 1.0, total_steps=90, cycle_momentum=False)",
    "CyclicLR": "CyclicLR(o, 0.01, [0.1, 0.2], step_size_up=7)",
    "CyclicLR-tri2": ("CyclicLR(o, [0.001, 0.002], 0.05, step_size_up=5, step_size_down=9, mode='triangular2', "
                      "base_momentum=0.7, max_momentum=[0.95, 0.9])"),
    "CyclicLR-exp": "CyclicLR(o, 0.01, 0.1, step_size_up=6, mode='exp_range', gamma=0.97)",
    "CyclicLR-fn": ("CyclicLR(o, 0.01, 0.1, step_size_up=4, scale_fn=lambda x: 1 / (1 + 0.1 * x), "
                    "scale_mode='iterations', cycle_momentum=False)"),
    "SequentialLR": ("SequentialLR(o, [LinearLR(o, 0.1, total_iters=5), CosineAnnealingLR(o, 20), "
                     "ExponentialLR(o, 0.9)], [5, 30])"),
    "SequentialLR-cos": "SequentialLR(o, [CosineAnnealingLR(o, 10), StepLR(o, 3)], [12])",
    "SequentialLR-wr": ("SequentialLR(o, [LinearLR(o, 0.1, total_iters=4), "
                        "CosineAnnealingWarmRestarts(o, 5, 2, 0.001)], [4])"),
    "SequentialLR-3": ("SequentialLR(o, [PolynomialLR(o, 6, 2.0), MultiplicativeLR(o, lambda e: 0.97), "
                       "LambdaLR(o, lambda e: 0.5 + 0.01 * e)], [6, 20])"),
    "SequentialLR-ms": ("SequentialLR(o, [ConstantLR(o, 0.3, 3), MultiStepLR(o, [2, 5, 5], 0.5), StepLR(o, 4, 0.7)], "
                        "[3, 12])"),
    "Chained": "ChainedScheduler([ConstantLR(o, 0.5, 4), ExponentialLR(o, 0.9), StepLR(o, 5, 0.5)])",
    "Chained-cos": "ChainedScheduler([LinearLR(o, 0.2, total_iters=6), CosineAnnealingLR(o, 11, 0.01)])",
    "Chained-seq": ("ChainedScheduler([SequentialLR(o, [ConstantLR(o, 0.5, 4), ExponentialLR(o, 0.9)], [6]), "
                    "StepLR(o, 5, 0.5)])"),
}


def _build(module, src: str, o):
    return eval(src, {**vars(module), "o": o})


def _assert_lrs(s_sc, s_th, o_sc, o_th, where: str) -> None:
    got, want = s_sc.get_last_lr(), s_th.get_last_lr()
    assert got == pytest.approx(want, rel=TOL, abs=1e-300), where
    assert [g["lr"] for g in o_sc.param_groups] == pytest.approx([g["lr"] for g in o_th.param_groups], rel=TOL), where
    assert _momenta(o_sc) == pytest.approx(_momenta(o_th), rel=TOL), where


@pytest.mark.parametrize("key, opt", [(k, "SGD") for k in SCHEDULES]
                         + [(k, "Adam") for k in SCHEDULES if k.startswith(("OneCycle", "CyclicLR"))])  # beta1 cycles
def test_scheduler_matches_torch_with_state_dict_resume(torch, key, opt):
    src = SCHEDULES[key]
    o_sc, o_th = _pair(torch, opt)
    s_sc, s_th = _build(S, src, o_sc), _build(torch.optim.lr_scheduler, src, o_th)
    steps = 89 if key.startswith("OneCycle") else 120
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in range(steps):
            _assert_lrs(s_sc, s_th, o_sc, o_th, f"epoch {t}")
            if t == 40:    # resume: fresh optimiser + scheduler, then both state dicts
                fresh, _ = _pair(torch, opt)
                s_fresh = _build(S, src, fresh)
                fresh.load_state_dict(o_sc.state_dict())
                s_fresh.load_state_dict(s_sc.state_dict())
                o_sc, s_sc = fresh, s_fresh
            if t == 70 and not key.startswith(("OneCycle", "CyclicLR", "LambdaLR", "WarmRestarts")):
                for o in (o_sc, o_th):     # a manual change the chainable forms carry on from
                    o.param_groups[1]["lr"] *= 0.5
            o_sc.step(), o_th.step()
            s_sc.step(), s_th.step()
        _assert_lrs(s_sc, s_th, o_sc, o_th, "end")


RESUMABLE = ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "ConstantLR", "PolynomialLR",
             "LambdaLR", "MultiplicativeLR", "OneCycleLR", "OneCycleLR-3", "WarmRestarts", "CyclicLR", "CyclicLR-tri2"]


@pytest.mark.parametrize("key", RESUMABLE)
def test_scheduler_built_with_last_epoch_matches_torch(torch, key):
    src = SCHEDULES[key]
    o_sc, o_th = _pair(torch)
    s_sc, s_th = _build(S, src, o_sc), _build(torch.optim.lr_scheduler, src, o_th)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(15):
            o_sc.step(), o_th.step(), s_sc.step(), s_th.step()
        src_resumed = src[:-1] + ", last_epoch=14)"
        s_sc, s_th = _build(S, src_resumed, o_sc), _build(torch.optim.lr_scheduler, src_resumed, o_th)
        for t in range(40):
            _assert_lrs(s_sc, s_th, o_sc, o_th, f"epoch {15 + t}")
            o_sc.step(), o_th.step(), s_sc.step(), s_th.step()


@pytest.mark.parametrize("key", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR",
                                 "ConstantLR", "PolynomialLR", "LambdaLR", "MultiplicativeLR"])
def test_scheduler_step_with_epoch_matches_torch(torch, key):
    src = SCHEDULES[key]
    o_sc, o_th = _pair(torch)
    s_sc, s_th = _build(S, src, o_sc), _build(torch.optim.lr_scheduler, src, o_th)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in [3, 5, 5, 17, 2, 40, 41, 0, 9, 8, 25]:
            s_sc.step(epoch), s_th.step(epoch)
            _assert_lrs(s_sc, s_th, o_sc, o_th, f"step({epoch})")
            s_sc.step(), s_th.step()
            _assert_lrs(s_sc, s_th, o_sc, o_th, f"step() after step({epoch})")


@pytest.mark.parametrize("T_0,T_mult", [(5, 1), (5, 2), (3, 3)])
def test_warm_restarts_fractional_epochs_match_torch(torch, T_0, T_mult):
    o_sc, o_th = _pair(torch)
    s_sc = S.CosineAnnealingWarmRestarts(o_sc, T_0, T_mult, 0.01)
    s_th = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o_th, T_0, T_mult, 0.01)
    for epoch in np.arange(0, 60, 0.37):
        s_sc.step(float(epoch)), s_th.step(float(epoch))
        _assert_lrs(s_sc, s_th, o_sc, o_th, f"epoch {epoch}")
        assert (s_sc.T_i, s_sc.last_epoch) == (s_th.T_i, s_th.last_epoch)
    for t in range(30):
        s_sc.step(), s_th.step()
        _assert_lrs(s_sc, s_th, o_sc, o_th, f"step {t}")


@pytest.mark.parametrize("kw", [
    dict(),
    dict(mode="max", factor=0.5, patience=2, threshold=0.1, threshold_mode="abs", cooldown=3, min_lr=[0.01, 0.2],
         eps=1e-3),
    dict(patience=0, cooldown=1, min_lr=0.02, threshold_mode="abs"),
    dict(mode="max", patience=1, threshold=0.05),
])
def test_reduce_on_plateau_matches_torch(torch, kw):
    rng = np.random.default_rng(1)
    o_sc, o_th = _pair(torch)
    s_sc, s_th = S.ReduceLROnPlateau(o_sc, **kw), torch.optim.lr_scheduler.ReduceLROnPlateau(o_th, **kw)
    metric, reductions = 1.0, 0
    for t in range(120):
        metric += rng.normal() * 0.05 - 0.004 * (1 if t < 60 else -1)
        if t == 50:
            fresh, _ = _pair(torch)
            s_fresh = S.ReduceLROnPlateau(fresh, **kw)
            fresh.load_state_dict(o_sc.state_dict())
            s_fresh.load_state_dict(s_sc.state_dict())
            o_sc, s_sc = fresh, s_fresh
        before = s_th.get_last_lr()
        s_sc.step(metric), s_th.step(metric)
        reductions += s_th.get_last_lr() != before
        assert s_sc.get_last_lr() == s_th.get_last_lr(), f"epoch {t}"
        for k in ("best", "num_bad_epochs", "cooldown_counter", "last_epoch"):
            assert getattr(s_sc, k) == getattr(s_th, k), (t, k)
    assert reductions > 0


@pytest.mark.parametrize("src", ["LambdaLR(o, lambda e: 0.9 ** e)", "MultiplicativeLR(o, lambda e: 0.9)",
                                 "CosineAnnealingWarmRestarts(o, 3)"])
def test_group_added_after_scheduler_is_an_error_not_silently_unscheduled(torch, src):
    """Regression: these schedulers computed one lr per *original* group and the zip in ``step`` dropped the
    rest, leaving a group added later at its own lr without a word; torch raises ValueError (strict zip)."""
    o_th = torch.optim.SGD([torch.ones(2, requires_grad=True)], lr=0.1)
    s_th = _build(torch.optim.lr_scheduler, src, o_th)
    o_th.add_param_group({"params": [torch.ones(2, requires_grad=True)], "lr": 0.5})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError):
            s_th.step()
    o_sc = optim.SGD([nn.Parameter(np.ones(2))], lr=0.1)
    s_sc = _build(S, src, o_sc)
    o_sc.add_param_group({"params": [nn.Parameter(np.ones(2))], "lr": 0.5})
    with pytest.raises(ValueError, match="parameter groups"):
        s_sc.step()


def test_cyclic_lr_bad_arguments_like_torch(torch):
    o_sc = optim.Adagrad([nn.Parameter(np.ones(2))], lr=0.1)
    o_th = torch.optim.Adagrad([torch.ones(2, requires_grad=True)], lr=0.1)
    for kw, match in [(dict(mode="zigzag", cycle_momentum=False), "mode"),
                      (dict(), "momentum")]:                  # Adagrad has no momentum to cycle
        with pytest.raises(ValueError):
            torch.optim.lr_scheduler.CyclicLR(o_th, 0.01, 0.1, **kw)
        with pytest.raises(ValueError, match=match):
            S.CyclicLR(o_sc, 0.01, 0.1, **kw)
    # stricter than torch, which takes any other scale_mode as "iterations" silently
    with pytest.raises(ValueError, match="scale_mode"):
        S.CyclicLR(o_sc, 0.01, 0.1, scale_mode="sometimes", cycle_momentum=False, scale_fn=abs)
