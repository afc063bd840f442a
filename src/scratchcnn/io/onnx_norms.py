"""ONNX node emitters for the normalisation layers: BatchNorm (running statistics), LayerNorm, GroupNorm,
InstanceNorm, LocalResponseNorm (each in a form every supported opset runs)."""
from __future__ import annotations

import numpy as np

from .onnx_graph import _arr, _Graph
from .onnx_trace import _Call, _unsupported


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
    sq = g.op("Mul", [x, x], f"{n}/squared")
    if rank > 4:   # onnxruntime pools over at most 3 axes: (N, C, *S) -> (N, 1, C, prod S) and back
        sq = g.op("Reshape", [sq, g.const(f"{n}.merged_shape", [0, 1, int(c.x.shape[1]), -1], np.int64)],
                  f"{n}/merged")
    else:
        sq = g.op("Unsqueeze", [sq, one], f"{n}/unsqueezed")
    pooled = 1 if rank > 4 else rank - 2   # the (1, ..., 1) part of the window
    lo, hi = [size // 2] + [0] * pooled, [(size - 1) // 2] + [0] * pooled
    avg = g.op("AveragePool", [sq], f"{n}/window_mean", kernel_shape=[size] + [1] * pooled,
               strides=[1] * (pooled + 1), pads=lo + hi, count_include_pad=1)
    if rank > 4:
        avg = g.op("Reshape", [avg, g.const(f"{n}.shape", [0, *(int(s) for s in c.x.shape[1:])], np.int64)],
                   f"{n}/squeezed")
    else:
        avg = g.op("Squeeze", [avg, one], f"{n}/squeezed")
    div = g.op("Add", [g.op("Mul", [avg, g.const(f"{n}.alpha", float(m.alpha))], f"{n}/scaled"),
                      g.const(f"{n}.k", float(m.k))], f"{n}/base")
    div = g.op("Pow", [div, g.const(f"{n}.beta", float(m.beta))], f"{n}/divisor")
    return g.op("Div", [x, div], n)
