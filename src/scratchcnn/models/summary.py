"""Keras-style model summary: one row per layer call with output shape, parameters and FLOPs.

The summary runs one dummy sample (batch of 1) through the model in eval mode under ``no_grad`` and records
every layer call with temporary forward hooks, so it follows the real call order (a layer called twice appears
twice, its parameters counted once). Image models get a float image of zeros (C, H, W); text models
(an ``nn.Embedding`` named ``embedding`` and a ``min_length``, e.g. TextCNN, CharCNN) get one text of L int64
token ids, all id 1 (a real token, not padding), L = the model's ``fixed_length`` if it has one, else
``DEFAULT_TEXT_LENGTH``.

Rows: every module without children, plus every module that holds parameters or buffers of its own besides
children (a LoRA layer: the frozen base weight it runs, with its ``lora_A``/``lora_B`` rows under it). A row
opens when its module is called, so modules that run inside another row's call are listed right after it with
``parent`` set to it and indented in the table: a LoRA layer's branch, and the adapters, parallel adapters and
inserted residual blocks of ``scratchcnn.finetune`` (registered under ``inserted``/``parallel`` and run by a
forward hook of their host layer). Parameters that no call reached (a merged LoRA layer's branch, an unused
layer) get a row with ``output_shape`` ``None``, so the rows always add up to the totals.

FLOPs convention: only convolutions (``Conv1d``/``Conv2d``, N-d alike), transposed convolutions and linear
layers are counted, as ``FLOPs = 2 x MACs`` (one multiply and one add per multiply-accumulate; bias ignored),
per sample:

- Conv / Linear: output elements x (in_channels / groups) x prod(kernel)  (Linear: output elements x in_features);
- ConvTranspose: in_channels x (out_channels / groups) x prod(kernel) x input positions (every input value
  is multiplied by every weight of its group; the positions cropped by ``padding`` are still computed);
- a LoRA layer: its base layer's MACs; its branch's convs/linears are rows of their own (none after
  ``merge``, when the branch no longer runs);
- everything else counts 0: activations (PReLU included), pooling, normalisation, upsampling, dropout,
  embedding look-ups, element-wise additions of residual blocks.

The total is the sum of the rows. Parameter totals count ``Parameter`` objects (trainable = ``requires_grad``);
floating-point buffers such as BatchNorm / InstanceNorm running statistics are reported separately as
``buffers`` (integer counters such as ``num_batches_tracked`` are not counted).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

__all__ = ["ModelSummary", "summary", "is_text_model", "DEFAULT_TEXT_LENGTH", "FLOPS_CONVENTION",
           "MAX_INPUT_VALUES"]

DEFAULT_TEXT_LENGTH = 64

MAX_INPUT_VALUES = 2 ** 22
"""The largest sample (values in ``input_shape``, e.g. 1x2048x2048) a summary traces: the layers' outputs are
many times larger (seed001 needs ~4 GB for a 2048x2048 image), and shapes and FLOPs scale plainly beyond it."""

FLOPS_CONVENTION = "FLOPs = 2 x multiply-accumulates of conv/linear layers, per sample"


@dataclass
class ModelSummary:
    """Rows and totals; ``str()`` gives the table.

    Each row is a dict: ``name``, ``type``, ``output_shape`` (list without the batch dimension; ``None`` for a
    module that did not run), ``params`` (this row's parameters, each counted once over the table),
    ``trainable_params``, ``buffers`` (floating-point buffer elements), ``macs``, ``flops`` and ``parent``
    (the name of the row whose call ran this one, e.g. a LoRA layer or an adapter's host, else ``None``).
    """

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
        """JSON-ready dict (shapes as lists, batch dimension as ``null``; a layer that did not run: ``null``)."""
        return {
            "model": self.model_name,
            "input_shape": [None, *self.input_shape],
            "input_dtype": self.input_dtype,
            "layers": [dict(r, output_shape=None if r["output_shape"] is None else [None, *r["output_shape"]])
                       for r in self.rows],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "buffers": self.buffers,
            "total_macs": self.total_macs,
            "total_flops": self.total_flops,
            "flops_convention": FLOPS_CONVENTION,
        }

    def __str__(self) -> str:
        frozen = any(r["params"] != r["trainable_params"] for r in self.rows)
        head = ("Layer (type)", "Output Shape", "Param #") + (("Frozen #",) if frozen else ()) + ("FLOPs",)
        depth: dict[str, int] = {}
        body = []
        for r in self.rows:
            d = depth[r["name"]] = depth.get(r["parent"], -1) + 1 if r["parent"] is not None else 0
            shape = "(not run)" if r["output_shape"] is None else str((None, *r["output_shape"]))
            cells = (f"{'  ' * d}{r['name']} ({r['type']})", shape, f"{r['params']:,}")
            cells += (f"{r['params'] - r['trainable_params']:,}",) if frozen else ()
            body.append(cells + (f"{r['flops']:,}",))
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


def _own_tensors(mod) -> bool:
    return any(True for _ in mod.parameters(recurse=False)) or any(True for _ in mod.buffers(recurse=False))


def _row_modules(model) -> list[tuple[str, Any]]:
    """(dotted name, module) of every module that gets a row: those without children (the model itself if it
    has none; blocks a hook runs, registered on the layer itself as ``inserted``/``parallel`` in a Sequential
    model, do not count) and those holding parameters or buffers of their own (a LoRA layer's base weight)."""
    from ..finetune.adapter import INSERT_KEY, PARALLEL_KEY
    hooked = {INSERT_KEY, PARALLEL_KEY}
    out = [(name, mod) for name, mod in model.named_modules()
           if not [c for c, _ in mod.named_children() if c not in hooked] or _own_tensors(mod)]
    return [(name or type(mod).__name__.lower(), mod) for name, mod in out]


def _macs(mod, inputs: tuple, out_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one call of ``mod`` on one sample (see the module docstring)."""
    from ..finetune.lora import LoRALayer
    from ..nn.conv import _ConvNd
    from ..nn.conv_transpose import _ConvTransposeNd
    from ..nn.linear import Linear
    if isinstance(mod, LoRALayer):       # runs its (unregistered) base layer; its branch has rows of its own
        mod = mod.base_layer
    weight = getattr(mod, "weight", None)
    if weight is None:
        return 0
    w = np.shape(weight.data)
    if isinstance(mod, _ConvTransposeNd):
        x = inputs[0] if inputs else None
        spatial = tuple(np.shape(x))[-(len(w) - 2):] if x is not None else ()
        return int(np.prod(w)) * int(np.prod(spatial))   # in x out/groups x kernel x input positions
    if isinstance(mod, (_ConvNd, Linear)):
        return int(np.prod(out_shape)) * int(np.prod(w[1:]))
    return 0


def is_text_model(model) -> bool:
    """Whether ``model`` reads int64 token ids (N, L): an ``nn.Embedding`` named ``embedding`` and a
    ``min_length`` (TextCNN, CharCNN), or an ensemble of such models (``members``), rather than images
    (N, C, H, W)."""
    from ..nn import Embedding
    if getattr(model, "min_length", None) is None:
        return False
    if isinstance(getattr(model, "embedding", None), Embedding):
        return True
    members = getattr(model, "members", None)
    return members is not None and len(members) > 0 and all(is_text_model(m) for m in members)


def _check_size(shape: tuple[int, ...], example: str) -> None:
    """ValueError when one sample of ``shape`` has more than ``MAX_INPUT_VALUES`` values (before allocating)."""
    values = math.prod(shape)
    if values > MAX_INPUT_VALUES:
        raise ValueError(f"summary: an input of shape {shape} has {values:,} values, but one traced sample may have "
                         f"at most {MAX_INPUT_VALUES:,}; give a smaller input_shape (--input-shape), e.g. {example}")


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
        _check_size(shape, str(DEFAULT_TEXT_LENGTH))
        return np.ones((1, *shape), dtype=np.int64)
    if input_shape is None:
        cfg = getattr(model, "model_config", {}) or {}
        side = int(cfg.get("input_size", 28))
        input_shape = (int(cfg.get("in_channels", 1)), side, side)
    shape = tuple(int(s) for s in input_shape)
    if not shape or min(shape) < 1:
        raise ValueError(f"summary: input_shape must be positive sizes (C, H, W), got {tuple(input_shape)}")
    _check_size(shape, ",".join(str(n) for n in (shape[0], 28, 28)[:len(shape)]))
    params = list(model.parameters())
    return np.zeros((1, *shape), dtype=params[0].data.dtype if params else np.float32)


def summary(model, input_shape: Sequence[int] | None = None) -> ModelSummary:
    """Summarise ``model`` for one sample of ``input_shape``: (C, H, W) for an image model (default: from
    ``model_config``, else (1, 28, 28)); (L,) token ids for a text model (default: its ``fixed_length``, else
    ``DEFAULT_TEXT_LENGTH``). Raises ``ValueError`` (naming the input shape) when the model cannot run on it."""
    from ..nn.utils import forward_with_hooks
    from ..tensor import Tensor

    x = _dummy_input(model, input_shape)
    input_shape = tuple(x.shape[1:])
    name_of_model = getattr(model, "model_name", type(model).__name__)
    rows: list[dict] = []
    seen: set[int] = set()          # ids of the parameters and buffers already given to a row
    stack: list[tuple[Any, dict]] = []   # rows whose module call is still running (for ``parent``)

    def take(mod) -> tuple[int, int, int]:
        """(params, trainable, buffers) of ``mod``'s own tensors not yet counted by an earlier row."""
        params = trainable = buffers = 0
        for p in mod.parameters(recurse=False):
            if id(p) not in seen:
                seen.add(id(p))
                params += p.data.size
                trainable += p.data.size if p.requires_grad else 0
        for b in mod.buffers(recurse=False):
            if id(b) not in seen and b.data.dtype.kind == "f":
                seen.add(id(b))
                buffers += b.data.size
        return params, trainable, buffers

    def new_row(name, mod, shape) -> dict:
        params, trainable, buffers = take(mod)
        return {"name": name, "type": type(mod).__name__, "output_shape": shape, "params": params,
                "trainable_params": trainable, "buffers": buffers, "macs": 0, "flops": 0, "parent": None}

    def opened(name, mod, inputs):
        row = new_row(name, mod, [])
        row["parent"] = stack[-1][1]["name"] if stack else None
        rows.append(row)                 # placed at the call's start: rows run inside it follow it
        stack.append((mod, row))

    def closed(mod, inputs, out):
        while stack and stack[-1][0] is not mod:   # (a call that left without its hook: cannot happen normally)
            stack.pop()
        if not stack:
            return
        _, row = stack.pop()
        shape = tuple(out.shape[1:]) if hasattr(out, "shape") else ()
        macs = _macs(mod, inputs, shape)
        row.update(output_shape=list(shape), macs=macs, flops=2 * macs)

    row_modules = _row_modules(model)
    try:
        forward_with_hooks(model, Tensor(x), hooks=[(mod, closed) for _, mod in row_modules],
                           pre_hooks=[(mod, lambda m, i, _n=name: opened(_n, m, i)) for name, mod in row_modules])
    except (ValueError, TypeError, IndexError, RuntimeError) as exc:
        raise ValueError(f"summary: {name_of_model} cannot run on one sample of shape {input_shape}: {exc}") from exc
    except MemoryError:     # the layers' outputs, not the input, did not fit
        raise ValueError(f"summary: not enough memory to run {name_of_model} on one sample of shape {input_shape}; "
                         "give a smaller input_shape (--input-shape)") from None

    for name, mod in row_modules:   # tensors no call reached (a merged LoRA branch, an unused layer)
        row = new_row(name, mod, None)
        if row["params"] or row["buffers"]:
            rows.append(row)

    params = list(model.parameters())
    trainable = sum(p.data.size for p in params if p.requires_grad)
    non_trainable = sum(p.data.size for p in params if not p.requires_grad)
    buffers = sum(b.data.size for b in model.buffers() if b.data.dtype.kind == "f")
    macs = sum(r["macs"] for r in rows)
    return ModelSummary(model_name=name_of_model, input_shape=input_shape, input_dtype=str(x.dtype),
                        rows=rows, total_params=int(trainable + non_trainable), trainable_params=int(trainable),
                        non_trainable_params=int(non_trainable), buffers=int(buffers), total_macs=int(macs),
                        total_flops=int(2 * macs))
