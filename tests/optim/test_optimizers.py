"""Optimisers and schedulers without PyTorch: hand-computed steps, in-place updates, groups, state_dict,
validation, convergence, and schedule shapes."""
from __future__ import annotations

import math

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import nn, optim
from scratchcnn.optim import lr_scheduler as sched


def _param(values, dtype=np.float64):
    return nn.Parameter(np.array(values, dtype=dtype))


def test_sgd_hand_computed_momentum_nesterov_weight_decay():
    p = _param([1.0, -2.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.5, nesterov=True)
    g = np.array([0.2, 0.4])
    p.grad = g.copy()
    opt.step()
    d1 = g + 0.5 * np.array([1.0, -2.0])       # buf = d1 on the first step
    x1 = np.array([1.0, -2.0]) - 0.1 * (d1 + 0.9 * d1)
    np.testing.assert_allclose(p.data, x1, rtol=1e-15)
    p.grad = g.copy()
    opt.step()
    d2 = g + 0.5 * x1
    buf = 0.9 * d1 + d2
    np.testing.assert_allclose(p.data, x1 - 0.1 * (d2 + 0.9 * buf), rtol=1e-15)
    np.testing.assert_array_equal(p.grad, g)  # the gradient itself is never modified


def test_sgd_dampening_and_maximize():
    p = _param([0.0])
    opt = optim.SGD([p], lr=1.0, momentum=0.5, dampening=0.25, maximize=True)
    for _ in range(2):
        p.grad = np.array([1.0])
        opt.step()
    # buf1 = -1 ; buf2 = 0.5 * -1 + 0.75 * -1 = -1.25 ; p = 0 + 1 + 1.25
    np.testing.assert_allclose(p.data, [2.25])


def test_adam_hand_computed_first_steps():
    p = _param([1.0, 2.0])
    opt = optim.Adam([p], lr=0.01, betas=(0.8, 0.9), eps=1e-3)
    g1, g2 = np.array([0.5, -1.0]), np.array([0.1, 0.3])
    p.grad = g1
    opt.step()
    p.grad = g2
    opt.step()
    m1, v1 = 0.2 * g1, 0.1 * g1 ** 2
    x1 = np.array([1.0, 2.0]) - 0.01 / 0.2 * m1 / (np.sqrt(v1) / math.sqrt(0.1) + 1e-3)
    m2, v2 = 0.8 * m1 + 0.2 * g2, 0.9 * v1 + 0.1 * g2 ** 2
    x2 = x1 - 0.01 / (1 - 0.8 ** 2) * m2 / (np.sqrt(v2) / math.sqrt(1 - 0.9 ** 2) + 1e-3)
    np.testing.assert_allclose(p.data, x2, rtol=1e-14)
    assert opt.state[p]["step"] == 2


def test_adamw_decays_before_the_step():
    p = _param([2.0])
    opt = optim.AdamW([p], lr=0.1, weight_decay=0.5)
    assert opt.defaults["weight_decay"] == 0.5 and optim.AdamW([_param([0.0])]).defaults["weight_decay"] == 1e-2
    p.grad = np.array([3.0])
    opt.step()
    # first Adam step moves by lr * g/|g| (up to eps); decay multiplies by 1 - lr * wd first
    np.testing.assert_allclose(p.data, [2.0 * 0.95 - 0.1 * 3.0 / (3.0 + 1e-8)], rtol=1e-14)


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1),
    lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    lambda ps: optim.Adam(ps, lr=0.1),
    lambda ps: optim.Adam(ps, lr=0.1, amsgrad=True, weight_decay=1e-4),
    lambda ps: optim.AdamW(ps, lr=0.1, weight_decay=1e-4),
])
def test_converges_on_quadratic_in_place_float32(make):
    target = np.array([1.5, -0.5, 2.0], dtype=np.float32)
    p = nn.Parameter(np.zeros(3, dtype=np.float32))
    arr = p.data
    opt = make([p])
    for _ in range(300):
        opt.zero_grad()
        loss = ((p - sc.Tensor(target)) ** 2).sum()
        loss.backward()
        opt.step()
    assert p.data is arr and p.dtype == np.float32
    assert all(v.dtype == np.float32 for s in opt.state.values() for v in s.values() if isinstance(v, np.ndarray))
    np.testing.assert_allclose(p.data, target, atol=2e-2)


def test_params_without_grad_are_skipped_and_zero_grad():
    a, b = _param([1.0]), _param([2.0])
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = np.array([1.0])
    opt.step()
    assert b.data[0] == 2.0 and b not in opt.state
    opt.zero_grad(set_to_none=False)
    assert a.grad is not None and a.grad[0] == 0.0
    opt.zero_grad()
    assert a.grad is None


def test_param_groups_and_validation():
    a, b = _param([1.0]), _param([1.0])
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = np.array([1.0]), np.array([1.0])
    opt.step()
    np.testing.assert_allclose([a.data[0], b.data[0]], [0.9, 0.5])
    c = _param([0.0])
    opt.add_param_group({"params": c, "momentum": 0.9})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["momentum"] == 0.9
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(a, lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        optim.Adam([a], lr=-1)
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        optim.Adam([a], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([a], lr=0.1, nesterov=True)
    with pytest.raises(TypeError, match="floating"):
        optim.SGD([sc.Tensor(np.array([1, 2]))], lr=0.1)
    assert "Parameter Group 1" in repr(opt) and "lr: 0.5" in repr(opt)


def _run(opt, params, grads):
    for g in grads:
        for p, gp in zip(params, g):
            p.grad = gp.copy()
        opt.step()


def test_state_dict_round_trip_continues_identically():
    rng = np.random.default_rng(0)
    grads = [[rng.standard_normal(3), rng.standard_normal((2, 2))] for _ in range(8)]
    for make in (lambda ps: optim.Adam(ps, lr=0.05, amsgrad=True),
                 lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9)):
        ps1 = [_param(rng.standard_normal(3)), _param(rng.standard_normal((2, 2)))]
        ps2 = [_param(p.data.copy()) for p in ps1]
        o1 = make(ps1)
        _run(o1, ps1, grads[:4])
        sd = o1.state_dict()
        assert sorted(sd) == ["param_groups", "state"] and sd["param_groups"][0]["params"] == [0, 1]
        for p2, p1 in zip(ps2, ps1):
            p2.data[...] = p1.data
        o2 = make(ps2)
        o2.param_groups[0]["lr"] = 123.0  # overwritten by load_state_dict
        o2.load_state_dict(sd)
        assert o2.param_groups[0]["lr"] == 0.05
        _run(o1, ps1, grads[4:])
        _run(o2, ps2, grads[4:])
        for p1, p2 in zip(ps1, ps2):
            np.testing.assert_array_equal(p1.data, p2.data)
        # the saved dict holds copies: stepping on did not change it
        key = "exp_avg" if "exp_avg" in sd["state"][0] else "momentum_buffer"
        assert not np.array_equal(sd["state"][0][key], o1.state[ps1[0]][key])


def test_load_state_dict_mismatches_raise():
    a, b = _param([1.0]), _param([2.0])
    opt = optim.SGD([a, b], lr=0.1)
    with pytest.raises(ValueError, match="parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": [{"params": [0]}, {"params": [1]}]})
    with pytest.raises(ValueError, match="parameter group 0 has 1 parameters"):
        opt.load_state_dict({"state": {}, "param_groups": [{"params": [0], "lr": 0.1}]})
    with pytest.raises(ValueError, match="'state'"):
        opt.load_state_dict({"param_groups": []})


def test_closure_is_called():
    p = _param([3.0])
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 9.0 and p.data[0] == pytest.approx(3.0 - 0.1 * 6.0)


def _lrs(scheduler_factory, steps=12, lr=1.0, opt_cls=optim.SGD, **kw):
    opt = opt_cls([_param([0.0])], lr=lr, **kw)
    s = scheduler_factory(opt)
    out = [s.get_last_lr()[0]]
    for _ in range(steps):
        opt.step()
        s.step()
        out.append(s.get_last_lr()[0])
    return out, opt, s


def test_step_and_multistep_schedules():
    out, _, _ = _lrs(lambda o: sched.StepLR(o, step_size=3, gamma=0.5), steps=7)
    np.testing.assert_allclose(out, [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25])
    out, _, _ = _lrs(lambda o: sched.MultiStepLR(o, milestones=[2, 5, 5], gamma=0.1), steps=6)
    np.testing.assert_allclose(out, [1, 1, 0.1, 0.1, 0.1, 1e-3, 1e-3])


def test_linear_and_cosine_schedules_follow_closed_forms():
    out, _, _ = _lrs(lambda o: sched.LinearLR(o, start_factor=0.25, total_iters=4), steps=6)
    np.testing.assert_allclose(out, [0.25, 0.4375, 0.625, 0.8125, 1.0, 1.0, 1.0], rtol=1e-12)
    out, _, _ = _lrs(lambda o: sched.CosineAnnealingLR(o, T_max=10, eta_min=0.1), steps=25)
    closed = [0.1 + 0.9 * (1 + math.cos(math.pi * t / 10)) / 2 for t in range(26)]
    np.testing.assert_allclose(out, closed, rtol=1e-10, atol=1e-12)


def test_one_cycle_endpoints_and_momentum():
    out, opt, _ = _lrs(lambda o: sched.OneCycleLR(o, max_lr=2.0, total_steps=20), steps=19, momentum=0.9)
    assert out[0] == pytest.approx(2.0 / 25)
    assert max(out) == pytest.approx(2.0) and int(np.argmax(out)) == 5  # end of phase 1: 0.3 * 20 - 1
    assert out[-1] == pytest.approx(2.0 / 25 / 1e4)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.95)
    _, adam, _ = _lrs(lambda o: sched.OneCycleLR(o, max_lr=1.0, total_steps=10), steps=3, opt_cls=optim.Adam)
    assert 0.85 < adam.param_groups[0]["betas"][0] < 0.95 and adam.param_groups[0]["betas"][1] == 0.999
    with pytest.raises(ValueError, match="total steps"):
        _lrs(lambda o: sched.OneCycleLR(o, max_lr=1.0, total_steps=5), steps=6)


def test_scheduler_state_dict_round_trip():
    out, opt, s = _lrs(lambda o: sched.CosineAnnealingLR(o, T_max=7), steps=3)
    sd = s.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 3
    opt2 = optim.SGD([_param([0.0])], lr=1.0)
    s2 = sched.CosineAnnealingLR(opt2, T_max=7)
    s2.load_state_dict(sd)
    opt2.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
    for _ in range(5):
        s.step()
        s2.step()
        assert s.get_last_lr() == s2.get_last_lr()
    with pytest.raises(TypeError):
        sched.StepLR(object(), 3)


def test_multistep_state_from_plain_dict_keeps_working():
    out, opt, s = _lrs(lambda o: sched.MultiStepLR(o, milestones=[4, 6, 6]), steps=3)
    sd = s.state_dict()
    sd["milestones"] = {str(k): v for k, v in sd["milestones"].items()}  # what a JSON round trip gives
    s2 = sched.MultiStepLR(optim.SGD([_param([0.0])], lr=1.0), milestones=[1])
    s2.load_state_dict(sd)
    s2.optimizer.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
    for _ in range(4):
        s.step()
        s2.step()
        assert s.get_last_lr() == s2.get_last_lr()
    with pytest.warns(UserWarning, match="deprecated"):   # as torch: step(epoch) is deprecated
        s2.step(epoch=7)  # closed form uses Counter.elements()
    assert s2.get_last_lr()[0] == pytest.approx(1e-3)


# ------------------------------------------------------------------ RMSprop, Adagrad, NAdam, Adamax
def test_rmsprop_hand_computed_centered_momentum():
    p = _param([1.0, -1.0])
    opt = optim.RMSprop([p], lr=0.1, alpha=0.9, eps=1e-6, momentum=0.5, centered=True)
    g1, g2 = np.array([0.4, -0.2]), np.array([0.1, 0.3])
    x, v, a, b = np.array([1.0, -1.0]), np.zeros(2), np.zeros(2), np.zeros(2)
    for g in (g1, g2):
        p.grad = g.copy()
        opt.step()
        v = 0.9 * v + 0.1 * g * g
        a = 0.9 * a + 0.1 * g
        b = 0.5 * b + g / (np.sqrt(v - a * a) + 1e-6)
        x = x - 0.1 * b
    np.testing.assert_allclose(p.data, x, rtol=1e-13)
    assert sorted(opt.state[p]) == ["grad_avg", "momentum_buffer", "square_avg", "step"] and opt.state[p]["step"] == 2


def test_adagrad_hand_computed_lr_decay_and_eager_state():
    p = _param([2.0])
    opt = optim.Adagrad([p], lr=0.5, lr_decay=0.1, initial_accumulator_value=1.0, eps=0.0)
    assert opt.state[p]["step"] == 0 and opt.state[p]["sum"][0] == 1.0   # created by the constructor
    x, acc = 2.0, 1.0
    for t, g in enumerate([3.0, -1.0, 0.5], start=1):
        p.grad = np.array([g])
        opt.step()
        acc += g * g
        x -= 0.5 / (1 + (t - 1) * 0.1) * g / math.sqrt(acc)
    np.testing.assert_allclose(p.data, [x], rtol=1e-14)


def test_adamax_and_nadam_first_step():
    p, q = _param([1.0]), _param([1.0])
    ax, na = optim.Adamax([p], lr=0.1), optim.NAdam([q], lr=0.1)
    p.grad, q.grad = np.array([2.0]), np.array([2.0])
    ax.step()
    na.step()
    # Adamax: m = 0.1 * g, u = |g| + eps, p -= lr / (1 - 0.9) * m / u  ~ lr
    np.testing.assert_allclose(p.data, [1.0 - 0.1 / 0.1 * 0.2 / (2.0 + 1e-8)], rtol=1e-14)
    mu1 = 0.9 * (1 - 0.5 * 0.96 ** 0.004)
    mu2 = 0.9 * (1 - 0.5 * 0.96 ** 0.008)
    denom = math.sqrt(0.001 * 4.0 / 0.001) + 1e-8
    expected = 1.0 - 0.1 * (1 - mu1) / (1 - mu1) * 2.0 / denom - 0.1 * mu2 / (1 - mu1 * mu2) * 0.2 / denom
    assert q.data[0] == pytest.approx(expected, rel=1e-6)   # mu_product is kept in the default float32
    assert sorted(na.state[q]) == ["exp_avg", "exp_avg_sq", "mu_product", "step"]


@pytest.mark.parametrize("make", [
    lambda ps: optim.RMSprop(ps, lr=0.01),
    lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True, weight_decay=1e-4),
    lambda ps: optim.Adagrad(ps, lr=0.5),
    lambda ps: optim.NAdam(ps, lr=0.05),
    lambda ps: optim.NAdam(ps, lr=0.05, weight_decay=1e-3, decoupled_weight_decay=True),
    lambda ps: optim.Adamax(ps, lr=0.05),
])
def test_new_optimizers_converge_in_place_float32(make):
    test_converges_on_quadratic_in_place_float32(make)


@pytest.mark.parametrize("cls, kw, key", [(optim.RMSprop, dict(alpha=-1.0), "alpha"),
                                          (optim.Adagrad, dict(lr_decay=-1.0), "lr_decay"),
                                          (optim.NAdam, dict(momentum_decay=-1.0), "momentum_decay"),
                                          (optim.Adamax, dict(betas=(0.9, 1.0)), "beta parameter at index 1")])
def test_new_optimizers_validate(cls, kw, key):
    with pytest.raises(ValueError, match=key):
        cls([_param([0.0])], **kw)


def test_new_optimizers_state_dict_round_trip():
    rng = np.random.default_rng(1)
    grads = [[rng.standard_normal(3)] for _ in range(6)]
    for make in (lambda ps: optim.RMSprop(ps, lr=0.05, momentum=0.9, centered=True),
                 lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.01),
                 lambda ps: optim.NAdam(ps, lr=0.05), lambda ps: optim.Adamax(ps, lr=0.05)):
        p1 = [_param(rng.standard_normal(3))]
        p2 = [_param(p1[0].data.copy())]
        o1 = make(p1)
        _run(o1, p1, grads[:3])
        p2[0].data[...] = p1[0].data
        o2 = make(p2)
        o2.load_state_dict(o1.state_dict())
        _run(o1, p1, grads[3:])
        _run(o2, p2, grads[3:])
        np.testing.assert_array_equal(p1[0].data, p2[0].data)


def test_more_schedules_shapes():
    out, _, _ = _lrs(lambda o: sched.ExponentialLR(o, 0.5), steps=3)
    np.testing.assert_allclose(out, [1, 0.5, 0.25, 0.125])
    out, _, _ = _lrs(lambda o: sched.ConstantLR(o, factor=0.5, total_iters=2), steps=3)
    np.testing.assert_allclose(out, [0.5, 0.5, 1, 1])
    out, _, _ = _lrs(lambda o: sched.LambdaLR(o, lambda e: 1 / (e + 1)), steps=3)
    np.testing.assert_allclose(out, [1, 1 / 2, 1 / 3, 1 / 4])
    out, _, _ = _lrs(lambda o: sched.MultiplicativeLR(o, lambda e: 0.9), steps=2)
    np.testing.assert_allclose(out, [1, 0.9, 0.81])
    out, _, _ = _lrs(lambda o: sched.PolynomialLR(o, total_iters=4, power=2.0), steps=5)
    np.testing.assert_allclose(out, [1, 0.5625, 0.25, 0.0625, 0, 0], atol=1e-15)
    out, _, _ = _lrs(lambda o: sched.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2), steps=6)
    np.testing.assert_allclose(out, [1, 0.5, 1, 0.5 + 0.5 * math.cos(math.pi / 4), 0.5,
                                     0.5 + 0.5 * math.cos(3 * math.pi / 4), 1], rtol=1e-12)


def test_sequential_warmup_then_cosine():
    def make(o):
        return sched.SequentialLR(o, [sched.LinearLR(o, 0.25, 1.0, 3), sched.CosineAnnealingLR(o, T_max=4)],
                                  milestones=[3])
    out, _, s = _lrs(make, steps=7)
    np.testing.assert_allclose(out[:4], [0.25, 0.5, 0.75, 1.0], rtol=1e-12)
    np.testing.assert_allclose(out[3:], [(1 + math.cos(math.pi * t / 4)) / 2 for t in range(5)], atol=1e-12)
    sd = s.state_dict()
    assert sd["last_epoch"] == 7 and len(sd["_schedulers"]) == 2 and "optimizer" not in sd["_schedulers"][0]


def test_reduce_lr_on_plateau_patience_cooldown_min_lr():
    opt = optim.SGD([_param([0.0])], lr=1.0)
    s = sched.ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1, min_lr=0.2)
    lrs = []
    for metric in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5]:
        s.step(metric)
        lrs.append(s.get_last_lr()[0])
    # bad epochs: 1 (ok), 2 > patience -> 0.5, cooldown eats one, then 2 more -> 0.25, ... floor at 0.2
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2]
    assert s.best == 0.5
    s2 = sched.ReduceLROnPlateau(optim.SGD([_param([0.0])], lr=1.0), mode="max")
    s2.load_state_dict(s.state_dict())
    assert s2.mode == "min" and s2.best == 0.5 and s2.num_bad_epochs == s.num_bad_epochs


@pytest.mark.parametrize("make", [lambda p, v: optim.Adam(p, lr=v), lambda p, v: optim.AdamW(p, eps=v),
                                  lambda p, v: optim.SGD(p, lr=0.1, momentum=v),
                                  lambda p, v: optim.Adam(p, betas=(v, 0.9))])
def test_nan_hyperparameters_are_refused_as_torch_does(make):
    """torch checks ``not 0.0 <= value``, so NaN fails; a plain ``value < 0`` check let it through."""
    with pytest.raises(ValueError, match="invalid"):
        make([nn.Parameter(np.zeros(2))], float("nan"))
