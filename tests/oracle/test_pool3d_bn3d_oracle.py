"""3-D pooling, BatchNorm3d and Unflatten vs PyTorch (float64, rtol 1e-10, atol 1e-12), forward and every gradient:
max_pool3d (kernel, stride, padding, dilation, ceil_mode, return_indices, ties), avg_pool3d (ceil_mode,
count_include_pad, divisor_override), adaptive_avg_pool3d (``None`` entries, sizes that do not divide, upsizing),
batched and unbatched; the modules (same ``repr``), BatchNorm3d over several steps in train and eval mode (momentum
None, affine False, bias False, track_running_stats False), Unflatten (-1, negative dim), error messages, and
``to_torch`` / ``load_torch_state_dict`` of a Conv3d -> BatchNorm3d -> ReLU -> MaxPool3d -> AdaptiveAvgPool3d ->
Flatten -> Linear -> Unflatten model."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import scratchcnn as sc
import scratchcnn.functional as F
from oracle.helpers import compare_with_torch
from scratchcnn import nn
from scratchcnn.io import load_torch_state_dict, to_torch

RTOL, ATOL = 1e-10, 1e-12


def _out_size(n: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    """PyTorch's pooling_output_shape, written out independently of the library."""
    eff = d * (k - 1) + 1
    num = n + 2 * p - eff
    out = (-(-num // s) if ceil else num // s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


@st.composite
def pool3d_configs(draw, dilated: bool):
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(3))
    stride = None if draw(st.booleans()) else tuple(draw(st.integers(1, 3)) for _ in range(3))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(3)) if dilated else (1, 1, 1)
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    spatial = tuple(max(1, e - 2 * p) + draw(st.integers(0, 4)) for e, p in zip(extent, padding))
    batch = draw(st.sampled_from([(), (1,), (2,)]))          # () = unbatched (C, D, H, W)
    shape = (*batch, draw(st.integers(1, 2)), *spatial)
    return shape, kernel, stride, padding, dilation, draw(st.booleans())


def _every_window_sees_input(spatial, kernel, stride, padding, dilation, ceil) -> bool:
    """False when a window holds only padding (PyTorch then reports an out-of-range index; not mimicked)."""
    for n, k, s, p, d in zip(spatial, kernel, stride or kernel, padding, dilation):
        for o in range(_out_size(n, k, s, p, d, ceil)):
            if not any(0 <= o * s - p + j * d < n for j in range(k)):
                return False
    return True


def _input(seed: int, shape, ties: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if ties:   # few distinct values: many tied maxima (the first one wins, in D, H, W order)
        return np.maximum(rng.integers(-2, 3, size=shape), 0).astype(np.float64)
    return rng.standard_normal(shape)


# ------------------------------------------------------------------------------------------------ functional
@settings(max_examples=120, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**16), ties=st.booleans())
def test_max_pool3d_matches_torch(torch, data, seed, ties):
    shape, kernel, stride, padding, dilation, ceil = data.draw(pool3d_configs(dilated=True))
    assume(_every_window_sees_input(shape[-3:], kernel, stride, padding, dilation, ceil))
    compare_with_torch(torch, lambda x: F.max_pool3d(x, kernel, stride, padding, dilation, ceil),
                       lambda x: torch.nn.functional.max_pool3d(x, kernel, stride, padding, dilation, ceil),
                       [_input(seed, shape, ties)], rtol=RTOL, atol=ATOL, seed=seed)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**16), ties=st.booleans())
def test_max_pool3d_return_indices_match_torch(torch, data, seed, ties):
    shape, kernel, stride, padding, dilation, ceil = data.draw(pool3d_configs(dilated=True))
    assume(_every_window_sees_input(shape[-3:], kernel, stride, padding, dilation, ceil))
    x = _input(seed, shape, ties)
    xs, xt = sc.Tensor(x.copy(), requires_grad=True), torch.tensor(x.copy(), requires_grad=True)
    ys, is_ = F.max_pool3d(xs, kernel, stride, padding, dilation, ceil, return_indices=True)
    yt, it = torch.nn.functional.max_pool3d(xt, kernel, stride, padding, dilation, ceil, return_indices=True)
    np.testing.assert_array_equal(ys.data, yt.detach().numpy())
    assert is_.data.dtype == np.int64 and is_.shape == tuple(it.shape)
    np.testing.assert_array_equal(is_.data, it.numpy())
    g = np.random.default_rng(seed).standard_normal(tuple(yt.shape))
    ys.backward(g)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_max_pool3d_indices_are_flat_into_the_unpadded_volume(torch):
    x = np.random.default_rng(3).standard_normal((2, 3, 5, 4, 6))
    _, idx = F.max_pool3d(sc.Tensor(x), (3, 2, 3), (2, 1, 2), (1, 1, 1), return_indices=True)
    flat = x.reshape(2, 3, -1)
    picked = np.take_along_axis(flat, idx.data.reshape(2, 3, -1), axis=2).reshape(idx.shape)
    np.testing.assert_array_equal(picked, F.max_pool3d(sc.Tensor(x), (3, 2, 3), (2, 1, 2), (1, 1, 1)).data)
    assert idx.data.min() >= 0 and idx.data.max() < 5 * 4 * 6


@settings(max_examples=120, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**16), include=st.booleans(),
       divisor=st.sampled_from([None, None, 1, 3, 7]))
def test_avg_pool3d_matches_torch(torch, data, seed, include, divisor):
    shape, kernel, stride, padding, _, ceil = data.draw(pool3d_configs(dilated=False))
    if data.draw(st.integers(0, 4)):             # mostly inputs at least as large as the kernel
        shape = shape[:-3] + tuple(max(n, k) for n, k in zip(shape[-3:], kernel))
    if any(n < k for n, k in zip(shape[-3:], kernel)):   # PyTorch's avg_pool3d refuses these (padding or not)
        with pytest.raises(RuntimeError, match="smaller than kernel size"):
            torch.nn.functional.avg_pool3d(torch.zeros(shape), kernel, stride, padding, ceil, include, divisor)
        with pytest.raises(ValueError, match=r"avg_pool3d: input \(D, H, W\) = .* is smaller than kernel_size"):
            F.avg_pool3d(sc.Tensor(np.zeros(shape)), kernel, stride, padding, ceil, include, divisor)
        return
    compare_with_torch(torch, lambda x: F.avg_pool3d(x, kernel, stride, padding, ceil, include, divisor),
                       lambda x: torch.nn.functional.avg_pool3d(x, kernel, stride, padding, ceil, include, divisor),
                       [_input(seed, shape, False)], rtol=RTOL, atol=ATOL, seed=seed)


@st.composite
def adaptive_sizes(draw):
    entry = st.one_of(st.none(), st.integers(1, 7))
    if draw(st.booleans()):
        return draw(st.integers(1, 7))
    return tuple(draw(entry) for _ in range(3))


@settings(max_examples=60, deadline=None)
@given(out=adaptive_sizes(), seed=st.integers(0, 2**16), batch=st.sampled_from([(), (1,), (2,)]),
       spatial=st.tuples(st.integers(1, 7), st.integers(1, 7), st.integers(1, 7)))
def test_adaptive_avg_pool3d_matches_torch(torch, out, seed, batch, spatial):
    shape = (*batch, 2, *spatial)
    compare_with_torch(torch, lambda x: F.adaptive_avg_pool3d(x, out),
                       lambda x: torch.nn.functional.adaptive_avg_pool3d(x, out),
                       [_input(seed, shape, False)], rtol=RTOL, atol=ATOL, seed=seed)


def test_pool3d_float32_forward_matches_torch(torch):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6, 5)).astype(np.float32)
    for ours, theirs in ((F.max_pool3d, torch.nn.functional.max_pool3d),
                         (F.avg_pool3d, torch.nn.functional.avg_pool3d)):
        y = ours(sc.Tensor(x), 3, 2, 1, ceil_mode=True)
        assert y.dtype == np.float32
        np.testing.assert_allclose(y.data, theirs(torch.tensor(x), 3, 2, 1, ceil_mode=True).numpy(),
                                   rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------------------------------------ modules
POOL_MODULES = [
    ("MaxPool3d", (2,), {}),
    ("MaxPool3d", ((3, 2, 3),), {"stride": (2, 1, 2), "padding": (1, 1, 0), "dilation": (1, 2, 1)}),
    ("MaxPool3d", (3,), {"stride": 2, "padding": 1, "ceil_mode": True}),
    ("MaxPool3d", (2,), {"stride": 1, "dilation": 2}),
    ("AvgPool3d", (2,), {}),
    ("AvgPool3d", (3,), {"stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False}),
    ("AvgPool3d", ((3, 1, 2),), {"stride": (1, 2, 2), "padding": (1, 0, 1), "divisor_override": 4}),
    ("AvgPool3d", (3,), {"stride": 2, "padding": 1, "ceil_mode": True}),
    ("AdaptiveAvgPool3d", (1,), {}),
    ("AdaptiveAvgPool3d", ((2, None, 3),), {}),
    ("AdaptiveAvgPool3d", ((4, 3, 8),), {}),
]


@pytest.mark.parametrize("unbatched", [False, True])
@pytest.mark.parametrize("kind, args, kwargs", POOL_MODULES)
def test_pool3d_modules_match_torch(torch, kind, args, kwargs, unbatched):
    ours, theirs = getattr(nn, kind)(*args, **kwargs), getattr(torch.nn, kind)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    shape = (3, 7, 6, 5) if unbatched else (2, 3, 7, 6, 5)
    compare_with_torch(torch, ours, theirs, [_input(7, shape, False)], rtol=RTOL, atol=ATOL)


def test_max_pool3d_module_return_indices(torch):
    ours, theirs = nn.MaxPool3d(3, 2, 1, return_indices=True), torch.nn.MaxPool3d(3, 2, 1, return_indices=True)
    x = _input(1, (2, 2, 5, 6, 7), False)
    (ys, is_), (yt, it) = ours(sc.Tensor(x)), theirs(torch.tensor(x))
    np.testing.assert_array_equal(ys.data, yt.numpy())
    np.testing.assert_array_equal(is_.data, it.numpy())


# ------------------------------------------------------------------------------------------------ BatchNorm3d
BN_CONFIGS = [
    {},
    {"momentum": None},
    {"momentum": 0.3, "eps": 1e-3},
    {"affine": False},
    {"bias": False},
    {"track_running_stats": False},
    {"track_running_stats": False, "affine": False},
    {"momentum": None, "affine": False},
]


@pytest.mark.parametrize("kwargs", BN_CONFIGS)
def test_batchnorm3d_train_then_eval_matches_torch(torch, kwargs):
    ours = nn.BatchNorm3d(3, dtype=np.float64, **kwargs)
    theirs = torch.nn.BatchNorm3d(3, dtype=torch.float64, **kwargs)
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(0)
    if ours.weight is not None:                 # non-default affine parameters, the same on both sides
        w = rng.uniform(0.5, 1.5, 3)
        ours.weight.data[:] = w
        theirs.weight.data[:] = torch.tensor(w)
        if ours.bias is not None:
            b = rng.normal(0, 0.5, 3)
            ours.bias.data[:] = b
            theirs.bias.data[:] = torch.tensor(b)
    params = [n for n, _ in theirs.named_parameters()]
    for step, train in enumerate([True, True, True, False, True, False]):
        ours.train(train)
        theirs.train(train)
        x = rng.normal(step * 0.3, 1 + step * 0.2, (2, 3, 4, 3, 5))
        xs, xt = sc.Tensor(x.copy(), requires_grad=True), torch.tensor(x.copy(), requires_grad=True)
        ys, yt = ours(xs), theirs(xt)
        np.testing.assert_allclose(ys.data, yt.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg=f"step {step}")
        g = rng.standard_normal(x.shape)
        for p in ours.parameters():
            p.grad = None
        theirs.zero_grad()
        ys.backward(g)
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=f"input grad {step}")
        for n in params:
            np.testing.assert_allclose(getattr(ours, n).grad, getattr(theirs, n).grad.numpy(), rtol=RTOL,
                                       atol=ATOL, err_msg=f"{n} grad, step {step}")
        ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
        assert set(ours_state) == set(theirs_state)
        for k, v in theirs_state.items():
            np.testing.assert_allclose(np.asarray(ours_state[k].data), v.numpy(), rtol=RTOL, atol=ATOL,
                                       err_msg=f"{k} after step {step}")


def test_batchnorm3d_rejects_other_ranks_like_torch(torch):
    bn, tbn = nn.BatchNorm3d(3), torch.nn.BatchNorm3d(3)
    for shape in [(3, 4, 5, 6), (2, 3, 4, 5), (2, 3, 4, 5, 6, 2), (2, 3)]:
        with pytest.raises(ValueError):
            tbn(torch.zeros(shape))
        with pytest.raises(ValueError, match=r"BatchNorm3d\(3.*expected input \(N, 3, D, H, W\), got "
                                             + repr(shape).replace("(", r"\(").replace(")", r"\)")):
            bn(sc.Tensor(np.zeros(shape, dtype=np.float32)))
    with pytest.raises(ValueError, match=r"BatchNorm3d\(3.*\(N, 3, D, H, W\), got \(2, 4, 3, 3, 3\)"):
        bn(sc.Tensor(np.zeros((2, 4, 3, 3, 3), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"BatchNorm3d.*more than 1 value per channel"):
        bn(sc.Tensor(np.zeros((1, 3, 1, 1, 1), dtype=np.float32)))


# ------------------------------------------------------------------------------------------------ Unflatten
@pytest.mark.parametrize("shape, dim, size", [
    ((2, 12), 1, (3, 4)), ((2, 12), -1, (2, -1, 3)), ((2, 12), 1, [-1]), ((6, 5), 0, (2, 3)),
    ((2, 6, 5), -2, (3, 2)), ((2, 6, 5), 2, (5, 1)), ((4,), 0, (-1, 2)), ((2, 0), 1, (2, 0)), ((2, 3, 4), 1, (3,)),
])
def test_unflatten_matches_torch(torch, shape, dim, size):
    ours, theirs = nn.Unflatten(dim, size), torch.nn.Unflatten(dim, size)
    assert repr(ours) == repr(theirs)
    compare_with_torch(torch, ours, theirs, [np.random.default_rng(0).standard_normal(shape)], rtol=RTOL,
                       atol=ATOL)


@pytest.mark.parametrize("size, message", [
    (3, "unflattened_size must be a tuple of ints, but found type int"),
    ((2, 2.0), "unflattened_size must be tuple of ints, but found element of type float at pos 1"),
    ("ab", "unflattened_size must be a tuple of ints, but found type str"),
])
def test_unflatten_constructor_type_errors_like_torch(torch, size, message):
    with pytest.raises(TypeError, match=message):
        torch.nn.Unflatten(1, size)
    with pytest.raises(TypeError, match=message):
        nn.Unflatten(1, size)


@pytest.mark.parametrize("shape, dim, size, pattern", [
    ((2, 12), 1, (5, -1), r"Unflatten\(dim=1, .*cannot split size 12"),
    ((2, 12), 1, (3, 5), r"Unflatten\(dim=1, .*don't multiply up to the size of dim 1 \(12\)"),
    ((2, 12), 1, (-1, -1), r"one -1"),
    ((2, 12), 1, (-2, -6), r"one -1"),
    ((2, 12), 1, (), r"non-empty"),
    ((2, 12), 2, (3, 4), r"Unflatten\(dim=2, .*out of range for input of shape \(2, 12\)"),
    ((2, 12), -3, (3, 4), r"out of range"),
    ((2, 0), 1, (-1, 0), r"cannot split size 0"),
    ((), 0, (1,), r"out of range"),
])
def test_unflatten_bad_inputs_raise_value_errors(torch, shape, dim, size, pattern):
    x = np.zeros(shape)
    with pytest.raises((RuntimeError, IndexError)):        # PyTorch refuses them too
        torch.nn.Unflatten(dim, size)(torch.tensor(x))
    with pytest.raises(ValueError, match=pattern):
        nn.Unflatten(dim, size)(sc.Tensor(x))


# ------------------------------------------------------------------------------------------------ errors
def _t(*shape):
    return sc.Tensor(np.zeros(shape))


@pytest.mark.parametrize("call, exc, pattern", [
    (lambda: F.max_pool3d(_t(2, 4, 4), 2), ValueError,
     r"max_pool3d: expected a 5-D input \(N, C, D, H, W\) or an unbatched 4-D input \(C, D, H, W\), got 3-D"),
    (lambda: F.avg_pool3d(_t(1, 1, 2, 4, 4, 4), 2), ValueError, r"avg_pool3d: expected a 5-D input .* got 6-D"),
    (lambda: F.max_pool3d(_t(1, 2, 4, 4, 4), 0), ValueError, r"max_pool3d: kernel_size must be positive"),
    (lambda: F.avg_pool3d(_t(1, 2, 4, 4, 4), (2, 2)), ValueError, r"avg_pool3d: kernel_size must have 3 entries"),
    (lambda: F.max_pool3d(_t(1, 2, 4, 4, 4), 2, stride=(1, 0, 1)), ValueError,
     r"max_pool3d: stride must be positive"),
    (lambda: F.max_pool3d(_t(1, 2, 6, 6, 6), 3, padding=2), ValueError,
     r"max_pool3d: padding \(2, 2, 2\) must be at most half of kernel_size \(3, 3, 3\)"),
    (lambda: F.avg_pool3d(_t(1, 2, 6, 6, 6), (3, 2, 3), padding=(1, 2, 1)), ValueError,
     r"avg_pool3d: padding \(1, 2, 1\) must be at most half"),
    (lambda: F.max_pool3d(_t(1, 2, 4, 4, 4), 2, padding=-1), ValueError, r"max_pool3d: padding"),
    (lambda: F.avg_pool3d(_t(1, 2, 2, 4, 4), 3), ValueError, r"avg_pool3d: input \(D, H, W\) = \(2, 4, 4\) is "
     r"smaller than kernel_size \(3, 3, 3\)"),
    (lambda: F.avg_pool3d(_t(1, 2, 2, 4, 4), 3, padding=1), ValueError, r"avg_pool3d: .* smaller than kernel"),
    (lambda: F.max_pool3d(_t(1, 2, 2, 4, 4), 3), ValueError, r"max_pool3d: input of shape .* too small"),
    (lambda: F.avg_pool3d(_t(1, 2, 4, 4, 4), 2, divisor_override=0), ValueError,
     r"avg_pool3d: divisor_override must be positive"),
    (lambda: F.avg_pool3d(sc.Tensor(np.zeros((1, 1, 4, 4, 4), dtype=np.int64)), 2), TypeError,
     r"avg_pool3d: expected a floating"),
    (lambda: F.adaptive_avg_pool3d(_t(1, 2, 4, 4, 4), (2, 0, 2)), ValueError,
     r"adaptive_avg_pool3d: output_size entries must be positive"),
    (lambda: F.adaptive_avg_pool3d(_t(1, 2, 4, 4, 4), (2, 2)), ValueError,
     r"adaptive_avg_pool3d: output_size must have 3 entries"),
    (lambda: F.adaptive_avg_pool3d(_t(4, 4, 4), 2), ValueError, r"adaptive_avg_pool3d: expected a 5-D"),
    (lambda: nn.MaxPool3d(2)(_t(4, 4, 4)), ValueError,
     r"MaxPool3d\(kernel_size=2, .*\): expected input \(N, C, D, H, W\) or \(C, D, H, W\), got \(4, 4, 4\)"),
    (lambda: nn.AvgPool3d(2)(_t(1, 1, 1, 4, 4, 4)), ValueError,
     r"AvgPool3d\(kernel_size=2, .*\(N, C, D, H, W\) or \(C, D, H, W\), got \(1, 1, 1, 4, 4, 4\)"),
    (lambda: nn.AdaptiveAvgPool3d(1)(_t(2, 3)), ValueError, r"AdaptiveAvgPool3d\(output_size=1\): expected input"),
    (lambda: nn.MaxPool3d(3, padding=2)(_t(1, 1, 6, 6, 6)), ValueError, r"max_pool3d: padding .* at most half"),
    (lambda: nn.MaxPool3d(2)(np.zeros((1, 1, 4, 4, 4))), TypeError, r"MaxPool3d.*expected a Tensor"),
])
def test_bad_3d_inputs_raise_clear_errors(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


@pytest.mark.parametrize("torch_call", [
    lambda t: t.nn.functional.max_pool3d(t.zeros(1, 2, 6, 6, 6), 3, padding=2),
    lambda t: t.nn.functional.avg_pool3d(t.zeros(1, 2, 6, 6, 6), 3, padding=2),
    lambda t: t.nn.functional.max_pool3d(t.zeros(2, 4, 4), 2),
    lambda t: t.nn.functional.avg_pool3d(t.zeros(1, 2, 2, 4, 4), 3, padding=1),
    lambda t: t.nn.functional.max_pool3d(t.zeros(1, 2, 2, 4, 4), 3),
])
def test_the_same_cases_are_errors_in_torch(torch, torch_call):
    with pytest.raises(RuntimeError):
        torch_call(torch)


# ------------------------------------------------------------------------------------------------ to_torch
def small_3d_model(dtype=np.float64) -> nn.Sequential:
    """(N, 2, 6, 7, 8) -> Conv3d -> BatchNorm3d -> ReLU -> MaxPool3d -> AdaptiveAvgPool3d -> Flatten -> Linear
    -> Unflatten -> (N, 2, 3)."""
    sc.manual_seed(0)
    return nn.Sequential(
        nn.Conv3d(2, 4, 3, padding=1, dtype=dtype),
        nn.BatchNorm3d(4, momentum=None, dtype=dtype),
        nn.ReLU(),
        nn.MaxPool3d(2, stride=2, padding=1, ceil_mode=True),
        nn.AdaptiveAvgPool3d((2, 1, 2)),
        nn.Flatten(),
        nn.Linear(16, 6, dtype=dtype),
        nn.Unflatten(1, (2, -1)),
    )


def _randomize_bn(model: nn.Module, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm3d):
            m.weight.data[:] = rng.uniform(0.5, 1.5, m.num_features)
            m.bias.data[:] = rng.normal(0, 0.3, m.num_features)
            m.running_mean.data[:] = rng.normal(0, 0.5, m.num_features)
            m.running_var.data[:] = rng.uniform(0.5, 2.0, m.num_features)
            m.num_batches_tracked.data[...] = 3


def test_to_torch_round_trip_of_a_3d_model(torch):
    model = small_3d_model()
    _randomize_bn(model)
    twin = to_torch(model)
    assert [type(m).__name__ for m in twin] == [type(m).__name__ for m in model]
    assert [repr(m) for m in twin] == [repr(m) for m in model]
    sd = model.state_dict()
    assert set(twin.state_dict()) == set(sd)
    for k, v in twin.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), np.asarray(sd[k].data), err_msg=k)
    rng = np.random.default_rng(1)
    for train in (True, True, False):            # two training steps (running stats move), then eval
        model.train(train)
        twin.train(train)
        x = rng.standard_normal((3, 2, 6, 7, 8))
        xs, xt = sc.Tensor(x.copy(), requires_grad=True), torch.tensor(x.copy(), requires_grad=True)
        ys, yt = model(xs), twin(xt)
        assert ys.shape == tuple(yt.shape) == (3, 2, 3)
        np.testing.assert_allclose(ys.data, yt.detach().numpy(), rtol=RTOL, atol=ATOL)
        g = rng.standard_normal(ys.shape)
        model.zero_grad()
        twin.zero_grad()
        ys.backward(g)
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=RTOL, atol=ATOL)
        grads = dict(twin.named_parameters())
        for name, p in model.named_parameters():
            np.testing.assert_allclose(p.grad, grads[name].grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=name)
        theirs = twin.state_dict()
        for k, v in model.state_dict().items():
            np.testing.assert_allclose(np.asarray(v.data), theirs[k].numpy(), rtol=RTOL, atol=ATOL, err_msg=k)

    fresh = small_3d_model()                       # and back: the torch weights into a new scratchcnn model
    for p in fresh.parameters():
        p.data[...] = 0
    assert not load_torch_state_dict(fresh, twin).missing_keys
    for k, v in twin.state_dict().items():
        np.testing.assert_array_equal(np.asarray(fresh.state_dict()[k].data), v.numpy(), err_msg=k)
    fresh.eval()
    twin.eval()
    x = rng.standard_normal((2, 2, 6, 7, 8))
    with sc.no_grad(), torch.no_grad():
        np.testing.assert_allclose(fresh(sc.Tensor(x)).data, twin(torch.tensor(x)).numpy(), rtol=RTOL, atol=ATOL)


def test_to_torch_keeps_3d_pool_and_bn_options(torch):
    model = nn.Sequential(nn.AvgPool3d((3, 1, 2), (1, 2, 2), (1, 0, 1), ceil_mode=True, count_include_pad=False,
                                       divisor_override=5),
                          nn.MaxPool3d(2, 1, 1, dilation=2),
                          nn.BatchNorm3d(2, eps=1e-3, momentum=0.2, affine=False, track_running_stats=False),
                          nn.AdaptiveAvgPool3d((None, 2, 1)), nn.Unflatten(-1, (1, 1)))
    twin = to_torch(model)
    assert [repr(m) for m in twin] == [repr(m) for m in model]
    assert twin[0].divisor_override == 5 and twin[0].count_include_pad is False and twin[1].dilation == 2
    assert twin[2].track_running_stats is False and twin[2].running_mean is None
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 6, 7))
    compare_with_torch(torch, model, twin, [x], rtol=RTOL, atol=ATOL)
