"""Resampling (named resample.py, not interpolate.py: no module is named like the function it exports, see
docs/architecture.md): ``interpolate`` (PyTorch's ``F.interpolate``) in modes ``'nearest'`` (the legacy floor rule),
``'linear'`` (N, C, L) and ``'bilinear'`` (N, C, H, W), with ``align_corners`` and ``scale_factor`` vs ``size``
as PyTorch computes them.

How it runs: every mode is separable, so each spatial axis is resampled on its own by a table computed once
per call (:func:`axis_table`): for output position ``o`` the input positions ``i0[o] <= i1[o]`` and weights
``l0[o] + l1[o] = 1`` (nearest: ``i1`` absent, weight 1).

* forward: per axis, ``y = take(x, i0) * l0 + take(x, i1) * l1`` (two gathers along the axis, vectorised).
* backward: the adjoint, per axis in reverse order: the output gradient scatter-added onto the input positions.
  The tables are non-decreasing in ``o`` (PyTorch's source index is monotone), so the scatter-add is
  ``np.add.reduceat`` over the runs of equal index along the axis (exact, deterministic, no Python loop), the
  run sums written to their (distinct) input positions.

PyTorch's coordinate rules (ATen ``UpSample.h`` / ``UpSampleKernel.cpp``, CPU), reproduced bit for bit:

* output size: ``size``, or ``int(in * scale_factor)`` (double product, truncated); ``recompute_scale_factor=True``
  then forgets the scale factor.
* scale per axis: ``1 / scale_factor`` when a scale factor is given (and not recomputed), else ``in / out``;
  with ``align_corners=True`` (linear) ``(in - 1) / (out - 1)`` (0 for out == 1). It is computed in the input's
  precision (float32 math for float32 inputs, as ATen's ``opmath_t``).
* nearest, 1-D (N, C, L): ``i = min(floor(float32(scale * o)), in - 1)`` (ATen's ``compute_indices_weights``
  narrows the product to float before ``floorf``). Nearest, 2-D: ATen's ``nearest_idx``: ``o`` when
  ``out == in``, ``o >> 1`` when ``out == 2 in``, else ``min(floor(o * scale32), in - 1)`` with the scale and
  the product in float32. (PyTorch's 1-D backward uses ``nearest_idx`` too, which is not the gradient of its
  1-D forward with some scale factors: ``out == in`` (3 samples * 1.2) or ``out == 2 in`` (2 samples * 2.3);
  here the backward is always the exact adjoint of the forward.)
* linear: ``in == out`` is the identity (no table); else the source ``r = scale * o`` (align_corners) or
  ``max(scale * (o + 0.5) - 0.5, 0)``, ``i0 = min(floor(r), in - 1)``, ``i1 = i0 + (i0 < in - 1)``,
  ``l1 = clip(r - i0, 0, 1)``, ``l0 = 1 - l1``.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

import numpy as np

from ..autograd import Context, Function
from ..tensor import Tensor

_MODES = {"nearest": None, "linear": 1, "bilinear": 2}
"""Supported modes -> the number of spatial dims they need (None: any of 1 and 2)."""
_LINEAR = ("linear", "bilinear")


@lru_cache(maxsize=1024)
def axis_table(n_in: int, n_out: int, scale_factor: float | None, mode: str, align_corners: bool,
               dtype: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """``(i0, i1, l0, l1)`` for one axis (PyTorch's rule, see the module doc); nearest: ``(i0, None, None, None)``.

    ``scale_factor`` is the user's factor for this axis, or None when the size was given or recomputed. Weights
    are computed in ``dtype`` ('float32' or 'float64', the input's precision). Cached: a layer asks every step."""
    dt = np.dtype(dtype).type
    o = np.arange(n_out)
    if mode == "nearest":                                         # 1-D: compute_indices_weights_nearest
        scale = dt(1.0 / scale_factor) if scale_factor else dt(np.float64(n_in) / n_out)
        real = (scale * o.astype(dt)).astype(np.float32)        # ATen: floorf on the opmath product
        return np.minimum(np.floor(real).astype(np.int64), n_in - 1), None, None, None
    if mode == "nearest_idx":                                     # 2-D: nearest_idx, float32 throughout
        if n_out == n_in:
            return o, None, None, None
        if n_out == 2 * n_in:
            return o >> 1, None, None, None
        scale = np.float32(1.0 / scale_factor) if scale_factor else np.float32(n_in) / np.float32(n_out)
        return np.minimum(np.floor(o.astype(np.float32) * scale).astype(np.int64), n_in - 1), None, None, None
    if align_corners:
        scale = dt(np.float64(n_in - 1) / (n_out - 1)) if n_out > 1 else dt(0)
        real = scale * o.astype(dt)
    else:
        scale = dt(1.0 / scale_factor) if scale_factor else dt(np.float64(n_in) / n_out)
        real = np.maximum(scale * (o.astype(dt) + dt(0.5)) - dt(0.5), dt(0))
    i0 = np.minimum(np.floor(real).astype(np.int64), n_in - 1)
    i1 = i0 + (i0 < n_in - 1)
    l1 = np.clip(real - i0.astype(dt), dt(0), dt(1)).astype(dt)
    return i0, i1, (dt(1) - l1).astype(dt), l1


def _along(v: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    """A 1-D ``v`` shaped to broadcast along ``axis`` of an ``ndim``-D array."""
    shape = [1] * ndim
    shape[axis] = v.shape[0]
    return v.reshape(shape)


def _gather(x: np.ndarray, axis: int, table) -> np.ndarray:
    i0, i1, l0, l1 = table
    y = np.take(x, i0, axis=axis)
    if l0 is None:
        return y
    y *= _along(l0.astype(x.dtype, copy=False), axis, x.ndim)
    y += np.take(x, i1, axis=axis) * _along(l1.astype(x.dtype, copy=False), axis, x.ndim)
    return y


def _scatter_add(g: np.ndarray, axis: int, n_in: int, table) -> np.ndarray:
    """Adjoint of :func:`_gather`: (..., out, ...) -> (..., n_in, ...) along ``axis``."""
    i0, i1, l0, l1 = table
    shape = list(g.shape)
    shape[axis] = n_in
    out = np.zeros(shape, dtype=g.dtype)
    lead = (slice(None),) * axis
    for idx, w in ((i0, l0), (i1, l1)):
        if idx is None:
            continue
        contrib = g if w is None else g * _along(w.astype(g.dtype, copy=False), axis, g.ndim)
        starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])          # runs of equal (sorted) index
        out[lead + (idx[starts],)] += np.add.reduceat(contrib, starts, axis=axis)
    return out


class Interpolate(Function):
    """Separable resampling of the spatial axes (2..) of (N, C, *S); see the module doc."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, tables: tuple, sizes_in: tuple[int, ...]) -> np.ndarray:
        ctx.tables, ctx.sizes_in = tables, sizes_in
        y = x
        for axis, table in enumerate(tables, start=2):
            if table is not None:
                y = _gather(y, axis, table)
        return y if y is not x else x.copy()

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray):
        g = grad
        for axis in reversed(range(2, 2 + len(ctx.tables))):
            table = ctx.tables[axis - 2]
            if table is not None:
                g = _scatter_add(g, axis, ctx.sizes_in[axis - 2], table)
        return (g if g is not grad else grad.copy()), None, None


def _per_axis(value, nd: int, name: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != nd:
            raise ValueError(f"interpolate: {name} must have {nd} entries (one per spatial dim), got {value!r}")
        return list(value)
    return [value] * nd


def interpolate(input: Tensor, size: int | Sequence[int] | None = None,
                scale_factor: float | Sequence[float] | None = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize (N, C, L) or (N, C, H, W) to ``size`` or by ``scale_factor`` (PyTorch's ``F.interpolate``).

    ``mode``: ``'nearest'`` (PyTorch's legacy nearest, ``floor(o * scale)``), ``'linear'`` (3-D input) or
    ``'bilinear'`` (4-D input); ``align_corners`` only for the linear modes (None means False). Exactly one of
    ``size`` and ``scale_factor``; ``recompute_scale_factor=True`` uses the output size's ratio ``in / out``
    instead of ``1 / scale_factor`` for the coordinates. ``antialias`` is not supported (must be False).
    """
    if not isinstance(input, Tensor):
        input = Tensor(input)
    op = "interpolate"
    if mode not in _MODES:
        raise ValueError(f"{op}: mode must be one of {tuple(_MODES)}, got {mode!r}")
    if mode == "nearest":
        if align_corners is not None:
            raise ValueError(f"{op}: align_corners option can only be set with the interpolating modes: "
                             f"linear | bilinear (got mode='nearest', align_corners={align_corners!r})")
    elif align_corners is None:
        align_corners = False
    if antialias:
        raise ValueError(f"{op}: antialias=True is not supported")
    if input.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a 3-D (N, C, L) or 4-D (N, C, H, W) input, got shape {tuple(input.shape)}")
    nd = input.ndim - 2
    need = _MODES[mode]
    if need is not None and need != nd:
        raise ValueError(f"{op}: got {input.ndim}-D input of shape {tuple(input.shape)}, but mode={mode!r} needs "
                         f"{need + 2}-D input")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be a floating tensor, got dtype {input.dtype}")
    sizes_in = tuple(int(s) for s in input.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError(f"{op}: only one of size or scale_factor should be defined")
    if size is not None:
        if recompute_scale_factor:
            raise ValueError(f"{op}: recompute_scale_factor is not meaningful with an explicit size")
        out = _per_axis(size, nd, "size")
        if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in out):
            raise TypeError(f"{op}: size must be an int or a tuple of {nd} ints, got {size!r}")
        out = [int(s) for s in out]
        factors: list[float | None] = [None] * nd
    elif scale_factor is not None:
        factors = [float(s) for s in _per_axis(scale_factor, nd, "scale_factor")]
        if any(not math.isfinite(s) or s <= 0 for s in factors):
            raise ValueError(f"{op}: scale_factor must be positive and finite, got {scale_factor!r}")
        out = [int(s * f) for s, f in zip(sizes_in, factors)]                 # PyTorch: int(in * scale)
        if recompute_scale_factor:
            factors = [None] * nd
    else:
        raise ValueError(f"{op}: either size or scale_factor should be defined")
    if any(s < 1 for s in sizes_in) or any(s < 1 for s in out):
        raise ValueError(f"{op}: input and output sizes should be greater than 0, got input {sizes_in} and "
                         f"output {tuple(out)}")
    dt = "float32" if input.dtype == np.float32 else "float64"
    # an axis that keeps its size is the identity (linear and 2-D nearest: ATen's shortcut, any scale factor;
    # 1-D nearest only when the scale is in / out = 1: a factor 1.2 on 3 pixels still maps o -> floor(o / 1.2))
    rule = "nearest_idx" if mode == "nearest" and nd == 2 else mode
    tables = tuple(None if o == s and (rule != "nearest" or f is None) else
                   axis_table(s, o, f, rule, bool(align_corners), dt)
                   for s, o, f in zip(sizes_in, out, factors))
    return Interpolate.apply(input, tables, sizes_in)


__all__ = ["interpolate"]
