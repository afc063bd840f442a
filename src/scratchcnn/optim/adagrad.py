"""Adagrad with PyTorch's exact single-tensor update rule (``torch.optim.Adagrad``, dense gradients), done in
place in cache-sized chunks (see ``adam.py``)."""
from __future__ import annotations

from typing import Any, Callable, Iterable, NamedTuple

import numpy as np

from ._chunked import check_range, prepare_grad, run_chunked, work_rows
from .optimizer import Optimizer


class _Hyper(NamedTuple):
    clr: float           # lr / (1 + (step - 1) * lr_decay)
    eps: float
    wd: float
    maximize: bool


def _adagrad_update(p: np.ndarray, g: np.ndarray, acc: np.ndarray, work: np.ndarray, h: _Hyper) -> None:
    """One chunk: ``sum.addcmul_(g, g)``, ``std = sum.sqrt().add_(eps)``, ``p.addcdiv_(g, std, value=-clr)``."""
    s1, s2 = work_rows(work, p)
    g = prepare_grad(g, p, h.maximize, h.wd, s1)
    np.multiply(g, g, out=s2)
    acc += s2
    np.sqrt(acc, out=s2)
    s2 += h.eps
    np.multiply(g, -h.clr, out=s1)
    np.divide(s1, s2, out=s2)
    p += s2


class Adagrad(Optimizer):
    """Adagrad (PyTorch's ``torch.optim.Adagrad``). Per parameter, at step t with gradient g:

    g <- -g if maximize; g <- g + weight_decay * p; clr = lr / (1 + (t - 1) * lr_decay);
    sum <- sum + g^2; p <- p - clr * g / (sqrt(sum) + eps).

    As in torch, the state (``step`` = 0, ``sum`` filled with ``initial_accumulator_value``) is created for every
    parameter by the constructor, and for parameters of groups added later on their first step, always from
    the constructor's ``initial_accumulator_value`` (a group's own value is kept in the group but unused).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, *, maximize: bool = False):
        check_range("Adagrad", "learning rate", lr)
        check_range("Adagrad", "lr_decay", lr_decay)
        check_range("Adagrad", "weight_decay", weight_decay)
        check_range("Adagrad", "initial_accumulator_value", initial_accumulator_value)
        check_range("Adagrad", "epsilon", eps)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p)

    def _init_state(self, p: Any) -> dict[str, Any]:
        state = self.state.setdefault(p, {})
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(p.data, self.defaults["initial_accumulator_value"])
        return state

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adagrad update of every parameter that has a gradient; returns ``closure()``'s loss if given."""
        loss = self._closure(closure)
        for group in self.param_groups:
            lr, lr_decay = float(group["lr"]), float(group["lr_decay"])
            eps, wd, maximize = float(group["eps"]), float(group["weight_decay"]), bool(group["maximize"])
            for p, g, _ in self._with_grads(group):
                state = self._init_state(p)
                state["step"] += 1
                hyper = _Hyper(clr=lr / (1 + (state["step"] - 1) * lr_decay), eps=eps, wd=wd, maximize=maximize)
                run_chunked(_adagrad_update, (p.data, g, state["sum"]), hyper)
                p._version += 1     # torch's param.addcdiv_
        return loss


__all__ = ["Adagrad"]
