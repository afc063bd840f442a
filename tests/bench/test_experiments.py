"""Experiments in benchmarks/ (docs/performance.md) still run and are exact: the Winograd experiment's own float64
check against the library's conv2d, the input-gradient layouts' check against conv2d's backward, and the
batch-norm benchmark's float64 check against PyTorch must pass (the timing parts run once on a tiny batch)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "winograd_f2x3.py"


def test_winograd_experiment_matches_conv2d():
    run = subprocess.run([sys.executable, str(SCRIPT), "--reps", "1", "--batch", "2"], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    diffs = [float(line.rsplit(" ", 1)[1]) for line in run.stdout.splitlines() if "max abs difference" in line]
    assert len(diffs) == 3 and max(diffs) < 1e-10
    assert "winograd F(2x2,3x3)" in run.stdout


def test_batchnorm_benchmark_matches_torch(torch):
    script = SCRIPT.parent / "batchnorm_vs_torch.py"
    run = subprocess.run([sys.executable, str(script), "--reps", "1", "--batch", "4"], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    diffs = [float(line.rsplit(" ", 1)[1]) for line in run.stdout.splitlines() if "max abs difference" in line]
    assert len(diffs) == 2 and max(diffs) < 1e-9


def test_input_gradient_layouts_match_conv2d():
    script = SCRIPT.parent / "conv_input_grad_layouts.py"
    run = subprocess.run([sys.executable, str(script), "--reps", "1", "--batch", "3"], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    diffs = [float(line.rsplit(" ", 1)[1]) for line in run.stdout.splitlines() if "max abs difference" in line]
    assert len(diffs) == 4 and max(diffs) < 1e-10
