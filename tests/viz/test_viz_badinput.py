"""Bad input to the pictures, the explanations and the summary: one clear line, nothing written, no warnings.

- a ``history.json`` without any loss or accuracy used to give an empty plot (exit 0) and matplotlib warnings;
- ``explain conv --stride 99999999999999999999`` ended in NumPy's "Maximum allowed dimension exceeded";
- ``summary --input-shape 1,100000,100000`` ended in "MemoryError: Unable to allocate 37.3 GiB".
"""
from __future__ import annotations

import json
import shutil
import warnings

import pytest

from cli.helpers import assert_one_line_error, one_json, run
from scratchcnn import models
from scratchcnn.viz import (build_report, explain_conv, explain_conv_transpose, explain_pool, explain_receptive_field,
                            plot_curves)

HUGE = 99999999999999999999


@pytest.fixture
def bare_run(run_dir, tmp_path):
    """A copy of the viz run folder whose history.json is replaced by the test."""
    d = tmp_path / "run"
    shutil.copytree(run_dir, d)
    return d


@pytest.mark.parametrize("history", [[{"epoch": 1}], [{"epoch": 1, "lr": 0.1, "loss": None}]])
def test_curves_without_loss_or_accuracy(bare_run, tmp_path, capsys, history):
    (bare_run / "history.json").write_text(json.dumps(history))
    out = tmp_path / "c.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError) as e:
            plot_curves(bare_run, out)
    assert str(e.value) == f"{bare_run / 'history.json'} has no loss or accuracy values"
    rc, stdout, err = run(capsys, "visualize", "curves", bare_run, "--out", out, "--json")
    assert_one_line_error(rc, stdout, err, "history.json has no loss or accuracy values")
    assert not out.exists()


def test_curves_with_a_value_that_is_not_a_number(bare_run, tmp_path):
    (bare_run / "history.json").write_text(json.dumps([{"epoch": 1, "loss": "0.5"}]))
    with pytest.raises(ValueError, match=r"history.json: record 1 has loss '0.5', expected a number"):
        plot_curves(bare_run, tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


def test_curves_with_loss_only_draw_without_warnings(bare_run, tmp_path):
    (bare_run / "history.json").write_text(json.dumps([{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.3}]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")        # the empty accuracy panel used to warn about an empty legend
        pic = plot_curves(bare_run, tmp_path / "c.png")
    assert pic.info["epochs"] == 2 and pic.path.is_file()


def test_report_notes_the_missing_curves(bare_run, capsys):
    (bare_run / "history.json").write_text(json.dumps([{"epoch": 1}]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = build_report(bare_run, mistakes=False)
    assert "Training curves" in res["missing"] and "Confusion matrix (test)" not in res["missing"]
    page = (bare_run / "report.html").read_text()
    assert "not available: " + str(bare_run / "history.json") + " has no loss or accuracy values" in page
    rc, out, err = run(capsys, "report", bare_run, "--no-mistakes", "--json")
    assert rc == 0 and err == "" and "Training curves" in one_json(out)["missing"]


@pytest.mark.parametrize("call, name, low", [
    (lambda: explain_conv(stride=HUGE), "stride", 1),
    (lambda: explain_conv(dilation=(1, HUGE)), "dilation", 1),
    (lambda: explain_conv(padding=HUGE), "padding", 0),
    (lambda: explain_pool(kernel_size=HUGE), "kernel_size", 1),
    (lambda: explain_pool(stride=2 ** 40), "stride", 1),
    (lambda: explain_conv_transpose(stride=HUGE), "stride", 1),
    (lambda: explain_conv_transpose(output_padding=HUGE), "output_padding", 0),
])
def test_explain_sizes_are_checked_up_front(call, name, low):
    with pytest.raises(ValueError, match=rf"^explain [a-z-]+: {name} must be >= {low} and <= 16384, got "):
        call()


def test_explain_cli_names_the_option(capsys):
    rc, out, err = run(capsys, "explain", "conv", "--stride", str(HUGE), "--json")
    assert_one_line_error(rc, out, err, f"explain conv: stride must be >= 1 and <= 16384, got {HUGE}")
    assert "Maximum allowed dimension" not in err
    rc, out, err = run(capsys, "explain", "conv", "--stride", "16384", "--json")   # the largest still works
    assert rc == 0 and one_json(out)["output_shape"] == [1, 1]


def test_summary_input_too_large_is_one_line(capsys):
    net = models.get("seed000")
    msg = ("an input of shape (1, 100000, 100000) has 10,000,000,000 values, but one traced sample may have at "
           "most 4,194,304; give a smaller input_shape (--input-shape), e.g. 1,28,28")
    with pytest.raises(ValueError) as e:
        models.summary(net, input_shape=(1, 100000, 100000))
    assert str(e.value) == "summary: " + msg
    rc, out, err = run(capsys, "summary", "seed000", "--input-shape", "1,100000,100000", "--json")
    assert_one_line_error(rc, out, err, msg)
    with pytest.raises(ValueError, match=r"^explain receptive-field: an input of shape \(1, 99999999999999999999, "
                                         r"28\) has .* values, but one traced sample may have at most"):
        explain_receptive_field("seed000", input_shape=(1, HUGE, 28))
    with pytest.raises(ValueError, match=r"^summary: an input of shape \(10000000,\) has 10,000,000 values"):
        models.summary(models.get("textcnn", vocab_size=50), input_shape=(10_000_000,))


def test_summary_out_of_memory_is_one_line(monkeypatch):
    import scratchcnn.nn.utils as nn_utils

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 37.3 GiB")

    monkeypatch.setattr(nn_utils, "forward_with_hooks", no_memory)
    with pytest.raises(ValueError, match=r"^summary: not enough memory to run seed000 on one sample of shape "
                                         r"\(1, 28, 28\); give a smaller input_shape"):
        models.summary(models.get("seed000"))
    with pytest.raises(ValueError, match=r"^explain receptive-field: not enough memory to run seed000"):
        explain_receptive_field("seed000")
