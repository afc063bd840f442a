"""Adam and AdamW with PyTorch's exact single-tensor update rule, done in place.

Adam runs on multi-million-parameter layers every step, and its 13 NumPy passes are memory-bound over whole
tensors: each tensor is updated in flat 512 KB chunks (all passes on one chunk while it sits in cache, with two
small work rows), and the chunks of a big tensor are split over the cores (``scratchcnn.parallel``)."""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Iterator, NamedTuple

import numpy as np

from ..parallel import parallel_for
from .optimizer import Optimizer, check_adam_args


_CHUNK = 1 << 17   # elements per chunk (512 KB of float32): measured best on 2 cores, 2^15..2^20


class _Hyper(NamedTuple):
    step_size: float     # lr / (1 - beta1**t)
    bc2_sqrt: float      # sqrt(1 - beta2**t)
    beta1: float
    beta2: float
    eps: float
    wd: float            # L2 weight decay added to the gradient (Adam), 0 when decoupled
    decay: float         # decoupled decay factor 1 - lr * wd (AdamW), 1 otherwise
    maximize: bool


def _chunks(arrays: tuple) -> Iterator[tuple]:
    """(p, g, m, v, vmax) in matching flat chunks of ``_CHUNK`` elements (views; one whole chunk when a
    state array is not C-contiguous or the tensor is small), so each update runs on cache-resident pieces."""
    p = arrays[0]
    if p.size <= _CHUNK or not all(a.flags.c_contiguous for a in arrays if a is not None and a is not arrays[1]):
        yield arrays
        return
    flat = [None if a is None else a.reshape(-1) for a in arrays]
    for lo in range(0, p.size, _CHUNK):
        yield tuple(None if a is None else a[lo:lo + _CHUNK] for a in flat)


def _adam_update(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, vmax: np.ndarray | None,
                 work: np.ndarray, h: _Hyper) -> None:
    """PyTorch's single-tensor Adam step on one chunk, in place, with two work arrays from ``work``.

    Operation for operation torch's ``lerp_`` (``m + (1-b1) * (g - m)``), ``mul_`` + ``addcmul_``
    (``v * b2 + ((1-b2) * g) * g``), ``sqrt`` / bias correction + eps and ``addcdiv_``; results can still differ
    from PyTorch's in the last bit, where its vectorised kernels use fused multiply-adds.
    """
    n = p.size
    s1 = work[0, :n].reshape(p.shape)
    s2 = work[1, :n].reshape(p.shape)
    if h.maximize:
        np.negative(g, out=s1)
        g = s1
    if h.decay != 1.0:
        p *= h.decay
    if h.wd != 0:            # g <- g + wd * p
        if g is s1:
            np.multiply(p, h.wd, out=s2)
            s1 += s2
        else:
            np.multiply(p, h.wd, out=s1)
            s1 += g
        g = s1
    # m <- m + (1 - beta1) * (g - m)   (torch's lerp_)
    np.subtract(g, m, out=s2)
    s2 *= 1.0 - h.beta1
    m += s2
    # v <- beta2 * v + ((1 - beta2) * g) * g   (torch's mul_ + addcmul_, in its order)
    v *= h.beta2
    np.multiply(g, 1.0 - h.beta2, out=s2)
    s2 *= g
    v += s2
    if vmax is not None:
        np.maximum(vmax, v, out=vmax)
        v = vmax
    # p <- p - step_size * m / (sqrt(v) / bc2_sqrt + eps)
    np.sqrt(v, out=s2)
    s2 /= h.bc2_sqrt
    s2 += h.eps
    np.divide(m, s2, out=s2)
    s2 *= -h.step_size
    p += s2


def _update_chunks(chunks: list, h: _Hyper) -> None:
    """Update a run of chunks with one pair of work rows as long as the longest chunk."""
    work = np.empty((2, max(c[0].size for c in chunks)), dtype=chunks[0][0].dtype)
    for chunk in chunks:
        _adam_update(*chunk, work, h)


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
        betas = check_adam_args(name, lr, eps, betas, weight_decay)
        if decoupled_weight_decay is None:
            decoupled_weight_decay = self._decoupled_default
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adam update of every parameter that has a gradient; returns ``closure()``'s loss if given."""
        loss = self._closure(closure)
        for group in self.param_groups:
            lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
            beta1, beta2 = (float(b) for b in group["betas"])
            amsgrad, maximize, decoupled = group["amsgrad"], group["maximize"], group["decoupled_weight_decay"]
            for p, g, state in self._with_grads(group):
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = np.zeros_like(p.data)
                    state["exp_avg_sq"] = np.zeros_like(p.data)
                    if amsgrad:
                        state["max_exp_avg_sq"] = np.zeros_like(p.data)
                state["step"] += 1
                t = state["step"]
                if amsgrad and "max_exp_avg_sq" not in state:  # amsgrad switched on after the first step
                    state["max_exp_avg_sq"] = np.zeros_like(p.data)
                hyper = _Hyper(step_size=lr / (1 - beta1 ** t), bc2_sqrt=math.sqrt(1 - beta2 ** t), beta1=beta1,
                               beta2=beta2, eps=eps, wd=0.0 if decoupled else wd,
                               decay=1.0 - lr * wd if decoupled else 1.0, maximize=maximize)
                arrays = (p.data, g, state["exp_avg"], state["exp_avg_sq"],
                          state["max_exp_avg_sq"] if amsgrad else None)
                chunks = list(_chunks(arrays))   # big tensors: chunk ranges run on all cores
                parallel_for(lambda lo, hi: _update_chunks(chunks[lo:hi], hyper), len(chunks), p.data.size)
                p._version += 2 if decoupled and wd != 0 else 1    # torch: (param.mul_,) param.addcdiv_
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
