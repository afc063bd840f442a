"""One seed for every generator: ``manual_seed`` resets the library's default ``numpy.random.Generator``.

Ops that draw random numbers (dropout, init, shuffling) take an optional ``generator``; without one they use
``default_generator()``, so ``manual_seed(s)`` makes a whole run reproducible.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

import numpy as np

_generator = np.random.default_rng(0)
_local = threading.local()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the default generator (and return it)."""
    global _generator
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_generator() -> np.random.Generator:
    """The generator used when an op is given none (this thread's, inside ``thread_generator``)."""
    own = getattr(_local, "generator", None)
    return _generator if own is None else own


@contextmanager
def thread_generator(generator: np.random.Generator) -> Iterator[np.random.Generator]:
    """Make ``generator`` the default generator of the calling thread only, for the ``with`` block (the parts
    of a split batch draw their dropout masks from their own, seeded generators: reproducible runs)."""
    before = getattr(_local, "generator", None)
    _local.generator = generator
    try:
        yield generator
    finally:
        _local.generator = before


def get_rng_state() -> dict:
    """The default generator's state (JSON-serialisable), for resumable training."""
    return _generator.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state from ``get_rng_state``."""
    _generator.bit_generator.state = state
