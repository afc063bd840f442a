"""Convolution layers: one ``_ConvNd`` base, ``Conv1d`` and ``Conv2d`` differ only in the number of axes."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter, param_dtype

_AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(value: Any, n: int, name: str, layer: str) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),) * n
    try:
        t = tuple(int(v) for v in value)
    except TypeError:
        raise TypeError(f"{layer}: {name} must be an int or a tuple of {n} ints, got {value!r}") from None
    if len(t) != n:
        raise ValueError(f"{layer}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    return t


class _ConvNd(Module):
    """Shared N-d convolution layer. Weight (out, in/groups, *kernel), bias (out,), PyTorch's default init.

    ``mode="correlation"`` (default) is PyTorch's cross-correlation; ``"convolution"`` flips the kernel.
    ``padding_mode`` 'zeros' | 'reflect' | 'replicate' | 'circular' as PyTorch: a non-zeros mode pads the input
    explicitly with ``F.pad`` (``padding`` widths; 'same' puts the odd extra after) and convolves with padding 0.
    """

    _n: int = 0

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", mode: str = "correlation", dtype: Any = None):
        super().__init__()
        name = type(self).__name__
        n = self._n
        for label, v in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}: {label} must be a positive int, got {v!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must divide in_channels={in_channels} "
                             f"and out_channels={out_channels}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        if mode not in ("correlation", "convolution"):
            raise ValueError(f"{name}: mode must be 'correlation' or 'convolution', got {mode!r}")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size", name)
        self.stride = _ntuple(stride, n, "stride", name)
        self.dilation = _ntuple(dilation, n, "dilation", name)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' needs stride 1, got stride={self.stride}")
            self.padding: tuple[int, ...] | str = padding
        else:
            self.padding = _ntuple(padding, n, "padding", name)
        for label, t, lo in (("kernel_size", self.kernel_size, 1), ("stride", self.stride, 1),
                             ("dilation", self.dilation, 1)):
            if any(v < lo for v in t):
                raise ValueError(f"{name}: {label} values must be >= {lo}, got {t}")
        if isinstance(self.padding, tuple) and any(v < 0 for v in self.padding):
            raise ValueError(f"{name}: padding must be >= 0, got {self.padding}")
        self.padding_mode = padding_mode
        self._reversed_padding_repeated_twice = self._mode_pads()
        self.mode = mode
        dt = param_dtype(dtype)
        self.weight = Parameter(np.empty((self.out_channels, self.in_channels // self.groups, *self.kernel_size),
                                         dtype=dt))
        if bias:
            self.bias = Parameter(np.empty((self.out_channels,), dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self, generator: np.random.Generator | None = None) -> None:
        """PyTorch's default: weight kaiming_uniform_(a=sqrt(5)), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound, generator=generator)

    def _mode_pads(self) -> tuple[int, ...]:
        """``F.pad`` widths for a non-zeros ``padding_mode`` (last axis first, PyTorch's
        ``_reversed_padding_repeated_twice``): the (low, high) widths conv itself would use, ``'same'`` putting
        ``total // 2`` before and the rest after."""
        from ..functional.conv import _resolve_padding
        pads = _resolve_padding(self.padding, self.kernel_size, self.stride, self.dilation, type(self).__name__)
        return tuple(w for lo, hi in reversed(pads) for w in (lo, hi))

    def _check_input(self, x: Tensor) -> None:
        n, c = self._n, self.in_channels
        axes = ", ".join(_AXES[n])
        if not isinstance(x, Tensor):
            raise TypeError(f"{self!r}: expected a Tensor input, got {type(x).__name__}")
        if x.ndim not in (n + 1, n + 2) or x.shape[-n - 1] != c:
            raise ValueError(f"{self!r}: expected input (N, {c}, {axes}) or ({c}, {axes}), got {tuple(x.shape)}")

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        padding = self.padding
        if self.padding_mode != "zeros":            # PyTorch: pad explicitly in that mode, then convolve unpadded
            try:
                x = F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            except ValueError as e:
                raise ValueError(f"{self!r}: padding_mode={self.padding_mode!r}: {e}") from None
            padding = 0
        return F.conv_nd(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups,
                         self.mode, op=type(self).__name__)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if isinstance(self.padding, str) or any(self.padding):
            s += f", padding={self.padding}"
        if any(d != 1 for d in self.dilation):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        if self.mode != "correlation":
            s += f", mode={self.mode}"
        return s


class Conv1d(_ConvNd):
    """1-D convolution over (N, C_in, L) -> (N, C_out, L_out) (PyTorch's ``nn.Conv1d``)."""

    _n = 1


class Conv2d(_ConvNd):
    """2-D convolution over (N, C_in, H, W) -> (N, C_out, H_out, W_out) (PyTorch's ``nn.Conv2d``)."""

    _n = 2


class Conv3d(_ConvNd):
    """3-D convolution over (N, C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out) (PyTorch's ``nn.Conv3d``)."""

    _n = 3


__all__ = ["Conv1d", "Conv2d", "Conv3d"]
