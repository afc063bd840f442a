"""``scratchcnn export CKPT --out model.onnx``: the checkpoint's model as an ONNX file (``scratchcnn[onnx]``)."""
from __future__ import annotations

import click

from ._common import emit_json, stdout_to_stderr


def _onnx_name(ctx, param, value):
    """--out must name an .onnx file (an ONNX graph written over report.html or a picture is refused)."""
    if value is not None and not str(value).lower().endswith(".onnx"):
        raise click.BadParameter(f"give an output file ending in .onnx, got {value!r}")
    return value


@click.command()
@click.argument("checkpoint", type=click.Path(exists=True))   # a file too: a .pt is refused with how to convert it
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), callback=_onnx_name,
              help="The .onnx file to write.")
@click.option("--opset", type=click.IntRange(min=1), default=17, show_default=True, help="ONNX opset version.")
@click.option("--json", "as_json", is_flag=True,
              help='Print one JSON object {"out", "opset", "inputs", "outputs", "bytes"}.')
def export(checkpoint, out, opset, as_json):
    """Export a checkpoint's model to ONNX (input "input" (N, C, H, W), output "logits"; LoRA merged).

    The checkpoint's normalisation (mean/std) and class names go into the ONNX model's metadata_props.
    """
    from ..io.onnx_export import export_checkpoint
    with stdout_to_stderr(as_json):
        res = export_checkpoint(checkpoint, out, opset=opset)
    if as_json:
        emit_json({k: res[k] for k in ("out", "opset", "inputs", "outputs", "bytes")})
        return

    def show(io: dict) -> str:
        return f"{io['name']} {tuple(io['shape'])} {io['dtype']}"

    click.echo(f"wrote {res['out']} ({res['bytes']:,} bytes, opset {res['opset']})")
    click.echo(f"  inputs:  {', '.join(show(i) for i in res['inputs'])}")
    click.echo(f"  outputs: {', '.join(show(o) for o in res['outputs'])}")
    click.echo(f"  preprocess: normalization {res['metadata']['normalization']}")
