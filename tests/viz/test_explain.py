"""explain_conv / explain_pool: the seeds' worked examples with exact values, and random cases where the
explanation's output, its window-by-window sums, the engine, the textbook loops and PyTorch all agree."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn.functional as F
from scratchcnn import Tensor
from scratchcnn.functional.reference import conv2d_reference
from scratchcnn.viz import explain_conv, explain_pool, get_kernel, kernel_names, load_kernel, load_matrix

SEED004_KERNEL = [[1, 0, -1], [0, 1, 0], [1, 0, -1]]


# ------------------------------------------------------------------------------------------- worked examples
def test_seed004_valid_is_one_by_one():
    r = explain_conv()
    assert r.output.tolist() == [[1.0]] and r.output_shape == (1, 1)
    assert np.array_equal(r.input, np.ones((3, 3))) and r.kernel.tolist() == SEED004_KERNEL
    (step,) = r.steps
    assert step.products.tolist() == SEED004_KERNEL and step.sum == 1.0
    assert r.to_dict()["output"] == [[1]]
    text = r.to_text()
    assert "wrong" in text and "[[1]]" in text and "Seed 004" in text
    assert "floor((3 + 0 + 0 - 1*(3 - 1) - 1) / 1) + 1 = 1" in text
    assert "sum = 1*1 + 1*0 + 1*(-1) + 1*0 + 1*1 + 1*0 + 1*1 + 1*0 + 1*(-1) = 1" in text


def test_seed004_same_padding_full_result():
    r = explain_conv(padding="same")
    assert r.output.tolist() == [[0, 1, 2], [-1, 1, 3], [0, 1, 2]]
    assert r.padding == ((1, 1), (1, 1)) and len(r.steps) == 9
    corner = r.steps[0]
    assert corner.rows == [-1, 0, 1] and corner.cols == [-1, 0, 1]
    assert corner.window.tolist() == [[0, 0, 0], [0, 1, 1], [0, 1, 1]] and corner.sum == 0
    assert "not all ones" in " ".join(r.notes) or "does not" in " ".join(r.notes)


def test_seed004_convolution_mode_flips_the_kernel():
    r = explain_conv(padding="same", mode="convolution")
    assert r.kernel_used.tolist() == [[-1, 0, 1], [0, 1, 0], [-1, 0, 1]]
    assert r.output.tolist() == [[2, 1, 0], [3, 1, -1], [2, 1, 0]]
    assert "flipped kernel" in r.to_text()


def test_seed000_conv_example():
    r = explain_conv(example="seed000")
    assert r.input.shape == (5, 5) and r.kernel.shape == (3, 3)
    assert r.output.tolist() == [[12, 12, 17], [10, 17, 19], [9, 6, 14]]
    # seed 000's symbolic steps: O(0,1) uses I(0..2, 1..3), O(2,2) uses I(2..4, 2..4)
    s01 = r.steps[1]
    assert s01.position == (0, 1) and s01.rows == [0, 1, 2] and s01.cols == [1, 2, 3]
    assert r.steps[-1].rows == [2, 3, 4] and r.steps[-1].cols == [2, 3, 4]
    assert any("Seed 000" in n for n in r.notes)


@pytest.mark.parametrize("kind, expected", [("max", [[6, 8], [3, 4]]), ("avg", [[3.25, 5.25], [2, 2]])])
def test_seed000_pool_example(kind, expected):
    r = explain_pool(kind=kind)
    assert r.output.tolist() == expected and r.output_shape == (2, 2)
    if kind == "max":
        assert [s.argmax for s in r.steps] == [(1, 1), (1, 3), (2, 0), (3, 3)]
    else:
        assert [s.total for s in r.steps] == [13, 21, 8, 8] and all(s.divisor == 4 for s in r.steps)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["output"] == expected and d["output_shape"] == [2, 2] and len(d["steps"]) == 4


def test_kernel_names_and_values():
    assert kernel_names() == ["identity", "edge", "sobel-x", "sobel-y", "laplacian", "box-blur", "gaussian",
                              "sharpen"]
    sums = {n: get_kernel(n).sum() for n in kernel_names()}
    for n in ("identity", "box-blur", "gaussian", "sharpen"):
        assert sums[n] == pytest.approx(1.0)
    for n in ("edge", "sobel-x", "sobel-y", "laplacian"):
        assert sums[n] == pytest.approx(0.0)
    img = np.arange(25.0).reshape(5, 5)
    assert np.array_equal(explain_conv(img, "identity", padding="same").output, img)
    assert np.allclose(explain_conv(img, "sobel-x").output, 8.0)      # d/dx of a ramp with slope 1
    assert np.allclose(explain_conv(img, "laplacian").output, 0.0)    # linear ramp: zero second derivative


# ------------------------------------------------------------------------------------------- random cases
@st.composite
def conv_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    padding = draw(st.one_of(st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2)),
                             st.sampled_from(["same", "valid"])))
    stride = (1, 1) if padding == "same" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pads = (0, 0) if padding in ("same", "valid") else ((padding, padding) if isinstance(padding, int) else padding)
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - 2 * pads[0]), 7))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - 2 * pads[1]), 7))
    if padding == "valid":
        h, w = max(h, dh * (kh - 1) + 1), max(w, dw * (kw - 1) + 1)
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    x = rng.integers(-5, 6, size=(h, w)).astype(np.float64)
    k = rng.integers(-3, 4, size=(kh, kw)).astype(np.float64)
    mode = draw(st.sampled_from(["correlation", "convolution"]))
    return x, k, stride, padding, (dh, dw), mode


def _independent_window(x, rows, cols):
    h, w = x.shape
    return np.array([[x[r, c] if 0 <= r < h and 0 <= c < w else 0.0 for c in cols] for r in rows])


@settings(max_examples=60, deadline=None)
@given(conv_cases())
def test_explain_conv_agrees_with_engine_reference_and_own_steps(case):
    x, k, stride, padding, dil, mode = case
    r = explain_conv(x, k, stride=stride, padding=padding, dilation=dil, mode=mode)
    eng = F.conv2d(Tensor(x[None, None]), Tensor(k[None, None]), stride=stride, padding=padding, dilation=dil,
                   mode=mode).data[0, 0]
    ref = conv2d_reference(x, k, stride=stride, padding=padding, dilation=dil, mode=mode)
    np.testing.assert_array_equal(r.output, eng)          # the numbers ARE the engine's
    np.testing.assert_allclose(r.output, ref, rtol=0, atol=1e-9)
    ho, wo = r.output_shape
    pt, pl = r.padding[0][0], r.padding[1][0]
    assert [s.position for s in r.steps] == [(i, j) for i in range(ho) for j in range(wo)]
    used = k[::-1, ::-1] if mode == "convolution" else k
    np.testing.assert_array_equal(r.kernel_used, used)
    for s in r.steps:
        i, j = s.position
        assert s.rows == [i * stride[0] + m * dil[0] - pt for m in range(k.shape[0])]
        assert s.cols == [j * stride[1] + n * dil[1] - pl for n in range(k.shape[1])]
        np.testing.assert_array_equal(s.window, _independent_window(x, s.rows, s.cols))
        np.testing.assert_array_equal(s.products, s.window * used)
        assert s.products.sum() == pytest.approx(s.sum, abs=1e-9) and s.sum == r.output[i, j]
    for key, n, kk, a in (("rows", x.shape[0], k.shape[0], 0), ("cols", x.shape[1], k.shape[1], 1)):
        lo, hi = r.padding[a]
        expect = (n + lo + hi - dil[a] * (kk - 1) - 1) // stride[a] + 1
        assert r.output.shape[a] == expect and r.formulas[key].endswith(f"= {expect}")
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert np.allclose(d["output"], r.output) and d["output_shape"] == [ho, wo] and len(d["steps"]) == ho * wo
    assert r.to_text().count("\n\nout[") == min(len(r.steps), 36 if len(r.steps) <= 36 else 12)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(max_examples=25, deadline=None)
@given(conv_cases())
def test_explain_conv_matches_torch(torch, case):
    x, k, stride, padding, dil, mode = case
    r = explain_conv(x, k, stride=stride, padding=padding, dilation=dil, mode=mode)
    kt = torch.tensor(k[::-1, ::-1].copy() if mode == "convolution" else k)
    want = torch.nn.functional.conv2d(torch.tensor(x)[None, None], kt[None, None], stride=stride,
                                      padding=padding, dilation=dil)[0, 0].numpy()
    np.testing.assert_allclose(r.output, want, rtol=1e-6, atol=1e-9)


@st.composite
def pool_cases(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(max(1, kh - 2 * ph), 7)), draw(st.integers(max(1, kw - 2 * pw), 7))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    x = rng.integers(-9, 10, size=(h, w)).astype(np.float64)
    return x, (kh, kw), (sh, sw), (ph, pw), draw(st.sampled_from(["max", "avg"]))


@settings(max_examples=50, deadline=None)
@given(pool_cases())
def test_explain_pool_agrees_with_torch_and_steps(torch, case):
    x, ks, stride, pad, kind = case
    r = explain_pool(x, ks, stride, pad, kind)
    fn = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
    want = fn(torch.tensor(x)[None, None], ks, stride, pad)[0, 0].numpy()
    np.testing.assert_allclose(r.output, want, rtol=1e-12, atol=1e-12)
    for s in r.steps:
        i, j = s.position
        assert s.value == r.output[i, j]
        inside = [x[a, b] for a in s.rows for b in s.cols if 0 <= a < x.shape[0] and 0 <= b < x.shape[1]]
        if kind == "max":
            assert s.value == max(inside) and x[s.argmax] == s.value
        else:
            assert s.total == pytest.approx(sum(inside)) and s.divisor == ks[0] * ks[1]


def test_disagreement_is_detected(monkeypatch):
    """The cross-check is real: a wrong reference makes explain raise instead of printing numbers."""
    import scratchcnn.functional.reference as ref
    monkeypatch.setattr(ref, "conv2d_reference", lambda x, k, **kw: np.zeros((1, 1)) + 99)
    with pytest.raises(RuntimeError, match="disagree"):
        explain_conv()


# ------------------------------------------------------------------------------------------- inputs
def test_inputs_from_files(tmp_path):
    from PIL import Image
    a = np.array([[0, 64], [128, 255]], dtype=np.uint8)
    np.save(tmp_path / "m.npy", a.astype(np.float32)[None])
    (tmp_path / "m.json").write_text("[[0, 64], [128, 255]]")
    Image.fromarray(a).save(tmp_path / "m.png")
    for f in ("m.npy", "m.json", "m.png"):
        np.testing.assert_array_equal(load_matrix(tmp_path / f), a.astype(np.float64))
    assert load_matrix("[[1, 2.5]]").tolist() == [[1.0, 2.5]]
    assert load_kernel(" Sobel_X ").tolist() == get_kernel("sobel-x").tolist()
    r = explain_conv(tmp_path / "m.json", str(tmp_path / "m.npy"))
    assert r.output.tolist() == [[0 * 0 + 64 * 64 + 128 * 128 + 255 * 255]]


@pytest.mark.parametrize("spec, fragment", [
    ("[[1, 2], [3]]", "ragged"),
    ('[[1, "a"], [2, 3]]', "non-numeric"),
    ("[[1, true]]", "non-numeric"),
    ("[[1, null]]", "non-numeric"),
    ("[1, 2, 3]", "flat list"),
    ("[]", "empty"),
    ("[[]]", "empty"),
    ("[[1, NaN]]", "not finite"),
    ("[[1, 2]", "not valid JSON"),
    ("nothing-here.npy", "neither an existing file"),
    ([[1, 2], [3, [4]]], "non-numeric"),
])
def test_bad_matrices(spec, fragment):
    with pytest.raises(ValueError, match=fragment):
        load_matrix(spec)


def test_bad_files(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not an image")
    (tmp_path / "bad.npy").write_bytes(b"nope")
    (tmp_path / "cube.npy").write_bytes(b"")
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2)))
    (tmp_path / "bad.json").write_text("{oops")
    np.save(tmp_path / "cut.npy", np.zeros((8, 8)))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "cut.npy").read_bytes()[:-10])
    for name, frag in (("bad.png", "cannot read image"), ("bad.npy", "not a .npy file"), ("cut.npy", "cannot read"),
                       ("cube.npy", "2-D"), ("bad.json", "not valid JSON")):
        with pytest.raises(ValueError, match=frag) as e:
            load_matrix(tmp_path / name)
        assert "pickle" not in str(e.value)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"input": [[1, 2], [3, 4]], "kernel": "edge"}, "larger than the padded input"),
    ({"input": [[1, 2, 3]], "kernel": [[1, 1]], "dilation": 3}, "dilated extent"),
    ({"input": [[1]], "kernel": "box-blur", "padding": 1, "stride": 2}, None),
    ({"padding": "same", "stride": 2}, "needs stride 1"),
    ({"padding": "full"}, "padding must be"),
    ({"stride": 0}, "stride must be >= 1"),
    ({"padding": -1}, "padding must be >= 0"),
    ({"mode": "flip"}, "mode must be"),
    ({"kernel": "blurry"}, "not a kernel name"),
    ({"example": "seed999"}, "unknown example"),
    ({"input": np.zeros((200, 200)), "kernel": "identity"}, "at most"),
])
def test_bad_conv_arguments(kwargs, fragment):
    if fragment is None:        # a valid corner case: 1x1 input, 3x3 kernel, padding 1, stride 2 -> 1x1
        assert explain_conv(**kwargs).output.tolist() == [[1 / 9]]
        return
    with pytest.raises(ValueError, match=fragment):
        explain_conv(**kwargs)


def test_bad_pool_arguments():
    with pytest.raises(ValueError, match="larger than the padded input"):
        explain_pool(kernel_size=5)
    with pytest.raises(ValueError, match="at most half"):
        explain_pool(padding=2)
    with pytest.raises(ValueError, match="kind must be"):
        explain_pool(kind="min")
