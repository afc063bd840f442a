"""conv_transpose1d/2d, nn.ConvTranspose1d/2d, interpolate and nn.Upsample vs PyTorch.

float64 with the repo's tolerances (rtol 1e-6, atol 1e-9): forward and the gradients of input, weight and bias
over random kernels 1-5, strides 1-3, paddings, output paddings < max(stride, dilation), dilations 1-2, groups
(incl. depthwise), batches 1-3, 1-d and 2-d; the module's ``output_size``; interpolate over sizes, integer and
fractional scale factors, modes and align_corners; float32 forwards; repr / state_dict; errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
import scratchcnn.functional as F
from scratchcnn import nn
from scratchcnn.functional.resample import axis_table
from oracle.helpers import ATOL, RTOL, compare_with_torch, draw_groups, finite_difference_check

SC_CT = {1: F.conv_transpose1d, 2: F.conv_transpose2d}
TORCH_CT = {1: "conv_transpose1d", 2: "conv_transpose2d"}


@st.composite
def ct_configs(draw, nd: int):
    """A valid (input shape, weight shape, stride, padding, output_padding, groups, dilation, bias)."""
    groups, cin_g, cout_g = draw_groups(draw, one=(4, 4), grouped=(3, 3, 3), depthwise=(4, 2))
    kernel = tuple(draw(st.integers(1, 5)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    padding = tuple(draw(st.integers(0, 3)) for _ in range(nd))
    out_pad = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    spatial = []
    for k, s, d, p, o in zip(kernel, stride, dilation, padding, out_pad):
        low = 1                                    # smallest input whose output size is positive
        while (low - 1) * s - 2 * p + d * (k - 1) + o + 1 < 1:
            low += 1
        spatial.append(low + draw(st.integers(0, 5)))
    n = draw(st.integers(1, 3))
    as_int = draw(st.booleans()) and len(set(stride)) == 1 and len(set(padding)) == 1
    args = (stride[0], padding[0]) if as_int else (stride, padding)
    return ((n, groups * cin_g, *spatial), (groups * cin_g, cout_g, *kernel), *args, out_pad, groups, dilation,
            draw(st.booleans()))


def _check_ct(torch, nd, cfg, seed):
    x_shape, w_shape, stride, padding, out_pad, groups, dilation, bias = cfg
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape)]
    if bias:
        arrays.append(rng.standard_normal(w_shape[1] * groups))
    tfn = getattr(torch.nn.functional, TORCH_CT[nd])
    compare_with_torch(torch, lambda x, w, b=None: SC_CT[nd](x, w, b, stride, padding, out_pad, groups, dilation),
                       lambda x, w, b=None: tfn(x, w, b, stride, padding, out_pad, groups, dilation), arrays,
                       seed=seed)


@settings(max_examples=80, deadline=None)
@given(cfg=ct_configs(2), seed=st.integers(0, 2**16))
def test_conv_transpose2d_matches_torch(torch, cfg, seed):
    _check_ct(torch, 2, cfg, seed)


@settings(max_examples=60, deadline=None)
@given(cfg=ct_configs(1), seed=st.integers(0, 2**16))
def test_conv_transpose1d_matches_torch(torch, cfg, seed):
    _check_ct(torch, 1, cfg, seed)


@pytest.mark.parametrize("nd, x_shape, w_shape, kw", [
    (2, (2, 3, 4, 5), (3, 2, 3, 3), dict(stride=1, padding=1)),                       # covering offset path
    (2, (2, 4, 3, 3), (4, 1, 3, 2), dict(stride=(1, 2), dilation=2, output_padding=(1, 1), groups=4)),
    (1, (3, 6, 5), (6, 2, 2), dict(stride=1, dilation=2, output_padding=1, groups=3)),  # output_padding >= stride
    (2, (1, 8, 2, 2), (8, 8, 1, 1), dict(stride=3, padding=0, output_padding=2)),       # uncovered border rows
    (1, (2, 5, 4), (5, 3, 4), dict(stride=2, padding=3)),                              # cropped by the padding
])
def test_conv_transpose_edge_cases(torch, nd, x_shape, w_shape, kw):
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape),
              rng.standard_normal(w_shape[1] * kw.get("groups", 1))]
    tfn = getattr(torch.nn.functional, TORCH_CT[nd])
    compare_with_torch(torch, lambda x, w, b: SC_CT[nd](x, w, b, **kw), lambda x, w, b: tfn(x, w, b, **kw), arrays)


@pytest.mark.parametrize("grad_mask", [(True, False, False), (False, True, False), (False, False, True),
                                       (False, True, True)])
def test_conv_transpose_partial_gradients(torch, grad_mask):
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((2, 4, 3, 4)), rng.standard_normal((4, 3, 2, 3)), rng.standard_normal(6)]
    kw = dict(stride=2, padding=(1, 0), output_padding=1, groups=2)
    compare_with_torch(torch, lambda x, w, b: F.conv_transpose2d(x, w, b, **kw),
                       lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b, **kw), arrays, grad_mask)


def test_conv_transpose_unbatched_and_finite_differences(torch):
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((2, 3, 3)), rng.standard_normal((2, 2, 2, 2)), rng.standard_normal(2)]
    kw = dict(stride=2, padding=1, output_padding=1, dilation=1)
    compare_with_torch(torch, lambda x, w, b: F.conv_transpose2d(x, w, b, **kw),
                       lambda x, w, b: torch.nn.functional.conv_transpose2d(x, w, b, **kw), arrays)
    finite_difference_check(lambda x, w, b: F.conv_transpose1d(x, w, b, stride=2, padding=1, output_padding=1),
                            [rng.standard_normal((1, 2, 3)), rng.standard_normal((2, 2, 3)), rng.standard_normal(2)])


def test_conv_transpose_float32_forward_close_to_torch(torch):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 6, 7, 5)).astype(np.float32)
    w = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    kw = dict(stride=2, padding=1, output_padding=1, groups=2, dilation=1)
    y = F.conv_transpose2d(sc.Tensor(x), sc.Tensor(w), sc.Tensor(b), **kw)
    want = torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), **kw).numpy()
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, want, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------------------ modules
@pytest.mark.parametrize("nd, args, kw", [
    (1, (3, 4, 3), {}),
    (1, (4, 6, 2), dict(stride=2, padding=1, output_padding=1, groups=2, bias=False, dilation=2)),
    (2, (3, 5, (2, 3)), dict(stride=(2, 1), padding=(0, 1))),
    (2, (4, 4, 3), dict(stride=3, output_padding=2, groups=4)),
])
def test_modules_like_torch(torch, nd, args, kw):
    name = f"ConvTranspose{nd}d"
    m, t = getattr(nn, name)(*args, **kw, dtype=np.float64), getattr(torch.nn, name)(*args, **kw).double()
    assert repr(m) == repr(t)
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in t.state_dict().items()}
    # default init: the same bounds as torch's (kaiming_uniform_(a=sqrt(5)): 1/sqrt(fan_in) for both)
    fan_in = t.weight.shape[1] * int(np.prod(t.weight.shape[2:]))
    assert np.abs(m.weight.data).max() <= 1 / np.sqrt(fan_in) + 1e-7 and np.abs(m.weight.data).std() > 0
    if m.bias is not None:
        assert np.abs(m.bias.data).max() <= 1 / np.sqrt(fan_in) + 1e-7
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, args[0]) + (4,) * nd)
    compare_with_torch(torch, lambda a: m(a), lambda a: t(a), [x])


@pytest.mark.parametrize("nd, kw, in_sp, sizes", [
    (2, dict(stride=2, padding=1), (4, 5), [(7, 9), (8, 10), (1, 2, 8, 9), (7, 10)]),
    (2, dict(stride=3, dilation=2), (3, 3), [(11, 11), (13, 12)]),
    (1, dict(stride=3, padding=2), (5,), [(11,), (13,), [2, 4, 12]]),
])
def test_output_size_like_torch(torch, nd, kw, in_sp, sizes):
    name = f"ConvTranspose{nd}d"
    t = getattr(torch.nn, name)(4, 2, 3, **kw).double()
    m = getattr(nn, name)(4, 2, 3, **kw, dtype=np.float64)
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = np.random.default_rng(5).standard_normal((2, 4, *in_sp))
    for size in sizes:
        compare_with_torch(torch, lambda a, s=size: m(a, output_size=s), lambda a, s=size: t(a, output_size=s),
                           [x])
    with pytest.raises(ValueError, match="valid sizes range"):
        m(sc.Tensor(x), output_size=[100] * nd)
    with pytest.raises(ValueError, match="output_size must have"):
        m(sc.Tensor(x), output_size=[5] * (nd + 1))


@pytest.mark.parametrize("make, match", [
    (lambda: F.conv_transpose2d(sc.Tensor(np.zeros((1, 2, 3, 3))), sc.Tensor(np.zeros((2, 1, 3, 3))), stride=2,
                                output_padding=2), "output_padding must be smaller than either stride or dilation"),
    (lambda: F.conv_transpose1d(sc.Tensor(np.zeros((1, 3, 3))), sc.Tensor(np.zeros((3, 1, 3))), groups=2),
     "groups=2 must divide in_channels=3"),
    (lambda: F.conv_transpose1d(sc.Tensor(np.zeros((1, 2, 3))), sc.Tensor(np.zeros((3, 1, 3)))),
     "expected input with 3 channels"),
    (lambda: F.conv_transpose1d(sc.Tensor(np.zeros((1, 2, 3))), sc.Tensor(np.zeros((2, 1, 3))),
                                sc.Tensor(np.zeros(3))), r"expected bias of shape \(1,\)"),
    (lambda: F.conv_transpose2d(sc.Tensor(np.zeros((1, 2, 3))), sc.Tensor(np.zeros((2, 1, 3)))), "4-D weight"),
    (lambda: F.conv_transpose1d(sc.Tensor(np.zeros((1, 1, 1))), sc.Tensor(np.zeros((1, 1, 1))), padding=1),
     "output size"),
    (lambda: F.conv_transpose1d(sc.Tensor(np.zeros((1, 1, 3))), sc.Tensor(np.zeros((1, 1, 1))), padding="same"),
     "padding must be an int"),
    (lambda: nn.ConvTranspose2d(4, 6, 3, groups=4), "groups=4 must divide"),
    (lambda: nn.ConvTranspose2d(4, 6, 3, groups=0), "groups must be a positive int"),
    (lambda: nn.ConvTranspose1d(2, 2, 3, stride=2, output_padding=2), "output_padding must be smaller"),
    (lambda: nn.ConvTranspose1d(2, 2, 3, padding_mode="reflect"), '"zeros" padding mode'),
    (lambda: nn.ConvTranspose1d(2, 2, 3)(sc.Tensor(np.zeros((1, 3, 4)))), r"expected input \(N, 2, L\)"),
])
def test_conv_transpose_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ------------------------------------------------------------------------------------------------ interpolate
@st.composite
def interp_configs(draw):
    nd = draw(st.sampled_from([1, 2]))
    mode = draw(st.sampled_from(["nearest", "linear" if nd == 1 else "bilinear"]))
    align = None if mode == "nearest" else draw(st.sampled_from([None, False, True]))
    spatial = tuple(draw(st.integers(1, 9)) for _ in range(nd))
    kind = draw(st.sampled_from(["size", "size_int", "scale_int", "scale_frac", "scale_tuple", "recompute"]))
    kw: dict = {}
    if kind == "size":
        kw["size"] = tuple(draw(st.integers(1, 17)) for _ in range(nd))
    elif kind == "size_int":
        kw["size"] = draw(st.integers(1, 17))
    else:
        frac = st.sampled_from([0.5, 0.6, 0.75, 1.2, 1.25, 1.5, 1.7, 2.3, 2.5, 1 / 3, 2 / 3, 4 / 3])
        whole = st.sampled_from([1.0, 2.0, 3.0, 4.0])
        if kind == "scale_tuple":
            kw["scale_factor"] = tuple(draw(st.one_of(frac, whole)) for _ in range(nd))
        else:
            kw["scale_factor"] = draw(whole if kind == "scale_int" else frac)
            kw["recompute_scale_factor"] = True if kind == "recompute" else None
        facs = kw["scale_factor"] if isinstance(kw["scale_factor"], tuple) else (kw["scale_factor"],) * nd
        spatial = tuple(max(s, int(np.ceil(1 / f))) for s, f in zip(spatial, facs))   # output size >= 1
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return (n, c, *spatial), dict(mode=mode, align_corners=align, **kw)


def _nearest_1d_torch_backward_differs(shape, kw) -> bool:
    """PyTorch's 1-D nearest backward uses another index rule (ATen's nearest_idx: identity for out == in,
    o >> 1 for out == 2 in) than its 1-D forward (floor(o / scale_factor)); with a scale factor they can differ
    (3 samples * 1.2, 2 samples * 2.3), and then torch's gradient is not the gradient of its forward (see
    functional/resample.py): skip the gradient comparison exactly there (the adjoint test below covers it)."""
    if kw["mode"] != "nearest" or len(shape) != 3 or "scale_factor" not in kw or kw.get("recompute_scale_factor"):
        return False
    f = kw["scale_factor"][0] if isinstance(kw["scale_factor"], tuple) else kw["scale_factor"]
    n_in = shape[2]
    n_out = int(n_in * f)
    forward = axis_table(n_in, n_out, f, "nearest", False, "float64")[0]
    torch_backward = axis_table(n_in, n_out, f, "nearest_idx", False, "float64")[0]
    return not np.array_equal(forward, torch_backward)


@settings(max_examples=150, deadline=None)
@given(cfg=interp_configs(), seed=st.integers(0, 2**16))
def test_interpolate_matches_torch(torch, cfg, seed):
    shape, kw = cfg
    x = np.random.default_rng(seed).standard_normal(shape)
    mask = [not _nearest_1d_torch_backward_differs(shape, kw)]
    compare_with_torch(torch, lambda a: F.interpolate(a, **kw), lambda a: torch.nn.functional.interpolate(a, **kw),
                       [x], grad_mask=mask, seed=seed)
    y32 = F.interpolate(sc.Tensor(x.astype(np.float32)), **kw)
    want32 = torch.nn.functional.interpolate(torch.tensor(x.astype(np.float32)), **kw).numpy()
    assert y32.dtype == np.float32
    # float32: both libraries round the coordinates and the weighted sums to float32, in different orders (torch
    # with FMAs), so where an output cancels (a small value from inputs of size |x|) they differ by a few float32
    # ulps of |x|, not of the output: e.g. bilinear (1, 3, 8, 5) -> 15 at seed 7868, ours -0.009164453 (the float64
    # value of the same sum), torch -0.009165668, |x| up to 2.6. The tight check is the float64 one above.
    scale = float(np.abs(x).max())
    np.testing.assert_allclose(y32.data, want32, rtol=1e-5, atol=8 * np.finfo(np.float32).eps * max(scale, 1.0))


@pytest.mark.parametrize("shape, kw", [
    ((2, 3, 3), dict(scale_factor=1.2)),                       # torch's forward: floor(o / 1.2), not identity
    ((1, 2, 3, 5), dict(scale_factor=1.2)),                    # 2-D: torch's identity on H, floor(o / 1.2) on W
    ((1, 1, 10), dict(scale_factor=2.1)),
    ((1, 1, 2), dict(scale_factor=2.3)),                       # out == 2 in: torch's 1-D backward uses o >> 1
    ((1, 2, 4, 3), dict(scale_factor=(2.1, 0.7))),
    ((1, 1, 5), dict(size=1, mode="linear", align_corners=True)),
    ((1, 1, 5), dict(size=1, mode="linear")),
    ((1, 2, 1, 1), dict(size=(3, 2), mode="bilinear", align_corners=True)),
    ((2, 1, 6, 4), dict(size=(6, 9), mode="bilinear")),
])
def test_interpolate_edge_cases(torch, shape, kw):
    x = np.random.default_rng(6).standard_normal(shape)
    mask = [not _nearest_1d_torch_backward_differs(shape, dict(kw, mode=kw.get("mode", "nearest")))]
    compare_with_torch(torch, lambda a: F.interpolate(a, **kw), lambda a: torch.nn.functional.interpolate(a, **kw),
                       [x], grad_mask=mask)


@pytest.mark.parametrize("shape, kw", [((2, 3, 3), dict(scale_factor=1.2)), ((1, 1, 2), dict(scale_factor=2.3)),
                                       ((1, 2, 4, 5), dict(size=(7, 3))),
                                       ((1, 1, 7), dict(size=4, mode="linear")),
                                       ((1, 2, 3, 4), dict(scale_factor=1.5, mode="bilinear", align_corners=True))])
def test_interpolate_backward_is_the_exact_adjoint(shape, kw):
    """<interpolate(x), g> == <x, backward(g)> to rounding, and central differences agree."""
    rng = np.random.default_rng(7)
    x = sc.Tensor(rng.standard_normal(shape), requires_grad=True)
    y = F.interpolate(x, **kw)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    np.testing.assert_allclose((y.data * g).sum(), (x.data * x.grad).sum(), rtol=RTOL, atol=ATOL)
    finite_difference_check(lambda a: F.interpolate(a, **kw), [rng.standard_normal(shape)])


def test_upsample_module_like_torch(torch):
    cases = [dict(scale_factor=2), dict(size=(3, 5), mode="bilinear", align_corners=True),
             dict(scale_factor=(1.5, 2.0), mode="bilinear"), dict(size=7), dict(scale_factor=1.7, mode="bilinear",
                                                                              recompute_scale_factor=True)]
    x = np.random.default_rng(8).standard_normal((2, 3, 4, 5))
    for kw in cases:
        m, t = nn.Upsample(**kw), torch.nn.Upsample(**kw)
        assert repr(m) == repr(t) and m.state_dict() == {} and len(t.state_dict()) == 0
        assert (m.size, m.scale_factor, m.mode, m.align_corners) == (t.size, t.scale_factor, t.mode, t.align_corners)
        compare_with_torch(torch, lambda a: m(a), lambda a: t(a), [x])


@pytest.mark.parametrize("call, match", [
    (lambda x: F.interpolate(x), "either size or scale_factor"),
    (lambda x: F.interpolate(x, size=3, scale_factor=2), "only one of size or scale_factor"),
    (lambda x: F.interpolate(x, size=3, align_corners=True), "align_corners option can only be set"),
    (lambda x: F.interpolate(x, size=3, mode="bilinear"), "needs 4-D input"),
    (lambda x: F.interpolate(x, size=3, mode="bicubic"), "mode must be one of"),
    (lambda x: F.interpolate(x, size=(3, 4)), "size must have 1 entries"),
    (lambda x: F.interpolate(x, scale_factor=0.1), "greater than 0"),
    (lambda x: F.interpolate(x, scale_factor=-1.0), "positive"),
    (lambda x: F.interpolate(x, size=3, recompute_scale_factor=True), "not meaningful with an explicit size"),
    (lambda x: nn.Upsample(size=2, mode="linear", align_corners=True)(x[0]), "3-D"),
])
def test_interpolate_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call(sc.Tensor(np.zeros((1, 2, 5))))
