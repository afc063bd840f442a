"""Freezing: which parameters train, BatchNorm handling, and counting trainable parameters.

A frozen parameter has ``requires_grad=False``: autograd records no gradient for it and the optimiser never
sees it, so its array stays bit-identical through training.

``freeze_batchnorm`` is ``--bn freeze``: the affine parameters are frozen and the layer always normalises with
its running statistics (a forward pre-hook puts it in eval mode at every call, because ``Trainer`` calls
``model.train()`` each epoch), so the running statistics never change either.
"""
from __future__ import annotations

from typing import Any, Iterable

from .structure import is_batchnorm

__all__ = ["freeze", "unfreeze", "freeze_batchnorm", "trainable_named_parameters", "count_parameters"]


def freeze(params: Iterable[Any]) -> None:
    """``requires_grad=False`` on every parameter in ``params``."""
    for p in params:
        p.requires_grad_(False)


def unfreeze(params: Iterable[Any]) -> None:
    """``requires_grad=True`` on every parameter in ``params``."""
    for p in params:
        p.requires_grad_(True)


def _force_eval(module: Any, inputs: tuple) -> None:
    module.training = False


def freeze_batchnorm(model: Any) -> list[str]:
    """Freeze every BatchNorm layer (eval-mode statistics at every call, frozen weight and bias); returns names."""
    names = []
    for name, m in model.named_modules():
        if is_batchnorm(m):
            freeze(m.parameters(recurse=False))   # not an adapter/block registered on it (Sequential models)
            m.register_forward_pre_hook(_force_eval)
            names.append(name)
    return names


def trainable_named_parameters(model: Any) -> list[tuple[str, Any]]:
    """(name, parameter) of the parameters that will train."""
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) scalar parameter counts (shared parameters counted once)."""
    total = trainable = 0
    for p in model.parameters():
        total += p.data.size
        if p.requires_grad:
            trainable += p.data.size
    return int(trainable), int(total)
