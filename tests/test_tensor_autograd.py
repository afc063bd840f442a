"""The autograd engine: graph shapes (diamonds, reused nodes, long chains), accumulation, graph freeing,
no_grad/detach, error cases and dtype rules. Values checked against hand derivations and PyTorch."""
from __future__ import annotations

import numpy as np
import pytest

import scratchcnn as sc
import scratchcnn.functional as F
from scratchcnn.autograd import Context, Function


def leaf(values, dtype=np.float64) -> sc.Tensor:
    return sc.Tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ---- graph shapes
def test_reused_input_x_times_x():
    x = leaf([3.0, -2.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, -4.0])


def test_diamond_y_equals_x_plus_x_then_z_equals_y_squared_plus_y(torch):
    x = leaf([1.5, -0.5, 2.0])
    y = x + x
    z = y * y + y
    z.sum().backward()
    # dz/dx = (2y + 1) * 2 = 8x + 2
    np.testing.assert_allclose(x.grad, 8 * x.data + 2)
    xt = torch.tensor([1.5, -0.5, 2.0], requires_grad=True)
    yt = xt + xt
    (yt * yt + yt).sum().backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy())


def test_deep_diamonds_and_shared_subgraphs(torch):
    """A non-leaf used by many consumers receives the sum of all their gradients before propagating."""
    x0 = np.array([0.3, -1.2, 0.7])
    x, xt = leaf(x0), torch.tensor(x0, requires_grad=True)

    def build(v, lib_exp):
        a = v * 2.0
        b = lib_exp(a) + a
        c = b * a - b / (a * a + 1.0)
        return (c + b * b + a).sum()

    build(x, F.exp).backward()
    build(xt, torch.exp).backward()
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12)


def test_ten_thousand_node_chain_has_no_recursion_error():
    x = leaf([1.0])
    y = x
    for _ in range(10_000):
        y = y * 1.0001 + 0.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001 ** 10_000], rtol=1e-9)
    del y  # tearing down a deep graph must not overflow either


def test_retain_grad_on_non_leaf():
    x = leaf([2.0])
    y = x * 3.0
    y.retain_grad()
    (y * y).sum().backward()
    np.testing.assert_array_equal(y.grad, [12.0])
    np.testing.assert_array_equal(x.grad, [36.0])


def test_non_leaf_grad_not_kept_by_default():
    x = leaf([2.0])
    y = x * 3.0
    (y * y).sum().backward()
    assert y.grad is None and not y.is_leaf and x.is_leaf


# ---- accumulation, zero_grad, retain_graph
def test_gradients_accumulate_across_two_backward_calls_like_torch(torch):
    x = leaf([1.0, 2.0])
    xt = torch.tensor([1.0, 2.0], requires_grad=True)
    for _ in range(2):
        (x * x).sum().backward()
        (xt * xt).sum().backward()
    np.testing.assert_array_equal(x.grad, xt.grad.numpy())
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])


def test_retain_graph_allows_a_second_backward_and_accumulates():
    x = leaf([1.0, 2.0])
    y = (x * x * 3.0).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad, [12.0, 24.0])


def test_second_backward_without_retain_graph_raises():
    x = leaf([1.0, 2.0])
    y = (x.exp() * 2.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_zero_grad_clears():
    x = leaf([1.0])
    (x * 2.0).sum().backward()
    x.zero_grad()
    assert x.grad is None
    (x * 5.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [5.0])


def test_grad_of_broadcast_leaf_is_a_fresh_writable_array():
    x = leaf([[1.0, 2.0]])
    (x + np.zeros((3, 2))).sum().backward()
    np.testing.assert_array_equal(x.grad, [[3.0, 3.0]])
    x.grad += 1.0  # must not be a read-only broadcast view
    x.grad = None
    x.sum().backward()
    x.grad *= 2.0
    np.testing.assert_array_equal(x.grad, [[2.0, 2.0]])


# ---- no_grad, detach, requires_grad propagation
def test_no_grad_records_nothing():
    x = leaf([1.0, 2.0])
    with sc.no_grad():
        y = (x * 2.0).exp()
        assert not sc.is_grad_enabled()
    assert sc.is_grad_enabled()
    assert y.grad_fn is None and not y.requires_grad
    with pytest.raises(RuntimeError):
        y.sum().backward()


def test_no_grad_as_decorator_and_restores_on_error():
    @sc.no_grad()
    def f(t):
        return t * 2.0

    assert f(leaf([1.0])).grad_fn is None
    with pytest.raises(ValueError):
        with sc.no_grad():
            raise ValueError("boom")
    assert sc.is_grad_enabled()


def test_detach_shares_data_and_cuts_the_graph():
    x = leaf([1.0, 2.0])
    y = x * 3.0
    d = y.detach()
    assert d.data is y.data and d.grad_fn is None and not d.requires_grad
    (d * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 6.0])  # only the direct path through x


def test_ops_on_tensors_without_grad_record_nothing():
    a = sc.Tensor(np.ones(3))
    assert (a * 2.0 + a).grad_fn is None
    b = a * leaf([1.0, 1.0, 1.0])
    assert b.requires_grad and b.grad_fn is not None


def test_inputs_not_requiring_grad_get_no_grad():
    x, c = leaf([1.0, 2.0]), sc.Tensor(np.array([3.0, 4.0]))
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


# ---- errors
def test_backward_on_non_scalar_without_gradient_raises():
    y = leaf([1.0, 2.0]) * 2.0
    with pytest.raises(RuntimeError, match="non-scalar"):
        y.backward()


def test_backward_with_explicit_gradient_and_shape_check():
    x = leaf([1.0, 2.0])
    y = x * x
    y.backward(np.array([1.0, 0.5]))
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])
    with pytest.raises(ValueError, match="shape"):
        (x * x).backward(np.ones(3))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        sc.Tensor(np.ones(1)).backward()


def test_backward_on_a_leaf_itself():
    x = leaf(2.0)
    x.backward()
    assert x.grad == 1.0


# ---- dtype rules
def test_dtype_rules():
    assert sc.Tensor(1.5).dtype == np.float32
    assert sc.Tensor([1.0, 2.0]).dtype == np.float32
    assert sc.tensor([[1.0]]).dtype == np.float32
    assert sc.Tensor(np.zeros(3)).dtype == np.float64
    assert sc.Tensor(np.float64(2.0)).dtype == np.float64
    assert sc.Tensor(np.zeros(3, dtype=np.float32)).dtype == np.float32
    assert sc.Tensor(3).dtype == np.int64
    assert sc.Tensor([1, 2]).dtype == np.int64
    assert sc.Tensor([1.0], dtype=np.float64).dtype == np.float64
    assert sc.zeros(2, 3).dtype == np.float32 and sc.ones(2, dtype=np.float64).dtype == np.float64


def test_requires_grad_on_integer_tensor_raises():
    with pytest.raises(TypeError, match="floating"):
        sc.Tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="floating"):
        sc.Tensor([1, 2]).requires_grad_()
    t = sc.Tensor([1, 2])
    with pytest.raises(TypeError, match="floating"):
        t.requires_grad = True          # the attribute has requires_grad_'s checks (PyTorch refuses it too)
    assert t.requires_grad is False


def test_requires_grad_attribute_on_non_leaf():
    """Like PyTorch: a computed tensor's flag cannot be switched off (that would cut the graph silently);
    setting it to the value it has is allowed; leaves take either."""
    x = leaf([1.0, 2.0])
    w = x * 2
    with pytest.raises(RuntimeError, match="only be changed on leaf tensors; .* use detach"):
        w.requires_grad = False
    with pytest.raises(RuntimeError, match="only be changed on leaf tensors"):
        w.requires_grad_(False)
    w.requires_grad = True
    (w * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])
    x.requires_grad = False
    assert x.requires_grad is False and (x * 2).requires_grad is False


def test_float32_grads_stay_float32_through_mixed_graphs():
    x = leaf([1.0, 2.0], dtype=np.float32)
    w64 = sc.Tensor(np.array([0.5, 0.25]))  # float64 constant
    y = ((x * 2.5 + 1.0) * w64).sum() + (x / 3.0).exp().sum() + F.matmul(x, x)
    y.backward()
    assert x.grad.dtype == np.float32
    assert ((x * 2.5) ** 2.0).dtype == np.float32  # Python scalars take the tensor's dtype


def test_float64_pipeline_stays_float64():
    x = leaf(np.ones((2, 3)))
    y = F.relu(x @ np.ones((3, 4))).sum(1).mean()
    assert y.dtype == np.float64
    y.backward()
    assert x.grad.dtype == np.float64


# ---- custom Function
class Cube(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, scale: float) -> np.ndarray:
        ctx.save_for_backward(a)
        ctx.scale = scale
        return scale * a ** 3

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (a,) = ctx.saved
        return g * 3 * ctx.scale * a ** 2, None


def test_custom_function_and_needs_input_grad():
    x = leaf([1.0, 2.0])
    y = Cube.apply(x, 2.0)
    assert y.grad_fn.name == "CubeBackward"
    assert y.grad_fn.ctx.needs_input_grad == (True, False)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, 24.0])
    assert y.grad_fn.ctx.saved == ()  # buffers freed after backward without retain_graph


class _Fresh(Function):
    """y = 2x whose backward returns a new array (optionally also kept elsewhere)."""
    kept: list = []
    pointers: list = []
    keep = False

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        out = g * 2
        _Fresh.pointers.append(out.ctypes.data)
        if _Fresh.keep:
            _Fresh.kept.append(out)
        return (out,)


@pytest.mark.parametrize("keep", [False, True])
def test_leaf_gradient_adopted_only_when_nobody_else_holds_it(keep):
    """A fresh gradient array is adopted as .grad without a copy (PyTorch's AccumulateGrad rule), but never one
    that something else still references."""
    _Fresh.keep = keep
    a = sc.Tensor(np.ones(5), requires_grad=True)
    _Fresh.apply(a).sum().backward()
    assert (a.grad.ctypes.data == _Fresh.pointers[-1]) is (not keep)
    np.testing.assert_array_equal(a.grad, np.full(5, 2.0))
    if keep:
        _Fresh.kept[-1][:] = 0             # mutating the kept array does not touch .grad
        np.testing.assert_array_equal(a.grad, np.full(5, 2.0))


def test_leaf_gradients_never_alias():
    """add's backward hands the same array to both inputs, reshape a view: every .grad is its own memory."""
    a = sc.Tensor(np.ones((2, 3)), requires_grad=True)
    b = sc.Tensor(np.ones(6), requires_grad=True)
    c = sc.Tensor(np.ones(6), requires_grad=True)
    ((a.reshape(6) + b) + c).sum().backward()
    grads = [a.grad, b.grad, c.grad]
    for i in range(3):
        for j in range(i + 1, 3):
            assert not np.shares_memory(grads[i], grads[j])
    b.grad *= 3
    np.testing.assert_array_equal(a.grad, np.ones((2, 3)))
    np.testing.assert_array_equal(c.grad, np.ones(6))


def test_adopted_gradient_accumulates_over_backward_calls():
    a = sc.Tensor(np.ones(4), requires_grad=True)
    for _ in range(3):
        _Fresh.keep = False
        _Fresh.apply(a).sum().backward()
    np.testing.assert_array_equal(a.grad, np.full(4, 6.0))


class _Needs(Function):
    seen: list = []

    @staticmethod
    def forward(ctx, x):
        _Needs.seen.append(ctx.needs_input_grad)
        return x * 1

    @staticmethod
    def backward(ctx, g):
        return (g,)


def test_forward_sees_no_needed_grads_when_nothing_is_recorded():
    """Under no_grad no backward can follow, so a forward is told that no input needs a gradient and skips its
    backward-only work (saved columns, argmax indices, masks), even for inputs that require grad."""
    x = sc.Tensor(np.ones(3), requires_grad=True)
    _Needs.apply(x)
    with sc.no_grad():
        _Needs.apply(x)
    _Needs.apply(sc.Tensor(np.ones(3)))
    assert _Needs.seen[-3:] == [(True,), (False,), (False,)]


def test_inference_of_trainable_conv_uses_the_blocked_path(monkeypatch):
    from scratchcnn.functional import conv as conv_mod
    rng = np.random.default_rng(0)
    x = sc.Tensor(rng.standard_normal((6, 4, 9, 9)))
    w = sc.Tensor(rng.standard_normal((5, 4, 3, 3)), requires_grad=True)
    expected = F.conv2d(x, w, padding=1).data
    calls = []
    real = conv_mod._chunked_forward
    monkeypatch.setattr(conv_mod, "_UNSAVED_COLS", 2 * 81 * 36)
    monkeypatch.setattr(conv_mod, "_chunked_forward", lambda *a: calls.append(1) or real(*a))
    with sc.no_grad():
        got = F.conv2d(x, w, padding=1).data
    assert calls == [1]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_pytorch_like_comparisons_and_conversions(torch):
    """``==``/``!=`` are elementwise, one-element tensors convert with float()/int()/bool(), several-element ones
    refuse (ambiguous), and tensors stay usable as dict keys (by identity)."""
    a, b = sc.tensor([1.0, 2.0, 3.0]), sc.tensor([1.0, 0.0, 3.0])
    np.testing.assert_array_equal((a == b).data, [True, False, True])
    np.testing.assert_array_equal((a != b).data, [False, True, False])
    np.testing.assert_array_equal((a == 2.0).data, [False, True, False])
    logits, y = sc.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), sc.tensor([1, 0, 0])
    assert float((logits.argmax(1) == y).float().mean()) == pytest.approx(2 / 3)   # the accuracy idiom
    assert float(a.sum()) == 6.0 and int(sc.tensor([7])) == 7 and bool(sc.tensor(0.5)) and not bool(sc.tensor(0.0))
    for conv in (float, int, bool):
        with pytest.raises(ValueError, match="ambiguous"):
            conv(a)
    assert {a: 1, b: 2}[a] == 1
    assert (a == a).all() and not (a == b).all() and (a == b).any()


def test_tensor_copies_but_from_numpy_shares():
    arr = np.zeros(3)
    t = sc.tensor(arr)
    t.data[0] = 5
    assert arr[0] == 0
    s = sc.from_numpy(arr)
    s.data[1] = 4
    assert arr[1] == 4


def test_dtype_promotion_like_torch(torch):
    """A 0-d tensor does not promote a dimensioned one of the same kind; integer / integer is true division to
    the default float dtype; a float tensor with an integer scalar keeps its dtype."""
    cases = [
        (np.ones(3, np.float32), np.array(2.0, np.float64), "mul"),
        (np.array(2.0, np.float64), np.ones(3, np.float32), "add"),
        (np.ones(3, np.float64), np.array(2.0, np.float32), "sub"),
        (np.array([1, 2, 3]), np.array(2), "div"),
        (np.array([1, 2, 3]), np.array([2, 4, 4]), "div"),
        (np.ones((2, 2), np.float32), np.ones((2, 2), np.float64), "mul"),   # both dimensioned: promotes
    ]
    for x, y, op in cases:
        got = getattr(F, op)(sc.Tensor(x), sc.Tensor(y))
        want = {"mul": torch.mul, "add": torch.add, "sub": torch.sub, "div": torch.div}[op](
            torch.from_numpy(x), torch.from_numpy(y))
        want_dt = str(want.dtype).replace("torch.", "")
        if want_dt == "float64" and x.dtype.kind in "iu" and y.dtype.kind in "iu":   # torch's default is float64
            want_dt = str(sc.get_default_dtype())                                  # here: ours, float32
        assert str(got.dtype) == want_dt, (x.dtype, y.dtype, op, got.dtype, want.dtype)
        np.testing.assert_allclose(got.data, want.numpy(), rtol=1e-6)
    x = sc.Tensor(np.ones(3, np.float32), requires_grad=True)
    s = sc.Tensor(np.array(3.0), requires_grad=True)
    (x * s).sum().backward()
    assert x.grad.dtype == np.float32 and s.grad.dtype == np.float64 and s.grad == pytest.approx(3.0)
    assert (sc.tensor([1, 2]) / 2).dtype == sc.get_default_dtype()
