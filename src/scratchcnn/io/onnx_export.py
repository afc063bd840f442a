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

Supported layers: Conv1d/Conv2d (stride, padding incl. "same", dilation, groups, bias, every ``padding_mode``
('circular' needs opset >= 19), ``mode="convolution"`` as the correlation with the flipped kernel), LoRA layers
(exported merged), Linear, ReLU, LeakyReLU, Sigmoid, Tanh, GELU, Softmax, LogSoftmax, ELU, SELU, CELU, SiLU,
Mish (the Mish op from opset 18, else x tanh(softplus x)), Softplus (any beta/threshold), Hardtanh/ReLU6 (Clip),
Hardsigmoid, Hardswish (x hardsigmoid(x) before opset 14), Softsign, LogSigmoid, PReLU, MaxPool1d/2d (not
``return_indices``), AvgPool1d/2d (not ``divisor_override``), AdaptiveAvgPool1d/2d (global, or input sizes
divisible by the output sizes), BatchNorm1d/2d (running statistics), Dropout* and Identity (dropped), Flatten,
ConvTranspose1d/2d (ConvTranspose, output_padding as traced), Upsample (Resize: nearest 'asymmetric' + 'floor',
linear 'half_pixel' or 'align_corners'; a fractional scale_factor whose 1/scale_factor coordinates ONNX cannot
reproduce is refused).
Normalisation beyond BatchNorm: LayerNorm (LayerNormalization from opset 17, else basic ops), GroupNorm
(Reshape + InstanceNormalization + per-channel affine), InstanceNorm1d/2d (InstanceNormalization, or
BatchNormalization when it tracks running statistics), LocalResponseNorm (LRN; even sizes and
(N, C, L) inputs, which onnxruntime's LRN refuses, as AveragePool over the channel axis).

Values are exported as float32 (what every ONNX runtime runs); the ONNX model's input is ``"input"``
(N, C, H, W) or (N, C, L), its output ``"logits"``, the batch axis symbolic (``"batch"``) unless
``dynamic_batch=False``. The ``onnx`` package is imported here only (``pip install 'scratchcnn[onnx]'``).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

__all__ = ["export_onnx", "export_checkpoint", "checkpoint_metadata", "onnx_signature", "MIN_OPSET"]

MIN_OPSET = 13  # Softmax/LogSoftmax over one axis (opset 13 semantics), Pad with its pads as an input
INPUT_NAME, OUTPUT_NAME = "input", "logits"


@dataclass
class _Call:
    """One recorded layer call: dotted name, module, input and output tensors (batch axis included)."""

    name: str
    module: Any
    x: Any
    y: Any

    @property
    def label(self) -> str:
        return f"{self.name!r} ({type(self.module).__name__})"


class _Graph:
    """Accumulates ONNX nodes and initializers; hands out unique value names."""

    def __init__(self, onnx: Any, opset: int, dynamic_batch: bool):
        self.onnx, self.opset, self.dynamic_batch = onnx, opset, dynamic_batch
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.used: set[str] = {INPUT_NAME, OUTPUT_NAME}

    def fresh(self, name: str) -> str:
        """``name``, or ``name_1``, ``name_2``, ... when taken (a layer called twice)."""
        out, i = name, 0
        while out in self.used:
            i += 1
            out = f"{name}_{i}"
        self.used.add(out)
        return out

    def const(self, name: str, value: Any, dtype: Any = np.float32) -> str:
        """An initializer holding ``value`` (cast to ``dtype``); returns its name."""
        arr = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        key = self.fresh(name)
        self.inits.append(self.onnx.numpy_helper.from_array(arr, key))
        return key

    def op(self, op_type: str, inputs: Sequence[str], name: str, **attrs: Any) -> str:
        """Append one node with one output named after ``name``; returns the output name."""
        out = self.fresh(name)
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out


# ---------------------------------------------------------------------------------------------- helpers
def _arr(t: Any) -> np.ndarray:
    """A Parameter/Tensor/array as a NumPy array."""
    return np.asarray(getattr(t, "data", t))


def _unsupported(c: _Call, why: str) -> ValueError:
    return ValueError(f"export_onnx: cannot export module {c.label}: {why}")


def _ints(value: Any, n: int, c: _Call, what: str, minimum: int = 1) -> list[int]:
    from ..functional._im2col import to_tuple
    return list(to_tuple(value, n, what, type(c.module).__name__, minimum=minimum))


def _pads(pairs: Sequence[tuple[int, int]]) -> list[int]:
    """Per-axis (low, high) -> ONNX's [x1_begin, x2_begin, ..., x1_end, x2_end]."""
    return [lo for lo, _ in pairs] + [hi for _, hi in pairs]


def _spatial(c: _Call) -> int:
    return len(c.x.shape) - 2


# ---------------------------------------------------------------------------------------------- layers
def _conv_core(g: _Graph, c: _Call, x: str, weight: np.ndarray, bias: np.ndarray | None) -> str:
    """Conv (N, C_in, *S) -> (N, C_out, *O); ``weight`` (C_out, C_in/groups, *K) already final."""
    m = c.module
    if len(c.x.shape) != m._n + 2:
        raise _unsupported(c, f"expects a batched input (N, C, ...), got shape {tuple(c.x.shape)}")
    from ..functional.conv import _resolve_padding
    pads = _resolve_padding(m.padding, tuple(m.kernel_size), tuple(m.stride), tuple(m.dilation), c.name)
    if m.padding_mode != "zeros":
        modes = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}
        if m.padding_mode == "circular" and g.opset < 19:
            raise _unsupported(c, f"padding_mode='circular' needs opset >= 19 (ONNX Pad mode 'wrap'), got {g.opset}")
        widths = g.const(f"{c.name}.pads", _pads([(0, 0), (0, 0), *pads]), np.int64)
        x = g.op("Pad", [x, widths], f"{c.name}/pad", mode=modes[m.padding_mode])
        pads = ((0, 0),) * m._n
    if m.mode == "convolution":
        weight = np.flip(weight, axis=tuple(range(2, weight.ndim)))
    inputs = [x, g.const(f"{c.name}.weight", weight)]
    if bias is not None:
        inputs.append(g.const(f"{c.name}.bias", bias))
    return g.op("Conv", inputs, c.name, kernel_shape=list(m.kernel_size), strides=list(m.stride),
                pads=_pads(pads), dilations=list(m.dilation), group=int(m.groups))


def _conv(g: _Graph, c: _Call, x: str) -> str:
    m = c.module
    return _conv_core(g, c, x, _arr(m.weight), None if m.bias is None else _arr(m.bias))


def _conv_transpose(g: _Graph, c: _Call, x: str) -> str:
    """ConvTranspose (N, C_in, *S) -> (N, C_out, *O); weight (C_in, C_out/groups, *K) as ONNX wants it. The
    output_padding is read off the traced output (it is the module's, or what ``output_size`` asked for)."""
    m, n = c.module, c.module._n
    if len(c.x.shape) != n + 2:
        raise _unsupported(c, f"expects a batched input (N, C, ...), got shape {tuple(c.x.shape)}")
    base = [(s - 1) * st - 2 * p + d * (k - 1) + 1 for s, st, p, d, k in
            zip(c.x.shape[2:], m.stride, m.padding, m.dilation, m.kernel_size)]
    # onnxruntime wants output_padding < stride; PyTorch allows up to max(stride, dilation) - 1. A larger one
    # first eats into the high padding (same output), what is left is zero rows after a bias-free ConvTranspose
    pairs, out_pad, tail = [], [], []
    for o, b, p, st in zip(c.y.shape[2:], base, m.padding, m.stride):
        op = int(o) - b
        cut = 0 if op < st else min(p, op)
        rest = op - cut
        pairs.append((p, p - cut))
        out_pad.append(rest if rest < st else 0)
        tail.append(0 if rest < st else rest)
    bias = None if m.bias is None else _arr(m.bias)
    inputs = [x, g.const(f"{c.name}.weight", _arr(m.weight))]
    if bias is not None and not any(tail):
        inputs.append(g.const(f"{c.name}.bias", bias))
    name = f"{c.name}/conv" if any(tail) else c.name
    y = g.op("ConvTranspose", inputs, name, kernel_shape=list(m.kernel_size), strides=list(m.stride),
             pads=_pads(pairs), dilations=list(m.dilation), group=int(m.groups), output_padding=out_pad)
    if not any(tail):
        return y
    widths = g.const(f"{c.name}.tail", _pads([(0, 0), (0, 0), *((0, t) for t in tail)]), np.int64)
    if bias is None:
        return g.op("Pad", [y, widths], c.name)
    y = g.op("Pad", [y, widths], f"{c.name}/tail")
    return g.op("Add", [y, g.const(f"{c.name}.bias", bias.reshape(-1, *([1] * n)))], c.name)


def _upsample(g: _Graph, c: _Call, x: str) -> str:
    """Resize. Nearest (PyTorch's legacy floor rule): coordinate_transformation_mode 'asymmetric', nearest_mode
    'floor'; linear/bilinear: 'align_corners' or 'half_pixel' (PyTorch clamps a negative source to 0, as
    onnxruntime's linear resize does). PyTorch maps output o to o / scale_factor when a scale factor is given
    (and not recomputed), else to o * in / out: the output ``sizes`` express the second (and the first when
    in * scale_factor is a whole number), ``scales`` the first when float32(in * scale_factor) floors to the
    same size; anything else is refused."""
    m, n = c.module, _spatial(c)
    if n not in (1, 2):
        raise _unsupported(c, f"expects a batched (N, C, L) or (N, C, H, W) input, got shape {tuple(c.x.shape)}")
    linear = m.mode in ("linear", "bilinear")
    if m.mode not in ("nearest", "linear", "bilinear"):
        raise _unsupported(c, f"mode={m.mode!r}")
    size_in, size_out = [int(v) for v in c.x.shape[2:]], [int(v) for v in c.y.shape[2:]]
    sf = m.scale_factor
    factors = [None] * n if sf is None or m.recompute_scale_factor or (linear and m.align_corners) else \
        [float(v) for v in (sf if isinstance(sf, tuple) else (sf,) * n)]
    by_sizes, by_scales = [], []
    for i, o, f in zip(size_in, size_out, factors):
        shortcut = (linear and o == i) or (m.mode == "nearest" and n == 2 and o in (i, 2 * i))   # PyTorch's
        exact = f is None or i * f == o
        by_sizes.append(exact or shortcut)
        # onnxruntime copies an axis whose size does not change, so o == i with f != 1 is not a scales case
        by_scales.append(f is not None and int(np.float32(i) * np.float32(f)) == o and (exact or not shortcut)
                         and (o != i or f == 1.0))
    attrs: dict[str, Any] = {"mode": "linear" if linear else "nearest"}
    if linear:
        attrs["coordinate_transformation_mode"] = "align_corners" if m.align_corners else "half_pixel"
    else:
        attrs.update(coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    if all(by_sizes):
        spatial = g.const(f"{c.name}.sizes", size_out, np.int64)
        if g.dynamic_batch:
            shape = g.op("Shape", [x], f"{c.name}/shape")
            lead = g.op("Slice", [shape, g.const(f"{c.name}.zero", [0], np.int64),
                                  g.const(f"{c.name}.two", [2], np.int64)], f"{c.name}/batch_channels")
            sizes = g.op("Concat", [lead, spatial], f"{c.name}/sizes", axis=0)
        else:
            sizes = g.const(f"{c.name}.sizes_all", [int(c.x.shape[0]), int(c.x.shape[1]), *size_out], np.int64)
        return g.op("Resize", [x, "", "", sizes], c.name, **attrs)
    if all(by_scales):
        scales = g.const(f"{c.name}.scales", [1.0, 1.0, *factors], np.float32)
        return g.op("Resize", [x, "", scales], c.name, **attrs)
    raise _unsupported(c, f"scale_factor={sf!r} on input size {tuple(size_in)} (output {tuple(size_out)}) maps "
                          "output positions by 1/scale_factor, which ONNX Resize reproduces neither with the output "
                          "sizes nor with float32 scales; give size=... or recompute_scale_factor=True")


def _linear_core(g: _Graph, c: _Call, x: str, weight: np.ndarray, bias: np.ndarray | None) -> str:
    """(N, in) -> (N, out) as Gemm; (..., in) -> (..., out) as MatMul (+ Add)."""
    if len(c.x.shape) == 2:
        inputs = [x, g.const(f"{c.name}.weight", weight)]
        if bias is not None:
            inputs.append(g.const(f"{c.name}.bias", bias))
        return g.op("Gemm", inputs, c.name, transB=1)
    w_t = g.const(f"{c.name}.weight_t", weight.T)
    if bias is None:
        return g.op("MatMul", [x, w_t], c.name)
    y = g.op("MatMul", [x, w_t], f"{c.name}/matmul")
    return g.op("Add", [y, g.const(f"{c.name}.bias", bias)], c.name)


def _linear(g: _Graph, c: _Call, x: str) -> str:
    m = c.module
    return _linear_core(g, c, x, _arr(m.weight), None if m.bias is None else _arr(m.bias))


def _lora(g: _Graph, c: _Call, x: str) -> str:
    """A LoRA layer exported as its base layer with the merged weight W + (alpha/r) B A (eval: no dropout)."""
    from ..finetune.structure import is_conv
    m, base = c.module, c.module.base_layer
    weight = np.asarray(m.merged_weight())
    bias = None if m.bias is None else _arr(m.bias)
    inner = _Call(c.name, base, c.x, c.y)
    if is_conv(base):
        return _conv_core(g, inner, x, weight, bias)
    return _linear_core(g, inner, x, weight, bias)


def _simple(op_type: str) -> Callable[[_Graph, _Call, str], str]:
    def handler(g: _Graph, c: _Call, x: str) -> str:
        return g.op(op_type, [x], c.name)
    return handler


def _leaky_relu(g: _Graph, c: _Call, x: str) -> str:
    return g.op("LeakyRelu", [x], c.name, alpha=float(c.module.negative_slope))


def _gelu(g: _Graph, c: _Call, x: str) -> str:
    """x * Phi(x): ONNX Gelu from opset 20, else 0.5 x (1 + erf(x / sqrt 2)) or the tanh formula."""
    approx = c.module.approximate
    if g.opset >= 20:
        return g.op("Gelu", [x], c.name, approximate=approx)
    n = c.name
    if approx == "tanh":
        cube = g.op("Mul", [g.op("Mul", [x, x], f"{n}/x2"), x], f"{n}/x3")
        inner = g.op("Add", [x, g.op("Mul", [cube, g.const(f"{n}.k", 0.044715)], f"{n}/kx3")], f"{n}/inner")
        t = g.op("Tanh", [g.op("Mul", [inner, g.const(f"{n}.c", math.sqrt(2 / math.pi))], f"{n}/scaled")],
                 f"{n}/tanh")
    else:
        t = g.op("Erf", [g.op("Mul", [x, g.const(f"{n}.rsqrt2", 1 / math.sqrt(2))], f"{n}/scaled")], f"{n}/erf")
    one_plus = g.op("Add", [t, g.const(f"{n}.one", 1.0)], f"{n}/one_plus")
    half_x = g.op("Mul", [x, g.const(f"{n}.half", 0.5)], f"{n}/half_x")
    return g.op("Mul", [half_x, one_plus], n)


def _elu(g: _Graph, c: _Call, x: str) -> str:
    return g.op("Elu", [x], c.name, alpha=float(c.module.alpha))


def _celu(g: _Graph, c: _Call, x: str) -> str:
    return g.op("Celu", [x], c.name, alpha=float(c.module.alpha))


def _selu(g: _Graph, c: _Call, x: str) -> str:
    from ..functional.activation import _SELU_ALPHA, _SELU_SCALE
    return g.op("Selu", [x], c.name, alpha=_SELU_ALPHA, gamma=_SELU_SCALE)


def _silu(g: _Graph, c: _Call, x: str) -> str:
    """x * sigmoid(x) (ONNX has no SiLU/Swish op in the opsets this exporter targets)."""
    return g.op("Mul", [x, g.op("Sigmoid", [x], f"{c.name}/sigmoid")], c.name)


def _mish(g: _Graph, c: _Call, x: str) -> str:
    """ONNX Mish from opset 18, else x * tanh(softplus(x))."""
    if g.opset >= 18:
        return g.op("Mish", [x], c.name)
    n = c.name
    t = g.op("Tanh", [g.op("Softplus", [x], f"{n}/softplus")], f"{n}/tanh")
    return g.op("Mul", [x, t], n)


def _softplus(g: _Graph, c: _Call, x: str) -> str:
    """ONNX Softplus is log(1 + exp(x)): beta scales around it; the linear region beta x > threshold is a Where,
    left out for beta = 1 and threshold >= 20 (there log(1 + exp(x)) and x agree to within exp(-20))."""
    m, n = c.module, c.name
    beta, threshold = float(m.beta), float(m.threshold)
    if beta == 1.0 and threshold >= 20.0:
        return g.op("Softplus", [x], n)
    bx = g.op("Mul", [x, g.const(f"{n}.beta", beta)], f"{n}/bx")
    sp = g.op("Div", [g.op("Softplus", [bx], f"{n}/softplus"), g.const(f"{n}.beta_div", beta)], f"{n}/scaled")
    linear = g.op("Greater", [bx, g.const(f"{n}.threshold", threshold)], f"{n}/linear")
    return g.op("Where", [linear, x, sp], n)


def _hardtanh(g: _Graph, c: _Call, x: str) -> str:
    m = c.module
    return g.op("Clip", [x, g.const(f"{c.name}.min", float(m.min_val)), g.const(f"{c.name}.max", float(m.max_val))],
                c.name)


def _hardsigmoid(g: _Graph, c: _Call, x: str) -> str:
    return g.op("HardSigmoid", [x], c.name, alpha=1.0 / 6.0, beta=0.5)


def _hardswish(g: _Graph, c: _Call, x: str) -> str:
    """ONNX HardSwish from opset 14, else x * HardSigmoid(x)."""
    if g.opset >= 14:
        return g.op("HardSwish", [x], c.name)
    return g.op("Mul", [x, g.op("HardSigmoid", [x], f"{c.name}/hardsigmoid", alpha=1.0 / 6.0, beta=0.5)], c.name)


def _logsigmoid(g: _Graph, c: _Call, x: str) -> str:
    """log(sigmoid(x)) as -softplus(-x) (stable for large |x|, unlike Log(Sigmoid))."""
    n = c.name
    sp = g.op("Softplus", [g.op("Neg", [x], f"{n}/neg")], f"{n}/softplus")
    return g.op("Neg", [sp], n)


def _prelu(g: _Graph, c: _Call, x: str) -> str:
    """PRelu with the slope shaped to broadcast from axis 1: (C, 1, ..., 1), or (1,) for one slope."""
    w = _arr(c.module.weight)
    nd = len(c.x.shape)
    slope = w.reshape(1) if w.size == 1 else w.reshape((-1,) + (1,) * (nd - 2))
    return g.op("PRelu", [x, g.const(f"{c.name}.weight", slope)], c.name)


def _softmax_axis(c: _Call) -> int:
    """The axis the (Log)Softmax ran over: ``dim``, or PyTorch's legacy choice when None."""
    nd, dim = len(c.x.shape), c.module.dim
    if dim is None:
        dim = 0 if nd in (0, 1, 3) else 1
    return int(dim) % nd


def _softmax(op_type: str) -> Callable[[_Graph, _Call, str], str]:
    def handler(g: _Graph, c: _Call, x: str) -> str:
        return g.op(op_type, [x], c.name, axis=_softmax_axis(c))
    return handler


def _max_pool(g: _Graph, c: _Call, x: str) -> str:
    m, n = c.module, _spatial(c)
    if m.return_indices:
        raise _unsupported(c, "return_indices=True (the indices are not a single-output ONNX graph)")
    pad = _ints(m.padding, n, c, "padding", minimum=0)
    return g.op("MaxPool", [x], c.name, kernel_shape=_ints(m.kernel_size, n, c, "kernel_size"),
                strides=_ints(m.stride, n, c, "stride"), pads=_pads([(p, p) for p in pad]),
                dilations=_ints(m.dilation, n, c, "dilation"), ceil_mode=int(bool(m.ceil_mode)))


def _avg_pool(g: _Graph, c: _Call, x: str) -> str:
    m, n = c.module, _spatial(c)
    if m.divisor_override is not None:
        raise _unsupported(c, f"divisor_override={m.divisor_override} has no ONNX AveragePool equivalent")
    pad = _ints(m.padding, n, c, "padding", minimum=0)
    return g.op("AveragePool", [x], c.name, kernel_shape=_ints(m.kernel_size, n, c, "kernel_size"),
                strides=_ints(m.stride, n, c, "stride"), pads=_pads([(p, p) for p in pad]),
                ceil_mode=int(bool(m.ceil_mode)), count_include_pad=int(bool(m.count_include_pad)))


def _adaptive_avg_pool(g: _Graph, c: _Call, x: str) -> str:
    """GlobalAveragePool for output size 1; AveragePool(kernel = stride = in/out) where that divides evenly."""
    size_in, size_out = tuple(c.x.shape[2:]), tuple(c.y.shape[2:])
    if all(o == 1 for o in size_out):
        return g.op("GlobalAveragePool", [x], c.name)
    if any(i % o for i, o in zip(size_in, size_out)):
        raise _unsupported(c, f"adaptive pooling {size_in} -> {size_out} has windows of unequal sizes, which "
                              "ONNX cannot express (use an input size divisible by the output size)")
    kernel = [i // o for i, o in zip(size_in, size_out)]
    return g.op("AveragePool", [x], c.name, kernel_shape=kernel, strides=kernel)


def _batch_norm(g: _Graph, c: _Call, x: str) -> str:
    m, nf = c.module, c.module.num_features
    if m.running_mean is None or m.running_var is None:
        raise _unsupported(c, "track_running_stats=False normalises with batch statistics even in eval mode")
    scale = _arr(m.weight) if m.weight is not None else np.ones(nf)
    shift = _arr(m.bias) if m.bias is not None else np.zeros(nf)
    inputs = [x, g.const(f"{c.name}.weight", scale), g.const(f"{c.name}.bias", shift),
              g.const(f"{c.name}.running_mean", _arr(m.running_mean)),
              g.const(f"{c.name}.running_var", _arr(m.running_var))]
    return g.op("BatchNormalization", inputs, c.name, epsilon=float(m.eps))


def _reduce_mean(g: _Graph, x: str, axes: list[int], name: str) -> str:
    """ReduceMean keeping dims: axes an attribute before opset 18, an input from 18."""
    if g.opset >= 18:
        return g.op("ReduceMean", [x, g.const(f"{name}.axes", axes, np.int64)], name, keepdims=1)
    return g.op("ReduceMean", [x], name, axes=axes, keepdims=1)


def _layer_norm(g: _Graph, c: _Call, x: str) -> str:
    """LayerNormalization over the trailing dims from opset 17; before it (x - mean) / sqrt(var + eps) from
    ReduceMean, Sub, Mul, Add, Sqrt, Div (biased variance, like the layer)."""
    m, n = c.module, c.name
    shape = tuple(m.normalized_shape)
    scale = _arr(m.weight) if m.weight is not None else np.ones(shape)
    if g.opset >= 17:
        inputs = [x, g.const(f"{n}.weight", scale)]
        if m.bias is not None:
            inputs.append(g.const(f"{n}.bias", _arr(m.bias)))
        return g.op("LayerNormalization", inputs, n, axis=-len(shape), epsilon=float(m.eps))
    axes = list(range(-len(shape), 0))
    d = g.op("Sub", [x, _reduce_mean(g, x, axes, f"{n}/mean")], f"{n}/centred")
    var = _reduce_mean(g, g.op("Mul", [d, d], f"{n}/squared"), axes, f"{n}/var")
    std = g.op("Sqrt", [g.op("Add", [var, g.const(f"{n}.eps", float(m.eps))], f"{n}/var_eps")], f"{n}/std")
    y = g.op("Div", [d, std], f"{n}/normed")
    if m.weight is None and m.bias is None:
        return y
    y = g.op("Mul", [y, g.const(f"{n}.weight", scale)], f"{n}/scaled" if m.bias is not None else n)
    if m.bias is not None:
        y = g.op("Add", [y, g.const(f"{n}.bias", _arr(m.bias))], n)
    return y


def _channel_affine(g: _Graph, c: _Call, y: str, rank: int) -> str:
    """y * weight + bias per channel (axis 1) where the module has them; the last node is named ``c.name``."""
    m, n = c.module, c.name
    if m.weight is None and m.bias is None:
        return y
    per_channel = (-1,) + (1,) * (rank - 2)
    if m.weight is not None:
        y = g.op("Mul", [y, g.const(f"{n}.weight", _arr(m.weight).reshape(per_channel))],
                 f"{n}/scaled" if m.bias is not None else n)
    if m.bias is not None:
        y = g.op("Add", [y, g.const(f"{n}.bias", _arr(m.bias).reshape(per_channel))], n)
    return y


def _group_norm(g: _Graph, c: _Call, x: str) -> str:
    """(N, C, *S) -> Reshape (N, G, C/G * S) -> InstanceNormalization (unit scale: a group's statistics) ->
    Reshape back -> per-channel weight and bias. (ONNX's GroupNormalization has per-group scales in opset 18
    and per-channel ones only from opset 21, so this form serves every opset.)"""
    m, n = c.module, c.name
    G, shape = int(m.num_groups), [int(s) for s in c.x.shape]
    grouped = g.op("Reshape", [x, g.const(f"{n}.grouped_shape", [0, G, -1], np.int64)], f"{n}/grouped")
    normed = g.op("InstanceNormalization", [grouped, g.const(f"{n}.unit_scale", np.ones(G)),
                                            g.const(f"{n}.zero_shift", np.zeros(G))],
                  f"{n}/normed", epsilon=float(m.eps))
    back = n if m.weight is None and m.bias is None else f"{n}/ungrouped"
    y = g.op("Reshape", [normed, g.const(f"{n}.shape", [0, *shape[1:]], np.int64)], back)
    return _channel_affine(g, c, y, len(shape))


def _instance_norm(g: _Graph, c: _Call, x: str) -> str:
    """InstanceNormalization (instance statistics); with track_running_stats the eval output uses the running
    statistics: BatchNormalization, as for BatchNorm."""
    m, n = c.module, c.name
    if len(c.x.shape) != m._spatial + 2:
        raise _unsupported(c, f"expects a batched input of rank {m._spatial + 2}, got shape {tuple(c.x.shape)}")
    if m.track_running_stats:
        return _batch_norm(g, c, x)
    C = int(c.x.shape[1])
    scale = _arr(m.weight) if m.weight is not None else np.ones(C)
    shift = _arr(m.bias) if m.bias is not None else np.zeros(C)
    return g.op("InstanceNormalization", [x, g.const(f"{n}.weight", scale), g.const(f"{n}.bias", shift)], n,
                epsilon=float(m.eps))


def _local_response_norm(g: _Graph, c: _Call, x: str) -> str:
    """ONNX LRN for odd sizes on (N, C, H, W) (its window [c - (size-1)//2, c + size//2] is PyTorch's then).
    Even sizes, where the windows differ (PyTorch's leans back) and onnxruntime has no kernel, and other ranks
    (onnxruntime's LRN takes 4-d input only) are built as PyTorch computes them:
    x / (k + alpha * AveragePool(x^2 over channels, zero padded (size//2, (size-1)//2)))^beta, the pool running
    over (N, 1, C, *S) with a (size, 1, ..., 1) window."""
    m, n = c.module, c.name
    size, rank = int(m.size), len(c.x.shape)
    if size % 2 and rank == 4:
        return g.op("LRN", [x], n, size=size, alpha=float(m.alpha), beta=float(m.beta), bias=float(m.k))
    one = g.const(f"{n}.axis1", [1], np.int64)
    sq = g.op("Unsqueeze", [g.op("Mul", [x, x], f"{n}/squared"), one], f"{n}/unsqueezed")
    lo, hi = [size // 2] + [0] * (rank - 2), [(size - 1) // 2] + [0] * (rank - 2)
    avg = g.op("AveragePool", [sq], f"{n}/window_mean", kernel_shape=[size] + [1] * (rank - 2),
               strides=[1] * (rank - 1), pads=lo + hi, count_include_pad=1)
    avg = g.op("Squeeze", [avg, one], f"{n}/squeezed")
    div = g.op("Add", [g.op("Mul", [avg, g.const(f"{n}.alpha", float(m.alpha))], f"{n}/scaled"),
                      g.const(f"{n}.k", float(m.k))], f"{n}/base")
    div = g.op("Pow", [div, g.const(f"{n}.beta", float(m.beta))], f"{n}/divisor")
    return g.op("Div", [x, div], n)


def _flatten(g: _Graph, c: _Call, x: str) -> str:
    """Flatten(axis=1) for the usual start_dim=1, end_dim=-1; else a Reshape keeping the batch axis symbolic."""
    m, shape = c.module, tuple(int(s) for s in c.x.shape)
    nd = max(len(shape), 1)
    start, end = m.start_dim % nd, m.end_dim % nd
    if start == 1 and end == nd - 1:
        return g.op("Flatten", [x], c.name, axis=1)
    if start >= end:
        return x  # nothing merged
    if start == 0 and g.dynamic_batch:
        raise _unsupported(c, f"start_dim={m.start_dim} merges the batch axis, which then is not the ONNX "
                              "graph's dynamic batch; export with dynamic_batch=False")
    target = [0 if i == 0 else shape[i] for i in range(start)] + [-1] + list(shape[end + 1:])
    return g.op("Reshape", [x, g.const(f"{c.name}.shape", target, np.int64)], c.name)


def _passthrough(g: _Graph, c: _Call, x: str) -> str:
    """Dropout (identity at inference) and Identity: no node."""
    return x


def _handlers() -> dict[type, Callable[[_Graph, _Call, str], str]]:
    """Exact module type -> function emitting its nodes (subclasses may change forward, so are not matched)."""
    from .. import nn
    from ..finetune.lora import LoRAConv, LoRALinear
    return {
        nn.Conv1d: _conv, nn.Conv2d: _conv, nn.ConvTranspose1d: _conv_transpose, nn.ConvTranspose2d: _conv_transpose,
        nn.Upsample: _upsample, LoRAConv: _lora, LoRALinear: _lora, nn.Linear: _linear,
        nn.ReLU: _simple("Relu"), nn.Sigmoid: _simple("Sigmoid"), nn.Tanh: _simple("Tanh"),
        nn.LeakyReLU: _leaky_relu, nn.GELU: _gelu, nn.Softmax: _softmax("Softmax"),
        nn.LogSoftmax: _softmax("LogSoftmax"),
        nn.ELU: _elu, nn.SELU: _selu, nn.CELU: _celu, nn.SiLU: _silu, nn.Mish: _mish, nn.Softplus: _softplus,
        nn.Hardtanh: _hardtanh, nn.ReLU6: _hardtanh, nn.Hardsigmoid: _hardsigmoid, nn.Hardswish: _hardswish,
        nn.Softsign: _simple("Softsign"), nn.LogSigmoid: _logsigmoid, nn.PReLU: _prelu,
        nn.MaxPool1d: _max_pool, nn.MaxPool2d: _max_pool, nn.AvgPool1d: _avg_pool, nn.AvgPool2d: _avg_pool,
        nn.AdaptiveAvgPool1d: _adaptive_avg_pool, nn.AdaptiveAvgPool2d: _adaptive_avg_pool,
        nn.BatchNorm1d: _batch_norm, nn.BatchNorm2d: _batch_norm, nn.Flatten: _flatten,
        nn.Dropout: _passthrough, nn.Dropout1d: _passthrough, nn.Dropout2d: _passthrough,
        nn.Identity: _passthrough,
        nn.LayerNorm: _layer_norm, nn.GroupNorm: _group_norm, nn.InstanceNorm1d: _instance_norm,
        nn.InstanceNorm2d: _instance_norm, nn.LocalResponseNorm: _local_response_norm,
    }


# ---------------------------------------------------------------------------------------------- tracing
def _model_name(model: Any) -> str:
    return getattr(model, "model_name", type(model).__name__)


def _units(model: Any, handled: Mapping[type, Any]) -> list[tuple[str, Any]]:
    """Modules to hook: those with a handler (not descended into) and leaves without one (an error if called)."""
    out: list[tuple[str, Any]] = []

    def walk(prefix: str, mod: Any) -> None:
        children = [(n, m) for n, m in mod.named_children() if m is not None]
        if type(mod) in handled or not children:
            out.append((prefix or type(mod).__name__.lower(), mod))
            return
        for n, m in children:
            walk(f"{prefix}.{n}" if prefix else n, m)

    walk("", model)
    return out


def _refuse_foreign_hooks(model: Any) -> None:
    """Forward hooks change outputs invisibly (e.g. adapters that fine-tuning inserts): refuse them."""
    for name, mod in model.named_modules():
        if mod._forward_hooks or mod._forward_pre_hooks:
            raise ValueError(f"export_onnx: module {name or '(the model)'!r} ({type(mod).__name__}) has forward "
                             "hooks (for instance an adapter inserted by fine-tuning), which ONNX export cannot "
                             "follow; remove them first (LoRA and head fine-tunes export fine)")


def _trace(model: Any, input_shape: tuple[int, ...], handled: Mapping[type, Any]) -> list[_Call]:
    """Run one zero batch through ``model`` (eval, no_grad) and return its layer calls, checked to be a chain."""
    from ..nn.utils import forward_with_hooks
    from ..tensor import Tensor

    _refuse_foreign_hooks(model)
    calls: list[_Call] = []

    def record(name: str, mod: Any, args: tuple, out: Any) -> None:
        calls.append(_Call(name, mod, args[0] if len(args) == 1 else args, out))

    hooks = [(m, lambda mod, a, o, _n=n: record(_n, mod, a, o)) for n, m in _units(model, handled)]
    params = list(model.parameters())
    x = Tensor(np.zeros(input_shape, dtype=params[0].data.dtype if params else np.float32))
    try:
        out = forward_with_hooks(model, x, hooks)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"export_onnx: model {_model_name(model)} does not accept an input of shape "
                         f"{input_shape}: {' '.join(str(exc).split())}") from None
    _check_chain(model, calls, x, out)
    return calls


def _check_chain(model: Any, calls: list[_Call], x: Any, out: Any) -> None:
    """Every call reads the previous call's output (the first the input) and the model returns the last one."""
    from ..tensor import Tensor
    if not calls:
        raise ValueError(f"export_onnx: model {_model_name(model)} called no layers; nothing to export")
    prev, prev_label = x, "the model's input"
    for c in calls:
        if not isinstance(c.x, Tensor) or not isinstance(c.y, Tensor):
            hint = " (return_indices=True returns (values, indices))" if getattr(c.module, "return_indices", 0) else ""
            raise _unsupported(c, f"it takes or returns something other than one tensor{hint}")
        if c.x is not prev:
            raise ValueError(f"export_onnx: module {c.label} does not read the output of {prev_label}: the forward "
                             f"of {_model_name(model)} computes something between its layers (a residual add, a "
                             "reshape, a functional call), which export_onnx cannot follow; only chains of "
                             "supported layers can be exported")
        prev, prev_label = c.y, f"module {c.label}"
    if out is not prev:
        raise ValueError(f"export_onnx: model {_model_name(model)} does not return the output of its last layer "
                         f"{calls[-1].label}; only chains of supported layers can be exported")


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
        input_shape: one input batch's shape (N, C, H, W) or (N, C, L); default (1, C, H, W) from the model's
            ``model_config`` (``in_channels``, ``input_size``), else (1, 1, 28, 28).
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
        raise ValueError(f"export_onnx: input_shape must be sizes (N, C, H, W) or (N, C, L), "
                         f"got {input_shape!r}") from None
    if len(shape) not in (3, 4) or min(shape) < 1:
        raise ValueError(f"export_onnx: input_shape must be positive sizes (N, C, H, W) or (N, C, L), "
                         f"got {tuple(input_shape)}")
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
