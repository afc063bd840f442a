"""Receptive fields of a CNN, layer by layer, with the textbook recurrences written out in numbers.

Per spatial axis, a convolution or pooling layer with kernel k, stride s, padding p (zeros before the first
position) and dilation d turns the field of its input into the field of its output (Dumoulin & Visin 2016;
Araujo, Norris & Sim 2019, "Computing receptive fields of convolutional neural networks"):

    j_out = j_in * s                                       jump: input pixels between neighbouring outputs
    r_out = r_in + (k - 1) * d * j_in                      size of the field, in input pixels
    start_out = start_in + ((k - 1) * d / 2 - p) * j_in    centre of the first output's field

starting from the input itself (r = 1, j = 1, start = 0: pixel i sits at coordinate i). Output i of a layer
then sees the input pixels ``start + i*j - (r - 1)/2 .. start + i*j + (r - 1)/2``. The layers come from one
forward pass of a zero sample with forward hooks (:func:`scratchcnn.nn.utils.forward_with_hooks`, on the layers
``models.summary`` lists), so they appear in the order the model really calls them.

    >>> from scratchcnn.viz.explain_receptive import explain_receptive_field
    >>> r = explain_receptive_field("seed001")
    >>> r.r, r.j, r.start                     # after pool2, per axis (rows, columns)
    ((10, 10), (4, 4), (1.5, 1.5))
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .explain import _jsonnum
from .explain_text import fmt

__all__ = ["ReceptiveStep", "ReceptiveFieldExplanation", "explain_receptive_field", "RECURRENCES", "REFERENCES"]

RECURRENCES: dict[str, str] = {
    "j": "j_out = j_in * s",
    "r": "r_out = r_in + (k - 1) * d * j_in",
    "start": "start_out = start_in + ((k - 1) * d / 2 - p) * j_in",
}
REFERENCES: tuple[str, ...] = (
    "V. Dumoulin and F. Visin, A guide to convolution arithmetic for deep learning, arXiv:1603.07285 (2016)",
    "A. Araujo, W. Norris and J. Sim, Computing receptive fields of convolutional neural networks, Distill (2019), "
    "doi:10.23915/distill.00021",
)
_OP = "explain receptive-field"


@dataclass
class ReceptiveStep:
    """One convolution or pooling call: its settings and the field before and after it, one entry per spatial
    axis (``padding`` is the padding before the first position; ``padding_after`` the padding at the end)."""

    name: str
    type: str
    output_shape: tuple[int, ...]        # one sample's output, without the batch axis
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    padding_after: tuple[int, ...]
    dilation: tuple[int, ...]
    r_in: tuple[int, ...]
    j_in: tuple[int, ...]
    start_in: tuple[float, ...]
    r: tuple[int, ...]
    j: tuple[int, ...]
    start: tuple[float, ...]

    def equations(self, axis: int) -> dict[str, str]:
        """The three recurrences with this layer's numbers on one axis: ``{"j": "1 * 2 = 2", ...}``."""
        k, s, p, d = self.kernel[axis], self.stride[axis], self.padding[axis], self.dilation[axis]
        ri, ji, si = self.r_in[axis], self.j_in[axis], self.start_in[axis]
        return {"j": f"{ji} * {s} = {self.j[axis]}", "r": f"{ri} + ({k} - 1) * {d} * {ji} = {self.r[axis]}",
                "start": f"{fmt(si)} + (({k} - 1) * {d} / 2 - {p}) * {ji} = {fmt(self.start[axis])}"}

    def field_of_first(self) -> list[tuple[int, int]]:
        """Per axis, the input positions (first, last) the first output sees; outside the input: padding."""
        return [(int(round(c - (r - 1) / 2)), int(round(c + (r - 1) / 2))) for c, r in zip(self.start, self.r)]

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "output_shape": list(self.output_shape),
                "kernel": list(self.kernel), "stride": list(self.stride), "padding": list(self.padding),
                "padding_after": list(self.padding_after), "dilation": list(self.dilation),
                "r_in": list(self.r_in), "j_in": list(self.j_in), "start_in": [_jsonnum(v) for v in self.start_in],
                "r": list(self.r), "j": list(self.j), "start": [_jsonnum(v) for v in self.start],
                "field_of_first_output": [list(f) for f in self.field_of_first()],
                "equations": [self.equations(a) for a in range(len(self.r))]}


@dataclass
class ReceptiveFieldExplanation:
    """Everything ``explain receptive-field`` shows: the conv/pool ``steps`` in forward order and the final
    field ``r``, ``j``, ``start`` (per spatial axis; the input's when there is no step)."""

    model: str
    input_shape: tuple[int, ...]         # one sample: (C, H, W), or (L,) token ids for a text model
    spatial: tuple[int, ...]             # the input's spatial size, e.g. (28, 28)
    steps: list[ReceptiveStep]
    pointwise: list[str]                 # layers that act on each position alone (not listed as steps)
    whole_input_from: tuple[str, str] | None = None   # (name, type) of the first layer without spatial extent
    notes: list[str] = field(default_factory=list)

    @property
    def axes(self) -> tuple[str, ...]:
        return {1: ("positions",), 2: ("rows", "columns")}.get(len(self.spatial), tuple(
            f"axis {a}" for a in range(len(self.spatial))))

    @property
    def unit(self) -> str:
        return "pixels" if len(self.spatial) > 1 else "positions"

    def _last(self, attr: str, initial: Any) -> tuple:
        return getattr(self.steps[-1], attr) if self.steps else (initial,) * len(self.spatial)

    @property
    def r(self) -> tuple[int, ...]:
        return self._last("r", 1)

    @property
    def j(self) -> tuple[int, ...]:
        return self._last("j", 1)

    @property
    def start(self) -> tuple[float, ...]:
        return self._last("start", 0.0)

    def to_dict(self) -> dict:
        """JSON-ready: ``{"model", "input_shape", "axes", "recurrences", "layers", "r", "j", "start",
        "whole_input_from", "pointwise", "references", "notes", ...}``."""
        whole = self.whole_input_from
        return {"operation": "receptive_field", "model": self.model, "input_shape": list(self.input_shape),
                "spatial_size": list(self.spatial), "axes": list(self.axes), "unit": self.unit,
                "recurrences": dict(RECURRENCES), "input": {"r": [1] * len(self.spatial),
                                                            "j": [1] * len(self.spatial),
                                                            "start": [0] * len(self.spatial)},
                "layers": [s.to_dict() for s in self.steps], "r": list(self.r), "j": list(self.j),
                "start": [_jsonnum(v) for v in self.start], "pointwise": list(self.pointwise),
                "whole_input_from": None if whole is None else {"name": whole[0], "type": whole[1]},
                "references": list(REFERENCES), "notes": list(self.notes)}

    def to_text(self, max_steps: int | None = None) -> str:
        """The tables and the step-by-step recurrences (see ``viz.explain_receptive_text``; ``max_steps`` limits
        the layers worked out)."""
        from .explain_receptive_text import receptive_field_text
        return receptive_field_text(self, max_steps)


# ----------------------------------------------------------------------------------------------- the model
def _resolve(model: Any) -> tuple[Any, dict, str]:
    """``(module, meta, label)`` from a module, a registered model name or a checkpoint folder."""
    from .. import models
    from ..nn import Module
    from .modelio import resolve_model
    if isinstance(model, Module):
        return model, {}, getattr(model, "model_name", type(model).__name__)
    if isinstance(model, str) and model in models.list_models():
        try:
            return models.get(model), {}, model
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{_OP}: cannot build model {model!r} with its defaults: {exc}") from None
    if isinstance(model, (str, os.PathLike)) and Path(model).is_dir():
        return resolve_model(model)
    raise ValueError(f"{_OP}: {str(model)!r} is neither a built-in model ({', '.join(models.list_models())}) "
                     "nor a checkpoint folder")


def _layer_calls(model: Any, x: np.ndarray, label: str) -> list[tuple[str, Any, tuple, tuple]]:
    """``(name, module, input shape, output shape)`` of every layer call (the layers ``models.summary`` lists)
    that runs inside no other layer's call, in forward order; one sample, eval mode, no gradients."""
    from ..models.summary import _row_modules
    from ..nn.utils import forward_with_hooks
    from ..tensor import Tensor

    calls: list[tuple[str, Any, tuple, tuple]] = []
    running: list[tuple[str, tuple]] = []        # calls that have started and not yet returned

    def shape(v: Any) -> tuple:
        v = v[0] if isinstance(v, tuple) and v else v        # (values, indices) of return_indices pooling
        return tuple(int(n) for n in getattr(v, "shape", ()))

    def opened(name: str, inputs: tuple) -> None:
        running.append((name, shape(inputs[0]) if inputs else ()))

    def closed(mod: Any, inputs: tuple, out: Any) -> None:
        name, shape_in = running.pop()
        if not running:
            calls.append((name, mod, shape_in, shape(out)))

    rows = _row_modules(model)
    try:
        forward_with_hooks(model, Tensor(x), hooks=[(m, closed) for _, m in rows],
                           pre_hooks=[(m, lambda mod, i, _n=n: opened(_n, i)) for n, m in rows])
    except (ValueError, TypeError, IndexError, RuntimeError) as exc:
        raise ValueError(f"{_OP}: {label} cannot run on one sample of shape {tuple(x.shape[1:])}: "
                         f"{' '.join(str(exc).split())}") from None
    except MemoryError:     # the layers' outputs, not the input, did not fit
        raise ValueError(f"{_OP}: not enough memory to run {label} on one sample of shape {tuple(x.shape[1:])}; "
                         "give a smaller --input-shape") from None
    return calls


def _geometry(mod: Any, nd: int, size_in: tuple, size_out: tuple, name: str):
    """``(kernel, stride, pad_before, pad_after, dilation)`` per axis of a conv/pool layer; None for any other."""
    from ..functional._im2col import to_tuple
    from ..functional.conv import _resolve_padding
    from ..nn.conv import _ConvNd
    from ..nn.pooling import _AdaptiveAvgPoolNd, _AvgPoolNd, _MaxPoolNd
    from ..finetune.lora import LoRALayer
    if isinstance(mod, LoRALayer):      # runs its base layer (its low-rank branch adds to the same windows)
        mod = mod.base_layer
    what = f"{_OP}: layer {name} ({type(mod).__name__})"
    if isinstance(mod, _ConvNd):
        k, s, d = mod.kernel_size, mod.stride, mod.dilation
        pads = _resolve_padding(mod.padding, k, s, d, what)
        return k, s, tuple(lo for lo, _ in pads), tuple(hi for _, hi in pads), d
    if isinstance(mod, (_MaxPoolNd, _AvgPoolNd)):
        k = to_tuple(mod.kernel_size, nd, "kernel_size", what)
        s = to_tuple(mod.stride, nd, "stride", what)
        p = to_tuple(mod.padding, nd, "padding", what, minimum=0)
        d = to_tuple(getattr(mod, "dilation", 1), nd, "dilation", what)
        return k, s, p, p, d
    if isinstance(mod, _AdaptiveAvgPoolNd):
        bad = [(a, b) for a, b in zip(size_in, size_out) if a % b]
        if bad:
            raise ValueError(f"{what} pools {bad[0][0]} positions into {bad[0][1]}: windows of different sizes, "
                             "which no single kernel and stride describe; the recurrences need input sizes that "
                             "are multiples of the output size")
        k = tuple(a // b for a, b in zip(size_in, size_out))
        return k, k, (0,) * nd, (0,) * nd, (1,) * nd
    return None


def _ends_spatial(mod: Any, shape_out: tuple, nd: int) -> bool:
    """A layer after which positions no longer exist: Flatten, Linear, or an output without spatial axes."""
    from ..nn import Flatten, Linear
    return isinstance(mod, (Flatten, Linear)) or len(shape_out) < nd + 2


def _whole_map_norm(mod: Any) -> bool:
    from ..nn import GroupNorm, LayerNorm
    from ..nn.normalization import _InstanceNorm
    return isinstance(mod, (GroupNorm, LayerNorm, _InstanceNorm))


def _dims(shape: Sequence[int]) -> str:
    return "x".join(str(int(v)) for v in shape)


def explain_receptive_field(model: Any = "seed000", input_shape: Any = None) -> ReceptiveFieldExplanation:
    """Work out the receptive field after every convolution and pooling layer of ``model``.

    Args:
        model: a built-in model's name (``seed000``, ``seed001``, ``lenet5``, ``charcnn``, ...), a checkpoint
            folder, or a ``scratchcnn.nn.Module`` (e.g. an ``nn.Sequential`` of conv and pooling layers).
        input_shape: one sample's shape, (C, H, W) for an image model, (L,) for a text model; default: the
            checkpoint's, else the model's own (``model_config``), else (1, 28, 28).
    Returns:
        a :class:`ReceptiveFieldExplanation`; ``r``, ``j``, ``start`` per spatial axis after the last layer.
    Raises:
        ValueError: an unknown model, an input the model cannot take, no conv/pool layer, or a model that is not
            one chain of layers (parallel branches such as TextCNN's, upsampling).
    """
    from ..models.summary import _dummy_input, is_text_model

    net, meta, label = _resolve(model)
    if input_shape is None:
        input_shape = meta.get("input_shape") or None
    elif np.isscalar(input_shape):
        input_shape = (input_shape,)
    try:
        x = _dummy_input(net, input_shape)
    except ValueError as exc:
        raise ValueError(f"{_OP}: {str(exc).removeprefix('summary: ')}") from None
    text = is_text_model(net)
    spatial = tuple(int(n) for n in x.shape[1 if text else 2:])
    fixed = getattr(net, "fixed_length", None) if text else None
    if fixed and spatial != (fixed,):      # the model pads or cuts every text to its fixed length first
        spatial = (int(fixed),)
    nd = len(spatial)
    if nd == 0:
        raise ValueError(f"{_OP}: an input of shape {tuple(x.shape[1:])} has no spatial axes; give (C, H, W)")
    r, j, start = (1,) * nd, (1,) * nd, (0.0,) * nd
    size, before = spatial, "the input"
    res = ReceptiveFieldExplanation(label, tuple(int(n) for n in x.shape[1:]), spatial, [], [])
    for name, mod, shape_in, shape_out in _layer_calls(net, x, label):
        if _ends_spatial(mod, shape_out, nd):
            res.whole_input_from = (name, type(mod).__name__)
            break
        geo = _geometry(mod, nd, size, tuple(shape_out[-nd:]), name)
        if geo is None:
            if len(shape_in) == len(shape_out) == nd + 2 and shape_in[2:] != shape_out[2:]:
                raise ValueError(f"{_OP}: layer {name} ({type(mod).__name__}) changes the grid from "
                                 f"{_dims(shape_in[2:])} to {_dims(shape_out[2:])}; the recurrences cover layers "
                                 "that slide a window (convolution, pooling), not upsampling")
            res.pointwise.append(name)
            if _whole_map_norm(mod):
                res.notes.append(f"{name} ({type(mod).__name__}) normalises with statistics over whole maps, so "
                                 "strictly every output depends a little on every input; receptive fields count "
                                 "the windows only, as usual.")
            continue
        if len(shape_in) != nd + 2 or tuple(shape_in[2:]) != size:
            raise ValueError(f"{_OP}: layer {name} ({type(mod).__name__}) reads an input of spatial size "
                             f"{_dims(shape_in[2:])}, but {before} has {_dims(size)}: {label} is not one chain of "
                             "layers (parallel branches such as TextCNN's, or a resize outside a layer), which "
                             "these recurrences need")
        k, s, p, p_after, d = geo
        j_new = tuple(ji * si for ji, si in zip(j, s))
        r_new = tuple(ri + (ki - 1) * di * ji for ri, ki, di, ji in zip(r, k, d, j))
        start_new = tuple(st + ((ki - 1) * di / 2 - pi) * ji for st, ki, di, pi, ji in zip(start, k, d, p, j))
        res.steps.append(ReceptiveStep(name, type(mod).__name__, tuple(shape_out[1:]), tuple(k), tuple(s),
                                       tuple(p), tuple(p_after), tuple(d), r, j, start, r_new, j_new, start_new))
        r, j, start = r_new, j_new, start_new
        size, before = tuple(shape_out[2:]), f"the output of {name}"
    if fixed and tuple(x.shape[1:]) != spatial:
        res.notes.append(f"{label} pads or cuts every text to {fixed} tokens (its fixed length) before the first "
                         f"layer, so the fields are counted in those {fixed} positions.")
    if not res.steps:
        raise ValueError(f"{_OP}: {label} has no convolution or pooling layer before its outputs stop having "
                         "positions, so every output sees the whole input; there is no receptive field to work out")
    for st in res.steps:
        if st.padding_after != st.padding:
            res.notes.append(f"{st.name} pads {_dims(st.padding)} before and {_dims(st.padding_after)} after "
                             "(padding 'same' with an even kernel): only the padding before moves start.")
    if any(rv > n for rv, n in zip(r, spatial)):
        res.notes.append(f"The field ({_dims(r)}) is larger than the input ({_dims(spatial)}): part of every "
                         "output's field lies outside the input, in the zero padding.")
    return res
