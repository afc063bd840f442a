"""``scratchcnn predict CKPT IMAGE...``: classify pictures (any size/colour, fitted to 28x28 the way the
checkpoint's dataset was made: MNIST's 20-pixel box and centre of mass for digits, the full frame for
Fashion-MNIST)."""
from __future__ import annotations

import click

from ._common import emit_json, stdout_to_stderr


@click.command()
@click.argument("checkpoint", type=click.Path(exists=True))   # a file: a .pt is refused with how to convert it
@click.argument("images", nargs=-1, required=True, type=click.Path())
@click.option("--top-k", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object {\"predictions\": [...]}.")
def predict(checkpoint, images, top_k, as_json):
    """Predict the class of each image file (a folder: each image file in it)."""
    from ..text.run import find_text_checkpoint
    from ..train.predict import predict_images
    if find_text_checkpoint(checkpoint) is not None:
        raise click.UsageError(f"checkpoint {checkpoint} holds a text classifier, not an image model; use "
                               "`scratchcnn predict-text` for sentences")
    with stdout_to_stderr(as_json):
        preds = predict_images(checkpoint, list(images), top_k=top_k)
    if as_json:
        emit_json({"checkpoint": checkpoint, "predictions": preds})
        return
    for p in preds:
        others = ", ".join(f"{t['label']} {t['probability']:.3f}" for t in p["top_k"])
        click.echo(f"{p['file']}: {p['label']} ({p['probability']:.3f})   top-{len(p['top_k'])}: {others}")
