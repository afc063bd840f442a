"""Keras-style model summary: one row per leaf layer call with output shape, parameters and FLOPs.

The summary runs one dummy sample (batch of 1) through the model in eval mode under ``no_grad`` and records
every leaf module's output with a temporary forward hook, so it follows the real call order (a layer called twice
appears twice, its parameters counted once). Image models get a float image of zeros (C, H, W); text models
(an ``nn.Embedding`` named ``embedding`` and a ``min_length``, e.g. TextCNN, CharCNN) get one text of L int64
token ids, all id 1 (a real token, not padding), L = the model's ``fixed_length`` if it has one, else
``DEFAULT_TEXT_LENGTH``.

FLOPs convention: only convolutions and linear layers are counted, as ``FLOPs = 2 x MACs`` (one multiply and
one add per multiply-accumulate, bias ignored), per sample. Activations, pooling and normalisation count 0.
Parameter totals count ``Parameter`` objects (trainable = ``requires_grad``); buffers such as BatchNorm running
statistics are reported separately as ``buffers``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

__all__ = ["ModelSummary", "summary", "is_text_model", "DEFAULT_TEXT_LENGTH"]

DEFAULT_TEXT_LENGTH = 64


@dataclass
class ModelSummary:
    """Rows (dicts: name, type, output_shape, params, macs, flops) and totals; ``str()`` gives the table."""

    model_name: str
    input_shape: tuple[int, ...]
    input_dtype: str = "float32"
    rows: list[dict] = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    non_trainable_params: int = 0
    buffers: int = 0
    total_macs: int = 0
    total_flops: int = 0

    def to_dict(self) -> dict:
        """JSON-ready dict (shapes as lists, batch dimension as ``null``)."""
        return {
            "model": self.model_name,
            "input_shape": [None, *self.input_shape],
            "input_dtype": self.input_dtype,
            "layers": [dict(r, output_shape=[None, *r["output_shape"]]) for r in self.rows],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "buffers": self.buffers,
            "total_macs": self.total_macs,
            "total_flops": self.total_flops,
            "flops_convention": "FLOPs = 2 x multiply-accumulates of conv/linear layers, per sample",
        }

    def __str__(self) -> str:
        head = ("Layer (type)", "Output Shape", "Param #", "FLOPs")
        body = [(f"{r['name']} ({r['type']})", str((None, *r["output_shape"])), f"{r['params']:,}",
                 f"{r['flops']:,}") for r in self.rows]
        widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
        line = "  ".join(f"{{:<{w}}}" if i < 2 else f"{{:>{w}}}" for i, w in enumerate(widths))
        rule = "=" * (sum(widths) + 2 * (len(widths) - 1))
        ids = " token ids" if np.dtype(self.input_dtype).kind in "iu" else ""
        out = [f'Model: "{self.model_name}"   input: {(None, *self.input_shape)} {self.input_dtype}{ids}', rule,
               line.format(*head), rule.replace("=", "-")]
        out += [line.format(*b) for b in body]
        out += [rule,
                f"Total params: {self.total_params:,}",
                f"Trainable params: {self.trainable_params:,}",
                f"Non-trainable params: {self.non_trainable_params:,}",
                f"Buffers (e.g. BatchNorm running stats): {self.buffers:,}",
                f"FLOPs per sample: {self.total_flops:,} (= 2 x {self.total_macs:,} MACs, conv/linear only)",
                rule.replace("=", "-")]
        return "\n".join(out)


def _leaves(model) -> list[tuple[str, Any]]:
    """(dotted name, module) of every module without children (the model itself if it has none)."""
    out = [(name, mod) for name, mod in model.named_modules() if not list(mod.named_children())]
    return [(name or type(mod).__name__.lower(), mod) for name, mod in out]


def _macs(mod, out_shape: tuple[int, ...]) -> int:
    weight = getattr(mod, "weight", None)
    kind = type(mod).__name__
    if weight is None or not ("Conv" in kind or kind == "Linear"):
        return 0
    w = np.asarray(weight.data)
    if w.ndim < 2:
        return 0
    per_output = int(np.prod(w.shape[1:]))
    return int(np.prod(out_shape)) * per_output


def _own_params(mod) -> tuple[int, int]:
    trainable = non_trainable = 0
    for p in mod.parameters(recurse=False):
        if p.requires_grad:
            trainable += p.data.size
        else:
            non_trainable += p.data.size
    return trainable, non_trainable


def is_text_model(model) -> bool:
    """Whether ``model`` reads int64 token ids (N, L): an ``nn.Embedding`` named ``embedding`` and a
    ``min_length`` (TextCNN, CharCNN), rather than images (N, C, H, W)."""
    from ..nn import Embedding
    return isinstance(getattr(model, "embedding", None), Embedding) and getattr(model, "min_length", None) is not None


def _dummy_input(model, input_shape: Sequence[int] | None) -> np.ndarray:
    """One sample (batch of 1): token ids (1, L) for a text model, else a float image of zeros (1, C, H, W)."""
    name = getattr(model, "model_name", type(model).__name__)
    if is_text_model(model):
        if input_shape is None:
            input_shape = (int(getattr(model, "fixed_length", None) or max(DEFAULT_TEXT_LENGTH, model.min_length)),)
        shape = tuple(int(s) for s in input_shape)
        if len(shape) != 1 or shape[0] < 1:
            raise ValueError(f"summary: {name} reads token ids, so input_shape must be (L,) with L >= 1, "
                             f"got {tuple(input_shape)}")
        return np.ones((1, *shape), dtype=np.int64)
    if input_shape is None:
        cfg = getattr(model, "model_config", {}) or {}
        side = int(cfg.get("input_size", 28))
        input_shape = (int(cfg.get("in_channels", 1)), side, side)
    shape = tuple(int(s) for s in input_shape)
    if not shape or min(shape) < 1:
        raise ValueError(f"summary: input_shape must be positive sizes (C, H, W), got {tuple(input_shape)}")
    params = list(model.parameters())
    return np.zeros((1, *shape), dtype=params[0].data.dtype if params else np.float32)


def summary(model, input_shape: Sequence[int] | None = None) -> ModelSummary:
    """Summarise ``model`` for one sample of ``input_shape``: (C, H, W) for an image model (default: from
    ``model_config``, else (1, 28, 28)); (L,) token ids for a text model (default: its ``fixed_length``, else
    ``DEFAULT_TEXT_LENGTH``)."""
    from .. import no_grad
    from ..tensor import Tensor

    x = _dummy_input(model, input_shape)
    input_shape = tuple(x.shape[1:])
    rows: list[dict] = []
    counted: set[int] = set()
    leaves = _leaves(model)

    def record(name, mod, out):
        shape = tuple(out.shape[1:]) if hasattr(out, "shape") else ()
        if id(mod) in counted:
            params = 0
        else:
            counted.add(id(mod))
            tr, ntr = _own_params(mod)
            params = tr + ntr
        macs = _macs(mod, shape)
        rows.append({"name": name, "type": type(mod).__name__, "output_shape": list(shape), "params": params,
                     "macs": macs, "flops": 2 * macs})

    handles = [mod.register_forward_hook(lambda m, i, o, _n=name: record(_n, m, o)) for name, mod in leaves]
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        with no_grad():
            model(Tensor(x))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    trainable = sum(p.data.size for p in model.parameters() if p.requires_grad)
    non_trainable = sum(p.data.size for p in model.parameters() if not p.requires_grad)
    buffers = sum(b.data.size for b in model.buffers() if b.data.dtype.kind == "f")
    macs = sum(r["macs"] for r in rows)
    return ModelSummary(model_name=getattr(model, "model_name", type(model).__name__), input_shape=input_shape,
                        input_dtype=str(x.dtype),
                        rows=rows, total_params=int(trainable + non_trainable), trainable_params=int(trainable),
                        non_trainable_params=int(non_trainable), buffers=int(buffers), total_macs=int(macs),
                        total_flops=int(2 * macs))
