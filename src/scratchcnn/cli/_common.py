"""Shared CLI helpers: one-JSON-object output, stdout guarding, error lines."""
from __future__ import annotations

import contextlib
import json
import math
import sys
from typing import Any, Iterator

import click


def _clean(x: Any) -> Any:
    """Make ``x`` strict JSON: non-finite floats -> None, numpy scalars/arrays -> Python, tuples -> lists."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if hasattr(x, "tolist") and not isinstance(x, (str, bytes)):
        return _clean(x.tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def emit_json(obj: dict) -> None:
    """Print exactly one JSON object (strict: no NaN) on stdout."""
    sys.stdout.write(json.dumps(_clean(obj), allow_nan=False) + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def stdout_to_stderr(enabled: bool) -> Iterator[None]:
    """With ``--json``, send anything the library prints on stdout to stderr, so stdout holds only the JSON."""
    if not enabled:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


def one_line(exc: BaseException) -> str:
    """An exception as one line: its message with whitespace collapsed, prefixed by the type when unclear."""
    msg = " ".join(str(exc).split())
    if isinstance(exc, (ValueError, RuntimeError, OSError, click.ClickException)) and msg:
        return msg
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
