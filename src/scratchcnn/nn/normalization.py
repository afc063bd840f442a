"""Normalisation layers beyond BatchNorm, with PyTorch's names, arguments, state_dict keys and repr:
``LayerNorm``, ``GroupNorm``, ``InstanceNorm1d/2d/3d`` (one N-d ``_InstanceNorm``) and ``LocalResponseNorm``."""
from __future__ import annotations

import numbers
import warnings
from typing import Any, Sequence

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter, param_dtype


def _positive_int(layer: str, what: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)) or v < 1:
        raise ValueError(f"{layer}: {what} must be a positive int, got {v!r}")
    return int(v)


def _affine_params(module: Module, shape: tuple[int, ...], affine: bool, bias: bool, dtype: Any) -> None:
    """``weight`` (ones) and ``bias`` (zeros) of ``shape``, or None where switched off (PyTorch's rule)."""
    dt = param_dtype(dtype)
    module.register_parameter("weight", Parameter(np.ones(shape, dtype=dt)) if affine else None)
    module.register_parameter("bias", Parameter(np.zeros(shape, dtype=dt)) if affine and bias else None)


def _reset_affine(module: Module) -> None:
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the trailing ``normalized_shape`` dims of each sample.

    ``weight``/``bias`` are element-wise (shaped ``normalized_shape``); ``elementwise_affine=False`` drops both,
    ``bias=False`` keeps the weight only.
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype: Any = None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else normalized_shape
        self.normalized_shape = tuple(_positive_int("LayerNorm", "normalized_shape", s) for s in shape)
        if not self.normalized_shape:
            raise ValueError("LayerNorm: normalized_shape must have at least one dimension, got ()")
        self.eps, self.elementwise_affine = eps, elementwise_affine
        _affine_params(self, self.normalized_shape, elementwise_affine, bias, dtype)

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    """Normalise each (sample, group of num_channels / num_groups channels) of (N, C, *) inputs, then a
    per-channel ``weight`` and ``bias`` (``affine``; ``bias=False`` keeps the weight only)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 dtype: Any = None, *, bias: bool = True):
        super().__init__()
        self.num_groups = _positive_int("GroupNorm", "num_groups", num_groups)
        self.num_channels = _positive_int("GroupNorm", "num_channels", num_channels)
        if self.num_channels % self.num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.eps, self.affine = eps, affine
        _affine_params(self, (self.num_channels,), affine, bias, dtype)

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, x: Tensor) -> Tensor:
        if self.affine and isinstance(x, Tensor) and x.ndim >= 2 and x.shape[1] != self.num_channels:
            raise ValueError(f"{self!r}: expected input (N, {self.num_channels}, *), got {tuple(x.shape)}")
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class _InstanceNorm(Module):
    """Normalise each (sample, channel) over its ``_spatial`` spatial dims; (C, *spatial) without a batch axis is
    accepted too. Running statistics (``track_running_stats``) are updated in training and used in eval; without
    them instance statistics are used in both modes (PyTorch's rules, including ``momentum=None`` = no update)."""

    _spatial: int = 0

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, dtype: Any = None, *, bias: bool = True):
        super().__init__()
        self.num_features = _positive_int(type(self).__name__, "num_features", num_features)
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        _affine_params(self, (self.num_features,), affine, bias, dtype)
        dt = param_dtype(dtype)
        tracked = track_running_stats
        self.register_buffer("running_mean", Tensor(np.zeros(self.num_features, dtype=dt)) if tracked else None)
        self.register_buffer("running_var", Tensor(np.ones(self.num_features, dtype=dt)) if tracked else None)
        self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)) if tracked else None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data.fill(0)
            self.running_var.data.fill(1)
            self.num_batches_tracked.data.fill(0)

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        _reset_affine(self)

    def _optional_state_keys(self, prefix: str, version: int | None) -> set[str]:
        """As BatchNorm: ``num_batches_tracked`` may be absent from a state_dict without version metadata."""
        if self.track_running_stats and (version is None or version < 2):
            return {prefix + "num_batches_tracked"}
        return set()

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"{self!r}: expected a Tensor input, got {type(x).__name__}")
        unbatched = self._spatial + 1
        if x.ndim not in (unbatched, unbatched + 1):
            raise ValueError(f"{self!r}: expected {unbatched}D or {unbatched + 1}D input, got shape {tuple(x.shape)}")
        feature_dim = x.ndim - unbatched
        if x.shape[feature_dim] != self.num_features:
            if self.affine or self.track_running_stats:
                raise ValueError(f"{self!r}: expected input's size at dim={feature_dim} to match num_features "
                                 f"({self.num_features}), got input of shape {tuple(x.shape)}")
            warnings.warn(f"input's size at dim={feature_dim} does not match num_features. You can silence this "
                          "warning by not passing in num_features, which is not used because affine=False",
                          stacklevel=2)
        if x.ndim == unbatched:
            return self._normalise(x.unsqueeze(0)).squeeze(0)
        return self._normalise(x)

    def _normalise(self, x: Tensor) -> Tensor:
        return F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                               self.training or not self.track_running_stats,
                               self.momentum if self.momentum is not None else 0.0, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Instance norm over (N, C, L) or (C, L) inputs."""

    _spatial = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance norm over (N, C, H, W) or (C, H, W) inputs."""

    _spatial = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance norm over (N, C, D, H, W) or (C, D, H, W) inputs."""

    _spatial = 3


class LocalResponseNorm(Module):
    """AlexNet's local response normalisation across ``size`` neighbouring channels (no parameters):
    ``x_c / (k + alpha / size * sum x_j^2)^beta``."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size = _positive_int("LocalResponseNorm", "size", size)
        self.alpha, self.beta, self.k = alpha, beta, k

    def forward(self, x: Tensor) -> Tensor:
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


__all__ = ["LayerNorm", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LocalResponseNorm"]
