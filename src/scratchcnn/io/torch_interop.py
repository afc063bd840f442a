"""PyTorch interop: ``to_torch(model)`` and ``load_torch_state_dict(model, source)``. No pickle: files are safetensors.

``to_torch`` mirrors a model layer by layer: each scratchcnn layer becomes the ``torch.nn`` layer of the same name
and constructor arguments, holding a copy of the same tensors (same ``state_dict`` names and dtypes, the same
``requires_grad`` and train/eval mode per layer). Containers (``Sequential``, ``ModuleList``, ``ModuleDict``) are
mirrored with their children's names; a model of its own class (seed000, seed001, lenet5, ...) becomes a
``torch.nn.Module`` whose ``forward`` is the model's own, calling the PyTorch children (so that forward may only
call its layers and use tensor operators and methods PyTorch has too: ``x + y``, ``x.flatten(1)``, ...).
Conversions that change the tensors: a ``mode="convolution"`` conv gets its kernel flipped (PyTorch correlates), a
LoRA layer becomes its base layer with the update merged in (W + (alpha/r) B A; its dropout, a training-only
branch, is not mirrored). A layer without a PyTorch equivalent (``Embedding``-based text models, adapters, blocks
inserted through forward hooks) is a ValueError naming the layer and its type.

``load_torch_state_dict`` is the way back: a ``torch.nn.Module``, a dict of torch tensors or NumPy arrays, or a
``.safetensors`` file (a ``.pt``/``.pth`` pickle is refused with how to convert it), names matched like
``Module.load_state_dict`` (strict by default), convolution-mode kernels flipped back, values cast to the model's
dtypes. PyTorch is imported only inside ``to_torch`` (and only duck-typed by ``load_torch_state_dict``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .checkpoint import CheckpointError, decode_safetensors, pickle_kind, pickle_refusal

__all__ = ["to_torch", "load_torch_state_dict", "mirror"]

_CONV = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "padding_mode")
_CONV_T = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding", "groups", "dilation")
_BN = ("num_features", "eps", "momentum", "affine", "track_running_stats")
_MAX = ("kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode")
_AVG = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")
# scratchcnn.nn layer -> the attributes passed, by name, to the torch.nn layer of the same name
_ARGS: dict[str, tuple[str, ...]] = {
    "Conv1d": _CONV, "Conv2d": _CONV, "Conv3d": _CONV, "ConvTranspose1d": _CONV_T, "ConvTranspose2d": _CONV_T,
    "Linear": ("in_features", "out_features"),
    "BatchNorm1d": _BN, "BatchNorm2d": _BN, "BatchNorm3d": _BN,
    "InstanceNorm1d": _BN, "InstanceNorm2d": _BN, "InstanceNorm3d": _BN,
    "LayerNorm": ("normalized_shape", "eps", "elementwise_affine"),
    "GroupNorm": ("num_groups", "num_channels", "eps", "affine"),
    "LocalResponseNorm": ("size", "alpha", "beta", "k"),
    "MaxPool1d": _MAX, "MaxPool2d": _MAX, "MaxPool3d": _MAX,
    "AvgPool1d": _AVG, "AvgPool2d": _AVG + ("divisor_override",), "AvgPool3d": _AVG + ("divisor_override",),
    "AdaptiveAvgPool1d": ("output_size",), "AdaptiveAvgPool2d": ("output_size",), "AdaptiveAvgPool3d": ("output_size",),
    "Dropout": ("p",), "Dropout1d": ("p",), "Dropout2d": ("p",), "Flatten": ("start_dim", "end_dim"),
    "Unflatten": ("dim", "unflattened_size"),
    "Upsample": ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor"),
    "LeakyReLU": ("negative_slope",), "GELU": ("approximate",), "Softmax": ("dim",), "LogSoftmax": ("dim",),
    "ELU": ("alpha",), "CELU": ("alpha",), "Softplus": ("beta", "threshold"), "Hardtanh": ("min_val", "max_val"),
    "PReLU": ("num_parameters", "init"),
    **{k: () for k in ("Identity", "ReLU", "ReLU6", "Sigmoid", "Tanh", "SELU", "SiLU", "Mish", "Hardsigmoid",
                       "Hardswish", "Softsign", "LogSigmoid")},
}
_CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")


def _import_torch(who: str) -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError(f"{who} needs PyTorch, which is not installed: pip install torch (scratchcnn itself "
                          "runs without it)") from None
    return torch


def _is(mod: Any, names: tuple[str, ...] | dict) -> bool:
    """``mod`` is exactly (not a subclass of) one of the ``scratchcnn.nn`` classes ``names``."""
    from .. import nn
    return type(mod).__name__ in names and type(mod) is getattr(nn, type(mod).__name__, None)


def _flips(mod: Any) -> bool:
    """Whether ``mod``'s ``weight`` is a ``mode="convolution"`` kernel (a conv, or a LoRA layer around one)."""
    from ..nn.conv import _ConvNd
    base = getattr(mod, "base_layer", mod)
    return isinstance(base, _ConvNd) and base.mode == "convolution"


def _flip(w: np.ndarray) -> np.ndarray:
    return np.flip(w, axis=tuple(range(2, w.ndim)))


def _leaf(torch: Any, mod: Any, who: str, flip: bool) -> Any:
    """The torch.nn layer equal to one scratchcnn layer (a LoRA layer: its base, merged), holding copies of its
    tensors."""
    from ..finetune.lora import LoRALayer
    lora = isinstance(mod, LoRALayer)
    base = mod.base_layer if lora else mod
    kind = type(base).__name__
    if _flips(base) and not flip:
        raise ValueError(f"{who}: {kind} with mode={base.mode!r} has no PyTorch equivalent")
    layer = getattr(torch.nn, kind)(**{a: getattr(base, a) for a in _ARGS[kind]})
    for name, _ in list(layer.named_parameters(recurse=False)):
        if getattr(base, name, None) is None:             # switched off here (bias=False, ...): off there too
            layer.register_parameter(name, None)
    state, grads = {}, {}
    for name in layer.state_dict():
        ours = getattr(mod, name)
        value = mod.merged_weight() if lora and name == "weight" else ours.data
        if name == "weight" and _flips(base):
            value = _flip(value)
        state[name] = torch.from_numpy(np.array(value, copy=True, order="C"))
        grads[name] = ours.requires_grad or (lora and name == "weight" and any(
            p.requires_grad for p in mod.lora_parameters()))
    floats = [t.dtype for t in state.values() if t.is_floating_point()]
    if floats:
        layer.to(floats[0])
    layer.load_state_dict(state)
    for name, p in layer.named_parameters(recurse=False):
        p.requires_grad_(grads[name])
    return layer


def _twin_class(torch: Any, model: Any) -> type:
    """A torch.nn.Module class whose forward is ``model``'s own (it then calls the PyTorch children)."""
    forward = type(model).forward

    class Twin(torch.nn.Module):
        def forward(self, *args: Any, **kwargs: Any) -> Any:
            return forward(self, *args, **kwargs)

    Twin.__name__ = Twin.__qualname__ = f"Torch{type(model).__name__}"
    return Twin


def _convert(torch: Any, mod: Any, where: str, who: str, flip: bool, top: bool, memo: dict) -> Any:
    from ..finetune.lora import LoRALayer
    if id(mod) in memo:                                   # a layer used twice stays one layer
        return memo[id(mod)]
    kind = type(mod).__name__
    own = [n for n, t in list(mod._parameters.items()) + list(mod._buffers.items()) if t is not None]
    if isinstance(mod, LoRALayer) or _is(mod, _ARGS):
        out = _leaf(torch, mod, who, flip)
    elif _is(mod, _CONTAINERS) or (top and mod._modules and not own):
        out = getattr(torch.nn, kind)() if _is(mod, _CONTAINERS) else _twin_class(torch, mod)()
        for name, child in mod.named_children():
            out.add_module(name, _convert(torch, child, f"{where}.{name}" if where else name, who, flip, False,
                                          memo))
        if not _is(mod, _CONTAINERS):                     # plain settings the model's forward may read
            for k, v in vars(mod).items():
                if not k.startswith("_") and not hasattr(out, k) and isinstance(v, (bool, int, float, str, tuple)):
                    object.__setattr__(out, k, v)
    else:
        named = f" ({where!r} in the model)" if where else ""
        raise ValueError(f"{who}: no PyTorch equivalent known for layer {kind}{named}")
    out.training = mod.training                           # per layer: a frozen BatchNorm may sit in eval mode
    memo[id(mod)] = out
    return out


def mirror(model: Any, who: str = "to_torch", flip: bool = True) -> Any:
    """``to_torch``'s implementation: ``who`` names the caller in errors; ``flip=False`` refuses
    ``mode="convolution"`` convs instead of flipping their kernels (``bench.twins.torch_twin``)."""
    torch = _import_torch(who)
    for name, m in model.named_modules():
        if m._forward_hooks or m._forward_pre_hooks:
            raise ValueError(f"{who}: layer {name or 'model'!r} ({type(m).__name__}) has forward hooks (inserted "
                             "blocks or adapters, or your own), which the PyTorch copy would not run; remove them "
                             "first")
    return _convert(torch, model, "", who, flip, True, {})


def to_torch(model: Any) -> Any:
    """A ``torch.nn.Module`` computing the same function as ``model``, with copies of the same weights.

    The same layers, names, dtypes, ``requires_grad`` and train/eval modes; the model's own ``forward`` is reused
    for a model of its own class. ``mode="convolution"`` kernels are flipped and LoRA layers merged (see the
    module doc), so for models without those ``to_torch(model).state_dict()`` holds ``model.state_dict()``'s
    values and a checkpoint's ``model.safetensors`` loads into it with ``load_state_dict(..., strict=True)``.

    Raises:
        ImportError: PyTorch is not installed.
        ValueError: a layer without a PyTorch equivalent (named, with its type), or forward hooks.
    """
    return mirror(model, "to_torch")


def _as_array(key: str, value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):   # a torch tensor (duck-typed: no torch import)
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":               # no NumPy type: widen (exactly) to float32
            value = value.float()
        return value.numpy()
    data = getattr(value, "data", None)                        # a scratchcnn Tensor
    if isinstance(data, np.ndarray):
        return data
    raise TypeError(f"load_torch_state_dict: {key!r} is a {type(value).__name__}, expected a torch tensor or a "
                    "NumPy array")


def _read_file(path: Path) -> dict[str, np.ndarray]:
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; load_torch_state_dict reads a .safetensors file (for a "
                              "scratchcnn checkpoint folder use scratchcnn.models.load_model or "
                              "model.load_state_dict(scratchcnn.io.load_checkpoint(path)[0]))")
    head = b""
    if path.is_file():
        with open(path, "rb") as f:
            head = f.read(8)
    kind = pickle_kind(path, head)          # by content, else by name (a missing .pt is refused as such too)
    if kind is not None:
        raise CheckpointError(pickle_refusal(path, kind))
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist")
    return decode_safetensors(path.read_bytes(), str(path), CheckpointError)


def _arrays(source: Any) -> dict[str, np.ndarray]:
    from ..nn.module import Module
    if isinstance(source, Module):
        raise TypeError("load_torch_state_dict: source is a scratchcnn model; use "
                        "model.load_state_dict(other.state_dict()) (its kernels are not PyTorch's)")
    if isinstance(source, (str, os.PathLike)):
        return _read_file(Path(source))
    if hasattr(source, "state_dict") and callable(source.state_dict):   # a torch.nn.Module
        source = source.state_dict()
    if not isinstance(source, Mapping):
        raise TypeError(f"load_torch_state_dict: expected a torch.nn.Module, a dict of tensors or a .safetensors "
                        f"path, got {type(source).__name__}")
    return {k: _as_array(k, v) for k, v in source.items()}


def load_torch_state_dict(model: Any, source: Any, strict: bool = True) -> Any:
    """Load PyTorch weights into ``model`` (in place); returns ``IncompatibleKeys(missing, unexpected)``.

    Args:
        model: a scratchcnn model.
        source: a ``torch.nn.Module``, a dict of torch tensors or NumPy arrays (PyTorch ``state_dict`` names), or
            the path of a ``.safetensors`` file (``safetensors.torch.save_file`` writes one). A ``.pt``/``.pth``
            file is refused (a pickle can run code when loaded); the message says how to convert it.
        strict: missing or unexpected names raise, as ``Module.load_state_dict``; without it they are returned.
    Values are cast to the model's dtypes (bfloat16 tensors included); the kernels of ``mode="convolution"`` convs
    are flipped back (``to_torch`` flips them). Shape mismatches always raise ``ValueError``.
    """
    state = _arrays(source)
    for name, m in model.named_modules():
        key = f"{name}.weight" if name else "weight"
        if _flips(m) and key in state:
            state[key] = _flip(state[key])
    return model.load_state_dict(state, strict=strict)
