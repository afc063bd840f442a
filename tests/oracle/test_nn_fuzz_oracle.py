"""nn modules against their torch.nn twins, module against module with the same weights (torch's state_dict
loaded into ours), float64, tight tolerances: forward values, shapes and dtypes, the state after the call
(running statistics, renormed embedding rows), the gradients of the input(s) and of every parameter.

Covers constructor-argument combinations (conv padding modes x 'same'/'valid'/tuples x groups x dilation, pooling
ceil_mode x padding x dilation x return_indices with ties and non-finite values, batch norm affine / tracking /
momentum None / eval on (N, C) and (N, C, L)), unbatched inputs, module defaults, repr, and the errors: where
PyTorch raises, the module raises a ValueError/TypeError naming the layer."""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import scratchcnn as sc
from scratchcnn import functional as F, nn

RTOL, ATOL = 1e-10, 1e-12


def _check(torch, tm, m, arrays, grad_mask=None, train: bool = True, rtol: float = RTOL, atol: float = ATOL,
           seed: int = 0):
    """Load ``tm``'s state into ``m``, run both on ``arrays`` and compare output(s), state and gradients."""
    tm.train(train)
    m.train(train)
    m.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    grad_mask = list(grad_mask) if grad_mask is not None else [a.dtype.kind == "f" for a in arrays]
    ti = [torch.tensor(a.copy(), requires_grad=g) for a, g in zip(arrays, grad_mask)]
    si = [sc.Tensor(a.copy(), requires_grad=g) for a, g in zip(arrays, grad_mask)]
    to, so = tm(*ti), m(*si)
    if isinstance(to, tuple):                      # return_indices: (values, indices)
        assert so[1].dtype == np.int64
        np.testing.assert_array_equal(so[1].data, to[1].numpy(), err_msg="indices")
        to, so = to[0], so[0]
    assert tuple(so.shape) == tuple(to.shape)
    assert so.data.dtype == to.detach().numpy().dtype
    np.testing.assert_allclose(so.data, to.detach().numpy(), rtol=rtol, atol=atol, err_msg="forward")
    ours = m.state_dict()
    for k, v in tm.state_dict().items():
        np.testing.assert_allclose(np.asarray(ours[k]), v.numpy(), rtol=rtol, atol=atol, err_msg=f"state {k}")
    if not to.requires_grad:
        return
    g = np.random.default_rng(seed).standard_normal(tuple(to.shape))
    if to.ndim:
        to.backward(torch.tensor(g))
        so.backward(g)
    else:
        to.backward()
        so.backward()
    for i, (a, b) in enumerate(zip(si, ti)):
        if b.requires_grad:
            np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"grad of input {i}")
    ours_p = dict(m.named_parameters())
    for k, p in tm.named_parameters():
        if p.grad is not None:
            np.testing.assert_allclose(ours_p[k].grad, p.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"grad {k}")


def _raises_like_torch(torch, make_torch, make_ours, *arrays, layer: str):
    """PyTorch refuses (construction or call); ours refuses with a ValueError/TypeError naming ``layer``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception):
            make_torch()(*[torch.tensor(a) for a in arrays])
        with pytest.raises((ValueError, TypeError)) as info:
            make_ours()(*[sc.Tensor(a) for a in arrays])
    assert layer in str(info.value), str(info.value)


def _windows_see_input(spatial, kernel, stride, padding, dilation, ceil_mode) -> bool:
    """False when a window's taps are all padding (PyTorch then reads/writes outside the input)."""
    for n, k, s, p, d in zip(spatial, kernel, stride, padding, dilation):
        out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (out - 1) * s >= n + p:
            out -= 1
        if out < 1 or not all(any(0 <= o * s - p + j * d < n for j in range(k)) for o in range(out)):
            return False
    return True


# ------------------------------------------------------------------------------------------------- conv
_CONVS = {1: ("Conv1d", (7,)), 2: ("Conv2d", (6, 5)), 3: ("Conv3d", (4, 5, 3))}


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [0, 1, "same", "valid", "tuple"])
def test_conv_module_padding_modes_groups_unbatched(torch, nd, padding_mode, padding):
    name, spatial = _CONVS[nd]
    rng = np.random.default_rng(nd)
    pad = (1, 0, 2)[:nd] if padding == "tuple" else padding
    for k, d, groups, bias in [(3, 1, 1, True), (2, 2, 2, False), (3, 1, 4, True)]:
        kw = dict(kernel_size=k, stride=1 if pad == "same" else 2, padding=pad, dilation=d, groups=groups,
                  bias=bias, padding_mode=padding_mode)
        tm = getattr(torch.nn, name)(4, 8, **kw)
        m = getattr(nn, name)(4, 8, dtype=np.float64, **kw)
        x = rng.standard_normal((2, 4) + spatial)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # torch: 'same' with an even kernel pads a copy
            _check(torch, tm, m, [x])
            _check(torch, tm, m, [x[0]])                 # unbatched (C, *spatial)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_conv_module_random_arguments(torch, data):
    nd = data.draw(st.integers(1, 3))
    groups = data.draw(st.integers(1, 3))
    cin, cout = groups * data.draw(st.integers(1, 2)), groups * data.draw(st.integers(1, 2))
    tup = lambda lo, hi: tuple(data.draw(st.integers(lo, hi)) for _ in range(nd))  # noqa: E731
    kernel, stride, dilation = tup(1, 3), tup(1, 3), tup(1, 2)
    padding = data.draw(st.sampled_from(["same", "valid", "int", "tuple"]))
    padding = {"int": data.draw(st.integers(0, 2)), "tuple": tup(0, 2)}.get(padding, padding)
    if padding == "same":
        stride = (1,) * nd
    mode = data.draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    spatial = tup(3, 6)
    kw = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, groups=groups,
              bias=data.draw(st.booleans()), padding_mode=mode)
    x = np.random.default_rng(0).standard_normal((2, cin) + spatial)
    name = _CONVS[nd][0]
    tm = getattr(torch.nn, name)(cin, cout, **kw)
    m = getattr(nn, name)(cin, cout, dtype=np.float64, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            tm(torch.tensor(x))
        except RuntimeError:                         # input too small for the kernel: ours must refuse too
            with pytest.raises(ValueError, match=name):
                m(sc.Tensor(x))
            return
        _check(torch, tm, m, [x if data.draw(st.booleans()) else x[0]])


@pytest.mark.parametrize("nd", [1, 2])
def test_conv_transpose_module_combinations_and_output_size(torch, nd):
    name = f"ConvTranspose{nd}d"
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4) + (4, 3)[:nd])
    for i, (k, s, p, op, d, groups) in enumerate(itertools.product([1, 3], [1, 2, 3], [0, 1], [0, 1], [1, 2],
                                                                   [1, 2])):
        if op >= max(s, d):
            continue
        kw = dict(kernel_size=k, stride=s, padding=p, output_padding=op, dilation=d, groups=groups, bias=i % 2 == 0)
        tm, m = getattr(torch.nn, name)(4, 6, **kw), getattr(nn, name)(4, 6, dtype=np.float64, **kw)
        if any(n <= 0 for n in tm(torch.tensor(x)).shape):
            continue
        _check(torch, tm, m, [x if i % 3 else x[0]])    # batched and unbatched
    tm, m = getattr(torch.nn, name)(4, 6, 3, stride=3, padding=1), getattr(nn, name)(4, 6, 3, stride=3, padding=1,
                                                                                    dtype=np.float64)
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    for size in [(10, 7), (12, 9), (2, 6, 11, 8)]:
        size = size[:nd] if len(size) == 2 else size[:2] + size[2:2 + nd]
        np.testing.assert_allclose(m(sc.Tensor(x), output_size=size).data,
                                   tm(torch.tensor(x), output_size=list(size)).detach().numpy(), rtol=RTOL, atol=ATOL)
    with pytest.raises(ValueError, match=name):
        m(sc.Tensor(x), output_size=(20, 20)[:nd])


# --------------------------------------------------------------------------------------------- pooling
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_pool_modules_random_arguments(torch, data):
    nd = data.draw(st.integers(1, 2))
    tup = lambda lo, hi: tuple(data.draw(st.integers(lo, hi)) for _ in range(nd))  # noqa: E731
    as_int = data.draw(st.booleans())                 # kernel_size=k (int) or a tuple
    kernel = (data.draw(st.integers(1, 4)),) * nd if as_int else tup(1, 4)
    stride = data.draw(st.one_of(st.none(), st.just(tup(1, 3))))
    padding = tuple(data.draw(st.integers(0, k // 2)) for k in kernel)
    dilation, ceil_mode = tup(1, 2), data.draw(st.booleans())
    spatial = tup(1, 8)
    assume(_windows_see_input(spatial, kernel, stride or kernel, padding, dilation, ceil_mode))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    ties = data.draw(st.booleans())
    x = rng.integers(-2, 3, (2, 3) + spatial).astype(np.float64) if ties else rng.standard_normal((2, 3) + spatial)
    x = x if data.draw(st.booleans()) else x[0]
    tag = f"{nd}d"
    k = kernel[0] if as_int else kernel
    ri = data.draw(st.booleans())
    kw = dict(kernel_size=k, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
    _check(torch, getattr(torch.nn, "MaxPool" + tag)(return_indices=ri, **kw),
           getattr(nn, "MaxPool" + tag)(return_indices=ri, **kw), [x])
    assume(_windows_see_input(spatial, kernel, stride or kernel, padding, (1,) * nd, ceil_mode))
    kw = dict(kernel_size=k, stride=stride, padding=padding, ceil_mode=ceil_mode,
              count_include_pad=data.draw(st.booleans()))
    if nd == 2 and data.draw(st.booleans()):
        kw["divisor_override"] = data.draw(st.integers(1, 5))
    _check(torch, getattr(torch.nn, "AvgPool" + tag)(**kw), getattr(nn, "AvgPool" + tag)(**kw), [x])


@pytest.mark.parametrize("nd", [1, 2])
@pytest.mark.parametrize("fill", ["nan", "-inf"])
def test_max_pool_return_indices_with_nan_and_minus_inf(torch, nd, fill):
    """Windows whose maximum is NaN (PyTorch: the last NaN) or -inf next to padding (PyTorch: the first element
    inside the input, never a padding position): the indices and the gradient routed by them match."""
    rng = np.random.default_rng(7)
    tag = f"{nd}d"
    for k, s, p, d, ceil_mode in itertools.product([2, 3], [1, 2], [0, 1], [1, 2], [False, True]):
        spatial = (9, 8)[:nd]
        if not _windows_see_input(spatial, (k,) * nd, (s,) * nd, (p,) * nd, (d,) * nd, ceil_mode):
            continue
        x = rng.integers(-1, 2, (2, 2) + spatial).astype(np.float64)
        x.reshape(-1)[::3 if fill == "-inf" else 5] = float(fill)
        if fill == "-inf":
            x[..., :2] = -np.inf                       # windows of -inf only (and padding) at the start
        kw = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=ceil_mode, return_indices=True)
        tm, m = getattr(torch.nn, "MaxPool" + tag)(**kw), getattr(nn, "MaxPool" + tag)(**kw)
        np.testing.assert_array_equal(m(sc.Tensor(x))[1].data, tm(torch.tensor(x))[1].numpy())
        xt, xs = torch.tensor(x, requires_grad=True), sc.Tensor(x, requires_grad=True)
        g = rng.standard_normal(tm(xt)[0].shape)
        tm(xt)[0].backward(torch.tensor(g))
        m(xs)[0].backward(g)
        np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_adaptive_avg_pool_modules(torch):
    rng = np.random.default_rng(4)
    for nd, size, spatial in [(1, 3, (7,)), (1, 7, (5,)), (2, (3, None), (7, 5)), (2, (None, 2), (5, 7)),
                              (2, 1, (1, 3)), (2, (4, 1), (5, 5))]:
        x = rng.standard_normal((2, 3) + spatial)
        tag = f"AdaptiveAvgPool{nd}d"
        _check(torch, getattr(torch.nn, tag)(size), getattr(nn, tag)(size), [x])
        _check(torch, getattr(torch.nn, tag)(size), getattr(nn, tag)(size), [x[0]])


# ----------------------------------------------------------------------------------------------- norms
@pytest.mark.parametrize("affine, track, momentum", list(itertools.product([True, False], [True, False],
                                                                           [0.1, None])))
def test_batch_norm_modules_two_steps_then_eval(torch, affine, track, momentum):
    rng = np.random.default_rng(5)
    for name, shape in [("BatchNorm1d", (4, 3)), ("BatchNorm1d", (3, 3, 5)), ("BatchNorm2d", (2, 3, 2, 3))]:
        for bias in ([True, False] if affine else [True]):
            kw = dict(eps=1e-3, momentum=momentum, affine=affine, track_running_stats=track)
            if not bias:
                kw["bias"] = False
            tm, m = getattr(torch.nn, name)(3, **kw), getattr(nn, name)(3, dtype=np.float64, **kw)
            with torch.no_grad():
                if track:
                    tm.running_mean.uniform_(-1, 1)
                    tm.running_var.uniform_(0.5, 2)
                if affine:
                    tm.weight.uniform_(0.5, 2)
                    if bias:
                        tm.bias.uniform_(-1, 1)
            _check(torch, tm, m, [rng.standard_normal(shape)])
            x = rng.standard_normal(shape)         # a second step from the state the first one left
            np.testing.assert_allclose(m(sc.Tensor(x)).data, tm(torch.tensor(x)).detach().numpy(), rtol=RTOL,
                                       atol=ATOL)
            for k, v in tm.state_dict().items():
                np.testing.assert_allclose(np.asarray(m.state_dict()[k]), v.numpy(), rtol=RTOL, atol=ATOL)
            _check(torch, tm, m, [rng.standard_normal(shape)], train=False)


def test_instance_layer_group_norm_modules(torch):
    rng = np.random.default_rng(6)
    for (affine, track, momentum), train in itertools.product(
            itertools.product([True, False], [True, False], [0.1, None]), [True, False]):
        for nd, shape in [(1, (2, 3, 5)), (2, (2, 3, 4, 3)), (3, (2, 3, 2, 3, 2))]:
            name = f"InstanceNorm{nd}d"
            kw = dict(momentum=momentum, affine=affine, track_running_stats=track)
            for x in (rng.standard_normal(shape), rng.standard_normal(shape[1:])):   # batched and unbatched
                tm, m = getattr(torch.nn, name)(3, **kw), getattr(nn, name)(3, dtype=np.float64, **kw)
                _check(torch, tm, m, [x], train=train)
    for shape_arg, shape in [(5, (2, 3, 5)), ((3, 5), (2, 3, 5)), (4, (4,))]:
        for ea, bias in itertools.product([True, False], [True, False]):
            tm = torch.nn.LayerNorm(shape_arg, elementwise_affine=ea, bias=bias)
            m = nn.LayerNorm(shape_arg, elementwise_affine=ea, bias=bias, dtype=np.float64)
            if ea:
                with torch.no_grad():
                    tm.weight.uniform_(0.5, 2)
            _check(torch, tm, m, [rng.standard_normal(shape)])
    for groups, channels, shape, affine in [(1, 4, (2, 4), True), (2, 4, (2, 4, 3), False),
                                            (2, 6, (3, 6, 2, 2, 2), True)]:
        tm, m = torch.nn.GroupNorm(groups, channels, affine=affine), nn.GroupNorm(groups, channels, affine=affine,
                                                                                   dtype=np.float64)
        _check(torch, tm, m, [rng.standard_normal(shape)])


# --------------------------------------------------------------------------------------- upsample, misc
@pytest.mark.parametrize("mode, shape", [("nearest", (2, 3, 5)), ("nearest", (2, 3, 4, 5)), ("linear", (2, 3, 5)),
                                         ("bilinear", (2, 3, 4, 5))])
def test_upsample_module_sizes_scales_align_corners(torch, mode, shape):
    nd = len(shape) - 2
    x = np.random.default_rng(8).standard_normal(shape)
    for size, scale, ac, rsf in itertools.product([None, 7, (3, 8)], [None, 2, 1.5, 0.7, (2, 1.3), 1 / 3],
                                                  [None, True, False], [None, True, False]):
        if (size is None) == (scale is None) or (mode == "nearest" and ac is not None):
            continue
        size = size[:nd] if isinstance(size, tuple) else size
        scale = scale[:nd] if isinstance(scale, tuple) else scale
        kw = dict(size=size, scale_factor=scale, mode=mode, align_corners=ac, recompute_scale_factor=rsf)
        tm, m = torch.nn.Upsample(**kw), nn.Upsample(**kw)
        assert repr(m) == repr(tm)
        if size is not None and rsf:                 # torch: "not meaningful with an explicit size"
            with pytest.raises(ValueError, match="recompute_scale_factor"):
                m(sc.Tensor(x))
            continue
        _check(torch, tm, m, [x])


def test_embedding_module_padding_max_norm_scale_grad(torch):
    rng = np.random.default_rng(9)
    for pad, max_norm, norm_type, freq in itertools.product([None, 2, -1], [None, 1.0], [2.0, 1.0], [False, True]):
        kw = dict(padding_idx=pad, max_norm=max_norm, norm_type=norm_type, scale_grad_by_freq=freq)
        tm, m = torch.nn.Embedding(6, 4, **kw), nn.Embedding(6, 4, dtype=np.float64, **kw)
        assert repr(m) == repr(tm)
        idx = rng.integers(0, 6, (3, 5))
        idx[0, :3] = [2, 5, 5]
        for i in (idx, idx[0], np.array(5)):
            _check(torch, tm, m, [i])              # includes the renormed rows (state) and the weight gradient


def test_linear_flatten_identity_modules(torch):
    rng = np.random.default_rng(10)
    for shape, bias in itertools.product([(3,), (2, 3), (2, 4, 3)], [True, False]):
        _check(torch, torch.nn.Linear(3, 5, bias=bias), nn.Linear(3, 5, bias=bias, dtype=np.float64),
               [rng.standard_normal(shape)])
    for (start, end), shape in itertools.product([(1, -1), (0, -1), (0, 1), (-2, -1), (1, 2), (2, 2)],
                                                 [(2, 3, 4), (2, 3, 4, 5)]):
        assert repr(nn.Flatten(start, end)) == repr(torch.nn.Flatten(start, end))
        _check(torch, torch.nn.Flatten(start, end), nn.Flatten(start, end), [rng.standard_normal(shape)])
    _check(torch, torch.nn.Identity(3, a=1), nn.Identity(3, a=1), [rng.standard_normal((2, 3))])


@pytest.mark.parametrize("name", ["Dropout", "Dropout1d", "Dropout2d"])
def test_dropout_modules_statistics_and_eval(name):
    shape = {"Dropout": (400, 50), "Dropout1d": (400, 50, 3), "Dropout2d": (400, 50, 3, 2)}[name]
    for p in (0.0, 0.3, 1.0):
        m = getattr(nn, name)(p, generator=np.random.default_rng(0))
        x = sc.Tensor(np.ones(shape), requires_grad=True)
        y = m(x)
        y.backward(np.ones(shape))
        np.testing.assert_array_equal(x.grad, y.data)      # the same mask and scale as the forward
        units = y.data.reshape(shape[0], shape[1], -1)
        assert np.all(units == units[..., :1])              # an element, or a whole channel, is kept or zeroed
        kept = units[..., 0] != 0
        if p < 1:
            np.testing.assert_allclose(units[..., 0][kept], 1 / (1 - p), rtol=1e-15)
        assert abs(kept.mean() - (1 - p)) < 4 * np.sqrt(p * (1 - p) / kept.size) + 1e-12
        m.eval()
        np.testing.assert_array_equal(m(x).data, x.data)


# --------------------------------------------------------------------------------------------- activations
_ACTIVATIONS = [("ReLU", {}), ("LeakyReLU", {"negative_slope": 0.2}), ("LeakyReLU", {"negative_slope": -0.5}),
                ("Sigmoid", {}), ("Tanh", {}), ("GELU", {}), ("GELU", {"approximate": "tanh"}),
                ("Softmax", {"dim": 1}), ("Softmax", {"dim": -1}), ("LogSoftmax", {"dim": 0}),
                ("ELU", {"alpha": 0.5}), ("CELU", {"alpha": 2.0}), ("SELU", {}), ("SiLU", {}), ("Mish", {}),
                ("Softplus", {"beta": 2.0, "threshold": 1.0}), ("Softplus", {"beta": -1.0}),
                ("Hardtanh", {"min_val": -0.5, "max_val": 2.0}), ("ReLU6", {}), ("Hardsigmoid", {}),
                ("Hardswish", {}), ("Softsign", {}), ("LogSigmoid", {}), ("PReLU", {}),
                ("PReLU", {"num_parameters": 3, "init": 0.1})]


@pytest.mark.parametrize("name, kw", _ACTIVATIONS)
def test_activation_modules_shapes_and_args(torch, name, kw):
    rng = np.random.default_rng(11)
    tm = getattr(torch.nn, name)(**kw)
    m = getattr(nn, name)(dtype=np.float64, **kw) if name == "PReLU" else getattr(nn, name)(**kw)
    assert repr(m) == repr(tm)
    if name == "PReLU":
        with torch.no_grad():
            tm.weight.uniform_(-1, 1)
    # torch's float64 hardsigmoid backward multiplies by a float32 1/6 (relative error 3e-8)
    rtol = 1e-7 if name == "Hardsigmoid" else RTOL
    shapes = [(2, 3, 4), (2, 3), (4, 3, 1, 2, 2)] + ([] if kw.get("num_parameters") else [(3,), ()])
    for shape in shapes:
        if name in ("Softmax", "LogSoftmax") and len(shape) < 2:
            continue
        x = rng.standard_normal(shape) * 4
        if x.size >= 4:
            x.reshape(-1)[:4] = [0.0, -3.0, 3.0, 1.0]      # the kinks
        _check(torch, tm, m, [x], rtol=rtol)


def test_hardtanh_module_refuses_equal_bounds(torch):
    with pytest.raises(AssertionError):
        torch.nn.Hardtanh(0.5, 0.5)
    with pytest.raises(ValueError, match="Hardtanh: max_val"):
        nn.Hardtanh(0.5, 0.5)
    with pytest.raises(ValueError, match="Hardtanh: max_val"):
        nn.Hardtanh(1.0, -1.0)


def test_functional_softmax_without_dim_is_torch_implicit_choice(torch):
    """F.softmax(x) on (N, C, H, W) normalises over C as torch's does (it used to take dim -1, W, silently);
    Tensor.softmax needs a dim, as in torch."""
    rng = np.random.default_rng(13)
    for shape, name in itertools.product([(3,), (2, 3), (2, 3, 4), (2, 3, 4, 5)], ["softmax", "log_softmax"]):
        x = rng.standard_normal(shape)
        with pytest.warns(UserWarning, match="Implicit dimension choice for " + name):
            ours = getattr(F, name)(sc.Tensor(x)).data
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = getattr(torch.nn.functional, name)(torch.tensor(x)).numpy()
        np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=ATOL)
    with pytest.raises(TypeError):
        sc.Tensor(rng.standard_normal((2, 3))).softmax()


def test_softmax_modules_implicit_dim(torch):
    rng = np.random.default_rng(12)
    for shape, name in itertools.product([(3,), (2, 3), (2, 3, 4), (2, 3, 4, 5)], ["Softmax", "LogSoftmax"]):
        x = rng.standard_normal(shape)
        with pytest.warns(UserWarning, match="Implicit dimension"):
            ours = getattr(nn, name)()(sc.Tensor(x)).data
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = getattr(torch.nn, name)()(torch.tensor(x)).numpy()
        np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------------------------------------------ losses
_CLASS_CASES = [((5, 4), (5,)), ((4,), ()), ((3, 4, 2, 3), (3, 2, 3)), ((2, 4, 3), (2, 3))]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_nll_modules(torch, reduction):
    rng = np.random.default_rng(13)
    for (xs, ts), smoothing, weighted, ignore in itertools.product(_CLASS_CASES, [0.0, 0.2], [False, True],
                                                                    [-100, 1]):
        x, t = rng.standard_normal(xs), rng.integers(0, 4, ts)
        if t.ndim:
            t.reshape(-1)[0] = ignore if ignore >= 0 else t.reshape(-1)[0]
        w = rng.uniform(0.5, 2, 4) if weighted else None
        tw = None if w is None else torch.tensor(w)
        _check(torch, torch.nn.CrossEntropyLoss(weight=tw, ignore_index=ignore, reduction=reduction,
                                                label_smoothing=smoothing),
               nn.CrossEntropyLoss(weight=w, ignore_index=ignore, reduction=reduction, label_smoothing=smoothing),
               [x, t], [True, False])
        _check(torch, torch.nn.NLLLoss(weight=tw, ignore_index=ignore, reduction=reduction),
               nn.NLLLoss(weight=w, ignore_index=ignore, reduction=reduction), [x, t], [True, False])
        if ignore >= 0:
            continue
        p = rng.dirichlet(np.ones(4), size=int(np.prod(ts))).reshape(ts + (4,))
        p = np.moveaxis(p, -1, 1) if len(xs) > 1 else p
        _check(torch, torch.nn.CrossEntropyLoss(weight=tw, reduction=reduction, label_smoothing=smoothing),
               nn.CrossEntropyLoss(weight=w, reduction=reduction, label_smoothing=smoothing), [x, p], [True, True])


def test_cross_entropy_probability_targets_refuse_ignore_index(torch):
    """PyTorch refuses a non-negative ignore_index with class-probability targets (it cannot apply); a negative
    one other than the default is accepted and has no effect."""
    rng = np.random.default_rng(14)
    x, p = rng.standard_normal((5, 4)), rng.dirichlet(np.ones(4), size=5)
    with pytest.raises(RuntimeError, match="ignore_index"):
        torch.nn.CrossEntropyLoss(ignore_index=1)(torch.tensor(x), torch.tensor(p))
    for ignore in (0, 1, 3):
        with pytest.raises(ValueError, match="cross_entropy: ignore_index"):
            nn.CrossEntropyLoss(ignore_index=ignore)(sc.Tensor(x), sc.Tensor(p))
        with pytest.raises(ValueError, match="cross_entropy: ignore_index"):
            sc.functional.cross_entropy(sc.Tensor(x), sc.Tensor(p), ignore_index=ignore, label_smoothing=0.1)
    _check(torch, torch.nn.CrossEntropyLoss(ignore_index=-1), nn.CrossEntropyLoss(ignore_index=-1), [x, p])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_and_regression_loss_modules(torch, reduction):
    rng = np.random.default_rng(15)
    t = lambda a: None if a is None else torch.tensor(a)  # noqa: E731
    for shape, pw_kind, weighted in itertools.product([(5, 3), (3,), (2, 3, 4)], [None, "C", "1"], [False, True]):
        x, y = rng.standard_normal(shape) * 3, rng.uniform(0, 1, shape)
        pw = None if pw_kind is None else rng.uniform(0.5, 3, shape[-1] if pw_kind == "C" else 1)
        w = rng.uniform(0.5, 2, shape[-1]) if weighted else None
        _check(torch, torch.nn.BCEWithLogitsLoss(weight=t(w), reduction=reduction, pos_weight=t(pw)),
               nn.BCEWithLogitsLoss(weight=w, reduction=reduction, pos_weight=pw), [x, y])
        if pw is None:
            _check(torch, torch.nn.BCELoss(weight=t(w), reduction=reduction), nn.BCELoss(weight=w, reduction=reduction),
                   [1 / (1 + np.exp(-x)), y])
    pw, w = rng.uniform(0.5, 2, (3, 1, 1)), rng.uniform(0.5, 2, (2, 1, 4, 1))   # broadcast over (N, C, H, W)
    _check(torch, torch.nn.BCEWithLogitsLoss(weight=t(w), pos_weight=t(pw), reduction=reduction),
           nn.BCEWithLogitsLoss(weight=w, pos_weight=pw, reduction=reduction),
           [rng.standard_normal((2, 3, 4, 4)), rng.uniform(0, 1, (2, 3, 4, 4))])
    for shape in [(5, 3), (), (2, 3, 4)]:
        x, y = rng.standard_normal(shape) * 2, rng.standard_normal(shape)
        if x.ndim:
            x.reshape(-1)[0] = y.reshape(-1)[0]      # |d| == 0: the kink of L1/SmoothL1(beta=0)
        for tm, m in [(torch.nn.MSELoss(reduction=reduction), nn.MSELoss(reduction=reduction)),
                      (torch.nn.L1Loss(reduction=reduction), nn.L1Loss(reduction=reduction))] + \
                [(torch.nn.SmoothL1Loss(reduction=reduction, beta=b), nn.SmoothL1Loss(reduction=reduction, beta=b))
                 for b in (1.0, 0.5, 0.0)] + \
                [(torch.nn.HuberLoss(reduction=reduction, delta=d), nn.HuberLoss(reduction=reduction, delta=d))
                 for d in (1.0, 0.3)]:
            _check(torch, tm, m, [x, y])


# ------------------------------------------------------------------------------------------------ errors
def test_bad_inputs_raise_clear_errors_where_torch_raises(torch):
    rng = np.random.default_rng(16)
    f = rng.standard_normal
    T = torch.nn
    cases = [
        ("Conv2d", lambda: T.Conv2d(3, 4, 3), lambda: nn.Conv2d(3, 4, 3), [f((2, 5, 6))]),
        ("Conv2d", lambda: T.Conv2d(3, 4, 3), lambda: nn.Conv2d(3, 4, 3), [f((1, 3, 2, 6))]),
        ("Conv1d", lambda: T.Conv1d(3, 4, 3, padding=4, padding_mode="reflect"),
         lambda: nn.Conv1d(3, 4, 3, padding=4, padding_mode="reflect"), [f((1, 3, 4))]),
        ("Conv3d", lambda: T.Conv3d(2, 2, 3), lambda: nn.Conv3d(2, 2, 3), [f((1, 2, 2, 4, 4))]),
        ("ConvTranspose1d", lambda: T.ConvTranspose1d(3, 4, 2, padding=3),
         lambda: nn.ConvTranspose1d(3, 4, 2, padding=3), [f((1, 3, 2))]),
        ("ConvTranspose2d", lambda: T.ConvTranspose2d(3, 4, 3), lambda: nn.ConvTranspose2d(3, 4, 3),
         [f((1, 4, 5, 5))]),
        ("max_pool2d", lambda: T.MaxPool2d(3, padding=2), lambda: nn.MaxPool2d(3, padding=2), [f((1, 1, 6, 6))]),
        ("MaxPool1d", lambda: T.MaxPool1d(2), lambda: nn.MaxPool1d(2), [f((6,))]),
        ("avg_pool2d", lambda: T.AvgPool2d(3), lambda: nn.AvgPool2d(3), [f((1, 1, 2, 6))]),
        ("AdaptiveAvgPool2d", lambda: T.AdaptiveAvgPool2d(2), lambda: nn.AdaptiveAvgPool2d(2),
         [f((1, 1, 1, 6, 6))]),
        ("BatchNorm1d", lambda: T.BatchNorm1d(3), lambda: nn.BatchNorm1d(3), [f((2, 3, 4, 4))]),
        ("BatchNorm1d", lambda: T.BatchNorm1d(3), lambda: nn.BatchNorm1d(3), [f((1, 3))]),
        ("BatchNorm2d", lambda: T.BatchNorm2d(3), lambda: nn.BatchNorm2d(3), [f((2, 4, 4, 4))]),
        ("layer_norm", lambda: T.LayerNorm((3, 5)), lambda: nn.LayerNorm((3, 5)), [f((2, 4, 5))]),
        ("GroupNorm", lambda: T.GroupNorm(2, 4), lambda: nn.GroupNorm(2, 4), [f((2, 6, 3))]),
        ("InstanceNorm1d", lambda: T.InstanceNorm1d(3, affine=True), lambda: nn.InstanceNorm1d(3, affine=True),
         [f((2, 4, 5))]),
        ("InstanceNorm1d", lambda: T.InstanceNorm1d(3), lambda: nn.InstanceNorm1d(3), [f((2, 3, 4, 5))]),
        ("embedding", lambda: T.Embedding(5, 3), lambda: nn.Embedding(5, 3), [rng.integers(5, 9, (2, 3))]),
        ("Linear", lambda: T.Linear(3, 4), lambda: nn.Linear(3, 4), [f((2, 5))]),
        ("Flatten", lambda: T.Flatten(2), lambda: nn.Flatten(2), [f((2, 3))]),
        ("prelu", lambda: T.PReLU(3), lambda: nn.PReLU(3), [f((2, 4))]),
        ("softmax", lambda: T.Softmax(2), lambda: nn.Softmax(2), [f((2, 3))]),
        ("dropout1d", lambda: T.Dropout1d(), lambda: nn.Dropout1d(), [f((2, 3, 4, 4))]),
        ("interpolate", lambda: T.Upsample(scale_factor=2, mode="bilinear"),
         lambda: nn.Upsample(scale_factor=2, mode="bilinear"), [f((1, 3, 4))]),
        ("cross_entropy", lambda: T.CrossEntropyLoss(), lambda: nn.CrossEntropyLoss(), [f((3, 4)), np.array([0, 1, 4])]),
        ("cross_entropy", lambda: T.CrossEntropyLoss(), lambda: nn.CrossEntropyLoss(), [f((3, 4)), np.arange(4)]),
        ("cross_entropy", lambda: T.CrossEntropyLoss(weight=torch.ones(3)),
         lambda: nn.CrossEntropyLoss(weight=np.ones(3)), [f((3, 4)), np.arange(3)]),
        ("nll_loss", lambda: T.NLLLoss(), lambda: nn.NLLLoss(), [f((3, 4)), np.arange(2)]),
        ("binary_cross_entropy_with_logits", lambda: T.BCEWithLogitsLoss(), lambda: nn.BCEWithLogitsLoss(),
         [f((3, 4)), f((3, 1))]),
        ("mse_loss", lambda: T.MSELoss(), lambda: nn.MSELoss(), [f((3, 4)), f((3, 5))]),
        ("huber_loss", lambda: T.HuberLoss(delta=0.0), lambda: nn.HuberLoss(delta=0.0), [f((3, 4)), f((3, 4))]),
    ]
    for layer, make_torch, make_ours, arrays in cases:
        _raises_like_torch(torch, make_torch, make_ours, *arrays, layer=layer)


def test_bad_constructor_arguments_raise_clear_errors(torch):
    cases = [("Conv2d", (3, 4, 3), dict(groups=2)), ("Conv2d", (3, 4, 3), dict(padding="same", stride=2)),
             ("Conv2d", (3, 4, 3), dict(padding="full")), ("Conv2d", (3, 4, 3), dict(padding_mode="mirror")),
             ("Conv2d", (3, 4, 3.0), {}), ("ConvTranspose2d", (3, 4, 3), dict(padding_mode="reflect")),
             ("BatchNorm2d", (-1,), {}), ("GroupNorm", (3, 4), {}), ("Embedding", (5, 3), dict(padding_idx=5)),
             ("Linear", (-1, 3), {}), ("Dropout", (1.5,), {}), ("Hardtanh", (2.0, 1.0), {})]
    for name, args, kw in cases:
        with pytest.raises(Exception):
            getattr(torch.nn, name)(*args, **kw)
        with pytest.raises((ValueError, TypeError), match=name):
            getattr(nn, name)(*args, **kw)


def test_module_reprs_match_torch(torch):
    cases = [("Conv2d", (3, 4, (3, 2)), dict(stride=2, padding=1, dilation=2, bias=False, padding_mode="reflect")),
             ("Conv1d", (4, 4, 3), dict(padding="same", groups=2)), ("Conv3d", (2, 2, 3), dict(stride=(1, 2, 1))),
             ("ConvTranspose2d", (3, 4, 3), dict(stride=2, padding=1, output_padding=1, bias=False)),
             ("ConvTranspose1d", (4, 4, 3), dict(dilation=2, groups=2)),
             ("MaxPool2d", ((2, 3),), dict(stride=1, padding=1, dilation=2, ceil_mode=True, return_indices=True)),
             ("AvgPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
             ("AvgPool1d", (3,), dict(stride=2, padding=1)), ("AdaptiveAvgPool2d", ((3, None),), {}),
             ("BatchNorm1d", (3,), dict(eps=1e-3, momentum=None, affine=False, track_running_stats=False)),
             ("LayerNorm", ((2, 5),), dict(eps=1e-6, elementwise_affine=False, bias=False)),
             ("GroupNorm", (2, 4), dict(affine=False)), ("InstanceNorm1d", (3,), dict(affine=True)),
             ("LocalResponseNorm", (3,), {}), ("Dropout2d", (0.2,), dict(inplace=True)), ("Linear", (3, 4), {}),
             ("Hardtanh", (-2.0, 3.0, True), {}), ("ReLU6", (True,), {}), ("Softplus", (2, 10), {}),
             ("Upsample", (), dict(size=(3, 4), mode="bilinear", align_corners=True))]
    for name, args, kw in cases:
        assert repr(getattr(nn, name)(*args, **kw)) == repr(getattr(torch.nn, name)(*args, **kw))
