"""Inverted dropout: zero elements (or whole channels) with probability p, scale the rest by 1 / (1 - p).

Masks are drawn from ``generator`` (default: ``scratchcnn.random.default_generator()``), so
``scratchcnn.manual_seed(s)`` makes them reproducible. The random stream is not PyTorch's, so masks differ
from torch's for the same seed; the distribution and scaling are the same.
"""
from __future__ import annotations

import warnings

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


def _feature_dropout(x: Tensor, p: float, training: bool, generator, batched: bool) -> Tensor:
    """Zero whole slices x[n, c] (x[c] when not ``batched``) with probability p: one mask value per channel."""
    if not training or p == 0.0:
        return x
    lead = 2 if batched else 1
    return _apply(x, p, x.shape[:lead] + (1,) * (x.ndim - lead), generator)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,
              generator: np.random.Generator | None = None) -> Tensor:
    """Channel dropout for (N, C, L) or (C, L): each whole channel is zeroed with probability ``p``."""
    p = _check(input, p, "dropout1d")
    if input.ndim not in (2, 3):
        raise ValueError(f"dropout1d: expected a 2-D (unbatched) or 3-D (batched) input, got shape {input.shape}")
    return _feature_dropout(input, p, training, generator, batched=input.ndim == 3)


_2D_DEPRECATED = ("dropout2d: Received a {}-D input to dropout2d, which is deprecated and will result in an error "
                  "in a future release. To retain the behavior and silence this warning, please use dropout "
                  "instead. Note that dropout2d exists to provide channel-wise dropout on inputs with 2 spatial "
                  "dimensions, a channel dimension, and an optional batch dimension (i.e. 3D or 4D inputs).")
_2D_AS_1D = ("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior is "
             "desired - input is interpreted as shape (N, C, L), where C is the channel dim. This behavior will "
             "change in a future release to interpret the input as one without a batch dimension, i.e. shape "
             "(C, H, W). To maintain the 1D channel-wise dropout behavior, please switch to using dropout1d "
             "instead.")


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              generator: np.random.Generator | None = None) -> Tensor:
    """Channel dropout for (N, C, H, W): each whole feature map x[n, c] is zeroed with probability ``p``.

    As in PyTorch 2.13, the first axis is always the batch: a 3-D input is (N, C, L) (each x[n, c] row is
    dropped, with a ``UserWarning``; use ``dropout1d`` for that, or add a batch axis to a (C, H, W) input);
    inputs of other ranks warn that they are deprecated and drop x[n, c] slices too (a 1-D input can only be
    kept or zeroed whole: p in (0, 1) in training raises).
    """
    p = _check(input, p, "dropout2d")
    if input.ndim not in (3, 4):
        warnings.warn(_2D_DEPRECATED.format(input.ndim), stacklevel=2)
    if input.ndim == 3:
        warnings.warn(_2D_AS_1D, stacklevel=2)
    if input.ndim < 2 and training and 0.0 < p < 1.0:  # PyTorch's feature_dropout fails only then
        raise ValueError(f"dropout2d: feature dropout needs at least 2 dimensions (N, C, ...), "
                         f"got shape {input.shape}")
    return _feature_dropout(input, p, training, generator, batched=True)


__all__ = ["dropout", "dropout1d", "dropout2d"]
