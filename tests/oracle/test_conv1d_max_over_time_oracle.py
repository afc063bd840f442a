"""conv1d_windows_max (TextCNN's windows + max over time, functional/conv1d_windows_max.py) against the composite
it replaces (conv1d per window, positions past ``valid`` set to -inf, ``Tensor.max`` over time) in float64:
values and every gradient over widths, paddings, dilations, both modes, missing biases, short texts, and ties
from repeated tokens (the gradient shared between tied positions); against PyTorch; non-finite maxima; bad input."""
from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
import scratchcnn.functional as F
import scratchcnn.parallel as parallel
from scratchcnn.functional import conv1d_max_over_time as max_mod
from oracle.helpers import compare_with_torch


def composite(x, ws, bs, valid, padding, dilation, mode):
    """The unfused definition: per window, conv1d, -inf past its valid positions, max over time."""
    outs = []
    for i, (w, b) in enumerate(zip(ws, bs)):
        c = F.conv1d(x, w, b, padding=padding, dilation=dilation, mode=mode)
        own = c.shape[2]
        v = np.clip(valid[:, i], 1, own)
        mask = np.where(np.arange(own)[None, :] < v[:, None], 0.0, -np.inf)
        outs.append((c + sc.Tensor(mask[:, None, :])).max(axis=2))
    return F.cat(outs, 1) if len(outs) > 1 else outs[0]


@st.composite
def configs(draw):
    ks = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    couts = [draw(st.integers(1, 4)) for _ in ks]
    padding, dilation = draw(st.integers(0, 2)), draw(st.integers(1, 2))
    length = max(1, (max(ks) - 1) * dilation + 1 - 2 * padding) + draw(st.integers(0, 6))
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    biases = [draw(st.booleans()) for _ in ks]
    return n, c, length, ks, couts, padding, dilation, biases, draw(st.sampled_from(["correlation", "convolution"])), \
        draw(st.booleans())


@settings(max_examples=80, deadline=None)
@given(cfg=configs(), seed=st.integers(0, 2**16), blocks=st.booleans())
def test_conv1d_windows_max_equals_the_composite(cfg, seed, blocks):
    """``blocks``: one sample per block of the forward, the blocks split over the cores (ties gathered per block)."""
    if blocks:
        with mock.patch.object(max_mod, "ROW_BLOCK", 1), mock.patch.object(parallel, "MIN_PARALLEL_ELEMENTS", 1):
            _equals_composite(cfg, seed)
    else:
        _equals_composite(cfg, seed)


def _equals_composite(cfg, seed):
    n, c, length, ks, couts, padding, dilation, biases, mode, ties = cfg
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, length))
    if ties:          # repeated tokens: the same input column again and again gives tied windows
        x[:, :, 1:] = x[:, :, :1] if rng.random() < 0.5 else x[:, :, 1:]
        x[:, :, length // 2:] = x[:, :, :1]
    arrays = [x] + [a for k, co, hb in zip(ks, couts, biases)
                    for a in (rng.standard_normal((co, c, k)), rng.standard_normal(co) if hb else None)]
    valid = rng.integers(0, length + 2 * padding + 2, size=(n, len(ks)))
    g = None
    results = []
    for fused in (True, False):
        ts = [None if a is None else sc.Tensor(a.copy(), requires_grad=True) for a in arrays]
        ws, bs = ts[1::2], ts[2::2]
        y = (F.conv1d_windows_max(ts[0], ws, bs, valid=valid, padding=padding, dilation=dilation, mode=mode)
             if fused else composite(ts[0], ws, bs, valid, padding, dilation, mode))
        g = rng.standard_normal(y.shape) if g is None else g
        y.backward(sc.Tensor(g))
        results.append([y.data] + [None if t is None else np.asarray(t.grad) for t in ts])
    for i, (a, b) in enumerate(zip(*results)):
        if a is None:
            continue
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=f"output {i}")


def test_conv1d_windows_max_matches_torch(torch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 11))
    # (no ties here: torch computes equal windows at different positions in different summation orders)
    arrays = [x, rng.standard_normal((5, 4, 3)), rng.standard_normal(5), rng.standard_normal((2, 4, 5)),
              rng.standard_normal(2)]
    valid = np.array([[9, 7], [4, 2], [1, 1]])

    def sc_fn(x, w0, b0, w1, b1):
        return F.conv1d_windows_max(x, [w0, w1], [b0, b1], valid=valid)

    def th_fn(x, w0, b0, w1, b1):
        outs = []
        for i, (w, b) in enumerate(((w0, b0), (w1, b1))):
            c = torch.nn.functional.conv1d(x, w, b)
            keep = torch.arange(c.shape[2])[None, :] < torch.tensor(np.clip(valid[:, i], 1, c.shape[2]))[:, None]
            outs.append(c.masked_fill(~keep[:, None, :], float("-inf")).amax(dim=2))
        return torch.cat(outs, 1)
    compare_with_torch(torch, sc_fn, th_fn, arrays)


def test_textcnn_uses_it_and_keeps_its_gradients():
    """The model's fused path (conv1d_windows_max) and its per-module path (a hooked conv) agree, with texts of
    several lengths and repeated characters."""
    from scratchcnn import models
    sc.manual_seed(0)
    m = models.get("textcnn", num_classes=3, vocab_size=30, embed_dim=6, num_filters=5, dropout=0.0).double()
    ids = np.array([[3, 3, 3, 3, 3, 3, 4, 0, 0], [1, 2, 3, 4, 5, 6, 7, 8, 9], [5, 6, 0, 0, 0, 0, 0, 0, 0]])
    outs = []
    for hooked in (False, True):
        handle = m.convs[0].register_forward_hook(lambda *a: None) if hooked else None
        m.zero_grad()
        y = m(ids)
        (y * y).sum().backward()
        outs.append([y.data] + [np.asarray(p.grad) for p in m.parameters()])
        if handle:
            handle.remove()
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_nonfinite_maximum_gives_nan_gradients():
    x = np.ones((2, 2, 6))
    x[0, 0, 2] = np.inf
    ts = [sc.Tensor(x, requires_grad=True), sc.Tensor(np.ones((3, 2, 3)), requires_grad=True),
          sc.Tensor(np.zeros(3), requires_grad=True)]
    F.conv1d_windows_max(ts[0], [ts[1]], [ts[2]]).sum().backward()
    assert all(np.isnan(np.asarray(t.grad)).all() for t in ts)


@pytest.mark.parametrize("valid, x_shape, match", [
    (np.ones((2, 2), np.int64), (2, 3, 8), r"valid must be integers of shape \(2, 1\)"),
    (np.ones((2, 1)), (2, 3, 8), "valid must be integers"),
    (None, (3, 8), "expected a batched input"),
])
def test_bad_input_is_one_clear_error(valid, x_shape, match):
    with pytest.raises(ValueError, match=match):
        F.conv1d_windows_max(sc.Tensor(np.ones(x_shape)), [sc.Tensor(np.ones((2, 3, 3)))], valid=valid)


def test_backward_twice_with_retain_graph_gives_the_same_gradients():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 12))
    x[0] = x[0, :, :1]                                   # ties in sample 0
    ts = [sc.Tensor(a, requires_grad=True) for a in (x, rng.standard_normal((5, 4, 3)), rng.standard_normal(5))]
    y = F.conv1d_windows_max(ts[0], [ts[1]], [ts[2]], valid=np.array([[9], [4], [12]]))
    g = sc.Tensor(rng.standard_normal(y.shape))
    y.backward(g, retain_graph=True)
    first = [np.array(t.grad) for t in ts]
    for t in ts:
        t.grad = None
    y.backward(g)
    for a, t in zip(first, ts):
        np.testing.assert_array_equal(a, t.grad)
