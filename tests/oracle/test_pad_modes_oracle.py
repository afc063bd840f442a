"""``F.pad`` in every mode (constant, reflect, replicate, circular) vs ``torch.nn.functional.pad`` in float64,
rtol 1e-6: forward and input gradient over 1-d/2-d/3-d padding, batched and unbatched, asymmetric, zero,
maximal and negative (cropping) widths; the same inputs refused; finite differences; error messages."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
import scratchcnn.functional as F
from oracle.helpers import compare_with_torch, finite_difference_check

MODES = ("reflect", "replicate", "circular")
SETTINGS = settings(max_examples=60, deadline=None)


def _normal(seed: int, shape) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _check(torch, x: np.ndarray, pads, mode: str, **kw) -> None:
    compare_with_torch(torch, lambda t: F.pad(t, pads, mode, **kw),
                       lambda t: torch.nn.functional.pad(t, pads, mode=mode, **kw), [x])


def _widths(mode: str, n: int) -> list[tuple[int, int]]:
    """(lo, hi) pairs for an axis of size ``n``: zero, asymmetric, the largest the mode allows, cropping."""
    top = n - 1 if mode == "reflect" else n
    pairs = {(0, 0), (1, 0), (0, 1), (1, 2) if top >= 2 else (1, 1), (top, top), (top, 0), (0, top), (-1, 1)}
    if mode == "replicate":
        pairs |= {(2 * n + 1, 3), (-1, 2 * n)}
    if mode != "circular":
        pairs |= {(-(n - 1), top), (top, -(n - 1))}     # reflect/replicate read past the crop
    return sorted(p for p in pairs if max(p) <= top and n + p[0] + p[1] >= 1)


# ---- the padding modes, every spatial rank and pad pattern, batched (N, C, *S) and unbatched (C, *S)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("spatial", [(5,), (4, 3), (3, 4, 2)])
@pytest.mark.parametrize("batched", [True, False])
def test_modes_every_width_pattern(torch, mode, spatial, batched):
    shape = ((2,) if batched else ()) + (3,) + spatial
    x = _normal(len(spatial), shape)
    options = [_widths(mode, n) for n in spatial]
    for i, combo in enumerate(itertools.product(*options)):
        if len(spatial) > 1 and i % 5:           # the full product for 1-d, every fifth combination beyond
            continue
        pads = tuple(w for pair in reversed(combo) for w in pair)
        _check(torch, x, pads, mode)


@st.composite
def _mode_case(draw):
    """A mode, a (N, C, *S) or (C, *S) shape with 1-3 padded dims, and widths PyTorch accepts for it."""
    mode = draw(st.sampled_from(MODES))
    k = draw(st.integers(1, 3))
    spatial = draw(st.lists(st.integers(1, 6 if k < 3 else 4), min_size=k, max_size=k))
    lead = draw(st.sampled_from([(), (1,), (2,)]))
    shape = (*lead, draw(st.integers(1, 3)), *spatial)
    pads = []
    for n in reversed(spatial):
        if mode == "circular":                   # a crop on one side, a wrap <= what the crop leaves on the other
            crop = draw(st.integers(0, n - 1))
            wrap = draw(st.integers(0, n - crop))
            pads += [-crop, wrap] if draw(st.booleans()) else [wrap, -crop]
        else:                                    # reflect: widths < n; replicate: any; an output of size >= 1
            top = n - 1 if mode == "reflect" else 2 * n
            lo = draw(st.integers(1 - n, top))
            pads += [lo, draw(st.integers(max(1 - n, 1 - n - lo), top))]
    return mode, shape, tuple(pads), draw(st.integers(0, 2**31 - 1))


@SETTINGS
@given(case=_mode_case())
def test_modes_random(torch, case):
    mode, shape, pads, seed = case
    _check(torch, _normal(seed, shape), pads, mode)


@pytest.mark.parametrize("mode", MODES)
def test_batch_of_zero_and_value_zero(torch, mode):
    _check(torch, np.zeros((0, 2, 3)), (1, 2), mode)
    _check(torch, _normal(1, (2, 3, 4)), (2, 1), mode, value=0.0)


def test_memory_order_and_dtype_kept():
    x = sc.Tensor(np.ascontiguousarray(_normal(2, (2, 5, 6, 3)).astype(np.float32)).transpose(0, 3, 1, 2))
    out = F.pad(x, (1, 2, 2, 1), "reflect")
    assert out.dtype == np.float32 and out.shape == (2, 3, 8, 9)
    assert np.argsort(out.data.strides).tolist() == np.argsort(x.data.strides).tolist()


# ---- constant mode: any number of dims, any value, negative widths crop (as torch's constant_pad_nd)
@pytest.mark.parametrize("shape,pads", [
    ((3,), (-1, 2)), ((3,), (-2, -1)), ((2, 3), (1, 1, -1, 0)), ((2, 3, 4), (-3, 1, 0, 0, -1, -1)),
    ((2, 3, 4, 2), (-1, 0, 2, -2, 0, 0, 1, 1)), ((1, 2, 3, 2, 2), (1, -1, -1, 1, 2, 0)), ((4,), (-4, 0)),
    ((2, 3), ()), ((), ())])
@pytest.mark.parametrize("value", [0.0, -1.5])
def test_constant_cropping(torch, shape, pads, value):
    _check(torch, _normal(3, shape), pads, "constant", value=value)


def test_former_signature_is_constant_value():
    x = sc.Tensor(_normal(4, (2, 3)))
    np.testing.assert_array_equal(F.pad(x, (1, 2), 0.5).data, F.pad(x, (1, 2), "constant", 0.5).data)
    np.testing.assert_array_equal(F.pad(x, (1, 2)).data, np.pad(x.data, ((0, 0), (1, 2))))


# ---- refused exactly where torch refuses (one ValueError naming the problem)
@pytest.mark.parametrize("mode", MODES + ("constant",))
@pytest.mark.parametrize("shape", [(2, 3), (1, 2, 3), (2, 1)])
def test_refused_where_torch_refuses(torch, mode, shape):
    """Every 1-d width pair in [-4, 4]^2. Where torch's circular kernel wraps across a crop (a positive width
    larger than what the crop leaves) it reads memory it never wrote; those widths are refused here."""
    x = _normal(5, shape)
    for pads in itertools.product(range(-4, 5), repeat=2):
        try:
            expected = torch.nn.functional.pad(torch.tensor(x), pads, mode=mode).numpy()
        except (RuntimeError, NotImplementedError):
            expected = None
        n = shape[-1]
        undefined = mode == "circular" and min(pads) < 0 and max(pads) > n + min(pads[0], 0) + min(pads[1], 0)
        if expected is None or undefined:
            with pytest.raises(ValueError, match="^pad: "):
                F.pad(sc.Tensor(x), pads, mode)
        else:
            np.testing.assert_array_equal(F.pad(sc.Tensor(x), pads, mode).data, expected, err_msg=str(pads))


@pytest.mark.parametrize("mode", MODES)
def test_empty_outputs_as_torch(torch, mode):
    """1-d: an empty output is refused (reflect/replicate); 2-d: one empty padded dim is allowed, all are not."""
    x = _normal(6, (1, 2, 3, 3))
    for pads in [(0, 0, -1, -2), (-2, -1, 0, 0), (-2, -1, -1, -2)]:
        try:
            expected = torch.nn.functional.pad(torch.tensor(x), pads, mode=mode).shape
        except RuntimeError:
            with pytest.raises(ValueError, match="empty"):
                F.pad(sc.Tensor(x), pads, mode)
        else:
            assert F.pad(sc.Tensor(x), pads, mode).shape == tuple(expected)


@pytest.mark.parametrize("mode,shape,pads,message", [
    ("constant", (2, 3), (1,), "even number"),
    ("reflect", (2, 3), (1, 1, 1, 1, 1, 1), "even number of at most 4"),
    ("mirror", (2, 3), (1, 1), "mode must be one of"),
    ("reflect", (3,), (1, 1), "2 widths need a 2-d or 3-d input, got shape \\(3,\\)"),
    ("replicate", (1, 2, 3, 4, 5, 6), (1, 1), "need a 2-d or 3-d input"),
    ("circular", (2, 3), (1, 1, 1, 1), "4 widths need a 3-d or 4-d input"),
    ("replicate", (2, 3), (), "0 widths"),
    ("reflect", (2, 3), (3, 0), "reflect widths must be smaller than the size they pad.*\\(3, 0\\) for dim 1 of size 3"),
    ("reflect", (1, 4, 2), (0, 0, 1, 4), "smaller than the size.*dim 1 of size 4"),
    ("circular", (2, 3), (0, 4), "circular widths must be at most the size left after cropping \\(3\\)"),
    ("circular", (2, 3), (-2, 2), "after cropping \\(1\\)"),
    ("constant", (2, 3), (-2, -2), "crop more than the size 3 of dim 1"),
    ("reflect", (2, 3), (-2, -1), "every padded dim.*empty"),
    ("replicate", (2, 3), (-2, -2), "leave a size of -1"),
    ("reflect", (2, 0, 3), (1, 1), "non-empty channel and padded dims"),
    ("replicate", (2, 3, 0), (1, 1), "non-empty"),
])
def test_error_messages(mode, shape, pads, message):
    with pytest.raises(ValueError, match=message):
        F.pad(sc.Tensor(np.zeros(shape)), pads, mode)


def test_fill_value_only_for_constant():
    with pytest.raises(ValueError, match="mode 'reflect' takes no fill value"):
        F.pad(sc.Tensor(np.zeros((2, 3))), (1, 1), "reflect", 1.0)
    with pytest.raises(TypeError, match="mode must be a string"):
        F.pad(sc.Tensor(np.zeros((2, 3))), (1, 1), 1.0, 2.0)
    with pytest.raises(TypeError):
        F.pad(sc.Tensor(np.zeros((2, 3))), (1.5, 1), "reflect")


# ---- finite differences (no PyTorch): several outputs read one input position
@pytest.mark.parametrize("mode,shape,pads", [
    ("reflect", (2, 4), (3, 2)), ("replicate", (1, 3, 3), (2, 3, 1, 0)), ("circular", (1, 2, 3), (3, 3)),
    ("reflect", (1, 2, 3, 2), (1, 0, -1, 2, 1, 1)), ("replicate", (2, 3), (-1, 4)), ("circular", (2, 2, 4), (2, -1, 1, 2)),
])
def test_finite_differences(mode, shape, pads):
    finite_difference_check(lambda t: F.pad(t * 1.5, pads, mode), [_normal(7, shape)])
