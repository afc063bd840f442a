"""Transposed convolution (1 or 2 spatial dims, one N-d path) with PyTorch's ``conv_transpose1d/2d`` semantics:
stride, padding, output_padding, groups, dilation, bias; weight (C_in, C_out/groups, *K).

A transposed convolution is the input gradient of a convolution: with the *conv* whose input has the shape of
our output (N, C_out, *O), whose output has the shape of our input (N, C_in, *S) and whose weight is our weight
read as (conv C_out = C_in, conv C_in/groups = C_out/groups, *K), same stride, padding, dilation and groups,

* forward   ``y = conv_input_grad(x)``  — :class:`~scratchcnn.functional.conv.ConvNd`'s backward (per kernel
  offset one GEMM added onto a strided slab, i.e. col2im without padding buffers) run on ``x`` as the gradient;
* backward  ``dx = conv(dy, w)``         — ConvNd's forward (channels-last im2col + GEMM),
            ``dw = conv_weight_grad(dy, x)`` — ConvNd's weight gradient (cols(dy)^T @ x, one GEMM per group),
            from the same im2col matrix as ``dx`` (one im2col serves both), ``db = dy.sum(N, *O)``.

Output size per axis: ``O = (S - 1) * stride - 2 * padding + dilation * (K - 1) + output_padding + 1``, with
``output_padding < max(stride, dilation)`` (PyTorch's rule). Output positions that no input reaches (the
output_padding border) are 0 (+ bias); positions that land in the padding are cropped. When
``output_padding >= stride`` (possible with dilation > stride) the conv of ``dy`` has an extra output row that
maps to no input; it is sliced off (and ``x`` is zero-extended for the weight gradient).
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

import numpy as np

from ..autograd import Context, Function
from ..tensor import Tensor
from ._im2col import IntOrTuple, to_tuple
from .conv import ConvNd, _frozen

_AXES = {1: "L", 2: "H, W"}


def _conv_input_grad(x: np.ndarray, w: np.ndarray, out_sz: tuple[int, ...], stride, pads, dilation,
                     groups: int) -> np.ndarray:
    """The input gradient (N, C_w1*G, *out_sz) of the conv with weight ``w`` (C_w0, C_w1, *K) whose output
    gradient is ``x`` (N, C_w0, *S): :meth:`ConvNd.backward` with a context holding what ConvNd.forward would
    have saved for the input gradient (no im2col columns, the per-offset weight blocks)."""
    nd = w.ndim - 2
    dt = np.result_type(x.dtype, w.dtype)
    n, kernel = x.shape[0], tuple(w.shape[2:])
    cog, cg = w.shape[0] // groups, w.shape[1]
    ctx = Context((True, False, False))
    wt = np.ascontiguousarray(w.reshape(groups, cog, cg, -1).transpose(3, 0, 1, 2), dtype=dt)
    ctx.save_for_backward(None, wt)
    padded = tuple(o + lo + hi for o, (lo, hi) in zip(out_sz, pads))
    ctx.geom = ((n, cg * groups, *out_sz), padded, tuple(x.shape[2:]), kernel, stride, pads, dilation, groups,
                math.prod(kernel) * cg, False, False, dt)
    return ConvNd.backward(ctx, x)[0]


class ConvTransposeNd(Function):
    """Grouped, strided, dilated N-d transposed convolution; see the module docstring."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple[int, ...],
                padding: tuple[int, ...], output_padding: tuple[int, ...], groups: int,
                dilation: tuple[int, ...]) -> np.ndarray:
        nd = w.ndim - 2
        unbatched = x.ndim == nd + 1
        if unbatched:
            x = x[None]
        kernel = w.shape[2:]
        out_sz = tuple((s - 1) * st - 2 * p + d * (k - 1) + op + 1 for s, st, p, d, k, op in
                       zip(x.shape[2:], stride, padding, dilation, kernel, output_padding))
        pads = tuple((p, p) for p in padding)
        y = _conv_input_grad(x, w, out_sz, stride, pads, dilation, groups)
        if b is not None:
            y += b.astype(y.dtype, copy=False).reshape((-1,) + (1,) * nd)
        nx, nw, _ = ctx.needs_input_grad[:3]
        ctx.save_for_backward(x if nw else None, w if (nx or nw) else None)
        ctx.geom = (tuple(x.shape[2:]), pads, stride, dilation, groups, unbatched)
        return y[0] if unbatched else y

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray):
        x, w = ctx.saved
        spatial, pads, stride, dilation, groups, unbatched = ctx.geom
        nx, nw, nb = ctx.needs_input_grad[:3]
        nd = len(spatial)
        if unbatched:
            grad = grad[None]
        gx = gw = gb = None
        if nb:
            gb = grad.sum(axis=(0, *range(2, 2 + nd)))
        if nx or nw:
            # conv of dy with w: its output is dx, its saved columns (when nw) give dw against x as "grad"
            conv_ctx = Context((False, nw, False))
            dx = ConvNd.forward(conv_ctx, grad, w, None, stride, pads, dilation, groups, False)
            extra = tuple(o - s for o, s in zip(dx.shape[2:], spatial))      # > 0 only if output_padding >= stride
            crop = (slice(None), slice(None)) + tuple(slice(0, s) for s in spatial)
            if nx:
                gx = dx[crop] if any(extra) else dx
            if nw:
                xg = x
                if any(extra):
                    xg = np.zeros(x.shape[:2] + dx.shape[2:], dtype=x.dtype)
                    xg[crop] = x
                gw = ConvNd.backward(conv_ctx, xg)[1]
        if unbatched:
            gx = None if gx is None else gx[0]
        return gx, gw, gb, None, None, None, None, None


@lru_cache(maxsize=1024)
def _geometry(in_shape, in_dtype, w_shape, w_dtype, b_info, stride, padding, output_padding, groups, dilation,
              op) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], int, tuple[int, ...]]:
    """``(stride, padding, output_padding, groups, dilation)`` normalised, or a one-line ValueError/TypeError."""
    nd = len(w_shape) - 2
    for name, dtype in (("input", in_dtype), ("weight", w_dtype), ("bias", b_info and b_info[1])):
        if dtype is not None and dtype.kind != "f":
            raise TypeError(f"{op}: {name} must be a floating tensor, got dtype {dtype}")
    if len(in_shape) not in (nd + 1, nd + 2):
        raise ValueError(f"{op}: expected a {nd + 2}-D input (N, C_in, {_AXES[nd]}) or an unbatched {nd + 1}-D "
                         f"input, got {len(in_shape)}-D input of shape {in_shape}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    groups = int(groups)
    c_in, kernel = in_shape[-nd - 1], tuple(w_shape[2:])
    if w_shape[0] != c_in:
        raise ValueError(f"{op}: expected input with {w_shape[0]} channels (weight (C_in, C_out/groups, *K) = "
                         f"{w_shape}), got {c_in} channels (input shape {in_shape})")
    if c_in % groups:
        raise ValueError(f"{op}: groups={groups} must divide in_channels={c_in} (weight {w_shape})")
    if any(k < 1 for k in kernel) or w_shape[1] < 1 or c_in < 1:
        raise ValueError(f"{op}: weight has an empty dimension: {w_shape}")
    c_out = w_shape[1] * groups
    if b_info is not None and b_info[0] != (c_out,):
        raise ValueError(f"{op}: expected bias of shape ({c_out},), got {b_info[0]}")
    stride_t = to_tuple(stride, nd, "stride", op)
    dilation_t = to_tuple(dilation, nd, "dilation", op)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple of {nd} ints (no 'same'/'valid' for a "
                         f"transposed convolution), got {padding!r}")
    padding_t = to_tuple(padding, nd, "padding", op, minimum=0)
    out_pad_t = to_tuple(output_padding, nd, "output_padding", op, minimum=0)
    for op_, s, d in zip(out_pad_t, stride_t, dilation_t):
        if op_ >= max(s, d):
            raise ValueError(f"{op}: output_padding must be smaller than either stride or dilation, got "
                             f"output_padding={out_pad_t}, stride={stride_t}, dilation={dilation_t}")
    out = tuple((s - 1) * st - 2 * p + d * (k - 1) + o + 1 for s, st, p, d, k, o in
                zip(in_shape[-nd:], stride_t, padding_t, dilation_t, kernel, out_pad_t))
    if any(o < 1 for o in out) or any(s < 1 for s in in_shape[-nd:]):
        raise ValueError(f"{op}: output size {out} is not positive (input shape {in_shape}, kernel {kernel}, "
                         f"stride {stride_t}, padding {padding_t}, dilation {dilation_t})")
    return stride_t, padding_t, out_pad_t, groups, dilation_t


def conv_transpose_nd(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
                      padding: IntOrTuple = 0, output_padding: IntOrTuple = 0, groups: int = 1,
                      dilation: IntOrTuple = 1, op: str | None = None) -> Tensor:
    """N-d transposed convolution: input (N, C_in, *S) or unbatched (C_in, *S), weight (C_in, C_out/groups, *K),
    bias (C_out,) or None -> (N, C_out, *O), ``O = (S-1)*stride - 2*padding + dilation*(K-1) + output_padding + 1``.
    """
    if not isinstance(input, Tensor):
        input = Tensor(input)
    if not isinstance(weight, Tensor):
        weight = Tensor(weight)
    if bias is not None and not isinstance(bias, Tensor):
        bias = Tensor(bias)
    nd = weight.ndim - 2
    op = op or f"conv_transpose{nd}d"
    if nd not in (1, 2):
        raise ValueError(f"{op}: expected a 3-D or 4-D weight (C_in, C_out/groups, *kernel), got shape "
                         f"{tuple(weight.shape)}")
    args = (tuple(input.shape), input.dtype, tuple(weight.shape), weight.dtype,
            None if bias is None else (tuple(bias.shape), bias.dtype), _frozen(stride), _frozen(padding),
            _frozen(output_padding), groups, _frozen(dilation), op)
    try:
        geometry = _geometry(*args)
    except TypeError as e:                      # an unhashable argument: validate without the cache
        if "unhashable" not in str(e):
            raise
        geometry = _geometry.__wrapped__(*args)
    return ConvTransposeNd.apply(input, weight, bias, *geometry)


def _check_rank(weight, ndim: int, op: str) -> None:
    shape = tuple(getattr(weight, "shape", np.shape(weight)))
    if len(shape) != ndim:
        raise ValueError(f"{op}: expected a {ndim}-D weight (C_in, C_out/groups, *kernel), got {len(shape)}-D "
                         f"weight of shape {shape}")


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
                     padding: IntOrTuple = 0, output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1) -> Tensor:
    """1-D transposed convolution (PyTorch's ``F.conv_transpose1d``): (N, C_in, L) -> (N, C_out, L_out)."""
    _check_rank(weight, 3, "conv_transpose1d")
    return conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups, dilation,
                             "conv_transpose1d")


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
                     padding: IntOrTuple = 0, output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1) -> Tensor:
    """2-D transposed convolution (PyTorch's ``F.conv_transpose2d``): (N, C_in, H, W) -> (N, C_out, H_out, W_out)."""
    _check_rank(weight, 4, "conv_transpose2d")
    return conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups, dilation,
                             "conv_transpose2d")


def transposed_output_padding(in_spatial: Sequence[int], output_size: Sequence[int], stride, padding, kernel,
                              dilation, op: str) -> tuple[int, ...]:
    """The output_padding that gives ``output_size`` (PyTorch's ``_ConvTransposeNd._output_padding``): sizes
    from ``(S-1)*stride - 2*padding + dilation*(K-1) + 1`` up to ``stride - 1`` more, else ValueError."""
    nd = len(in_spatial)
    mins = [(s - 1) * st - 2 * p + d * (k - 1) + 1 for s, st, p, d, k in
            zip(in_spatial, stride, padding, dilation, kernel)]
    maxs = [m + st - 1 for m, st in zip(mins, stride)]
    size = [int(v) for v in output_size]
    if any(not lo <= v <= hi for v, lo, hi in zip(size, mins, maxs)):
        raise ValueError(f"{op}: requested an output size of {size}, but valid sizes range from {mins} to {maxs} "
                         f"(for an input of {list(in_spatial)})")
    return tuple(v - lo for v, lo in zip(size, mins))[:nd]


__all__ = ["conv_transpose1d", "conv_transpose2d", "conv_transpose_nd"]
