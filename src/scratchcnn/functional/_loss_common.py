"""Helpers shared by the loss files (loss.py, loss_binary.py, loss_regression.py): reduction names and
reducing, argument coercion and checks, and the upstream-gradient scaling of the pointwise losses.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..tensor import Tensor

_REDUCTIONS = ("none", "mean", "sum")


def _reduction(reduction: str, op: str) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return reduction


def _raw(x, op: str, name: str) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"{op}: {name} must be a Tensor, got {type(x).__name__}")


def _reduce(per: np.ndarray, reduction: str, denom) -> np.ndarray:
    if reduction == "none":
        return per
    s = per.sum()
    if reduction == "sum":
        return np.asarray(s)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(s / denom, dtype=per.dtype)


# ---- pointwise regression / divergence losses: the input and target broadcast (as torch.broadcast_tensors),
# "mean" divides by the broadcast size, and the gradients are summed back to each operand's shape.
def _scaled_grad(g: np.ndarray, reduction: str, denom) -> np.ndarray:
    """The upstream gradient per element: g itself ("none"), or the scalar g (sum) / g / denom (mean)."""
    if reduction == "mean":
        with np.errstate(divide="ignore", invalid="ignore"):
            return g / denom
    return g


def _weight(weight, x: np.ndarray, op: str) -> np.ndarray | None:
    if weight is None:
        return None
    w = _raw(weight, op, "weight")
    return w.astype(x.dtype, copy=False)


def _as_tensor_like(v, like: Tensor) -> Tensor:
    if isinstance(v, Tensor):
        return v
    return Tensor._wrap(np.asarray(v, dtype=like.dtype), False)


def _target_for(input: Tensor, target, op: str) -> Tensor:
    """``target`` as a Tensor of the input's dtype (a float input is required)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be floating point, got dtype {input.dtype}")
    target = _as_tensor_like(target, input)
    if target.dtype != input.dtype:
        target = target.astype(input.dtype)
    return target


def _broadcast_pair(input: Tensor, target: Tensor, op: str, warn: bool) -> None:
    """Input and target must broadcast; a size difference warns like PyTorch when ``warn``."""
    if input.shape == target.shape:
        return
    try:
        np.broadcast_shapes(input.shape, target.shape)
    except ValueError:
        raise ValueError(f"{op}: input shape {input.shape} and target shape {target.shape} "
                         "do not match (nor broadcast)") from None
    if warn:
        warnings.warn(f"{op}: Using a target size {target.shape} that is different to the input size "
                      f"{input.shape}. This will likely lead to incorrect results due to broadcasting. Please "
                      "ensure they have the same size.", UserWarning, stacklevel=3)
