"""Experiments in benchmarks/ (docs/performance.md) still run and are exact: the Winograd layer benchmark's float64
check against im2col, the input-gradient layouts' check against conv2d's backward, the batch-norm
benchmark's float64 check against PyTorch and the Adam benchmark's float32 check must pass (the timing parts run
once on a tiny batch); the overhead and batch-split benchmarks run with one repetition, the NumPy binary-loop
benchmark on two tiny sizes, the step-time benchmark for two steps, the setting A/B for one round, the few-shot
validation harness for one short run."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run_check(script: str, *args: str) -> tuple[str, list[float]]:
    """Run ``benchmarks/<script>`` with ``args``; its stdout and the max abs differences it printed."""
    run = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    diffs = [float(line.rsplit(" ", 1)[1]) for line in run.stdout.splitlines() if "max abs difference" in line]
    return run.stdout, diffs


def test_winograd_layer_benchmark_matches_im2col():
    out, diffs = run_check("winograd_layer.py", "--reps", "1", "--batch", "2", "--shape", "33", "40", "9")
    assert len(diffs) == 1 and max(diffs) < 1e-10
    assert "winograd F(4x4,3x3)" in out and "im2col + GEMM" in out


def test_batchnorm_benchmark_matches_torch(torch):
    _, diffs = run_check("batchnorm_vs_torch.py", "--reps", "1", "--batch", "4")
    assert len(diffs) == 2 and max(diffs) < 1e-9


def test_input_gradient_layouts_match_conv2d():
    _, diffs = run_check("conv_input_grad_layouts.py", "--reps", "1", "--batch", "3")
    assert len(diffs) == 4 and max(diffs) < 1e-10


def test_op_overhead_benchmark_runs():
    out, _ = run_check("op_overhead.py", "--reps", "3")
    rows = [line for line in out.splitlines()[1:] if line.strip()]
    assert len(rows) == 7 and all(float(r.split()[-1]) > 0 for r in rows)


def test_split_parts_benchmark_runs():
    out, _ = run_check("split_parts.py", "--rounds", "1", "--reps", "1")
    assert out.count("one part's") == 2 and "step ms: split" in out


def test_numpy_binary_out_benchmark_runs():
    out, _ = run_check("numpy_binary_out.py", "--reps", "2", "--sizes", "1024,4096")
    rows = [line.split() for line in out.splitlines()[2:] if line.strip()]
    assert [r[0] for r in rows] == ["1024", "4096"] and all(float(v) > 0 for r in rows for v in r[1:])


def test_optimizer_step_benchmark_matches_torch(torch):
    out, _ = run_check("optimizer_step.py", "--model", "seed000", "--reps", "1", "--check", "3")
    rel = float(out.split("max relative difference ")[1].split()[0])
    assert rel < 1e-6 and "speed (torch / scratchcnn" in out


def test_step_time_benchmark_runs():
    out, _ = run_check("step_time.py", "--model", "seed000", "--steps", "2", "--warmup", "1", "--batch", "8")
    assert "seed000 training step (batch 8" in out and float(out.split("median ")[1].split()[0]) > 0


def test_setting_ab_benchmark_runs_and_restores():
    out, _ = run_check("setting_ab.py", "--model", "seed000", "--phase", "infer", "--batch", "8", "--rounds", "1",
                       "--steps", "2", "scratchcnn.functional.conv", "NARROW_MAX_COUT", "64", "0")
    lines = [line for line in out.splitlines() if "NARROW_MAX_COUT=" in line]
    assert len(lines) == 2 and "NARROW_MAX_COUT=64" in lines[0] and "NARROW_MAX_COUT=0" in lines[1]
    run = subprocess.run([sys.executable, str(BENCHMARKS / "setting_ab.py"), "scratchcnn.functional.conv", "NO_SUCH",
                          "1"], capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "has no setting NO_SUCH" in run.stderr


def test_fewshot_validation_runs_on_training_images(data_dir):
    """The few-shot validation harness (docs/finetune.md) runs a from-scratch baseline on a validation set drawn
    from the training images outside the sample; SAM runs through the Trainer's adversary slot."""
    import json
    if not (data_dir / "mnist").is_dir():
        import pytest
        pytest.skip("MNIST is not in $SCRATCHCNN_DATA")
    out, _ = run_check("fewshot_validation.py", "--strategies", "scratch", "--seeds", "0", "--epochs", "1",
                       "--val-size", "100", "--sam", "0.05", "--set", "lr=0.5", "--data-dir", str(data_dir))
    row = json.loads(out.splitlines()[0])
    assert row["strategy"] == "scratch" and row["seed"] == 0 and row["sam"] == 0.05
    assert "lr" not in row    # --set changes the fine-tuning strategies, never the from-scratch baseline
    assert 0 <= row["val_accuracy"] <= 100 and "scratch: mean" in out


def test_fewshot_validation_refuses_an_unknown_setting():
    run = subprocess.run([sys.executable, str(BENCHMARKS / "fewshot_validation.py"), "--set", "no_such=1"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "--set wants KEY=VALUE with KEY one of" in run.stderr
