"""``scratchcnn train``: train a registered model on a registered dataset (thin over ``train.run.train``)."""
from __future__ import annotations

import click

from ._common import FiniteFloatRange, emit_json, non_negative_seed, stdout_to_stderr

_OPT = ("sgd", "adam", "adamw")
_SCHED = ("none", "step", "cosine", "onecycle")


@click.command()
@click.option("--model", help="Model name (see `scratchcnn summary`); default seed000.")
@click.option("--dataset", help="Dataset name (see `scratchcnn datasets list`); default mnist.")
@click.option("--epochs", type=click.IntRange(min=1), help="Total epochs (default 3).")
@click.option("--batch-size", type=click.IntRange(min=1), help="Training batch size (default 64).")
@click.option("--lr", type=FiniteFloatRange(min=0, min_open=True), help="(Peak) learning rate (default 3e-3 for adam/adamw, 0.05 for sgd).")
@click.option("--optimizer", type=click.Choice(_OPT), help="Optimiser (default adam).")
@click.option("--scheduler", type=click.Choice(_SCHED), help="LR schedule (default onecycle).")
@click.option("--weight-decay", type=FiniteFloatRange(min=0), help="Weight decay (default 0; adamw: 0.01).")
@click.option("--label-smoothing", type=FiniteFloatRange(0, 1, max_open=True), help="Label smoothing (default 0).")
@click.option("--augment/--no-augment", default=None, help="Random rotation (10 deg) and shift (2 px).")
@click.option("--val-split", type=FiniteFloatRange(0, 1, max_open=True),
              help="Fraction of the training set held out for validation/best-checkpoint choice (default 0.1).")
@click.option("--patience", type=click.IntRange(min=1), help="Early stopping after N epochs without improvement.")
@click.option("--seed", type=int, callback=non_negative_seed,
              help="Seed for init, split, shuffling, augmentation, dropout (default 0). Runs with one seed give "
                   "bit-identical weights with the same thread count (SCRATCHCNN_NUM_THREADS): each batch is split "
                   "into one part per thread.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Folder with the dataset files.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Output folder (default runs/<model>-<dataset>-<time>); a non-empty one only with --overwrite.")
@click.option("--overwrite", is_flag=True,
              help="Start a new run in an existing, non-empty --out: what it holds is deleted once the data and "
                   "model are ready.")
@click.option("--resume", type=click.Path(exists=True, file_okay=False),
              help="Continue the run in this folder (its saved settings are used; --epochs may grow with "
                   "--scheduler none or step; a onecycle or cosine schedule spans the original epochs).")
@click.option("--limit-train", type=click.IntRange(min=1), help="Use only N training images (seeded pick).")
@click.option("--limit-test", type=click.IntRange(min=1), help="Use only the first N test images.")
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr.")
@click.option("--tensorboard/--no-tensorboard", default=True, help="Write TensorBoard event files.")
@click.option("--plots/--no-plots", default=True, help="Write curves.png and confusion_matrix.png.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the results.")
def train(model, dataset, epochs, batch_size, lr, optimizer, scheduler, weight_decay, label_smoothing, augment,
          val_split, patience, seed, data_dir, out_dir, overwrite, resume, limit_train, limit_test, progress,
          tensorboard, plots, as_json):
    """Train a model; report test accuracy of the best checkpoint (chosen on validation)."""
    from ..train import TrainConfig
    from ..train import run as run_mod

    given = {"model": model, "dataset": dataset, "epochs": epochs, "batch_size": batch_size, "lr": lr,
             "optimizer": optimizer, "scheduler": scheduler, "weight_decay": weight_decay,
             "label_smoothing": label_smoothing, "augment": augment, "val_split": val_split, "patience": patience,
             "seed": seed, "data_dir": data_dir, "limit_train": limit_train, "limit_test": limit_test}
    from ..train.interrupt import RunInterrupted, sigterm_raises

    given = {k: v for k, v in given.items() if v is not None}
    try:
        with stdout_to_stderr(as_json), sigterm_raises():   # SIGTERM unwinds like Ctrl-C (unfinished saves removed)
            if resume is not None:
                result = run_mod.train(out_dir=out_dir, resume=resume, overrides=given, progress=progress,
                                       tensorboard=tensorboard, plots=plots, overwrite=overwrite)
            else:
                cfg = TrainConfig(**given)
                result = run_mod.train(cfg, out_dir=out_dir, progress=progress, tensorboard=tensorboard,
                                       plots=plots, overwrite=overwrite)
    except RunInterrupted as exc:   # one line: what last/ holds and the command that continues the run
        click.secho(f"error: {exc}", err=True, fg="red")
        raise click.exceptions.Exit(exc.exit_code) from None
    if as_json:
        emit_json(result)
        return
    val = result["val_accuracy"]
    click.echo(f"test accuracy: {result['test_accuracy']:.4f}  ({result['model']} on {result['dataset']}, "
               f"{result['epochs']} epoch{'s' if result['epochs'] != 1 else ''}, best epoch {result['best_epoch']}"
               + (f", val accuracy {val:.4f}" if val is not None else "") + f", {result['seconds']:.1f} s)")
    click.echo(f"checkpoint: {result['checkpoint']}")
    click.echo(f"history:    {result['history']}")
