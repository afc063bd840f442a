"""Per-sample normalisation: ``layer_norm``, ``group_norm`` and ``instance_norm`` (PyTorch's names and semantics).

All three are one op, ``RowNorm``: the input is seen as ``rows`` independent rows of ``n`` values, each
normalised with its own mean and biased variance, ``xhat = (x - mean_r) / sqrt(var_r + eps)``, then scaled and
shifted by a weight and bias laid out in a broadcast shape of that view:

=============  ==========================  =============================  ===========================
op             view of x                   statistics per                 weight / bias broadcast
=============  ==========================  =============================  ===========================
layer_norm     (R, M)                      row of the M trailing values   (1, M): one per value
group_norm     (N, G, C/G, S)              (sample, group)                (1, G, C/G, 1): per channel
instance_norm  (N, C, 1, S)                (sample, channel)              (1, C, 1, 1): per channel
=============  ==========================  =============================  ===========================

Backward is the closed form (per row, with gh = g * w broadcast):
``dx = invstd * (gh - mean(gh) - xhat * mean(gh * xhat))``, ``dw = sum g * xhat``, ``db = sum g`` over every
axis the weight is broadcast along. Like ``batch_norm``, the input itself is saved (no x-hat buffer is written in
forward) and backward rebuilds x-hat in the buffer that becomes dx, so both directions make few passes.

``instance_norm`` with ``use_input_stats=False`` is ``batch_norm`` in evaluation mode (the running statistics
are per channel), so it reuses that op.
"""
from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np

from ..autograd import Context, Function
from ..tensor import Tensor
from .norm import batch_norm


def _prod(shape: Sequence[int]) -> int:
    return int(math.prod(shape))


class RowNorm(Function):
    """y = (x - mean_r) / sqrt(var_r + eps) * w + b with statistics per row of x viewed as ``vshape``.

    ``vshape`` = leading (row) axes + ``nstat`` trailing axes reduced for the statistics; ``wshape``: how the
    weight and bias broadcast against ``vshape``. ``running = (running_mean, running_var, momentum)`` updates the
    per-channel running statistics in place with the mean over the batch of each (sample, channel)'s mean and
    unbiased variance (PyTorch's ``instance_norm`` rule); the rows must then be (N * C) in that order.
    """

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None, eps: float,
                vshape: tuple[int, ...], nstat: int, wshape: tuple[int, ...],
                running: tuple | None = None) -> np.ndarray:
        lead = vshape[:len(vshape) - nstat]
        rows, n = _prod(lead), _prod(vshape[len(lead):])
        dt = x.dtype.type
        x2 = x.reshape(rows, n)                         # a view for contiguous input
        with np.errstate(divide="ignore", invalid="ignore"):   # n == 0: empty rows, empty output
            mean = x2.sum(axis=1) / dt(n)
            y2 = x2 - mean[:, None]                     # centred first: no E[x^2] - E[x]^2 cancellation
            var = np.einsum("ij,ij->i", y2, y2) / dt(n)  # biased
            invstd = (1.0 / np.sqrt(var + dt(eps))).astype(x.dtype, copy=False)
        yv = y2.reshape(vshape)
        inv_b = invstd.reshape(lead + (1,) * nstat)
        if w is not None:
            wv = w.astype(x.dtype, copy=False).reshape(wshape)
            if _prod(np.broadcast_shapes(inv_b.shape, wv.shape)) < yv.size:
                yv *= inv_b * wv                        # per-(row, channel) scale: one pass (group/instance)
            else:
                yv *= inv_b                             # layer norm: the weight varies along the row
                yv *= wv
        else:
            yv *= inv_b
        if b is not None:
            yv += b.astype(x.dtype, copy=False).reshape(wshape)
        if running is not None:
            rm, rv, factor = running
            C = rm.shape[0]
            with np.errstate(divide="ignore", invalid="ignore"):
                unbiased = var * (n / (n - 1)) if n > 1 else np.full_like(var, np.nan)
            rm *= 1 - factor
            rm += factor * mean.reshape(-1, C).mean(axis=0)
            rv *= 1 - factor
            rv += factor * unbiased.reshape(-1, C).mean(axis=0)
        ctx.save_for_backward(x2, mean, invstd, w)
        ctx.layout = (vshape, nstat, wshape, x.shape, None if b is None else b.shape)
        return yv.reshape(x.shape)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        x2, mean, invstd, w = ctx.saved
        vshape, nstat, wshape, xshape, bshape = ctx.layout
        nx, nw, nb = ctx.needs_input_grad[:3]
        rows, n = x2.shape
        dt = x2.dtype.type
        g2 = g.reshape(rows, n)
        xhat2 = x2 - mean[:, None]                      # becomes dx in place
        xhat2 *= invstd[:, None]
        gv, xv = g2.reshape(vshape), xhat2.reshape(vshape)
        keep = [i for i, s in enumerate(wshape) if s != 1]
        reduced = tuple(i for i in range(len(vshape)) if i not in keep)
        letters = "abcdefgh"[:len(vshape)]
        gw = gb = None
        if nw:
            sub = f"{letters},{letters}->{''.join(letters[i] for i in keep)}"
            gw = np.einsum(sub, gv, xv).reshape(w.shape)
        if nb:
            gb = gv.sum(axis=reduced).reshape(bshape)
        dx = None
        if nx:
            gh2 = g2 if w is None else (gv * w.astype(x2.dtype, copy=False).reshape(wshape)).reshape(rows, n)
            with np.errstate(divide="ignore", invalid="ignore"):
                m1 = gh2.sum(axis=1) / dt(n)                          # mean(gh)
                m2 = np.einsum("ij,ij->i", gh2, xhat2) / dt(n)        # mean(gh * xhat)
            xhat2 *= -m2[:, None]
            xhat2 += gh2
            xhat2 -= m1[:, None]
            xhat2 *= invstd[:, None]
            dx = xhat2.reshape(xshape)
        return dx, gw, gb, None, None, None, None, None


# ---------------------------------------------------------------------------------------------- checks
def _check_input(name: str, input: Tensor, min_ndim: int) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"{name}: input must be floating point, got dtype {input.dtype}")
    if input.ndim < min_ndim:
        raise ValueError(f"{name}: expected input with at least {min_ndim} dimensions, got shape {input.shape}")


def _check_affine(name: str, weight: Tensor | None, bias: Tensor | None, shape: tuple[int, ...]) -> None:
    for what, p in (("weight", weight), ("bias", bias)):
        if p is None:
            continue
        if not isinstance(p, Tensor):
            raise TypeError(f"{name}: {what} must be a Tensor or None, got {type(p).__name__}")
        if tuple(p.shape) != shape:
            raise ValueError(f"{name}: {what} must have shape {shape}, got {tuple(p.shape)}")


def _positive_int(name: str, what: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"{name}: {what} must be a positive int, got {v!r}")
    return int(v)


def _running(name: str, v, C: int) -> np.ndarray | None:
    if v is None:
        return None
    arr = v.data if isinstance(v, Tensor) else v
    if not isinstance(arr, np.ndarray) or arr.shape != (C,):
        raise ValueError(f"{name}: running statistics must have shape ({C},), got {getattr(arr, 'shape', arr)!r}")
    return arr


# ---------------------------------------------------------------------------------------------- public
def layer_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Layer normalisation (PyTorch's ``F.layer_norm``): each sample is normalised over its trailing
    ``normalized_shape`` dims (mean and biased variance), then ``* weight + bias`` (both shaped
    ``normalized_shape``, element-wise). ``input`` is ``(*, *normalized_shape)`` with any leading dims (or none).
    """
    _check_input("layer_norm", input, 1)
    shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else normalized_shape
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise TypeError(f"layer_norm: normalized_shape must be an int or a sequence of ints, "
                        f"got {normalized_shape!r}") from None
    if not shape:
        raise ValueError("layer_norm: normalized_shape must have at least one dimension, got ()")
    D = len(shape)
    if input.ndim < D or tuple(input.shape[-D:]) != shape:
        raise ValueError(f"layer_norm: normalized_shape {shape} must match the trailing dims of the input, "
                         f"expected input of shape (*, {', '.join(map(str, shape))}), got {tuple(input.shape)}")
    _check_affine("layer_norm", weight, bias, shape)
    M = _prod(shape)
    R = _prod(input.shape[:-D])
    return RowNorm.apply(input, weight, bias, float(eps), (R, M), 1, (1, M))


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Group normalisation (PyTorch's ``F.group_norm``) of input (N, C, *): the C channels are split into
    ``num_groups`` groups of C / num_groups consecutive channels; each (sample, group) is normalised over its
    channels and spatial positions, then ``* weight + bias`` per channel (both (C,))."""
    _check_input("group_norm", input, 2)
    G = _positive_int("group_norm", "num_groups", num_groups)
    N, C = input.shape[:2]
    if C % G:
        raise ValueError(f"group_norm: the number of channels ({C}) must be divisible by num_groups ({G}), "
                         f"got input of shape {tuple(input.shape)}")
    S = _prod(input.shape[2:])
    if N * C // G * S == 1:          # PyTorch's _verify_batch_size on [N * C / G, G, *spatial]
        raise ValueError(f"group_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {tuple(input.shape)} with num_groups={G}")
    _check_affine("group_norm", weight, bias, (C,))
    return RowNorm.apply(input, weight, bias, float(eps), (N, G, C // G, S), 2, (1, G, C // G, 1))


def instance_norm(input: Tensor, running_mean: Tensor | None = None, running_var: Tensor | None = None,
                  weight: Tensor | None = None, bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Instance normalisation (PyTorch's ``F.instance_norm``) of input (N, C, *): each (sample, channel) is
    normalised over its spatial positions, then ``* weight + bias`` per channel.

    Args:
        running_mean, running_var: optional (C,) buffers. With ``use_input_stats`` they are updated IN PLACE:
            ``r = (1 - momentum) r + momentum * stat``, stat the batch mean of the per-instance means (and of the
            unbiased per-instance variances).
        use_input_stats: normalise with each instance's statistics; False uses the running ones (eval mode
            of a module that tracks them), which must then be given.
    """
    _check_input("instance_norm", input, 2)
    N, C = input.shape[:2]
    S = _prod(input.shape[2:])
    rm = _running("instance_norm", running_mean, C)
    rv = _running("instance_norm", running_var, C)
    if (rm is None) != (rv is None):
        raise ValueError("instance_norm: running_mean and running_var must both be given or both be None")
    _check_affine("instance_norm", weight, bias, (C,))
    if not use_input_stats:
        if rm is None:
            raise ValueError("instance_norm: use_input_stats=False needs running_mean and running_var")
        return batch_norm(input, running_mean, running_var, weight, bias, training=False, eps=eps)
    if S <= 1:
        raise ValueError(f"instance_norm: expected more than 1 spatial element when training, "
                         f"got input of shape {tuple(input.shape)}")
    running = None if rm is None else (rm, rv, float(momentum))
    return RowNorm.apply(input, weight, bias, float(eps), (N, C, 1, S), 2, (1, C, 1, 1), running)


__all__ = ["layer_norm", "group_norm", "instance_norm"]
