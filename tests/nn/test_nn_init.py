"""nn.init and the layers' default initialisation, checked against the published rules (no PyTorch)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import nn
from scratchcnn.nn import init


def test_calculate_gain_table():
    assert init.calculate_gain("linear") == 1.0 and init.calculate_gain("conv2d") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("swishy")


def test_fans():
    assert init._calculate_fan_in_and_fan_out(np.empty((16, 3, 5, 5))) == (75, 400)
    assert init._calculate_fan_in_and_fan_out(sc.Tensor(np.empty((10, 7)))) == (7, 10)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(np.empty(4))


@pytest.mark.parametrize("layer, fan_in", [
    (lambda: nn.Conv2d(8, 64, 5), 8 * 25),
    (lambda: nn.Conv2d(8, 64, (3, 2), groups=4), 2 * 6),
    (lambda: nn.Conv1d(4, 128, 7), 28),
    (lambda: nn.Linear(300, 200), 300),
])
def test_default_layer_init_bounds(layer, fan_in):
    sc.manual_seed(0)
    m = layer()
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)) and the bias rule give the same bound
    w, b = m.weight.data, m.bias.data
    assert w.dtype == np.float32 and b.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.97 * bound
    assert np.abs(b).max() <= bound
    # U(-bound, bound) has std bound/sqrt(3)
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound / math.sqrt(3)
    assert abs(w.mean()) < 0.05 * bound


def test_embedding_and_batchnorm_defaults():
    sc.manual_seed(0)
    emb = nn.Embedding(1000, 64, padding_idx=3)
    w = emb.weight.data
    assert w.dtype == np.float32 and not w[3].any()
    rest = np.delete(w, 3, axis=0)
    assert abs(rest.mean()) < 0.01 and abs(rest.std() - 1) < 0.01
    assert nn.Embedding(5, 2, padding_idx=-1).padding_idx == 4
    bn = nn.BatchNorm2d(6)
    assert np.all(bn.weight.data == 1) and np.all(bn.bias.data == 0)
    assert np.all(bn.running_mean.data == 0) and np.all(bn.running_var.data == 1)
    assert bn.num_batches_tracked.data.dtype == np.int64 and bn.num_batches_tracked.data == 0


def test_init_functions_statistics():
    g = np.random.default_rng(0)
    t = sc.Tensor(np.empty((400, 300), dtype=np.float32))
    init.xavier_uniform_(t, gain=2.0, generator=g)
    bound = 2.0 * math.sqrt(6 / 700)
    assert np.abs(t.data).max() <= bound and abs(t.data.std() - bound / math.sqrt(3)) < 0.02 * bound
    init.xavier_normal_(t, generator=g)
    assert abs(t.data.std() - math.sqrt(2 / 700)) < 0.02 * math.sqrt(2 / 700)
    init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu", generator=g)
    assert abs(t.data.std() - math.sqrt(2 / 400)) < 0.02 * math.sqrt(2 / 400)
    init.kaiming_uniform_(t, nonlinearity="relu", generator=g)
    bound = math.sqrt(6 / 300)
    assert np.abs(t.data).max() <= bound and np.abs(t.data).max() > 0.99 * bound
    init.trunc_normal_(t, mean=1.0, std=2.0, a=0.0, b=1.5, generator=g)
    assert t.data.min() >= 0.0 and t.data.max() <= 1.5 and t.data.std() > 0.3
    init.normal_(t, 3.0, 0.5, generator=g)
    assert abs(t.data.mean() - 3.0) < 0.01 and abs(t.data.std() - 0.5) < 0.01
    init.uniform_(t, -1, 3, generator=g)
    assert t.data.min() >= -1 and t.data.max() <= 3 and abs(t.data.mean() - 1) < 0.02
    assert init.constant_(t, 2.5) is t and np.all(t.data == 2.5)
    init.zeros_(t)
    assert not t.data.any()
    init.ones_(t.data)  # bare arrays work too
    assert np.all(t.data == 1) and t.dtype == np.float32
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_uniform_(t, mode="fan_avg")
    with pytest.raises(TypeError):
        init.zeros_([1, 2])


def test_generators_make_init_reproducible():
    sc.manual_seed(123)
    a = nn.Conv2d(3, 4, 3).weight.data.copy()
    sc.manual_seed(123)
    b = nn.Conv2d(3, 4, 3).weight.data.copy()
    np.testing.assert_array_equal(a, b)
    lin = nn.Linear(5, 5)
    lin.reset_parameters(generator=np.random.default_rng(7))
    w1 = lin.weight.data.copy()
    lin.reset_parameters(generator=np.random.default_rng(7))
    np.testing.assert_array_equal(w1, lin.weight.data)
