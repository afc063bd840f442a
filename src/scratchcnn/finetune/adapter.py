"""Bottleneck adapters (Houlsby et al. 2019, Rebuffi et al. 2017 for CNNs) and inserting new blocks into a model.

An adapter is a small residual block placed after a convolution block::

    y = x + up(relu(down(x)))      down: 1x1 conv C -> d,  up: 1x1 conv d -> C (weight and bias zero)

With ``up`` zero the adapter is the identity, so the adapted model starts exactly as the base model.

``insert_after(model, name, block)`` is the general tool (it also serves "insert a new layer into a trained
model"): ``block`` is registered under ``model.inserted[<name with dots as "__">]`` (for a Sequential model:
as ``<name>.inserted`` on the layer itself) and a forward hook on the module ``name`` feeds that module's output
through it. The base model's own ``state_dict`` keys are untouched; the new tensors appear as
``inserted.<name>.<...>``.
"""
from __future__ import annotations

from typing import Any

from ..nn import init
from ..nn.module import Module
from ..tensor import Tensor

__all__ = ["Adapter", "insert_after", "inserted_blocks", "add_adapters", "INSERT_KEY"]

INSERT_KEY = "inserted"


class Adapter(Module):
    """Residual bottleneck over channels: (N, C, *spatial) -> same shape; identity at initialisation.

    Args:
        channels: C.
        bottleneck: d, the hidden width.
        spatial_dims: 1 for (N, C, L) feature maps, 2 for (N, C, H, W).
    """

    def __init__(self, channels: int, bottleneck: int = 16, spatial_dims: int = 2, dtype: Any = None):
        super().__init__()
        from ..nn import Conv1d, Conv2d, ReLU
        for label, v in (("channels", channels), ("bottleneck", bottleneck)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"Adapter: {label} must be a positive integer, got {v!r}")
        if spatial_dims not in (1, 2):
            raise ValueError(f"Adapter: spatial_dims must be 1 or 2, got {spatial_dims!r}")
        conv = Conv2d if spatial_dims == 2 else Conv1d
        self.channels, self.bottleneck, self.spatial_dims = channels, bottleneck, spatial_dims
        self.down = conv(channels, bottleneck, 1, dtype=dtype)
        self.act = ReLU()
        self.up = conv(bottleneck, channels, 1, dtype=dtype)
        init.zeros_(self.up.weight)
        init.zeros_(self.up.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != self.spatial_dims + 2 or x.shape[1] != self.channels:
            axes = "L" if self.spatial_dims == 1 else "H, W"
            raise ValueError(f"Adapter({self.channels}): expected input (N, {self.channels}, {axes}), "
                             f"got {tuple(x.shape)}")
        return x + self.up(self.act(self.down(x)))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, bottleneck={self.bottleneck}, spatial_dims={self.spatial_dims}"


def _key(name: str) -> str:
    return name.replace(".", "__")


def _holder(model: Module, target: Module, name: str) -> tuple[Module, str]:
    """Where the block is registered: on the root model (key ``inserted.<name>``), unless the root is a
    Sequential (which would call every child), then on the target layer itself (key ``<name>.inserted``)."""
    from ..nn import ModuleList, Sequential
    if not isinstance(model, (Sequential, ModuleList)):
        return model, _key(name)
    if list(target.children()):
        raise ValueError(f"insert_after: {name!r} is a container inside a Sequential model; insert after one of "
                         "its layers instead")
    return target, ""


def insert_after(model: Module, name: str, block: Module) -> Module:
    """Run ``block`` on the output of the submodule ``name`` from now on; returns ``block``.

    The block is registered on ``model`` (so its parameters train and save); a second insertion after the same
    module is an error.
    """
    from ..nn import ModuleDict
    target = model.get_submodule(name) if name else None
    if target is None or target is model:
        raise ValueError(f"insert_after: {name!r} does not name a submodule of the model")
    holder, key = _holder(model, target, name)
    if not key:  # registered on the target layer itself
        if INSERT_KEY in target._modules:
            raise ValueError(f"insert_after: a block is already inserted after {name!r}")
        target.add_module(INSERT_KEY, block)
    else:
        if INSERT_KEY not in holder._modules:
            if hasattr(holder, INSERT_KEY):
                raise ValueError(f"insert_after: the model already has an attribute {INSERT_KEY!r}")
            holder.add_module(INSERT_KEY, ModuleDict())
        blocks = holder._modules[INSERT_KEY]
        if key in blocks:
            raise ValueError(f"insert_after: a block is already inserted after {name!r}")
        blocks[key] = block
    target.register_forward_hook(lambda mod, inputs, out, _b=block: _b(out))
    return block


def inserted_blocks(model: Module) -> dict[str, Module]:
    """{module name: block} of the blocks ``insert_after`` added."""
    out = {}
    blocks = model._modules.get(INSERT_KEY)
    if blocks is not None and not isinstance(blocks, Adapter) and hasattr(blocks, "keys"):
        out.update({k.replace("__", "."): m for k, m in blocks._modules.items()})
    for name, m in model.named_modules():
        if name and INSERT_KEY in m._modules:
            out[name] = m._modules[INSERT_KEY]
    return out


def add_adapters(model: Module, after: list[tuple[str, tuple[int, ...]]], bottleneck: int = 16) -> list[str]:
    """Insert an ``Adapter`` after each ``(module name, output shape without batch)``; returns the names.

    The shapes come from ``structure.trace`` (the feature maps' channel count and rank).
    """
    params = list(model.parameters())
    dtype = params[0].data.dtype if params else None
    names = []
    for name, shape in after:
        if len(shape) not in (2, 3):
            raise ValueError(f"adapter after {name}: expected a feature map (C, L) or (C, H, W), got shape {shape}")
        insert_after(model, name, Adapter(int(shape[0]), bottleneck, len(shape) - 1, dtype=dtype))
        names.append(name)
    return names
