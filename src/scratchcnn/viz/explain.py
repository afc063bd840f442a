"""Step-by-step explanations of 2-D convolution and pooling on small matrices.

The numbers come from the engine (``scratchcnn.functional.conv2d`` / ``max_pool2d`` / ``avg_pool2d`` in
float64) and are cross-checked against the textbook loops in ``functional/reference.py`` and against the
explanation's own window-by-window sums; any disagreement raises ``RuntimeError`` (it would be a bug).

    >>> from scratchcnn.viz import explain_conv
    >>> r = explain_conv([[1, 1, 1]] * 3, [[1, 0, -1], [0, 1, 0], [1, 0, -1]])
    >>> r.output.tolist()
    [[1.0]]
    >>> print(r.to_text())          # the formula, every window, its products and their sum, the output
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

import numpy as np

from .inputs import load_kernel, load_matrix

__all__ = ["ConvStep", "ConvExplanation", "PoolStep", "PoolExplanation", "explain_conv", "explain_pool",
           "CONV_EXAMPLES", "POOL_EXAMPLES", "MAX_CELLS"]

MAX_CELLS = 16384
"""Largest output (in cells) that ``explain`` walks through; bigger inputs belong to ``visualize filter``."""

SEED004_INPUT = [[1, 1, 1], [1, 1, 1], [1, 1, 1]]
SEED004_KERNEL = [[1, 0, -1], [0, 1, 0], [1, 0, -1]]

CONV_EXAMPLES: dict[str, dict[str, Any]] = {
    "seed004": {"input": SEED004_INPUT, "kernel": SEED004_KERNEL,
                "title": "seed 004's worked example: a 3x3 input of ones and a 3x3 kernel"},
    "seed000": {"input": [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]],
                "kernel": [[0, 1, 2], [2, 2, 0], [0, 1, 2]],
                "title": "seed 000's case: a 5x5 input, a 3x3 kernel, stride 1, no padding -> 3x3"},
}
POOL_EXAMPLES: dict[str, dict[str, Any]] = {
    "seed000": {"input": [[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]],
                "title": "seed 000's case: a 4x4 input, a 2x2 window, stride 2 -> 2x2"},
}

_SEED000_CONV_NOTE = (
    "Seed 000 (section 4.1) states this case with symbols only: O(0,0) = I(0,0)K(0,0) + I(0,1)K(0,1) + ... + "
    "I(2,2)K(2,2), O(0,1) = I(0,1)K(0,0) + ... + I(2,3)K(2,2), ..., O(2,2) = I(2,2)K(0,0) + ... + I(4,4)K(2,2); "
    "its formula and index pattern are right. The numbers are scratchcnn's choice (the well-known example of "
    "Dumoulin and Visin's guide to convolution arithmetic).")
_SEED000_POOL_NOTE = (
    "Seed 000 (section 4.2) states this case with symbols only: O(0,0) = max{I(0,0), I(0,1), I(1,0), I(1,1)}, "
    "O(0,1) = max{I(0,2), I(0,3), I(1,2), I(1,3)}, ...; that is right. The numbers are scratchcnn's choice.")


# ----------------------------------------------------------------------------------------------- helpers
def _pair(value: Any, name: str, op: str, minimum: int, maximum: int = MAX_CELLS) -> tuple[int, int]:
    """``value`` (an int or a (rows, cols) pair) as two ints in ``minimum..maximum``; a one-line ValueError naming
    ``name`` and the range otherwise. The cap keeps sizes to what a walk-through of at most ``MAX_CELLS`` cells
    can show (and huge ones out of NumPy's strided views, which fail with an error naming no argument)."""
    vals = (value, value) if np.isscalar(value) else tuple(value)
    if len(vals) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in vals):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if any(not minimum <= v <= maximum for v in vals):
        raise ValueError(f"{op}: {name} must be >= {minimum} and <= {maximum}, got {value!r}")
    return int(vals[0]), int(vals[1])


def _conv_pads(padding: Any, kernel: tuple[int, int], stride: tuple[int, int],
               dilation: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """Per-axis (before, after) zero padding; ``"same"`` follows PyTorch (an odd total puts the extra after)."""
    if isinstance(padding, str):
        p = padding.strip().lower()
        if p == "valid":
            return (0, 0), (0, 0)
        if p == "same":
            if stride != (1, 1):
                raise ValueError(f"explain conv: padding 'same' needs stride 1, got stride {stride}")
            tot = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return (tot[0] // 2, tot[0] - tot[0] // 2), (tot[1] // 2, tot[1] - tot[1] // 2)
        raise ValueError(f"explain conv: padding must be an int, a pair of ints, 'same' or 'valid', got {padding!r}")
    ph, pw = _pair(padding, "padding", "explain conv", 0)
    return (ph, ph), (pw, pw)


def _agree(a: np.ndarray, b: np.ndarray, scale: float) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-9, atol=1e-9 * max(1.0, scale)))


def _jsonnum(v: float) -> float | int | None:
    """Whole numbers as ints (``[[1]]`` rather than ``[[1.0]]``); NaN/inf as None."""
    v = float(v)
    if not np.isfinite(v):
        return None
    return int(v) if v == round(v) and abs(v) < 2 ** 53 else v


def _exact(v: float, terms: Iterable[tuple[float, float]], divisor: int = 1) -> float:
    """The value shown for ``v`` = sum of ``a * b`` over ``terms`` (divided by ``divisor``): the sum computed exactly
    on the numbers as the reader sees them (each float by its shortest decimal form), rounded once to float64.
    0.1 + 0.2 - 0.3 is 5.6e-17 in floating point, which a learner would read as an error, and shows 0; 10^12 + 1 -
    10^12 shows 1. ``v`` itself when a term is not finite."""
    with localcontext() as ctx:
        ctx.prec = 120
        total = Decimal(0)
        for a, b in terms:
            if not (math.isfinite(a) and math.isfinite(b)):
                return float(v)
            total += Decimal(repr(float(a))) * Decimal(repr(float(b)))
        return float(total / divisor)


def _check_finite(op: str, out: np.ndarray, scale: float) -> None:
    """Refuse numbers whose products or sums overflow float64: the walk-through would show inf or nan."""
    if not (np.isfinite(out).all() and math.isfinite(scale)):
        raise ValueError(f"{op}: the numbers are too large: their products or sums overflow float64 (about "
                         "1.8e308); use smaller values")


def _jsonmat(a: np.ndarray) -> list:
    return [[_jsonnum(v) for v in row] for row in np.asarray(a, dtype=np.float64)]


# ----------------------------------------------------------------------------------------------- convolution
@dataclass
class ConvStep:
    """One output cell: the window under the kernel, the elementwise products and their sum.

    ``rows``/``cols`` are input coordinates of the window's rows/columns (outside ``0..H-1``: zero padding).
    """

    position: tuple[int, int]
    rows: list[int]
    cols: list[int]
    window: np.ndarray
    products: np.ndarray
    sum: float

    def to_dict(self) -> dict:
        return {"position": list(self.position), "input_rows": self.rows, "input_cols": self.cols,
                "window": _jsonmat(self.window), "products": _jsonmat(self.products), "sum": _jsonnum(self.sum)}


@dataclass
class ConvExplanation:
    """Everything ``explain conv`` shows. ``output`` is the engine's result (H_out, W_out), float64."""

    input: np.ndarray
    kernel: np.ndarray
    kernel_used: np.ndarray            # the kernel as slid over the input (flipped for mode="convolution")
    stride: tuple[int, int]
    padding: tuple[tuple[int, int], tuple[int, int]]
    dilation: tuple[int, int]
    mode: str
    output: np.ndarray
    reference: np.ndarray
    formulas: dict[str, str]
    steps: list[ConvStep]
    title: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def output_shape(self) -> tuple[int, int]:
        return tuple(int(n) for n in self.output.shape)  # type: ignore[return-value]

    def to_dict(self) -> dict:
        """JSON-ready: ``{"output", "output_shape", "steps", "input", "kernel", "kernel_used", "mode", "stride",
        "padding", "dilation", "output_size", "checked_against", "notes", ...}``."""
        return {"operation": "conv2d", "title": self.title, "mode": self.mode,
                "input": _jsonmat(self.input), "kernel": _jsonmat(self.kernel),
                "kernel_used": _jsonmat(self.kernel_used), "stride": list(self.stride),
                "padding": [list(p) for p in self.padding], "dilation": list(self.dilation),
                "output_size": dict(self.formulas), "output": _jsonmat(self.output),
                "output_shape": list(self.output_shape), "steps": [s.to_dict() for s in self.steps],
                "engine": "scratchcnn.functional.conv2d (float64)",
                "checked_against": "scratchcnn.functional.reference.conv2d_reference", "notes": list(self.notes)}

    def to_text(self, max_steps: int | None = None) -> str:
        """A readable walk-through (see ``viz.explain_text``); ``max_steps`` limits the windows shown."""
        from .explain_text import conv_text
        return conv_text(self, max_steps)


def _size_formula(n: int, k: int, s: int, lo: int, hi: int, d: int) -> tuple[int, str]:
    out = (n + lo + hi - d * (k - 1) - 1) // s + 1
    return out, f"floor(({n} + {lo} + {hi} - {d}*({k} - 1) - 1) / {s}) + 1 = {out}"


def explain_conv(input: Any = None, kernel: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                 mode: str = "correlation", example: str | None = None) -> ConvExplanation:
    """Explain one 2-D convolution of a matrix with a kernel, cell by cell.

    Args:
        input: (H, W) matrix: array, nested list, JSON text, or a ``.json``/``.npy``/image file. Default: the
            ``example``'s input.
        kernel: (kH, kW) matrix (same forms) or a name (``identity``, ``edge``, ``sobel-x``, ``sobel-y``,
            ``laplacian``, ``box-blur``, ``gaussian``, ``sharpen``). Default: the example's kernel.
        stride, dilation: int or (rows, cols) pair, >= 1.
        padding: int or pair (zeros on both sides), ``"valid"`` (= 0) or ``"same"`` (PyTorch's rule, stride 1).
        mode: ``"correlation"`` (PyTorch's conv2d, the default) or ``"convolution"`` (kernel flipped first).
        example: ``"seed004"`` (the default when neither input nor kernel is given) or ``"seed000"``.
    Returns:
        a :class:`ConvExplanation`; ``output`` has shape (H_out, W_out).
    Raises:
        ValueError: a malformed matrix, a kernel larger than the padded input, bad stride/padding/dilation,
            an output of more than ``MAX_CELLS`` cells.
    """
    from .. import functional as F
    from ..functional.reference import conv2d_reference
    from ..tensor import Tensor

    op = "explain conv"
    if mode not in ("correlation", "convolution"):
        raise ValueError(f"{op}: mode must be 'correlation' or 'convolution', got {mode!r}")
    if example is None and input is None and kernel is None:
        example = "seed004"
    title = ""
    if example is not None:
        if example not in CONV_EXAMPLES:
            raise ValueError(f"{op}: unknown example {example!r}; known: {', '.join(CONV_EXAMPLES)}")
        ex = CONV_EXAMPLES[example]
        input = ex["input"] if input is None else input
        kernel = ex["kernel"] if kernel is None else kernel
        title = ex["title"]
    k = load_kernel(kernel, "kernel") if kernel is not None else None
    x = load_matrix(input, "input") if input is not None else None
    if x is None or k is None:
        raise ValueError(f"{op}: give both an input and a kernel (or neither, for seed 004's example), "
                         f"got only {'a kernel' if x is None else 'an input'}")
    st = _pair(stride, "stride", op, 1)
    dil = _pair(dilation, "dilation", op, 1)
    pads = _conv_pads(padding, k.shape, st, dil)
    padded_shape = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, pads))
    extent = tuple(d * (kk - 1) + 1 for kk, d in zip(k.shape, dil))
    if any(e > p for e, p in zip(extent, padded_shape)):
        dil_txt = f" (dilated extent {extent[0]}x{extent[1]})" if dil != (1, 1) else ""
        raise ValueError(f"{op}: the {k.shape[0]}x{k.shape[1]} kernel{dil_txt} is larger than the padded input "
                         f"{padded_shape[0]}x{padded_shape[1]} (input {x.shape[0]}x{x.shape[1]}, padding "
                         f"{pads[0][0]}/{pads[0][1]} rows, {pads[1][0]}/{pads[1][1]} columns); use a smaller kernel "
                         "or more padding (e.g. padding 'same')")
    (ho, f_h), (wo, f_w) = (_size_formula(x.shape[a], k.shape[a], st[a], pads[a][0], pads[a][1], dil[a])
                            for a in range(2))
    if ho * wo > MAX_CELLS:
        raise ValueError(f"{op}: the output would have {ho}x{wo} = {ho * wo} cells; explain walks through at most "
                         f"{MAX_CELLS} (crop or shrink the input, or use `scratchcnn visualize filter` for images)")

    # the engine (float64) ...
    eng_pad = padding.strip().lower() if isinstance(padding, str) else (pads[0][0], pads[1][0])
    with np.errstate(over="ignore", invalid="ignore"):    # an overflow is refused in one line below
        out = F.conv2d(Tensor(x[None, None]), Tensor(k[None, None]), stride=st, padding=eng_pad, dilation=dil,
                       mode=mode).data[0, 0]
        # ... against the textbook loops ...
        ref = conv2d_reference(x, k, stride=st, padding=eng_pad, dilation=dil, mode=mode)
        scale = float(np.abs(x).max() * np.abs(k).sum())
    _check_finite(op, out, scale)
    if not _agree(out, ref, scale):
        raise RuntimeError(f"{op}: the engine's conv2d and the reference loops disagree (max difference "
                           f"{np.max(np.abs(out - ref)) if out.shape == ref.shape else 'shape'}); this is a bug")
    # ... and against the window-by-window sums shown to the reader
    used = k[::-1, ::-1].copy() if mode == "convolution" else k
    xp = np.pad(x, pads)
    steps: list[ConvStep] = []
    sums = np.empty((ho, wo))
    for i in range(ho):
        for j in range(wo):
            rp = [i * st[0] + m * dil[0] for m in range(k.shape[0])]
            cp = [j * st[1] + n * dil[1] for n in range(k.shape[1])]
            window = xp[np.ix_(rp, cp)]
            prods = window * used
            sums[i, j] = prods.sum()
            out[i, j] = _exact(out[i, j], zip(window.ravel().tolist(), used.ravel().tolist()))
            steps.append(ConvStep((i, j), [r - pads[0][0] for r in rp], [c - pads[1][0] for c in cp], window,
                                  prods, float(out[i, j])))
    if not _agree(sums, out, scale):
        raise RuntimeError(f"{op}: the step-by-step sums disagree with the engine's output; this is a bug")
    res = ConvExplanation(input=x, kernel=k, kernel_used=used, stride=st, padding=pads, dilation=dil, mode=mode,
                          output=out, reference=ref, formulas={"rows": f_h, "cols": f_w}, steps=steps, title=title)
    if example == "seed000" and not _seed_settings(res):
        res.title = "seed 000's 5x5 input and 3x3 kernel, with other settings than the seed's"
    res.notes = _conv_notes(res, example)
    return res


def _conv_notes(r: ConvExplanation, example: str | None) -> list[str]:
    notes = []
    if (r.input.shape == (3, 3) and np.array_equal(r.input, np.ones((3, 3)))
            and np.array_equal(r.kernel, np.array(SEED004_KERNEL, dtype=np.float64))):
        from ..functional.reference import conv2d_reference
        valid = conv2d_reference(r.input, r.kernel, mode=r.mode)             # the seed's settings: no padding
        same = conv2d_reference(r.input, r.kernel, padding=1, mode=r.mode)
        head = ("Seed 004 (sections 3.2 and 4.3) gives a 3x3 matrix of ones as the result of this example. That is "
                "wrong: without padding a 3x3 kernel fits on a 3x3 input in exactly one place, so the output is 1x1, "
                f"{_jsonmat(valid)}; the seed's 'second' and 'third' windows do not exist. With zero padding 1 "
                f"('same') the output is 3x3 but not all ones: {_jsonmat(same)}")
        if _seed_settings(r):
            notes.append(head + " (try --padding same).")
        elif r.stride == (1, 1) and r.dilation == (1, 1) and r.padding == ((1, 1), (1, 1)):
            ksum = _jsonnum(r.kernel.sum())
            notes.append(head + f". At the centre the whole kernel lies on the input and the result is the sum of "
                         f"its weights, {ksum}; at the border the zero padding hides part of the kernel, so each "
                         "result there sums only the weights still on the input.")
        else:
            notes.append(head + ". The output above uses other settings (stride, padding or dilation).")
    if example == "seed000" and _seed_settings(r):
        notes.append(_SEED000_CONV_NOTE)
    return notes


def _seed_settings(r: ConvExplanation) -> bool:
    """Stride 1, no padding, no dilation, cross-correlation: the settings the seeds' worked examples use."""
    return (r.stride == (1, 1) and r.padding == ((0, 0), (0, 0)) and r.dilation == (1, 1)
            and r.mode == "correlation")


# ----------------------------------------------------------------------------------------------- pooling
@dataclass
class PoolStep:
    """One output cell of pooling: the window, and its maximum (with its input position) or its mean."""

    position: tuple[int, int]
    rows: list[int]
    cols: list[int]
    window: np.ndarray
    value: float
    argmax: tuple[int, int] | None = None      # max pooling: input (row, col) of the (first) maximum
    total: float | None = None                 # average pooling: sum of the window
    divisor: int | None = None                 # average pooling: number of elements divided by

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"position": list(self.position), "input_rows": self.rows, "input_cols": self.cols,
                             "window": _jsonmat(self.window), "value": _jsonnum(self.value)}
        if self.argmax is not None:
            d["argmax"] = list(self.argmax)
        if self.total is not None:
            d["sum"], d["divisor"] = _jsonnum(self.total), self.divisor
        return d


@dataclass
class PoolExplanation:
    """Everything ``explain pool`` shows; ``output`` is the engine's result (H_out, W_out), float64."""

    input: np.ndarray
    kind: str
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    output: np.ndarray
    reference: np.ndarray
    formulas: dict[str, str]
    steps: list[PoolStep]
    title: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def output_shape(self) -> tuple[int, int]:
        return tuple(int(n) for n in self.output.shape)  # type: ignore[return-value]

    def to_dict(self) -> dict:
        """JSON-ready: ``{"output", "output_shape", "steps", "kind", "kernel_size", "stride", "padding", ...}``."""
        return {"operation": f"{self.kind}_pool2d", "title": self.title, "kind": self.kind,
                "input": _jsonmat(self.input), "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": list(self.padding), "output_size": dict(self.formulas), "output": _jsonmat(self.output),
                "output_shape": list(self.output_shape), "steps": [s.to_dict() for s in self.steps],
                "engine": f"scratchcnn.functional.{self.kind}_pool2d (float64)",
                "checked_against": f"scratchcnn.functional.reference.{self.kind}_pool2d_reference",
                "notes": list(self.notes)}

    def to_text(self, max_steps: int | None = None) -> str:
        from .explain_text import pool_text
        return pool_text(self, max_steps)


def _pool_size_formula(n: int, k: int, s: int, p: int) -> tuple[int, str]:
    out = (n + 2 * p - k) // s + 1
    return out, f"floor(({n} + {p} + {p} - {k}) / {s}) + 1 = {out}"


def explain_pool(input: Any = None, kernel_size: Any = 2, stride: Any = None, padding: Any = 0,
                 kind: str = "max", example: str | None = None) -> PoolExplanation:
    """Explain 2-D max or average pooling of a matrix, window by window.

    Args:
        input: (H, W) matrix (array, nested list, JSON text, ``.json``/``.npy``/image file); default: seed 000's
            4x4 example.
        kernel_size: window size, int or pair. stride: int or pair, default = kernel_size.
        padding: int or pair, at most half the window (max pooling pads with -inf, average with zeros that
            count in the divisor, like PyTorch's defaults).
        kind: ``"max"`` or ``"avg"``.
    """
    from .. import functional as F
    from ..functional.reference import avg_pool2d_reference, max_pool2d_reference
    from ..tensor import Tensor

    op = "explain pool"
    if kind not in ("max", "avg"):
        raise ValueError(f"{op}: kind must be 'max' or 'avg', got {kind!r}")
    if example is None and input is None:
        example = "seed000"
    title = ""
    if example is not None:
        if example not in POOL_EXAMPLES:
            raise ValueError(f"{op}: unknown example {example!r}; known: {', '.join(POOL_EXAMPLES)}")
        input = POOL_EXAMPLES[example]["input"] if input is None else input
        title = POOL_EXAMPLES[example]["title"]
    x = load_matrix(input, "input")
    ks = _pair(kernel_size, "kernel_size", op, 1)
    st = ks if stride is None else _pair(stride, "stride", op, 1)
    pd = _pair(padding, "padding", op, 0)
    if any(p > kk // 2 for p, kk in zip(pd, ks)):
        raise ValueError(f"{op}: padding {pd} must be at most half the window {ks} (as in PyTorch)")
    if any(kk > n + 2 * p for kk, n, p in zip(ks, x.shape, pd)):
        raise ValueError(f"{op}: the {ks[0]}x{ks[1]} window is larger than the padded input "
                         f"{x.shape[0] + 2 * pd[0]}x{x.shape[1] + 2 * pd[1]} (input {x.shape[0]}x{x.shape[1]}, "
                         f"padding {pd[0]}x{pd[1]})")
    (ho, f_h), (wo, f_w) = (_pool_size_formula(x.shape[a], ks[a], st[a], pd[a]) for a in range(2))
    if ho * wo > MAX_CELLS:
        raise ValueError(f"{op}: the output would have {ho}x{wo} = {ho * wo} cells; explain walks through at most "
                         f"{MAX_CELLS} (crop or shrink the input)")
    t = Tensor(x[None, None])
    with np.errstate(over="ignore", invalid="ignore"):    # an overflow is refused in one line below
        if kind == "max":
            out = F.max_pool2d(t, ks, st, pd).data[0, 0]
            ref = max_pool2d_reference(x, ks, st, pd)
        else:
            out = F.avg_pool2d(t, ks, st, pd).data[0, 0]
            ref = avg_pool2d_reference(x, ks, st, pd)
    scale = float(np.abs(x).max())
    _check_finite(op, out, scale)
    if not _agree(out, ref, scale):
        raise RuntimeError(f"{op}: the engine's {kind}_pool2d and the reference loops disagree; this is a bug")
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, [(pd[0], pd[0]), (pd[1], pd[1])], constant_values=fill)
    steps: list[PoolStep] = []
    vals = np.empty((ho, wo))
    for i in range(ho):
        for j in range(wo):
            rp = [i * st[0] + m for m in range(ks[0])]
            cp = [j * st[1] + n for n in range(ks[1])]
            win = xp[np.ix_(rp, cp)]
            rows, cols = [r - pd[0] for r in rp], [c - pd[1] for c in cp]
            if kind == "max":
                a = np.unravel_index(int(np.argmax(win)), win.shape)
                vals[i, j] = win[a]
                steps.append(PoolStep((i, j), rows, cols, win, float(out[i, j]), argmax=(rows[a[0]], cols[a[1]])))
            else:
                ones = [(v, 1.0) for v in win.ravel().tolist()]
                total, div = _exact(float(win.sum()), ones), ks[0] * ks[1]
                vals[i, j] = total / div
                out[i, j] = _exact(out[i, j], ones, div)
                steps.append(PoolStep((i, j), rows, cols, win, float(out[i, j]), total=total, divisor=div))
    if not _agree(vals, out, scale):
        raise RuntimeError(f"{op}: the window-by-window values disagree with the engine's output; this is a bug")
    res = PoolExplanation(input=x, kind=kind, kernel_size=ks, stride=st, padding=pd, output=out, reference=ref,
                          formulas={"rows": f_h, "cols": f_w}, steps=steps, title=title)
    if example == "seed000":
        if ks == (2, 2) and st == (2, 2) and pd == (0, 0):
            res.notes.append(_SEED000_POOL_NOTE + ("" if kind == "max" else
                             " Average pooling takes the mean of the same windows instead of their maximum."))
        else:
            res.title = "seed 000's 4x4 input, with other settings than the seed's 2x2 window and stride 2"
    return res
