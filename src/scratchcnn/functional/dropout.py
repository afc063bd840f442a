"""Inverted dropout: zero elements (or whole channels) with probability p, scale the rest by 1 / (1 - p).

Masks are drawn from ``generator`` (default: ``scratchcnn.random.default_generator()``), so
``scratchcnn.manual_seed(s)`` makes them reproducible. The random stream is not PyTorch's, so masks differ
from torch's for the same seed; the distribution and scaling are the same.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Context, Function
from ..random import default_generator
from ..tensor import Tensor


class DropoutMask(Function):
    """y = x * keep * scale, where ``keep`` (bool) broadcasts against x (whole channels for 1d/2d)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, keep: np.ndarray, scale: float) -> np.ndarray:
        ctx.save_for_backward(keep)
        ctx.scale = scale
        y = np.multiply(x, keep, dtype=x.dtype)
        y *= x.dtype.type(scale)
        return y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (keep,) = ctx.saved
        gx = np.multiply(g, keep, dtype=g.dtype)
        gx *= g.dtype.type(ctx.scale)
        return gx, None, None


def _check(x: Tensor, p: float, op: str) -> float:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: input must be floating point, got dtype {x.dtype}")
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")
    return p


def _apply(x: Tensor, p: float, mask_shape: tuple[int, ...], generator: np.random.Generator | None) -> Tensor:
    if p == 1.0:
        keep = np.zeros(mask_shape, dtype=bool)
        return DropoutMask.apply(x, keep, 0.0)
    g = generator if generator is not None else default_generator()
    u = g.random(mask_shape, dtype=np.float32 if x.dtype == np.float32 else np.float64)
    keep = u >= p  # P(keep) = 1 - p
    return DropoutMask.apply(x, keep, 1.0 / (1.0 - p))


def dropout(input: Tensor, p: float = 0.5, training: bool = True,
            generator: np.random.Generator | None = None) -> Tensor:
    """Zero each element with probability ``p`` and scale the survivors by 1 / (1 - p); any shape.

    Identity (the same tensor) when not training or p == 0; all zeros when p == 1.
    """
    p = _check(input, p, "dropout")
    if not training or p == 0.0:
        return input
    return _apply(input, p, input.shape, generator)


def _channel_dropout(x: Tensor, p: float, training: bool, generator, op: str, spatial: int) -> Tensor:
    p = _check(x, p, op)
    if x.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"{op}: expected a {spatial + 1}-D (unbatched) or {spatial + 2}-D (batched) input, "
                         f"got shape {x.shape}")
    if not training or p == 0.0:
        return x
    lead = x.ndim - spatial  # (C,) or (N, C)
    return _apply(x, p, x.shape[:lead] + (1,) * spatial, generator)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,
              generator: np.random.Generator | None = None) -> Tensor:
    """Channel dropout for (N, C, L) or (C, L): each whole channel is zeroed with probability ``p``."""
    return _channel_dropout(input, p, training, generator, "dropout1d", 1)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              generator: np.random.Generator | None = None) -> Tensor:
    """Channel dropout for (N, C, H, W) or (C, H, W): each whole feature map is zeroed with probability ``p``."""
    return _channel_dropout(input, p, training, generator, "dropout2d", 2)


__all__ = ["dropout", "dropout1d", "dropout2d"]
