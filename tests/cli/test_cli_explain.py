"""`scratchcnn explain conv|pool|kernels`: the seeds' examples, one JSON object with --json, one-line errors."""
from __future__ import annotations


import numpy as np
import pytest


from cli.helpers import assert_one_line_error, one_json, run


def test_default_is_seed004_and_says_the_seed_is_wrong(capsys):
    rc, out, err = run(capsys, "explain", "conv")
    assert rc == 0, err
    assert "floor((3 + 0 + 0 - 1*(3 - 1) - 1) / 1) + 1 = 1" in out
    assert "sum = 1*1 + 1*0 + 1*(-1)" in out and "= 1\n" in out
    assert "output (1x1):\n    1\n" in out
    assert "Seed 004" in out and "wrong" in out and "[[1]]" in out


@pytest.mark.parametrize("args, output", [
    ([], [[1]]),
    (["--padding", "same"], [[0, 1, 2], [-1, 1, 3], [0, 1, 2]]),
    (["--padding", "1", "--mode", "convolution"], [[2, 1, 0], [3, 1, -1], [2, 1, 0]]),
    (["--example", "seed000"], [[12, 12, 17], [10, 17, 19], [9, 6, 14]]),
    (["--example", "seed000", "--stride", "2"], [[12, 17], [9, 14]]),
    (["--input", "[[1, 2, 3], [4, 5, 6], [7, 8, 9]]", "--kernel", "identity", "--padding", "same"],
     [[1, 2, 3], [4, 5, 6], [7, 8, 9]]),
    (["--input", "[[0, 0, 0, 9]]", "--kernel", "[[1, 2]]", "--dilation", "1,2"], [[0, 18]]),
])
def test_conv_json(capsys, args, output):
    rc, out, err = run(capsys, "explain", "conv", *args, "--json")
    assert rc == 0, err
    d = one_json(out)
    assert {"output", "output_shape", "steps", "output_size", "kernel_used", "notes"} <= set(d)
    assert d["output"] == output and d["output_shape"] == list(np.shape(output))
    assert len(d["steps"]) == np.size(output)
    for s in d["steps"]:
        i, j = s["position"]
        assert s["sum"] == d["output"][i][j] == pytest.approx(np.sum(s["products"]))


def test_conv_inputs_from_files(capsys, tmp_path):
    from PIL import Image
    np.save(tmp_path / "x.npy", np.arange(16.0).reshape(4, 4))
    (tmp_path / "k.json").write_text("[[1, 0], [0, -1]]")
    rc, out, err = run(capsys, "explain", "conv", "--input", tmp_path / "x.npy", "--kernel", tmp_path / "k.json",
                       "--json")
    assert rc == 0, err
    assert one_json(out)["output"] == [[-5] * 3] * 3
    Image.fromarray(np.full((3, 3), 10, np.uint8)).save(tmp_path / "g.png")
    rc, out, err = run(capsys, "explain", "conv", "--input", tmp_path / "g.png", "--kernel", "box-blur", "--json")
    assert rc == 0, err
    assert one_json(out)["output"] == [[pytest.approx(10.0)]]


def test_text_shows_limited_steps(capsys):
    rc, out, err = run(capsys, "explain", "conv", "--input", "[" + ",".join(["[1,2,3,4,5,6,7,8]"] * 8) + "]",
                       "--kernel", "laplacian", "--max-steps", "2")
    assert rc == 0, err
    assert out.count("\n\nout[") == 2 and "34 more window(s) not shown" in out


@pytest.mark.parametrize("kind, output", [("max", [[6, 8], [3, 4]]), ("avg", [[3.25, 5.25], [2, 2]])])
def test_pool(capsys, kind, output):
    rc, out, err = run(capsys, "explain", "pool", "--kind", kind, "--json")
    assert rc == 0, err
    d = one_json(out)
    assert d["output"] == output and d["output_shape"] == [2, 2] and len(d["steps"]) == 4
    rc, out, err = run(capsys, "explain", "pool", "--kind", kind)
    assert rc == 0 and "Seed 000" in out and "floor((4 + 0 + 0 - 2) / 2) + 1 = 2" in out


def test_kernels_listing(capsys):
    rc, out, err = run(capsys, "explain", "kernels", "--json")
    assert rc == 0
    d = one_json(out)
    assert list(d["kernels"]) == ["identity", "edge", "sobel-x", "sobel-y", "laplacian", "box-blur", "gaussian",
                                  "sharpen"]
    rc, out, err = run(capsys, "explain", "kernels")
    assert rc == 0 and "sobel-x:" in out


@pytest.mark.parametrize("args, fragment", [
    (["--input", "[[1, 2], [3, 4]]", "--kernel", "edge"], "larger than the padded input"),
    (["--input", '[[1, "a"], [2, 3]]', "--kernel", "edge"], "non-numeric"),
    (["--input", "[[1, 2, 3], [4, 5]]", "--kernel", "edge"], "ragged"),
    (["--input", "[[1, 2], [3, 4]", "--kernel", "edge"], "not valid JSON"),
    (["--kernel", "blurry", "--input", "[[1]]"], "not a kernel name"),
    (["--padding", "1,2,3"], "--padding"),
    (["--stride", "two"], "--stride"),
    (["--padding", "same", "--stride", "2"], "stride 1"),
    (["--input", "[[1, 2]]"], "give both an input and a kernel"),
])
def test_conv_bad_input(capsys, args, fragment):
    for extra in ([], ["--json"]):
        rc, out, err = run(capsys, "explain", "conv", *args, *extra)
        assert_one_line_error(rc, out, err, fragment)


def test_unreadable_image(capsys, tmp_path):
    bad = tmp_path / "photo.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n but not really")
    rc, out, err = run(capsys, "explain", "conv", "--input", bad, "--kernel", "edge", "--json")
    assert_one_line_error(rc, out, err, "cannot read image", "photo.png")


def test_pool_bad_input(capsys):
    rc, out, err = run(capsys, "explain", "pool", "--kernel-size", "5")
    assert_one_line_error(rc, out, err, "larger than the padded input")
    rc, out, err = run(capsys, "explain", "pool", "--input", "[[1], [2, 3]]")
    assert_one_line_error(rc, out, err, "ragged")


# ------------------------------------------------------------------------------ conv-transpose and batchnorm
def test_conv_transpose_default_text(capsys):
    rc, out, err = run(capsys, "explain", "conv-transpose")
    assert rc == 0, err
    assert "(2 - 1)*2 - 2*0 + 1*(3 - 1) + 0 + 1 = 5" in out
    assert "out[2, 2] = x[0,0]*K[2,2] + x[0,1]*K[2,0] + x[1,0]*K[0,2] + x[1,1]*K[0,0] = 1*1 + 2*3 + 3*2 + 4*1 = 17" \
        in out
    assert "View 2" in out and "flip the kernel" in out and "checked:" in out


@pytest.mark.parametrize("args, output", [
    ([], [[1, 0, 4, 0, 4], [0, 1, 0, 2, 0], [6, 0, 17, 0, 10], [0, 3, 0, 4, 0], [9, 0, 15, 0, 4]]),
    (["--padding", "1", "--output-padding", "1"], [[1, 0, 2, 0], [0, 17, 0, 10], [3, 0, 4, 0], [0, 15, 0, 4]]),
    (["--input", "[[1, 2]]", "--kernel", "[[1, 1]]", "--stride", "1"], [[1, 3, 2]]),
    (["--input", "[[1, 2]]", "--kernel", "[[1, 1]]", "--stride", "1,3"], [[1, 1, 0, 2, 2]]),
])
def test_conv_transpose_json(capsys, args, output):
    rc, out, err = run(capsys, "explain", "conv-transpose", *args, "--json")
    assert rc == 0, err
    d = one_json(out)
    assert {"output", "output_shape", "steps", "cells", "as_convolution", "output_size", "notes"} <= set(d)
    assert d["output"] == output and d["output_shape"] == list(np.shape(output))
    for c in d["cells"]:
        i, j = c["position"]
        assert c["sum"] == d["output"][i][j] == pytest.approx(sum(t["input_value"] * t["kernel_value"]
                                                                  for t in c["terms"]))
    for s in d["as_convolution"]["steps"]:
        i, j = s["position"]
        assert s["sum"] == d["output"][i][j] == pytest.approx(np.sum(s["products"]))


def test_batchnorm_text_and_json(capsys):
    rc, out, err = run(capsys, "explain", "batchnorm")
    assert rc == 0, err
    assert "mean = (1 + 2 + 3 + 4 + 5 + 6 + 7 + 8) / 8 = 36 / 8 = 4.5" in out
    assert "unbiased var = 42 / (8 - 1) = 6" in out and "Eval mode" in out
    rc, out, err = run(capsys, "explain", "batchnorm", "--input", "[[[[1, 3]]], [[[5, 7]]]]", "--gamma", "2",
                       "--beta", "1", "--momentum", "0.5", "--running-var", "2", "--json")
    assert rc == 0, err
    d = one_json(out)
    assert {"output", "output_shape", "steps", "running_mean", "running_var", "eval_output"} <= set(d)
    assert d["output_shape"] == [2, 1, 1, 2] and d["steps"][0]["mean"] == 4 and d["steps"][0]["var"] == 5
    assert d["running_mean"] == [2] and d["running_var"] == [pytest.approx(0.5 * 2 + 0.5 * 20 / 3)]
    y = np.array(d["output"]).ravel()
    assert y == pytest.approx((np.array([1, 3, 5, 7]) - 4) / np.sqrt(5 + 1e-5) * 2 + 1)


@pytest.mark.parametrize("verb, args, fragment", [
    ("conv-transpose", ["--output-padding", "2"], "output_padding must be smaller"),
    ("conv-transpose", ["--stride", "two"], "--stride"),
    ("conv-transpose", ["--padding", "4"], "use less padding"),
    ("conv-transpose", ["--input", "[[1, 2], [3]]"], "ragged"),
    ("batchnorm", ["--input", "[[1, 2], [3, 4]]"], "4-D batch"),
    ("batchnorm", ["--gamma", "1,2,3"], "gamma needs 1 or 2 values"),
    ("batchnorm", ["--gamma", "big"], "--gamma"),
    ("batchnorm", ["--momentum", "2"], "momentum"),
    ("batchnorm", ["--input", "[[[[1]]]]"], "more than 1 value"),
])
def test_new_explanations_bad_input(capsys, verb, args, fragment):
    for extra in ([], ["--json"]):
        rc, out, err = run(capsys, "explain", verb, *args, *extra)
        assert_one_line_error(rc, out, err, fragment)
