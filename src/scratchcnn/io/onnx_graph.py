"""The ONNX graph under construction (``_Graph``: nodes, initializers, unique value names) and the small helpers
the per-layer emitters share (arrays, int tuples, ONNX pads)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .onnx_trace import _Call

INPUT_NAME, OUTPUT_NAME = "input", "logits"


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


def _ints(value: Any, n: int, c: _Call, what: str, minimum: int = 1) -> list[int]:
    from ..functional._im2col import to_tuple
    return list(to_tuple(value, n, what, type(c.module).__name__, minimum=minimum))


def _pads(pairs: Sequence[tuple[int, int]]) -> list[int]:
    """Per-axis (low, high) -> ONNX's [x1_begin, x2_begin, ..., x1_end, x2_end]."""
    return [lo for lo, _ in pairs] + [hi for _, hi in pairs]


def _spatial(c: _Call) -> int:
    return len(c.x.shape) - 2
