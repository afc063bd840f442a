"""Parameter: a Tensor that a Module registers as learnable (``requires_grad`` is True by default)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A learnable tensor. Assigning one to a Module attribute registers it in ``parameters()``.

    Args:
        data: array-like or Tensor (a Tensor's array is shared, not copied); None gives an empty float32 array.
        requires_grad: whether the optimiser should update it (default True).
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True):
        if data is None:
            data = np.empty((0,), dtype=np.float32)
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self.data, self.requires_grad, self.grad))


def _rebuild_parameter(data: np.ndarray, requires_grad: bool, grad: np.ndarray | None) -> Parameter:
    p = Parameter(data, requires_grad=requires_grad)
    p.grad = grad
    return p


__all__ = ["Parameter"]
