"""Elementwise arithmetic, matmul and linear vs PyTorch (float64, rtol 1e-6) over random broadcasting shapes,
plus finite-difference checks that do not use PyTorch."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchcnn as sc
import scratchcnn.functional as F
from oracle.helpers import compare_with_torch, finite_difference_check

SETTINGS = settings(max_examples=25, deadline=None)
BIN_SHAPES = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4)


def _normal(seed: int, shape) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _away_from_zero(seed: int, shape) -> np.ndarray:
    """Values with |v| in [0.5, 2.5): safe denominators, random signs."""
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 2.5, size=shape)


def _positive(seed: int, shape) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.3, 3.0, size=shape)


BINARY = {
    "add": (F.add, lambda a, b: a + b, _normal),
    "sub": (F.sub, lambda a, b: a - b, _normal),
    "mul": (F.mul, lambda a, b: a * b, _normal),
    "div": (F.div, lambda a, b: a / b, _away_from_zero),
    "pow": (F.pow, lambda a, b: a ** b, _positive),
}


@pytest.mark.parametrize("name", list(BINARY))
@SETTINGS
@given(shapes=BIN_SHAPES, seed=st.integers(0, 2**31 - 1), grad_a=st.booleans())
def test_binary_broadcasting(torch, name, shapes, seed, grad_a):
    sc_op, th_op, make_b = BINARY[name]
    sa, sb = shapes.input_shapes
    a = _positive(seed, sa) if name == "pow" else _normal(seed, sa)
    b = make_b(seed + 1, sb)
    compare_with_torch(torch, sc_op, th_op, [a, b], grad_mask=[grad_a, True])


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_operators_and_python_scalars(torch, name):
    """Operator forms with Python scalars on either side keep working and match torch."""
    a = _positive(3, (3, 4))
    ops = {"add": (lambda x: x + 2.5, lambda x: 2.5 + x), "sub": (lambda x: x - 2.5, lambda x: 2.5 - x),
           "mul": (lambda x: x * 2.5, lambda x: 2.5 * x), "div": (lambda x: x / 2.5, lambda x: 2.5 / x),
           "pow": (lambda x: x ** 2.5, lambda x: 2.5 ** x)}[name]
    for fn in ops:
        compare_with_torch(torch, fn, fn, [a])


UNARY = {
    "neg": (F.neg, lambda t, x: -x, _normal),
    "exp": (F.exp, lambda t, x: x.exp(), _normal),
    "log": (F.log, lambda t, x: x.log(), _positive),
    "sqrt": (F.sqrt, lambda t, x: x.sqrt(), _positive),
    "abs": (F.abs, lambda t, x: x.abs(), _away_from_zero),
}


@pytest.mark.parametrize("name", list(UNARY))
@SETTINGS
@given(shape=hnp.array_shapes(min_dims=0, max_dims=4, max_side=5), seed=st.integers(0, 2**31 - 1))
def test_unary(torch, name, shape, seed):
    sc_op, th_op, make = UNARY[name]
    compare_with_torch(torch, sc_op, lambda x: th_op(torch, x), [make(seed, shape)])


def test_abs_gradient_at_zero_is_zero(torch):
    x = np.array([-1.0, 0.0, 2.0])
    compare_with_torch(torch, F.abs, lambda t: t.abs(), [x])


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=5), seed=st.integers(0, 2**31 - 1),
       lo=st.one_of(st.none(), st.floats(-1.5, 0.0)), hi=st.one_of(st.none(), st.floats(0.1, 1.5)))
def test_clip(torch, shape, seed, lo, hi):
    if lo is None and hi is None:
        hi = 0.5
    x = _normal(seed, shape)
    compare_with_torch(torch, lambda t: F.clip(t, lo, hi), lambda t: torch.clamp(t, lo, hi), [x])


def test_clip_boundary_gradient_passes(torch):
    """Elements exactly at a bound get gradient 1, like torch.clamp."""
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    compare_with_torch(torch, lambda t: F.clip(t, -0.5, 0.5), lambda t: torch.clamp(t, -0.5, 0.5), [x])


def test_clip_needs_a_bound():
    with pytest.raises(ValueError, match="clip"):
        F.clip(sc.Tensor([1.0]), None, None)


def test_pow_negative_base_integer_exponent(torch):
    x = _away_from_zero(5, (4, 3))
    compare_with_torch(torch, lambda t: t ** 3.0, lambda t: t ** 3.0, [x])
    compare_with_torch(torch, lambda t: t ** 2.0, lambda t: t ** 2.0, [x])


# ---- matmul / linear
MATMUL_SHAPES = hnp.mutually_broadcastable_shapes(signature="(m?,n),(n,p?)->(m?,p?)", max_dims=3, max_side=4)


@SETTINGS
@given(shapes=MATMUL_SHAPES, seed=st.integers(0, 2**31 - 1), grads=st.sampled_from([(1, 1), (1, 0), (0, 1)]))
def test_matmul_broadcasting(torch, shapes, seed, grads):
    sa, sb = shapes.input_shapes
    a, b = _normal(seed, sa), _normal(seed + 1, sb)
    compare_with_torch(torch, F.matmul, torch.matmul, [a, b], grad_mask=[bool(grads[0]), bool(grads[1])])


@pytest.mark.parametrize("sa,sb", [((4,), (4,)), ((4,), (4, 3)), ((2, 4), (4,)), ((4,), (2, 4, 3)),
                                   ((2, 3, 4), (4,)), ((2, 1, 3, 4), (5, 4, 2)), ((1, 3, 4), (2, 4, 2))])
def test_matmul_named_cases(torch, sa, sb):
    a, b = _normal(0, sa), _normal(1, sb)
    compare_with_torch(torch, lambda x, y: x @ y, lambda x, y: x @ y, [a, b])


def test_matmul_errors():
    with pytest.raises(ValueError, match="matmul"):
        F.matmul(sc.Tensor(np.zeros((2, 3))), sc.Tensor(np.zeros((4, 2))))
    with pytest.raises(ValueError, match="matmul"):
        F.matmul(sc.Tensor(np.float64(1.0)), sc.Tensor(np.zeros(3)))


@SETTINGS
@given(lead=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), fin=st.integers(1, 5), fout=st.integers(1, 5),
       bias=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_linear(torch, lead, fin, fout, bias, seed):
    x, w, b = _normal(seed, lead + (fin,)), _normal(seed + 1, (fout, fin)), _normal(seed + 2, (fout,))
    if bias:
        compare_with_torch(torch, F.linear, torch.nn.functional.linear, [x, w, b])
    else:
        compare_with_torch(torch, lambda a, c: F.linear(a, c), torch.nn.functional.linear, [x, w])


@pytest.mark.parametrize("lead", [(6,), (2, 3), ()])
def test_linear_big_weight_matches_torch(torch, lead):
    """A weight of >= 2^20 values and few rows takes the ``W @ x^T`` forward (seed001's fc1 case)."""
    from scratchcnn.functional.linalg import _BIG_WEIGHT
    fin, fout = 1030, _BIG_WEIGHT // 1030 + 1
    x, w, b = _normal(3, lead + (fin,)), _normal(4, (fout, fin)), _normal(5, (fout,))
    compare_with_torch(torch, F.linear, torch.nn.functional.linear, [x, w, b])


@pytest.mark.parametrize("lead,bias_shape", [((4,), (4, 2)), ((4,), (1, 2)), ((4,), (1,)), ((4,), ()),
                                             ((3, 4), (4, 2)), ((3, 4), (3, 1, 2)), ((), (2,))])
def test_linear_bias_of_another_broadcasting_shape(torch, lead, bias_shape):
    """A bias that broadcasts to the output in another shape than (out,) gets its gradient in its own shape."""
    x, w, b = _normal(0, lead + (3,)), _normal(1, (2, 3)), _normal(2, bias_shape)
    compare_with_torch(torch, F.linear, torch.nn.functional.linear, [x, w, b])


@pytest.mark.parametrize("lead,bias_shape", [((4,), None), ((2, 4), None), ((4,), ()), ((2, 4), (4,)), ((), ())])
def test_linear_one_dimensional_weight(torch, lead, bias_shape):
    """A 1-D weight (in,) maps (..., in) to (...), as in PyTorch."""
    x, w = _normal(0, lead + (3,)), _normal(1, (3,))
    if bias_shape is None:
        compare_with_torch(torch, lambda a, c: F.linear(a, c), torch.nn.functional.linear, [x, w])
    else:   # (PyTorch's linear refuses a bias with a 1-D weight and a 2-D input: its addmm wants a matrix)
        compare_with_torch(torch, F.linear, lambda a, c, d: a @ c + d, [x, w, _normal(2, bias_shape)])


def test_linear_shape_error():
    with pytest.raises(ValueError, match="linear"):
        F.linear(sc.Tensor(np.zeros((2, 3))), sc.Tensor(np.zeros((4, 5))))
    with pytest.raises(ValueError, match=r"linear: weight must be 1-D .* got shape \(2, 3, 1\)"):
        F.linear(sc.Tensor(np.zeros((4, 1))), sc.Tensor(np.zeros((2, 3, 1))))
    with pytest.raises(ValueError, match=r"linear: bias of shape \(3,\) does not broadcast .* give it shape \(2,\)"):
        F.linear(sc.Tensor(np.zeros((4, 3))), sc.Tensor(np.zeros((2, 3))), sc.Tensor(np.zeros(3)))
    with pytest.raises(ValueError, match=r"linear: bias of shape \(5, 4, 2\) does not broadcast"):
        F.linear(sc.Tensor(np.zeros((4, 3))), sc.Tensor(np.zeros((2, 3))), sc.Tensor(np.zeros((5, 4, 2))))


# ---- finite differences (no PyTorch)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_finite_differences(name):
    sc_op, _, make_b = BINARY[name]
    a = _positive(0, (3, 1, 2)) if name == "pow" else _normal(0, (3, 1, 2))
    finite_difference_check(sc_op, [a, make_b(1, (4, 1))])


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_finite_differences(name):
    sc_op, _, make = UNARY[name]
    finite_difference_check(sc_op, [make(2, (2, 3))])


def test_matmul_linear_finite_differences():
    finite_difference_check(F.matmul, [_normal(0, (2, 1, 3, 4)), _normal(1, (3, 4, 2))])
    finite_difference_check(F.matmul, [_normal(0, (4,)), _normal(1, (2, 4, 3))])
    finite_difference_check(F.linear, [_normal(0, (2, 3, 4)), _normal(1, (5, 4)), _normal(2, (5,))])
