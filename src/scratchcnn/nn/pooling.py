"""Pooling layers over (N, C, L), (N, C, H, W) or (N, C, D, H, W): MaxPool1d/2d/3d, AvgPool1d/2d/3d,
AdaptiveAvgPool1d/2d/3d.

All share ``_PoolNd`` (the rank check and error messages); the work is done by ``scratchcnn.functional``.
Options left at their defaults are not passed on, so the functional ops see PyTorch's plain calls.
"""
from __future__ import annotations

from typing import Any

from .. import functional as F
from ..tensor import Tensor
from .module import Module

_AXES = {1: "L", 2: "H, W", 3: "D, H, W"}


class _PoolNd(Module):
    _n: int = 0

    def _check_input(self, x: Tensor) -> None:
        n = self._n
        if not isinstance(x, Tensor):
            raise TypeError(f"{self!r}: expected a Tensor input, got {type(x).__name__}")
        if x.ndim not in (n + 1, n + 2):
            raise ValueError(f"{self!r}: expected input (N, C, {_AXES[n]}) or (C, {_AXES[n]}), got {tuple(x.shape)}")


class _MaxPoolNd(_PoolNd):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x: Tensor) -> Any:
        self._check_input(x)
        fn = F.max_pool1d if self._n == 1 else F.max_pool2d if self._n == 2 else F.max_pool3d
        kw: dict[str, Any] = {}
        if self.dilation not in (1, (1,) * self._n):
            kw["dilation"] = self.dilation
        if self.ceil_mode:
            kw["ceil_mode"] = True
        if self.return_indices:
            kw["return_indices"] = True
        return fn(x, self.kernel_size, self.stride, self.padding, **kw)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """Max over sliding windows of length ``kernel_size`` (stride defaults to the kernel size)."""

    _n = 1


class MaxPool2d(_MaxPoolNd):
    """Max over sliding ``kernel_size`` windows (stride defaults to the kernel size)."""

    _n = 2


class MaxPool3d(_MaxPoolNd):
    """Max over sliding (D, H, W) ``kernel_size`` windows of (N, C, D, H, W) or (C, D, H, W) inputs (stride
    defaults to the kernel size)."""

    _n = 3


class _AvgPoolNd(_PoolNd):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode, self.count_include_pad = padding, ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        fn = F.avg_pool1d if self._n == 1 else F.avg_pool2d if self._n == 2 else F.avg_pool3d
        kw: dict[str, Any] = {}
        if self.ceil_mode:
            kw["ceil_mode"] = True
        if not self.count_include_pad:
            kw["count_include_pad"] = False
        if self.divisor_override is not None:
            kw["divisor_override"] = self.divisor_override
        return fn(x, self.kernel_size, self.stride, self.padding, **kw)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """Mean over sliding windows of length ``kernel_size`` (settings stored as 1-tuples, like PyTorch, which has
    no ``divisor_override`` here)."""

    _n = 1

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        def single(v: Any) -> tuple:
            return tuple(v) if isinstance(v, (tuple, list)) else (v,)
        super().__init__(single(kernel_size), single(stride) if stride is not None else None, single(padding),
                         ceil_mode, count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """Mean over sliding ``kernel_size`` windows; ``divisor_override`` (if given) replaces every window's divisor."""

    _n = 2


class AvgPool3d(_AvgPoolNd):
    """Mean over sliding (D, H, W) ``kernel_size`` windows of (N, C, D, H, W) or (C, D, H, W) inputs;
    ``divisor_override`` (if given) replaces every window's divisor."""

    _n = 3


class _AdaptiveAvgPoolNd(_PoolNd):
    def __init__(self, output_size: Any):
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        fn = F.adaptive_avg_pool1d if self._n == 1 else F.adaptive_avg_pool2d if self._n == 2 else F.adaptive_avg_pool3d
        return fn(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """Average pooling to a fixed output length (1 = global average pooling)."""

    _n = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Average pooling to a fixed (H, W) output ((1, 1) or 1 = global average pooling)."""

    _n = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """Average pooling of (N, C, D, H, W) or (C, D, H, W) to a fixed (D, H, W) output (an int for all three, a
    ``None`` entry keeps that input size; 1 = global average pooling)."""

    _n = 3


__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveAvgPool1d",
           "AdaptiveAvgPool2d", "AdaptiveAvgPool3d"]
