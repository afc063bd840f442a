"""Parameter: a Tensor that a Module registers as learnable (``requires_grad`` is True by default)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import get_default_dtype
from ..tensor import Tensor


def param_dtype(dtype: Any = None) -> np.dtype:
    """The dtype of a new layer's parameters and floating buffers: ``dtype`` if given, else
    ``scratchcnn.get_default_dtype()`` (read at construction, like PyTorch's default dtype)."""
    return np.dtype(dtype) if dtype is not None else get_default_dtype()


class Parameter(Tensor):
    """A learnable tensor. Assigning one to a Module attribute registers it in ``parameters()``.

    Args:
        data: array-like or Tensor (a Tensor's array is shared, not copied); None gives an empty array of the
            default dtype.
        requires_grad: whether the optimiser should update it (default True).
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True):
        if data is None:
            data = np.empty((0,), dtype=get_default_dtype())
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        # copy.deepcopy / pickle keep the values and the flag, not .grad (PyTorch's Parameter does the same)
        return (_rebuild_parameter, (self.data, self.requires_grad))


def _rebuild_parameter(data: np.ndarray, requires_grad: bool) -> Parameter:
    return Parameter(data, requires_grad=requires_grad)


__all__ = ["Parameter", "param_dtype"]
