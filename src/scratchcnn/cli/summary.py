"""``scratchcnn summary MODEL|CKPT``: Keras-style table of layers, output shapes, parameters and FLOPs."""
from __future__ import annotations

from pathlib import Path

import click

from ._common import emit_json, stdout_to_stderr


@click.command()
@click.argument("model")
@click.option("--num-classes", type=click.IntRange(min=1), default=10, show_default=True,
              help="Output classes (for a model name).")
@click.option("--input-shape", metavar="SIZES",
              help="One sample's shape, comma-separated: C,H,W for an image model (default: the model's, e.g. "
                   "1,28,28), L (token ids per text) for a text model such as textcnn (default: 64).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object: the table's rows as 'layers', the totals, and 'finetune' (null unless "
                   "MODEL is a checkpoint written by scratchcnn finetune).")
def summary(model, num_classes, input_shape, as_json):
    """Summarise a registered model (by name) or the model in a checkpoint folder."""
    from .. import models
    shape = None
    if input_shape is not None:
        try:
            shape = tuple(int(s) for s in input_shape.replace("x", ",").split(",") if s.strip())
        except ValueError:
            shape = ()
        if not shape or min(shape) < 1:
            raise click.BadParameter(f"--input-shape {input_shape!r} is not a list of positive sizes such as "
                                     "1,28,28 or 64",
                                     param_hint="--input-shape")
    meta: dict = {}
    with stdout_to_stderr(as_json):
        if Path(model).is_dir():
            net, meta = models.load_model(model)
        elif model in models.list_models():
            net = models.get(model, num_classes=num_classes)
        else:
            raise click.BadParameter(f"{model!r} is neither a checkpoint folder nor a model "
                                     f"({', '.join(models.list_models())})", param_hint="MODEL")
        s = models.summary(net, input_shape=shape)
    ft = _finetune_info(meta)
    if as_json:
        emit_json(dict(s.to_dict(), finetune=ft))
    else:
        click.echo(str(s))
        if ft is not None:
            click.echo(f"Fine-tuned checkpoint ({ft['strategy']}, {ft['kind']}): fine-tuning trained "
                       f"{ft['trainable_params']:,} of its {ft['total_params']:,} parameters; the counts above "
                       "are the rebuilt model's (its requires_grad flags).")


def _finetune_info(meta: dict) -> dict | None:
    """What ``scratchcnn finetune`` recorded about the training of a checkpoint (``None`` for other models):
    strategy, checkpoint kind (adapter-only or merged) and the parameters it trained."""
    ft = meta.get("finetune") if isinstance(meta, dict) else None
    if not isinstance(ft, dict):
        return None
    return {"strategy": ft.get("strategy"), "kind": ft.get("kind"), "trainable_params": ft.get("trainable_params"),
            "total_params": ft.get("total_params")}
