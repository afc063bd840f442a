"""explain_conv_transpose / explain_batchnorm: every step's numbers recomputed independently (NumPy loops,
PyTorch), the JSON keys, and one-line errors for bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from scratchcnn.viz import explain_batchnorm, explain_conv_transpose

EX_IN = np.array([[1, 2], [3, 4]], dtype=np.float64)
EX_K = np.array([[1, 0, 2], [0, 1, 0], [3, 0, 1]], dtype=np.float64)


def _torch_tconv(x, k, stride, padding, output_padding, dilation):
    return torch.nn.functional.conv_transpose2d(
        torch.tensor(x[None, None]), torch.tensor(k[None, None]), stride=stride, padding=padding,
        output_padding=output_padding, dilation=dilation)[0, 0].numpy()


def _scatter(x, k, s, p, op, d):
    """The definition, one loop per index: out[i*s + m*d - p, j*s + n*d - p] += x[i, j] * K[m, n]."""
    ho = (x.shape[0] - 1) * s[0] - 2 * p[0] + d[0] * (k.shape[0] - 1) + op[0] + 1
    wo = (x.shape[1] - 1) * s[1] - 2 * p[1] + d[1] * (k.shape[1] - 1) + op[1] + 1
    out = np.zeros((ho, wo))
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            for m in range(k.shape[0]):
                for n in range(k.shape[1]):
                    r, c = i * s[0] + m * d[0] - p[0], j * s[1] + n * d[1] - p[1]
                    if 0 <= r < ho and 0 <= c < wo:
                        out[r, c] += x[i, j] * k[m, n]
    return out


# ------------------------------------------------------------------------------------------ conv transpose
def test_conv_transpose_default_example_exact():
    r = explain_conv_transpose()
    expected = [[1, 0, 4, 0, 4], [0, 1, 0, 2, 0], [6, 0, 17, 0, 10], [0, 3, 0, 4, 0], [9, 0, 15, 0, 4]]
    assert r.output.tolist() == expected and r.output_shape == (5, 5)
    assert np.array_equal(r.output, _torch_tconv(EX_IN, EX_K, 2, 0, 0, 1))
    assert r.formulas["rows"] == "(2 - 1)*2 - 2*0 + 1*(3 - 1) + 0 + 1 = 5"
    # view 1: each step adds x[i, j] * K at rows i*2..i*2+2; the running canvas ends at the output
    assert [s.position for s in r.steps] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for s in r.steps:
        i, j = s.position
        assert s.value == EX_IN[i, j] and np.array_equal(s.contribution, EX_IN[i, j] * EX_K)
        assert s.rows == [2 * i, 2 * i + 1, 2 * i + 2] and s.cols == [2 * j, 2 * j + 1, 2 * j + 2]
    assert r.steps[1].canvas_after.tolist()[2] == [3, 0, 7, 0, 2]
    assert np.array_equal(r.steps[-1].canvas_after, r.output)
    # the overlap in the middle: all four copies reach out[2, 2]
    c22 = r.cells[12]
    assert c22.position == (2, 2) and c22.sum == 17
    assert [(ij, mn) for ij, mn, _, _ in c22.terms] == [((0, 0), (2, 2)), ((0, 1), (2, 0)), ((1, 0), (0, 2)),
                                                       ((1, 1), (0, 0))]
    assert sum(a * b for _, _, a, b in c22.terms) == 17
    # view 2: upsampled with one zero between values, padded by k-1 = 2, kernel flipped
    assert r.upsampled.tolist() == [[1, 0, 2], [0, 0, 0], [3, 0, 4]]
    assert r.conv_padding == ((2, 2), (2, 2)) and r.conv_input.shape == (7, 7)
    assert r.kernel_flipped.tolist() == [[1, 0, 3], [0, 1, 0], [2, 0, 1]]
    text = r.to_text()
    assert "out[2, 2] = x[0,0]*K[2,2] + x[0,1]*K[2,0] + x[1,0]*K[0,2] + x[1,1]*K[0,0] = 1*1 + 2*3 + 3*2 + 4*1 = 17" \
        in text
    assert "sum = 1*1 + 0*0 + 2*3 + 0*0 + 0*1 + 0*0 + 3*2 + 0*0 + 4*1 = 17" in text
    assert "(2 - 1)*2 - 2*0 + 1*(3 - 1) + 0 + 1 = 5" in text and "checked:" in text


@pytest.mark.parametrize("x, k, s, p, op, d", [
    (EX_IN, EX_K, (2, 2), (0, 0), (0, 0), (1, 1)),
    (EX_IN, EX_K, (2, 2), (1, 1), (1, 1), (1, 1)),
    (np.arange(6.0).reshape(2, 3) - 2.5, np.array([[0.5, -1], [2, 0.25]]), (3, 2), (0, 1), (2, 1), (1, 1)),
    (np.array([[1.0, -2], [0.1, 3]]), np.array([[1.0, 2, 3]]), (1, 2), (0, 0), (0, 0), (2, 1)),
    (np.array([[2.0, 1, 0, 1]]), np.array([[1.0, -1], [2, 1]]), (2, 1), (0, 1), (1, 0), (1, 1)),
    (np.array([[1.0, 2], [3, 4]]), np.array([[1.0, 2], [3, 4]]), (1, 1), (1, 1), (0, 0), (1, 1)),  # crop in view 2
    (np.array([[1.0, 2], [3, 4]]), np.array([[1.0, 2], [3, 4]]), (2, 2), (0, 0), (0, 0), (3, 3)),
])
def test_conv_transpose_every_step_against_loops_and_torch(x, k, s, p, op, d):
    r = explain_conv_transpose(x.tolist(), k.tolist(), stride=s, padding=p, output_padding=op, dilation=d)
    ref = _scatter(x, k, s, p, op, d)
    assert np.allclose(r.output, ref, atol=1e-12)
    assert np.allclose(r.output, _torch_tconv(x, k, s, p, op, d), atol=1e-12)
    # view 1: the canvas after the last step, cropped, is the output; every cell's terms sum to it
    ch, cw = r.canvas.shape
    assert (ch, cw) == (r.output_shape[0] + 2 * p[0], r.output_shape[1] + 2 * p[1])
    assert np.allclose(r.steps[-1].canvas_after[p[0]:p[0] + r.output_shape[0], p[1]:p[1] + r.output_shape[1]],
                       r.output)
    for cell in r.cells:
        rr, cc = cell.position
        assert cell.sum == r.output[rr, cc]
        assert cell.sum == pytest.approx(sum(a * b for _, _, a, b in cell.terms), abs=1e-12)
        for (i, j), (m, n), a, b in cell.terms:
            assert (i * s[0] + m * d[0] - p[0], j * s[1] + n * d[1] - p[1]) == (rr, cc)
            assert a == x[i, j] and b == k[m, n]
    # view 2: zero-upsample, pad d*(k-1)-p (+op after; negative = crop), flip, correlate with stride 1
    up = np.zeros(((x.shape[0] - 1) * s[0] + 1, (x.shape[1] - 1) * s[1] + 1))
    up[::s[0], ::s[1]] = x
    assert np.array_equal(r.upsampled, up)
    big = np.pad(up, [(d[a] * (k.shape[a] - 1) + 5, d[a] * (k.shape[a] - 1) + 5) for a in range(2)])
    lo = [5 + p[a] for a in range(2)]
    want = big[lo[0]:big.shape[0] - lo[0] + op[0], lo[1]:big.shape[1] - lo[1] + op[1]]
    assert np.array_equal(r.conv_input, want)
    kf = k[::-1, ::-1]
    for st in r.conv_steps:
        i, j = st.position
        win = r.conv_input[i:i + d[0] * (k.shape[0] - 1) + 1:d[0], j:j + d[1] * (k.shape[1] - 1) + 1:d[1]]
        assert np.array_equal(st.window, win) and np.array_equal(st.products, win * kf)
        assert st.sum == pytest.approx(float((win * kf).sum()), abs=1e-12) and st.sum == r.output[i, j]
    json.dumps(r.to_dict())
    r.to_text()


def test_conv_transpose_json_keys():
    d = explain_conv_transpose().to_dict()
    assert {"operation", "input", "kernel", "stride", "padding", "output_padding", "dilation", "output_size",
            "output", "output_shape", "canvas", "steps", "cells", "as_convolution", "engine", "checked_against",
            "notes"} <= set(d)
    assert d["operation"] == "conv_transpose2d" and d["output_shape"] == [5, 5] and len(d["steps"]) == 4
    assert len(d["cells"]) == 25 and d["cells"][12]["sum"] == 17 and len(d["cells"][12]["terms"]) == 4
    assert {"input_position", "value", "canvas_rows", "canvas_cols", "contribution", "canvas_after"} <= \
        set(d["steps"][0])
    conv = d["as_convolution"]
    assert {"upsampled", "padding", "input", "kernel_flipped", "output_size", "steps"} <= set(conv)
    assert len(conv["steps"]) == 25 and conv["steps"][12]["sum"] == 17
    assert json.loads(json.dumps(d)) == d


def test_conv_transpose_max_steps_and_named_kernel():
    r = explain_conv_transpose([[1, 2], [3, 4]], "identity", stride=2)
    assert r.output.tolist() == [[0, 0, 0, 0, 0], [0, 1, 0, 2, 0], [0, 0, 0, 0, 0], [0, 3, 0, 4, 0], [0] * 5]
    text = explain_conv_transpose().to_text(max_steps=1)
    assert "3 more input value(s) not shown" in text and "24 more window(s) not shown" in text


@pytest.mark.parametrize("kwargs, fragment", [
    ({"stride": 0}, "stride must be >= 1"),
    ({"padding": -1}, "padding must be >= 0"),
    ({"output_padding": 2}, "output_padding must be smaller than stride or dilation"),
    ({"padding": 5}, "use less padding"),
    ({"input": [[1, 2], [3]]}, "ragged"),
    ({"kernel": "blurry"}, "not a kernel name"),
    ({"dilation": (1, 2, 3)}, "dilation"),
])
def test_conv_transpose_bad_input(kwargs, fragment):
    with pytest.raises(ValueError, match=None) as e:
        explain_conv_transpose(**kwargs)
    assert fragment in str(e.value) and "\n" not in str(e.value)


# ------------------------------------------------------------------------------------------ batch norm
def _torch_bn(x, gamma, beta, eps, momentum, rm, rv):
    bn = torch.nn.BatchNorm2d(x.shape[1], eps=eps, momentum=momentum, dtype=torch.float64)
    with torch.no_grad():
        bn.weight[:] = torch.tensor(gamma)
        bn.bias[:] = torch.tensor(beta)
        bn.running_mean[:] = torch.tensor(rm)
        bn.running_var[:] = torch.tensor(rv)
    bn.train()
    with torch.no_grad():
        y = bn(torch.tensor(x)).numpy()
        bn.eval()
        ye = bn(torch.tensor(x)).numpy()
    return y, ye, bn.running_mean.numpy(), bn.running_var.numpy()


def test_batchnorm_default_example_exact():
    r = explain_batchnorm()
    assert r.input.shape == (2, 2, 2, 2)
    assert r.mean.tolist() == [4.5, 5.0] and r.var.tolist() == [5.25, 7.0]
    c0, c1 = r.channels
    assert c0.values.tolist() == [1, 2, 3, 4, 5, 6, 7, 8] and c1.values.tolist() == [9, 1, 7, 3, 7, 3, 7, 3]
    assert c0.squares.tolist() == [12.25, 6.25, 2.25, 0.25, 0.25, 2.25, 6.25, 12.25] and c0.sum_squares == 42
    assert (c0.var_unbiased, c1.var_unbiased) == (6, 8) and c1.sum_squares == 56
    assert c0.running_mean == (0, pytest.approx(0.45)) and c1.running_mean == (0, pytest.approx(0.5))
    assert c0.running_var == (1, pytest.approx(1.5)) and c1.running_var == (1, pytest.approx(1.7))
    assert c0.std == pytest.approx(np.sqrt(5.25 + 1e-5))
    text = r.to_text()
    assert "mean = (1 + 2 + 3 + 4 + 5 + 6 + 7 + 8) / 8 = 36 / 8 = 4.5" in text
    assert "(12.25 + 6.25 + 2.25 + 0.25 + 0.25 + 2.25 + 6.25 + 12.25) / 8 = 42 / 8 = 5.25" in text
    assert "unbiased var = 42 / (8 - 1) = 6" in text and "running_var  = (1 - 0.1)*1 + 0.1*6 = 1.5" in text
    assert "running_mean = (1 - 0.1)*0 + 0.1*4.5 = 0.45" in text
    assert "sqrt(var + eps) = sqrt(5.25 + 1e-05) = 2.29129" in text
    assert "image 0 [0, 0]: (1 - 4.5) / 2.29129 = -1.52752;  (-1.52752)*2 + 1 = -2.05505" in text
    assert "Eval mode" in text and "checked:" in text


@pytest.mark.parametrize("seed, shape, eps, momentum", [(0, (2, 2, 2, 2), 1e-5, 0.1), (1, (3, 1, 2, 3), 0.5, 0.3),
                                                        (2, (1, 3, 3, 2), 1e-8, 1.0), (3, (4, 2, 1, 1), 1e-3, 0.0)])
def test_batchnorm_every_step_against_numpy_and_torch(seed, shape, eps, momentum):
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(size=shape) * 4, 2)
    c = shape[1]
    g, b = np.round(rng.normal(size=c), 2), np.round(rng.normal(size=c), 2)
    rm, rv = np.round(rng.normal(size=c), 2), np.round(rng.uniform(0.5, 2, size=c), 2)
    r = explain_batchnorm(x.tolist(), gamma=g.tolist(), beta=b.tolist(), eps=eps, momentum=momentum,
                          running_mean=rm.tolist(), running_var=rv.tolist())
    mean = x.mean(axis=(0, 2, 3))
    var = x.var(axis=(0, 2, 3))
    var_u = x.var(axis=(0, 2, 3), ddof=1)
    assert np.allclose(r.mean, mean) and np.allclose(r.var, var)
    for ch in r.channels:
        k = ch.channel
        assert np.array_equal(ch.values, x[:, k].ravel())
        assert np.allclose(ch.deviations, x[:, k].ravel() - mean[k]) and np.allclose(ch.squares, ch.deviations ** 2)
        assert ch.var_unbiased == pytest.approx(var_u[k]) and ch.std == pytest.approx(np.sqrt(var[k] + eps))
        assert ch.running_mean[1] == pytest.approx((1 - momentum) * rm[k] + momentum * mean[k])
        assert ch.running_var[1] == pytest.approx((1 - momentum) * rv[k] + momentum * var_u[k])
        assert ch.eval_std == pytest.approx(np.sqrt(ch.running_var[1] + eps))
    shp = (1, c, 1, 1)
    xhat = (x - mean.reshape(shp)) / np.sqrt(var.reshape(shp) + eps)
    assert np.allclose(r.normalized, xhat) and np.allclose(r.output, xhat * g.reshape(shp) + b.reshape(shp))
    rm1, rv1 = (1 - momentum) * rm + momentum * mean, (1 - momentum) * rv + momentum * var_u
    assert np.allclose(r.running_mean, rm1) and np.allclose(r.running_var, rv1)
    assert np.allclose(r.eval_output, (x - rm1.reshape(shp)) / np.sqrt(rv1.reshape(shp) + eps) * g.reshape(shp)
                       + b.reshape(shp))
    ty, tye, trm, trv = _torch_bn(x, g, b, eps, momentum, rm, rv)
    assert np.allclose(r.output, ty, atol=1e-10) and np.allclose(r.eval_output, tye, atol=1e-10)
    assert np.allclose(r.running_mean, trm) and np.allclose(r.running_var, trv)
    json.dumps(r.to_dict())
    r.to_text(max_steps=2)


def test_batchnorm_json_keys_and_defaults_for_other_inputs():
    d = explain_batchnorm().to_dict()
    assert {"operation", "input", "input_shape", "eps", "momentum", "gamma", "beta", "steps", "normalized",
            "output", "output_shape", "running_mean", "running_var", "eval_output", "engine", "checked_against",
            "notes"} <= set(d)
    assert d["output_shape"] == [2, 2, 2, 2] and len(d["steps"]) == 2
    s0 = d["steps"][0]
    assert s0["mean"] == 4.5 and s0["var"] == 5.25 and s0["var_unbiased"] == 6 and s0["sum_squares"] == 42
    assert s0["running_mean"]["before"] == 0 and s0["running_var"]["after"] == pytest.approx(1.5)
    assert json.loads(json.dumps(d)) == d
    r = explain_batchnorm([[[[1, 3]]], [[[5, 7]]]])        # another input: a fresh layer, gamma 1, beta 0
    assert r.gamma.tolist() == [1] and r.beta.tolist() == [0] and r.mean.tolist() == [4]
    assert r.var.tolist() == [5] and r.channels[0].var_unbiased == pytest.approx(20 / 3)


def test_batchnorm_from_npy(tmp_path):
    np.save(tmp_path / "b.npy", np.arange(8.0).reshape(2, 1, 2, 2))
    assert explain_batchnorm(tmp_path / "b.npy").mean.tolist() == [3.5]


@pytest.mark.parametrize("kwargs, fragment", [
    ({"input": [[1, 2], [3, 4]]}, "expected a 4-D batch"),
    ({"input": [[[[1, 2]]], [[[3]]]]}, "ragged or non-numeric"),
    ({"input": "[[[[1, 2]]"}, "not valid JSON"),
    ({"input": "missing.npy"}, "neither an existing"),
    ({"input": [[[[1]]]]}, "more than 1 value"),
    ({"gamma": [1, 2, 3]}, "gamma needs 1 or 2 values"),
    ({"beta": "x"}, "beta must be a number"),
    ({"momentum": 1.5}, "momentum must be a number in [0, 1]"),
    ({"eps": -1}, "eps must be a number > 0"),
    ({"eps": 0}, "eps must be a number > 0"),
    ({"running_var": -1}, "running_var must be >= 0"),
])
def test_batchnorm_bad_input(kwargs, fragment):
    with pytest.raises(ValueError) as e:
        explain_batchnorm(**kwargs)
    assert fragment in str(e.value) and "\n" not in str(e.value)
