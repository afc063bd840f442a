"""Model registry: ``get(name, num_classes=10, **cfg)`` builds a named built-in; ``register`` adds one.

Builders are referenced as ``"module:function"`` strings and imported on first use, so listing models is cheap.
Every built model carries ``model_name`` and ``model_config`` (the keyword arguments that rebuild it), which
checkpoints store in ``meta.json``.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

__all__ = ["get", "list_models", "register", "describe"]

_REGISTRY: dict[str, tuple[str | Callable[..., Any], str]] = {
    "seed000": ("scratchcnn.models.seed000:Seed000", "seed 000: 2x(conv3x3+ReLU+maxpool) 16/32 ch, fc 1568-128-10"),
    "seed001": ("scratchcnn.models.seed001:Seed001",
                "seed 001: 2x(conv3x3+ReLU+maxpool+BN) 64/128 ch, fc 6272-1024, dropout 0.5, fc 10"),
    "lenet5": ("scratchcnn.models.lenet5:LeNet5", "LeNet-5 for 28x28: conv5x5 6/16 ch, pool, fc 400-120-84-10"),
    "textcnn": ("scratchcnn.models.textcnn:TextCNN",
                "TextCNN (Kim 2014) on token ids: windows 3/4/5 x 100 maps, ReLU, max-over-time, dropout 0.5"),
    "charcnn": ("scratchcnn.models.charcnn:CharCNN",
                "CharCNN (Zhang et al. 2015): 6 conv layers (7,7,3,3,3,3) with max-pool 3, fc 1024-1024"),
    "ensemble": ("scratchcnn.models.ensemble:Ensemble",
                 "ensemble of K models of one architecture; averages their softmax probabilities"),
}


def register(name: str, builder: str | Callable[..., Any], description: str = "") -> None:
    """Add a model: ``builder(num_classes=..., **cfg)`` returns an ``nn.Module``."""
    if not name or not isinstance(name, str):
        raise ValueError(f"register: model name must be a non-empty string, got {name!r}")
    _REGISTRY[name] = (builder, description)


def list_models() -> list[str]:
    """Names of the registered models, sorted."""
    return sorted(_REGISTRY)


def describe(name: str) -> str:
    """One-line description of a registered model."""
    return _lookup(name)[1]


def _lookup(name: str) -> tuple[str | Callable[..., Any], str]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(list_models())}") from None


def _resolve(builder: str | Callable[..., Any]) -> Callable[..., Any]:
    if callable(builder):
        return builder
    mod, _, attr = builder.partition(":")
    return getattr(importlib.import_module(mod), attr)


def get(name: str, num_classes: int = 10, **cfg: Any):
    """Build the model registered as ``name``.

    Args:
        name: one of ``list_models()``.
        num_classes: size of the output layer.
        **cfg: model-specific options (e.g. ``in_channels``, ``input_size``; ``activation`` for lenet5).
    """
    builder = _resolve(_lookup(name)[0])
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"model {name}: num_classes must be a positive integer, got {num_classes!r}")
    try:
        model = builder(num_classes=num_classes, **cfg)
    except TypeError as exc:
        raise ValueError(f"model {name}: bad configuration {cfg}: {exc}") from None
    object.__setattr__(model, "model_name", name)
    object.__setattr__(model, "model_config", {"num_classes": num_classes, **cfg})
    return model
