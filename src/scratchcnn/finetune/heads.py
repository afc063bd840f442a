"""Classifier heads: replace the head for a new task, or extend it with new classes (incremental learning).

Both build a fresh ``nn.Linear`` (PyTorch's default init, drawn from ``scratchcnn.random``'s default generator,
so ``manual_seed`` makes it reproducible), put it where the old head was and update ``model.model_config``'s
``num_classes`` so checkpoints rebuild the right shape.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .structure import is_linear, set_submodule

__all__ = ["replace_head", "extend_head", "set_num_classes"]


def set_num_classes(model: Any, num_classes: int) -> None:
    """Record the new output size in ``model.model_config`` (used by checkpoints)."""
    cfg = dict(getattr(model, "model_config", {}) or {})
    cfg["num_classes"] = int(num_classes)
    object.__setattr__(model, "model_config", cfg)


def _head(model: Any, name: str):
    head = model.get_submodule(name)
    if not is_linear(head):
        raise ValueError(f"head {name!r} is a {type(head).__name__}, expected Linear")
    return head


def replace_head(model: Any, name: str, num_classes: int):
    """Put a new ``Linear(in_features, num_classes)`` at ``name``; returns it."""
    from ..nn import Linear
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"replace_head: num_classes must be a positive integer, got {num_classes!r}")
    old = _head(model, name)
    new = Linear(old.in_features, int(num_classes), bias=old.bias is not None, dtype=old.weight.data.dtype)
    set_submodule(model, name, new)
    set_num_classes(model, num_classes)
    return new


def extend_head(model: Any, name: str, num_new: int):
    """Grow the head at ``name`` from K to K + ``num_new`` outputs: rows 0..K-1 (weight and bias) are copied
    from the old head, the new rows get the default init. Returns the new head."""
    from ..nn import Linear
    if not isinstance(num_new, (int, np.integer)) or num_new < 1:
        raise ValueError(f"extend_head: num_new must be a positive integer, got {num_new!r}")
    old = _head(model, name)
    k = old.out_features
    new = Linear(old.in_features, k + int(num_new), bias=old.bias is not None, dtype=old.weight.data.dtype)
    new.weight.data[:k] = old.weight.data
    if old.bias is not None:
        new.bias.data[:k] = old.bias.data
    set_submodule(model, name, new)
    set_num_classes(model, k + int(num_new))
    return new
