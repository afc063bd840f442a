"""``scratchcnn explain conv|pool|conv-transpose|batchnorm|receptive-field|kernels``: convolution, pooling,
transposed convolution, batch norm and a model's receptive fields, step by step (thin over ``scratchcnn.viz``)."""
from __future__ import annotations

import click

from ._common import emit_json, stdout_to_stderr


def _show(res, as_json: bool, max_steps: int | None) -> None:
    """Print an explanation: one JSON object with ``--json``, else its text (at most ``max_steps`` steps)."""
    if as_json:
        emit_json(res.to_dict())
    else:
        click.echo(res.to_text(max_steps))


def _ints(text: str | None, name: str, allow_words: tuple[str, ...] = (), most: int = 2):
    """``"2"`` -> 2, ``"1,2"`` -> (1, 2) (at most ``most`` ints), or one of ``allow_words``; None stays None."""
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
    if 2 <= len(parts) <= most:
        return tuple(parts)
    if most > 2:
        raise click.BadParameter(f"--{name} expects at most {most} ints separated by commas (like 1,28,28), got "
                                 f"{text!r}")
    raise click.BadParameter(f"--{name} expects one or two ints (rows,cols), got {text!r}")


@click.group()
def explain():
    """Explain convolution, pooling, transposed convolution, batch norm and receptive fields step by step (numbers
    from the engine, checked against independent recomputations)."""


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
    _show(res, as_json, max_steps)


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
    _show(res, as_json, max_steps)


def _floats(text: str | None, name: str):
    """``"2"`` -> 2.0, ``"2,0.5"`` -> [2.0, 0.5]; None stays None."""
    if text is None:
        return None
    try:
        vals = [float(p) for p in text.replace(";", ",").split(",")]
    except ValueError:
        raise click.BadParameter(f"--{name} expects a number or comma-separated numbers (one per channel) like "
                                 f"2,0.5; got {text!r}") from None
    return vals[0] if len(vals) == 1 else vals


@explain.command("conv-transpose")
@click.option("--input", "input_", metavar="FILE|JSON",
              help="Input matrix (inline JSON, .json/.npy file or image); default [[1,2],[3,4]].")
@click.option("--kernel", metavar="NAME|FILE|JSON",
              help="Kernel: a name (see `explain kernels`) or a matrix; default [[1,0,2],[0,1,0],[3,0,1]].")
@click.option("--stride", default="2", show_default=True, help="An int or rows,cols.")
@click.option("--padding", default="0", show_default=True, help="An int or rows,cols (cropped from each side).")
@click.option("--output-padding", default="0", show_default=True,
              help="An int or rows,cols, smaller than stride or dilation (added at the bottom/right).")
@click.option("--dilation", default="1", show_default=True, help="An int or rows,cols.")
@click.option("--max-steps", type=click.IntRange(min=0), help="Show at most N steps per part (text output).")
@click.option("--json", "as_json", is_flag=True,
              help='Print one JSON object {"output", "output_shape", "steps", "cells", "as_convolution", ...}.')
def conv_transpose(input_, kernel, stride, padding, output_padding, dilation, max_steps, as_json):
    """Explain a transposed convolution twice: scatter-and-add of kernel copies, and a convolution of the
    zero-upsampled, padded input with the flipped kernel (default: 2x2 input, 3x3 kernel, stride 2 -> 5x5)."""
    from ..viz import explain_conv_transpose
    with stdout_to_stderr(as_json):
        res = explain_conv_transpose(input_, kernel, stride=_ints(stride, "stride"),
                                     padding=_ints(padding, "padding"),
                                     output_padding=_ints(output_padding, "output-padding"),
                                     dilation=_ints(dilation, "dilation"))
    _show(res, as_json, max_steps)


@explain.command("batchnorm")
@click.option("--input", "input_", metavar="FILE|JSON",
              help="Batch N x C x H x W: inline JSON nested lists or a .json/.npy file; default 2x2x2x2.")
@click.option("--gamma", help="Scale (weight): one number or one per channel, like 2,0.5 (default: the example's, "
                              "else 1).")
@click.option("--beta", help="Shift (bias): one number or one per channel (default: the example's, else 0).")
@click.option("--eps", type=float, default=1e-5, show_default=True, help="Added to the variance.")
@click.option("--momentum", type=float, default=0.1, show_default=True, help="Running-statistics factor, 0..1.")
@click.option("--running-mean", default="0", show_default=True, help="Running mean before the step (per channel).")
@click.option("--running-var", default="1", show_default=True, help="Running variance before the step.")
@click.option("--max-steps", type=click.IntRange(min=0), help="Show at most N values per channel (text output).")
@click.option("--json", "as_json", is_flag=True,
              help='Print one JSON object {"output", "output_shape", "steps", "running_mean", "eval_output", ...}.')
def batchnorm(input_, gamma, beta, eps, momentum, running_mean, running_var, max_steps, as_json):
    """Explain BatchNorm2d: per-channel mean and variance, normalisation, gamma/beta, the running-statistics
    update (training mode), then eval mode with the running statistics."""
    from ..viz import explain_batchnorm
    with stdout_to_stderr(as_json):
        res = explain_batchnorm(input_, gamma=_floats(gamma, "gamma"), beta=_floats(beta, "beta"), eps=eps,
                                momentum=momentum, running_mean=_floats(running_mean, "running-mean"),
                                running_var=_floats(running_var, "running-var"))
    _show(res, as_json, max_steps)


@explain.command("receptive-field")
@click.option("--model", default="seed000", show_default=True, metavar="NAME|CKPT",
              help="A built-in model (seed000, seed001, lenet5, charcnn, ...) or a checkpoint folder.")
@click.option("--input-shape", metavar="SIZES",
              help="One sample's shape: C,H,W for an image model (default: the model's, e.g. 1,28,28), L for a "
                   "text model.")
@click.option("--json", "as_json", is_flag=True,
              help='Print one JSON object {"layers", "r", "j", "start", "recurrences", "whole_input_from", ...}.')
def receptive_field(model, input_shape, as_json):
    """Work out the receptive field (size r, jump j, start) after every conv and pooling layer of a model, with
    the recurrences written out in numbers (Dumoulin & Visin 2016; Araujo, Norris & Sim 2019)."""
    from ..viz.explain_receptive import explain_receptive_field
    with stdout_to_stderr(as_json):
        res = explain_receptive_field(model, input_shape=_ints(input_shape, "input-shape", most=3))
    _show(res, as_json, None)


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
