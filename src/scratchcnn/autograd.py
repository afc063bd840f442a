"""Function: the unit of differentiation. ``forward(ctx, ...)`` and ``backward(ctx, grad)`` live side by side.

A Function works on raw arrays. ``apply`` unwraps Tensor arguments, runs ``forward``, and (when any input
requires grad and grad mode is on) records a node so that ``Tensor.backward`` can call ``backward`` later.
``backward`` returns one gradient per positional argument of ``forward`` (``None`` where there is none).
"""
from __future__ import annotations

import functools
import operator
import threading
from typing import Any, Callable

import numpy as np

_state = threading.local()


def is_grad_enabled() -> bool:
    """True unless inside ``no_grad()``."""
    return getattr(_state, "enabled", True)


class _GradMode:
    """A grad mode for a block or a function: ``with`` it, or decorate with it (each call gets its own save and
    restore, so recursion and threads are safe); the previous mode comes back at the end."""

    mode: bool

    def __enter__(self) -> "_GradMode":
        self._prev = is_grad_enabled()
        _state.enabled = self.mode
        return self

    def __exit__(self, *exc: Any) -> bool:
        _state.enabled = self._prev
        return False

    def __call__(self, fn: Callable) -> Callable:
        mode = self.mode

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with _Mode(mode):
                return fn(*args, **kwargs)
        return run


class _Mode(_GradMode):
    def __init__(self, mode: bool) -> None:
        self.mode = mode


class set_grad_enabled(_GradMode):
    """Turn graph recording on or off. Called on its own it sets the mode from then on (like
    ``torch.set_grad_enabled(False)``); as a context manager or decorator the previous mode is restored after."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._prev = is_grad_enabled()
        _state.enabled = self.mode

    def __enter__(self) -> "set_grad_enabled":   # the mode before the call is what __exit__ restores
        _state.enabled = self.mode
        return self

    def __call__(self, fn: Callable) -> Callable:
        _state.enabled = self._prev          # decorating must not change the mode now (PyTorch's rule)
        return super().__call__(fn)


class _NoArgMode(_GradMode):
    """``no_grad()`` / ``enable_grad()``; also usable bare as a decorator (``@no_grad``), like PyTorch."""

    def __new__(cls, fn: Callable | None = None):
        self = super().__new__(cls)
        return self if fn is None else _GradMode.__call__(self, fn)

    def __init__(self, fn: Callable | None = None) -> None:
        pass


class no_grad(_NoArgMode):
    """Context manager and decorator that disables graph recording."""

    mode = False


class enable_grad(_NoArgMode):
    """Context manager and decorator that enables graph recording (e.g. inside ``no_grad``)."""

    mode = True


class Context:
    """Per-call scratch space: ``save_for_backward`` stores arrays, attributes store anything else."""

    __slots__ = ("saved", "needs_input_grad", "__dict__")

    def __init__(self, needs_input_grad: tuple[bool, ...]):
        self.saved: tuple = ()
        self.needs_input_grad = needs_input_grad

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved = arrays


class Node:
    """A recorded call: the Function class, its context, the input Tensors (or None for non-tensors) and their
    ``_version`` when the call ran (0 for non-tensors), which ``Tensor.backward`` compares before ``backward``."""

    __slots__ = ("fn", "ctx", "inputs", "versions", "freed")

    def __init__(self, fn: type, ctx: Context, inputs: tuple, versions: tuple = ()):
        self.fn = fn
        self.ctx = ctx
        self.inputs = inputs
        self.versions = versions or (0,) * len(inputs)
        self.freed = False

    @property
    def name(self) -> str:
        return self.fn.__name__ + "Backward"

    def _check_versions(self) -> None:
        """Raise PyTorch's RuntimeError when an input was modified in place (its ``_version`` moved) since this
        call was recorded AND the call's saved state still references that input's memory (so ``backward``
        would read the new values). A moved version whose memory was not saved (``add``, an embedding lookup,
        a ``.data`` rebound to a new array) is harmless and passes, like PyTorch's check of saved tensors only."""
        for i, (inp, v) in enumerate(zip(self.inputs, self.versions)):
            if inp is None:
                continue
            now = inp._version if inp._base is None else inp._base._version
            if now == v or not _saved_references(self.ctx, inp.data):
                continue
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an inplace operation: "
                f"[{inp.data.dtype} tensor of shape {tuple(inp.data.shape)}], input {i} of {self.name}, is at "
                f"version {now}; expected version {v} instead. Hint: the tensor was changed in place "
                "(e.g. by optimizer.step()) between the forward pass and backward(); call backward() before the "
                "update, or recompute the forward pass after it.")


def _saved_references(ctx: Context, arr: Any) -> bool:
    """Whether anything ``ctx`` keeps for backward (saved arrays, attributes, tuples/lists/dicts of them, Tensors)
    shares memory with ``arr``. Only runs after a version moved, so its cost is off the hot path."""
    from .tensor import Tensor

    if not isinstance(arr, np.ndarray) or arr.size == 0:
        return False
    stack: list = [ctx.saved, list(getattr(ctx, "__dict__", {}).values())]
    seen = 0
    while stack and seen < 10_000:
        obj = stack.pop()
        seen += 1
        if isinstance(obj, np.ndarray):
            if obj.size and np.may_share_memory(obj, arr):
                try:
                    if np.shares_memory(obj, arr, max_work=1_000_000):
                        return True
                except np.exceptions.TooHardError:   # undecidable cheaply: assume shared (never silently wrong)
                    return True
        elif isinstance(obj, (tuple, list)):
            stack.extend(obj)
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, Tensor):   # a Tensor kept on ctx (e.g. a fused ReLU's output)
            stack.append(obj.data)
    return False


class Function:
    """Base class of every differentiable op. Subclasses define static ``forward`` and ``backward``."""

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: np.ndarray) -> tuple:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any):
        from .tensor import Tensor

        raw = []
        needs = []
        tens = []
        vers = []
        any_grad = False
        for a in args:
            if isinstance(a, Tensor):
                raw.append(a.data)
                rg = a._requires_grad
                needs.append(rg)
                tens.append(a)
                vers.append(a._version if a._base is None else a._base._version)
                any_grad = any_grad or rg
            else:
                raw.append(a)
                needs.append(False)
                tens.append(None)
                vers.append(0)
        record = any_grad and is_grad_enabled()
        # not recorded (no_grad, or nothing requires grad): no backward will run, so forward skips its
        # backward-only work (saved columns, argmax indices, masks)
        ctx = Context(tuple(needs) if record else (False,) * len(needs))
        out = cls.forward(ctx, *raw, **kwargs)
        if record and getattr(out, "dtype", None) is not None and out.dtype.kind not in "fc":
            record = False      # an integer/bool result is not differentiable (PyTorch: requires_grad False)
        t = Tensor._wrap(out, record)
        ob = getattr(out, "base", None)
        if ob is not None:    # a view of an input's memory (transpose, reshape, index): it shares that version
            for a in tens:
                if a is not None and (ob is a.data or ob is a.data.base):
                    root = a if a._base is None else a._base
                    if root._node is None:   # only leaves are modified in place (and they hold no graph alive)
                        t._base = root
                    break
        if record:
            t._node = Node(cls, ctx, tuple(tens), tuple(vers))
        return t


def wrap_dim(dim: Any, ndim: int, name: str) -> int:
    """``dim`` as an index in ``range(max(ndim, 1))``; a negative one counts from the end. Out of range raises
    PyTorch's IndexError (a 0-d tensor takes 0 and -1, as in PyTorch) instead of wrapping around modulo ``ndim``."""
    n = ndim if ndim else 1
    d = operator.index(dim)
    if not -n <= d < n:
        raise IndexError(f"{name}: dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {d})")
    return d + n if d < 0 else d


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched, so it has ``shape``."""
    if grad.shape == shape:
        return grad
    ndim_extra = grad.ndim - len(shape)
    if ndim_extra > 0:
        grad = grad.sum(axis=tuple(range(ndim_extra)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)
