"""Audit of nn.init and every layer's default initialisation against PyTorch's rules (torch as an oracle where
installed): exact fans, gains, bounds and constants; statistics of the random draws; seeding, dtype, in-place."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import nn
from scratchcnn.nn import init

torch = pytest.importorskip("torch")

_NONLINEARITIES = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                   "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]


@pytest.mark.parametrize("nonlinearity", _NONLINEARITIES)
@pytest.mark.parametrize("param", [None, 0, 0.2, 3.0])
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-12)


@pytest.mark.parametrize("bad", [True, "0.1", [0.1]])
def test_calculate_gain_rejects_bad_slope_like_torch(bad):
    with pytest.raises(ValueError):
        torch.nn.init.calculate_gain("leaky_relu", bad)
    with pytest.raises(ValueError):
        init.calculate_gain("leaky_relu", bad)


@pytest.mark.parametrize("shape", [(3, 4), (5, 3, 2), (16, 3, 5, 5), (2, 3, 4, 5, 6), (4, 0), (0, 4), (4, 3, 0)])
def test_fans_match_torch(shape):
    assert init._calculate_fan_in_and_fan_out(np.empty(shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


@pytest.mark.parametrize("fn", ["xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"])
@pytest.mark.parametrize("shape", [(), (5,)])
def test_fewer_than_two_dims_raise_like_torch(fn, shape):
    with pytest.raises(ValueError):
        getattr(torch.nn.init, fn)(torch.empty(shape))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        getattr(init, fn)(np.empty(shape, dtype=np.float32))


def _bound_and_std(layer_ctor):
    """torch's default-init bound of a layer's weight: kaiming_uniform_(a=sqrt(5)) -> 1/sqrt(fan_in)."""
    t = layer_ctor(torch.nn)
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(t.weight)
    return 1 / math.sqrt(fan_in)


_LAYERS = [
    ("Linear", lambda m: m.Linear(300, 200)),
    ("Conv1d", lambda m: m.Conv1d(4, 128, 7)),
    ("Conv2d_groups", lambda m: m.Conv2d(8, 64, (3, 2), groups=4)),
    ("Conv3d_groups", lambda m: m.Conv3d(6, 12, 3, groups=3)),
    ("ConvTranspose1d_groups", lambda m: m.ConvTranspose1d(8, 64, 5, groups=2)),
    ("ConvTranspose2d_groups", lambda m: m.ConvTranspose2d(6, 30, (3, 4), groups=3)),
    ("ConvTranspose2d_wide_in", lambda m: m.ConvTranspose2d(512, 10, 3)),
]


@pytest.mark.parametrize("name, ctor", _LAYERS, ids=[n for n, _ in _LAYERS])
def test_default_weight_and_bias_bounds_match_torch(name, ctor):
    sc.manual_seed(0)
    ours = ctor(nn)
    theirs = ctor(torch.nn)
    bound = _bound_and_std(ctor)
    # same shapes as torch (a transposed conv's weight is (in, out/groups, *k): fan_in from out/groups)
    assert ours.weight.shape == tuple(theirs.weight.shape) and ours.bias.shape == tuple(theirs.bias.shape)
    w, b = ours.weight.data.astype(np.float64), ours.bias.data.astype(np.float64)
    assert ours.weight.dtype == np.float32 and ours.bias.dtype == np.float32
    assert np.abs(w).max() <= bound * (1 + 1e-6) and np.abs(b).max() <= bound * (1 + 1e-6)
    if w.size >= 2000:
        assert np.abs(w).max() > 0.99 * bound
        assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.03)


def test_transposed_conv_fan_in_is_out_channels_over_groups_times_kernel():
    m = nn.ConvTranspose2d(6, 30, (3, 4), groups=3)
    assert init._calculate_fan_in_and_fan_out(m.weight)[0] == (30 // 3) * 12
    sc.manual_seed(1)
    m = nn.ConvTranspose1d(512, 2, 3)       # fan_in 6: bound 1/sqrt(6), not 1/sqrt(512*3)
    assert np.abs(m.weight.data).max() > 0.9 / math.sqrt(6)


def test_kaiming_statistics_on_a_512_square_weight():
    w = sc.Tensor(np.empty((512, 512), dtype=np.float32))
    g = np.random.default_rng(0)
    for a, mode, nl in [(0, "fan_in", "relu"), (0.2, "fan_out", "leaky_relu"), (0, "FAN_IN", "tanh"),
                        (math.sqrt(5), "fan_in", "leaky_relu")]:
        gain = torch.nn.init.calculate_gain(nl, a)
        bound = gain * math.sqrt(3 / 512)
        assert init.kaiming_uniform_(w, a=a, mode=mode, nonlinearity=nl, generator=g) is w
        assert np.abs(w.data).max() <= bound * (1 + 1e-6) and np.abs(w.data).max() > 0.999 * bound
        assert w.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
        init.kaiming_normal_(w, a=a, mode=mode, nonlinearity=nl, generator=g)
        assert w.data.std() == pytest.approx(gain / math.sqrt(512), rel=0.02)
        assert w.dtype == np.float32


def test_xavier_statistics():
    w = sc.Tensor(np.empty((256, 128, 3), dtype=np.float32))
    fan_in, fan_out = 128 * 3, 256 * 3
    g = np.random.default_rng(1)
    init.xavier_uniform_(w, gain=init.calculate_gain("relu"), generator=g)
    bound = math.sqrt(2) * math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w.data).max() <= bound * (1 + 1e-6) and np.abs(w.data).max() > 0.999 * bound
    init.xavier_normal_(w, gain=0.5, generator=g)
    assert w.data.std() == pytest.approx(0.5 * math.sqrt(2 / (fan_in + fan_out)), rel=0.02)


def test_zero_element_kaiming_is_a_noop():
    t = sc.Tensor(np.empty((0, 4), dtype=np.float32))
    assert init.kaiming_uniform_(t) is t and init.kaiming_normal_(t) is t


def test_constants_and_affine_and_prelu_and_embedding_defaults():
    for m in [nn.BatchNorm1d(7), nn.BatchNorm2d(3), nn.LayerNorm((3, 4)), nn.GroupNorm(2, 6),
              nn.InstanceNorm2d(5, affine=True)]:
        assert np.all(m.weight.data == 1) and np.all(m.bias.data == 0)
        m.weight.data[...] = 3
        m.bias.data[...] = 3
        m.reset_parameters()
        assert np.all(m.weight.data == 1) and np.all(m.bias.data == 0)
    assert nn.InstanceNorm2d(5).weight is None                  # affine=False by default, as torch
    p = nn.PReLU(3)
    assert p.weight.shape == (3,) and np.all(p.weight.data == np.float32(0.25))
    sc.manual_seed(0)
    emb = nn.Embedding(2000, 64, padding_idx=-2)
    assert emb.padding_idx == 1998 and not emb.weight.data[1998].any()
    rest = np.delete(emb.weight.data, 1998, axis=0).astype(np.float64)
    assert abs(rest.mean()) < 0.01 and rest.std() == pytest.approx(1.0, rel=0.02)


def test_init_functions_work_in_place_and_return_their_argument():
    for fn, args in [("uniform_", ()), ("normal_", ()), ("trunc_normal_", ()), ("constant_", (0.5,)),
                     ("zeros_", ()), ("ones_", ()), ("xavier_uniform_", ()), ("xavier_normal_", ()),
                     ("kaiming_uniform_", ()), ("kaiming_normal_", ())]:
        t = sc.Tensor(np.zeros((3, 4), dtype=np.float32))
        data = t.data
        assert getattr(init, fn)(t, *args) is t and t.data is data and t.dtype == np.float32
        arr = np.zeros((3, 4))
        assert getattr(init, fn)(arr, *args) is arr and arr.dtype == np.float64
    base = np.zeros((4, 6), dtype=np.float32)
    init.ones_(base[:, ::2])                                    # a strided view is written through
    assert base.sum() == 12


def test_seeding_builds_identical_models():
    def build():
        return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ConvTranspose2d(8, 4, 2),
                             nn.Linear(10, 5), nn.Embedding(7, 3, padding_idx=0), nn.PReLU())
    sc.manual_seed(5)
    a = [p.data.copy() for p in build().parameters()]
    sc.manual_seed(5)
    b = [p.data.copy() for p in build().parameters()]
    sc.manual_seed(6)
    c = [p.data.copy() for p in build().parameters()]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_default_dtype_float64_is_kept():
    before = sc.get_default_dtype()
    sc.set_default_dtype(np.float64)
    try:
        for m in [nn.Linear(3, 4), nn.Conv2d(2, 3, 3), nn.ConvTranspose2d(2, 3, 3), nn.Embedding(4, 3),
                  nn.BatchNorm2d(3), nn.LayerNorm(3), nn.GroupNorm(1, 2), nn.PReLU()]:
            assert all(p.dtype == np.float64 for p in m.parameters()), type(m).__name__
    finally:
        sc.set_default_dtype(before)


@pytest.mark.parametrize("mean, std, a, b", [(0.0, 1.0, 3.0, 4.0), (0.0, 1.0, 5.0, 6.0), (1.0, 0.5, -3.0, -2.0)])
def test_trunc_normal_far_in_a_tail_is_not_clamped(mean, std, a, b):
    """Regression: a window of small probability used to end with a clamp, piling ~27% (a=3, b=4) to 100%
    (a=5, b=6) of the values onto the bound; torch samples the truncated normal exactly."""
    n = 20000
    t = sc.Tensor(np.empty(n, dtype=np.float32))
    init.trunc_normal_(t, mean, std, a, b, generator=np.random.default_rng(0))
    d = t.data.astype(np.float64)
    assert d.min() >= a and d.max() <= b
    assert np.mean(d == a) < 0.01 and np.mean(d == b) < 0.01
    # the exact truncated-normal mean: mean + std * (phi(alpha) - phi(beta)) / (Phi(beta) - Phi(alpha))
    alpha, beta = (a - mean) / std, (b - mean) / std
    phi = lambda x: math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    Phi = lambda x: 0.5 * math.erfc(-x / math.sqrt(2))
    expected = mean + std * (phi(alpha) - phi(beta)) / (Phi(beta) - Phi(alpha))
    assert abs(d.mean() - expected) < 0.02 * (b - a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tt = torch.nn.init.trunc_normal_(torch.empty(n), mean, std, a, b).double().numpy()
    assert abs(d.mean() - tt.mean()) < 0.02 * (b - a) and d.std() == pytest.approx(tt.std(), rel=0.1)


def test_trunc_normal_common_case_keeps_its_stream_and_bounds():
    """The usual window (here std 0.02 in [-2, 2] and std 1 in [-2, 2]) still draws normals and resamples
    the outliers: same values as before the tail fix."""
    for std, a, b in [(0.02, -2.0, 2.0), (1.0, -2.0, 2.0), (1.0, -0.5, 0.5)]:
        g = np.random.default_rng(3)
        out = g.normal(0.0, std, size=4096)
        bad = np.flatnonzero((out < a) | (out > b))
        while bad.size:
            out[bad] = g.normal(0.0, std, size=bad.size)
            bad = bad[(out[bad] < a) | (out[bad] > b)]
        t = init.trunc_normal_(np.empty(4096), 0.0, std, a, b, generator=np.random.default_rng(3))
        np.testing.assert_array_equal(t, out)
        assert t.min() >= a and t.max() <= b


def test_eye_and_dirac_equal_torch(torch):
    from scratchcnn.nn import init as sinit
    for shape in [(3, 3), (2, 5), (5, 2)]:
        ours = sinit.eye_(np.full(shape, 7.0))
        np.testing.assert_array_equal(ours, torch.nn.init.eye_(torch.full(shape, 7.0, dtype=torch.float64)).numpy())
    for shape, groups in [((4, 4, 3), 1), ((6, 3, 3, 3), 2), ((4, 2, 3, 2, 5), 2), ((2, 5, 3, 3), 1),
                          ((8, 2, 4, 4), 4)]:
        ours = sinit.dirac_(np.full(shape, 7.0), groups=groups)
        want = torch.nn.init.dirac_(torch.full(shape, 7.0, dtype=torch.float64), groups=groups).numpy()
        np.testing.assert_array_equal(ours, want, err_msg=str((shape, groups)))
    with pytest.raises(ValueError, match="eye_: only 2-D"):
        sinit.eye_(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="divisible by groups"):
        sinit.dirac_(np.zeros((3, 3, 3)), groups=2)


@pytest.mark.parametrize("shape", [(6, 6), (3, 8), (8, 3), (4, 2, 3, 3), (16, 2, 2)])
def test_orthogonal_is_orthonormal_with_the_gain(shape):
    from scratchcnn.nn import init as sinit
    w = sc.Tensor(np.zeros(shape, dtype=np.float64))
    assert sinit.orthogonal_(w, gain=2.0, generator=np.random.default_rng(0)) is w
    m = w.data.reshape(shape[0], -1) / 2.0
    small = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    np.testing.assert_allclose(small, np.eye(len(small)), atol=1e-12)
    again = sinit.orthogonal_(np.zeros(shape), gain=2.0, generator=np.random.default_rng(0))
    np.testing.assert_array_equal(again, w.data)                 # seeded: the same matrix
