"""`scratchcnn bench`: the --json rows' keys and values (short blocks, one model), the threads in effect, peak
memory from child processes, scratchcnn-only rows with a note when PyTorch is missing, and an unknown model as
a one-line error with exit code 2. Never a timed test: only signs and shapes
of the numbers are checked."""
from __future__ import annotations

import math
import sys

import pytest


from cli.helpers import assert_one_line_error, one_json, run

ROW_KEYS = {"model", "phase", "unit", "scratchcnn_per_s", "torch_per_s", "ratio", "ratio_median", "ratio_min",
            "ratio_max", "scratchcnn_peak_mb", "torch_peak_mb", "gflops", "sgemm_peak_gflops"}
FAST = ["--seconds", "0.05", "--rounds", "1", "--threads", "1"]


@pytest.fixture
def bench_env():
    """PyTorch as the bench uses it (float32 default dtype), and this process' thread limits put back after
    the run (the bench limits BLAS and PyTorch threads process-wide)."""
    torch = pytest.importorskip("torch")
    from threadpoolctl import threadpool_limits

    from scratchcnn.parallel import get_num_threads, set_num_threads
    dtype, threads, ours = torch.get_default_dtype(), torch.get_num_threads(), get_num_threads()
    torch.set_default_dtype(torch.float32)   # other tests' oracle fixture may have left float64
    try:
        with threadpool_limits(limits=None):  # restores the BLAS limits on exit
            yield torch
    finally:
        torch.set_default_dtype(dtype)
        torch.set_num_threads(threads)
        set_num_threads(ours)                 # the bench limits scratchcnn's own loops too


def positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def test_bench_json_rows(bench_env, capsys):
    rc, out, err = run(capsys, "bench", "--models", "seed000", "--seconds", "0.05", "--rounds", "3", "--threads", "1",
                       "--batch-size", "16", "--no-memory", "--json")
    assert rc == 0, err
    res = one_json(out)
    assert res["threads"] == 1 and res["batch_size"] == 16
    assert res["threads_in_effect"] == {"numpy_blas": 1, "scratchcnn": 1, "torch": 1}
    assert res["torch_version"] == bench_env.__version__ and res["note"] is None and res["torch_adam"] == "default"
    assert "3 x forward - 2 x MACs" in res["flops_convention"]
    rows = res["rows"]
    assert [(r["model"], r["phase"]) for r in rows] == [("seed000", "train"), ("seed000", "infer")]
    for r in rows:
        assert set(r) == ROW_KEYS, r
        assert r["unit"] == "images"
        for k in ("scratchcnn_per_s", "torch_per_s", "ratio", "gflops", "sgemm_peak_gflops"):
            assert positive(r[k]), (k, r)
        assert r["ratio"] == pytest.approx(r["scratchcnn_per_s"] / r["torch_per_s"], rel=0.01)
        assert 0 < r["ratio_min"] <= r["ratio_median"] <= r["ratio_max"]   # paired rounds (3 here)
        assert r["scratchcnn_peak_mb"] is None and r["torch_peak_mb"] is None   # --no-memory
    assert "SGEMM peak" in err   # progress goes to stderr


def test_bench_table(bench_env, capsys):
    rc, out, err = run(capsys, "bench", "--models", "seed000", *FAST, "--batch-size", "8", "--no-memory",
                       "--no-torch")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["model", "phase", "scratchcnn/s"] and len(lines) == 3
    assert lines[1].split()[:2] == ["seed000", "train"] and lines[1].split()[3] == "-"   # no torch column


def test_bench_peak_memory(bench_env, capsys):
    """Peak memory (child processes) for one model; PyTorch's children take seconds each to import it, so the
    CLI run measures scratchcnn and one PyTorch measurement is taken directly."""
    rc, out, err = run(capsys, "bench", "--models", "seed000", *FAST, "--batch-size", "64", "--no-torch", "--json")
    assert rc == 0, err
    rows = one_json(out)["rows"]
    assert len(rows) == 2
    for r in rows:
        assert set(r) == ROW_KEYS
        assert positive(r["scratchcnn_peak_mb"]), r
        assert r["torch_per_s"] is None and r["ratio"] is None and r["torch_peak_mb"] is None
        assert r["ratio_median"] is None and r["ratio_min"] is None and r["ratio_max"] is None
    train, infer = rows
    assert train["scratchcnn_peak_mb"] > infer["scratchcnn_peak_mb"]   # gradients and Adam's moments


def test_bench_torch_peak_memory(bench_env):
    from scratchcnn.bench.measure import peak_memory_mb
    mb = peak_memory_mb("torch", "seed000", "infer", 64, 1)
    assert positive(mb), mb


@pytest.mark.parametrize("as_json", [[], ["--json"]])
def test_bench_unknown_model(capsys, as_json):
    rc, out, err = run(capsys, "bench", "--models", "seed000,resnet999", *FAST, "--no-memory", *as_json)
    assert_one_line_error(rc, out, err, "unknown model", "resnet999", "seed000, seed001, lenet5, textcnn")


def test_bench_without_torch(bench_env, capsys, monkeypatch):
    """PyTorch not importable: scratchcnn's numbers alone, the PyTorch fields null, a note on stderr."""
    monkeypatch.setitem(sys.modules, "torch", None)
    rc, out, err = run(capsys, "bench", "--models", "lenet5", *FAST, "--batch-size", "8", "--no-memory", "--json")
    assert rc == 0, err
    res = one_json(out)
    assert res["torch_version"] is None and "PyTorch is not installed" in res["note"]
    assert "note: PyTorch is not installed: scratchcnn-only numbers" in err
    for r in res["rows"]:
        assert set(r) == ROW_KEYS and positive(r["scratchcnn_per_s"]) and positive(r["gflops"])
        assert r["torch_per_s"] is None and r["ratio"] is None and r["torch_peak_mb"] is None


def test_bench_bad_torch_adam(capsys):
    rc, out, err = run(capsys, "bench", "--models", "seed000", *FAST, "--no-memory", "--torch-adam", "slow")
    assert_one_line_error(rc, out, err, "'slow'", "'default', 'fused'")   # (the option's name is not in it)
