"""ONNX node emitters for the activation layers (ReLU ... Softmax/LogSoftmax, PReLU), with the basic-op forms
older opsets need (GELU before 20, Mish before 18, HardSwish before 14)."""
from __future__ import annotations

import math
from typing import Callable

from .onnx_graph import _arr, _Graph
from .onnx_trace import _Call


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
