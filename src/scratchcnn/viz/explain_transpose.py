"""Step-by-step explanation of a 2-D transposed convolution (PyTorch's ``conv_transpose2d``) on a tiny input.

Same rules as :mod:`scratchcnn.viz.explain`: every number shown comes from the engine in float64
(``scratchcnn.functional.conv_transpose2d``) and is recomputed here in two independent ways (the scatter-and-add
sums, and the stride-1 convolution of the zero-upsampled input with the flipped kernel); any disagreement raises
``RuntimeError`` (it would be a bug).

    >>> from scratchcnn.viz import explain_conv_transpose
    >>> explain_conv_transpose().output_shape       # 2x2 input, 3x3 kernel, stride 2
    (5, 5)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .explain import MAX_CELLS, ConvStep, _agree, _check_finite, _exact, _jsonmat, _jsonnum, _pair
from .explain_text import _how_many, _span, fmt
from .explain_text import _par as par, _side_by_side as side, _wrap as wrap, matrix_lines as mlines
from .inputs import load_kernel, load_matrix

__all__ = ["ScatterStep", "CellSum", "ConvTransposeExplanation", "explain_conv_transpose", "conv_transpose_text",
           "CONV_TRANSPOSE_EXAMPLE"]

CONV_TRANSPOSE_EXAMPLE: dict[str, Any] = {
    "input": [[1, 2], [3, 4]],
    "kernel": [[1, 0, 2], [0, 1, 0], [3, 0, 1]],
    "title": "a 2x2 input, a 3x3 kernel, stride 2 -> 5x5 (the kernel copies overlap on the middle row and column)",
}


# =============================================================================================== transposed conv
@dataclass
class ScatterStep:
    """One input value times the kernel, added onto the canvas at rows ``rows`` and columns ``cols`` (canvas
    coordinates; the output is the canvas without ``padding`` rows/columns on each side)."""

    position: tuple[int, int]
    value: float
    rows: list[int]
    cols: list[int]
    contribution: np.ndarray
    canvas_after: np.ndarray

    def to_dict(self) -> dict:
        return {"input_position": list(self.position), "value": _jsonnum(self.value), "canvas_rows": self.rows,
                "canvas_cols": self.cols, "contribution": _jsonmat(self.contribution),
                "canvas_after": _jsonmat(self.canvas_after)}


@dataclass
class CellSum:
    """One output cell as the sum of the kernel copies that reach it: terms ``(input (i, j), kernel (m, n),
    x[i, j], K[m, n])``; no terms = no input reaches the cell (0)."""

    position: tuple[int, int]
    terms: list[tuple[tuple[int, int], tuple[int, int], float, float]]
    sum: float

    def to_dict(self) -> dict:
        return {"position": list(self.position), "sum": _jsonnum(self.sum),
                "terms": [{"input_position": list(ij), "kernel_position": list(mn), "input_value": _jsonnum(a),
                           "kernel_value": _jsonnum(b)} for ij, mn, a, b in self.terms]}


@dataclass
class ConvTransposeExplanation:
    """Everything ``explain conv-transpose`` shows; ``output`` is the engine's result (H_out, W_out), float64."""

    input: np.ndarray
    kernel: np.ndarray
    stride: tuple[int, int]
    padding: tuple[int, int]
    output_padding: tuple[int, int]
    dilation: tuple[int, int]
    output: np.ndarray
    formulas: dict[str, str]
    canvas: np.ndarray                  # the full scatter canvas, before cropping `padding` from each side
    steps: list[ScatterStep]
    cells: list[CellSum]
    upsampled: np.ndarray               # the input with stride-1 zeros between its values
    conv_padding: tuple[tuple[int, int], tuple[int, int]]   # zeros added (negative: cropped) before/after
    conv_input: np.ndarray              # upsampled and padded: what the flipped kernel slides over
    kernel_flipped: np.ndarray
    conv_formulas: dict[str, str]
    conv_steps: list[ConvStep]
    title: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def output_shape(self) -> tuple[int, int]:
        return tuple(int(n) for n in self.output.shape)  # type: ignore[return-value]

    def to_dict(self) -> dict:
        """JSON-ready: ``{"output", "output_shape", "steps" (the scatter steps), "cells", "as_convolution",
        "output_size", "input", "kernel", "stride", "padding", "output_padding", "dilation", ...}``."""
        return {"operation": "conv_transpose2d", "title": self.title, "input": _jsonmat(self.input),
                "kernel": _jsonmat(self.kernel), "stride": list(self.stride), "padding": list(self.padding),
                "output_padding": list(self.output_padding), "dilation": list(self.dilation),
                "output_size": dict(self.formulas), "output": _jsonmat(self.output),
                "output_shape": list(self.output_shape), "canvas": _jsonmat(self.canvas),
                "canvas_shape": list(self.canvas.shape), "steps": [s.to_dict() for s in self.steps],
                "cells": [c.to_dict() for c in self.cells],
                "as_convolution": {"upsampled": _jsonmat(self.upsampled),
                                   "padding": [list(p) for p in self.conv_padding],
                                   "input": _jsonmat(self.conv_input), "kernel_flipped": _jsonmat(self.kernel_flipped),
                                   "stride": [1, 1], "dilation": list(self.dilation),
                                   "output_size": dict(self.conv_formulas),
                                   "steps": [s.to_dict() for s in self.conv_steps]},
                "engine": "scratchcnn.functional.conv_transpose2d (float64)",
                "checked_against": ["the scatter-and-add sums", "scratchcnn.functional.conv2d of the upsampled, "
                                    "padded input with the flipped kernel",
                                    "scratchcnn.functional.reference.conv2d_reference (the same)"],
                "notes": list(self.notes)}

    def to_text(self, max_steps: int | None = None) -> str:
        return conv_transpose_text(self, max_steps)


def _tsize(n: int, k: int, s: int, p: int, d: int, op: int) -> tuple[int, str]:
    out = (n - 1) * s - 2 * p + d * (k - 1) + op + 1
    return out, f"({n} - 1)*{s} - 2*{p} + {d}*({k} - 1) + {op} + 1 = {out}"


def explain_conv_transpose(input: Any = None, kernel: Any = None, stride: Any = 2, padding: Any = 0,
                           output_padding: Any = 0, dilation: Any = 1) -> ConvTransposeExplanation:
    """Explain one 2-D transposed convolution (PyTorch's ``conv_transpose2d``, one channel in and out) twice: as
    scatter-and-add of kernel copies, and as a stride-1 convolution of the zero-upsampled, padded input with the
    flipped kernel.

    Args:
        input: (H, W) matrix (array, nested list, JSON text, ``.json``/``.npy``/image file); default 2x2.
        kernel: (kH, kW) matrix (same forms) or a kernel name (``edge``, ``sobel-x``, ...); default 3x3.
        stride: int or pair, >= 1 (default 2). padding: int or pair, >= 0 (cropped from each side of the output).
        output_padding: int or pair, smaller than max(stride, dilation) (extra rows/columns at the bottom/right).
        dilation: int or pair, >= 1.
    Raises:
        ValueError: a malformed matrix, bad stride/padding/output_padding/dilation, an empty or too large output.
    """
    from .. import functional as F
    from ..functional.reference import conv2d_reference
    from ..tensor import Tensor

    op = "explain conv-transpose"
    title = ""
    if input is None and kernel is None:
        title = CONV_TRANSPOSE_EXAMPLE["title"]
    x = load_matrix(CONV_TRANSPOSE_EXAMPLE["input"] if input is None else input, "input")
    k = load_kernel(CONV_TRANSPOSE_EXAMPLE["kernel"] if kernel is None else kernel, "kernel")
    st = _pair(stride, "stride", op, 1)
    pd = _pair(padding, "padding", op, 0)
    opd = _pair(output_padding, "output_padding", op, 0)
    dil = _pair(dilation, "dilation", op, 1)
    for a, name in enumerate(("rows", "columns")):
        if opd[a] >= max(st[a], dil[a]):
            raise ValueError(f"{op}: output_padding must be smaller than stride or dilation (PyTorch's rule), got "
                             f"output_padding {opd[a]} with stride {st[a]} and dilation {dil[a]} for the {name}")
    sizes = [_tsize(x.shape[a], k.shape[a], st[a], pd[a], dil[a], opd[a]) for a in range(2)]
    (ho, f_h), (wo, f_w) = sizes
    if ho < 1 or wo < 1:
        raise ValueError(f"{op}: the output would be {ho}x{wo} (rows: {f_h}; columns: {f_w}); use less padding")
    if ho * wo > MAX_CELLS or x.size * k.size > MAX_CELLS:
        raise ValueError(f"{op}: the output would have {ho}x{wo} = {ho * wo} cells from {x.size} kernel copies; "
                         f"explain walks through at most {MAX_CELLS} (use a smaller input or kernel)")

    # the engine (float64)
    with np.errstate(over="ignore", invalid="ignore"):    # an overflow is refused in one line below
        out = F.conv_transpose2d(Tensor(x[None, None]), Tensor(k[None, None]), stride=st, padding=pd,
                                 output_padding=opd, dilation=dil).data[0, 0].copy()
        scale = float(np.abs(x).max() * np.abs(k).sum())
    _check_finite(op, out, scale)

    # view 1: scatter each x[i, j] * K onto a canvas of (O + 2p) rows/cols, then crop p from each side
    ch, cw = ho + 2 * pd[0], wo + 2 * pd[1]
    canvas = np.zeros((ch, cw))
    terms: dict[tuple[int, int], list] = {}
    steps: list[ScatterStep] = []
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            rows = [i * st[0] + m * dil[0] for m in range(k.shape[0])]
            cols = [j * st[1] + n * dil[1] for n in range(k.shape[1])]
            contrib = x[i, j] * k
            canvas[np.ix_(rows, cols)] += contrib
            for m, r in enumerate(rows):
                for n, c in enumerate(cols):
                    terms.setdefault((r, c), []).append(((i, j), (m, n), float(x[i, j]), float(k[m, n])))
            steps.append(ScatterStep((i, j), float(x[i, j]), rows, cols, contrib, canvas.copy()))
    scattered = canvas[pd[0]:pd[0] + ho, pd[1]:pd[1] + wo]
    if not _agree(scattered, out, scale):
        raise RuntimeError(f"{op}: the scatter-and-add sums disagree with the engine's conv_transpose2d; this is a bug")
    cells: list[CellSum] = []
    for r in range(ho):
        for c in range(wo):
            t = terms.get((r + pd[0], c + pd[1]), [])
            out[r, c] = _exact(out[r, c], [(a, b) for _, _, a, b in t])
            cells.append(CellSum((r, c), t, float(out[r, c])))

    # view 2: upsample (stride-1 zeros between values), pad d*(k-1)-p (+op after), flip, slide with stride 1
    up = np.zeros(((x.shape[0] - 1) * st[0] + 1, (x.shape[1] - 1) * st[1] + 1))
    up[::st[0], ::st[1]] = x
    cpad = tuple((dil[a] * (k.shape[a] - 1) - pd[a], dil[a] * (k.shape[a] - 1) - pd[a] + opd[a]) for a in range(2))
    cin = np.pad(up, [(max(0, lo), max(0, hi)) for lo, hi in cpad])
    cin = cin[max(0, -cpad[0][0]):cin.shape[0] - max(0, -cpad[0][1]),
              max(0, -cpad[1][0]):cin.shape[1] - max(0, -cpad[1][1])]
    kf = k[::-1, ::-1].copy()
    conv_out = F.conv2d(Tensor(cin[None, None]), Tensor(kf[None, None]), dilation=dil).data[0, 0]
    conv_ref = conv2d_reference(cin, kf, dilation=dil)
    if not (_agree(conv_out, out, scale) and _agree(conv_ref, out, scale)):
        raise RuntimeError(f"{op}: the convolution of the upsampled input with the flipped kernel disagrees with "
                           "conv_transpose2d; this is a bug")
    conv_steps: list[ConvStep] = []
    for i in range(ho):
        for j in range(wo):
            rp = [i + m * dil[0] for m in range(k.shape[0])]
            cp = [j + n * dil[1] for n in range(k.shape[1])]
            window = cin[np.ix_(rp, cp)]
            conv_steps.append(ConvStep((i, j), rp, cp, window, window * kf, float(out[i, j])))
    cf = {"rows": f"{cin.shape[0]} - {dil[0]}*({k.shape[0]} - 1) = {ho}",
          "cols": f"{cin.shape[1]} - {dil[1]}*({k.shape[1]} - 1) = {wo}"}
    res = ConvTransposeExplanation(
        input=x, kernel=k, stride=st, padding=pd, output_padding=opd, dilation=dil, output=out,
        formulas={"rows": f_h, "cols": f_w}, canvas=canvas, steps=steps, cells=cells, upsampled=up,
        conv_padding=cpad, conv_input=cin, kernel_flipped=kf, conv_formulas=cf, conv_steps=conv_steps, title=title)
    if st == (1, 1):
        res.notes.append("With stride 1 nothing is upsampled: a transposed convolution is then a plain convolution "
                         "with the flipped kernel and padding dilation*(k-1) - padding ('full' convolution for "
                         "padding 0).")
    if any(lo < 0 for lo, _ in cpad):
        res.notes.append("padding is larger than dilation*(k-1) here, so view 2 crops the upsampled input instead "
                         "of padding it.")
    return res


# =============================================================================================== text
def _side(blocks: list[tuple[str, np.ndarray]], joins: list[str], indent: int = 4) -> list[str]:
    """Matrices of possibly different heights next to each other (shorter ones centred), titles above,
    operator symbols on the middle row."""
    cols = []
    height = max(np.asarray(m).shape[0] for _, m in blocks)
    for title, mat in blocks:
        body = mlines(mat, indent=0)
        width = max(len(title), *(len(b) for b in body))
        top = (height - len(body)) // 2
        body = [""] * top + [b.rjust(len(body[0])) for b in body] + [""] * (height - len(body) - top)
        cols.append([title.ljust(width)] + [b.ljust(width) for b in body])
    mid = 1 + (height - 1) // 2
    out = []
    for r in range(height + 1):
        parts = [cols[0][r]]
        for j, col in zip(joins, cols[1:]):
            parts.append(f"  {j}  " if r == mid else " " * (len(j) + 4))
            parts.append(col[r])
        out.append(" " * indent + "".join(parts).rstrip())
    return out


def conv_transpose_text(r: ConvTransposeExplanation, max_steps: int | None = None) -> str:
    """The walk-through of a :class:`ConvTransposeExplanation`: output size, scatter-and-add, the cell sums, the
    same output as a convolution of the upsampled input with the flipped kernel, the check."""
    (H, W), (kh, kw) = r.input.shape, r.kernel.shape
    ho, wo = r.output_shape
    (sh, sw), (ph, pw), (oh, ow), (dh, dw) = r.stride, r.padding, r.output_padding, r.dilation
    L: list[str] = [
        "2-D transposed convolution (PyTorch's conv_transpose2d, the upsampling layer of decoders and U-Nets):",
        "every input value x[i, j] adds a copy of the kernel, scaled by x[i, j], onto the output at row",
        "i*stride + m*dilation - padding, column j*stride + n*dilation - padding for kernel cell K[m, n];",
        "where copies overlap they add up.",
    ]
    if r.title:
        L.append(f"Example: {r.title}.")
    L += ["", f"input x ({H}x{W}):", *mlines(r.input), f"kernel K ({kh}x{kw}):", *mlines(r.kernel),
          f"stride {sh}x{sw}, padding {ph}x{pw}, output_padding {oh}x{ow}, dilation {dh}x{dw}",
          "", "output size, per axis: (n - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1",
          f"  rows:    {r.formulas['rows']}", f"  columns: {r.formulas['cols']}", f"  -> the output is {ho}x{wo}"]
    ch, cw = r.canvas.shape
    crop = ph or pw
    L += ["", "View 1: scatter and add."]
    if crop or oh or ow:
        L += wrap("  ", f"The copies land on a {ch}x{cw} canvas (canvas row = i*stride + m*dilation); the output is "
                  f"the canvas without {ph} row(s) at the top and bottom and {pw} column(s) at the left and right "
                  "(padding crops)" + (f"; output_padding {oh}x{ow} adds rows/columns at the bottom/right that "
                                       "the copies may not reach (0 there)" if oh or ow else "") + ".")
    total = len(r.steps)
    shown = _how_many(total, max_steps)
    where = "canvas" if crop else "output"
    for s in r.steps[:shown]:
        i, j = s.position
        L += ["", f"x[{i}, {j}] = {fmt(s.value)}: {fmt(s.value)} * K goes to {where} rows {_span(s.rows)}, "
                  f"columns {_span(s.cols)}"]
        L += _side([(f"x[{i}, {j}]", np.array([[s.value]])), ("K", r.kernel), ("copy", s.contribution)],
                   ["*", "="])
        if max(ch, cw) <= 12:
            L += [f"  {where} so far:", *mlines(s.canvas_after, indent=4)]
    if shown < total:
        L += ["", f"... {total - shown} more input value(s) not shown (--max-steps {total} or --json shows all)"]
    if crop:
        L += ["", f"crop the padding: output = canvas rows {ph}..{ph + ho - 1}, columns {pw}..{pw + wo - 1}"]
    L += ["", "Each output cell is the sum of the copies that reach it (x[i, j]*K[m, n] with i*stride + m*dilation "
              "- padding = row):"]
    cshown = _how_many(len(r.cells), max_steps)
    for cs in r.cells[:cshown]:
        rr, cc = cs.position
        if not cs.terms:
            L.append(f"  out[{rr}, {cc}] = 0  (no kernel copy reaches it)")
            continue
        names = " + ".join(f"x[{i},{j}]*K[{m},{n}]" for (i, j), (m, n), _, _ in cs.terms)
        nums = " + ".join(f"{par(a)}*{par(b)}" for _, _, a, b in cs.terms)
        L += wrap(f"  out[{rr}, {cc}] = ", f"{names} = {nums} = {fmt(cs.sum)}" if len(cs.terms) > 1
                  else f"{names} = {nums} = {fmt(cs.sum)}")
    if cshown < len(r.cells):
        L.append(f"  ... {len(r.cells) - cshown} more cell(s) not shown (--max-steps {len(r.cells)} or --json)")

    up = r.upsampled
    (plo_h, phi_h), (plo_w, phi_w) = r.conv_padding
    L += ["", "View 2: the same output as an ordinary convolution (stride 1)."]
    L += wrap("  1. ", f"upsample: put stride - 1 zeros between neighbouring values ({sh - 1} between rows, {sw - 1} "
              f"between columns) -> ({H} - 1)*{sh} + 1 = {up.shape[0]} rows, ({W} - 1)*{sw} + 1 = {up.shape[1]} "
              "columns")
    L += mlines(up, indent=6)
    L += wrap("  2. ", f"pad: dilation*(k - 1) - padding zeros before, that plus output_padding after -> rows "
              f"{dh}*({kh} - 1) - {ph} = {plo_h} above, {plo_h} + {oh} = {phi_h} below; columns "
              f"{dw}*({kw} - 1) - {pw} = {plo_w} left, {plo_w} + {ow} = {phi_w} right"
              + (" (negative = crop)" if min(plo_h, plo_w) < 0 else "") + f" -> {r.conv_input.shape[0]}x"
              f"{r.conv_input.shape[1]}")
    if max(r.conv_input.shape) <= 16:
        L += mlines(r.conv_input, indent=6)
    L += ["  3. flip the kernel 180 degrees: K'[m, n] = K[kH-1-m, kW-1-n]", *mlines(r.kernel_flipped, indent=6),
          "  4. slide K' over it (cross-correlation, stride 1, dilation "
          f"{dh}x{dw}): output size n - dilation*(k - 1)",
          f"     rows: {r.conv_formulas['rows']}, columns: {r.conv_formulas['cols']}"]
    vshown = _how_many(len(r.conv_steps), max_steps)
    for s in r.conv_steps[:vshown]:
        i, j = s.position
        L += ["", f"out[{i}, {j}]: the window at rows {_span(s.rows)}, columns {_span(s.cols)} of the padded "
                  "upsampled input"]
        L += side([("window", s.window), ("K'", r.kernel_flipped), ("products", s.products)], ["x", "="])
        terms = " + ".join(f"{par(a)}*{par(b)}" for a, b in zip(s.window.ravel(), r.kernel_flipped.ravel()))
        L += wrap("  sum = ", f"{terms} = {fmt(s.sum)}")
    if vshown < len(r.conv_steps):
        L += ["", f"... {len(r.conv_steps) - vshown} more window(s) not shown (--max-steps {len(r.conv_steps)} or "
                  "--json shows all)"]
    L += ["", f"output ({ho}x{wo}):", *mlines(r.output),
          "checked: the engine (scratchcnn.functional.conv_transpose2d, float64), the scatter-and-add sums, and "
          "conv2d of the upsampled input with the flipped kernel (engine and textbook loops) agree."]
    for note in r.notes:
        L += [""] + wrap("note: ", note)
    return "\n".join(L)
