"""ONNX node emitters for the structural layers (convolutions, transposed convolutions, Upsample, Linear, LoRA,
pooling, Flatten, Unflatten, Dropout/Identity) and ``_handlers``, the table of every exportable module type -> its
emitter (activations in ``onnx_activations``, normalisation layers in ``onnx_norms``)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .onnx_activations import (_celu, _elu, _gelu, _hardsigmoid, _hardswish, _hardtanh, _leaky_relu, _logsigmoid,
                               _mish, _prelu, _selu, _silu, _simple, _softmax, _softplus)
from .onnx_graph import _arr, _Graph, _ints, _pads, _spatial
from .onnx_norms import _batch_norm, _group_norm, _instance_norm, _layer_norm, _local_response_norm
from .onnx_trace import _Call, _unsupported


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


def _ceil_pads(c: _Call, kernel: list[int], stride: list[int], pad: list[int], dilation: list[int],
               extend: bool) -> tuple[int, list[int]]:
    """ONNX's ceil_mode and pads for a pooling layer. PyTorch drops a ceil-mode last window that would start past
    the input and left padding; ONNX (and its shape inference) keeps it. Where PyTorch dropped it, its windows are
    exactly floor mode's (only the window ceil mode adds can start there). Axes that keep their extra window next
    to axes that drop it: ceil_mode=1 with the high padding of the dropping axes trimmed to end at their last
    window; failing that (``extend``: padding never counts, as in MaxPool) ceil_mode=0 with the high padding of the
    keeping axes grown to hold their last window; else refused."""
    pairs = [(p, p) for p in pad]
    if not c.module.ceil_mode:
        return 0, _pads(pairs)
    span = [i + 2 * p - d * (k - 1) - 1 for i, k, p, d in zip(c.x.shape[2:], kernel, pad, dilation)]
    keep = [int(o) > t // s + 1 for o, t, s in zip(c.y.shape[2:], span, stride)]
    if all(keep) or not any(keep):
        return int(any(keep)), _pads(pairs)
    rem = [t % s for t, s in zip(span, stride)]
    if all(k or r <= p for k, r, p in zip(keep, rem, pad)):
        return 1, _pads([(p, p if k else p - r) for k, r, p in zip(keep, rem, pad)])
    if extend:
        return 0, _pads([(p, p + (s - r if k else 0)) for k, r, p, s in zip(keep, rem, pad, stride)])
    raise _unsupported(c, f"ceil_mode=True on input {tuple(c.x.shape[2:])} keeps a last window on some axes and "
                          "drops it (it would start past the input) on others, which ONNX AveragePool with "
                          "count_include_pad=True cannot express")


def _max_pool(g: _Graph, c: _Call, x: str) -> str:
    m, n = c.module, _spatial(c)
    if m.return_indices:
        raise _unsupported(c, "return_indices=True (the indices are not a single-output ONNX graph)")
    pad, kernel = _ints(m.padding, n, c, "padding", minimum=0), _ints(m.kernel_size, n, c, "kernel_size")
    stride, dilation = _ints(m.stride, n, c, "stride"), _ints(m.dilation, n, c, "dilation")
    ceil, pads = _ceil_pads(c, kernel, stride, pad, dilation, True)
    return g.op("MaxPool", [x], c.name, kernel_shape=kernel, strides=stride, pads=pads, dilations=dilation,
                ceil_mode=ceil)


def _avg_pool(g: _Graph, c: _Call, x: str) -> str:
    m, n = c.module, _spatial(c)
    if m.divisor_override is not None:
        raise _unsupported(c, f"divisor_override={m.divisor_override} has no ONNX AveragePool equivalent")
    pad, kernel = _ints(m.padding, n, c, "padding", minimum=0), _ints(m.kernel_size, n, c, "kernel_size")
    stride = _ints(m.stride, n, c, "stride")
    include = bool(m.count_include_pad) and any(pad)   # without padding there is none to count
    ceil, pads = _ceil_pads(c, kernel, stride, pad, [1] * n, not include)
    return g.op("AveragePool", [x], c.name, kernel_shape=kernel, strides=stride, pads=pads, ceil_mode=ceil,
                count_include_pad=int(include))


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


def _unflatten(g: _Graph, c: _Call, x: str) -> str:
    """Reshape to the traced output shape, the batch axis kept symbolic (0 = copy it from the input)."""
    m, shape = c.module, tuple(int(s) for s in c.y.shape)
    d = int(m.dim) % max(len(c.x.shape), 1)
    if d == 0 and g.dynamic_batch:
        raise _unsupported(c, f"dim={m.dim} splits the batch axis, which then is not the ONNX graph's dynamic "
                              "batch; export with dynamic_batch=False")
    if 0 in shape[1:]:
        raise _unsupported(c, f"an output of shape {shape} has an empty axis (ONNX Reshape reads 0 as 'copy')")
    target = [0 if i == 0 and g.dynamic_batch else s for i, s in enumerate(shape)]
    return g.op("Reshape", [x, g.const(f"{c.name}.shape", target, np.int64)], c.name)


def _passthrough(g: _Graph, c: _Call, x: str) -> str:
    """Dropout (identity at inference) and Identity: no node."""
    return x


def _handlers() -> dict[type, Callable[[_Graph, _Call, str], str]]:
    """Exact module type -> function emitting its nodes (subclasses may change forward, so are not matched)."""
    from .. import nn
    from ..finetune.lora import LoRAConv, LoRALinear
    return {
        nn.Conv1d: _conv, nn.Conv2d: _conv, nn.Conv3d: _conv,
        nn.ConvTranspose1d: _conv_transpose, nn.ConvTranspose2d: _conv_transpose,
        nn.Upsample: _upsample, LoRAConv: _lora, LoRALinear: _lora, nn.Linear: _linear,
        nn.ReLU: _simple("Relu"), nn.Sigmoid: _simple("Sigmoid"), nn.Tanh: _simple("Tanh"),
        nn.LeakyReLU: _leaky_relu, nn.GELU: _gelu, nn.Softmax: _softmax("Softmax"),
        nn.LogSoftmax: _softmax("LogSoftmax"),
        nn.ELU: _elu, nn.SELU: _selu, nn.CELU: _celu, nn.SiLU: _silu, nn.Mish: _mish, nn.Softplus: _softplus,
        nn.Hardtanh: _hardtanh, nn.ReLU6: _hardtanh, nn.Hardsigmoid: _hardsigmoid, nn.Hardswish: _hardswish,
        nn.Softsign: _simple("Softsign"), nn.LogSigmoid: _logsigmoid, nn.PReLU: _prelu,
        nn.MaxPool1d: _max_pool, nn.MaxPool2d: _max_pool, nn.MaxPool3d: _max_pool,
        nn.AvgPool1d: _avg_pool, nn.AvgPool2d: _avg_pool, nn.AvgPool3d: _avg_pool,
        nn.AdaptiveAvgPool1d: _adaptive_avg_pool, nn.AdaptiveAvgPool2d: _adaptive_avg_pool,
        nn.AdaptiveAvgPool3d: _adaptive_avg_pool,
        nn.BatchNorm1d: _batch_norm, nn.BatchNorm2d: _batch_norm, nn.BatchNorm3d: _batch_norm,
        nn.Flatten: _flatten, nn.Unflatten: _unflatten,
        nn.Dropout: _passthrough, nn.Dropout1d: _passthrough, nn.Dropout2d: _passthrough,
        nn.Identity: _passthrough,
        nn.LayerNorm: _layer_norm, nn.GroupNorm: _group_norm, nn.InstanceNorm1d: _instance_norm,
        nn.InstanceNorm2d: _instance_norm, nn.InstanceNorm3d: _instance_norm,
        nn.LocalResponseNorm: _local_response_norm,
    }
