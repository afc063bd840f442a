"""Linear (fully connected), Identity, Flatten and Unflatten layers."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..functional.linalg import linear
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter, param_dtype


class Linear(Module):
    """y = x W^T + b over the last axis: (..., in_features) -> (..., out_features) (PyTorch's ``nn.Linear``)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype: Any = None):
        super().__init__()
        for label, v in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"Linear: {label} must be a non-negative int, got {v!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        dt = param_dtype(dtype)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dt))
        if bias:
            self.bias = Parameter(np.empty((self.out_features,), dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self, generator: np.random.Generator | None = None) -> None:
        """PyTorch's default: weight kaiming_uniform_(a=sqrt(5)), bias U(-1/sqrt(in), 1/sqrt(in))."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound, generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"{self!r}: expected a Tensor input, got {type(x).__name__}")
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"{self!r}: expected input (..., {self.in_features}), got {tuple(x.shape)}")
        return linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """Returns its input unchanged (any constructor arguments are ignored, like PyTorch)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x


class Flatten(Module):
    """Merge axes ``start_dim..end_dim`` (default: all but the batch axis) into one."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x: Tensor) -> Tensor:
        nd = max(x.ndim, 1)
        for d in (self.start_dim, self.end_dim):
            if not -nd <= d < nd:
                raise ValueError(f"{self!r}: dimension {d} is out of range for input of shape {tuple(x.shape)}")
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split axis ``dim`` into ``unflattened_size``: (*, S_dim, *) -> (*, U_1, ..., U_n, *) with prod(U) = S_dim
    (PyTorch's ``nn.Unflatten``; one entry may be -1, inferred; ``dim`` may be negative)."""

    def __init__(self, dim: int, unflattened_size: tuple[int, ...] | list[int]):
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError(f"unflattened_size must be a tuple of ints, but found type "
                            f"{type(unflattened_size).__name__}")
        for i, v in enumerate(unflattened_size):
            if not isinstance(v, int):
                raise TypeError(f"unflattened_size must be tuple of ints, but found element of type "
                                f"{type(v).__name__} at pos {i}")
        self.dim = dim
        self.unflattened_size = unflattened_size

    def _target(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The output shape for an input of ``shape`` (-1 resolved), or a ValueError naming the layer."""
        nd = max(len(shape), 1)
        if not isinstance(self.dim, (int, np.integer)) or not -nd <= self.dim < nd or not shape:
            raise ValueError(f"{self!r}: dimension {self.dim} is out of range for input of shape {shape}")
        d = int(self.dim) % nd
        sizes = [int(v) for v in self.unflattened_size]
        if not sizes:
            raise ValueError(f"{self!r}: unflattened_size must be non-empty")
        free = [i for i, v in enumerate(sizes) if v == -1]
        if len(free) > 1 or any(v < -1 for v in sizes):
            raise ValueError(f"{self!r}: unflattened_size {tuple(sizes)} may hold one -1 and otherwise "
                             f"non-negative sizes")
        known = int(np.prod([v for v in sizes if v != -1]))
        if free:
            if known == 0 or shape[d] % known:
                raise ValueError(f"{self!r}: cannot split size {shape[d]} of dim {d} of input {shape} into "
                                 f"{tuple(sizes)}")
            sizes[free[0]] = shape[d] // known
        elif known != shape[d]:
            raise ValueError(f"{self!r}: sizes {tuple(sizes)} don't multiply up to the size of dim {d} "
                             f"({shape[d]}) of input {shape}")
        return shape[:d] + tuple(sizes) + shape[d + 1:]

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"{self!r}: expected a Tensor input, got {type(x).__name__}")
        return x.reshape(self._target(tuple(x.shape)))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


__all__ = ["Linear", "Identity", "Flatten", "Unflatten"]
