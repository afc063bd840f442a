"""Plain-text rendering of ``explain`` results, written for someone meeting convolution for the first time."""
from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .explain import ConvExplanation, PoolExplanation

__all__ = ["fmt", "matrix_lines", "conv_text", "pool_text"]

_AUTO_ALL = 36     # show every window when there are at most this many ...
_AUTO_SOME = 12    # ... otherwise the first this many (unless max_steps says otherwise)


def fmt(v: float) -> str:
    """A number as a learner would write it: ``1``, ``-0.5``, ``1.0000004``, ``0.111111`` (1/9), ``-inf``: the
    shortest form of up to 10 significant digits that is exact, else 6 digits."""
    v = float(v)
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == round(v) and abs(v) < 1e15:
        return str(int(round(v)))
    for digits in range(6, 11):       # as short as exact: 1.0000004 stays 1.0000004, 1/9 is 0.111111
        text = f"{v:.{digits}g}"
        if float(text) == v:
            return text
    return f"{v:.6g}"


def _par(v: float) -> str:
    s = fmt(v)
    return f"({s})" if s.startswith("-") else s


def matrix_lines(a: np.ndarray, indent: int = 4) -> list[str]:
    """Rows of ``a`` with right-aligned columns."""
    cells = [[fmt(v) for v in row] for row in np.asarray(a)]
    width = max(len(c) for row in cells for c in row)
    return [" " * indent + "  ".join(c.rjust(width) for c in row) for row in cells]


def _side_by_side(blocks: Sequence[tuple[str, np.ndarray]], joins: Sequence[str], indent: int = 4) -> list[str]:
    """Matrices next to each other with a title above each and operator symbols between them."""
    cols = []
    for title, mat in blocks:
        body = matrix_lines(mat, indent=0)
        width = max(len(title), *(len(b) for b in body))
        cols.append([title.ljust(width)] + [b.rjust(len(body[0])).ljust(width) for b in body])
    n = len(cols[0])
    mid = 1 + (n - 1) // 2
    out = []
    for r in range(n):
        parts = [cols[0][r]]
        for j, col in zip(joins, cols[1:]):
            parts.append(f"  {j}  " if r == mid else " " * (len(j) + 4))
            parts.append(col[r])
        out.append(" " * indent + "".join(parts).rstrip())
    return out


def _span(idx: Sequence[int]) -> str:
    if len(idx) > 1 and all(b - a == 1 for a, b in zip(idx, idx[1:])):
        return f"{idx[0]}..{idx[-1]}"
    return ", ".join(str(i) for i in idx)


def _how_many(total: int, max_steps: int | None) -> int:
    if max_steps is None:
        return total if total <= _AUTO_ALL else _AUTO_SOME
    return max(0, min(total, int(max_steps)))


def _wrap(prefix: str, text: str) -> list[str]:
    return textwrap.wrap(text, width=108, initial_indent=prefix, subsequent_indent=" " * len(prefix))


def _padding_words(pads) -> str:
    (pt, pb), (pl, pr) = pads
    if pt == pb == pl == pr:
        return f"padding {pt}" + (" (no padding, 'valid')" if pt == 0 else f" (a border of {pt} zero(s))")
    return f"padding rows {pt} above/{pb} below, columns {pl} left/{pr} right (zeros)"


def conv_text(r: "ConvExplanation", max_steps: int | None = None) -> str:
    """The step-by-step walk-through of a :class:`ConvExplanation`."""
    (H, W), (kh, kw) = r.input.shape, r.kernel.shape
    ho, wo = r.output_shape
    lines: list[str] = []
    if r.mode == "correlation":
        lines.append("2-D cross-correlation (mode=correlation): what PyTorch's conv2d and every CNN layer compute,")
        lines.append("out[i, j] = sum over m, n of in[i*stride + m*dilation, j*stride + n*dilation] * K[m, n]")
    else:
        lines.append("2-D convolution (mode=convolution): the mathematical convolution flips the kernel first,")
        lines.append("K'[m, n] = K[kH-1-m, kW-1-n] (rotated 180 degrees), then slides K' like a cross-correlation.")
    if r.title:
        lines.append(f"Example: {r.title}.")
    lines += ["", f"input ({H}x{W}):", *matrix_lines(r.input), f"kernel K ({kh}x{kw}):", *matrix_lines(r.kernel)]
    if r.mode == "convolution":
        lines += [f"flipped kernel K' ({kh}x{kw}), the one that slides:", *matrix_lines(r.kernel_used)]
    lines.append(f"stride {r.stride[0]}x{r.stride[1]}, {_padding_words(r.padding)}, "
                 f"dilation {r.dilation[0]}x{r.dilation[1]}")
    lines += ["", "output size, per axis: floor((n + pad_before + pad_after - dilation*(k - 1) - 1) / stride) + 1",
              f"  rows:    {r.formulas['rows']}", f"  columns: {r.formulas['cols']}",
              f"  -> the output is {ho}x{wo}: the kernel fits in {ho * wo} position(s)"]
    if any(p for pair in r.padding for p in pair) and max(H, W) <= 16:
        lines += ["input with its zero padding:", *matrix_lines(np.pad(r.input, r.padding))]
    total = len(r.steps)
    shown = _how_many(total, max_steps)
    kname = "K'" if r.mode == "convolution" else "K"
    for s in r.steps[:shown]:
        i, j = s.position
        outside = any(v < 0 or v >= H for v in s.rows) or any(v < 0 or v >= W for v in s.cols)
        lines += ["", f"out[{i}, {j}]: the window at input rows {_span(s.rows)}, columns {_span(s.cols)}"
                  + (" (outside the input: zero padding)" if outside else "")]
        lines += _side_by_side([("window", s.window), (kname, r.kernel_used), ("products", s.products)],
                               ["x", "="])
        terms = " + ".join(f"{_par(a)}*{_par(b)}" for a, b in zip(s.window.ravel(), r.kernel_used.ravel()))
        lines += _wrap("  sum = ", f"{terms} = {fmt(s.sum)}")
    if shown < total:
        lines += ["", f"... {total - shown} more window(s) not shown (--max-steps {total} or --json shows all)"]
    lines += ["", f"output ({ho}x{wo}):", *matrix_lines(r.output),
              "checked: the engine (scratchcnn.functional.conv2d, float64), the textbook loops "
              "(functional/reference.py) and the sums above agree."]
    for n in r.notes:
        lines += [""] + _wrap("note: ", n)
    return "\n".join(lines)


def pool_text(r: "PoolExplanation", max_steps: int | None = None) -> str:
    """The step-by-step walk-through of a :class:`PoolExplanation`."""
    H, W = r.input.shape
    ho, wo = r.output_shape
    (kh, kw), (sh, sw), (ph, pw) = r.kernel_size, r.stride, r.padding
    lines: list[str] = []
    if r.kind == "max":
        lines.append("2-D max pooling: each output cell is the largest value in its window "
                     "(padding counts as -infinity).")
    else:
        lines.append("2-D average pooling: each output cell is the mean of its window "
                     "(padding counts as zeros, and in the divisor).")
    if r.title:
        lines.append(f"Example: {r.title}.")
    lines += ["", f"input ({H}x{W}):", *matrix_lines(r.input),
              f"window {kh}x{kw}, stride {sh}x{sw}, padding {ph}x{pw}",
              "", "output size, per axis: floor((n + pad_before + pad_after - k) / stride) + 1",
              f"  rows:    {r.formulas['rows']}", f"  columns: {r.formulas['cols']}",
              f"  -> the output is {ho}x{wo}"]
    total = len(r.steps)
    shown = _how_many(total, max_steps)
    for s in r.steps[:shown]:
        i, j = s.position
        lines += ["", f"out[{i}, {j}]: the window at input rows {_span(s.rows)}, columns {_span(s.cols)}",
                  *matrix_lines(s.window)]
        vals = ", ".join(fmt(v) for v in s.window.ravel())
        if r.kind == "max":
            lines.append(f"  max({vals}) = {fmt(s.value)}  (at input[{s.argmax[0]}, {s.argmax[1]}])")
        else:
            plus = " + ".join(_par(v) for v in s.window.ravel())
            lines += _wrap("  mean = ", f"({plus}) / {s.divisor} = {fmt(s.total)} / {s.divisor} = {fmt(s.value)}")
    if shown < total:
        lines += ["", f"... {total - shown} more window(s) not shown (--max-steps {total} or --json shows all)"]
    lines += ["", f"output ({ho}x{wo}):", *matrix_lines(r.output),
              f"checked: the engine (scratchcnn.functional.{r.kind}_pool2d, float64), the textbook loops "
              "(functional/reference.py) and the values above agree."]
    for n in r.notes:
        lines += [""] + _wrap("note: ", n)
    return "\n".join(lines)
