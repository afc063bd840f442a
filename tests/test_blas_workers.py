"""import scratchcnn makes OpenBLAS' idle workers sleep at once (OPENBLAS_THREAD_TIMEOUT=4) whether NumPy was
imported before it or not; a user's own setting and SCRATCHCNN_NO_BLAS_TUNING are respected; thread counts kept."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import ctypes, os{numpy_first}
from threadpoolctl import threadpool_limits, threadpool_info
{limit}
import scratchcnn, numpy
libs = [d for d in threadpool_info() if d["internal_api"] == "openblas"]
a = numpy.ones((256, 256), numpy.float32); a @ a
print(os.environ.get("OPENBLAS_THREAD_TIMEOUT"), ctypes.CDLL(libs[0]["filepath"]).openblas_thread_timeout(),
      [d["num_threads"] for d in threadpool_info() if d["internal_api"] == "openblas"])
"""


def _probe(numpy_first: bool, limit: bool = False, **env: str) -> list[str]:
    e = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_THREAD_TIMEOUT", "SCRATCHCNN_NO_BLAS_TUNING")}
    e.update(env)
    code = PROBE.format(numpy_first="\nimport numpy" if numpy_first else "",
                        limit="threadpool_limits(1)" if limit else "")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=120)
    if p.returncode != 0 and "IndexError" in p.stderr:
        pytest.skip("NumPy's BLAS here is not OpenBLAS")
    assert p.returncode == 0, p.stderr
    return p.stdout.split(maxsplit=2)


@pytest.mark.parametrize("numpy_first", [False, True])
def test_openblas_workers_sleep_at_once(numpy_first):
    var, timeout, _ = _probe(numpy_first)
    assert (var, timeout) == ("4", "4")


def test_a_thread_limit_set_before_import_is_kept():
    assert _probe(True, limit=True)[2].strip() == "[1]"


@pytest.mark.parametrize("numpy_first", [False, True])
def test_user_setting_and_opt_out_are_respected(numpy_first):
    assert _probe(numpy_first, OPENBLAS_THREAD_TIMEOUT="7")[:2] == ["7", "7"]
    var, timeout, _ = _probe(numpy_first, SCRATCHCNN_NO_BLAS_TUNING="1")
    assert var == "None" and timeout == "0"
