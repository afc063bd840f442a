"""Function: the unit of differentiation. ``forward(ctx, ...)`` and ``backward(ctx, grad)`` live side by side.

A Function works on raw arrays. ``apply`` unwraps Tensor arguments, runs ``forward``, and (when any input
requires grad and grad mode is on) records a node so that ``Tensor.backward`` can call ``backward`` later.
``backward`` returns one gradient per positional argument of ``forward`` (``None`` where there is none).
"""
from __future__ import annotations

import functools
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
    """A recorded call: the Function class, its context and the input Tensors (or None for non-tensors)."""

    __slots__ = ("fn", "ctx", "inputs", "freed")

    def __init__(self, fn: type, ctx: Context, inputs: tuple):
        self.fn = fn
        self.ctx = ctx
        self.inputs = inputs
        self.freed = False

    @property
    def name(self) -> str:
        return self.fn.__name__ + "Backward"


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
        any_grad = False
        for a in args:
            if isinstance(a, Tensor):
                raw.append(a.data)
                rg = a.requires_grad
                needs.append(rg)
                any_grad = any_grad or rg
            else:
                raw.append(a)
                needs.append(False)
        record = any_grad and is_grad_enabled()
        # not recorded (no_grad, or nothing requires grad): no backward will run, so forward skips its
        # backward-only work (saved columns, argmax indices, masks)
        ctx = Context(tuple(needs) if record else (False,) * len(needs))
        out = cls.forward(ctx, *raw, **kwargs)
        if record and getattr(out, "dtype", None) is not None and out.dtype.kind not in "fc":
            record = False      # an integer/bool result is not differentiable (PyTorch: requires_grad False)
        t = Tensor._wrap(out, record)
        if record:
            t._node = Node(cls, ctx, tuple(a if isinstance(a, Tensor) else None for a in args))
        return t


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
