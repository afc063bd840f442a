"""One helper to compare a scratchcnn computation with PyTorch: forward values and all input gradients."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

import scratchcnn as sc

RTOL = 1e-6
ATOL = 1e-9


def compare_with_torch(torch, sc_fn: Callable, torch_fn: Callable, arrays: Sequence[np.ndarray],
                       grad_mask: Sequence[bool] | None = None, rtol: float = RTOL, atol: float = ATOL,
                       seed: int = 0) -> None:
    """Run ``sc_fn`` and ``torch_fn`` on float64 copies of ``arrays``; assert equal outputs and gradients.

    The output gradient is a fixed random array (not all ones) so that every path is exercised.
    """
    grad_mask = list(grad_mask) if grad_mask is not None else [a.dtype.kind == "f" for a in arrays]
    sc_in = [sc.Tensor(a.copy(), requires_grad=m) for a, m in zip(arrays, grad_mask)]
    th_in = [torch.tensor(a.copy(), requires_grad=m) for a, m in zip(arrays, grad_mask)]
    out_sc = sc_fn(*sc_in)
    out_th = torch_fn(*th_in)
    np.testing.assert_allclose(out_sc.data, out_th.detach().numpy(), rtol=rtol, atol=atol, err_msg="forward")
    if not any(grad_mask):
        return
    g = np.random.default_rng(seed).standard_normal(out_th.shape)
    out_sc.backward(g if out_sc.ndim else None) if out_sc.ndim else out_sc.backward()
    out_th.backward(torch.tensor(g) if out_th.ndim else None)
    for i, (a, b) in enumerate(zip(sc_in, th_in)):
        if grad_mask[i]:
            assert a.grad is not None, f"no gradient reached input {i}"
            np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"grad of input {i}")


def finite_difference_check(fn: Callable, arrays: Sequence[np.ndarray], eps: float = 1e-6,
                            rtol: float = 1e-5, atol: float = 1e-7, seed: int = 0) -> None:
    """Check autograd gradients of ``sum(fn(*x) * G)`` against central differences (no PyTorch)."""
    xs = [sc.Tensor(a.astype(np.float64), requires_grad=True) for a in arrays]
    out = fn(*xs)
    G = np.random.default_rng(seed).standard_normal(out.shape)
    (out * sc.Tensor(G)).sum().backward()
    for i, a in enumerate(arrays):
        a = a.astype(np.float64)
        num = np.zeros_like(a)
        it = np.nditer(a, flags=["multi_index"])
        for _ in it:
            idx = it.multi_index
            plus, minus = a.copy(), a.copy()
            plus[idx] += eps
            minus[idx] -= eps
            args_p = [sc.Tensor(plus) if j == i else sc.Tensor(arrays[j].astype(np.float64)) for j in range(len(arrays))]
            args_m = [sc.Tensor(minus) if j == i else sc.Tensor(arrays[j].astype(np.float64)) for j in range(len(arrays))]
            num[idx] = ((fn(*args_p).data * G).sum() - (fn(*args_m).data * G).sum()) / (2 * eps)
        np.testing.assert_allclose(xs[i].grad, num, rtol=rtol, atol=atol, err_msg=f"finite differences, input {i}")


def draw_groups(draw, one: tuple[int, int], grouped: tuple[int, int, int], depthwise: tuple[int, int],
                kinds: tuple[str, ...] = ("one", "grouped", "depthwise")) -> tuple[int, int, int]:
    """Hypothesis: ``(groups, in channels per group, out channels per group)`` of a plain (``one``: max in, max
    out), grouped (max groups, max in, max out per group, from 2 groups) or depthwise (max groups, max out per
    group; 1 in) convolution; ``kinds`` weights the choice."""
    from hypothesis import strategies as st
    kind = draw(st.sampled_from(list(kinds)))
    if kind == "one":
        return 1, draw(st.integers(1, one[0])), draw(st.integers(1, one[1]))
    if kind == "grouped":
        return draw(st.integers(2, grouped[0])), draw(st.integers(1, grouped[1])), draw(st.integers(1, grouped[2]))
    return draw(st.integers(2, depthwise[0])), 1, draw(st.integers(1, depthwise[1]))
