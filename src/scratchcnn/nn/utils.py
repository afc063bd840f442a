"""Gradient and weight utilities: clip_grad_norm_, clip_grad_value_ (PyTorch semantics) and max_norm_
(Kim 2014's max-norm constraint on weight vectors); eval_mode and forward_with_hooks, the one way to look inside
a model with a single inference pass (summary, fine-tuning's trace, ONNX export, feature maps)."""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from .. import backend
from ..autograd import no_grad
from ..tensor import Tensor


def _params(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def _norm(a: np.ndarray, norm_type: float) -> float:
    if norm_type == math.inf:
        return float(np.max(np.abs(a))) if a.size else 0.0
    if norm_type == -math.inf:
        return float(np.min(np.abs(a))) if a.size else math.inf
    flat = a.ravel()
    if norm_type == 2.0:
        return math.sqrt(float(np.dot(flat, flat)))
    if norm_type == 1.0:
        return float(np.abs(flat).sum())
    if norm_type == 0.0:
        return float(np.count_nonzero(flat))
    return float((np.abs(flat) ** norm_type).sum() ** (1.0 / norm_type))


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale all gradients together so that their joint ``norm_type``-norm is at most ``max_norm``.

    The joint norm is the norm of the per-tensor norms; every gradient is multiplied (in place) by
    ``min(1, max_norm / (total_norm + 1e-6))`` exactly as in PyTorch. Returns the total norm before clipping
    as a 0-d Tensor of the gradients' dtype, as PyTorch does (``float(norm)`` or ``f"{norm:.3f}"`` for a number).
    Parameters without a gradient are skipped.
    """
    norm_type = float(norm_type)
    grads = [p.grad for p in _params(parameters) if p.grad is not None]
    if not grads:
        return Tensor(np.zeros((), dtype=backend.get_default_dtype()))
    norms = np.array([_norm(g, norm_type) for g in grads], dtype=np.float64)
    total = _norm(norms, norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is non-finite "
                           f"({total}); set error_if_nonfinite=False to clip anyway")
    coef = min(float(max_norm) / (total + 1e-6), 1.0)
    for g in grads:
        g *= g.dtype.type(coef)
    return Tensor(np.asarray(total, dtype=np.result_type(*grads)))


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient element to [-clip_value, clip_value], in place."""
    v = float(clip_value)
    for p in _params(parameters):
        if p.grad is not None:
            np.clip(p.grad, -v, v, out=p.grad)


def max_norm_(weight: Tensor, max_norm: float = 3.0, dim: int = 0, eps: float = 1e-7) -> Tensor:
    """Max-norm constraint (Kim 2014), in place and outside autograd: every slice ``weight[i]`` along ``dim``
    (for a Linear weight (out, in) with ``dim=0``: each output unit's incoming weights) whose L2 norm exceeds
    ``max_norm`` is rescaled to norm ``max_norm`` (``torch.renorm(w, 2, dim, max_norm)``)."""
    arr = weight.data if isinstance(weight, Tensor) else weight
    if not isinstance(arr, np.ndarray) or arr.ndim < 1:
        raise ValueError(f"max_norm_: expected a Tensor with at least 1 dimension, got {getattr(arr, 'shape', arr)}")
    d = dim % arr.ndim
    axes = tuple(i for i in range(arr.ndim) if i != d)
    norms = np.sqrt((arr.astype(np.float64) ** 2).sum(axis=axes, keepdims=True))
    scale = np.where(norms > max_norm, max_norm / (norms + eps), 1.0)
    arr *= scale.astype(arr.dtype)
    if isinstance(weight, Tensor):
        weight._version += 1    # torch's in-place renorm_: a graph that saved the old weight refuses backward
    return weight


@contextmanager
def eval_mode(model: Any) -> Iterator[Any]:
    """Run the block with ``model`` in eval mode; afterwards every module gets its own training flag back (not
    one flag for all: a module kept in eval mode inside a training model stays so)."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag


def forward_with_hooks(model: Any, x: Tensor, hooks: Iterable[tuple[Any, Callable]] = (),
                       pre_hooks: Iterable[tuple[Any, Callable]] = ()) -> Any:
    """``model(x)`` once under ``no_grad`` in eval mode (:func:`eval_mode`) with temporary hooks: ``hooks`` are
    ``(module, hook)`` pairs for ``register_forward_hook``, ``pre_hooks`` for ``register_forward_pre_hook``
    (registered first, in order). Returns the model's output; the hooks are removed and the modes restored even
    when the forward pass raises."""
    handles: Sequence[Any] = [m.register_forward_pre_hook(h) for m, h in pre_hooks]
    handles = [*handles, *(m.register_forward_hook(h) for m, h in hooks)]
    try:
        with no_grad(), eval_mode(model):
            return model(x)
    finally:
        for h in handles:
            h.remove()


__all__ = ["clip_grad_norm_", "clip_grad_value_", "max_norm_", "eval_mode", "forward_with_hooks"]
