"""``scratchcnn evaluate CKPT``: accuracy, macro precision/recall/F1 and the confusion matrix."""
from __future__ import annotations

import click

from ._common import emit_json, stdout_to_stderr


@click.command()
@click.argument("checkpoint", type=click.Path(exists=True))   # a file: a .pt is refused with how to convert it
@click.option("--dataset", help="Dataset (default: the one the checkpoint was trained on).")
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False), help="Folder with the dataset files.")
@click.option("--batch-size", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--limit", type=click.IntRange(min=1),
              help="Evaluate only the first N images (of its classes, for a checkpoint fine-tuned on a class "
                   "subset; texts, for a text checkpoint).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def evaluate(checkpoint, dataset, split, data_dir, batch_size, limit, as_json):
    """Evaluate a checkpoint folder on a dataset split."""
    from ..text.run import evaluate_text_checkpoint, find_text_checkpoint
    from ..train.evaluate import evaluate_checkpoint
    with stdout_to_stderr(as_json):
        text_ckpt = find_text_checkpoint(checkpoint)
        if text_ckpt is not None:  # a text classifier: --dataset is a corpus path
            if data_dir is not None:
                raise click.UsageError(f"--data-dir is for image datasets; {checkpoint} holds a text classifier, "
                                       "so give its corpus as --dataset PATH")
            res = evaluate_text_checkpoint(text_ckpt, data=dataset, split=split, batch_size=batch_size,
                                           limit=limit)
        else:
            res = evaluate_checkpoint(checkpoint, dataset=dataset, split=split, data_dir=data_dir,
                                      batch_size=batch_size, limit=limit)
    if as_json:
        emit_json(res)
        return
    unit = "texts" if text_ckpt is not None else "images"
    click.echo(f"{res['model']} on {res['dataset']} {res['split']} ({res['num_samples']} {unit})")
    click.echo(f"accuracy  {res['accuracy']:.4f}")
    click.echo(f"precision {res['precision']:.4f}  recall {res['recall']:.4f}  f1 {res['f1']:.4f}  (macro)")
    names = [str(n)[:6] for n in res["class_names"]]
    width = max(6, *(len(n) for n in names))
    click.echo("confusion matrix (rows: true, columns: predicted)")
    click.echo(" " * (width + 1) + " ".join(f"{n:>{width}}" for n in names))
    for n, row in zip(names, res["confusion_matrix"]):
        click.echo(f"{n:>{width}} " + " ".join(f"{v:>{width}}" for v in row))
