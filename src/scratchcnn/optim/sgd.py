"""Stochastic gradient descent with momentum, dampening, Nesterov, weight decay and maximize
(PyTorch's single-tensor update rule, applied in place without temporaries)."""
from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from .optimizer import Optimizer, check_range


def _axpy(y: np.ndarray, a: float, x: np.ndarray, tmp: np.ndarray) -> None:
    """y += a * x in place, using ``tmp`` as the work array."""
    if a == 1.0:
        np.add(y, x, out=y)
    else:
        np.multiply(x, a, out=tmp)
        np.add(y, tmp, out=y)


class SGD(Optimizer):
    """SGD (PyTorch's ``torch.optim.SGD``). Per parameter with gradient g:

    g <- -g if maximize; g <- g + weight_decay * p;
    with momentum: buf <- g on the first step, else buf <- momentum * buf + (1 - dampening) * g;
    g <- g + momentum * buf (nesterov) or buf; then p <- p - lr * g.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False):
        check_range("SGD", "learning rate", lr)
        check_range("SGD", "momentum", momentum)
        check_range("SGD", "weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss if given."""
        loss = self._closure(closure)
        for group in self.param_groups:
            lr, momentum = float(group["lr"]), float(group["momentum"])
            dampening, wd = float(group["dampening"]), float(group["weight_decay"])
            nesterov, maximize = group["nesterov"], group["maximize"]
            for p, g, _ in self._with_grads(group):
                tmp = self._scratch(p, 1)
                d = g
                if maximize or wd != 0:
                    d = self._scratch(p, 0)
                    if maximize:
                        np.negative(g, out=d)
                    else:
                        np.copyto(d, g)
                    if wd != 0:
                        _axpy(d, wd, p.data, tmp)
                if momentum != 0:
                    state = self.state.setdefault(p, {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = np.array(d, copy=True)
                        state["momentum_buffer"] = buf
                    else:
                        buf *= momentum
                        _axpy(buf, 1.0 - dampening, d, tmp)
                    if nesterov:
                        if d is g:
                            d = self._scratch(p, 0)
                            np.copyto(d, g)
                        _axpy(d, momentum, buf, tmp)
                    else:
                        d = buf
                _axpy(p.data, -lr, d, tmp)
                p._version += 1     # torch's param.add_ (backward() of a graph that saved p now raises)
        return loss


__all__ = ["SGD"]
