"""Nested state (optimiser/scheduler ``state_dict``s, RNG states) to safetensors + JSON, without pickle.

``split_arrays`` walks dicts/lists/tuples and replaces every ndarray by ``{"__ndarray__": key}``, returning the
JSON-ready skeleton and a flat ``{key: ndarray}`` dict for safetensors. Dicts with non-string keys (an
optimiser's per-parameter state is keyed by int) become ``{"__items__": [[key, value], ...]}`` so the key types
survive; tuples become ``{"__tuple__": [...]}``. ``join_arrays`` reverses both.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["split_arrays", "join_arrays"]

_SCALAR_KEYS = ("__ndarray__", "__items__", "__tuple__")


def split_arrays(obj: Any, prefix: str = "s") -> tuple[Any, dict[str, np.ndarray]]:
    """Return ``(skeleton, arrays)``; ``skeleton`` holds only JSON types."""
    arrays: dict[str, np.ndarray] = {}

    def walk(x: Any, path: str) -> Any:
        if hasattr(x, "data") and isinstance(getattr(x, "data", None), np.ndarray) and not isinstance(x, np.ndarray):
            x = x.data  # a Tensor
        if isinstance(x, np.ndarray):
            if x.dtype == object:
                raise TypeError(f"cannot serialise object array at {path}")
            key = path
            arrays[key] = np.require(x, requirements="C")  # keeps 0-d arrays 0-d
            return {"__ndarray__": key}
        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, dict):
            if all(isinstance(k, str) for k in x) and not any(k in _SCALAR_KEYS for k in x):
                return {k: walk(v, f"{path}.{k}") for k, v in x.items()}
            items = []
            for i, (k, v) in enumerate(x.items()):
                if not isinstance(k, (str, int, float, bool)) and k is not None:
                    raise TypeError(f"cannot serialise dict key {k!r} at {path}")
                items.append([k.item() if isinstance(k, np.generic) else k, walk(v, f"{path}.{k}")])
            return {"__items__": items}
        if isinstance(x, tuple):
            return {"__tuple__": [walk(v, f"{path}.{i}") for i, v in enumerate(x)]}
        if isinstance(x, list):
            return [walk(v, f"{path}.{i}") for i, v in enumerate(x)]
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        raise TypeError(f"cannot serialise {type(x).__name__} at {path} (no pickle: only arrays, numbers, "
                        "strings, lists, tuples and dicts)")

    return walk(obj, prefix), arrays


def join_arrays(skeleton: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Inverse of ``split_arrays``; raises ``ValueError`` when a referenced array is missing."""

    def walk(x: Any) -> Any:
        if isinstance(x, dict):
            if set(x) == {"__ndarray__"}:
                key = x["__ndarray__"]
                if key not in arrays:
                    raise ValueError(f"training state is damaged: array {key!r} is missing")
                return np.array(arrays[key], copy=True)
            if set(x) == {"__items__"}:
                return {k: walk(v) for k, v in x["__items__"]}
            if set(x) == {"__tuple__"}:
                return tuple(walk(v) for v in x["__tuple__"])
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        return x

    return walk(skeleton)
