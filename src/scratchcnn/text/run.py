"""Text classification end to end: ``train_text`` (behind ``scratchcnn train-text``), ``evaluate_text_checkpoint``
(behind ``scratchcnn evaluate`` for text checkpoints) and ``predict_texts`` (behind ``scratchcnn predict-text``).

Output folder of a run::

    out/best/            model.safetensors + meta.json of the best epoch on validation (+ test metrics);
                         meta.json holds the tokenizer, vocabulary, max length, class names and data split
    out/history.json|csv per-epoch loss/accuracy/lr/time
    out/test_metrics.json
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .config import TextTrainConfig
from .corpus import load_corpus
from ..tensor import Tensor
from .loader import TextLoader, encode_texts, pad_batch
from .splits import CorpusSplits, split_corpus
from .tokenize import Tokenizer, get_tokenizer
from .vocab import Vocab

__all__ = ["train_text", "prepare_splits", "evaluate_text_checkpoint", "predict_texts", "load_text_model",
           "is_text_checkpoint", "find_text_checkpoint", "TASK"]

TASK = "text-classification"


def prepare_splits(data: str | Path, text_col: str = "text", label_col: str = "label",
                   seed: int = 0) -> CorpusSplits:
    """Read a corpus (folder of ``<label>.txt`` or CSV/TSV/JSONL) and split it by the fixed rule."""
    return split_corpus(load_corpus(data, text_col, label_col), seed=seed)


def _model_config(cfg: TextTrainConfig, vocab_size: int) -> dict:
    if cfg.model == "charcnn":
        out = {"vocab_size": vocab_size, "seq_len": cfg.max_len}
    else:
        out = {"vocab_size": vocab_size, "embed_dim": cfg.embed_dim, "kernel_sizes": list(cfg.kernel_sizes),
               "num_filters": cfg.num_filters, "dropout": cfg.dropout, "max_norm": cfg.max_norm,
               "embedding": cfg.embedding_type, "embed_dropout": cfg.embed_dropout}
        if cfg.pooling != "max":
            out["pooling"] = cfg.pooling
        if cfg.ngram_orders:
            out.update(ngram_orders=list(cfg.ngram_orders), ngram_buckets=cfg.ngram_buckets,
                       ngram_mode=cfg.ngram_mode, ngram_dropout=cfg.ngram_dropout)
    out.update(cfg.model_config)
    return out


def _loader(seqs, labels, model, batch_size: int, shuffle: bool = False, seed: int = 0) -> TextLoader:
    return TextLoader(seqs, labels, batch_size=batch_size, shuffle=shuffle, seed=seed,
                      min_len=getattr(model, "min_length", 1), fixed_len=getattr(model, "fixed_length", None),
                      sort_by_length=not shuffle)


def _warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr)


def train_text(config: TextTrainConfig, out_dir: str | Path | None = None, progress: bool = True,
               tensorboard: bool = False, extra_callbacks: Iterable[Any] = ()) -> dict:
    """Train a text classifier; returns a JSON-ready result dict.

    The best epoch is chosen on the validation split; only its checkpoint is evaluated on the test split.
    Returns ``{"test_accuracy", "val_accuracy", "best_epoch", "epochs", "seconds", "checkpoint", "classes",
    "num_train", "num_val", "num_test", "split", "vocab_size", "tokenizer", "truncated", "test": {...}, ...}``.
    """
    from .. import manual_seed
    from ..io import load_checkpoint, save_checkpoint
    from ..io.atomic import atomic_write_text
    from ..models import get as get_model
    from ..models.loading import model_meta
    from ..nn import CrossEntropyLoss
    from ..train import callbacks as C
    from ..train.config import build_optimizer, build_scheduler
    from ..train.metrics import summarize
    from ..train.trainer import Trainer, evaluate_model
    from .callbacks import ConstraintCallback, WeightEMA

    cfg = config
    cfg.validate()
    if not cfg.data:
        raise ValueError("train-text: give the data with --data PATH (a folder of <label>.txt files or a "
                         "CSV/TSV/JSONL file)")
    t_start = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else \
        Path("runs") / f"{cfg.model}-{Path(cfg.data).stem or 'text'}-{time.strftime('%Y%m%d-%H%M%S')}"

    splits = prepare_splits(cfg.data, cfg.text_col, cfg.label_col, cfg.seed)
    train_split = splits.train
    if cfg.limit_train is not None and cfg.limit_train < len(train_split):
        train_split = train_split.subset(np.arange(cfg.limit_train))  # already shuffled by the split rule
    tokenizer = get_tokenizer(cfg.tokenizer, texts=train_split.texts)
    if cfg.lower is False:
        tokenizer.lower = False
    train_tokens = tokenizer.tokenize_all(train_split.texts)
    vocab = Vocab.build(train_tokens, min_freq=cfg.min_freq, max_size=cfg.max_vocab)
    encoded, truncated = {}, 0
    for name, part in (("train", train_split), ("val", splits.val), ("test", splits.test)):
        seqs, trunc, kept = encode_texts(part.texts, tokenizer, vocab, cfg.max_len, skip_empty=True)
        if len(kept) < len(part):
            _warn(f"{len(part) - len(kept)} {name} text(s) have no {tokenizer.name} tokens and were left out")
        encoded[name] = (seqs, part.labels[kept])
        truncated += trunc
    if truncated:
        _warn(f"{truncated} text(s) longer than --max-len {cfg.max_len} tokens were truncated")
    classes = list(splits.classes)

    manual_seed(cfg.seed)
    model = get_model(cfg.model, num_classes=len(classes), **_model_config(cfg, len(vocab)))
    vec_report = None
    if cfg.vectors:
        from .vectors import load_vectors
        mat, vec_report = load_vectors(cfg.vectors, vocab, dim=cfg.embed_dim,
                                       generator=np.random.default_rng(cfg.seed))
        model.embedding.weight.data[...] = mat
        if hasattr(model, "embedding_static"):
            model.embedding_static.weight.data[...] = mat
        print(f"vectors: {vec_report['found']}/{vec_report['found'] + vec_report['missing']} vocabulary tokens "
              f"found in {cfg.vectors}", file=sys.stderr)

    if cfg.pretrain == "ppmi":
        from .pretrain import ppmi_svd_vectors
        t0 = time.perf_counter()
        mat = ppmi_svd_vectors(encoded["train"][0], len(vocab), cfg.embed_dim, seed=cfg.seed)
        model.embedding.weight.data[...] = mat
        if hasattr(model, "embedding_static"):
            model.embedding_static.weight.data[...] = mat
        print(f"pretrained {len(vocab)} x {cfg.embed_dim} PPMI-SVD vectors on the training texts "
              f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr)

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer(cfg.optimizer, params, cfg.lr, cfg.weight_decay)
    train_loader = _loader(*encoded["train"], model, cfg.batch_size, shuffle=True, seed=cfg.seed)
    val_loader = _loader(*encoded["val"], model, cfg.eval_batch_size) if len(encoded["val"][0]) else None
    scheduler, interval = build_scheduler(cfg.scheduler, optimizer, cfg.epochs, len(train_loader), cfg.lr)
    loss_fn = CrossEntropyLoss(label_smoothing=cfg.label_smoothing)

    base_meta = {
        "task": TASK, "class_names": classes, "dataset": str(cfg.data),
        "data": {"path": str(Path(cfg.data).resolve()), "text_col": cfg.text_col, "label_col": cfg.label_col,
                 "seed": cfg.seed, "split": splits.report},
        "tokenizer": tokenizer.config(), "vocab": vocab.to_list(), "max_len": cfg.max_len,
        "train_config": cfg.to_dict(), "vectors": vec_report,
    }

    def meta_fn(trainer, logs):
        return model_meta(model, **base_meta)

    out.mkdir(parents=True, exist_ok=True)
    best_dir = out / "best"
    cbs: list = [C.ProgressBar(enabled=progress), ConstraintCallback()]
    if cfg.ema:
        cbs.append(WeightEMA(cfg.ema))
    cbs += [C.BestCheckpoint(best_dir, meta_fn), C.HistoryWriter(out)]
    if cfg.patience is not None:
        cbs.append(C.EarlyStopping(patience=cfg.patience))
    if tensorboard:
        cbs.append(C.TensorBoardLogger(out / "tensorboard"))
    cbs.extend(extra_callbacks)
    trainer = Trainer(model, optimizer, loss_fn=loss_fn, scheduler=scheduler, scheduler_interval=interval,
                      epochs=cfg.epochs, callbacks=cbs, meta_fn=meta_fn, config=cfg.to_dict())

    def train_data(epoch: int):
        train_loader.set_epoch(epoch - 1)
        return train_loader

    trainer.fit(train_data, val_loader)

    best_state, best_meta = load_checkpoint(best_dir)
    model.load_state_dict(best_state)
    test_loader = _loader(*encoded["test"], model, cfg.eval_batch_size)
    ev = evaluate_model(model, test_loader, loss_fn, return_predictions=True)
    test = summarize(ev["y_true"], ev["y_pred"], len(classes))
    test["loss"] = ev["loss"]
    best_meta = dict(best_meta)
    best_meta["metrics"] = {**dict(best_meta.get("metrics") or {}), "test_accuracy": test["accuracy"],
                            "test_loss": test["loss"], "test_f1": test["f1"]}
    save_checkpoint(best_dir, best_state, best_meta)
    atomic_write_text(out / "test_metrics.json", json.dumps(test, indent=1) + "\n")
    best_epoch = best_meta.get("epoch")
    best_logs = next((h for h in trainer.history if h.get("epoch") == best_epoch), {})
    return {
        "test_accuracy": test["accuracy"],
        "val_accuracy": best_logs.get("val_accuracy"),
        "best_epoch": best_epoch,
        "epochs": trainer.epoch,
        "seconds": time.perf_counter() - t_start,
        "train_seconds": float(sum(h.get("seconds", 0.0) for h in trainer.history)),
        "checkpoint": str(best_dir),
        "history": str(out / "history.json"),
        "out_dir": str(out),
        "classes": classes,
        "model": cfg.model,
        "embedding": cfg.embedding_type if cfg.model == "textcnn" else None,
        "tokenizer": tokenizer.name,
        "vocab_size": len(vocab),
        "num_parameters": int(model.num_parameters()),
        "num_train": len(encoded["train"][0]),
        "num_val": len(encoded["val"][0]),
        "num_test": len(encoded["test"][0]),
        "truncated": truncated,
        "split": splits.report,
        "test": {k: test[k] for k in ("accuracy", "loss", "precision", "recall", "f1")},
        "config": cfg.to_dict(),
    }


# ---------------------------------------------------------------------------------------------- using checkpoints
def is_text_checkpoint(meta: dict) -> bool:
    """True when a checkpoint's ``meta.json`` describes a text classifier."""
    return isinstance(meta, dict) and meta.get("task") == TASK


def find_text_checkpoint(path: str | Path) -> Path | None:
    """``path`` (or its ``best/`` folder, for a run folder) when it is a text checkpoint, else None."""
    from ..io import read_meta
    for d in (Path(path), Path(path) / "best"):
        if (d / "meta.json").is_file():
            try:
                return d if is_text_checkpoint(read_meta(d)) else None
            except ValueError:
                return None
    return None


def load_text_model(checkpoint: str | Path, verb: str = "predict-text") -> tuple[Any, dict, Tokenizer, Vocab]:
    """``(model, meta, tokenizer, vocab)`` of a text checkpoint; other checkpoints are a clear error."""
    from ..io import read_meta
    from ..models import load_model
    checkpoint = Path(checkpoint)
    if not (checkpoint / "meta.json").is_file() and (checkpoint / "best" / "meta.json").is_file():
        checkpoint = checkpoint / "best"  # a run folder means its best checkpoint
    meta = read_meta(checkpoint)
    if not is_text_checkpoint(meta):
        name = (meta.get("model") or {}).get("name", "?") if isinstance(meta.get("model"), dict) else "?"
        raise ValueError(f"{verb}: checkpoint {checkpoint} holds an image model ({name}), not a text classifier; "
                         "use `scratchcnn predict` for images" if verb == "predict-text" else
                         f"{verb}: checkpoint {checkpoint} is not a text classifier (model {name})")
    model, meta = load_model(checkpoint)
    try:
        tokenizer = get_tokenizer(meta["tokenizer"])
        vocab = Vocab.from_list(meta["vocab"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"checkpoint {checkpoint}: meta.json lacks the tokenizer or vocabulary ({exc})") from None
    return model, meta, tokenizer, vocab


def predict_texts(checkpoint: str | Path, texts: Sequence[str], top_k: int = 2,
                  batch_size: int = 200) -> tuple[list[dict], int]:
    """Classify ``texts`` with a text checkpoint. Returns ``(predictions, truncated)``: per text
    ``{"text", "label", "probability", "top_k": [{"label", "probability"}, ...]}`` (labels as the dataset named
    them), and how many texts were longer than the checkpoint's max length (they are truncated)."""
    from .. import no_grad
    from ..functional import softmax
    if not texts:
        raise ValueError("predict-text: give at least one text (as arguments or one per line on stdin)")
    if int(top_k) < 1:
        raise ValueError(f"predict-text: top_k must be >= 1, got {top_k}")
    model, meta, tokenizer, vocab = load_text_model(checkpoint)
    seqs, truncated, _ = encode_texts(list(texts), tokenizer, vocab, meta.get("max_len"))
    names = list(meta.get("class_names") or [])
    loader = _loader(seqs, np.zeros(len(seqs), dtype=np.int64), model, batch_size)
    probs = np.zeros((len(seqs), len(names)), dtype=np.float64)
    model.eval()
    with no_grad():
        for idx in loader.batch_indices():
            x = pad_batch([seqs[i] for i in idx], loader.min_len, loader.fixed_len)
            probs[idx] = softmax(model(Tensor(x)), 1).data
    k = min(int(top_k), len(names))
    out = []
    for t, p in zip(texts, probs):
        order = np.argsort(-p, kind="stable")[:k]
        out.append({"text": t, "label": names[order[0]], "probability": float(p[order[0]]),
                    "top_k": [{"label": names[j], "probability": float(p[j])} for j in order]})
    return out, truncated


def evaluate_text_checkpoint(checkpoint: str | Path, data: str | Path | None = None, split: str = "test",
                             batch_size: int = 200, limit: int | None = None) -> dict:
    """Evaluate a text checkpoint on a split of its corpus (re-split by the fixed rule with the saved seed), or of
    the corpus at ``data`` (same rule and columns). Returns the metrics of ``train.metrics.summarize`` plus
    ``loss``, ``dataset``, ``split``, ``checkpoint``, ``model``, ``class_names``, ``num_samples``."""
    from ..nn import CrossEntropyLoss
    from ..train.metrics import summarize
    from ..train.trainer import evaluate_model
    model, meta, tokenizer, vocab = load_text_model(checkpoint, verb="evaluate")
    info = meta.get("data") or {}
    path = data or info.get("path") or meta.get("dataset")
    if not path:
        raise ValueError(f"checkpoint {checkpoint} does not say which data it was trained on; pass --dataset PATH")
    splits = prepare_splits(path, info.get("text_col", "text"), info.get("label_col", "label"),
                            int(info.get("seed", 0)))
    names = list(meta.get("class_names") or [])
    if list(splits.classes) != names:
        raise ValueError(f"checkpoint {checkpoint} predicts classes {names} but {path} has {splits.classes}")
    part = splits.get(split)
    if limit is not None:
        part = part.subset(np.arange(min(int(limit), len(part))))
    seqs, _, kept = encode_texts(part.texts, tokenizer, vocab, meta.get("max_len"), skip_empty=True)
    loader = _loader(seqs, part.labels[kept], model, batch_size)
    ev = evaluate_model(model, loader, CrossEntropyLoss(), return_predictions=True)
    res = summarize(ev["y_true"], ev["y_pred"], len(names))
    res.update({"loss": ev["loss"], "dataset": str(path), "split": split, "checkpoint": str(checkpoint),
                "model": meta["model"]["name"], "class_names": names})
    return res
