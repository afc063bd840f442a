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


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses ``nan`` and ``inf`` (which the range check lets through or which
    would make a run diverge and fail later with a misleading message)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return rv


def non_negative_seed(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """``--seed`` callback: a seed is an integer >= 0 (NumPy's generators refuse negative seeds later with a line
    that names no option)."""
    if value is not None and value < 0:
        raise click.BadParameter(f"{value} is not a valid seed; give an integer >= 0", ctx=ctx, param=param)
    return value


def one_line(exc: BaseException) -> str:
    """An exception as one line: its message with whitespace collapsed, prefixed by the type when unclear."""
    msg = " ".join(str(exc).split())
    if isinstance(exc, (ValueError, RuntimeError, OSError, click.ClickException)) and msg:
        return msg
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
