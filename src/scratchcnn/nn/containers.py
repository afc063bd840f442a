"""Containers: Sequential (a chain), ModuleList and ModuleDict (registered collections)."""
from __future__ import annotations

import operator
from collections import OrderedDict
from itertools import chain
from typing import Any, Iterable, Iterator, Mapping

from .module import Module, _addindent


def _index(idx: int, n: int, who: str) -> int:
    try:
        idx = operator.index(idx)   # ints and NumPy integers, like PyTorch
    except TypeError:
        raise TypeError(f"{who} indices must be integers or slices, got {type(idx).__name__}") from None
    if not -n <= idx < n:
        raise IndexError(f"{who} index {idx} is out of range for length {n}")
    return idx % n


def _check_module(module: Any, who: str) -> None:
    if not isinstance(module, Module):
        raise TypeError(f"{who}: {type(module).__name__} is not a Module subclass")


def _check_iterable(modules: Any, who: str) -> None:
    if not isinstance(modules, Iterable):
        raise TypeError(f"{who} should be called with an iterable of modules, but got {type(modules).__name__}")


class _Pop:
    """``pop(key)``: remove the item at ``key`` (an index, a slice or a ModuleDict key) and return it (PyTorch's
    ``pop`` of Sequential, ModuleList and ModuleDict: ``self[key]``, then ``del self[key]``)."""

    def pop(self, key: Any) -> Any:
        value = self[key]  # type: ignore[index]
        del self[key]  # type: ignore[attr-defined]
        return value


class Sequential(_Pop, Module):
    """Modules applied one after another: ``Sequential(Conv2d(...), ReLU())`` or ``Sequential(OrderedDict(...))``.

    Children are named ``"0"``, ``"1"``, ... (or by the OrderedDict's keys), like PyTorch.
    """

    def __init__(self, *args: Module):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], (OrderedDict, dict)):
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def __getitem__(self, idx: int | slice) -> Any:
        items = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(items[idx]))
        return items[_index(idx, len(items), "Sequential")][1]

    def __setitem__(self, idx: int, module: Module) -> None:
        key = list(self._modules)[_index(idx, len(self._modules), "Sequential")]
        self.add_module(key, module)

    def __delitem__(self, idx: int | slice) -> None:
        keys = list(self._modules)
        targets = keys[idx] if isinstance(idx, slice) else [keys[_index(idx, len(keys), "Sequential")]]
        for k in targets:
            del self._modules[k]
        if all(k.isdigit() for k in self._modules):  # keep PyTorch's contiguous numbering
            mods = list(self._modules.values())
            self._modules.clear()
            for i, m in enumerate(mods):
                self._modules[str(i)] = m

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> "Sequential":
        """Add ``module`` at the end (named by its position)."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> "Sequential":
        _check_iterable(modules, "Sequential.extend")
        for m in modules:
            self.append(m)
        return self

    def __add__(self, other: "Sequential") -> "Sequential":
        """A new Sequential of this one's modules then ``other``'s (the same module objects, like PyTorch)."""
        if not isinstance(other, Sequential):
            return NotImplemented
        return Sequential(*self, *other)

    def __iadd__(self, other: "Sequential") -> "Sequential":
        if not isinstance(other, Sequential):
            return NotImplemented
        return self.extend(list(other))

    def __mul__(self, times: int) -> "Sequential":
        """A new Sequential repeating these modules ``times`` times (shared objects, like PyTorch)."""
        if not isinstance(times, int) or isinstance(times, bool):
            return NotImplemented
        if times <= 0:
            raise ValueError(f"Sequential: non-positive multiplication factor {times}")
        return Sequential(*(list(self) * times))

    __rmul__ = __mul__

    def __imul__(self, times: int) -> "Sequential":
        if not isinstance(times, int) or isinstance(times, bool):
            return NotImplemented
        if times <= 0:
            raise ValueError(f"Sequential: non-positive multiplication factor {times}")
        return self.extend(list(self) * (times - 1))

    def insert(self, index: int, module: Module) -> "Sequential":
        """Insert ``module`` before position ``index`` (negative counts from the end, like ``list.insert``)."""
        _check_module(module, "Sequential.insert")
        index = operator.index(index)
        mods = list(self._modules.values())
        n = len(mods)
        if not -n <= index <= n:
            raise IndexError(f"Sequential.insert: index {index} is out of range for length {n}")
        mods.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(mods):
            self.add_module(str(i), m)
        return self

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x


class ModuleList(_Pop, Module):
    """A list of modules whose parameters are registered (children named ``"0"``, ``"1"``, ...)."""

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx: int | slice) -> Any:
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return ModuleList(mods[idx])
        return mods[_index(idx, len(mods), "ModuleList")]

    def __setitem__(self, idx: int, module: Module) -> None:
        self.add_module(str(_index(idx, len(self), "ModuleList")), module)

    def __delitem__(self, idx: int | slice) -> None:
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            del mods[idx]
        else:
            del mods[_index(idx, len(mods), "ModuleList")]
        self._modules.clear()
        for i, m in enumerate(mods):
            self._modules[str(i)] = m

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable[Module]) -> "ModuleList":
        return self.extend(modules)

    def append(self, module: Module) -> "ModuleList":
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> "ModuleList":
        _check_iterable(modules, "ModuleList.extend")
        for m in modules:
            self.append(m)
        return self

    def __add__(self, other: Iterable[Module]) -> "ModuleList":
        """A new ModuleList of this one's modules then ``other``'s (the same module objects, like PyTorch)."""
        if not isinstance(other, Iterable):
            return NotImplemented
        return ModuleList(chain(self, other))

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index`` (``list.insert`` semantics)."""
        _check_module(module, "ModuleList.insert")
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(mods):
            self.add_module(str(i), m)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleList has no forward(); iterate over it instead")

    def __repr__(self) -> str:
        """PyTorch's ModuleList repr: runs of identical entries collapse to ``(0-2): 3 x Linear(...)``."""
        reprs = [repr(m) for m in self]
        if not reprs:
            return self._get_name() + "()"
        lines = []
        start = 0
        for i in range(1, len(reprs) + 1):
            if i < len(reprs) and reprs[i] == reprs[start]:
                continue
            if i - 1 == start:
                line = f"({start}): {reprs[start]}"
            else:
                line = f"({start}-{i - 1}): {i - start} x {reprs[start]}"
            lines.append(_addindent(line, 2))
            start = i
        extra = self.extra_repr()
        lines = (extra.split("\n") if extra else []) + lines
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(_Pop, Module):
    """A dict of modules whose parameters are registered under their keys."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def clear(self) -> None:
        """Remove every module."""
        self._modules.clear()

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add (or replace) modules from a mapping, a ModuleDict or an iterable of ``(key, module)`` pairs."""
        if isinstance(modules, (Mapping, ModuleDict)):
            for k, m in modules.items():
                self.add_module(k, m)
            return
        if not isinstance(modules, Iterable):
            raise TypeError("ModuleDict.update should be called with a mapping or an iterable of (key, module) "
                            f"pairs, but got {type(modules).__name__}")
        for j, pair in enumerate(modules):
            if not isinstance(pair, Iterable) or isinstance(pair, (str, bytes)):
                raise TypeError(f"ModuleDict update sequence element #{j} should be a (key, module) pair, "
                                f"got {type(pair).__name__}")
            pair = tuple(pair)
            if len(pair) != 2:
                raise ValueError(f"ModuleDict update sequence element #{j} has length {len(pair)}; 2 is required")
            self.add_module(pair[0], pair[1])

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleDict has no forward(); index it instead")


__all__ = ["Sequential", "ModuleList", "ModuleDict"]
