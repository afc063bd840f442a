"""NAdam and Adamax with PyTorch's exact single-tensor update rules (``torch.optim.NAdam``,
``torch.optim.Adamax``), done in place in cache-sized chunks (see ``adam.py``)."""
from __future__ import annotations

from typing import Any, Callable, Iterable, NamedTuple

import numpy as np

from .. import backend
from ._chunked import check_range, lerp_, prepare_grad, run_chunked, work_rows
from .optimizer import Optimizer, check_adam_args


class _NAdamHyper(NamedTuple):
    beta1: float
    beta2: float
    bc2: float           # 1 - beta2**t
    c_grad: float        # -lr * (1 - mu_t) / (1 - prod_{i<=t} mu_i)
    c_avg: float         # -lr * mu_{t+1} / (1 - prod_{i<=t+1} mu_i)
    eps: float
    wd: float            # L2 decay added to the gradient, 0 when decoupled
    decay: float         # decoupled: 1 - lr * wd, else 1
    maximize: bool


def _nadam_update(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, work: np.ndarray,
                  h: _NAdamHyper) -> None:
    """One chunk: ``m.lerp_(g, 1-b1)``, ``v = v*b2 + (1-b2)*g*g``, ``denom = sqrt(v / bc2) + eps``,
    ``p.addcdiv_(g, denom, c_grad)``, ``p.addcdiv_(m, denom, c_avg)``."""
    s1, s2 = work_rows(work, p)
    if h.decay != 1.0:
        p *= h.decay
    g = prepare_grad(g, p, h.maximize, h.wd, s1)
    lerp_(m, g, 1.0 - h.beta1, s2)
    v *= h.beta2
    np.multiply(g, 1.0 - h.beta2, out=s2)
    s2 *= g
    v += s2
    np.divide(v, h.bc2, out=s2)
    np.sqrt(s2, out=s2)
    s2 += h.eps
    np.multiply(g, h.c_grad, out=s1)
    s1 /= s2
    p += s1
    np.multiply(m, h.c_avg, out=s1)
    s1 /= s2
    p += s1


class NAdam(Optimizer):
    """NAdam (PyTorch's ``torch.optim.NAdam``, Dozat's Nesterov Adam with momentum decay). At step t:

    g <- -g if maximize; decoupled: p <- p * (1 - lr * wd), else g <- g + wd * p;
    mu_t = beta1 * (1 - 0.5 * 0.96**(t * momentum_decay)); mu_product <- mu_product * mu_t;
    m <- lerp(m, g, 1 - beta1); v <- beta2 * v + (1 - beta2) * g^2; denom = sqrt(v / (1 - beta2**t)) + eps;
    p <- p - lr * (1 - mu_t) / (1 - mu_product) * g / denom
           - lr * mu_{t+1} / (1 - mu_product * mu_{t+1}) * m / denom.

    State: ``step``, ``mu_product`` (a float, rounded like torch's 0-d tensor of the default dtype),
    ``exp_avg``, ``exp_avg_sq``.
    """

    def __init__(self, params: Iterable[Any], lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False):
        betas = check_adam_args("NAdam", lr, eps, betas, weight_decay)
        check_range("NAdam", "momentum_decay", momentum_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One NAdam update of every parameter that has a gradient; returns ``closure()``'s loss if given."""
        loss = self._closure(closure)
        for group in self.param_groups:
            lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
            beta1, beta2 = (float(b) for b in group["betas"])
            mdecay, decoupled = float(group["momentum_decay"]), bool(group["decoupled_weight_decay"])
            for p, g, state in self._with_grads(group):
                if not state:
                    state["step"] = 0
                    state["mu_product"] = 1.0
                    state["exp_avg"] = np.zeros_like(p.data)
                    state["exp_avg_sq"] = np.zeros_like(p.data)
                state["step"] += 1
                t = state["step"]
                mu = beta1 * (1.0 - 0.5 * (0.96 ** (t * mdecay)))
                mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * mdecay)))
                if backend.get_default_dtype() == np.float64:
                    mu_product = float(state["mu_product"]) * mu
                else:   # torch's float32 tensor *= python float: both rounded to float32, product in float32
                    mu_product = float(np.float32(state["mu_product"]) * np.float32(mu))
                state["mu_product"] = mu_product
                mu_product_next = mu_product * mu_next
                hyper = _NAdamHyper(beta1=beta1, beta2=beta2, bc2=1 - beta2 ** t,
                                    c_grad=-lr * (1.0 - mu) / (1.0 - mu_product),
                                    c_avg=(-lr * mu_next) / (1.0 - mu_product_next), eps=eps,
                                    wd=0.0 if decoupled and wd != 0 else wd,
                                    decay=1 - lr * wd if decoupled and wd != 0 else 1.0,
                                    maximize=bool(group["maximize"]))
                run_chunked(_nadam_update, (p.data, g, state["exp_avg"], state["exp_avg_sq"]), hyper)
                p._version += 3 if decoupled and wd != 0 else 2    # torch: (param.mul_,) two param.addcdiv_
        return loss


class _AdamaxHyper(NamedTuple):
    beta1: float
    beta2: float
    clr: float           # lr / (1 - beta1**t)
    eps: float
    wd: float
    maximize: bool


def _adamax_update(p: np.ndarray, g: np.ndarray, m: np.ndarray, u: np.ndarray, work: np.ndarray,
                   h: _AdamaxHyper) -> None:
    """One chunk: ``m.lerp_(g, 1-b1)``, ``u = max(u * b2, |g| + eps)``, ``p.addcdiv_(m, u, value=-clr)``."""
    s1, s2 = work_rows(work, p)
    g = prepare_grad(g, p, h.maximize, h.wd, s1)
    lerp_(m, g, 1.0 - h.beta1, s2)
    u *= h.beta2
    np.abs(g, out=s2)
    s2 += h.eps
    np.maximum(u, s2, out=u)
    np.multiply(m, -h.clr, out=s2)
    s2 /= u
    p += s2


class Adamax(Optimizer):
    """Adamax (PyTorch's ``torch.optim.Adamax``, Adam with the infinity norm). At step t:

    g <- -g if maximize; g <- g + weight_decay * p; m <- lerp(m, g, 1 - beta1);
    u <- max(beta2 * u, |g| + eps); p <- p - lr / (1 - beta1**t) * m / u.

    State: ``step``, ``exp_avg``, ``exp_inf``.
    """

    def __init__(self, params: Iterable[Any], lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, *, maximize: bool = False):
        betas = check_adam_args("Adamax", lr, eps, betas, weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adamax update of every parameter that has a gradient; returns ``closure()``'s loss if given."""
        loss = self._closure(closure)
        for group in self.param_groups:
            lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
            beta1, beta2 = (float(b) for b in group["betas"])
            for p, g, state in self._with_grads(group):
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = np.zeros_like(p.data)
                    state["exp_inf"] = np.zeros_like(p.data)
                state["step"] += 1
                hyper = _AdamaxHyper(beta1=beta1, beta2=beta2, clr=lr / (1 - beta1 ** state["step"]), eps=eps,
                                     wd=wd, maximize=bool(group["maximize"]))
                run_chunked(_adamax_update, (p.data, g, state["exp_avg"], state["exp_inf"]), hyper)
                p._version += 1     # torch's param.addcdiv_
        return loss


__all__ = ["NAdam", "Adamax"]
