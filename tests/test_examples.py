"""Every script in examples/ runs (as a user would run it, in a subprocess with --quick) and prints what it
promises: gradients that match, convolutions equal to the textbook loops, accuracies above chance-level floors,
identical reloaded/merged/exported logits and the PNGs it claims to write.

The floors are well below what --quick measured (noted beside each) so that BLAS rounding differences between
machines cannot flip them, but far above chance. Examples that need MNIST use ``$SCRATCHCNN_DATA`` (skipped when
it is not set, like the other real-data tests); the ONNX example skips only when onnx/onnxruntime are missing
and CI is not set.
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
TESTED = ["01_autograd_basics.py", "02_conv_by_hand.py", "03_train_mnist_cnn.py", "04_finetune_lora.py",
          "05_textcnn_english.py", "06_export_onnx.py", "07_visualize.py"]


def run_example(name: str, out: Path, *extra: str) -> str:
    """Run ``examples/<name> --quick --out <out>`` from ``out`` (so nothing lands in the repository); return
    stdout after asserting exit code 0."""
    env = dict(os.environ, SCRATCHCNN_EXAMPLE_QUICK="1", MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), "--quick", "--out", str(out), *extra],
                          cwd=out, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{name} exited with {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def number(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    assert m, f"no line matching {pattern!r} in:\n{text}"
    return float(m.group(1))


def test_every_example_is_tested_and_listed_in_readme():
    on_disk = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert on_disk == sorted(TESTED)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Examples"):readme.index("## How it is verified")]
    for name in TESTED:
        assert f"examples/{name}" in section, f"{name} is missing from the README's Examples table"


def test_01_autograd_basics(tmp_path):
    out = run_example("01_autograd_basics.py", tmp_path)
    assert "gradient check: OK" in out
    assert number(r"max \|autograd - hand\| = (\S+)", out) < 1e-12
    assert number(r"max \|autograd - finite difference\| = (\S+)", out) < 1e-6     # measured 7.5e-10
    # 200 descent steps end near the least-squares line (w = 2.000, b = 1.050)
    assert number(r"after 200 steps, w = (\S+),", out) == pytest.approx(2.0, abs=0.02)


def test_02_conv_by_hand(tmp_path):
    out = run_example("02_conv_by_hand.py", tmp_path)
    assert "convolution == correlation with the flipped kernel: True" in out
    assert "seed 004's example: [[1.0]]" in out
    assert "reference check: OK" in out
    assert number(r"over all checks: (\S+)", out) < 1e-9                          # measured 3.6e-15
    assert out.count("max |engine - loops| = 0.0e+00") == 10                     # 5 settings x 2 modes, exact


def test_03_train_mnist_cnn(tmp_path, data_dir):
    out = run_example("03_train_mnist_cnn.py", tmp_path, "--data-dir", str(data_dir))
    assert "2000 train / 500 val / 1000 test images" in out
    assert number(r"test accuracy: (\S+)", out) >= 0.70                           # measured 0.851
    assert number(r"macro precision \S+ recall \S+ F1 (\S+)", out) >= 0.65        # measured 0.850
    assert "reloaded checkpoint gives identical logits: True" in out
    assert (tmp_path / "checkpoint" / "model.safetensors").is_file()
    assert (tmp_path / "checkpoint" / "meta.json").is_file()


def test_04_finetune_lora(tmp_path, data_dir):
    out = run_example("04_finetune_lora.py", tmp_path, "--data-dir", str(data_dir))
    assert number(r"test accuracy on 0-4: (\S+)", out) >= 0.85                    # measured 0.945
    assert number(r"test accuracy on digits 5-9: (\S+)", out) >= 0.45             # measured 0.62; chance 0.2
    assert number(r"of [\d,]+ \((\S+)%\)", out) < 10                              # LoRA + head: 3.85%
    assert "frozen base weights bit-identical after training: True" in out
    assert re.search(r"merged vs unmerged logits: max \|difference\| = \S+ \(float32 rounding\); equal: True", out)
    assert "unmerge restores the base weights bit for bit: True" in out


def test_05_textcnn_english(tmp_path):
    out = run_example("05_textcnn_english.py", tmp_path)
    right = number(r"held-out accuracy: (\d+)/12", out)
    assert right >= 9                                                              # measured 12/12
    assert "same logits alone and in a padded batch: True" in out


def test_06_export_onnx(tmp_path, data_dir):
    if not os.environ.get("CI"):
        for pkg in ("onnx", "onnxruntime"):
            if importlib.util.find_spec(pkg) is None:
                pytest.skip(f"{pkg} is not installed (pip install 'scratchcnn[onnx]')")
    out = run_example("06_export_onnx.py", tmp_path, "--data-dir", str(data_dir))
    assert (tmp_path / "model.onnx").is_file()
    assert "'shape': ['batch', 1, 28, 28]" in out                                  # dynamic batch axis
    assert number(r"logit difference: (\S+);", out) < 1e-4                          # measured 5.7e-6
    assert "predictions agree on 100.00%" in out
    assert number(r"onnxruntime accuracy (\S+)", out) >= 0.70                       # measured 0.854
    assert "batch of 1 matches batch of 2000: True" in out
    assert "onnx check: OK" in out


def test_07_visualize(tmp_path, data_dir):
    pytest.importorskip("matplotlib")
    out = run_example("07_visualize.py", tmp_path, "--data-dir", str(data_dir))
    assert number(r"test accuracy (\S+) on 1000 images", out) >= 0.70              # measured 0.854
    assert "pictures written: 5/5" in out
    for name in ("kernels.png", "feature_maps.png", "gradcam.png", "saliency.png", "sobel_x.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        assert len(data) > 5000, name
    # Grad-CAM concentrates on the digit: its share of the heat on ink pixels exceeds their share of the area
    assert number(r"\((\S+)x their share of the area\)", out) > 1.2                 # measured 2.3
