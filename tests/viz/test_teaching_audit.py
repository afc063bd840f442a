"""Audit of the teaching code: the textbook loops (functional/reference*.py) against PyTorch in float64
(rtol 1e-12), and every worked number of the step-by-step explanations (conv, pool, conv-transpose, batchnorm)
against the arithmetic it describes, the library op and PyTorch; the receptive field against a brute-force
perturbation of single input pixels."""
from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
TF = torch.nn.functional

from scratchcnn.functional import reference as R  # noqa: E402
from scratchcnn.functional import reference_more as RM  # noqa: E402

RTOL = ATOL = 1e-12


def T(a):
    return torch.tensor(np.asarray(a, dtype=np.float64))


def close(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and np.allclose(a, b, rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------------------------------- references
@pytest.mark.parametrize("mode", ["correlation", "convolution"])
def test_conv_references_match_torch(mode):
    rng = np.random.default_rng(0)
    for s, p, d, kh, kw in itertools.product([1, 2, 3], [0, 2, "same", "valid", (1, 0)], [1, 2], [1, 2, 3], [2, 3]):
        if p == "same" and s != 1:
            continue
        x, w = rng.standard_normal((2, 2, 7, 8)), rng.standard_normal((3, 2, kh, kw))
        wt = w if mode == "correlation" else w[:, :, ::-1, ::-1].copy()
        assert close(R.conv2d_reference(x, w, s, p, d, mode), TF.conv2d(T(x), T(wt), stride=s, padding=p,
                                                                        dilation=d).numpy()), (s, p, d, kh, kw)
        assert close(R.conv2d_reference(x[0, 0], w[0, 0], (s, 1), p, (1, d), mode),
                     TF.conv2d(T(x[:1, :1]), T(wt[:1, :1]), stride=(s, 1), padding=p, dilation=(1, d))[0, 0])
    for s, p, d, k in itertools.product([1, 2, 3], [0, 3, "same"], [1, 3], [1, 2, 4]):
        if p == "same" and s != 1:
            continue
        x, w = rng.standard_normal((2, 2, 11)), rng.standard_normal((3, 2, k))
        wt = w if mode == "correlation" else w[:, :, ::-1].copy()
        assert close(R.conv1d_reference(x, w, s, p, d, mode),
                     TF.conv1d(T(x), T(wt), stride=s, padding=p, dilation=d).numpy()), (s, p, d, k)


def test_pool_references_match_torch():
    rng = np.random.default_rng(1)
    for k, s, p in itertools.product([1, 2, 3, (2, 3)], [None, 1, 2, (1, 3)], [0, 1]):
        if 2 * p > min(R._pair(k)):
            continue
        x = rng.standard_normal((2, 2, 7, 8))
        assert close(R.max_pool2d_reference(x, k, s, p), TF.max_pool2d(T(x), k, s, p))
        for cip in (True, False):
            assert close(R.avg_pool2d_reference(x, k, s, p, cip),
                         TF.avg_pool2d(T(x), k, s, p, count_include_pad=cip)), (k, s, p, cip)


def test_transposed_conv_references_match_torch():
    rng = np.random.default_rng(2)
    for s, p, op, d, g, bias in itertools.product([1, 2, 3], [0, 2], [0, 1], [1, 2], [1, 2], [False, True]):
        if op >= max(s, d):
            continue
        b = rng.standard_normal(3 * g) if bias else None
        tb = None if b is None else T(b)
        x, w = rng.standard_normal((2, 4, 3, 4)), rng.standard_normal((4, 3, 3, 2))
        assert close(RM.conv_transpose2d_reference(x, w, b, s, p, op, g, d),
                     TF.conv_transpose2d(T(x), T(w), tb, s, p, op, g, d)), (s, p, op, d, g)
        x, w = rng.standard_normal((2, 4, 5)), rng.standard_normal((4, 3, 3))
        assert close(RM.conv_transpose1d_reference(x, w, b, s, p, op, g, d),
                     TF.conv_transpose1d(T(x), T(w), tb, s, p, op, g, d)), (s, p, op, d, g)


def test_norm_resample_loss_references_match_torch():
    rng = np.random.default_rng(3)
    for shape in [(3, 2, 4), (2, 3, 3, 2), (4, 2)]:
        c = shape[1]
        x, w, b = rng.standard_normal(shape) * 3 + 1, rng.standard_normal(c), rng.standard_normal(c)
        for training, mom in itertools.product([True, False], [0.1, None]):
            rm, rv = rng.standard_normal(c), rng.random(c) + 0.5
            trm, trv = T(rm), T(rv)
            y, nm, nv = RM.batch_norm_reference(x, rm, rv, w, b, training, mom, 1e-5, num_batches_tracked=3)
            ty = TF.batch_norm(T(x), trm, trv, T(w), T(b), training, 1 / 3 if mom is None else mom, 1e-5)
            assert close(y, ty) and close(nm, trm) and close(nv, trv)
        assert close(RM.group_norm_reference(x, 1, w, b), TF.group_norm(T(x), 1, T(w), T(b)))
        assert close(RM.layer_norm_reference(x, shape[1:]), TF.layer_norm(T(x), shape[1:]))
        if len(shape) > 2:
            rm, rv = rng.standard_normal(c), rng.random(c) + 0.5
            trm, trv = T(rm), T(rv)
            y, nm, nv = RM.instance_norm_reference(x, rm, rv, w, b, 0.3)
            assert close(y, TF.instance_norm(T(x), trm, trv, T(w), T(b), True, 0.3)) and close(nm, trm) \
                and close(nv, trv)
            for size in (1, 2, 3, 4):
                assert close(RM.local_response_norm_reference(x, size, 1e-2, 0.75, 2.0),
                             TF.local_response_norm(T(x), size, 1e-2, 0.75, 2.0))
    x = rng.standard_normal((1, 2, 4, 6))
    for mode, ac in [("nearest", None), ("bilinear", False), ("bilinear", True)]:
        for kw in ({"size": 3}, {"size": 7}, {"scale_factor": 1.5}, {"scale_factor": 0.5}):
            assert close(RM.interpolate_reference(x, mode=mode, align_corners=ac, **kw),
                         TF.interpolate(T(x), mode=mode, align_corners=ac, **kw)), (mode, ac, kw)
    a, t, wt = rng.standard_normal((3, 4)) * 2, rng.standard_normal((3, 4)) * 2, rng.random((3, 4))
    for red in ("mean", "sum", "none"):
        assert close(RM.huber_loss_reference(a, t, red, 0.7, wt), TF.huber_loss(T(a), T(t), red, 0.7, T(wt)))
        for beta in (0.0, 0.5, 2.0):
            assert close(RM.smooth_l1_loss_reference(a, t, red, beta), TF.smooth_l1_loss(T(a), T(t), reduction=red,
                                                                                         beta=beta))
    lq, p = np.log(rng.dirichlet(np.ones(4), 3)), rng.dirichlet(np.ones(4), 3)
    p[0, 1] = 0
    for red in ("mean", "sum", "none", "batchmean"):
        assert close(RM.kl_div_reference(lq, p, red), TF.kl_div(T(lq), T(p), reduction=red))


# ------------------------------------------------------------------------------------------- explanations
@pytest.fixture
def unwrapped(monkeypatch):
    """Render explanations without line wrapping, so each worked equation is one line to parse."""
    import textwrap
    monkeypatch.setattr(textwrap, "wrap", lambda text, width=70, **kw: [kw.get("initial_indent", "") + text])


def _num(s: str) -> float:
    return float(s.strip("();"))


def _check_sums(text: str) -> int:
    n = 0
    for m in re.finditer(r"^\s*sum = (.*) = (\S+)$", text, re.M):
        total = sum(_num(a) * _num(b) for a, b in (t.split("*") for t in m.group(1).split(" + ")))
        assert np.isclose(total, _num(m.group(2)), rtol=1e-5, atol=1e-5), m.group(0)
        n += 1
    return n


def _small(rng, shape):
    return np.round(rng.uniform(-5, 5, shape), 1)


def test_explain_conv_worked_numbers(unwrapped):
    from scratchcnn.viz.explain import explain_conv
    rng = np.random.default_rng(4)
    checked = 0
    for _ in range(80):
        (h, w), (kh, kw) = rng.integers(2, 7, 2), rng.integers(1, 4, 2)
        st, dl = (int(rng.integers(1, 3)), int(rng.integers(1, 4))), (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        pad = [0, 1, (2, 0), "same", "valid"][int(rng.integers(5))]
        st = (1, 1) if pad == "same" else st
        mode = ["correlation", "convolution"][int(rng.integers(2))]
        x, k = _small(rng, (h, w)), _small(rng, (kh, kw))
        try:
            r = explain_conv(x, k, stride=st, padding=pad, dilation=dl, mode=mode)
        except ValueError:
            continue
        kt = k if mode == "correlation" else k[::-1, ::-1].copy()
        assert close(r.output, TF.conv2d(T(x)[None, None], T(kt)[None, None], stride=st, padding=pad,
                                         dilation=dl)[0, 0])
        checked += _check_sums(r.to_text(max_steps=10 ** 6))
        d = r.to_dict()
        xp = np.pad(x, r.padding)
        for s in d["steps"]:
            win, prods = np.array(s["window"], float), np.array(s["products"], float)
            assert np.allclose(prods, win * np.array(d["kernel_used"], float)) and np.isclose(prods.sum(), s["sum"])
            i, j = s["position"]
            assert s["sum"] == d["output"][i][j]
            rows = [rr + r.padding[0][0] for rr in s["input_rows"]]
            cols = [cc + r.padding[1][0] for cc in s["input_cols"]]
            assert np.array_equal(win, xp[np.ix_(rows, cols)])
    assert checked > 300


def test_explain_pool_worked_numbers(unwrapped):
    from scratchcnn.viz.explain import explain_pool
    rng = np.random.default_rng(5)
    for _ in range(120):
        (h, w) = rng.integers(1, 7, 2)
        ks = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        st = None if rng.random() < 0.3 else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        pd = (int(rng.integers(0, ks[0] // 2 + 1)), int(rng.integers(0, ks[1] // 2 + 1)))
        kind = ["max", "avg"][int(rng.integers(2))]
        x = _small(rng, (h, w))
        try:
            r = explain_pool(x, ks, st, pd, kind)
        except ValueError:
            continue
        fn = TF.max_pool2d if kind == "max" else TF.avg_pool2d
        assert close(r.output, fn(T(x)[None, None], ks, st or ks, pd)[0, 0])
        text = r.to_text(max_steps=10 ** 6)
        for m in re.finditer(r"max\((.*?)\) = (\S+)  \(at input\[(\d+), (\d+)\]\)", text):
            assert max(_num(v) for v in m.group(1).split(", ")) == _num(m.group(2)) == x[int(m.group(3)),
                                                                                          int(m.group(4))]
        for m in re.finditer(r"mean = \((.*?)\) / (\d+) = (\S+) / (\d+) = (\S+)$", text, re.M):
            assert np.isclose(sum(_num(v) for v in m.group(1).split(" + ")), _num(m.group(3)))
            assert np.isclose(_num(m.group(3)) / int(m.group(2)), _num(m.group(5)), rtol=1e-5)


def test_explain_conv_transpose_worked_numbers(unwrapped):
    from scratchcnn.viz.explain_transpose import explain_conv_transpose
    rng = np.random.default_rng(6)
    checked = 0
    for _ in range(60):
        (h, w), (kh, kw) = rng.integers(1, 4, 2), rng.integers(1, 4, 2)
        st, dl = (int(rng.integers(1, 4)), int(rng.integers(1, 4))), (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        pd = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
        op = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(st, dl))
        x, k = _small(rng, (h, w)), _small(rng, (kh, kw))
        try:
            r = explain_conv_transpose(x, k, st, pd, op, dl)
        except ValueError:
            continue
        ref = TF.conv_transpose2d(T(x)[None, None], T(k)[None, None], None, st, pd, op, 1, dl)[0, 0].numpy()
        assert close(r.output, ref)
        text = r.to_text(max_steps=10 ** 6)
        checked += _check_sums(text)
        for c in r.cells:
            rr, cc = c.position
            assert np.isclose(sum(a * b for *_, a, b in c.terms), ref[rr, cc])
            for (i, j), (m, n), a, b in c.terms:
                assert (i * st[0] + m * dl[0] - pd[0], j * st[1] + n * dl[1] - pd[1]) == (rr, cc)
                assert (x[i, j], k[m, n]) == (a, b)
        for m in re.finditer(r"^\s*out\[\d+, \d+\] = x\[.*? = (.*) = (\S+)$", text, re.M):
            pairs = [t.split("*") for t in m.group(1).split(" + ")]
            assert np.isclose(sum(_num(a) * _num(b) for a, b in pairs), _num(m.group(2)), rtol=1e-5, atol=1e-5)
    assert checked > 100


def test_explain_batchnorm_worked_numbers(unwrapped):
    from scratchcnn.viz.explain_norm import explain_batchnorm
    rng = np.random.default_rng(7)
    for _ in range(25):
        n, c, h, w = (int(v) for v in rng.integers(1, 4, 4))
        if n * h * w < 2:
            continue
        x = np.round(rng.uniform(-5, 5, (n, c, h, w)), 1)
        g, b = np.round(rng.uniform(-2, 2, c), 1), np.round(rng.uniform(-2, 2, c), 1)
        rm, rv = np.round(rng.uniform(-1, 1, c), 2), np.round(rng.uniform(0, 2, c), 2)
        mom, eps = float(rng.choice([0, 0.1, 0.5, 1.0])), float(rng.choice([1e-5, 0.5]))
        r = explain_batchnorm(x, g, b, eps, mom, rm, rv)
        trm, trv = T(rm), T(rv)
        assert close(r.output, TF.batch_norm(T(x), trm, trv, T(g), T(b), True, mom, eps))
        assert close(r.running_mean, trm) and close(r.running_var, trv)
        assert close(r.eval_output, TF.batch_norm(T(x), trm, trv, T(g), T(b), False, mom, eps))
        text = r.to_text(max_steps=10 ** 6)
        rows = re.findall(r"image \d+ \[\d+, \d+\]: \((\S+) - (\S+)\) / (\S+) = (\S+);  (\S+)\*(\S+) \+ (\S+) = (\S+)",
                          text)
        assert len(rows) == 2 * x.size
        for xv, mu, sd, xh, xh2, gg, bb, y in ([_num(v) for v in row] for row in rows):
            assert np.isclose((xv - mu) / sd, xh, rtol=1e-4, atol=1e-5) and xh == xh2
            assert np.isclose(xh * gg + bb, y, rtol=1e-4, atol=1e-5)
        for m in re.finditer(r"sqrt\(([-\d.e()]+) \+ ([-\d.e()]+)\) = (\S+)", text):
            a, e, s = (_num(v) for v in m.groups())
            assert np.isclose(np.sqrt(a + e), s, rtol=1e-5)
        for s in r.to_dict()["steps"]:
            v = np.array(s["values"], float)
            assert np.isclose(s["mean"], v.mean()) and np.isclose(s["var"], v.var())


# ------------------------------------------------------------------------------------------- receptive field
@pytest.mark.parametrize("name", ["seed001", "lenet5"])
def test_receptive_field_by_perturbing_pixels(name):
    """All parameters positive and a positive input: raising one input pixel raises every output whose field
    holds it (through ReLU and max pooling too), so the pixels that change one output are its field."""
    from scratchcnn import Tensor, models
    from scratchcnn.viz.explain_receptive import explain_receptive_field
    res = explain_receptive_field(name)
    model = models.get(name).double().eval()
    rng = np.random.default_rng(8)
    for p in model.parameters():
        p.data[...] = rng.uniform(0.5, 1.0, p.data.shape)
    step = res.steps[-1]
    layer = dict(model.named_modules())[step.name]
    h, w = res.spatial
    outs = []
    handle = layer.register_forward_hook(lambda m, i, o: outs.append(o.data))
    try:
        base = rng.uniform(0.1, 0.2, (1, 1, h, w))
        batch = np.repeat(base, h * w + 1, axis=0)
        for q in range(h * w):
            batch[q + 1, 0, q // w, q % w] += 100.0
        model(Tensor(batch))
    finally:
        handle.remove()
    out = outs[0]
    for unit in itertools.product(*[sorted({0, n // 2, n - 1}) for n in step.output_shape[1:]]):
        changed = (out[1:, 0, unit[0], unit[1]] != out[0, 0, unit[0], unit[1]]).reshape(h, w)
        for axis, (u, c0, j, r, n) in enumerate(zip(unit, step.start, step.j, step.r, (h, w))):
            lo, hi = max(0, int(c0 + u * j - (r - 1) / 2)), min(n - 1, int(c0 + u * j + (r - 1) / 2))
            idx = np.nonzero(changed.any(axis=1 - axis))[0]
            assert (idx.min(), idx.max()) == (lo, hi), (name, unit, axis)
        assert changed.sum() == (lambda f: f[0] * f[1])([min(n - 1, int(c0 + u * j + (r - 1) / 2)) -
                                                         max(0, int(c0 + u * j - (r - 1) / 2)) + 1 for
                                                         u, c0, j, r, n in zip(unit, step.start, step.j, step.r,
                                                                               (h, w))])
