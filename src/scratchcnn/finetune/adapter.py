"""Bottleneck adapters (Houlsby et al. 2019, Rebuffi et al. 2017 for CNNs) and inserting new blocks into a model.

An adapter is a small residual block placed after a convolution block::

    y = x + up(relu(down(x)))      down: 1x1 conv C -> d,  up: 1x1 conv d -> C (weight and bias zero)

With ``up`` zero the adapter is the identity, so the adapted model starts exactly as the base model.

A *parallel* adapter (He et al. 2022, "Towards a Unified View of Parameter-Efficient Transfer Learning") sits
beside a frozen Linear layer instead, reading the layer's input::

    y = linear(x) + up(relu(down(x)))      down: in -> d,  up: d -> out (weight and bias zero)

``add_parallel(model, name, block)`` attaches one (registered as ``parallel.<name with dots as "__">``, or for a
Sequential model as ``<name>.parallel``).

``insert_after(model, name, block)`` is the general tool (it also serves "insert a new layer into a trained
model"): ``block`` is registered under ``model.inserted[<name with dots as "__">]`` (for a Sequential model:
as ``<name>.inserted`` on the layer itself) and a forward hook on the module ``name`` feeds that module's output
through it. The base model's own ``state_dict`` keys are untouched; the new tensors appear as
``inserted.<name>.<...>``.

``ResidualBlock`` is the block ``scratchcnn finetune --insert-block NAME`` inserts with it (``add_residual_blocks``):
a new, full-width residual layer pair that starts as the identity::

    feature map (C, L) / (C, H, W):  y = x + conv2(relu(conv1(x)))     conv: C -> C, kernel 3, padding 'same'
    vector (F,):                     y = x + fc2(relu(fc1(x)))         fc:   F -> F

with the second layer (weight and bias) zero, so the model with the block starts exactly as the base.
"""
from __future__ import annotations

from typing import Any

from ..nn import init
from ..nn.module import Module
from ..tensor import Tensor

__all__ = ["Adapter", "ParallelAdapter", "ResidualBlock", "insert_after", "add_residual_blocks", "add_parallel",
           "inserted_blocks", "add_adapters", "add_parallel_adapters", "INSERT_KEY", "PARALLEL_KEY"]

INSERT_KEY = "inserted"
PARALLEL_KEY = "parallel"


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


class ParallelAdapter(Module):
    """Bottleneck branch beside a Linear layer: (N, *, in_features) -> (N, *, out_features); zero at
    initialisation, so ``linear(x) + branch(x)`` starts as the base layer.

    Args:
        in_features, out_features: the Linear layer's sizes.
        bottleneck: d, the hidden width.
    """

    def __init__(self, in_features: int, out_features: int, bottleneck: int = 16, dtype: Any = None):
        super().__init__()
        from ..nn import Linear, ReLU
        for label, v in (("in_features", in_features), ("out_features", out_features), ("bottleneck", bottleneck)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"ParallelAdapter: {label} must be a positive integer, got {v!r}")
        self.in_features, self.out_features, self.bottleneck = in_features, out_features, bottleneck
        self.down = Linear(in_features, bottleneck, dtype=dtype)
        self.act = ReLU()
        self.up = Linear(bottleneck, out_features, dtype=dtype)
        init.zeros_(self.up.weight)
        init.zeros_(self.up.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"ParallelAdapter({self.in_features} -> {self.out_features}): expected input "
                             f"(..., {self.in_features}), got {tuple(x.shape)}")
        return self.up(self.act(self.down(x)))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bottleneck={self.bottleneck}"


class ResidualBlock(Module):
    """A new residual block for a trained model, the identity at initialisation.

    Shapes (N = batch):

    - ``spatial_dims=2``: (N, C, H, W) -> (N, C, H, W), ``y = x + conv2(relu(conv1(x)))``, Conv2d C -> C;
    - ``spatial_dims=1``: (N, C, L) -> (N, C, L), the same with Conv1d;
    - ``spatial_dims=0``: (N, F) -> (N, F), ``y = x + fc2(relu(fc1(x)))``, Linear F -> F.

    The convolutions use ``kernel_size`` with padding 'same' (stride 1), so the map keeps its size. ``conv1`` /
    ``fc1`` keep the library's default initialisation; ``conv2`` / ``fc2`` have weight and bias zero, so the
    block returns exactly ``x`` until it trains (and the first layer's gradient is zero at the first step: the
    second layer learns first, as in a zero-initialised adapter).

    Args:
        channels: C (feature maps) or F (vectors).
        spatial_dims: 0 for vectors, 1 for (C, L) maps, 2 for (C, H, W) maps.
        kernel_size: odd kernel size of the convolutions (ignored for vectors).
    """

    def __init__(self, channels: int, spatial_dims: int = 2, kernel_size: int = 3, dtype: Any = None):
        super().__init__()
        from ..nn import Conv1d, Conv2d, Linear, ReLU
        for label, v in (("channels", channels), ("kernel_size", kernel_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"ResidualBlock: {label} must be a positive integer, got {v!r}")
        if spatial_dims not in (0, 1, 2):
            raise ValueError(f"ResidualBlock: spatial_dims must be 0, 1 or 2, got {spatial_dims!r}")
        if kernel_size % 2 == 0:
            raise ValueError(f"ResidualBlock: kernel_size must be odd, got {kernel_size}")
        self.channels, self.spatial_dims, self.kernel_size = channels, spatial_dims, kernel_size
        if spatial_dims == 0:
            self.fc1 = Linear(channels, channels, dtype=dtype)
            self.act = ReLU()
            self.fc2 = Linear(channels, channels, dtype=dtype)
            second = self.fc2
        else:
            conv = Conv2d if spatial_dims == 2 else Conv1d
            self.conv1 = conv(channels, channels, kernel_size, padding="same", dtype=dtype)
            self.act = ReLU()
            self.conv2 = conv(channels, channels, kernel_size, padding="same", dtype=dtype)
            second = self.conv2
        init.zeros_(second.weight)
        init.zeros_(second.bias)

    @property
    def layers(self) -> tuple[Module, Module]:
        """The (first, second) Conv/Linear layers."""
        return (self.fc1, self.fc2) if self.spatial_dims == 0 else (self.conv1, self.conv2)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != self.spatial_dims + 2 or x.shape[1] != self.channels:
            axes = {0: "", 1: ", L", 2: ", H, W"}[self.spatial_dims]
            raise ValueError(f"ResidualBlock({self.channels}): expected input (N, {self.channels}{axes}), "
                             f"got {tuple(x.shape)}")
        first, second = self.layers
        return x + second(self.act(first(x)))

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, spatial_dims={self.spatial_dims}"
                + (f", kernel_size={self.kernel_size}" if self.spatial_dims else ""))


def _key(name: str) -> str:
    return name.replace(".", "__")


def _holder(model: Module, target: Module, name: str, key_name: str) -> tuple[Module, str]:
    """Where the block is registered: on the root model (key ``<key_name>.<name>``), unless the root is a
    Sequential (which would call every child), then on the target layer itself (key ``<name>.<key_name>``)."""
    from ..nn import ModuleList, Sequential
    if not isinstance(model, (Sequential, ModuleList)):
        return model, _key(name)
    if list(target.children()):
        raise ValueError(f"{key_name}: {name!r} is a container inside a Sequential model; attach to one of "
                         "its layers instead")
    return target, ""


def _register(model: Module, name: str, block: Module, key_name: str, verb: str, how: str) -> Module:
    """Register ``block`` for the submodule ``name`` under ``key_name``; returns that submodule."""
    from ..nn import ModuleDict
    target = model.get_submodule(name) if name else None
    if target is None or target is model:
        raise ValueError(f"{verb}: {name!r} does not name a submodule of the model")
    holder, key = _holder(model, target, name, key_name)
    if not key:  # registered on the target layer itself
        if key_name in target._modules:
            raise ValueError(f"{verb}: a block is already {how} {name!r}")
        target.add_module(key_name, block)
    else:
        if key_name not in holder._modules:
            if hasattr(holder, key_name):
                raise ValueError(f"{verb}: the model already has an attribute {key_name!r}")
            holder.add_module(key_name, ModuleDict())
        blocks = holder._modules[key_name]
        if key in blocks:
            raise ValueError(f"{verb}: a block is already {how} {name!r}")
        blocks[key] = block
    return target


def insert_after(model: Module, name: str, block: Module) -> Module:
    """Run ``block`` on the output of the submodule ``name`` from now on; returns ``block``.

    The block is registered on ``model`` (so its parameters train and save); a second insertion after the same
    module is an error.
    """
    target = _register(model, name, block, INSERT_KEY, "insert_after", "inserted after")
    target.register_forward_hook(lambda mod, inputs, out, _b=block: _b(out))
    return block


def add_parallel(model: Module, name: str, block: Module) -> Module:
    """From now on the submodule ``name`` returns ``its output + block(its input)``; returns ``block``."""
    target = _register(model, name, block, PARALLEL_KEY, "add_parallel", "beside")
    target.register_forward_hook(lambda mod, inputs, out, _b=block: out + _b(inputs[0]))
    return block


def inserted_blocks(model: Module, key_name: str = INSERT_KEY) -> dict[str, Module]:
    """{module name: block} of the blocks ``insert_after`` added (``key_name=PARALLEL_KEY``: those
    ``add_parallel`` added)."""
    out = {}
    blocks = model._modules.get(key_name)
    if blocks is not None and not isinstance(blocks, (Adapter, ParallelAdapter, ResidualBlock)) \
            and hasattr(blocks, "keys"):
        out.update({k.replace("__", "."): m for k, m in blocks._modules.items()})
    for name, m in model.named_modules():
        if name and key_name in m._modules:
            out[name] = m._modules[key_name]
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


def add_parallel_adapters(model: Module, beside: list[tuple[str, int, int]], bottleneck: int = 16) -> list[str]:
    """Attach a ``ParallelAdapter`` beside each ``(Linear module name, in_features, out_features)``; returns the
    names."""
    params = list(model.parameters())
    dtype = params[0].data.dtype if params else None
    for name, fin, fout in beside:
        add_parallel(model, name, ParallelAdapter(int(fin), int(fout), bottleneck, dtype=dtype))
    return [name for name, _, _ in beside]


def add_residual_blocks(model: Module, after: list[tuple[str, tuple[int, ...]]], kernel_size: int = 3) -> list[str]:
    """Insert a ``ResidualBlock`` after each ``(module name, output shape without batch)``: (F,) vectors,
    (C, L) or (C, H, W) feature maps; returns the names. The shapes come from ``structure.output_shapes``."""
    params = list(model.parameters())
    dtype = params[0].data.dtype if params else None
    for name, shape in after:
        if len(shape) not in (1, 2, 3):
            raise ValueError(f"residual block after {name}: expected a vector (F,) or a feature map (C, L) / "
                             f"(C, H, W), got shape {tuple(shape)}")
    for name, shape in after:
        insert_after(model, name, ResidualBlock(int(shape[0]), len(shape) - 1, kernel_size, dtype=dtype))
    return [name for name, _ in after]
