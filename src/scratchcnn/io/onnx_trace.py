"""Trace a model for ONNX export: one zero batch in eval mode under ``no_grad`` with temporary forward hooks on
its layers records every layer call (``_Call``: name, module, input and output tensors), checked to form a chain
(the first layer reads the model's input, every layer the previous layer's output, the model returns the last)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np


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


def _unsupported(c: _Call, why: str) -> ValueError:
    return ValueError(f"export_onnx: cannot export module {c.label}: {why}")


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
        raise ValueError(f"export_onnx: model {_model_name(model)} does not accept input_shape "
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
