"""``scratchcnn summary MODEL|CKPT``: Keras-style table of layers, output shapes, parameters and FLOPs."""
from __future__ import annotations

from pathlib import Path

import click

from ._common import emit_json, stdout_to_stderr


@click.command()
@click.argument("model")
@click.option("--num-classes", type=click.IntRange(min=1), default=10, show_default=True,
              help="Output classes (for a model name).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def summary(model, num_classes, as_json):
    """Summarise a registered model (by name) or the model in a checkpoint folder."""
    from .. import models
    with stdout_to_stderr(as_json):
        if Path(model).is_dir():
            net, _meta = models.load_model(model)
        elif model in models.list_models():
            net = models.get(model, num_classes=num_classes)
        else:
            raise click.BadParameter(f"{model!r} is neither a checkpoint folder nor a model "
                                     f"({', '.join(models.list_models())})", param_hint="MODEL")
        s = models.summary(net)
    if as_json:
        emit_json(s.to_dict())
    else:
        click.echo(str(s))
