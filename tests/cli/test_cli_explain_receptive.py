"""`scratchcnn explain receptive-field`: the table and recurrences as text, one JSON object with --json, and
one-line errors with exit code 2."""
from __future__ import annotations

import pytest

from cli.helpers import assert_one_line_error, one_json, run
from viz.helpers import make_checkpoint


def test_text_seed001(capsys):
    rc, out, err = run(capsys, "explain", "receptive-field", "--model", "seed001")
    assert rc == 0, err
    assert "  pool2    MaxPool2d  128x7x7    2  2  0  1  10  4    1.5\n" in out
    assert "    j     = 2 * 2 = 4\n    r     = 8 + (2 - 1) * 1 * 2 = 10\n" in out
    assert "    start = 0.5 + ((2 - 1) * 1 / 2 - 0) * 2 = 1.5\n" in out
    assert "flatten (Flatten): from here on every output sees the whole 28x28 input" in out


def test_default_model_and_text_model(capsys):
    rc, out, err = run(capsys, "explain", "receptive-field")
    assert rc == 0, err
    assert out.startswith("Receptive field of seed000,") and "  pool2    MaxPool2d" in out
    rc, out, err = run(capsys, "explain", "receptive-field", "--model", "charcnn", "--input-shape", "256")
    assert rc == 0, err
    assert "  features.14  MaxPool1d  256x5    3  3  0  1  123  27     61\n" in out


@pytest.mark.parametrize("args, r, j, start", [
    (["--model", "seed001"], [10, 10], [4, 4], [1.5, 1.5]),
    (["--model", "lenet5"], [16, 16], [4, 4], [5.5, 5.5]),
    (["--model", "seed000", "--input-shape", "1,28,28"], [10, 10], [4, 4], [1.5, 1.5]),
])
def test_json(capsys, args, r, j, start):
    rc, out, err = run(capsys, "explain", "receptive-field", *args, "--json")
    assert rc == 0, err
    d = one_json(out)
    assert (d["r"], d["j"], d["start"]) == (r, j, start)
    assert [layer["type"] for layer in d["layers"]] == ["Conv2d", "MaxPool2d", "Conv2d", "MaxPool2d"]
    assert d["layers"][-1]["r"] == r and d["whole_input_from"]["type"] == "Flatten"
    assert set(d["recurrences"]) == {"j", "r", "start"}


def test_checkpoint(capsys, tmp_path):
    ckpt = make_checkpoint(tmp_path / "ckpt")
    rc, out, err = run(capsys, "explain", "receptive-field", "--model", ckpt, "--json")
    assert rc == 0, err
    d = one_json(out)
    assert d["r"] == [10, 10] and str(ckpt) in d["model"]


@pytest.mark.parametrize("args, fragments", [
    (["--model", "bogus"], ["'bogus' is neither a built-in model", "seed000", "checkpoint folder"]),
    (["--model", "bogus", "--json"], ["'bogus' is neither a built-in model"]),
    (["--model", "textcnn"], ["not one chain of layers"]),
    (["--model", "seed000", "--input-shape", "1,2,3,4"], ["--input-shape", "at most 3 ints"]),
    (["--model", "seed000", "--input-shape", "1,5,5"], ["seed000 cannot run on one sample of shape (1, 5, 5)"]),
])
def test_bad_input_is_one_line(capsys, args, fragments):
    rc, out, err = run(capsys, "explain", "receptive-field", *args)
    assert_one_line_error(rc, out, err, *fragments)
