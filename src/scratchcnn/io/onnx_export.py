"""Export a scratchcnn model to ONNX: ``export_onnx(model, "model.onnx")``.

How it works: the model runs one zero batch of ``input_shape`` in eval mode under ``no_grad`` with temporary
forward hooks on its layers (as ``models.summary`` and ``finetune.structure.trace`` do), which records every
layer call with the tensor it got and the tensor it returned. The export needs those tensors (not only the call
order those tracers keep), because it checks that the calls form a chain: the first layer reads the model's
input, every layer reads the previous layer's output, and the model returns the last one. That holds for
``nn.Sequential`` and for the built-in image models (seed000, seed001, lenet5: the hooks make
``nn.fused.conv_relu_max_pool`` run its plain ``pool(relu(conv(x)))`` path, which computes the same values),
and it fails with a ``ValueError`` for a forward that computes anything between its layers (a residual add, a
``view``), which this exporter cannot see. Each recorded layer then becomes ONNX nodes, its tensors
initializers named like its ``state_dict`` keys.

Supported layers: Conv1d/Conv2d/Conv3d (stride, padding incl. "same", dilation, groups, bias, every ``padding_mode``
('circular' needs opset >= 19), ``mode="convolution"`` as the correlation with the flipped kernel), LoRA layers
(exported merged), Linear, ReLU, LeakyReLU, Sigmoid, Tanh, GELU, Softmax, LogSoftmax, ELU, SELU, CELU, SiLU,
Mish (the Mish op from opset 18, else x tanh(softplus x)), Softplus (any beta/threshold), Hardtanh/ReLU6 (Clip),
Hardsigmoid, Hardswish (x hardsigmoid(x) before opset 14), Softsign, LogSigmoid, PReLU, MaxPool1d/2d/3d (not
``return_indices``), AvgPool1d/2d/3d (not ``divisor_override``), AdaptiveAvgPool1d/2d/3d (global, or input sizes
divisible by the output sizes), BatchNorm1d/2d/3d (running statistics), Dropout* and Identity (dropped), Flatten,
Unflatten (Reshape; not of the batch axis with ``dynamic_batch``),
ConvTranspose1d/2d (ConvTranspose, output_padding as traced), Upsample (Resize: nearest 'asymmetric' + 'floor',
linear 'half_pixel' or 'align_corners'; a fractional scale_factor whose 1/scale_factor coordinates ONNX cannot
reproduce is refused).
Normalisation beyond BatchNorm: LayerNorm (LayerNormalization from opset 17, else basic ops), GroupNorm
(Reshape + InstanceNormalization + per-channel affine), InstanceNorm1d/2d/3d (InstanceNormalization, or
BatchNormalization when it tracks running statistics), LocalResponseNorm (LRN; even sizes and
(N, C, L) inputs, which onnxruntime's LRN refuses, as AveragePool over the channel axis).

Values are exported as float32 (what every ONNX runtime runs); the ONNX model's input is ``"input"``
(N, C, H, W), (N, C, L) or (N, C, D, H, W), its output ``"logits"``, the batch axis symbolic (``"batch"``) unless
``dynamic_batch=False``. The ``onnx`` package is imported here only (``pip install 'scratchcnn[onnx]'``).

Its parts: ``onnx_trace`` (the hook trace and chain check), ``onnx_graph`` (the graph under construction),
``onnx_layers`` / ``onnx_activations`` / ``onnx_norms`` (the per-layer node emitters); this module checks the
arguments, builds and checks the ``ModelProto``, writes it atomically, and exports checkpoints with metadata.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .onnx_graph import INPUT_NAME, OUTPUT_NAME, _Graph
from .onnx_layers import _handlers
from .onnx_trace import _Call, _model_name, _trace, _unsupported

__all__ = ["export_onnx", "export_checkpoint", "checkpoint_metadata", "onnx_signature", "MIN_OPSET"]

MIN_OPSET = 13  # Softmax/LogSoftmax over one axis (opset 13 semantics), Pad with its pads as an input


# ---------------------------------------------------------------------------------------------- the export
def _import_onnx() -> Any:
    try:
        import onnx
        import onnx.checker  # noqa: F401
        import onnx.helper  # noqa: F401
        import onnx.numpy_helper  # noqa: F401
    except ImportError:
        raise ImportError("export_onnx needs the 'onnx' package: pip install 'scratchcnn[onnx]'") from None
    return onnx


def _shape_of(shape: Sequence[int], dynamic_batch: bool) -> list[Any]:
    return ["batch" if dynamic_batch else int(shape[0]), *(int(s) for s in shape[1:])]


def _build(onnx: Any, model: Any, calls: list[_Call], handled: Mapping[type, Any], opset: int,
           dynamic_batch: bool, metadata: Mapping[str, str] | None) -> Any:
    """The checked ``onnx.ModelProto`` for the traced ``calls``."""
    helper = onnx.helper
    g = _Graph(onnx, opset, dynamic_batch)
    name = INPUT_NAME
    for c in calls:
        handler = handled.get(type(c.module))
        if handler is None:
            raise _unsupported(c, "no ONNX export for this layer type; supported: "
                                  + ", ".join(sorted({t.__name__ for t in handled})))
        name = handler(g, c, name)
    if name == INPUT_NAME or not g.nodes or g.nodes[-1].output[0] != name:
        g.nodes.append(helper.make_node("Identity", [name], [OUTPUT_NAME], name=OUTPUT_NAME))
    else:
        g.nodes[-1].output[0] = OUTPUT_NAME
    f32 = onnx.TensorProto.FLOAT
    graph = helper.make_graph(
        g.nodes, _model_name(model),
        [helper.make_tensor_value_info(INPUT_NAME, f32, _shape_of(calls[0].x.shape, dynamic_batch))],
        [helper.make_tensor_value_info(OUTPUT_NAME, f32, _shape_of(calls[-1].y.shape, dynamic_batch))],
        initializer=g.inits)
    opsets = [helper.make_opsetid("", opset)]
    from .. import __version__
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="scratchcnn",
                              producer_version=str(__version__),
                              doc_string=f"{_model_name(model)} exported by scratchcnn.io.export_onnx")
    proto.ir_version = helper.find_min_ir_version_for(opsets)  # the oldest IR the opset allows: older runtimes
    if metadata:
        helper.set_model_props(proto, {str(k): str(v) for k, v in metadata.items()})
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model: Any, path: str | os.PathLike, input_shape: Sequence[int] | None = None, opset: int = 17,
                dynamic_batch: bool = True, metadata: Mapping[str, str] | None = None) -> Path:
    """Export ``model`` (in eval mode: dropout off, BatchNorm's running statistics) to the ONNX file ``path``.

    Args:
        model: a scratchcnn image model whose forward is a chain of supported layers (see the module doc).
        path: the ``.onnx`` file; written atomically (temp file in the same folder, then ``os.replace``) and only
            after ``onnx.checker.check_model`` accepted the model: a failed export leaves nothing behind.
        input_shape: one input batch's shape (N, C, H, W), (N, C, L) or (N, C, D, H, W); default (1, C, H, W)
            from the model's ``model_config`` (``in_channels``, ``input_size``), else (1, 1, 28, 28).
        opset: the ONNX opset, ``MIN_OPSET`` (13) up to the newest the installed ``onnx`` knows.
        dynamic_batch: the batch axis of ``"input"`` and ``"logits"`` is symbolic (``"batch"``); else fixed N.
        metadata: strings stored in the model's ``metadata_props`` (e.g. normalisation, class names).
    Returns:
        ``path`` as a ``Path``.
    Raises:
        ValueError: an unsupported layer (named with its type), a forward that is not a chain of layers, a
            bad opset or shape. ImportError: ``onnx`` is not installed.
    """
    onnx = _import_onnx()
    newest = int(onnx.defs.onnx_opset_version())
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"export_onnx: opset must be an integer from {MIN_OPSET} to {newest}, got {opset!r}")
    from ..models.summary import is_text_model
    if is_text_model(model):
        raise ValueError(f"export_onnx: {_model_name(model)} reads token ids; only image models can be exported")
    shape = _input_shape(model, input_shape)
    handled = _handlers()
    calls = _trace(model, shape, handled)
    proto = _build(onnx, model, calls, handled, opset, dynamic_batch, metadata)
    from .atomic import atomic_write_bytes
    return atomic_write_bytes(path, proto.SerializeToString())


def _input_shape(model: Any, input_shape: Sequence[int] | None) -> tuple[int, ...]:
    """(N, C, *spatial) to trace with, validated; the default from ``model_config`` (batch 1)."""
    if input_shape is None:
        from ..finetune.structure import input_shape_of
        return (1, *input_shape_of(model))
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise ValueError(f"export_onnx: input_shape must be sizes (N, C, H, W), (N, C, L) or (N, C, D, H, W), "
                         f"got {input_shape!r}") from None
    if len(shape) not in (3, 4, 5) or min(shape) < 1:
        raise ValueError(f"export_onnx: input_shape must be positive sizes (N, C, H, W), (N, C, L) or "
                         f"(N, C, D, H, W), got {tuple(input_shape)}")
    return shape


# ---------------------------------------------------------------------------------------------- checkpoints
PREPROCESSING = ("input float32 (N, C, H, W), pixels scaled to [0, 1], then x = (x - mean) / std per channel "
                 "(normalization); argmax of logits indexes class_names")


def checkpoint_metadata(meta: Mapping[str, Any], source: str | os.PathLike) -> dict[str, str]:
    """``metadata_props`` for a checkpoint's ONNX file: how to preprocess (``normalization`` as JSON
    ``{"mean": [...], "std": [...]}``, ``preprocessing`` in words), ``class_names`` (JSON list), ``model``,
    ``dataset``, ``input_shape`` (JSON (C, H, W)) and the ``source_checkpoint`` folder."""
    cfg = (meta.get("model") or {}).get("config") or {}
    names = meta.get("class_names") or [str(i) for i in range(int(cfg.get("num_classes", 10)))]
    norm = meta.get("normalization") or {}
    props = {
        "model": str((meta.get("model") or {}).get("name", "")),
        "class_names": json.dumps(list(names)),
        "normalization": json.dumps({"mean": norm.get("mean", [0.0]), "std": norm.get("std", [1.0])}),
        "preprocessing": PREPROCESSING,
        "source_checkpoint": str(Path(source).resolve()),
    }
    if meta.get("dataset") is not None:
        props["dataset"] = str(meta["dataset"])
    if meta.get("input_shape"):
        props["input_shape"] = json.dumps([int(v) for v in meta["input_shape"]])
    return props


def export_checkpoint(checkpoint: str | os.PathLike, out: str | os.PathLike, opset: int = 17,
                      dynamic_batch: bool = True) -> dict[str, Any]:
    """Export the model in a checkpoint folder (a run folder's ``best/``, a fine-tuning run's ``merged/`` or
    ``adapter/`` also found from the run folder; LoRA exported merged) to the ONNX file ``out``, with the
    checkpoint's normalisation and class names in ``metadata_props`` (see ``checkpoint_metadata``).

    Returns ``{"out", "opset", "inputs", "outputs", "bytes", "metadata"}``; inputs/outputs are lists of
    ``{"name", "shape", "dtype"}`` with ``"batch"`` for the symbolic batch axis.
    """
    from ..finetune.checkpoint import load_any, resolve_dir
    from ..finetune.structure import input_shape_of
    from ..text.run import find_text_checkpoint
    if find_text_checkpoint(checkpoint) is not None:
        raise ValueError(f"export: checkpoint {checkpoint} holds a text classifier (token ids); only image models "
                         "can be exported to ONNX")
    folder = resolve_dir(checkpoint)
    model, meta = load_any(folder)
    shape = (1, *input_shape_of(model, meta))
    props = checkpoint_metadata(meta, folder)
    path = export_onnx(model, out, input_shape=shape, opset=opset, dynamic_batch=dynamic_batch, metadata=props)

    inputs, outputs = onnx_signature(path)
    return {"out": str(path), "opset": int(opset), "inputs": inputs, "outputs": outputs,
            "bytes": path.stat().st_size, "metadata": props}


def onnx_signature(path: str | os.PathLike) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(inputs, outputs) of an ONNX file as read back from it: ``{"name", "shape", "dtype"}`` each, a symbolic
    axis given by its name (e.g. ``"batch"``)."""
    onnx = _import_onnx()
    graph = onnx.load(os.fspath(path), load_external_data=False).graph

    def info(v: Any) -> dict[str, Any]:
        t = v.type.tensor_type
        dims = [d.dim_param if d.dim_param else int(d.dim_value) for d in t.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)
        return {"name": v.name, "shape": dims, "dtype": str(np.dtype(dtype))}

    return [info(v) for v in graph.input], [info(v) for v in graph.output]
