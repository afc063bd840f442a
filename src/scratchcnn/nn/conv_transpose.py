"""Transposed convolution layers: one ``_ConvTransposeNd`` base, ``ConvTranspose1d`` and ``ConvTranspose2d`` differ
only in the number of axes (PyTorch's names, arguments, weight layout (in, out/groups, *kernel) and init)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .. import functional as F
from ..functional.conv_transpose import transposed_output_padding
from ..tensor import Tensor
from .conv import _ConvNd, _ntuple
from .module import Module
from .parameter import Parameter, param_dtype


class _ConvTransposeNd(Module):
    """Shared N-d transposed convolution layer. Weight (in, out/groups, *kernel), bias (out,); PyTorch's default
    init (kaiming_uniform_(a=sqrt(5)) on the weight, whose fan_in is out/groups * prod(kernel), bias
    U(-1/sqrt(fan_in), 1/sqrt(fan_in))). Only ``padding_mode='zeros'`` exists, as in PyTorch."""

    _n: int = 0

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                 padding_mode: str = "zeros", dtype: Any = None):
        super().__init__()
        name, n = type(self).__name__, self._n
        if padding_mode != "zeros":
            raise ValueError(f'{name}: only "zeros" padding mode is supported, got padding_mode={padding_mode!r}')
        for label, v in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}: {label} must be a positive int, got {v!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must divide in_channels={in_channels} "
                             f"and out_channels={out_channels}")
        if isinstance(padding, str):
            raise ValueError(f"{name}: padding must be an int or a tuple of {n} ints, got {padding!r}")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size", name)
        self.stride = _ntuple(stride, n, "stride", name)
        self.padding = _ntuple(padding, n, "padding", name)
        self.output_padding = _ntuple(output_padding, n, "output_padding", name)
        self.dilation = _ntuple(dilation, n, "dilation", name)
        for label, t, lo in (("kernel_size", self.kernel_size, 1), ("stride", self.stride, 1),
                             ("dilation", self.dilation, 1), ("padding", self.padding, 0),
                             ("output_padding", self.output_padding, 0)):
            if any(v < lo for v in t):
                raise ValueError(f"{name}: {label} values must be >= {lo}, got {t}")
        if any(o >= max(s, d) for o, s, d in zip(self.output_padding, self.stride, self.dilation)):
            raise ValueError(f"{name}: output_padding must be smaller than either stride or dilation, got "
                             f"output_padding={self.output_padding}, stride={self.stride}, "
                             f"dilation={self.dilation}")
        self.padding_mode = padding_mode
        dt = param_dtype(dtype)
        self.weight = Parameter(np.empty((self.in_channels, self.out_channels // self.groups, *self.kernel_size),
                                         dtype=dt))
        if bias:
            self.bias = Parameter(np.empty((self.out_channels,), dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    reset_parameters = _ConvNd.reset_parameters   # the same init: fan_in from the weight's dims 1..
    _check_input = _ConvNd._check_input

    def _output_padding(self, x: Tensor, output_size: Sequence[int] | None) -> tuple[int, ...]:
        """``self.output_padding``, or the one that gives ``output_size`` ((*O) or (N, C, *O); (C, *O) for an
        unbatched input), as PyTorch's ``_output_padding``."""
        if output_size is None:
            return self.output_padding
        n = self._n
        lead = 2 if x.ndim == n + 2 else 1
        size = [int(v) for v in output_size]
        if len(size) == lead + n:
            size = size[lead:]
        if len(size) != n:
            raise ValueError(f"{self!r}: for a {x.ndim}-D input, output_size must have {n} or {lead + n} "
                             f"elements, got {tuple(output_size)}")
        return transposed_output_padding(tuple(x.shape[-n:]), size, self.stride, self.padding, self.kernel_size,
                                         self.dilation, type(self).__name__)

    def forward(self, x: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        self._check_input(x)
        output_padding = self._output_padding(x, output_size)
        return F.conv_transpose_nd(x, self.weight, self.bias, self.stride, self.padding, output_padding,
                                   self.groups, self.dilation, op=type(self).__name__)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if any(self.padding):
            s += f", padding={self.padding}"
        if any(d != 1 for d in self.dilation):
            s += f", dilation={self.dilation}"
        if any(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution over (N, C_in, L) -> (N, C_out, L_out) (PyTorch's ``nn.ConvTranspose1d``)."""

    _n = 1


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution over (N, C_in, H, W) -> (N, C_out, H_out, W_out) (``nn.ConvTranspose2d``)."""

    _n = 2


__all__ = ["ConvTranspose1d", "ConvTranspose2d"]
