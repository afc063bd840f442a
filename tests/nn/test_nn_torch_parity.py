"""Module semantics checked against PyTorch: train()/eval() recursion, the default dtype of new layers,
BatchNorm's optional num_batches_tracked in load_state_dict, the channel-dropout layers, container pop/clear."""
from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn import nn
from scratchcnn.nn import init


@contextmanager
def _default_dtype(torch, dtype):
    """Both libraries' default dtype set to ``dtype`` (a NumPy dtype) for the block, restored after."""
    before_sc, before_th = sc.get_default_dtype(), torch.get_default_dtype()
    sc.set_default_dtype(dtype)
    torch.set_default_dtype(getattr(torch, np.dtype(dtype).name))
    try:
        yield
    finally:
        sc.set_default_dtype(before_sc)
        torch.set_default_dtype(before_th)


def _dtypes(module) -> list[tuple[str, str]]:
    """(name, dtype name) of every parameter and buffer, in the same spelling for both libraries."""
    items = list(module.named_parameters()) + list(module.named_buffers())
    return [(n, str(t.dtype).replace("torch.", "")) for n, t in items]


# ---------------------------------------------------------------- 1. train()/eval() recurse through children
def _frozen_bn_net(lib):
    class FrozenBN(lib.BatchNorm1d):
        """Stays in eval mode whatever its parent asks (a common fine-tuning override)."""

        def train(self, mode=True):
            return super().train(False)

    class Block(lib.Module):
        def __init__(self):
            super().__init__()
            self.fc = lib.Linear(3, 3)
            self.bn = FrozenBN(3)

        def forward(self, x):
            return self.bn(self.fc(x))

    return lib.Sequential(Block(), lib.Dropout(0.5), lib.Sequential(FrozenBN(3), lib.ReLU()))


def test_train_calls_each_childs_own_train_like_torch(torch):
    m, th = _frozen_bn_net(nn), _frozen_bn_net(torch.nn)
    for mode in (False, True, True, False, True):
        assert m.train(mode) is m
        th.train(mode)
        got = [(n, mod.training) for n, mod in m.named_modules()]
        assert got == [(n, mod.training) for n, mod in th.named_modules()]
    assert not m[0].bn.training and not m[2][0].training and m[0].fc.training and m[1].training
    assert m.eval() is m and not any(mod.training for mod in m.modules())
    with pytest.raises(ValueError, match="training mode"):
        m.train(1)


def test_train_override_keeps_batchnorm_statistics_frozen():
    m = _frozen_bn_net(nn)
    m.train()
    bn = m[0].bn
    before = (bn.running_mean.data.copy(), bn.running_var.data.copy())
    m(sc.Tensor(np.random.default_rng(0).standard_normal((6, 3))))
    np.testing.assert_array_equal(bn.running_mean.data, before[0])
    np.testing.assert_array_equal(bn.running_var.data, before[1])
    assert int(bn.num_batches_tracked.data) == 0


# ---------------------------------------------------------------- 2. new layers follow the default dtype
_LAYERS = {
    "Linear": lambda lib: lib.Linear(4, 3),
    "Conv1d": lambda lib: lib.Conv1d(2, 3, 3),
    "Conv2d": lambda lib: lib.Conv2d(2, 4, 3, groups=2),
    "BatchNorm1d": lambda lib: lib.BatchNorm1d(3),
    "BatchNorm2d": lambda lib: lib.BatchNorm2d(3, bias=False),
    "Embedding": lambda lib: lib.Embedding(5, 2, padding_idx=0),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(_LAYERS))
def test_new_layers_use_the_default_dtype_like_torch(torch, name, dtype):
    with _default_dtype(torch, dtype):
        m, th = _LAYERS[name](nn), _LAYERS[name](torch.nn)
        assert _dtypes(m) == _dtypes(th)
        assert any(d == np.dtype(dtype).name for _, d in _dtypes(m))
        assert nn.Parameter().dtype == np.dtype(dtype)
        assert str(torch.nn.Parameter().dtype) == f"torch.{np.dtype(dtype).name}"


@pytest.mark.parametrize("make", [lambda lib, dt: lib.Linear(2, 3, dtype=dt),
                                  lambda lib, dt: lib.Conv2d(1, 2, 3, dtype=dt),
                                  lambda lib, dt: lib.BatchNorm1d(2, dtype=dt),
                                  lambda lib, dt: lib.Embedding(3, 2, dtype=dt)])
def test_explicit_dtype_argument_wins_over_the_default(torch, make):
    with _default_dtype(torch, np.float64):
        m, th = make(nn, np.float32), make(torch.nn, torch.float32)
        assert _dtypes(m) == _dtypes(th)
        assert all(d in ("float32", "int64") for _, d in _dtypes(m))


def test_init_functions_keep_the_parameter_dtype():
    for dt in (np.float32, np.float64):
        w = nn.Parameter(np.zeros((4, 3), dtype=dt))
        for fn in (init.kaiming_uniform_, init.kaiming_normal_, init.xavier_uniform_, init.xavier_normal_,
                   init.uniform_, init.normal_, init.trunc_normal_, init.ones_, init.zeros_):
            data = w.data
            fn(w)
            assert w.data is data and w.dtype == np.dtype(dt), fn.__name__
        init.constant_(w, 0.3)
        assert w.dtype == np.dtype(dt) and np.all(w.data == np.dtype(dt).type(0.3))


def test_float64_default_batchnorm_running_stats_match_torch_exactly(torch):
    """Under a float64 default the running statistics are float64 all the way: torch's to 1e-12."""
    rng = np.random.default_rng(3)
    with _default_dtype(torch, np.float64):
        m, th = nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
        m.weight.data[...] = rng.standard_normal(3)
        th.weight.data = torch.tensor(m.weight.data)
        for _ in range(3):
            x = rng.standard_normal((4, 3, 5, 5)) * 100 + 1e3 / 3
            y = m(sc.Tensor(x))
            y_th = th(torch.tensor(x))
        assert y.dtype == np.float64
        np.testing.assert_allclose(y.data, y_th.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(m.running_mean.data, th.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(m.running_var.data, th.running_var.numpy(), rtol=1e-12)


# ---------------------------------------------------------------- 3. num_batches_tracked may be absent
def _bn_net(lib):
    return lib.Sequential(lib.Conv2d(1, 2, 3), lib.BatchNorm2d(2), lib.Sequential(lib.BatchNorm2d(2)))


def _trained_pair(torch):
    """A scratchcnn net and its torch twin, both after two training steps (num_batches_tracked == 2)."""
    th, m = _bn_net(torch.nn).double(), _bn_net(nn).double()
    m.load_state_dict(th.state_dict())
    rng = np.random.default_rng(0)
    for _ in range(2):
        x = rng.standard_normal((2, 1, 5, 5))
        th(torch.tensor(x))
        m(sc.Tensor(x))
    return m, th


def test_strict_load_without_num_batches_tracked_like_torch(torch):
    m, th = _trained_pair(torch)
    plain = {k: v.numpy() for k, v in th.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert len(plain) == len(th.state_dict()) - 2
    for k in plain:
        plain[k] = plain[k] + 0.5
    res_th = th.load_state_dict({k: torch.tensor(v) for k, v in plain.items()})
    res = m.load_state_dict(plain)
    assert (res.missing_keys, res.unexpected_keys) == (res_th.missing_keys, res_th.unexpected_keys) == ([], [])
    for k, v in th.state_dict().items():  # loaded values, and num_batches_tracked kept as it was (2)
        np.testing.assert_array_equal(m.state_dict()[k], v.numpy(), err_msg=k)
    assert int(m[1].num_batches_tracked.data) == 2
    res = m.load_state_dict(plain, strict=False)
    res_th = th.load_state_dict({k: torch.tensor(v) for k, v in plain.items()}, strict=False)
    assert (res.missing_keys, res.unexpected_keys) == (res_th.missing_keys, res_th.unexpected_keys) == ([], [])


def test_fresh_model_loads_plain_dict_with_zero_num_batches_tracked(torch):
    _, th = _trained_pair(torch)
    m = _bn_net(nn).double()
    m.load_state_dict({k: v.numpy() for k, v in th.state_dict().items() if "num_batches" not in k})
    assert int(m[1].num_batches_tracked.data) == 0 and int(m[2][0].num_batches_tracked.data) == 0
    np.testing.assert_array_equal(m[1].running_var.data, th[1].running_var.numpy())


def test_other_missing_keys_and_versioned_state_dicts_still_fail_like_torch(torch):
    m, th = _trained_pair(torch)
    no_mean = {k: v for k, v in th.state_dict().items() if k != "1.running_mean"}
    with pytest.raises(RuntimeError, match="1.running_mean"):
        th.load_state_dict(no_mean)
    with pytest.raises(ValueError, match="'1.running_mean'"):
        m.load_state_dict(no_mean)
    # a torch state_dict carries _metadata (BatchNorm version 2): there the key is required
    versioned = th.state_dict()
    del versioned["1.num_batches_tracked"]
    with pytest.raises(RuntimeError, match="1.num_batches_tracked"):
        th.load_state_dict(versioned)
    with pytest.raises(ValueError, match="'1.num_batches_tracked'"):
        m.load_state_dict(versioned)
    res, res_th = m.load_state_dict(versioned, strict=False), th.load_state_dict(versioned, strict=False)
    assert res.missing_keys == res_th.missing_keys == ["1.num_batches_tracked"]


# ---------------------------------------------------------------- 4. Dropout1d / Dropout2d layers
def _row_structure(y: np.ndarray) -> np.ndarray:
    """True where a whole x[n, c] slice is zero; asserts every slice is all-zero or all-nonzero."""
    flat = y.reshape(y.shape[0], y.shape[1], -1)
    zero, kept = (flat == 0).all(-1), (flat != 0).all(-1)
    assert (zero | kept).all(), "a channel was dropped partly"
    return zero


@pytest.mark.parametrize("name,shape", [("Dropout1d", (6, 8, 5)), ("Dropout2d", (6, 8, 3, 4)),
                                        ("Dropout2d", (6, 8, 5))])
def test_channel_dropout_layers_like_torch(torch, name, shape):
    m, th = getattr(nn, name)(p=0.4), getattr(torch.nn, name)(p=0.4)
    assert repr(m) == repr(th) and repr(getattr(nn, name)(0.2, True)) == repr(getattr(torch.nn, name)(0.2, True))
    x = np.random.default_rng(1).uniform(1, 2, shape)
    with warnings.catch_warnings(record=True) as w_sc:
        warnings.simplefilter("always")
        y = m(sc.Tensor(x)).data
    with warnings.catch_warnings(record=True) as w_th:
        warnings.simplefilter("always")
        y_th = th(torch.tensor(x)).numpy()
    assert [(w.category, str(w.message)) for w in w_sc] == [(w.category, str(w.message)) for w in w_th]
    for out in (y, y_th):  # each (n, c) slice dropped whole, survivors scaled by 1 / (1 - p)
        zero = _row_structure(out)
        assert 0 < zero.sum() < zero.size
        np.testing.assert_allclose(out[~zero], x[~zero] / 0.6, rtol=1e-12)
    m.eval(), th.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the 3-D warning again, checked above
        np.testing.assert_array_equal(m(sc.Tensor(x)).data, th(torch.tensor(x)).numpy())
    with pytest.raises(ValueError, match="between 0 and 1"):
        getattr(nn, name)(1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        getattr(torch.nn, name)(1.5)


def test_dropout2d_layer_generator_and_manual_seed_reproducible():
    x = sc.Tensor(np.ones((4, 6, 3, 3)))
    a = nn.Dropout2d(0.5, generator=np.random.default_rng(9))(x).data
    b = nn.Dropout2d(0.5, generator=np.random.default_rng(9))(x).data
    np.testing.assert_array_equal(a, b)
    sc.manual_seed(4)
    c = nn.Dropout1d(0.5)(sc.Tensor(np.ones((4, 6, 3)))).data
    sc.manual_seed(4)
    np.testing.assert_array_equal(nn.Dropout1d(0.5)(sc.Tensor(np.ones((4, 6, 3)))).data, c)
    assert _row_structure(c).any()


# ---------------------------------------------------------------- 5. containers: pop and clear
def _seq(lib):
    return lib.Sequential(lib.Linear(2, 2), lib.ReLU(), lib.Tanh(), lib.Linear(2, 1))


def test_sequential_pop_and_append_like_torch(torch):
    m, th = _seq(nn), _seq(torch.nn)
    second = m[1]
    assert m.pop(1) is second and type(th.pop(1)).__name__ == "ReLU"
    assert [n for n, _ in m.named_modules()] == [n for n, _ in th.named_modules()]
    assert [type(x).__name__ for x in m] == [type(x).__name__ for x in th]
    tail, tail_th = m.pop(slice(1, None)), th.pop(slice(1, None))
    assert isinstance(tail, nn.Sequential) and [type(x).__name__ for x in tail] == ["Tanh", "Linear"]
    assert [n for n, _ in tail.named_children()] == [n for n, _ in tail_th.named_children()]
    assert m.append(nn.Sigmoid()) is m and th.append(torch.nn.Sigmoid()) is th
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in th.named_parameters()] == ["0.weight", "0.bias"]
    assert [n for n, _ in m.named_children()] == [n for n, _ in th.named_children()] == ["0", "1"]
    with pytest.raises(IndexError):
        m.pop(5)
    with pytest.raises(IndexError):
        th.pop(5)


def test_module_list_pop_like_torch(torch):
    m, th = nn.ModuleList(list(_seq(nn))), torch.nn.ModuleList(list(_seq(torch.nn)))
    last = m[-1]
    assert m.pop(-1) is last and type(th.pop(-1)).__name__ == "Linear"
    assert m.pop(0).__class__.__name__ == th.pop(0).__class__.__name__ == "Linear"
    assert [n for n, _ in m.named_children()] == [n for n, _ in th.named_children()] == ["0", "1"]


def test_module_dict_pop_and_clear_like_torch(torch):
    def build(lib):
        return lib.ModuleDict({"enc": lib.Linear(2, 2), "act": lib.ReLU(), "dec": lib.Linear(2, 1)})

    m, th = build(nn), build(torch.nn)
    enc = m["enc"]
    assert m.pop("enc") is enc and type(th.pop("enc")).__name__ == "Linear"
    assert list(m.keys()) == list(th.keys()) == ["act", "dec"]
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in th.named_parameters()]
    with pytest.raises(KeyError):
        m.pop("enc")
    with pytest.raises(KeyError):
        th.pop("enc")
    assert m.clear() is None and th.clear() is None
    assert len(m) == len(th) == 0 and list(m.parameters()) == [] and m.state_dict() == {}
