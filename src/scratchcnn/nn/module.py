"""Module: the base of every layer and model (PyTorch's ``torch.nn.Module``).

Assigning a Parameter, a Module or (after ``register_buffer``) a Tensor to an attribute registers it, so that
``parameters()``, ``state_dict()``, ``train()``/``eval()`` and ``repr`` see the whole tree. Names are PyTorch's
dotted names (``features.0.weight``), so PyTorch ``state_dict``s load directly.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Iterator, NamedTuple

import numpy as np

from ..tensor import Tensor
from .parameter import Parameter


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` could not match (PyTorch's ``_IncompatibleKeys``)."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"IncompatibleKeys(missing_keys={self.missing_keys!r}, unexpected_keys={self.unexpected_keys!r})"


class RemovableHandle:
    """Returned by ``register_forward_hook``; ``remove()`` (or leaving a ``with handle:`` block) unregisters the
    hook."""

    _next_id = 0

    def __init__(self, hooks: dict, extra: set | None = None):
        self._hooks = hooks
        self._extra = extra
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self._hooks.pop(self.id, None)
        if self._extra is not None:
            self._extra.discard(self.id)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


def _as_array(value: Any) -> np.ndarray:
    """ndarray view of a Tensor, an ndarray, a PyTorch tensor (duck-typed, no torch import) or array-like."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "numpy"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _addindent(s: str, n: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


class Module:
    """Base class for layers and models: subclasses set attributes in ``__init__`` and define ``forward``.

    Example:
        >>> class Net(Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc = Linear(4, 2)
        ...     def forward(self, x):
        ...         return self.fc(x)
    """

    training: bool

    def __init__(self) -> None:
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent_buffers"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()
        d["_forward_hooks_with_kwargs"] = set()
        d["_forward_pre_hooks_with_kwargs"] = set()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._forward_pre_hooks or self._forward_hooks:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        d = self.__dict__
        kw_pre = d.get("_forward_pre_hooks_with_kwargs", ())
        for hid, hook in list(self._forward_pre_hooks.items()):
            if hid in kw_pre:
                res = hook(self, args, kwargs)
                if res is not None:
                    if not (isinstance(res, tuple) and len(res) == 2):
                        raise TypeError(f"forward pre-hook of {type(self).__name__} registered with_kwargs=True must "
                                        f"return None or a tuple (new_args, new_kwargs), got {type(res).__name__}")
                    args, kwargs = res
            else:
                res = hook(self, args)
                if res is not None:
                    args = res if isinstance(res, tuple) else (res,)
        out = self.forward(*args, **kwargs)
        kw_post = d.get("_forward_hooks_with_kwargs", ())
        for hid, hook in list(self._forward_hooks.items()):
            res = hook(self, args, kwargs, out) if hid in kw_post else hook(self, args, out)
            if res is not None:
                out = res
        return out

    # ------------------------------------------------------------------ registration
    def _check_init(self, what: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {what} before Module.__init__() call "
                                 f"(call super().__init__() first in {type(self).__name__}.__init__)")

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            self._check_init("parameters")
            self._remove_from(name, keep="_parameters")
            params[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter '{name}' "
                                "(scratchcnn.nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            self._check_init("child modules")
            self._remove_from(name, keep="_modules")
            d["_modules"][name] = value
        elif "_modules" in d and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module '{name}' "
                                "(Module or None expected)")
            d["_modules"][name] = None
        elif "_buffers" in d and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer '{name}' (Tensor or None expected)")
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _remove_from(self, name: str, keep: str) -> None:
        d = self.__dict__
        d.pop(name, None)
        for key in ("_parameters", "_buffers", "_modules"):
            if key != keep:
                d[key].pop(name, None)
        d["_non_persistent_buffers"].discard(name)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            store = d.get(key)
            if store is not None and name in store:
                return store[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if name in d.get(key, ()):
                del d[key][name]
                d["_non_persistent_buffers"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        keys = set(super().__dir__())
        for key in ("_parameters", "_buffers", "_modules"):
            keys.update(self.__dict__.get(key, {}))
        return sorted(keys)

    @staticmethod
    def _check_name(name: Any, kind: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"{kind} name can't be empty or contain '.', got {name!r}")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or a None placeholder, e.g. ``bias=False``) under ``name``."""
        self._check_init("parameters")
        self._check_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} as parameter '{name}' "
                            "(scratchcnn.nn.Parameter or None expected)")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a non-learnable state tensor (e.g. BatchNorm's running mean); persistent ones go in state_dict."""
        self._check_init("buffers")
        self._check_name(name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign {type(tensor).__name__} as buffer '{name}' (Tensor or None expected)")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        """Add a child module under ``name`` (same as attribute assignment)."""
        self._check_init("child modules")
        self._check_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def _add_hook(self, hooks: str, hook: Callable, prepend: bool, with_kwargs: bool) -> RemovableHandle:
        if not callable(hook):
            raise TypeError(f"hook must be callable, got {type(hook).__name__}")
        kw_ids = self.__dict__.setdefault(hooks + "_with_kwargs", set())
        store = self.__dict__[hooks]
        h = RemovableHandle(store, kw_ids)
        store[h.id] = hook
        if prepend:
            store.move_to_end(h.id, last=False)
        if with_kwargs:
            kw_ids.add(h.id)
        return h

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False,
                              with_kwargs: bool = False) -> RemovableHandle:
        """``hook(module, inputs, output)`` runs after ``forward``; a non-None return replaces the output.
        ``with_kwargs=True``: ``hook(module, inputs, kwargs, output)``; ``prepend=True`` runs it first."""
        return self._add_hook("_forward_hooks", hook, prepend, with_kwargs)

    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """``hook(module, inputs)`` runs before ``forward``; a non-None return replaces the inputs.
        ``with_kwargs=True``: ``hook(module, inputs, kwargs)`` may return ``(new_inputs, new_kwargs)``;
        ``prepend=True`` runs it first."""
        return self._add_hook("_forward_pre_hooks", hook, prepend, with_kwargs)

    # ------------------------------------------------------------------ traversal
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, "Module"]]:
        """(name, module) for this module and every descendant, pre-order; shared modules appear once."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        seen: set[int] = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, store: str, prefix: str, recurse: bool,
                       remove_duplicate: bool) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, t in getattr(mod, store).items():
                if t is None or (remove_duplicate and id(t) in seen):
                    continue
                seen.add(id(t))
                yield mod_prefix + ("." if mod_prefix else "") + name, t

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, Parameter) pairs; a parameter shared by two layers appears once (first name)."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> "Module":
        """The module at dotted path ``target`` (``""`` is this module)."""
        mod = self
        if target:
            for part in target.split("."):
                if not isinstance(mod, Module) or part not in mod._modules:
                    raise AttributeError(f"{type(self).__name__} has no submodule '{target}' (failed at '{part}')")
                mod = mod._modules[part]
            if mod is None:
                raise AttributeError(f"{type(self).__name__}: submodule '{target}' is None, not a Module")
        return mod

    def _get_member(self, target: str, store: str, kind: str) -> Tensor:
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if name not in mod.__dict__[store]:
            raise AttributeError(f"{type(self).__name__} has no {kind} '{target}' "
                                 f"({mod._get_name()} has no {kind} '{name}')")
        return mod.__dict__[store][name]

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted path ``target`` (e.g. ``"features.0.weight"``)."""
        p = self._get_member(target, "_parameters", "parameter")
        if p is None:
            raise AttributeError(f"{type(self).__name__}: parameter '{target}' is None, not a Parameter")
        return p

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at dotted path ``target`` (e.g. ``"bn.running_mean"``)."""
        return self._get_member(target, "_buffers", "buffer")

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of scalar parameters (shared ones counted once)."""
        return int(sum(p.data.size for p in self.parameters() if p.requires_grad or not trainable_only))

    # ------------------------------------------------------------------ modes and gradients
    def train(self, mode: bool = True) -> "Module":
        """Set training mode (BatchNorm uses batch statistics, Dropout drops) here, then call every child's own
        ``train(mode)``, like PyTorch: a child that overrides ``train`` (e.g. to keep its BatchNorm frozen) is
        honoured."""
        if not isinstance(mode, bool):
            raise ValueError(f"training mode is expected to be a bool, got {type(mode).__name__}")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of all parameters (set them to None, or to zeros in place)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.fill(0)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Freeze (False) or unfreeze (True) every parameter of this module."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def apply(self, fn: Callable[["Module"], Any]) -> "Module":
        """Call ``fn`` on every child (recursively) and then on this module, e.g. for custom init."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def to(self, dtype: Any) -> "Module":
        """Cast floating parameters and buffers to ``dtype`` (e.g. ``np.float64``), keeping the objects."""
        dt = np.dtype(dtype)
        if dt.kind != "f":
            raise TypeError(f"Module.to: expected a floating dtype, got {dt}")
        for t in list(self.parameters()) + list(self.buffers()):
            if t.data.dtype.kind == "f" and t.data.dtype != dt:
                t.data = t.data.astype(dt)
                if t.grad is not None:
                    t.grad = t.grad.astype(dt)
        return self

    def double(self) -> "Module":
        return self.to(np.float64)

    def float(self) -> "Module":
        return self.to(np.float32)

    # ------------------------------------------------------------------ state dict
    def _state_items(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """Every persistent tensor in PyTorch's state_dict order (own params, own buffers, then children)."""
        for name, p in self._parameters.items():
            if p is not None:
                yield prefix + name, p
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers:
                yield prefix + name, b
        for name, m in self._modules.items():
            if m is not None:
                yield from m._state_items(prefix + name + ".")

    def state_dict(self, prefix: str = "", keep_vars: bool = False) -> "OrderedDict[str, Any]":
        """Copies (ndarrays) of all parameters and persistent buffers, keyed exactly like PyTorch's
        ``state_dict``; ``keep_vars=True`` gives the live Parameter/Tensor objects instead."""
        if keep_vars:
            return OrderedDict(self._state_items(prefix))
        return OrderedDict((k, np.array(t.data, copy=True)) for k, t in self._state_items(prefix))

    def _optional_state_keys(self, prefix: str, version: int | None) -> set[str]:
        """Keys of this module's own state that a state_dict may lack (they keep their value): PyTorch's
        ``_load_from_state_dict`` upgrades of older formats. ``version`` is the state_dict's ``_metadata``
        version for this module, None for a plain dict. Empty by default."""
        return set()

    def _optional_keys(self, state_dict: Any) -> set[str]:
        """Every module's ``_optional_state_keys``, with PyTorch's ``_metadata`` versions when present."""
        meta = getattr(state_dict, "_metadata", None) or {}
        keys: set[str] = set()
        for name, m in self.named_modules(remove_duplicate=False):
            keys |= m._optional_state_keys(name + "." if name else "", meta.get(name, {}).get("version"))
        return keys

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> IncompatibleKeys:
        """Copy values into the existing parameters/buffers in place, keeping their dtype.

        Values may be ndarrays, Tensors, PyTorch tensors or anything ``np.asarray`` accepts. Shape mismatches
        always raise ``ValueError`` (nothing is copied then); missing and unexpected keys raise in strict mode
        and are returned otherwise. Keys a module marks optional (BatchNorm's ``num_batches_tracked`` in a
        state_dict without version metadata, as PyTorch) may be absent: they keep their value.
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"load_state_dict: expected a mapping of names to arrays, got {type(state_dict).__name__}")
        own = OrderedDict(self._state_items())
        optional = self._optional_keys(state_dict)
        missing = [k for k in own if k not in state_dict and k not in optional]
        unexpected = [k for k in state_dict.keys() if k not in own]
        mismatched: list[str] = []
        values: list[tuple[Tensor, np.ndarray]] = []
        for key, t in own.items():
            if key not in state_dict:
                continue
            arr = _as_array(state_dict[key])
            if t.data.shape == () and arr.shape == (1,):
                arr = arr.reshape(())   # a 0-d entry saved as one element (older PyTorch files; PyTorch reads it)
            if arr.shape != t.data.shape:
                mismatched.append(f"size mismatch for {key}: expected shape {t.data.shape}, got {arr.shape}")
                continue
            values.append((t, arr))
        errors = list(mismatched)
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(repr(k) for k in unexpected))
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(repr(k) for k in missing))
        if errors:
            raise ValueError(f"Error(s) in loading state_dict for {type(self).__name__}:\n  " + "\n  ".join(errors))
        for t, arr in values:
            np.copyto(t.data, arr, casting="unsafe")
            t._version += 1     # torch's param.copy_: a graph that saved the old values then refuses backward
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ repr
    def extra_repr(self) -> str:
        """One line of layer settings shown inside the parentheses of ``repr`` (override in layers)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _addindent(repr(m), 2) for name, m in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                body = extra_lines[0]
            else:
                body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"


__all__ = ["Module", "IncompatibleKeys", "RemovableHandle"]
