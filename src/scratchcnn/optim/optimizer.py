"""Optimizer base: parameter groups with defaults, per-parameter state, PyTorch-shaped state_dict.

Subclasses implement ``step()``; updates change ``param.data`` IN PLACE (layers, hooks and checkpoints hold
references to these arrays) and bump ``param._version`` as torch's in-place ops do, so a ``backward()`` through a
graph that saved the old values raises instead of computing gradients with the new ones. ``_scratch`` gives per-parameter work arrays so steps allocate nothing.
"""
from __future__ import annotations

import copy
import warnings
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ..autograd import set_grad_enabled
from ..tensor import Tensor


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()
"""Marks a hyper-parameter that has no default and must be given per group or to the constructor."""


def check_range(name: str, what: str, value: Any, low: float = 0.0) -> None:
    """torch's ``if not low <= value: raise ValueError(...)`` (NaN fails too)."""
    if not low <= value:
        raise ValueError(f"{name}: invalid {what} value: {value} (expected >= {low:g})")


def check_betas(name: str, betas: Any) -> tuple[float, float]:
    """Two betas, each in [0, 1) (torch's check, index by index)."""
    betas = tuple(betas)
    if len(betas) != 2:
        raise ValueError(f"{name}: expected two betas, got {betas}")
    for i, b in enumerate(betas):
        if not 0.0 <= b < 1.0:
            raise ValueError(f"{name}: invalid beta parameter at index {i}: {b} (expected in [0, 1))")
    return betas


def check_adam_args(name: str, lr: float, eps: float, betas: Any, weight_decay: float) -> tuple[float, float]:
    """The checks every Adam-family optimiser makes, in torch's order (learning rate, epsilon, betas, weight
    decay); returns the betas as a tuple."""
    check_range(name, "learning rate", lr)
    check_range(name, "epsilon", eps)
    betas = check_betas(name, betas)
    check_range(name, "weight_decay", weight_decay)
    return betas


class Optimizer:
    """Base class. ``params`` is an iterable of Tensors or of dicts ``{"params": [...], "lr": ..., ...}``.

    Attributes:
        defaults: hyper-parameters used where a group does not set its own.
        param_groups: list of dicts, each with ``"params"`` (list of Tensors) and every hyper-parameter.
        state: dict mapping a parameter to its state dict (e.g. ``exp_avg``), created lazily on its first step.
    """

    _scalar_state_keys: frozenset[str] = frozenset({"step", "mu_product"})
    """State entries that are Python numbers (torch saves them as 0-d tensors); every other 0-d array loaded for
    a 0-d parameter stays an array, updated in place like any state array."""

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]):
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        self._scratch_bufs: dict[tuple[int, int], np.ndarray] = {}
        if isinstance(params, (Tensor, np.ndarray)):
            raise TypeError(f"{type(self).__name__}: params argument given to the optimizer should be an iterable "
                            f"of Tensors or dicts, but got {type(params).__name__}")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (e.g. a newly unfrozen layer) with its own hyper-parameters."""
        if not isinstance(param_group, dict):
            raise TypeError(f"{type(self).__name__}: a param group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if params is None:
            raise ValueError(f"{type(self).__name__}: a param group needs a 'params' entry")
        if isinstance(params, (set, frozenset)):   # torch's check: state_dict indices must not change between runs
            raise TypeError(f"{type(self).__name__}: optimizer parameters need to be organized in ordered "
                            "collections, but the ordering of tensors in sets will change between runs; "
                            "use a list instead")
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} can only optimize Tensors, got {type(p).__name__}")
            if p.dtype.kind != "f":
                raise TypeError(f"{type(self).__name__} can only optimize floating tensors, got dtype {p.dtype}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__} can't optimize a non-leaf Tensor")
        if len({id(p) for p in params}) != len(params):
            warnings.warn(f"{type(self).__name__}: a parameter group contains duplicate parameters; "
                          "they are kept once", UserWarning, stacklevel=3)
            seen: set[int] = set()
            params = [p for p in params if not (id(p) in seen or seen.add(id(p)))]
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"{type(self).__name__}: parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            group.setdefault(name, default)
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if existing & {id(p) for p in params}:
            raise ValueError(f"{type(self).__name__}: some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of all optimised parameters (None, or zeros in place)."""
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad.fill(0)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _with_grads(self, group: dict) -> Iterator[tuple[Tensor, np.ndarray, dict]]:
        """(parameter, its gradient, its state dict) for every parameter of ``group`` that has a gradient; the
        state dict is created empty on first use (each optimiser fills it when ``not state``)."""
        for p in group["params"]:
            if p.grad is not None:
                yield p, p.grad, self.state.setdefault(p, {})

    def _closure(self, closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        with set_grad_enabled(True):
            return closure()

    def _scratch(self, p: Tensor, slot: int = 0) -> np.ndarray:
        """A reusable work array shaped like ``p.data`` (not part of the state)."""
        key = (id(p), slot)
        buf = self._scratch_bufs.get(key)
        if buf is None or buf.shape != p.data.shape or buf.dtype != p.data.dtype:
            buf = np.empty_like(p.data)
            self._scratch_bufs[key] = buf
        return buf

    # ------------------------------------------------------------------ state dict
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {name: value}}, "param_groups": [{hyper-params..., "params": [indices]}]}``
        with parameters numbered across groups in order (PyTorch's layout); arrays are copies."""
        index: dict[int, int] = {}
        groups = []
        for g in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in g.items() if k != "params"}
            ids = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for p, s in self.state.items():
            if id(p) in index:
                state[index[id(p)]] = {k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else copy.deepcopy(v))
                                       for k, v in s.items()}
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyper-parameters and state saved by ``state_dict`` (float arrays take each parameter's dtype).

        Raises ValueError when the number of groups or of parameters per group differs.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: loaded state dict has {len(saved_groups)} parameter groups, "
                             f"the optimizer has {len(self.param_groups)}")
        id_map: dict[int, Tensor] = {}
        for i, (g, sg) in enumerate(zip(self.param_groups, saved_groups)):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError(f"{name}.load_state_dict: parameter group {i} has {len(sg['params'])} parameters "
                                 f"in the state dict but {len(g['params'])} in the optimizer")
            for idx, p in zip(sg["params"], g["params"]):
                id_map[int(idx)] = p
        new_state: dict[Tensor, dict[str, Any]] = {}
        for k, s in state_dict["state"].items():
            k = int(k)
            if k not in id_map:
                raise ValueError(f"{name}.load_state_dict: state for unknown parameter index {k}")
            p = id_map[k]
            entry = {}
            for key, v in s.items():
                arr = v.data if isinstance(v, Tensor) else v
                if not isinstance(arr, np.ndarray) and hasattr(arr, "detach") and hasattr(arr, "numpy"):
                    arr = arr.detach().cpu().numpy()  # a PyTorch tensor (duck-typed, torch is not imported)
                keep_array = isinstance(arr, np.ndarray) and (
                    arr.ndim > 0 or (p.data.ndim == 0 and key not in self._scalar_state_keys))
                if keep_array:
                    if arr.shape != p.data.shape:
                        raise ValueError(f"{name}.load_state_dict: state '{key}' of parameter {k} has shape "
                                         f"{arr.shape}, expected {p.data.shape}")
                    entry[key] = np.array(arr, dtype=p.data.dtype if arr.dtype.kind == "f" else arr.dtype, copy=True)
                elif isinstance(arr, np.ndarray):
                    entry[key] = arr.item()
                else:
                    entry[key] = copy.deepcopy(arr)
            new_state[p] = entry
        for g, sg in zip(self.param_groups, saved_groups):
            for key, v in sg.items():
                if key != "params":
                    g[key] = copy.deepcopy(v)
        self.state = new_state

    def __repr__(self) -> str:
        s = type(self).__name__ + " ("
        for i, g in enumerate(self.param_groups):
            s += f"\nParameter Group {i}"
            for k in sorted(g):
                if k != "params":
                    s += f"\n    {k}: {g[k]}"
        return s + "\n)"


__all__ = ["Optimizer", "required"]
