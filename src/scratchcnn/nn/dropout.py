"""Dropout layer: zeroes elements with probability ``p`` in training and scales the rest by 1/(1-p)."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from .module import Module


class Dropout(Module):
    """Inverted dropout (PyTorch's ``nn.Dropout``); identity in eval mode.

    Args:
        p: probability of zeroing an element, in [0, 1].
        inplace: accepted for PyTorch compatibility, ignored.
        generator: optional ``numpy.random.Generator``; None uses ``scratchcnn.random.default_generator()``.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, generator: np.random.Generator | None = None):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability p has to be between 0 and 1, got {p!r}")
        self.p, self.inplace, self.generator = float(p), inplace, generator

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training, generator=self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


__all__ = ["Dropout"]
