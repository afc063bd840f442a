"""Core-engine behaviours fixed by an audit against PyTorch that need no oracle: grad-mode switches
(``set_grad_enabled`` called on its own, decorators, ``enable_grad``), NumPy's ``axis=()`` still reducing
nothing, and a second backward through a freed graph failing before it touches any ``.grad``."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import scratchcnn as sc
from scratchcnn.autograd import enable_grad, no_grad, set_grad_enabled


@pytest.fixture(autouse=True)
def _grad_mode_back_on():
    yield
    set_grad_enabled(True)       # a failing test must not leave recording off for the others


def test_set_grad_enabled_called_alone_sets_the_mode():
    """``torch.set_grad_enabled(False)`` as a plain call turns recording off until turned back on; here the
    call used to do nothing at all (a generator context manager that was never entered)."""
    x = sc.tensor([1.0, 2.0], requires_grad=True)
    set_grad_enabled(False)
    assert not sc.is_grad_enabled()
    assert not (x * 2).requires_grad
    set_grad_enabled(True)
    assert sc.is_grad_enabled()
    assert (x * 2).requires_grad


def test_set_grad_enabled_as_context_restores_previous_mode():
    with set_grad_enabled(False):
        assert not sc.is_grad_enabled()
        with set_grad_enabled(True):
            assert sc.is_grad_enabled()
        assert not sc.is_grad_enabled()
    assert sc.is_grad_enabled()
    with no_grad():
        with enable_grad():
            assert sc.is_grad_enabled()
        assert not sc.is_grad_enabled()
    assert sc.is_grad_enabled()


def test_grad_mode_restored_after_an_exception():
    with pytest.raises(KeyError):
        with no_grad():
            raise KeyError("x")
    assert sc.is_grad_enabled()
    with pytest.raises(KeyError):
        with set_grad_enabled(False):
            raise KeyError("x")
    assert sc.is_grad_enabled()


def test_grad_mode_decorators_with_and_without_parentheses():
    x = sc.tensor([1.0], requires_grad=True)

    @no_grad
    def bare(a):
        return a * 2

    @no_grad()
    def called(a):
        return a * 2

    @set_grad_enabled(False)
    def off(a):
        return a * 2

    assert sc.is_grad_enabled(), "decorating must not change the current mode"
    for fn in (bare, called, off):
        assert not fn(x).requires_grad
        assert sc.is_grad_enabled()

    @enable_grad
    def on(a):
        return a * 2

    with no_grad():
        assert on(x).requires_grad
        assert not sc.is_grad_enabled()


def test_decorated_recursion_restores_the_outer_mode():
    """Each call of a decorated function saves and restores its own previous mode."""
    seen = []

    @no_grad()
    def rec(n):
        seen.append(sc.is_grad_enabled())
        if n:
            rec(n - 1)
        seen.append(sc.is_grad_enabled())

    rec(3)
    assert seen == [False] * 8 and sc.is_grad_enabled()


def test_grad_mode_is_per_thread():
    seen = {}

    def worker():
        seen["thread"] = sc.is_grad_enabled()

    with no_grad():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    assert seen["thread"] is True


@pytest.mark.parametrize("op", ["sum", "mean", "var"])
def test_numpy_axis_empty_tuple_still_reduces_nothing(op):
    """NumPy's spelling keeps NumPy's meaning (``axis=()``: no reduction); only PyTorch's ``dim=()`` means all."""
    x = np.arange(6.0).reshape(2, 3)
    got = getattr(sc.Tensor(x), op)(axis=())
    want = getattr(np, op)(x, axis=()) if op != "var" else np.full_like(x, np.nan)
    assert got.shape == x.shape
    np.testing.assert_array_equal(got.data, want)
    assert getattr(sc.Tensor(x), op)(()).shape == ()


def test_second_backward_through_freed_graph_raises_before_touching_grads():
    x = sc.tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    y = h.sum()
    for t in (h, y):
        t.retain_grad()
    y.backward()
    before = [t.grad.copy() for t in (x, h, y)]
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()
    for t, b in zip((x, h, y), before):
        np.testing.assert_array_equal(t.grad, b)
