"""``scratchcnn train-text`` and ``scratchcnn predict-text``: text classification (thin over ``scratchcnn.text``)."""
from __future__ import annotations

import sys

import click

from ._common import FiniteFloatRange, emit_json, non_negative_seed, stdout_to_stderr

_TOKENIZERS = ("auto", "char", "word", "jieba", "char+jieba")
_EMBEDDINGS = ("rand", "static", "non-static", "multichannel")
_OPT = ("sgd", "adam", "adamw")
_SCHED = ("none", "step", "cosine", "onecycle")


def _int_list(ctx, param, value):
    if value is None:
        return None
    try:
        out = [int(v) for v in str(value).replace(" ", "").split(",") if v]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers like 3,4,5, got {value!r}") from None
    if any(v < 1 for v in out):
        raise click.BadParameter(f"expected positive integers, got {value!r}")
    return out


@click.command("train-text")
@click.option("--data", required=True, type=click.Path(exists=True),
              help="A folder of <label>.txt files (one text per line) or a .csv/.tsv/.jsonl file.")
@click.option("--text-col", default="text", show_default=True, help="Text column of a CSV/TSV/JSONL file.")
@click.option("--label-col", default="label", show_default=True, help="Label column of a CSV/TSV/JSONL file.")
@click.option("--tokenizer", type=click.Choice(_TOKENIZERS), default="auto", show_default=True,
              help="auto: char when most letters are CJK, else word; jieba and char+jieba (characters plus a "
                   "hashed jieba-word channel) need the jieba package.")
@click.option("--nfkc", is_flag=True, default=False,
              help="char tokenizers: put each text in Unicode NFKC first, so full-width forms (\uff0c \uff01 \uff11 \uff21) "
                   "are the same tokens as , ! 1 a.")
@click.option("--model", type=click.Choice(["textcnn", "charcnn"]), default="textcnn", show_default=True)
@click.option("--embedding", type=click.Choice(_EMBEDDINGS),
              help="Kim's variants (default rand; non-static with --vectors).")
@click.option("--vectors", type=click.Path(exists=True, dir_okay=False),
              help="Pretrained vectors, word2vec/GloVe text format.")
@click.option("--pretrain", type=click.Choice(["ppmi"]),
              help="Initialise the embedding with PPMI-SVD vectors of the training texts (non-static).")
@click.option("--embed-dim", type=click.IntRange(min=1), help="Embedding size (default 300; the vectors' size).")
@click.option("--kernel-sizes", callback=_int_list, help="TextCNN window widths (default 3,4,5).")
@click.option("--num-filters", type=click.IntRange(min=1), help="TextCNN maps per window width (default 100).")
@click.option("--dropout", type=FiniteFloatRange(0, 1, max_open=True), help="Dropout before the output (0.5).")
@click.option("--embed-dropout", type=FiniteFloatRange(0, 1, max_open=True), help="Dropout on embeddings (0).")
@click.option("--max-norm", type=FiniteFloatRange(min=0), help="Max L2 norm of output weight vectors (3; 0: off).")
@click.option("--pooling", type=click.Choice(["max", "mean", "max+mean"]),
              help="Pooling over time (Kim: max); max+mean concatenates both.")
@click.option("--ngrams", callback=_int_list, help="Hashed n-gram embeddings of these orders, e.g. 2,3 (none).")
@click.option("--ngram-buckets", type=click.IntRange(min=1), help="Hash buckets per n-gram order (30000).")
@click.option("--ngram-mode", type=click.Choice(["sum", "concat"]), help="Add n-gram vectors or stack them (sum).")
@click.option("--ngram-dropout", type=FiniteFloatRange(0, 1, max_open=True),
              help="In training, drop each n-gram with this probability (0).")
@click.option("--word-buckets", type=click.IntRange(min=1),
              help="char+jieba: hash buckets of the word channel (50000).")
@click.option("--word-mode", type=click.Choice(["sum", "concat"]),
              help="char+jieba: add word vectors to the characters' or stack them (sum).")
@click.option("--max-len", type=click.IntRange(min=1), help="Tokens kept per text; longer ones are cut (256).")
@click.option("--min-freq", type=click.IntRange(min=1), help="Minimum token count for the vocabulary (1).")
@click.option("--max-vocab", type=click.IntRange(min=3), help="Maximum vocabulary size (no limit).")
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs (default 8; the best on validation is kept).")
@click.option("--batch-size", type=click.IntRange(min=1), help="Mini-batch size (default 50).")
@click.option("--lr", type=FiniteFloatRange(min=0, min_open=True), help="Learning rate (default 1e-3).")
@click.option("--optimizer", type=click.Choice(_OPT), help="Optimiser (default adam).")
@click.option("--scheduler", type=click.Choice(_SCHED), help="LR schedule (default none).")
@click.option("--weight-decay", type=FiniteFloatRange(min=0), help="Weight decay (default 0; adamw: 0.01, as PyTorch).")
@click.option("--label-smoothing", type=FiniteFloatRange(0, 1, max_open=True), help="Label smoothing (0).")
@click.option("--ema", type=FiniteFloatRange(0, 1, min_open=True, max_open=True),
              help="Average the weights (exponential moving average with this decay, e.g. 0.999).")
@click.option("--adversarial", type=FiniteFloatRange(min=0),
              help="Adversarial training: FGM on the embedding tables with this perturbation norm (0: off).")
@click.option("--rdrop", type=FiniteFloatRange(min=0),
              help="R-Drop: run each batch twice and add alpha x the symmetric KL of the two predictions (0: off).")
@click.option("--patience", type=click.IntRange(min=1), help="Early stopping after N epochs without improvement.")
@click.option("--limit-train", type=click.IntRange(min=1), help="Train on only the first N training texts.")
@click.option("--stop-epoch", type=click.IntRange(min=1),
              help="Stop after this epoch of the --epochs-long schedule (e.g. an epoch chosen on validation).")
@click.option("--train-on", type=click.Choice(["train", "train+val"]),
              help="train+val: refit on the training and validation splits for a schedule chosen before on "
                   "validation; the last epoch is kept (default train).")
@click.option("--seed", type=int, callback=non_negative_seed,
              help="Seed for the split, init, shuffling and dropout (default 0).")
@click.option("--ensemble", type=click.IntRange(min=1),
              help="Train K models (seeds seed..seed+K-1, same split) and average their probabilities (1).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Output folder (default runs/<model>-<data>-<time>); a non-empty one only with --overwrite (or, "
                   "for --ensemble, an ensemble run's folder: its finished members are reused).")
@click.option("--overwrite", is_flag=True,
              help="Start a new run in an existing, non-empty --out: what it holds is deleted once the corpus is "
                   "prepared.")
@click.option("--progress/--no-progress", default=True, help="Progress bar on stderr.")
@click.option("--tensorboard/--no-tensorboard", default=False, help="Write TensorBoard event files.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the results.")
def train_text(data, text_col, label_col, tokenizer, nfkc, model, embedding, vectors, pretrain, embed_dim, kernel_sizes,
               num_filters, dropout, embed_dropout, max_norm, pooling, ngrams, ngram_buckets, ngram_mode,
               ngram_dropout, word_buckets, word_mode, max_len, min_freq, max_vocab, epochs, batch_size, lr,
               optimizer, scheduler, weight_decay, label_smoothing, ema, adversarial, rdrop, patience, limit_train,
               stop_epoch, train_on, seed, ensemble, out_dir, overwrite, progress, tensorboard, as_json):
    """Train a text classifier (TextCNN or CharCNN); report test accuracy of the best epoch on validation."""
    from ..text import TextTrainConfig
    from ..text.run import train_text as run

    given = {"data": data, "text_col": text_col, "label_col": label_col, "tokenizer": tokenizer, "model": model,
             "embedding": embedding, "vectors": vectors, "pretrain": pretrain, "embed_dim": embed_dim,
             "kernel_sizes": kernel_sizes,
             "num_filters": num_filters, "dropout": dropout, "embed_dropout": embed_dropout,
             "max_norm": max_norm if max_norm != 0 else None, "pooling": pooling, "ngram_orders": ngrams,
             "ngram_buckets": ngram_buckets if ngram_buckets is not None else (30000 if ngrams else None),
             "ngram_mode": ngram_mode, "ngram_dropout": ngram_dropout, "word_buckets": word_buckets,
             "word_mode": word_mode, "max_len": max_len, "min_freq": min_freq, "max_vocab": max_vocab,
             "epochs": epochs, "batch_size": batch_size, "lr": lr, "optimizer": optimizer, "scheduler": scheduler,
             "weight_decay": weight_decay, "label_smoothing": label_smoothing, "ema": ema, "adversarial": adversarial,
             "rdrop": rdrop, "patience": patience,
             "limit_train": limit_train, "stop_epoch": stop_epoch,
             "train_on": train_on, "seed": seed, "ensemble": ensemble}
    given = {k: v for k, v in given.items() if v is not None}
    if nfkc:
        given["nfkc"] = True
    if max_norm == 0:
        given["max_norm"] = None
    if vectors and embed_dim is None:
        from ..text.vectors import vectors_dim
        given["embed_dim"] = vectors_dim(vectors)
    from ..train.interrupt import RunInterrupted, sigterm_raises
    try:
        with stdout_to_stderr(as_json), sigterm_raises():   # SIGTERM unwinds like Ctrl-C (what was written goes)
            result = run(TextTrainConfig(**given), out_dir=out_dir, progress=progress, tensorboard=tensorboard,
                         overwrite=overwrite)
    except RunInterrupted as exc:   # one line: what was kept and what to do
        click.secho(f"error: {exc}", err=True, fg="red")
        raise click.exceptions.Exit(exc.exit_code) from None
    if as_json:
        emit_json(result)
        return
    chosen = "best epoch" if result["val_accuracy"] is not None else "epoch"
    if result.get("ensemble"):
        best = f"ensemble of {result['ensemble']}, {chosen}s {', '.join(map(str, result['best_epoch']))}"
    else:
        best = f"{chosen} {result['best_epoch']}"
    if result["val_accuracy"] is not None:
        val = f"val accuracy {result['val_accuracy']:.4f}"
    elif result["config"].get("train_on") == "train+val":
        val = "trained on train+val: the last epoch is kept"
    else:
        val = "no validation texts: the last epoch is kept"
    click.echo(f"test accuracy: {result['test_accuracy']:.4f}  ({result['model']}, {result['tokenizer']} tokens, "
               f"{best} of {result['epochs']}, {val}, "
               f"{result['seconds']:.1f} s)")
    click.echo(f"data: {result['num_train']} train / {result['num_val']} val / {result['num_test']} test texts, "
               f"classes {', '.join(result['classes'])}; {result['split']['conflicting_dropped']} texts with "
               "conflicting labels dropped")
    click.echo(f"checkpoint: {result['checkpoint']}")


def _stdin_texts() -> list[str]:
    data = sys.stdin.buffer.read()
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValueError(f"predict-text: standard input is not UTF-8 text (line {line})") from None
    from ..text.corpus import split_lines
    content = content.removeprefix("\ufeff")      # a byte-order mark is no text (the corpus reader drops it too)
    return [line for line in split_lines(content) if line.strip()]


@click.command("predict-text")
@click.argument("checkpoint", type=click.Path(exists=True))   # a file: a .pt is refused with how to convert it
@click.argument("texts", nargs=-1)
@click.option("--top-k", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object {\"predictions\": [...]}.")
def predict_text(checkpoint, texts, top_k, as_json):
    """Classify TEXTS (or, without any, one text per line of standard input) with a text checkpoint."""
    from ..text.run import predict_texts
    texts = list(texts)
    if not texts:
        if sys.stdin is None or sys.stdin.isatty():
            raise click.UsageError("give texts as arguments or one per line on standard input")
        texts = _stdin_texts()
    with stdout_to_stderr(as_json):
        preds, truncated = predict_texts(checkpoint, texts, top_k=top_k)
    if truncated:
        click.echo(f"warning: {truncated} text(s) longer than the model's max length were truncated", err=True)
    if as_json:
        emit_json({"checkpoint": checkpoint, "predictions": preds, "truncated": truncated})
        return
    for p in preds:
        others = ", ".join(f"{t['label']} {t['probability']:.3f}" for t in p["top_k"])
        short = p["text"] if len(p["text"]) <= 60 else p["text"][:57] + "..."
        click.echo(f"{p['label']} ({p['probability']:.3f})  [{others}]  {short}")
