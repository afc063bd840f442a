"""LoRA (Hu et al. 2021) for Linear and Conv1d/Conv2d layers, in the PEFT library's scheme.

A LoRA layer keeps the pretrained layer frozen and adds a trainable low-rank update::

    y = base(x) + (alpha / r) * B(A(dropout(x)))

- Linear: A = Linear(in, r, bias=False), B = Linear(r, out, bias=False); delta W = (alpha/r) * B.W @ A.W.
- Conv (one implementation for 1-d and 2-d): A = Conv(in, r) with the base's kernel size, stride, padding,
  dilation (and mode); B = 1x1 Conv(r, out), no bias. A 1x1 conv after A is a per-pixel matrix product, so
  ``B(A(x)) = conv(x, einsum("or,ri...->oi...", B.W, A.W))`` with A's geometry: the update merges into W.
- Init: A ``kaiming_uniform_(a=sqrt(5))`` (PyTorch's layer default), B zeros, so the start equals the base.

The LoRA layer registers the base layer's ``weight`` and ``bias`` under its own name (the same Parameter
objects), so ``state_dict`` keys stay ``conv1.weight`` ... and gain ``conv1.lora_A.weight``, ``conv1.lora_B.weight``.
``merge()`` adds delta W into the base weight in place (inference without the extra branch), ``unmerge()`` restores
the saved original (bit-identical, so frozen weights really stay frozen); merged and unmerged outputs agree to
rounding.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..functional.dropout import dropout as _dropout
from ..nn import init
from ..nn.module import Module
from ..tensor import Tensor
from .structure import is_conv, is_linear

__all__ = ["LoRALinear", "LoRAConv", "LoRALayer", "max_rank", "wrap_lora", "lora_layers", "merge_lora",
           "unmerge_lora", "strip_lora"]


def max_rank(layer: Any) -> int:
    """The largest useful LoRA rank for ``layer``: the rank of its weight seen as an (out, fan_in) matrix."""
    w = layer.weight.data
    return int(min(w.shape[0], int(np.prod(w.shape[1:]))))


def _describe(layer: Any) -> str:
    if is_linear(layer):
        return f"Linear {layer.in_features}->{layer.out_features}"
    k = "x".join(str(v) for v in layer.kernel_size)
    return f"{type(layer).__name__} {layer.in_channels}->{layer.out_channels}, {k}"


class LoRALayer(Module):
    """Shared part of ``LoRALinear`` and ``LoRAConv``: frozen base + scaled low-rank branch, merge/unmerge."""

    def __init__(self, base: Any, rank: int, alpha: float, dropout: float, name: str = ""):
        super().__init__()
        label = f"LoRA on {name or type(base).__name__} ({_describe(base)})"
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 1:
            raise ValueError(f"{label}: rank must be a positive integer, got {rank!r}")
        limit = max_rank(base)
        if rank > limit:
            raise ValueError(f"{label}: rank {rank} is larger than the layer allows (at most {limit} = "
                             f"min(out, fan_in) of its {tuple(base.weight.shape)} weight)")
        if not (isinstance(alpha, (int, float, np.floating)) and alpha > 0):
            raise ValueError(f"{label}: alpha must be a positive number, got {alpha!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"{label}: lora dropout must be in [0, 1), got {dropout!r}")
        object.__setattr__(self, "base_layer", base)  # not a child: its tensors are registered just below
        base.weight.requires_grad_(False)
        self.weight = base.weight
        if getattr(base, "bias", None) is not None:
            base.bias.requires_grad_(False)
            self.bias = base.bias
        else:
            self.register_parameter("bias", None)
        self.rank, self.alpha, self.dropout_p = int(rank), float(alpha), float(dropout)
        self.scaling = self.alpha / self.rank
        self.merged = False
        self.lora_A, self.lora_B = self._make_branch(base)
        init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        init.zeros_(self.lora_B.weight)

    def _make_branch(self, base: Any) -> tuple[Module, Module]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _delta(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def delta_weight(self) -> np.ndarray:
        """(alpha / r) * B A as an array shaped like the base weight."""
        return (self._delta() * self.scaling).astype(self.weight.data.dtype, copy=False)

    def forward(self, x: Tensor) -> Tensor:
        out = self.base_layer(x)
        if self.merged:
            return out
        h = _dropout(x, self.dropout_p, self.training) if self.dropout_p > 0 else x
        return out + self.lora_B(self.lora_A(h)) * self.scaling

    def merge(self) -> None:
        """Add delta W into the base weight (in place); the branch is then skipped. No-op if already merged."""
        if not self.merged:
            object.__setattr__(self, "_saved_weight", self.weight.data.copy())
            self.weight.data += self.delta_weight()
            self.weight._version += 1       # in place: a graph that saved the unmerged weight refuses backward
            self.merged = True

    def unmerge(self) -> None:
        """Restore the base weight as it was before ``merge`` (bit-identical). No-op if not merged."""
        if self.merged:
            np.copyto(self.weight.data, self.__dict__.pop("_saved_weight"))
            self.weight._version += 1
            self.merged = False

    def merged_weight(self) -> np.ndarray:
        """The base weight with delta W added, without changing the layer."""
        return self.weight.data if self.merged else self.weight.data + self.delta_weight()

    def lora_parameters(self) -> list:
        return [self.lora_A.weight, self.lora_B.weight]

    def extra_repr(self) -> str:
        return (f"{_describe(self.base_layer)}, rank={self.rank}, alpha={self.alpha:g}, "
                f"dropout={self.dropout_p:g}, merged={self.merged}")


class LoRALinear(LoRALayer):
    """LoRA around an ``nn.Linear``: (..., in) -> (..., out)."""

    def __init__(self, base: Any, rank: int = 4, alpha: float = 8.0, dropout: float = 0.0, name: str = ""):
        if not is_linear(base):
            raise TypeError(f"LoRALinear: expected an nn.Linear, got {type(base).__name__}")
        super().__init__(base, rank, alpha, dropout, name)

    def _make_branch(self, base: Any) -> tuple[Module, Module]:
        from ..nn import Linear
        dt = base.weight.data.dtype
        return (Linear(base.in_features, self.rank, bias=False, dtype=dt),
                Linear(self.rank, base.out_features, bias=False, dtype=dt))

    def _delta(self) -> np.ndarray:
        return self.lora_B.weight.data @ self.lora_A.weight.data


class LoRAConv(LoRALayer):
    """LoRA around an ``nn.Conv1d``/``nn.Conv2d`` (one implementation for both): A has the base's kernel,
    stride, padding, dilation and mode with ``rank`` output channels; B is a 1x1 conv rank -> out."""

    def __init__(self, base: Any, rank: int = 4, alpha: float = 8.0, dropout: float = 0.0, name: str = ""):
        if not is_conv(base):
            raise TypeError(f"LoRAConv: expected an nn.Conv1d or nn.Conv2d, got {type(base).__name__}")
        if base.groups != 1:
            raise ValueError(f"LoRAConv on {name or type(base).__name__}: grouped convolutions (groups="
                             f"{base.groups}) are not supported (the update could not be merged)")
        super().__init__(base, rank, alpha, dropout, name)

    def _make_branch(self, base: Any) -> tuple[Module, Module]:
        cls, dt = type(base), base.weight.data.dtype
        a = cls(base.in_channels, self.rank, base.kernel_size, stride=base.stride, padding=base.padding,
                dilation=base.dilation, bias=False, mode=base.mode, dtype=dt,
                padding_mode=base.padding_mode)   # the base's padding, so that merging stays exact
        b = cls(self.rank, base.out_channels, 1, bias=False, dtype=dt)
        return a, b

    def _delta(self) -> np.ndarray:
        a = self.lora_A.weight.data                      # (r, in, *k)
        b = self.lora_B.weight.data
        b = b.reshape(b.shape[0], b.shape[1])            # (out, r, 1, ...) -> (out, r)
        return np.tensordot(b, a, axes=([1], [0]))       # (out, in, *k)


def wrap_lora(layer: Any, rank: int = 4, alpha: float = 8.0, dropout: float = 0.0, name: str = "") -> LoRALayer:
    """The right LoRA wrapper for ``layer`` (Linear -> ``LoRALinear``, Conv1d/2d -> ``LoRAConv``)."""
    if is_linear(layer):
        return LoRALinear(layer, rank, alpha, dropout, name)
    if is_conv(layer):
        return LoRAConv(layer, rank, alpha, dropout, name)
    raise ValueError(f"LoRA target {name or type(layer).__name__} is a {type(layer).__name__}; "
                     "only Linear, Conv1d and Conv2d layers can get LoRA")


def lora_layers(model: Any) -> list[tuple[str, LoRALayer]]:
    """(name, layer) of every LoRA layer in ``model``."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, LoRALayer)]


def merge_lora(model: Any) -> int:
    """Merge every LoRA layer of ``model`` into its base weight; returns how many were merged."""
    layers = lora_layers(model)
    for _, m in layers:
        m.merge()
    return len(layers)


def unmerge_lora(model: Any) -> int:
    """Undo ``merge_lora``; returns how many layers were unmerged."""
    layers = lora_layers(model)
    for _, m in layers:
        m.unmerge()
    return len(layers)


def strip_lora(model: Any) -> Any:
    """Fold every LoRA layer of ``model`` into its base layer (W + delta W, in place) and put the base layer back
    in its place: the plain model a merged checkpoint holds (same outputs; no LoRA modules left). Returns it."""
    from .structure import set_submodule
    for name, layer in [(n, m) for n, m in model.named_modules() if isinstance(m, LoRALayer)]:
        base = layer.base_layer
        base.weight.data = np.array(layer.merged_weight(), copy=True)
        set_submodule(model, name, base)
    return model
