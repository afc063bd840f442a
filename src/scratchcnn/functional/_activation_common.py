"""Argument check shared by the activation files (activation.py, activation_smooth.py, activation_softmax.py)."""
from __future__ import annotations

from ..tensor import Tensor


def _check_float(x: Tensor, op: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating tensor, got dtype {x.dtype}")
