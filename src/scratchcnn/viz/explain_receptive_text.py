"""Plain-text rendering of ``explain receptive-field``: the recurrences, one table row per conv/pool layer (one
table per axis when the axes differ), each layer's numbers in the recurrences, and what the last layer sees."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from .explain_receptive import RECURRENCES, _dims
from .explain_text import _how_many, _wrap as wrap, fmt

if TYPE_CHECKING:  # pragma: no cover
    from .explain_receptive import ReceptiveFieldExplanation

__all__ = ["receptive_field_text"]


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], indent: int = 2) -> list[str]:
    """Columns left-aligned for the first three cells (names, types, shapes), right-aligned after."""
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]

    def line(cells: Sequence[str]) -> str:
        out = [c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return (" " * indent + "  ".join(out)).rstrip()
    return [line(head), " " * indent + "  ".join("-" * w for w in widths)] + [line(r) for r in rows]


def _axis_views(r: "ReceptiveFieldExplanation") -> list[tuple[str, int]]:
    """One view for all axes when every layer and value is the same on each, else one view per axis."""
    nd = len(r.spatial)
    same = all(len(set(getattr(s, a))) == 1 for s in r.steps for a in
               ("kernel", "stride", "padding", "dilation", "r", "j", "start")) and len(set(r.spatial)) == 1
    if same or nd == 1:
        return [("", 0)]
    return [(f"{name}: ", a) for a, name in enumerate(r.axes)]


def _per_axis(values: Sequence[Any], axes: Sequence[str]) -> str:
    """``4`` when every axis has the same value, else ``4 (rows), 2 (columns)``."""
    if len(set(values)) == 1:
        return fmt(values[0])
    return ", ".join(f"{fmt(v)} ({a})" for v, a in zip(values, axes))


def receptive_field_text(r: "ReceptiveFieldExplanation", max_steps: int | None = None) -> str:
    """The walk-through of a :class:`ReceptiveFieldExplanation`: the recurrences, one table row per conv/pool
    layer, every layer's numbers in the recurrences, what the last layer's outputs see."""
    u, axes, nd = r.unit, r.axes, len(r.spatial)
    views = _axis_views(r)
    alike = len(views) == 1 and nd > 1
    sample = f"{_dims(r.input_shape)} token ids" if nd == len(r.input_shape) else _dims(r.input_shape)
    L = wrap("", f"Receptive field of {r.model}, layer by layer in the order of the forward pass (one sample "
                 f"{sample}" + (f"; {' and '.join(axes)} alike, so one number stands for every axis)."
                                              if alike else ")."))
    L += [""] + wrap("", "Per spatial axis, for a convolution or pooling layer with kernel k, stride s, padding p "
                         "(zeros before the first position) and dilation d (Dumoulin & Visin 2016; Araujo, Norris & "
                         "Sim 2019, \"Computing receptive fields of convolutional neural networks\"):")
    L += [f"  {RECURRENCES['j']:<54} jump: input {u} between neighbouring outputs",
          f"  {RECURRENCES['r']:<54} size of the field, in input {u}",
          f"  {RECURRENCES['start']:<54} centre of the first output's field"]
    L += wrap("", f"The input: r = 1, j = 1, start = 0 ({'pixel' if nd > 1 else 'position'} i sits at coordinate "
                  "i). Output i of a layer sees the input positions start + i*j - (r - 1)/2 .. start + i*j + "
                  "(r - 1)/2; those outside the input are zero padding.")
    head = ("layer", "type", "output", "k", "s", "p", "d", "r", "j", "start")
    for prefix, a in views:
        rows = [["(input)", "", _dims(r.input_shape), "", "", "", "", "1", "1", "0"]]
        rows += [[s.name, s.type, _dims(s.output_shape), str(s.kernel[a]), str(s.stride[a]), str(s.padding[a]),
                  str(s.dilation[a]), str(s.r[a]), str(s.j[a]), fmt(s.start[a])] for s in r.steps]
        L += ["", f"{prefix[:-2]}:" if prefix else "layers:"] + _table(head, rows)
        if r.whole_input_from is not None:
            name, kind = r.whole_input_from
            L.append(f"  {name} ({kind}): from here on every output sees the whole {_dims(r.spatial)} input")
    shown = _how_many(len(r.steps), max_steps)
    L += ["", "Step by step:"]
    for s in r.steps[:shown]:
        L.append(f"  {s.name} ({s.type}: k {_dims(s.kernel)}, s {_dims(s.stride)}, p {_dims(s.padding)}, "
                 f"d {_dims(s.dilation)})")
        width = max(len(prefix) for prefix, _ in views)
        for prefix, a in views:
            eq = s.equations(a)
            L += [f"    {prefix:<{width}}{name:<5} = {eq[name]}" for name in ("j", "r", "start")]
    if shown < len(r.steps):
        L.append(f"  ... {len(r.steps) - shown} more layer(s) not shown (--json shows all)")
    if r.pointwise:
        L += [""] + wrap("", f"Not listed: {', '.join(r.pointwise)} (they act on each position alone, so r, j and "
                             "start stay as they are).")
    last = r.steps[-1]
    span = ", ".join(f"{name} {lo}..{hi}" for name, (lo, hi) in zip(axes, last.field_of_first()))
    L += [""] + wrap("", f"So each output of {last.name} ({_dims(last.output_shape[1:])} of them per channel) sees "
                         f"{_dims(r.r)} of the input's {_dims(r.spatial)} {u}; neighbouring outputs are "
                         f"{_per_axis(r.j, axes)} {u} apart; the first output's field is centred on input "
                         f"({', '.join(fmt(v) for v in r.start)}) and spans {span} (outside the input: zero "
                         "padding).")
    if r.whole_input_from is not None:
        L += wrap("", f"From {r.whole_input_from[0]} ({r.whole_input_from[1]}) on the positions are gone: every "
                      "output sees the whole input.")
    for note in r.notes:
        L += [""] + wrap("note: ", note)
    return "\n".join(L)
