"""Local response normalisation across channels (AlexNet's; PyTorch's ``F.local_response_norm``).

For input (N, C, *) and a window of ``size`` channels, channel c sees ``W(c) = [c - size // 2, c + (size - 1) // 2]``
(zero padded at the edges, still divided by ``size``, as PyTorch's average pooling does):

    d_c = k + alpha / size * sum_{j in W(c)} x_j^2,        y_c = x_c * d_c^(-beta)

Backward: x_j appears in its own d_j and in every d_c whose window holds it (c in the mirrored window
``[j - (size - 1) // 2, j + size // 2]``), so

    dx_j = g_j d_j^(-beta) - 2 alpha beta / size * x_j * sum_{c: j in W(c)} g_c x_c d_c^(-beta - 1).

Both window sums are one padded strided view (``sliding_window_view`` over the channel axis) summed over its
last axis: no loop over channels, and exact sums (no cumulative-sum cancellation).
"""
from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..autograd import Context, Function
from ..tensor import Tensor


def _channel_window_sum(a: np.ndarray, before: int, after: int) -> np.ndarray:
    """out[:, c] = sum of a[:, c - before : c + after + 1] (zeros outside 0..C-1), for a of shape (N, C, *)."""
    pad = [(0, 0)] * a.ndim
    pad[1] = (before, after)
    return sliding_window_view(np.pad(a, pad), before + after + 1, axis=1).sum(axis=-1)


class LRN(Function):
    """y = x * (k + alpha * mean_window(x^2))^(-beta) over a window of ``size`` neighbouring channels."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, size: int, alpha: float, beta: float, k: float) -> np.ndarray:
        dt = x.dtype.type
        before, after = size // 2, (size - 1) // 2
        d = _channel_window_sum(x * x, before, after)
        d *= dt(alpha / size)
        d += dt(k)
        p = np.power(d, dt(-beta))
        y = x * p
        ctx.save_for_backward(x, d, p)
        ctx.params = (size, alpha, beta, before, after)
        return y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        x, d, p = ctx.saved
        size, alpha, beta, before, after = ctx.params
        dt = x.dtype.type
        t = g * x
        t *= p
        t /= d                                           # g_c x_c d_c^(-beta - 1)
        s = _channel_window_sum(t, after, before)        # over the c whose window holds j: mirrored padding
        s *= x
        s *= dt(-2.0 * alpha * beta / size)
        s += g * p
        return s, None, None, None, None


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """Local response normalisation (PyTorch's ``F.local_response_norm``) of input (N, C, *) with at least
    one spatial dim: ``x_c / (k + alpha / size * sum of x^2 over size neighbouring channels)^beta``."""
    if not isinstance(input, Tensor):
        raise TypeError(f"local_response_norm: input must be a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"local_response_norm: input must be floating point, got dtype {input.dtype}")
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: expected 3D or higher dimensionality input (N, C, *), "
                         f"got shape {tuple(input.shape)}")
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"local_response_norm: size must be a positive int, got {size!r}")
    if input.data.size == 0:
        return input
    return LRN.apply(input, int(size), float(alpha), float(beta), float(k))


__all__ = ["local_response_norm"]
