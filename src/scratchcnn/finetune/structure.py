"""Look inside a model: which layers run in which order, which one is the classifier head, how layers group.

Fine-tuning needs three facts that a ``state_dict`` cannot give: the order the layers run in (to find "the last
K layers"), the classifier head (the last Linear called), and where convolution blocks end (to insert adapters).
``trace`` gets them by running one dummy sample through the model with temporary forward hooks, like
``models.summary`` does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

__all__ = ["LayerCall", "trace", "output_shapes", "input_shape_of", "find_head", "layer_units", "conv_block_ends",
           "set_submodule", "is_conv", "is_linear", "is_batchnorm"]


@dataclass
class LayerCall:
    """One leaf module call: its dotted name, the module and the output shape (without the batch axis)."""

    name: str
    module: Any
    out_shape: tuple[int, ...]


def is_conv(m: Any) -> bool:
    from ..nn.conv import _ConvNd
    return isinstance(m, _ConvNd)


def is_linear(m: Any) -> bool:
    from ..nn import Linear
    return isinstance(m, Linear)


def is_batchnorm(m: Any) -> bool:
    from ..nn.batchnorm import _BatchNorm
    return isinstance(m, _BatchNorm)


def input_shape_of(model: Any, meta: dict | None = None) -> tuple[int, ...]:
    """(C, H, W) of one input sample: ``meta["input_shape"]`` if recorded, else from ``model_config``."""
    shape = (meta or {}).get("input_shape")
    if shape:
        return tuple(int(s) for s in shape)
    cfg = getattr(model, "model_config", {}) or {}
    side = int(cfg.get("input_size", 28))
    return (int(cfg.get("in_channels", 1)), side, side)


def _zero_sample(model: Any, input_shape: Sequence[int]) -> Any:
    """A batch of one zero sample of ``input_shape`` (C, H, W) in the dtype of the model's parameters."""
    from ..tensor import Tensor
    params = list(model.parameters())
    dtype = params[0].data.dtype if params else np.float32
    return Tensor(np.zeros((1, *(int(s) for s in input_shape)), dtype=dtype))


def trace(model: Any, input_shape: Sequence[int]) -> list[LayerCall]:
    """Leaf modules (no children) in the order a forward pass first calls them.

    Runs one zero sample of ``input_shape`` (C, H, W) in eval mode under ``no_grad``; the mode is restored.
    Raises ``ValueError`` when the model cannot take such an input (an architecture that does not fit).
    """
    from ..nn.utils import forward_with_hooks

    calls: list[LayerCall] = []
    seen: set[int] = set()
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.named_children()) and n]

    def record(name, mod, out):
        if id(mod) in seen:
            return
        seen.add(id(mod))
        calls.append(LayerCall(name, mod, tuple(out.shape[1:]) if hasattr(out, "shape") else ()))

    hooks = [(m, lambda mod, i, o, _n=n: record(_n, mod, o)) for n, m in leaves]
    try:
        out = forward_with_hooks(model, _zero_sample(model, input_shape), hooks)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"model {getattr(model, 'model_name', type(model).__name__)} does not accept inputs of "
                         f"shape {tuple(input_shape)}: {' '.join(str(exc).split())}") from None
    if not hasattr(out, "shape") or len(out.shape) != 2:
        raise ValueError(f"model {getattr(model, 'model_name', type(model).__name__)} must return logits "
                         f"(N, classes) to be fine-tuned, returns shape {getattr(out, 'shape', None)}")
    return calls


def output_shapes(model: Any, input_shape: Sequence[int], names: Sequence[str]) -> dict[str, tuple | None]:
    """Output shape (without the batch axis) of each named submodule, leaf or container, in one dummy forward
    pass like ``trace``; ``None`` for a module the forward pass never calls, ``()`` for an output that is not a
    tensor. Unknown names raise ``ValueError``."""
    from ..nn.utils import forward_with_hooks

    modules = dict(model.named_modules())
    unknown = [n for n in names if not n or n not in modules]
    if unknown:
        raise ValueError(f"model has no submodule {unknown[0]!r}")
    shapes: dict[str, tuple | None] = {n: None for n in names}

    def record(name, out):
        if shapes[name] is None:
            shapes[name] = tuple(int(s) for s in out.shape[1:]) if hasattr(out, "shape") else ()

    hooks = [(modules[n], lambda mod, i, o, _n=n: record(_n, o)) for n in dict.fromkeys(names)]
    forward_with_hooks(model, _zero_sample(model, input_shape), hooks)
    return shapes


def find_head(calls: list[LayerCall]) -> str:
    """Name of the classifier head: the last module with parameters must be a Linear layer."""
    with_params = [c for c in calls if any(True for _ in c.module.parameters())]
    if not with_params or not is_linear(with_params[-1].module):
        last = with_params[-1] if with_params else None
        raise ValueError("architecture does not fit: fine-tuning needs a final Linear classifier head, but the "
                         f"last layer with parameters is {type(last.module).__name__ if last else 'none'}"
                         + (f" ({last.name})" if last else ""))
    return with_params[-1].name


def layer_units(calls: list[LayerCall]) -> list[list[str]]:
    """Trainable units in call order: each Conv/Linear layer with the parameter-holding layers (e.g. BatchNorm)
    that follow it before the next Conv/Linear. ``partial --unfreeze-last K`` and ``--layer-lr-decay`` count
    these units from the head backwards."""
    units: list[list[str]] = []
    for c in calls:
        has_params = any(True for _ in c.module.parameters())
        if not has_params:
            continue
        if is_conv(c.module) or is_linear(c.module) or not units:
            units.append([c.name])
        else:
            units[-1].append(c.name)
    return units


def conv_block_ends(calls: list[LayerCall]) -> list[LayerCall]:
    """For each convolution, the last module of its block: the block runs from the conv to just before the next
    Conv/Linear/Flatten call. Adapters go after these modules (their outputs are (C, ...) feature maps)."""
    from ..nn import Flatten
    ends: list[LayerCall] = []
    current: LayerCall | None = None
    for c in calls:
        if is_conv(c.module):
            if current is not None:
                ends.append(current)
            current = c
        elif is_linear(c.module) or isinstance(c.module, Flatten):
            if current is not None:
                ends.append(current)
            current = None
        elif current is not None:
            current = c
    if current is not None:
        ends.append(current)
    return ends


def set_submodule(model: Any, name: str, module: Any) -> None:
    """Replace the child at dotted path ``name`` by ``module`` (keeps its position among siblings)."""
    parent_name, _, leaf = name.rpartition(".")
    parent = model.get_submodule(parent_name)
    if leaf not in parent._modules:
        raise ValueError(f"model has no submodule {name!r}")
    parent._modules[leaf] = module
