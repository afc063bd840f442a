"""PyTorch-named tensor ops added for users coming from PyTorch, against PyTorch in float64 (rtol 1e-10,
atol 1e-12): values, dtypes, shapes, requires_grad and every input gradient.

selection (where, masked_fill, gather, index_select), shape (expand, repeat, split, chunk, flip, roll),
reductions/scans/orderings (prod with zeros, logsumexp, cumsum, sort/argsort with ties, topk), zero-gradient
elementwise ops (sign, floor, ceil, round) and tests (isnan, isinf, isfinite), factories (full, eye, linspace,
randint: dtype, requires_grad, seeding), and Tensor conversions (to, type, contiguous, int, bool); errors as
PyTorch's (IndexError for dims; ValueError/TypeError where PyTorch raises RuntimeError).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchcnn as sc
import scratchcnn.functional as F

RTOL, ATOL = 1e-10, 1e-12
SETTINGS = settings(max_examples=20, deadline=None)
SEEDS = st.integers(0, 2**31 - 1)
SHAPES = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)


def _dtype_name(t) -> str:
    return str(t.dtype).replace("torch.", "")


def check(torch, sc_fn, th_fn, arrays, grad=None, indices: bool = True, seed: int = 0):
    """Run both on copies of ``arrays`` (float ones require grad unless ``grad`` says otherwise); compare every
    output's shape, dtype, requires_grad and values (integer outputs exactly; ``indices=False`` skips them), then
    the gradients of ``sum(out_i * G_i)`` over the float outputs."""
    grad = [a.dtype.kind == "f" for a in arrays] if grad is None else list(grad)
    xs = [sc.tensor(a.copy(), requires_grad=g) for a, g in zip(arrays, grad)]
    ts = [torch.tensor(a.copy(), requires_grad=g) for a, g in zip(arrays, grad)]
    out_sc, out_th = sc_fn(*xs), th_fn(*ts)
    if not isinstance(out_sc, tuple):
        out_sc, out_th = (out_sc,), (out_th,)
    assert len(out_sc) == len(out_th), (len(out_sc), len(out_th))
    rng = np.random.default_rng(seed)
    loss_sc = loss_th = None
    for i, (o, t) in enumerate(zip(out_sc, out_th)):
        assert tuple(o.shape) == tuple(t.shape), f"output {i}: shape {o.shape} vs {tuple(t.shape)}"
        assert o.dtype.name == _dtype_name(t), f"output {i}: dtype {o.dtype} vs {t.dtype}"
        assert o.requires_grad == t.requires_grad, f"output {i}: requires_grad {o.requires_grad}"
        if o.dtype.kind == "f":
            np.testing.assert_allclose(o.data, t.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg=f"output {i}")
            if t.requires_grad:
                G = rng.standard_normal(tuple(t.shape))
                with np.errstate(invalid="ignore"):              # inf outputs (logsumexp of nothing): nan loss
                    ls, lt = (o * sc.tensor(G)).sum(), (t * torch.tensor(G)).sum()
                loss_sc = ls if loss_sc is None else loss_sc + ls
                loss_th = lt if loss_th is None else loss_th + lt
        elif indices:
            np.testing.assert_array_equal(o.data, t.numpy(), err_msg=f"output {i}")
    if loss_th is None:
        return out_sc, out_th
    loss_sc.backward()
    loss_th.backward()
    for i, (x, t) in enumerate(zip(xs, ts)):
        if grad[i]:
            assert (x.grad is None) == (t.grad is None), f"gradient of input {i}: {x.grad} vs {t.grad}"
            if t.grad is not None:
                np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=f"grad {i}")
    return out_sc, out_th


@pytest.fixture
def float64_default():
    """The oracle session runs torch with float64 as its default dtype; give scratchcnn the same default where a
    test compares default-dtype results (integer inputs to logsumexp, Python floats in where)."""
    before = sc.get_default_dtype()
    sc.set_default_dtype(np.float64)
    yield
    sc.set_default_dtype(before)


def _normal(seed, shape):
    return np.random.default_rng(seed).standard_normal(shape)


# ============================================================================== where / masked_fill
@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3), seed=SEEDS)
def test_where_broadcasting(torch, shapes, seed):
    sc_shape, a_shape, b_shape = shapes.input_shapes
    rng = np.random.default_rng(seed)
    cond = rng.random(sc_shape) < 0.5
    check(torch, lambda c, a, b: sc.where(c, a, b), lambda c, a, b: torch.where(c, a, b),
          [cond, _normal(seed, a_shape), _normal(seed + 1, b_shape)])
    check(torch, lambda c, a, b: a.where(c, b), lambda c, a, b: a.where(c, b),
          [cond, _normal(seed, a_shape), _normal(seed + 1, b_shape)])


@pytest.mark.parametrize("a, b", [("f32", 0.0), ("i64", 0.5), (1, 0.5), (1, 0), ("i64", 2), ("f32", "f64_0d"),
                                  ("bool", "i64")])
def test_where_dtypes(torch, float64_default, a, b):
    cond = np.array([True, False, True])
    arrays = {"f32": np.array([1.5, 2.5, 3.5], np.float32), "i64": np.array([1, 2, 3]),
              "f64_0d": np.array(7.0), "bool": np.array([True, True, False])}
    conv = lambda v, lib: (lib.tensor(arrays[v]) if isinstance(v, str) else v)  # noqa: E731
    out = sc.where(sc.tensor(cond), conv(a, sc), conv(b, sc))
    ref = torch.where(torch.tensor(cond), conv(a, torch), conv(b, torch))
    assert out.dtype.name == _dtype_name(ref)
    np.testing.assert_array_equal(out.data, ref.numpy())


def test_where_condition_only_and_errors(torch):
    x = _normal(0, (3, 4)) > 0
    got, ref = sc.where(sc.tensor(x)), torch.where(torch.tensor(x))
    assert len(got) == len(ref) == 2
    for g, r in zip(got, ref):
        assert g.dtype == np.int64
        np.testing.assert_array_equal(g.data, r.numpy())
    t = sc.tensor(np.ones(3))
    with pytest.raises(TypeError, match="boolean"):
        sc.where(sc.tensor([1, 0, 1]), t, 0.0)
    with pytest.raises(TypeError, match="boolean"):
        sc.where(sc.tensor([1.0, 0.0, 1.0]), t, 0.0)
    with pytest.raises(ValueError, match="broadcast"):
        sc.where(sc.tensor([True, False]), t, 0.0)


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3), seed=SEEDS,
       value=st.sampled_from([-2.5, 0.0, 7.0, -1e30]))
def test_masked_fill_broadcasting(torch, shapes, seed, value):
    x_shape, m_shape = shapes.input_shapes
    mask = np.random.default_rng(seed).random(m_shape) < 0.5
    check(torch, lambda a, m: a.masked_fill(m, value), lambda a, m: a.masked_fill(m, value),
          [_normal(seed, x_shape), mask])
    check(torch, lambda a, m: sc.masked_fill(a, m, value), lambda a, m: torch.masked_fill(a, m, value),
          [_normal(seed, x_shape), mask])


def test_masked_fill_value_tensor_gradient_and_dtypes(torch):
    x, mask = _normal(1, (3, 4)), _normal(2, (4,)) > 0
    check(torch, lambda a, m, v: a.masked_fill(m, v), lambda a, m, v: a.masked_fill(m, v),
          [x, mask, np.array(3.25)])
    ints = np.arange(6).reshape(2, 3)
    check(torch, lambda a, m: a.masked_fill(m, 2.7), lambda a, m: a.masked_fill(m, 2.7),
          [ints, np.array([True, False, True])])
    check(torch, lambda a, m: a.masked_fill(m, True), lambda a, m: a.masked_fill(m, True),
          [ints > 2, np.array([True, False, True])])


def test_masked_fill_errors():
    x = sc.tensor(np.ones((2, 3)))
    with pytest.raises(TypeError, match="boolean"):
        x.masked_fill(sc.tensor([1, 0, 1]), 2.0)
    with pytest.raises(ValueError, match="0-dimensional"):
        x.masked_fill(sc.tensor([True, False, True]), sc.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="broadcast"):
        x.masked_fill(sc.tensor([[True], [False], [True]]), 2.0)


# ============================================================================== gather / index_select
@st.composite
def gather_case(draw):
    shape = draw(SHAPES)
    nd = len(shape)
    dim = draw(st.integers(-nd, nd - 1))
    d = dim % nd
    ishape = tuple(draw(st.integers(1, 4)) if k == d else draw(st.integers(1, n)) for k, n in enumerate(shape))
    return shape, dim, ishape


@SETTINGS
@given(case=gather_case(), seed=SEEDS)
def test_gather(torch, case, seed):
    shape, dim, ishape = case
    index = np.random.default_rng(seed).integers(0, shape[dim], ishape)      # repeats included
    check(torch, lambda a, i: sc.gather(a, dim, i), lambda a, i: torch.gather(a, dim, i), [_normal(seed, shape), index])
    check(torch, lambda a, i: a.gather(dim, i), lambda a, i: a.gather(dim, i), [_normal(seed, shape), index])


def test_gather_errors():
    x = sc.tensor(np.arange(6.0).reshape(2, 3))
    with pytest.raises(IndexError, match="out of bounds"):
        x.gather(1, sc.tensor([[0, 3]]))
    with pytest.raises(IndexError, match="out of bounds"):
        x.gather(1, sc.tensor([[0, -1]]))
    with pytest.raises(TypeError, match="integer"):
        x.gather(1, sc.tensor([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="same number of dimensions"):
        x.gather(1, sc.tensor([0, 1]))
    with pytest.raises(ValueError, match="no larger"):
        x.gather(1, sc.tensor([[0, 1]] * 3))
    with pytest.raises(IndexError, match="out of range"):
        x.gather(2, sc.tensor([[0, 1]]))


@SETTINGS
@given(shape=SHAPES, data=st.data(), seed=SEEDS)
def test_index_select(torch, shape, data, seed):
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    n = data.draw(st.integers(0, 5))
    index = np.random.default_rng(seed).integers(0, shape[dim], n)        # repeats included
    check(torch, lambda a, i: sc.index_select(a, dim, i), lambda a, i: torch.index_select(a, dim, i),
          [_normal(seed, shape), index])
    check(torch, lambda a, i: a.index_select(dim, i), lambda a, i: a.index_select(dim, i),
          [_normal(seed, shape), np.array(shape[dim] - 1)])                 # a 0-d index keeps the dim


def test_index_select_errors():
    x = sc.tensor(np.arange(6.0).reshape(2, 3))
    with pytest.raises(IndexError, match="out of bounds"):
        x.index_select(1, sc.tensor([0, 3]))
    with pytest.raises(IndexError, match="out of bounds"):
        x.index_select(1, sc.tensor([0, -1]))
    with pytest.raises(IndexError, match="vector"):
        x.index_select(1, sc.tensor([[0, 1]]))
    with pytest.raises(TypeError, match="integer"):
        x.index_select(1, sc.tensor([0.0]))
    with pytest.raises(IndexError, match="out of range"):
        x.index_select(-3, sc.tensor([0]))
    with pytest.raises(ValueError, match="only 1 value"):
        sc.tensor(3.0).index_select(0, sc.tensor([0, 0]))


# ============================================================================== expand / repeat
@pytest.mark.parametrize("shape, sizes", [((3,), (2, 3)), ((1,), (4,)), ((2, 1), (2, 5)), ((2, 1), (-1, 4)),
                                          ((2, 3), (4, -1, -1)), ((2, 3), (0, 2, 3)), ((2, 1), (2, 0)),
                                          ((), (3, 2)), ((1, 3, 1), (2, 2, 3, 4)), ((2, 3), ((3, 2, 3),))])
def test_expand(torch, shape, sizes):
    x = _normal(3, shape)
    check(torch, lambda a: a.expand(*sizes), lambda a: a.expand(*sizes), [x])
    check(torch, lambda a: sc.functional.expand(a, *sizes), lambda a: a.expand(*sizes), [x])
    other = np.zeros(tuple(torch.tensor(x).expand(*sizes).shape))
    check(torch, lambda a, o: a.expand_as(o), lambda a, o: a.expand_as(o), [x, other], grad=[True, False])


@pytest.mark.parametrize("shape, sizes, match", [((2, 3), (2, 4), "must match"), ((2, 3), (3,), "greater or equal"),
                                                 ((2, 3), (-1, 2, 3), "leading"), ((2, 3), (2, -2), "must match")])
def test_expand_errors(shape, sizes, match):
    with pytest.raises(ValueError, match=match):
        sc.tensor(np.zeros(shape)).expand(*sizes)


@pytest.mark.parametrize("shape, reps", [((3,), (2,)), ((2, 3), (2, 1)), ((2, 3), (1, 3)), ((2, 3), (2, 2, 2)),
                                         ((2, 3), (2, 0)), ((), (3,)), ((), (2, 1)), ((1, 2), ((2, 3),)),
                                         ((2, 1, 3), (1, 4, 1, 2))])
def test_repeat(torch, shape, reps):
    check(torch, lambda a: a.repeat(*reps), lambda a: a.repeat(*reps), [_normal(4, shape)])


def test_repeat_errors():
    x = sc.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="smaller than number of dimensions"):
        x.repeat(2)
    with pytest.raises(ValueError, match="non-negative"):
        x.repeat(2, -1)


# ============================================================================== split / chunk
@SETTINGS
@given(shape=SHAPES, data=st.data(), seed=SEEDS)
def test_split_and_chunk(torch, shape, data, seed):
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    n = shape[dim]
    size = data.draw(st.integers(1, n + 1))
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=3)))
    sections = list(np.diff([0, *cuts, n]))                                # zero-sized pieces included
    chunks = data.draw(st.integers(1, 6))
    x = _normal(seed, shape)
    check(torch, lambda a: a.split(size, dim), lambda a: a.split(size, dim), [x])
    check(torch, lambda a: sc.split(a, sections, dim=dim), lambda a: torch.split(a, sections, dim=dim), [x])
    check(torch, lambda a: a.chunk(chunks, dim), lambda a: a.chunk(chunks, dim), [x])
    check(torch, lambda a: sc.chunk(a, chunks, dim=dim), lambda a: torch.chunk(a, chunks, dim=dim), [x])


def test_split_chunk_empty_dim(torch):
    x = np.zeros((0, 2))
    check(torch, lambda a: a.split(2), lambda a: a.split(2), [x])
    check(torch, lambda a: a.split(0), lambda a: a.split(0), [x])
    check(torch, lambda a: a.chunk(3), lambda a: a.chunk(3), [x])
    check(torch, lambda a: sc.chunk(a, 4, 1), lambda a: torch.chunk(a, 4, 1), [np.zeros((2, 6))])   # 3 of 2


def test_split_chunk_errors():
    x = sc.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="sum exactly to 3"):
        x.split([1, 1], 1)
    with pytest.raises(ValueError, match="only be 0 if dimension size is 0"):
        x.split(0, 1)
    with pytest.raises(ValueError, match="non-negative"):
        x.split(-1, 1)
    with pytest.raises(ValueError, match="non-negative"):
        x.split([2, -1, 2], 1)
    with pytest.raises(ValueError, match="greater than 0"):
        x.chunk(0, 1)
    with pytest.raises(IndexError, match="out of range"):
        x.chunk(2, 3)
    with pytest.raises(IndexError, match="out of range"):
        x.split(1, -3)


# ============================================================================== flip / roll
@SETTINGS
@given(shape=SHAPES, data=st.data(), seed=SEEDS)
def test_flip_roll(torch, shape, data, seed):
    nd = len(shape)
    dims = data.draw(st.lists(st.integers(0, nd - 1), unique=True, max_size=nd))
    dims = [d - nd if data.draw(st.booleans()) else d for d in dims]
    shifts = data.draw(st.lists(st.integers(-7, 7), min_size=len(dims), max_size=len(dims)))
    x = _normal(seed, shape)
    check(torch, lambda a: sc.flip(a, dims), lambda a: torch.flip(a, dims), [x])
    if dims:
        check(torch, lambda a: a.flip(*dims), lambda a: a.flip(*dims), [x])
        check(torch, lambda a: sc.roll(a, shifts, dims), lambda a: torch.roll(a, shifts, dims), [x])
        check(torch, lambda a: a.roll(tuple(shifts), tuple(dims)), lambda a: a.roll(tuple(shifts), tuple(dims)), [x])
        check(torch, lambda a: a.roll(shifts[0], dims[0]), lambda a: a.roll(shifts[0], dims[0]), [x])
    check(torch, lambda a: a.roll(5), lambda a: a.roll(5), [x])                  # flattened
    check(torch, lambda a: a.roll((1, 2), (0, 0)), lambda a: a.roll((1, 2), (0, 0)), [x])   # shifts add up
    check(torch, lambda a: a.flip(0).exp().flip(-1), lambda a: a.flip(0).exp().flip(-1), [x])


def test_flip_roll_errors():
    x = sc.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="multiple times"):
        x.flip([0, -2])
    with pytest.raises(IndexError, match="out of range"):
        x.flip(2)
    with pytest.raises(ValueError, match="align"):
        x.roll((1, 2), (0,))
    with pytest.raises(ValueError, match="required"):
        x.roll((), ())
    with pytest.raises(IndexError, match="out of range"):
        x.roll(1, 2)
    with pytest.raises(IndexError, match="no dimensions"):
        sc.tensor(3.0).roll(1, 0)


# ============================================================================== prod / logsumexp / cumsum
@SETTINGS
@given(shape=SHAPES, data=st.data(), seed=SEEDS, zeros=st.sampled_from([0, 1, 2, 3]), keepdim=st.booleans())
def test_prod_with_zeros(torch, shape, data, seed, zeros, keepdim):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape)
    x.reshape(-1)[rng.choice(x.size, size=min(zeros, x.size), replace=False)] = 0.0
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    check(torch, lambda a: sc.prod(a), lambda a: torch.prod(a), [x])
    check(torch, lambda a: a.prod(dim, keepdim), lambda a: a.prod(dim, keepdim), [x])
    check(torch, lambda a: sc.prod(a, dim=dim, keepdim=keepdim), lambda a: torch.prod(a, dim=dim, keepdim=keepdim), [x])


def test_prod_one_zero_per_row_and_dtypes(torch):
    x = np.array([[0.0, 2.0, 3.0], [4.0, 0.0, 0.0], [1.5, -2.0, 0.5]])
    for dim in (0, 1, -1):
        check(torch, lambda a: a.prod(dim), lambda a: a.prod(dim), [x])
    check(torch, lambda a: a.prod(), lambda a: a.prod(), [x[:1]])          # exactly one zero overall
    check(torch, lambda a: a.prod(), lambda a: a.prod(), [np.array(2.5)])
    check(torch, lambda a: a.prod(0), lambda a: a.prod(0), [np.array(2.5)])
    check(torch, lambda a: a.prod(1), lambda a: a.prod(1), [np.zeros((2, 0))])
    ints = np.arange(1, 7).reshape(2, 3)
    check(torch, lambda a: a.prod(), lambda a: a.prod(), [ints])
    check(torch, lambda a: a.prod(1), lambda a: a.prod(1), [ints.astype(np.int32)])
    check(torch, lambda a: a.prod(1), lambda a: a.prod(1), [ints > 2])
    check(torch, lambda a: a.prod(1, dtype=np.float64), lambda a: a.prod(1, dtype=torch.float64), [ints])
    check(torch, lambda a: a.float().prod(1, dtype="float64"), lambda a: a.float().prod(1, dtype=torch.float64), [x])
    with pytest.raises(TypeError, match="one int"):
        sc.tensor(x).prod((0, 1))
    with pytest.raises(TypeError, match="keepdim"):
        sc.prod(sc.tensor(x), keepdim=True)
    with pytest.raises(IndexError, match="out of range"):
        sc.tensor(x).prod(2)


@SETTINGS
@given(shape=SHAPES, data=st.data(), seed=SEEDS, keepdim=st.booleans(), scale=st.sampled_from([1.0, 1000.0]))
def test_logsumexp(torch, shape, data, seed, keepdim, scale):
    nd = len(shape)
    dims = data.draw(st.one_of(st.integers(-nd, nd - 1),
                               st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True).map(tuple)))
    x = _normal(seed, shape) * scale                                     # 1000: exp overflows unless shifted
    check(torch, lambda a: sc.logsumexp(a, dims, keepdim), lambda a: torch.logsumexp(a, dims, keepdim), [x])
    check(torch, lambda a: a.logsumexp(dims, keepdim=keepdim), lambda a: a.logsumexp(dims, keepdim=keepdim), [x])


def test_logsumexp_infinities_and_dtypes(torch, float64_default):
    inf = np.inf
    x = np.array([[-inf, -inf], [inf, inf], [inf, -inf], [0.0, -inf], [np.nan, 1.0]])
    check(torch, lambda a: a.logsumexp(1), lambda a: a.logsumexp(1), [x], grad=[False])
    finite = np.array([[0.0, -inf, 2.0], [1.0, -inf, -inf]])             # -inf entries get gradient 0
    check(torch, lambda a: a.logsumexp(1), lambda a: a.logsumexp(1), [finite])
    ints = np.arange(6).reshape(2, 3)
    check(torch, lambda a: a.logsumexp(1), lambda a: a.logsumexp(1), [ints])     # default float dtype
    check(torch, lambda a: a.logsumexp(0), lambda a: a.logsumexp(0), [np.array(1.5)])
    with pytest.raises(IndexError, match="out of range"):
        sc.tensor(x).logsumexp(2)
    with pytest.raises(TypeError):
        sc.logsumexp(sc.tensor(x))                                        # dim is required, as in PyTorch


@SETTINGS
@given(shape=SHAPES, data=st.data(), seed=SEEDS)
def test_cumsum(torch, shape, data, seed):
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    x = _normal(seed, shape)
    check(torch, lambda a: sc.cumsum(a, dim), lambda a: torch.cumsum(a, dim), [x])
    check(torch, lambda a: a.cumsum(dim).cumsum(dim), lambda a: a.cumsum(dim).cumsum(dim), [x])
    ints = np.random.default_rng(seed).integers(-5, 5, shape)
    check(torch, lambda a: a.cumsum(dim), lambda a: a.cumsum(dim), [ints])
    check(torch, lambda a: a.cumsum(dim), lambda a: a.cumsum(dim), [ints.astype(np.int32)])
    check(torch, lambda a: a.cumsum(dim), lambda a: a.cumsum(dim), [ints > 0])
    check(torch, lambda a: a.cumsum(dim, dtype=np.float64), lambda a: a.cumsum(dim, dtype=torch.float64), [ints])


def test_cumsum_0d_and_errors(torch):
    check(torch, lambda a: a.cumsum(0), lambda a: a.cumsum(0), [np.array(2.5)])
    check(torch, lambda a: a.cumsum(-1), lambda a: a.cumsum(-1), [np.array(2.5)])
    with pytest.raises(IndexError, match="out of range"):
        sc.tensor(np.zeros((2, 3))).cumsum(2)


# ============================================================================== sort / argsort / topk
@SETTINGS
@given(shape=SHAPES, data=st.data(), seed=SEEDS, descending=st.booleans(), nans=st.booleans())
def test_sort_stable_with_ties(torch, shape, data, seed, descending, nans):
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, shape).astype(np.float64)                     # many ties
    if nans:
        x[rng.random(shape) < 0.2] = np.nan
    grad = [not nans]                 # the values' gradient is checked where no NaN breaks the loss
    check(torch, lambda a: sc.sort(a, dim, descending), lambda a: torch.sort(a, dim=dim, descending=descending,
                                                                             stable=True), [x], grad=grad)
    check(torch, lambda a: a.sort(dim=dim, descending=descending, stable=True),
          lambda a: a.sort(dim=dim, descending=descending, stable=True), [x], grad=grad)
    check(torch, lambda a: sc.argsort(a, dim, descending),
          lambda a: torch.argsort(a, dim=dim, descending=descending, stable=True), [x], grad=[False])
    check(torch, lambda a: a.argsort(dim, descending=descending),
          lambda a: a.argsort(dim=dim, descending=descending, stable=True), [x], grad=[False])
    x = _normal(seed, shape)                                             # distinct: gradients to their positions
    check(torch, lambda a: a.sort(dim, descending)[0].exp(), lambda a: a.sort(dim, descending)[0].exp(), [x])


def test_sort_dtypes_and_errors(torch):
    for arr in (np.array([3, -1, 3, 0, 7]), np.array([True, False, True, False]), np.array(2.5)):
        check(torch, lambda a: a.sort(), lambda a: a.sort(stable=True), [arr], grad=[False])
        check(torch, lambda a: a.sort(descending=True), lambda a: a.sort(descending=True, stable=True), [arr],
              grad=[False])
    out = sc.sort(sc.tensor([2.0, 1.0]))
    assert out.values is out[0] and out.indices is out[1]
    with pytest.raises(IndexError, match="out of range"):
        sc.sort(sc.tensor(np.zeros((2, 3))), 2)
    with pytest.raises(IndexError, match="out of range"):
        sc.argsort(sc.tensor(np.zeros((2, 3))), -3)


@SETTINGS
@given(shape=SHAPES, data=st.data(), seed=SEEDS, largest=st.booleans())
def test_topk(torch, shape, data, seed, largest):
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    k = data.draw(st.integers(0, shape[dim]))
    x = _normal(seed, shape)                                             # distinct: indices are deterministic
    check(torch, lambda a: sc.topk(a, k, dim, largest), lambda a: torch.topk(a, k, dim, largest), [x])
    check(torch, lambda a: a.topk(k, dim=dim, largest=largest, sorted=False)[0].sort(dim)[0],
          lambda a: a.topk(k, dim=dim, largest=largest, sorted=False)[0].sort(dim)[0], [x])
    # ties: PyTorch's indices among equal values are not specified; values must agree and our indices point at them
    ties = np.random.default_rng(seed).integers(0, 3, shape).astype(np.float64)
    (vals, idx), _ = check(torch, lambda a: a.topk(k, dim, largest), lambda a: a.topk(k, dim, largest), [ties],
                           grad=[False], indices=False)
    np.testing.assert_array_equal(np.take_along_axis(ties, idx.data, dim % nd), vals.data)
    t = sc.tensor(ties, requires_grad=True)
    v, i = t.topk(k, dim, largest)
    v.sum().backward()
    expect = np.zeros(shape)
    np.put_along_axis(expect, i.data, 1.0, dim % nd)
    np.testing.assert_array_equal(t.grad, expect)                       # one unit per selected element


def test_topk_nan_ties_dtypes_errors(torch):
    x = np.array([2.0, 1.0, 2.0, 1.0, np.nan, 0.0])
    for largest in (True, False):
        check(torch, lambda a: a.topk(3, largest=largest), lambda a: a.topk(3, largest=largest), [x],
              grad=[False], indices=False)
    v, i = sc.tensor(x).topk(3)
    np.testing.assert_array_equal(i.data, [4, 0, 2])                    # first of equal values
    check(torch, lambda a: a.topk(2), lambda a: a.topk(2), [np.array([1, 5, 3])], grad=[False])
    check(torch, lambda a: a.topk(1), lambda a: a.topk(1), [np.array(3.0)])
    m = sc.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="out of range"):
        m.topk(4)
    with pytest.raises(ValueError, match="out of range"):
        m.topk(-1)
    with pytest.raises(IndexError, match="out of range"):
        m.topk(1, dim=2)


# ============================================================================== sign / floor / ceil / round, tests
HALVES = np.array([-2.5, -1.5, -0.5, 0.0, 0.5, 1.5, 2.5, 3.5, -0.7, 1.2, 1.25, 2.675, -3.14159, 1234.5])


@pytest.mark.parametrize("name", ["sign", "floor", "ceil", "round"])
def test_rounding_values_and_zero_gradient(torch, name):
    check(torch, lambda a: getattr(sc, name)(a), lambda a: getattr(torch, name)(a), [HALVES])
    check(torch, lambda a: getattr(a, name)() * a, lambda a: getattr(a, name)() * a, [HALVES])
    ints = np.array([-3, 0, 4])
    check(torch, lambda a: getattr(a, name)(), lambda a: getattr(a, name)(), [ints])
    nonfinite = np.array([np.nan, np.inf, -np.inf, -0.0])
    check(torch, lambda a: getattr(sc, name)(a), lambda a: getattr(torch, name)(a), [nonfinite])


@pytest.mark.parametrize("decimals", [-2, -1, 1, 2, 3])
def test_round_decimals(torch, decimals):
    check(torch, lambda a: a.round(decimals=decimals), lambda a: a.round(decimals=decimals), [HALVES])
    check(torch, lambda a: sc.round(a, decimals=decimals), lambda a: torch.round(a, decimals=decimals), [HALVES])


def test_rounding_bool_and_int_rules(torch):
    b = np.array([True, False])
    check(torch, lambda a: a.sign(), lambda a: a.sign(), [b])
    for name in ("floor", "ceil", "round"):
        with pytest.raises(TypeError, match="bool"):
            getattr(sc.tensor(b), name)()
    with pytest.raises(TypeError, match="integer"):
        sc.tensor([1, 2]).round(decimals=1)


@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite"])
def test_float_tests(torch, name):
    x = np.array([[0.0, np.nan, np.inf], [-np.inf, -1.5, 1e308]])
    for arr in (x, np.array([3, -1]), np.array([True, False]), np.array(np.nan)):
        check(torch, lambda a: getattr(sc, name)(a), lambda a: getattr(torch, name)(a), [arr], grad=[False])
    check(torch, lambda a: getattr(a, name)(), lambda a: getattr(a, name)(), [x])   # bool, no graph


# ============================================================================== factories
@pytest.mark.parametrize("fill, dtype", [(3, None), (True, None), (3.5, None), (3, "float64"), (3.5, "int64"),
                                         (-1.25, "float32"), (0, "bool")])
def test_full(torch, fill, dtype):
    got = sc.full((2, 3), fill, dtype=dtype)
    ref = torch.full((2, 3), fill, dtype=getattr(torch, dtype) if dtype else None)
    if dtype is None and isinstance(fill, float):
        ref = ref.float()                       # the session's torch default dtype is float64; PyTorch's is float32
    assert got.dtype.name == _dtype_name(ref) and got.shape == tuple(ref.shape)
    np.testing.assert_array_equal(got.data, ref.numpy())
    assert sc.full([], 2.0).shape == ()


def test_factories_dtype_and_requires_grad(torch):
    assert sc.full((2,), 1.5, requires_grad=True).requires_grad
    assert sc.eye(3, requires_grad=True, dtype=np.float64).dtype == np.float64
    assert sc.linspace(0, 1, 3, requires_grad=True).requires_grad
    assert sc.randint(0, 5, (2,), dtype=np.float32, requires_grad=True).requires_grad
    for make in (lambda: sc.full((2,), 3, requires_grad=True), lambda: sc.randint(5, (2,), requires_grad=True),
                 lambda: sc.eye(2, dtype=np.int64, requires_grad=True)):
        with pytest.raises(TypeError, match="floating"):
            make()
    assert sc.eye(2).dtype == np.float32 and sc.linspace(0, 1, 4).dtype == np.float32
    assert sc.full((1,), 2.0).dtype == np.float32 and sc.randint(3, (4,)).dtype == np.int64


@pytest.mark.parametrize("n, m", [(0, None), (1, None), (3, None), (2, 4), (4, 2), (3, 0)])
def test_eye(torch, n, m):
    got = sc.eye(n, m, dtype=np.float64)
    ref = torch.eye(n, m) if m is not None else torch.eye(n)
    np.testing.assert_array_equal(got.data, ref.numpy())
    np.testing.assert_array_equal(sc.eye(n, m, dtype=np.int64).data, ref.long().numpy())
    with pytest.raises(ValueError, match="greater or equal to 0"):
        sc.eye(-1)
    with pytest.raises(TypeError):
        sc.eye(2.0)


@SETTINGS
@given(start=st.floats(-100, 100), end=st.floats(-100, 100), steps=st.integers(0, 40))
def test_linspace(torch, start, end, steps):
    got = sc.linspace(start, end, steps, dtype=np.float64)
    ref = torch.linspace(start, end, steps, dtype=torch.float64)
    assert got.shape == tuple(ref.shape)
    np.testing.assert_allclose(got.data, ref.numpy(), rtol=RTOL, atol=ATOL)
    if steps:
        assert got.data[0] == start and (steps == 1 or got.data[-1] == end)


@pytest.mark.parametrize("start, end, steps", [(0, 10, 11), (0, 10, 6), (-4, 4, 5), (7, -3, 11), (5, 5, 3), (0, 1, 2)])
def test_linspace_integer_dtype(torch, start, end, steps):
    got = sc.linspace(start, end, steps, dtype=np.int64)
    ref = torch.linspace(start, end, steps, dtype=torch.int64)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.data, ref.numpy())


def test_linspace_errors():
    with pytest.raises(ValueError, match="non-negative"):
        sc.linspace(0, 1, -1)
    with pytest.raises(TypeError, match="int"):
        sc.linspace(0, 1, 2.5)


def test_randint_seeding_range_and_errors():
    sc.manual_seed(123)
    a = sc.randint(3, 10, (1000,))
    b = sc.randint(10, (4, 5))
    sc.manual_seed(123)
    np.testing.assert_array_equal(sc.randint(3, 10, (1000,)).data, a.data)
    np.testing.assert_array_equal(sc.randint(high=10, size=(4, 5)).data, b.data)
    sc.manual_seed(123)
    np.testing.assert_array_equal(sc.randint(3, 10, size=(1000,)).data, a.data)
    np.testing.assert_array_equal(sc.randint(10, size=[4, 5]).data, b.data)
    assert a.dtype == np.int64 and a.shape == (1000,) and b.shape == (4, 5)
    assert a.data.min() == 3 and a.data.max() == 9                  # [low, high), every value drawn
    assert b.data.min() >= 0 and b.data.max() < 10
    g1, g2 = np.random.default_rng(7), np.random.default_rng(7)
    np.testing.assert_array_equal(sc.randint(0, 100, (6,), generator=g1).data,
                                  sc.randint(0, 100, (6,), generator=g2).data)
    f = sc.randint(-2, 2, (50,), dtype=np.float64)
    assert f.dtype == np.float64 and set(np.unique(f.data)) <= {-2.0, -1.0, 0.0, 1.0}
    with pytest.raises(ValueError, match="less than"):
        sc.randint(5, 5, (3,))
    with pytest.raises(ValueError, match="less than"):
        sc.randint(5, 2, (3,))
    with pytest.raises(TypeError, match="size"):
        sc.randint(5, 10, 3)


# ============================================================================== Tensor conversions
def test_to_type_int_bool_contiguous(torch):
    x = np.array([[1.5, -0.0, 2.0], [0.0, -3.7, 9.0]])
    check(torch, lambda a: a.to(np.float32).to("float64") * a, lambda a: a.to(torch.float32).to(torch.float64) * a,
          [x])
    check(torch, lambda a: a.to("cpu", np.float32), lambda a: a.to("cpu", torch.float32), [x])
    check(torch, lambda a: a.int(), lambda a: a.int(), [x])
    check(torch, lambda a: a.bool(), lambda a: a.bool(), [x])
    check(torch, lambda a: a.type(np.int64), lambda a: a.type(torch.int64), [x])
    check(torch, lambda a: a.type("torch.IntTensor"), lambda a: a.type("torch.IntTensor"), [x])
    check(torch, lambda a: a.T.contiguous() * 2, lambda a: a.T.contiguous() * 2, [x])
    t = sc.tensor(x, requires_grad=True)
    assert t.to(np.float64) is t and t.to("cpu") is t and t.to(t) is t and t.contiguous() is t
    assert t.to(np.float64, copy=True) is not t
    assert t.to(dtype=np.float32, device="cpu").dtype == np.float32
    assert t.T.contiguous().is_contiguous() and not t.T.is_contiguous()
    for dtype in (np.float32, np.float64, np.int64, np.int32, np.bool_):
        assert sc.tensor(x).to(dtype).type() == torch.tensor(x).to(getattr(torch, np.dtype(dtype).name)).type()
    for device in ("cuda", "cuda:0", "mps", "meta"):
        with pytest.raises(ValueError, match="CPU only"):
            t.to(device)
    with pytest.raises(ValueError, match="CPU only"):
        t.to(device="cuda", dtype=np.float32)
    with pytest.raises(TypeError, match="neither a dtype nor a device"):
        t.to("flaot32")


@pytest.mark.parametrize("name", ["index_select", "gather", "flip", "roll", "expand", "masked_fill", "sort", "topk",
                                  "prod", "logsumexp", "cumsum", "argsort"])
def test_zero_dim_inputs(torch, name):
    calls = {"index_select": lambda L, a: L.index_select(a, 0, L.tensor([0])),
             "gather": lambda L, a: L.gather(a, 0, L.tensor([0, 0])),
             "flip": lambda L, a: L.flip(a, [0]), "roll": lambda L, a: L.roll(a, 3),
             "expand": lambda L, a: a.expand(2, 3), "masked_fill": lambda L, a: a.masked_fill(L.tensor([True, False]), 1.0),
             "sort": lambda L, a: L.sort(a, -1, True), "topk": lambda L, a: L.topk(a, 1),
             "prod": lambda L, a: L.prod(a, 0, True), "logsumexp": lambda L, a: L.logsumexp(a, 0),
             "cumsum": lambda L, a: L.cumsum(a, -1), "argsort": lambda L, a: L.argsort(a, 0)}
    check(torch, lambda a: calls[name](sc, a), lambda a: calls[name](torch, a), [np.array(1.75)])


def test_empty_inputs(torch):
    x = np.zeros((2, 0))
    for fn in (lambda L, a: L.sort(a, 1), lambda L, a: L.logsumexp(a, 1), lambda L, a: L.cumsum(a, 1),
               lambda L, a: L.prod(a, 1), lambda L, a: L.prod(a), lambda L, a: L.topk(a, 0, 1),
               lambda L, a: L.flip(a, [0, 1]), lambda L, a: L.roll(a, 1, 1)):
        check(torch, lambda a: fn(sc, a), lambda a: fn(torch, a), [x])


def test_top_level_names_exist():
    for name in ("where", "masked_fill", "gather", "index_select", "split", "chunk", "flip", "roll", "prod",
                 "logsumexp", "cumsum", "sort", "argsort", "topk", "sign", "floor", "ceil", "round", "isnan",
                 "isfinite", "full", "eye", "linspace", "randint"):
        assert callable(getattr(sc, name)) and name in sc.__all__
        if name not in ("full", "eye", "linspace", "randint"):
            assert getattr(F, name) is getattr(sc, name)
