"""Interrupted runs: SIGTERM handled like Ctrl-C, and the one line that says what was kept and how to go on.

A preempted or shut-down machine sends SIGTERM, whose default action ends Python at once: no ``finally`` block
runs, so the temporary folder of a save in progress stays behind and the user gets no word on what was kept.
``sigterm_raises()`` turns SIGTERM into :class:`Terminated` (a ``KeyboardInterrupt``), so a terminated run unwinds
exactly like an interrupted one: an unfinished save is removed and the previous ``last/`` stays the resume point.
:class:`RunInterrupted` carries the line the CLI prints (what is saved, the command that continues the run).
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

__all__ = ["Terminated", "RunInterrupted", "sigterm_raises"]


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM (inside :func:`sigterm_raises`)."""


class RunInterrupted(KeyboardInterrupt):
    """A training or fine-tuning run stopped by Ctrl-C or SIGTERM; ``str()`` is one line for the user and
    ``exit_code`` is 130 (SIGINT) or 143 (SIGTERM)."""

    def __init__(self, message: str, terminated: bool = False):
        super().__init__(message)
        self.terminated = bool(terminated)
        self.exit_code = 143 if terminated else 130

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "interrupted"


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread (the previous handler is put back
    afterwards). Elsewhere than in the main thread signal handlers cannot be set, and the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated("terminated (SIGTERM)")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
