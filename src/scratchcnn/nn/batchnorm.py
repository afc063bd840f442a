"""Batch normalisation layers: ``_BatchNorm`` base, ``BatchNorm1d`` ((N, C) or (N, C, L)), ``BatchNorm2d``
((N, C, H, W)) and ``BatchNorm3d`` ((N, C, D, H, W)). Running statistics are buffers (Tensors) updated in place,
exactly like PyTorch's."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter, param_dtype


class _BatchNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias per channel (axis 1).

    ``bias=False`` (keyword, as in PyTorch 2.13) keeps the scale but drops the shift.
    Training uses the batch statistics and updates ``running_mean``/``running_var`` with ``momentum``
    (None = cumulative average) and the unbiased batch variance; eval uses the running statistics.
    """

    _ranks: tuple[int, ...] = ()
    _shape_text: str = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype: Any = None, *, bias: bool = True):
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) or num_features < 1:
            raise ValueError(f"{type(self).__name__}: num_features must be a positive int, got {num_features!r}")
        self.num_features = int(num_features)
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dt = param_dtype(dtype)
        if affine:
            self.weight = Parameter(np.empty((self.num_features,), dtype=dt))
            if bias:
                self.bias = Parameter(np.empty((self.num_features,), dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(self.num_features, dtype=dt)))
            self.register_buffer("running_var", Tensor(np.ones(self.num_features, dtype=dt)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """running_mean 0, running_var 1, num_batches_tracked 0 (in place)."""
        if self.track_running_stats:
            self.running_mean.data.fill(0)
            self.running_var.data.fill(1)
            self.num_batches_tracked.data.fill(0)

    def _optional_state_keys(self, prefix: str, version: int | None) -> set[str]:
        """``num_batches_tracked`` (added in version 2 of PyTorch's BatchNorm state) may be absent from a
        state_dict without version metadata, e.g. one read from safetensors: it keeps its value, as in PyTorch."""
        if self.track_running_stats and (version is None or version < 2):
            return {prefix + "num_batches_tracked"}
        return set()

    def reset_parameters(self) -> None:
        """Reset the running statistics, weight 1 and bias 0."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"{self!r}: expected a Tensor input, got {type(x).__name__}")
        if x.ndim not in self._ranks or x.shape[1] != self.num_features:
            raise ValueError(f"{self!r}: expected input {self._shape_text.format(C=self.num_features)}, "
                             f"got {tuple(x.shape)}")

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.data += 1
            factor = 1.0 / float(self.num_batches_tracked.data) if self.momentum is None else self.momentum
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        if use_batch and x.data.size // x.shape[1] <= 1:
            raise ValueError(f"{self!r}: expected more than 1 value per channel when training, "
                             f"got input of shape {tuple(x.shape)}")
        track = not self.training or self.track_running_stats
        return F.batch_norm(x, self.running_mean if track else None, self.running_var if track else None,
                            self.weight, self.bias, use_batch, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs (statistics over N, or N and L)."""

    _ranks = (2, 3)
    _shape_text = "(N, {C}) or (N, {C}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs (statistics over N, H, W)."""

    _ranks = (4,)
    _shape_text = "(N, {C}, H, W)"


class BatchNorm3d(_BatchNorm):
    """Batch norm over (N, C, D, H, W) inputs (statistics over N, D, H, W); like PyTorch, 5-D input only."""

    _ranks = (5,)
    _shape_text = "(N, {C}, D, H, W)"


__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d"]
