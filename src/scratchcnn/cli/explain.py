"""``scratchcnn explain conv|pool|kernels``: convolution and pooling, step by step (thin over ``scratchcnn.viz``)."""
from __future__ import annotations

import click

from ._common import emit_json, stdout_to_stderr


def _ints(text: str | None, name: str, allow_words: tuple[str, ...] = ()):
    """``"2"`` -> 2, ``"1,2"`` -> (1, 2), or one of ``allow_words``; None stays None."""
    if text is None:
        return None
    t = text.strip().lower()
    if t in allow_words:
        return t
    try:
        parts = [int(p) for p in t.replace("x", ",").split(",")]
    except ValueError:
        words = f", {' or '.join(repr(w) for w in allow_words)}" if allow_words else ""
        raise click.BadParameter(f"--{name} expects an int or two ints like 1,2{words}; got {text!r}") from None
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        return tuple(parts)
    raise click.BadParameter(f"--{name} expects one or two ints (rows,cols), got {text!r}")


@click.group()
def explain():
    """Explain convolution and pooling step by step (numbers from the engine, checked against the textbook loops)."""


@explain.command("conv")
@click.option("--input", "input_", metavar="FILE|JSON",
              help="Input matrix: inline JSON like '[[1,2],[3,4]]', a .json/.npy file or an image (grayscale).")
@click.option("--kernel", metavar="NAME|FILE|JSON",
              help="Kernel: identity, edge, sobel-x, sobel-y, laplacian, box-blur, gaussian, sharpen, or a matrix.")
@click.option("--example", type=click.Choice(["seed004", "seed000"]),
              help="A worked example (default seed004 when neither --input nor --kernel is given).")
@click.option("--stride", default="1", show_default=True, help="An int or rows,cols.")
@click.option("--padding", default="0", show_default=True, help="An int, rows,cols, 'same' or 'valid'.")
@click.option("--dilation", default="1", show_default=True, help="An int or rows,cols.")
@click.option("--mode", type=click.Choice(["correlation", "convolution"]), default="correlation", show_default=True,
              help="correlation = PyTorch's conv2d; convolution flips the kernel first.")
@click.option("--max-steps", type=click.IntRange(min=0), help="Show at most N windows (text output).")
@click.option("--json", "as_json", is_flag=True,
              help='Print one JSON object {"output", "output_shape", "steps", ...}.')
def conv(input_, kernel, example, stride, padding, dilation, mode, max_steps, as_json):
    """Explain a 2-D convolution: output-size formula, every window with its products and sum, the output.

    With no options: seed 004's example (a 3x3 input of ones), whose published answer is wrong.
    """
    from ..viz import explain_conv
    with stdout_to_stderr(as_json):
        res = explain_conv(input_, kernel, stride=_ints(stride, "stride"),
                           padding=_ints(padding, "padding", ("same", "valid")),
                           dilation=_ints(dilation, "dilation"), mode=mode, example=example)
    if as_json:
        emit_json(res.to_dict())
        return
    click.echo(res.to_text(max_steps))


@explain.command("pool")
@click.option("--input", "input_", metavar="FILE|JSON",
              help="Input matrix (inline JSON, .json/.npy file or image); default seed 000's 4x4 example.")
@click.option("--kind", type=click.Choice(["max", "avg"]), default="max", show_default=True)
@click.option("--kernel-size", default="2", show_default=True, help="Window size: an int or rows,cols.")
@click.option("--stride", help="An int or rows,cols (default: the window size).")
@click.option("--padding", default="0", show_default=True, help="An int or rows,cols (at most half the window).")
@click.option("--max-steps", type=click.IntRange(min=0), help="Show at most N windows (text output).")
@click.option("--json", "as_json", is_flag=True,
              help='Print one JSON object {"output", "output_shape", "steps", ...}.')
def pool(input_, kind, kernel_size, stride, padding, max_steps, as_json):
    """Explain 2-D max or average pooling window by window (default: seed 000's 4x4 -> 2x2)."""
    from ..viz import explain_pool
    with stdout_to_stderr(as_json):
        res = explain_pool(input_, kernel_size=_ints(kernel_size, "kernel-size"), stride=_ints(stride, "stride"),
                           padding=_ints(padding, "padding"), kind=kind)
    if as_json:
        emit_json(res.to_dict())
        return
    click.echo(res.to_text(max_steps))


@explain.command("kernels")
@click.option("--json", "as_json", is_flag=True, help='Print one JSON object {"kernels": {name: matrix}}.')
def kernels(as_json):
    """List the named classic kernels usable as --kernel."""
    from ..viz.explain_text import matrix_lines
    from ..viz.kernels import KERNEL_DESCRIPTIONS, get_kernel, kernel_names
    if as_json:
        emit_json({"kernels": {n: get_kernel(n).tolist() for n in kernel_names()},
                   "descriptions": dict(KERNEL_DESCRIPTIONS)})
        return
    for n in kernel_names():
        click.echo(f"{n}: {KERNEL_DESCRIPTIONS[n]}")
        click.echo("\n".join(matrix_lines(get_kernel(n))))
