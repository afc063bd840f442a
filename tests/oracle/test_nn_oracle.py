"""scratchcnn.nn modules vs torch.nn in float64 (rtol 1e-6): forward, input and parameter gradients with the
SAME weights (copied through load_state_dict from the torch module), BatchNorm running statistics over several
steps, state_dict keys/shapes/interchange, default-init rules, repr, clip_grad_norm_ and max_norm_."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
from scratchcnn import nn
from scratchcnn.nn.utils import clip_grad_norm_, max_norm_

RTOL, ATOL = 1e-6, 1e-9
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")
SETTINGS = settings(max_examples=20, deadline=None)
SEEDS = st.integers(0, 2**31 - 1)


def _from_torch(sc_mod: nn.Module, th_mod) -> nn.Module:
    """Make ``sc_mod`` float64 and load the torch module's state_dict (torch tensors, in place)."""
    sc_mod.double()
    sc_mod.load_state_dict(th_mod.state_dict())
    return sc_mod


def _close(a, b, msg):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=msg)


def _compare(torch, sc_mod, th_mod, x: np.ndarray, extra=(), seed: int = 0, input_grad: bool = True):
    """Forward both modules on x (plus fixed extra args); backward a random cotangent; compare everything."""
    grad = input_grad and x.dtype.kind == "f"
    xs = sc.Tensor(x.copy(), requires_grad=grad)
    xt = torch.tensor(x.copy(), requires_grad=grad)
    ys = sc_mod(xs, *[sc.Tensor(e) for e in extra])
    yt = th_mod(xt, *[torch.tensor(e) for e in extra])
    _close(ys.data, yt.detach().numpy(), f"forward of {th_mod}")
    if not yt.requires_grad:
        return
    G = np.random.default_rng(seed).standard_normal(yt.shape)
    if yt.ndim:
        ys.backward(G)
        yt.backward(torch.tensor(G))
    else:
        ys.backward()
        yt.backward()
    if grad:
        _close(xs.grad, xt.grad.numpy(), f"input grad of {th_mod}")
    th_params = dict(th_mod.named_parameters())
    assert [n for n, _ in sc_mod.named_parameters()] == list(th_params)
    for name, p in sc_mod.named_parameters():
        tg = th_params[name].grad
        if tg is None:
            assert p.grad is None or not p.grad.any(), name
        else:
            assert p.grad is not None, f"no grad for {name}"
            _close(p.grad, tg.numpy(), f"grad of {name} in {th_mod}")


# ------------------------------------------------------------------------------------------ conv / linear
@st.composite
def conv_cfg(draw, nd: int):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 3))
    k = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    dil = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    if all(s == 1 for s in stride) and draw(st.booleans()):
        pad = draw(st.sampled_from(["same", "valid"]))
    else:
        pad = tuple(draw(st.integers(0, 2)) for _ in range(nd))
    spatial = tuple(d * (kk - 1) + 1 + draw(st.integers(0, 4)) for kk, d in zip(k, dil))
    return dict(cin=cin, cout=cout, k=k, stride=stride, pad=pad, dil=dil, groups=groups, bias=draw(st.booleans()),
                n=draw(st.integers(1, 3)), spatial=spatial)


@SETTINGS
@given(cfg=conv_cfg(2), seed=SEEDS)
def test_conv2d(torch, cfg, seed):
    args = (cfg["cin"], cfg["cout"], cfg["k"])
    kw = dict(stride=cfg["stride"], padding=cfg["pad"], dilation=cfg["dil"], groups=cfg["groups"], bias=cfg["bias"])
    th = torch.nn.Conv2d(*args, **kw)
    m = _from_torch(nn.Conv2d(*args, **kw), th)
    x = np.random.default_rng(seed).standard_normal((cfg["n"], cfg["cin"], *cfg["spatial"]))
    _compare(torch, m, th, x, seed=seed)
    assert repr(m) == repr(th)


@SETTINGS
@given(cfg=conv_cfg(1), seed=SEEDS)
def test_conv1d(torch, cfg, seed):
    args = (cfg["cin"], cfg["cout"], cfg["k"])
    kw = dict(stride=cfg["stride"], padding=cfg["pad"], dilation=cfg["dil"], groups=cfg["groups"], bias=cfg["bias"])
    th = torch.nn.Conv1d(*args, **kw)
    m = _from_torch(nn.Conv1d(*args, **kw), th)
    x = np.random.default_rng(seed).standard_normal((cfg["n"], cfg["cin"], *cfg["spatial"]))
    _compare(torch, m, th, x, seed=seed)
    assert repr(m) == repr(th)


@SETTINGS
@given(fin=st.integers(1, 6), fout=st.integers(1, 5), bias=st.booleans(),
       lead=st.lists(st.integers(1, 3), min_size=0, max_size=2), seed=SEEDS)
def test_linear(torch, fin, fout, bias, lead, seed):
    th = torch.nn.Linear(fin, fout, bias=bias)
    m = _from_torch(nn.Linear(fin, fout, bias=bias), th)
    _compare(torch, m, th, np.random.default_rng(seed).standard_normal((*lead, fin)), seed=seed)
    assert repr(m) == repr(th)


# ------------------------------------------------------------------------------------------ batch norm
@SETTINGS
@given(kind=st.sampled_from(["1d-2D", "1d-3D", "2d"]), c=st.integers(1, 4), momentum=st.sampled_from([0.1, 0.3, None]),
       affine=st.booleans(), track=st.booleans(), eps=st.sampled_from([1e-5, 1e-3]), seed=SEEDS)
def test_batchnorm_train_then_eval(torch, kind, c, momentum, affine, track, eps, seed):
    rng = np.random.default_rng(seed)
    cls_th, cls_sc, shape = {"1d-2D": (torch.nn.BatchNorm1d, nn.BatchNorm1d, (5, c)),
                             "1d-3D": (torch.nn.BatchNorm1d, nn.BatchNorm1d, (3, c, 4)),
                             "2d": (torch.nn.BatchNorm2d, nn.BatchNorm2d, (2, c, 3, 3))}[kind]
    kw = dict(eps=eps, momentum=momentum, affine=affine, track_running_stats=track)
    th = cls_th(c, **kw)
    if affine:
        with torch.no_grad():
            th.weight.copy_(torch.tensor(rng.uniform(0.5, 2.0, c)))
            th.bias.copy_(torch.tensor(rng.standard_normal(c)))
    m = _from_torch(cls_sc(c, **kw), th)
    for step in range(4):
        x = rng.standard_normal(shape) * rng.uniform(0.5, 3.0) + rng.standard_normal()
        m.zero_grad()
        th.zero_grad()
        _compare(torch, m, th, x, seed=seed + step)
    sd_th = th.state_dict()
    sd_sc = m.state_dict()
    assert list(sd_sc) == list(sd_th)
    for k in sd_th:
        _close(sd_sc[k], sd_th[k].numpy(), f"state {k} after 4 training steps")
    m.eval()
    th.eval()
    m.zero_grad()
    th.zero_grad()
    _compare(torch, m, th, rng.standard_normal(shape), seed=seed)
    assert repr(m) == repr(th)


# ------------------------------------------------------------------------------------------ embedding / pools
@SETTINGS
@given(num=st.integers(2, 8), dim=st.integers(1, 4), pad=st.booleans(), freq=st.booleans(),
       max_norm=st.sampled_from([None, 0.5, 1.5]), norm_type=st.sampled_from([2.0, 1.0]),
       idx_shape=st.lists(st.integers(1, 4), min_size=1, max_size=2), seed=SEEDS)
def test_embedding(torch, num, dim, pad, freq, max_norm, norm_type, idx_shape, seed):
    rng = np.random.default_rng(seed)
    padding_idx = int(rng.integers(-num, num)) if pad else None
    kw = dict(padding_idx=padding_idx, scale_grad_by_freq=freq, max_norm=max_norm, norm_type=norm_type)
    th = torch.nn.Embedding(num, dim, **kw)
    m = _from_torch(nn.Embedding(num, dim, **kw), th)
    idx = rng.integers(0, num, size=idx_shape)
    _compare(torch, m, th, idx, seed=seed)
    _close(m.weight.data, th.weight.detach().numpy(), "weight after max_norm renormalisation")
    assert repr(m) == repr(th)


def test_embedding_from_pretrained(torch):
    table = np.random.default_rng(0).standard_normal((6, 3))
    th = torch.nn.Embedding.from_pretrained(torch.tensor(table), freeze=False, padding_idx=1)
    m = nn.Embedding.from_pretrained(table, freeze=False, padding_idx=1)
    _compare(torch, m, th, np.array([[1, 2, 5], [0, 1, 1]]))
    frozen = nn.Embedding.from_pretrained(sc.Tensor(table))
    assert not frozen.weight.requires_grad and repr(frozen) == repr(torch.nn.Embedding.from_pretrained(
        torch.tensor(table)))


POOLS = {
    "max1": (lambda T: T.MaxPool1d, lambda: nn.MaxPool1d, 1),
    "max2": (lambda T: T.MaxPool2d, lambda: nn.MaxPool2d, 2),
    "avg1": (lambda T: T.AvgPool1d, lambda: nn.AvgPool1d, 1),
    "avg2": (lambda T: T.AvgPool2d, lambda: nn.AvgPool2d, 2),
}


@pytest.mark.parametrize("name", list(POOLS))
@SETTINGS
@given(k=st.integers(1, 3), stride=st.sampled_from([None, 1, 2]), pad=st.integers(0, 1), dil=st.integers(1, 2),
       cip=st.booleans(), extra=st.integers(0, 4), seed=SEEDS)
def test_pools(torch, name, k, stride, pad, dil, cip, extra, seed):
    th_cls, sc_cls, nd = POOLS[name]
    pad = min(pad, k // 2)
    if name.startswith("max"):
        kw = dict(kernel_size=k, stride=stride, padding=pad, dilation=dil)
        eff = dil * (k - 1) + 1
    else:
        kw = dict(kernel_size=k, stride=stride, padding=pad, count_include_pad=cip)
        eff = k
    th = th_cls(torch.nn)(**kw)
    m = sc_cls()(**kw)
    x = np.random.default_rng(seed).standard_normal((2, 3) + (eff + extra,) * nd)
    _compare(torch, m, th, x, seed=seed)
    assert repr(m) == repr(th)


@pytest.mark.parametrize("nd", [1, 2])
@SETTINGS
@given(out=st.integers(1, 4), size=st.integers(1, 7), seed=SEEDS)
def test_adaptive_avg_pool(torch, nd, out, size, seed):
    th = (torch.nn.AdaptiveAvgPool1d if nd == 1 else torch.nn.AdaptiveAvgPool2d)(out)
    m = (nn.AdaptiveAvgPool1d if nd == 1 else nn.AdaptiveAvgPool2d)(out)
    x = np.random.default_rng(seed).standard_normal((2, 3) + (size,) * nd)
    _compare(torch, m, th, x, seed=seed)
    assert repr(m) == repr(th)


# ------------------------------------------------------------------------------------------ activations, dropout
ACTIVATIONS = [
    ("ReLU", (), {}), ("LeakyReLU", (0.2,), {}), ("LeakyReLU", (), {}), ("Sigmoid", (), {}), ("Tanh", (), {}),
    ("GELU", (), {}), ("GELU", (), {"approximate": "tanh"}), ("Softmax", (), {"dim": 1}),
    ("Softmax", (), {"dim": -1}), ("LogSoftmax", (), {"dim": 1}), ("LogSoftmax", (), {"dim": 0}),
    ("Flatten", (), {}), ("Flatten", (0, 1), {}), ("Identity", (), {}),
]


@pytest.mark.parametrize("name, args, kw", ACTIVATIONS)
@settings(max_examples=8, deadline=None)
@given(seed=SEEDS)
def test_activations_and_shape_layers(torch, name, args, kw, seed):
    th = getattr(torch.nn, name)(*args, **kw)
    m = getattr(nn, name)(*args, **kw)
    x = np.random.default_rng(seed).standard_normal((3, 4, 2)) * 3
    _compare(torch, m, th, x, seed=seed)
    assert repr(m) == repr(th)


def test_dropout_p0_and_eval_match_identity(torch):
    x = np.random.default_rng(0).standard_normal((4, 5))
    _compare(torch, nn.Dropout(0.0), torch.nn.Dropout(0.0), x)
    _compare(torch, nn.Dropout(0.7).eval(), torch.nn.Dropout(0.7).eval(), x)
    assert repr(nn.Dropout(0.25)) == repr(torch.nn.Dropout(0.25))


# ------------------------------------------------------------------------------------------ losses
@SETTINGS
@given(n=st.integers(1, 5), c=st.integers(2, 5), spatial=st.booleans(), weighted=st.booleans(),
       ignore=st.booleans(), reduction=st.sampled_from(["mean", "sum", "none"]),
       smoothing=st.sampled_from([0.0, 0.1]), seed=SEEDS)
def test_cross_entropy_and_nll(torch, n, c, spatial, weighted, ignore, reduction, smoothing, seed):
    rng = np.random.default_rng(seed)
    shape = (n, c, 3) if spatial else (n, c)
    x = rng.standard_normal(shape) * 2
    target = rng.integers(0, c, size=(n, 3) if spatial else (n,))
    ignore_index = -100
    if ignore:
        ignore_index = int(target.flat[0])
        if np.all(target == ignore_index):
            target.flat[-1] = (ignore_index + 1) % c
    w = rng.uniform(0.2, 2.0, c) if weighted else None
    kw = dict(ignore_index=ignore_index, reduction=reduction)
    th = torch.nn.CrossEntropyLoss(weight=None if w is None else torch.tensor(w), label_smoothing=smoothing, **kw)
    m = nn.CrossEntropyLoss(weight=w, label_smoothing=smoothing, **kw)
    _compare(torch, m, th, x, extra=(target,), seed=seed)
    logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    th = torch.nn.NLLLoss(weight=None if w is None else torch.tensor(w), **kw)
    m = nn.NLLLoss(weight=w, **kw)
    _compare(torch, m, th, logp, extra=(target,), seed=seed)


@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), reduction=st.sampled_from(["mean", "sum", "none"]),
       weighted=st.booleans(), pos=st.booleans(), seed=SEEDS)
def test_mse_and_bce_with_logits(torch, shape, reduction, weighted, pos, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 3
    target = rng.uniform(0, 1, shape)
    _compare(torch, nn.MSELoss(reduction=reduction), torch.nn.MSELoss(reduction=reduction), x, extra=(target,),
             seed=seed)
    w = rng.uniform(0.5, 2.0, shape[-1:]) if weighted else None
    pw = rng.uniform(0.5, 3.0, shape[-1:]) if pos else None
    th = torch.nn.BCEWithLogitsLoss(weight=None if w is None else torch.tensor(w), reduction=reduction,
                                    pos_weight=None if pw is None else torch.tensor(pw))
    m = nn.BCEWithLogitsLoss(weight=w, reduction=reduction, pos_weight=pw)
    _compare(torch, m, th, x, extra=(target,), seed=seed)
    assert list(m.state_dict()) == list(th.state_dict())


# ------------------------------------------------------------------------------------------ whole models
def _cnn(lib):
    return lib.Sequential(
        lib.Conv2d(1, 4, 3, padding=1), lib.BatchNorm2d(4), lib.ReLU(), lib.MaxPool2d(2),
        lib.Conv2d(4, 6, 3, stride=2, bias=False), lib.BatchNorm2d(6, momentum=None), lib.GELU(),
        lib.AdaptiveAvgPool2d(1), lib.Flatten(), lib.Dropout(0.5), lib.Linear(6, 3))


class _Named:
    """The same small CNN as a custom Module subclass in either library (attribute names become keys)."""

    @staticmethod
    def build(lib):
        class Net(lib.Module):
            def __init__(self):
                super().__init__()
                self.conv = lib.Conv2d(1, 2, 3)
                self.bn = lib.BatchNorm2d(2)
                self.head = lib.Sequential(lib.Flatten(), lib.Linear(2 * 4 * 4, 2))
                self.emb = lib.Embedding(5, 3, padding_idx=0)

            def forward(self, x):
                return self.head(self.bn(self.conv(x)).relu())

        return Net()


def test_state_dict_keys_shapes_and_repr_match_torch(torch):
    for build in (_cnn, _Named.build):
        th, m = build(torch.nn), build(nn)
        sd_th, sd_sc = th.state_dict(), m.state_dict()
        assert list(sd_sc) == list(sd_th)
        for k in sd_th:
            assert sd_sc[k].shape == tuple(sd_th[k].shape), k
        assert [n for n, _ in m.named_parameters()] == [n for n, _ in th.named_parameters()]
        assert [n for n, _ in m.named_buffers()] == [n for n, _ in th.named_buffers()]
        assert [n for n, _ in m.named_modules()] == [n for n, _ in th.named_modules()]
        assert m.num_parameters() == sum(p.numel() for p in th.parameters())
    assert repr(_cnn(nn)) == repr(_cnn(torch.nn))


def test_torch_state_dict_loads_and_gives_same_outputs(torch):
    torch.manual_seed(0)
    th = _cnn(torch.nn)
    rng = np.random.default_rng(0)
    th.train()
    for _ in range(3):  # make the BatchNorm running statistics non-trivial
        th(torch.tensor(rng.standard_normal((4, 1, 8, 8))))
    m = _from_torch(_cnn(nn), th)
    th.eval()
    m.eval()
    x = rng.standard_normal((3, 1, 8, 8))
    _compare(torch, m, th, x)
    # float32 models: torch float32 weights load into the float32 scratchcnn model (kept float32)
    th32 = _cnn(torch.nn).float().eval()
    m32 = _cnn(nn).eval()
    m32.load_state_dict(th32.state_dict())
    assert all(p.dtype == np.float32 for p in m32.parameters())
    y_th = th32(torch.tensor(x, dtype=torch.float32)).detach().numpy()
    y_sc = m32(sc.Tensor(x.astype(np.float32))).data
    assert y_sc.dtype == np.float32
    np.testing.assert_allclose(y_sc, y_th, rtol=1e-4, atol=1e-6)
    # and back: a scratchcnn state_dict loads into torch unchanged
    th_back = _cnn(torch.nn).float()
    th_back.load_state_dict({k: torch.from_numpy(v) for k, v in m32.state_dict().items()})
    th_back.eval()
    np.testing.assert_array_equal(th_back(torch.tensor(x, dtype=torch.float32)).detach().numpy(),
                                  th32(torch.tensor(x, dtype=torch.float32)).detach().numpy())


def test_train_step_of_whole_model_matches(torch):
    """Conv+BN+pool+Linear in training mode (dropout off): output, every parameter grad, running stats."""
    def build(lib):
        return lib.Sequential(lib.Conv2d(2, 3, 3, padding=1), lib.BatchNorm2d(3), lib.LeakyReLU(0.1),
                              lib.AvgPool2d(2), lib.Flatten(), lib.Linear(3 * 3 * 3, 4), lib.LogSoftmax(dim=1))
    torch.manual_seed(1)
    th = build(torch.nn)
    m = _from_torch(build(nn), th)
    rng = np.random.default_rng(1)
    for step in range(3):
        m.zero_grad()
        th.zero_grad()
        _compare(torch, m, th, rng.standard_normal((4, 2, 6, 6)), seed=step)
    for k, v in th.state_dict().items():
        _close(m.state_dict()[k], v.numpy(), k)


# ------------------------------------------------------------------------------------------ init rules
def test_init_rules_match_torch(torch):
    for nl in ["linear", "conv1d", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]:
        assert nn.init.calculate_gain(nl) == pytest.approx(torch.nn.init.calculate_gain(nl), rel=1e-15)
    assert nn.init.calculate_gain("leaky_relu", 0.3) == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", 0.3))
    for shape in [(16, 3, 5, 5), (7, 11), (32, 4, 9), (8, 2, 3, 1)]:
        w = np.empty(shape)
        assert nn.init._calculate_fan_in_and_fan_out(w) == torch.nn.init._calculate_fan_in_and_fan_out(
            torch.empty(shape))


@pytest.mark.parametrize("make", [
    lambda lib: lib.Conv2d(6, 64, 5),
    lambda lib: lib.Conv2d(6, 48, 3, groups=3, bias=True),
    lambda lib: lib.Conv1d(10, 64, 4),
    lambda lib: lib.Linear(250, 120),
    lambda lib: lib.Embedding(300, 40, padding_idx=2),
    lambda lib: lib.BatchNorm2d(7),
])
def test_default_init_statistics_match_torch(torch, make):
    """Both libraries' draws obey PyTorch's rule: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for conv/linear weights
    and biases (fan_in from torch's own helper), N(0, 1) embeddings with a zero padding row, BN 1/0."""
    torch.manual_seed(0)
    sc.manual_seed(0)
    th, m = make(torch.nn), make(nn)
    fan_in = None
    if hasattr(th, "weight") and th.weight.dim() >= 2:
        fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(th.weight)
    for (name, tp), (_, p) in zip(th.named_parameters(), m.named_parameters()):
        a, b = tp.detach().numpy(), p.data
        assert b.dtype == np.float32 and a.shape == b.shape
        if isinstance(th, torch.nn.Embedding):
            np.testing.assert_array_equal(b[2], 0)
            np.testing.assert_array_equal(a[2], 0)
            assert abs(b.std() - 1) < 0.03 and abs(a.std() - 1) < 0.03
        elif a.min() == a.max():  # constant init (BatchNorm)
            np.testing.assert_array_equal(b, a)
        else:
            bound = 1 / math.sqrt(fan_in)
            assert np.abs(a).max() <= bound and np.abs(b).max() <= bound, name
            if a.size >= 1000:  # large enough to pin the spread down
                for arr in (a, b):
                    assert np.abs(arr).max() > 0.95 * bound, name
                    assert abs(arr.std() - bound / math.sqrt(3)) < 0.05 * bound / math.sqrt(3), name


# ------------------------------------------------------------------------------------------ utils
@SETTINGS
@given(n_params=st.integers(1, 4), max_norm=st.floats(0.01, 10.0), norm_type=st.sampled_from([2.0, 1.0, 3.5, math.inf]),
       seed=SEEDS)
def test_clip_grad_norm_matches_torch(torch, n_params, max_norm, norm_type, seed):
    rng = np.random.default_rng(seed)
    shapes = [tuple(rng.integers(1, 4, size=rng.integers(1, 3))) for _ in range(n_params)]
    grads = [rng.standard_normal(s) * rng.uniform(0.1, 3) for s in shapes]
    ps = [nn.Parameter(np.zeros(s)) for s in shapes]
    ts = [torch.zeros(s, requires_grad=True) for s in shapes]
    for p, t, g in zip(ps, ts, grads):
        p.grad = g.copy()
        t.grad = torch.tensor(g.copy())
    total = clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    total_th = torch.nn.utils.clip_grad_norm_(ts, max_norm, norm_type=norm_type)
    assert total == pytest.approx(float(total_th), rel=1e-12)
    for p, t in zip(ps, ts):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)


@SETTINGS
@given(rows=st.integers(1, 5), cols=st.integers(1, 5), dim=st.integers(0, 1), max_norm=st.floats(0.1, 3.0),
       seed=SEEDS)
def test_max_norm_matches_torch_renorm(torch, rows, cols, dim, max_norm, seed):
    w = np.random.default_rng(seed).standard_normal((rows, cols)) * 2
    p = nn.Parameter(w.copy())
    max_norm_(p, max_norm, dim=dim)
    np.testing.assert_allclose(p.data, torch.renorm(torch.tensor(w), 2, dim, max_norm).numpy(), rtol=1e-12)
