"""Function: the unit of differentiation. ``forward(ctx, ...)`` and ``backward(ctx, grad)`` live side by side.

A Function works on raw arrays. ``apply`` unwraps Tensor arguments, runs ``forward``, and (when any input
requires grad and grad mode is on) records a node so that ``Tensor.backward`` can call ``backward`` later.
``backward`` returns one gradient per positional argument of ``forward`` (``None`` where there is none).
"""
from __future__ import annotations

import contextlib
import threading
from typing import Any

import numpy as np

_state = threading.local()


def is_grad_enabled() -> bool:
    """True unless inside ``no_grad()``."""
    return getattr(_state, "enabled", True)


@contextlib.contextmanager
def set_grad_enabled(mode: bool):
    """Context manager that turns graph recording on or off."""
    prev = is_grad_enabled()
    _state.enabled = bool(mode)
    try:
        yield
    finally:
        _state.enabled = prev


def no_grad():
    """Context manager (and decorator via ``contextlib``) that disables graph recording."""
    return set_grad_enabled(False)


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
