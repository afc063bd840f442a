"""Shared helpers of the CLI tests: run a verb in-process, parse its one JSON object, check one-line errors."""
from __future__ import annotations

import json

from scratchcnn.cli import main


def run(capsys, *args) -> tuple[int, str, str]:
    """``scratchcnn *args`` in this process: (exit code, stdout, stderr)."""
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def one_json(out: str) -> dict:
    """stdout must be exactly one JSON object."""
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    obj = json.loads(lines[0])
    assert isinstance(obj, dict)
    return obj


def assert_one_line_error(rc, out, err, *fragments) -> None:
    """Exit code 2, nothing on stdout, one ``error: ...`` line on stderr containing every fragment."""
    assert rc == 2 and out == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    for f in fragments:
        assert f in lines[0], lines[0]
