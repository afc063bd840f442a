"""One seed for every generator: ``manual_seed`` resets the library's default ``numpy.random.Generator``.

Ops that draw random numbers (dropout, init, shuffling) take an optional ``generator``; without one they use
``default_generator()``, so ``manual_seed(s)`` makes a whole run reproducible.
"""
from __future__ import annotations

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the default generator (and return it)."""
    global _generator
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_generator() -> np.random.Generator:
    """The generator used when an op is given none."""
    return _generator


def get_rng_state() -> dict:
    """The default generator's state (JSON-serialisable), for resumable training."""
    return _generator.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state from ``get_rng_state``."""
    _generator.bit_generator.state = state
