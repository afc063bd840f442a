"""Adam and AdamW with PyTorch's exact single-tensor update rule, done in place with reusable work arrays
(no per-step allocations: Adam runs on multi-million-parameter layers every training step)."""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import numpy as np

from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam (PyTorch's ``torch.optim.Adam``). Per parameter, at step t with gradient g:

    g <- -g if maximize; decoupled: p <- p * (1 - lr * wd), else g <- g + wd * p;
    m <- lerp(m, g, 1 - beta1); v <- beta2 * v + (1 - beta2) * g * g; (amsgrad: v_max <- max(v_max, v));
    p <- p - (lr / (1 - beta1**t)) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps).
    """

    _decoupled_default = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool | None = None):
        name = type(self).__name__
        if lr < 0.0:
            raise ValueError(f"{name}: invalid learning rate {lr} (expected >= 0)")
        if eps < 0.0:
            raise ValueError(f"{name}: invalid epsilon value {eps} (expected >= 0)")
        if len(betas) != 2 or not 0.0 <= betas[0] < 1.0 or not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"{name}: invalid betas {betas} (expected two values in [0, 1))")
        if weight_decay < 0.0:
            raise ValueError(f"{name}: invalid weight_decay value {weight_decay} (expected >= 0)")
        if decoupled_weight_decay is None:
            decoupled_weight_decay = self._decoupled_default
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adam update of every parameter that has a gradient; returns ``closure()``'s loss if given."""
        loss = self._closure(closure)
        for group in self.param_groups:
            lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
            beta1, beta2 = (float(b) for b in group["betas"])
            amsgrad, maximize, decoupled = group["amsgrad"], group["maximize"], group["decoupled_weight_decay"]
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                state = self.state.setdefault(p, {})
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = np.zeros_like(p.data)
                    state["exp_avg_sq"] = np.zeros_like(p.data)
                    if amsgrad:
                        state["max_exp_avg_sq"] = np.zeros_like(p.data)
                m, v = state["exp_avg"], state["exp_avg_sq"]
                s1, s2 = self._scratch(p, 0), self._scratch(p, 1)
                if maximize:
                    np.negative(g, out=s1)
                    g = s1
                state["step"] += 1
                t = state["step"]
                if wd != 0:
                    if decoupled:
                        p.data *= 1.0 - lr * wd
                    else:  # g <- g + wd * p
                        np.multiply(p.data, wd, out=s2)
                        np.add(g, s2, out=s1)
                        g = s1
                # m <- m + (1 - beta1) * (g - m)   (torch's lerp_)
                np.subtract(g, m, out=s2)
                s2 *= 1.0 - beta1
                m += s2
                # v <- beta2 * v + (1 - beta2) * g * g
                v *= beta2
                np.multiply(g, g, out=s2)
                s2 *= 1.0 - beta2
                v += s2
                bias_correction1 = 1 - beta1 ** t
                bias_correction2 = 1 - beta2 ** t
                step_size = lr / bias_correction1
                bc2_sqrt = math.sqrt(bias_correction2)
                if amsgrad:
                    vmax = state.get("max_exp_avg_sq")
                    if vmax is None:  # amsgrad switched on after the first step
                        vmax = state["max_exp_avg_sq"] = np.zeros_like(p.data)
                    np.maximum(vmax, v, out=vmax)
                    np.sqrt(vmax, out=s2)
                else:
                    np.sqrt(v, out=s2)
                s2 /= bc2_sqrt
                s2 += eps
                np.divide(m, s2, out=s2)
                s2 *= -step_size
                p.data += s2
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p <- p * (1 - lr * weight_decay) before the
    Adam step. PyTorch's ``torch.optim.AdamW`` (default weight_decay 1e-2)."""

    _decoupled_default = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)


__all__ = ["Adam", "AdamW"]
