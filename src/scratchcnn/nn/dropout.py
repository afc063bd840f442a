"""Dropout layers: zero elements (``Dropout``) or whole channels (``Dropout1d``, ``Dropout2d``) with probability
``p`` in training and scale the rest by 1/(1-p); identity in eval mode."""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from .module import Module


class _DropoutNd(Module):
    """Shared dropout layer (PyTorch's ``_DropoutNd``): ``forward`` calls ``_fn`` with ``training``.

    Args:
        p: probability of zeroing an element (or a channel), in [0, 1].
        inplace: accepted for PyTorch compatibility, ignored (the output is a new tensor).
        generator: optional ``numpy.random.Generator``; None uses ``scratchcnn.random.default_generator()``.
    """

    _fn: Callable[..., Tensor]

    def __init__(self, p: float = 0.5, inplace: bool = False, generator: np.random.Generator | None = None):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 and 1, got {p!r}")
        self.p, self.inplace, self.generator = float(p), inplace, generator

    def forward(self, x: Tensor) -> Tensor:
        return type(self)._fn(x, self.p, self.training, generator=self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Inverted dropout of single elements, any input shape (PyTorch's ``nn.Dropout``)."""

    _fn = F.dropout


class Dropout1d(_DropoutNd):
    """Channel dropout over (N, C, L) or (C, L): each x[n, c] is zeroed whole (PyTorch's ``nn.Dropout1d``)."""

    _fn = F.dropout1d


class Dropout2d(_DropoutNd):
    """Channel dropout over (N, C, H, W): each feature map x[n, c] is zeroed whole (PyTorch's ``nn.Dropout2d``).

    A 3-D input is taken as (N, C, L), with a warning, as in PyTorch 2.13 (see ``functional.dropout2d``).
    """

    _fn = F.dropout2d


__all__ = ["Dropout", "Dropout1d", "Dropout2d"]
