"""RMSprop with PyTorch's exact single-tensor update rule (``torch.optim.RMSprop``), done in place in
cache-sized chunks (see ``adam.py``)."""
from __future__ import annotations

from typing import Any, Callable, Iterable, NamedTuple

import numpy as np

from ._chunked import check_range, lerp_, prepare_grad, run_chunked, work_rows
from .optimizer import Optimizer


class _Hyper(NamedTuple):
    lr: float
    alpha: float
    eps: float
    wd: float
    momentum: float
    maximize: bool


def _rmsprop_update(p: np.ndarray, g: np.ndarray, sq: np.ndarray, gavg: np.ndarray | None,
                    buf: np.ndarray | None, work: np.ndarray, h: _Hyper) -> None:
    """One chunk, in torch's order: ``square_avg.mul_(alpha).addcmul_(g, g, value=1-alpha)``; centered:
    ``grad_avg.lerp_(g, 1-alpha)``, ``avg = (square_avg - grad_avg**2).sqrt()``, else ``square_avg.sqrt()``;
    ``avg += eps``; momentum: ``buf = buf * momentum + g / avg``, ``p -= lr * buf``; else ``p -= lr * g / avg``."""
    s1, s2 = work_rows(work, p)
    g = prepare_grad(g, p, h.maximize, h.wd, s1)
    sq *= h.alpha
    np.multiply(g, 1.0 - h.alpha, out=s2)
    s2 *= g
    sq += s2
    if gavg is not None:
        lerp_(gavg, g, 1.0 - h.alpha, s2)
        np.multiply(gavg, gavg, out=s2)
        np.subtract(sq, s2, out=s2)
        np.sqrt(s2, out=s2)
    else:
        np.sqrt(sq, out=s2)
    s2 += h.eps
    if buf is not None:
        buf *= h.momentum
        np.divide(g, s2, out=s2)
        buf += s2
        np.multiply(buf, -h.lr, out=s2)
    else:
        np.multiply(g, -h.lr, out=s1)       # torch's addcdiv_: (value * g) / avg
        np.divide(s1, s2, out=s2)
    p += s2


class RMSprop(Optimizer):
    """RMSprop (PyTorch's ``torch.optim.RMSprop``). Per parameter with gradient g:

    g <- -g if maximize; g <- g + weight_decay * p;
    v <- alpha * v + (1 - alpha) * g^2; centered: a <- lerp(a, g, 1 - alpha), denom = sqrt(v - a^2) + eps,
    else denom = sqrt(v) + eps; momentum > 0: b <- momentum * b + g / denom, p <- p - lr * b;
    else p <- p - lr * g / denom.

    State per parameter (torch's names): ``step``, ``square_avg``, ``momentum_buffer`` (momentum > 0) and
    ``grad_avg`` (centered). ``maximize`` is keyword-only (torch places ``capturable`` and ``foreach`` before it).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, *,
                 maximize: bool = False):
        check_range("RMSprop", "learning rate", lr)
        check_range("RMSprop", "epsilon", eps)
        check_range("RMSprop", "momentum", momentum)
        check_range("RMSprop", "weight_decay", weight_decay)
        check_range("RMSprop", "alpha", alpha)
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One RMSprop update of every parameter that has a gradient; returns ``closure()``'s loss if given."""
        loss = self._closure(closure)
        for group in self.param_groups:
            momentum, centered = float(group["momentum"]), bool(group["centered"])
            hyper = _Hyper(lr=float(group["lr"]), alpha=float(group["alpha"]), eps=float(group["eps"]),
                           wd=float(group["weight_decay"]), momentum=momentum, maximize=bool(group["maximize"]))
            for p, g, state in self._with_grads(group):
                if not state:
                    state["step"] = 0
                    state["square_avg"] = np.zeros_like(p.data)
                # created on first use (torch creates them with the state and raises KeyError if the
                # group's momentum / centered is switched on later)
                if momentum > 0 and "momentum_buffer" not in state:
                    state["momentum_buffer"] = np.zeros_like(p.data)
                if centered and "grad_avg" not in state:
                    state["grad_avg"] = np.zeros_like(p.data)
                state["step"] += 1
                arrays = (p.data, g, state["square_avg"], state["grad_avg"] if centered else None,
                          state["momentum_buffer"] if momentum > 0 else None)
                run_chunked(_rmsprop_update, arrays, hyper)
                p._version += 1     # torch's param.addcdiv_ / add_
        return loss


__all__ = ["RMSprop"]
