"""batch_norm vs PyTorch (float64, rtol 1e-6; forward, all gradients and the in-place running-stat updates),
finite differences, momentum=None cumulative averaging, float32 preservation, errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import scratchcnn as sc
import scratchcnn.functional as F
from oracle.helpers import compare_with_torch, finite_difference_check

SETTINGS = settings(max_examples=30, deadline=None)


@st.composite
def bn_case(draw):
    C = draw(st.integers(1, 4))
    N = draw(st.integers(1, 4))
    spatial = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=2)))
    if N * int(np.prod(spatial)) < 2:
        N = 2
    return (N, C) + spatial, draw(st.integers(0, 2**31 - 1))


@SETTINGS
@given(case=bn_case(), training=st.booleans(), affine=st.sampled_from(["both", "weight", "none"]),
       momentum=st.sampled_from([0.1, 0.5, 1.0]), eps=st.sampled_from([1e-5, 1e-2]))
def test_batch_norm_matches_torch(torch, case, training, affine, momentum, eps):
    shape, seed = case
    rng = np.random.default_rng(seed)
    C = shape[1]
    x = rng.standard_normal(shape) * 2 + 0.5
    w, b = rng.standard_normal(C), rng.standard_normal(C)
    rm0, rv0 = rng.standard_normal(C), rng.uniform(0.5, 2.0, C)
    rm_s, rv_s = sc.Tensor(rm0.copy()), sc.Tensor(rv0.copy())
    rm_t, rv_t = torch.tensor(rm0.copy()), torch.tensor(rv0.copy())
    arrays = [x, w, b] if affine == "both" else [x, w] if affine == "weight" else [x]

    def sc_fn(xx, ww=None, bb=None):
        return F.batch_norm(xx, rm_s, rv_s, ww, bb, training=training, momentum=momentum, eps=eps)

    def th_fn(xx, ww=None, bb=None):
        return torch.nn.functional.batch_norm(xx, rm_t, rv_t, ww, bb, training=training, momentum=momentum, eps=eps)

    compare_with_torch(torch, sc_fn, th_fn, arrays)
    np.testing.assert_allclose(rm_s.data, rm_t.numpy(), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(rv_s.data, rv_t.numpy(), rtol=1e-6, atol=1e-12)


@SETTINGS
@given(case=bn_case())
def test_batch_norm_without_running_stats_uses_batch_stats(torch, case):
    shape, seed = case
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal(shape), rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    compare_with_torch(torch, lambda a, c, d: F.batch_norm(a, None, None, c, d, training=False),
                       lambda a, c, d: torch.nn.functional.batch_norm(a, None, None, c, d, training=True), [x, w, b])


def test_momentum_none_is_cumulative_average_like_torch_module(torch):
    rng = np.random.default_rng(0)
    mod = torch.nn.BatchNorm2d(3, momentum=None)
    rm, rv = sc.Tensor(np.zeros(3)), sc.Tensor(np.ones(3))
    for step in range(1, 5):
        x = rng.standard_normal((4, 3, 2, 2)) * step
        mod(torch.tensor(x))
        count = sc.Tensor(np.array(step)) if step % 2 else step  # a plain int or a 0-d int64 buffer
        F.batch_norm(sc.Tensor(x), rm, rv, training=True, momentum=None, num_batches_tracked=count)
        np.testing.assert_allclose(rm.data, mod.running_mean.numpy(), rtol=1e-10)
        np.testing.assert_allclose(rv.data, mod.running_var.numpy(), rtol=1e-10)


def test_running_stats_update_in_place_on_data():
    rm, rv = sc.Tensor(np.zeros(2, dtype=np.float32)), sc.Tensor(np.ones(2, dtype=np.float32))
    ids = id(rm.data), id(rv.data)
    x = np.array([[1.0, 2.0], [3.0, 6.0]], dtype=np.float32)
    F.batch_norm(sc.Tensor(x), rm, rv, training=True, momentum=0.5)
    assert (id(rm.data), id(rv.data)) == ids
    np.testing.assert_allclose(rm.data, [1.0, 2.0])            # 0.5 * batch mean
    np.testing.assert_allclose(rv.data, [0.5 + 1.0, 0.5 + 4.0])  # 0.5 * 1 + 0.5 * unbiased var
    assert rm.dtype == rv.dtype == np.float32


def test_eval_leaves_running_stats_alone():
    rm, rv = sc.Tensor(np.array([1.0, -1.0])), sc.Tensor(np.array([4.0, 0.25]))
    x = np.array([[3.0, 0.0], [5.0, -1.0]])
    y = F.batch_norm(sc.Tensor(x), rm, rv, training=False, eps=0.0)
    np.testing.assert_allclose(y.data, [[1.0, 2.0], [2.0, 0.0]])
    np.testing.assert_array_equal(rm.data, [1.0, -1.0])


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 4), (2, 3, 2, 3)])
def test_batch_norm_finite_differences(training, shape):
    rng = np.random.default_rng(1)
    C = shape[1]
    rm, rv = sc.Tensor(rng.standard_normal(C)), sc.Tensor(rng.uniform(0.5, 2, C))
    finite_difference_check(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=training, momentum=0.0),
                            [rng.standard_normal(shape), rng.standard_normal(C), rng.standard_normal(C)])


@pytest.mark.parametrize("training", [True, False])
def test_float32_preserved(training):
    rng = np.random.default_rng(2)
    x = sc.Tensor(rng.standard_normal((4, 3, 5, 5)).astype(np.float32), requires_grad=True)
    w = sc.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    b = sc.Tensor(np.zeros(3, dtype=np.float32), requires_grad=True)
    rm, rv = sc.Tensor(np.zeros(3, dtype=np.float32)), sc.Tensor(np.ones(3, dtype=np.float32))
    y = F.batch_norm(x, rm, rv, w, b, training=training)
    assert y.dtype == np.float32
    y.backward(np.ones(y.shape, dtype=np.float32))
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    assert rm.dtype == rv.dtype == np.float32
    if training:
        np.testing.assert_allclose(y.data.mean(axis=(0, 2, 3)), 0, atol=1e-6)
        np.testing.assert_allclose(x.grad, 0, atol=1e-5)  # d(sum y)/dx is 0 for batch statistics


def test_errors():
    x = sc.Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(sc.Tensor(np.zeros((1, 3))), None, None, training=True)
    with pytest.raises(ValueError, match=r"running_mean must have shape \(3,\)"):
        F.batch_norm(x, sc.Tensor(np.zeros(2)), sc.Tensor(np.ones(2)))
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        F.batch_norm(x, None, None, sc.Tensor(np.ones(4)))
    with pytest.raises(ValueError, match="both"):
        F.batch_norm(x, sc.Tensor(np.zeros(3)), None)
    with pytest.raises(ValueError, match="num_batches_tracked"):
        F.batch_norm(x, sc.Tensor(np.zeros(3)), sc.Tensor(np.ones(3)), training=True, momentum=None)
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        F.batch_norm(sc.Tensor(np.zeros(3)), None, None)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 5), h=st.integers(1, 4), w=st.integers(2, 4), training=st.booleans(),
       seed=st.integers(0, 2**31 - 1))
def test_batch_norm_on_channels_last_memory_matches_torch(torch, n, c, h, w, training, seed):
    """Conv outputs are NCHW views of channels-last memory; batch_norm works in that layout and must agree."""
    rng = np.random.default_rng(seed)
    x, wt, bs = rng.standard_normal((n, c, h, w)) * 2 + 0.5, rng.standard_normal(c), rng.standard_normal(c)
    eye = np.eye(c).reshape(c, c, 1, 1)
    rm0, rv0 = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
    rm_s, rv_s, rm_t, rv_t = sc.Tensor(rm0.copy()), sc.Tensor(rv0.copy()), torch.tensor(rm0), torch.tensor(rv0)

    def sc_fn(xx, ww, bb):
        y = F.conv2d(xx, sc.Tensor(eye))       # identity 1x1 conv: same values, channels-last memory
        if c > 1 and h * w > 1:
            assert not y.data.flags.c_contiguous and np.moveaxis(y.data, 1, -1).flags.c_contiguous
        return F.batch_norm(y, rm_s, rv_s, ww, bb, training=training) * 1.5

    def th_fn(xx, ww, bb):
        y = torch.nn.functional.conv2d(xx, torch.tensor(eye))
        return torch.nn.functional.batch_norm(y, rm_t, rv_t, ww, bb, training=training) * 1.5

    assume(not (training and n * h * w < 2))
    compare_with_torch(torch, sc_fn, th_fn, [x, wt, bs])
    np.testing.assert_allclose(rm_s.data, rm_t.numpy(), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("layout", ["nchw", "channels_last", "2d"])
def test_batch_norm_many_blocks_on_all_cores_matches_torch(torch, layout):
    """Inputs far larger than one block (and than the parallel threshold): per-block statistics merged, blocks
    split over threads; a cropped (strided) gradient as conv's input gradient is."""
    rng = np.random.default_rng(7)
    shape = (300, 257) if layout == "2d" else (24, 12, 45, 41)   # 77k / 531k values
    x = rng.standard_normal(shape) * 3 + 2
    c = shape[1]
    wt, bs = rng.standard_normal(c), rng.standard_normal(c)
    rm_s, rv_s = sc.Tensor(np.zeros(c)), sc.Tensor(np.ones(c))
    rm_t, rv_t = torch.zeros(c, dtype=torch.float64), torch.ones(c, dtype=torch.float64)

    def sc_fn(xx, ww, bb):
        if layout == "channels_last":
            xx = F.conv2d(xx, sc.Tensor(np.eye(c).reshape(c, c, 1, 1)), padding=1)[:, :, 1:-1, 1:-1]
            assert np.moveaxis(xx.data, 1, -1).flags.c_contiguous is False  # cropped: a strided view
        return F.batch_norm(xx, rm_s, rv_s, ww, bb, training=True) * 1.5

    def th_fn(xx, ww, bb):
        if layout == "channels_last":
            xx = torch.nn.functional.conv2d(xx, torch.tensor(np.eye(c).reshape(c, c, 1, 1)), padding=1)[:, :, 1:-1, 1:-1]
        return torch.nn.functional.batch_norm(xx, rm_t, rv_t, ww, bb, training=True) * 1.5

    compare_with_torch(torch, sc_fn, th_fn, [x, wt, bs])
    np.testing.assert_allclose(rm_s.data, rm_t.numpy(), rtol=1e-6)
    np.testing.assert_allclose(rv_s.data, rv_t.numpy(), rtol=1e-6)


def test_batch_norm_float32_is_stable_for_large_means():
    """Block statistics are centred (with E[x^2] - E[x]^2 the variance of a mean-1e4, unit-variance input would
    be lost in float32) and the input gradient uses x - mean as such. Float64 reference on the same float32
    values; the forward's error is float32 rounding of x * scale + shift (PyTorch's fused form)."""
    rng = np.random.default_rng(3)
    x64 = rng.standard_normal((64, 8, 30, 30)) + 1e4
    g = rng.standard_normal(x64.shape)
    x = sc.Tensor(x64.astype(np.float32), requires_grad=True)
    y = F.batch_norm(x, None, None, training=True)
    y.backward(g.astype(np.float32))
    ref_x = sc.Tensor(x64.astype(np.float32).astype(np.float64), requires_grad=True)
    ref = F.batch_norm(ref_x, None, None, training=True)
    ref.backward(g)
    np.testing.assert_allclose(y.data, ref.data, atol=2e-3)
    np.testing.assert_allclose(x.grad, ref_x.grad, atol=1e-4 * np.abs(ref_x.grad).max())


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_float32_channels_last_sums_stay_accurate(torch, training):
    """Channels-last float32 input (what conv and pooling produce), post-ReLU values (most exactly 0, so the
    squared deviations are many equal terms): the per-channel sums of products are added in groups of rows, not
    ~8,000 values one after another (which drifted by ~1e-4 relative and flipped ReLU/pool decisions downstream).
    Float64 PyTorch reference on the same values; the bounds are a few float32 roundings of the results."""
    rng = np.random.default_rng(0)
    n, c, h, w = 64, 64, 14, 14
    v = np.maximum(rng.standard_normal((n, h, w, c)) * 0.1 - 0.12, 0).astype(np.float32)
    x_cl = np.moveaxis(v, -1, 1)                          # (N, C, H, W), channels-last memory
    g = rng.standard_normal(x_cl.shape)
    rm, rv = rng.random(c) * 0.05, rng.random(c) * 0.02 + 0.01
    xt = torch.tensor(np.ascontiguousarray(x_cl), dtype=torch.float64, requires_grad=True)
    wt = torch.ones(c, dtype=torch.float64, requires_grad=True)
    ref = torch.nn.functional.batch_norm(xt, torch.tensor(rm), torch.tensor(rv), wt, None, training=training)
    ref.backward(torch.tensor(g))
    xs = sc.Tensor(x_cl, requires_grad=True)
    ws = sc.Tensor(np.ones(c, np.float32), requires_grad=True)
    y = F.batch_norm(xs, rm.astype(np.float32), rv.astype(np.float32), ws, None, training=training)
    y.backward(g.astype(np.float32))
    scale = np.abs(ref.detach().numpy()).max()
    assert np.abs(y.data - ref.detach().numpy()).max() <= 2e-6 * scale * (5 if training else 1)
    grad = xt.grad.numpy()
    assert np.abs(xs.grad - grad).max() <= 2e-6 * np.abs(grad).max()
    assert np.abs(ws.grad - wt.grad.numpy()).max() <= 1e-5 * np.abs(wt.grad.numpy()).max()
