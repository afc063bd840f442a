"""``scratchcnn finetune CKPT`` and ``scratchcnn finetune-compare CKPT`` (thin over ``scratchcnn.finetune``)."""
from __future__ import annotations

import contextlib

import click

from ._common import FiniteFloatRange, emit_json, non_negative_seed, stdout_to_stderr

_STRATEGIES = ("full", "linear-probe", "partial", "discriminative", "bitfit", "lora", "adapter", "scratch")


def _data_options(f):
    opts = [
        click.option("--dataset", help="Target dataset (default: the base checkpoint's)."),
        click.option("--classes", help="Class subset, relabelled 0..K-1 in this order, e.g. '5-9' or '0,2,4'. "
                                       "With --extend-classes: the new classes."),
        click.option("--labels-per-class", type=click.IntRange(min=1),
                     help="Training labels per (new) class, a seeded few-shot sample (default: all)."),
        click.option("--extend-classes", is_flag=True,
                     help="Grow the head from the base's classes to base + --classes (old rows kept); report old- "
                          "and new-class accuracy."),
        click.option("--replay", type=click.IntRange(min=0), default=0, show_default=True,
                     help="With --extend-classes: training labels kept per old class (rehearsal)."),
        click.option("--unfreeze-last", type=click.IntRange(min=1), default=2, show_default=True,
                     help="partial: number of layer units (Conv/Linear + its BatchNorm) to train, head included."),
        click.option("--layer-lr-decay", type=FiniteFloatRange(0, 1, min_open=True),
                     help="LR multiplier per layer unit going back from the head (discriminative default 0.5)."),
        click.option("--rank", type=click.IntRange(min=1), default=4, show_default=True, help="LoRA rank r."),
        click.option("--alpha", type=FiniteFloatRange(min=0, min_open=True), default=8.0, show_default=True,
                     help="LoRA alpha (scaling alpha/r)."),
        click.option("--lora-dropout", type=FiniteFloatRange(0, 1, max_open=True), default=0.0,
                     show_default=True, help="Dropout on the LoRA branch's input."),
        click.option("--targets", default="all", show_default=True,
                     help="LoRA targets: all (every Conv/Linear but the head), conv, linear, or names 'conv2,fc1'."),
        click.option("--adapter-dim", type=click.IntRange(min=1), default=16, show_default=True,
                     help="Adapter bottleneck width."),
        click.option("--adapter-linear/--no-adapter-linear", default=True, show_default=True,
                     help="adapter: also a parallel bottleneck adapter beside each Linear layer but the head "
                          "(He et al. 2022); --no-adapter-linear keeps only the conv-block adapters."),
        click.option("--insert-block", "insert_blocks", multiple=True, metavar="NAME",
                     help="Insert a new residual block after module NAME (repeatable), e.g. bn2 or fc1: x + "
                          "conv3x3(relu(conv3x3(x))) on a feature map, x + linear(relu(linear(x))) on a vector, "
                          "identity at the start. The blocks always train; the rest follows --strategy."),
        click.option("--bn", type=click.Choice(["train", "freeze"]),
                     help="BatchNorm: train (batch statistics) or freeze (running statistics, frozen affine). "
                          "Default: train for full/partial/discriminative/scratch, freeze otherwise."),
        click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True),
        click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True),
        click.option("--lr", type=FiniteFloatRange(min=0, min_open=True),
                     help="Adam learning rate (default 1e-3 when the body trains, 3e-3 for lora and adapter, 5e-3 "
                          "for linear-probe and bitfit)."),
        click.option("--optimizer", type=click.Choice(["adam", "adamw", "sgd"]), default="adam", show_default=True),
        click.option("--scheduler", type=click.Choice(["cosine", "none", "step"]), default="cosine",
                     show_default=True),
        click.option("--weight-decay", type=FiniteFloatRange(min=0),
                     help="Weight decay (default 0; adamw: 0.01, as PyTorch)."),
        click.option("--seed", type=int, callback=non_negative_seed, default=0, show_default=True,
                     help="Seed for the few-shot sample, new layers, shuffling and dropout."),
        click.option("--data-dir", type=click.Path(file_okay=False), help="Folder with the dataset files."),
        click.option("--limit-test", type=click.IntRange(min=1), help="Evaluate on N test images (seeded pick)."),
        click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Output folder."),
        click.option("--overwrite", is_flag=True, help="Allow writing into an existing, non-empty --out."),
        click.option("--progress/--no-progress", default=True, help="Progress bar on stderr."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _config(checkpoint, kw: dict, strategy: str, model: str | None = None):
    from ..finetune import FinetuneConfig
    keys = ("dataset", "classes", "labels_per_class", "extend_classes", "replay", "unfreeze_last",
            "layer_lr_decay", "rank", "alpha", "lora_dropout", "targets", "adapter_dim", "adapter_linear", "bn",
            "insert_blocks", "epochs", "batch_size", "lr", "optimizer", "scheduler", "weight_decay", "seed",
            "data_dir", "limit_test")
    values = {k: kw[k] for k in keys}
    values["insert_blocks"] = list(values["insert_blocks"] or ())
    return FinetuneConfig(base=checkpoint, model=model, strategy=strategy, **values)


@contextlib.contextmanager
def _terminate_cleanly(what: str = "nothing was saved, run the same command again"):
    """SIGTERM unwinds like Ctrl-C (a run's output folder is written in one step at its end, so an unfinished one
    is removed) and ends with one line and exit code 143."""
    from ..train.interrupt import Terminated, sigterm_raises
    try:
        with sigterm_raises():
            yield
    except Terminated:
        click.secho(f"error: terminated (SIGTERM); {what}", err=True, fg="red")
        raise click.exceptions.Exit(143) from None


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _typed(ctx: click.Context, values: dict) -> dict:
    """The options typed on the command line (not their defaults), as the settings a resumed run is given."""
    from click.core import ParameterSource
    typed = {k: v for k, v in values.items()
             if ctx.get_parameter_source(k) not in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in typed.items()}


@click.command()
@click.argument("checkpoint", required=False, type=click.Path(exists=True))
@click.option("--strategy", type=click.Choice(_STRATEGIES), default="full", show_default=True,
              help="What trains (see docs/finetune.md); scratch = same architecture re-initialised.")
@click.option("--model", help="With --strategy scratch and no CHECKPOINT: the architecture to train from scratch.")
@click.option("--save", type=click.Choice(["both", "adapter", "merged"]), default="both", show_default=True,
              help="Checkpoints to write: adapter-only (trained tensors + base hash), merged (self-contained); "
                   "--strategy scratch writes merged only.")
@click.option("--resume", type=click.Path(exists=True, file_okay=False), metavar="RUN_DIR",
              help="Continue the interrupted run in RUN_DIR with its saved settings (CHECKPOINT, if given, is the "
                   "base's new location, checked by SHA-256; --epochs may change with --scheduler none or step).")
@_data_options
@click.pass_context
def finetune(ctx, checkpoint, strategy, model, save, resume, out_dir, overwrite, progress, as_json, **kw):
    """Fine-tune the model in CHECKPOINT on a target dataset with one strategy."""
    from ..finetune.run import finetune as run_finetune
    from ..train.interrupt import RunInterrupted
    if resume is None:
        cfg = _config(checkpoint, kw, strategy, model)
        cfg.save = save
        call = {"config": cfg}
    else:
        typed = _typed(ctx, {"strategy": strategy, "model": model, "save": save, **kw})
        call = {"resume": resume, "overrides": {**typed, "base": checkpoint}}
    try:
        with _terminate_cleanly(), stdout_to_stderr(as_json):
            res = run_finetune(out_dir=out_dir, progress=progress, overwrite=overwrite, **call)
    except RunInterrupted as exc:   # one line: what last/ holds and the command that continues the run
        click.secho(f"error: {exc}", err=True, fg="red")
        raise click.exceptions.Exit(exc.exit_code) from None
    if as_json:
        res = {k: v for k, v in res.items() if k != "history"}
        emit_json(res)
        return
    click.echo(f"{res['strategy']} on {res['dataset']} ({len(res['class_names'])} classes, {res['num_train']} "
               f"training images): test accuracy {_pct(res['accuracy'])}")
    if res.get("old_accuracy") is not None or res.get("new_accuracy") is not None:
        click.echo(f"old classes {_pct(res['old_accuracy'])} (before: {_pct(res['old_accuracy_before'])})   "
                   f"new classes {_pct(res['new_accuracy'])}")
    click.echo(f"trainable parameters: {res['trainable_params']:,} of {res['total_params']:,} "
               f"({res['trainable_percent']:.2f}%), training {res['seconds']:.1f} s")
    if res.get("adapter_checkpoint"):
        click.echo(f"adapter-only checkpoint: {res['adapter_checkpoint']} ({res['checkpoint_bytes']:,} bytes)")
    if res.get("merged_checkpoint"):
        click.echo(f"merged checkpoint:       {res['merged_checkpoint']} ({res['merged_bytes']:,} bytes)")


@click.command("finetune-compare")
@click.argument("checkpoint", type=click.Path(exists=True))   # a file: a .pt is refused with how to convert it
@click.option("--strategies", help="Comma list (default: all of full, linear-probe, partial, discriminative, "
                                   "bitfit, lora, adapter); the from-scratch baseline is always added.")
@click.option("--plots/--no-plots", default=True, help="Write compare.png.")
@_data_options
def finetune_compare(checkpoint, strategies, plots, out_dir, overwrite, progress, as_json, **kw):
    """Run every strategy plus a from-scratch baseline on the same data and seed; print and save a table."""
    from ..finetune.compare import finetune_compare as run_compare
    cfg = _config(checkpoint, kw, "full")
    with _terminate_cleanly("the strategies that finished are in their folders; run the same command with "
                            "--overwrite to start again"), stdout_to_stderr(as_json):
        res = run_compare(cfg, strategies, out_dir=out_dir or "runs/finetune-compare", progress=progress,
                          plots=plots, overwrite=overwrite)
    if as_json:
        emit_json({k: v for k, v in res.items() if k != "table"})
        return
    click.echo(res["table"])
    click.echo(f"saved {res['csv']}, {res['json']}" + (f", {res['png']}" if res.get("png") else ""))
