"""The pieces of a text training run: prepare the data once (split, tokenizer, vocabulary, encoded splits),
then train one model on it (``fit_model``), keeping its best epoch on validation.

``train_text`` (``run.py``) fits one model; ``train_ensemble`` (``ensemble.py``) fits K with seeds
``seed, seed + 1, ...`` on the same prepared data. The split always uses ``cfg.seed``: a member's seed changes
only its initialisation, batch order and dropout.
"""
from __future__ import annotations

import functools
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .config import TextTrainConfig
from .corpus import load_corpus
from .loader import TextLoader, encode_texts
from .splits import CorpusSplits, split_corpus
from .tokenize import DEFAULT_WORD_BUCKETS, CharTokenizer, Tokenizer, get_tokenizer
from .vocab import Vocab

__all__ = ["TASK", "PreparedText", "prepare_splits", "split_fingerprint", "prepare_text", "model_config",
           "make_loader", "FitResult", "fit_model", "common_result"]

TASK = "text-classification"
Encoded = tuple[list[np.ndarray], np.ndarray]


def prepare_splits(data: str | Path, text_col: str = "text", label_col: str = "label",
                   seed: int = 0) -> CorpusSplits:
    """Read a corpus (folder of ``<label>.txt`` or CSV/TSV/JSONL) and split it by the fixed rule."""
    return split_corpus(load_corpus(data, text_col, label_col), seed=seed)


def split_fingerprint(splits: CorpusSplits) -> str:
    """SHA-256 (hex) of the split's texts and labels, split by split in order: ``evaluate`` compares it with the
    one saved at training to see whether the corpus still splits the same way."""
    import hashlib
    import json
    h = hashlib.sha256()
    for name in ("train", "val", "test"):
        part = splits.get(name)
        for text, label in zip(part.texts, part.labels):
            h.update(json.dumps([name, text, splits.classes[label]], ensure_ascii=False).encode("utf-8") + b"\n")
    return h.hexdigest()


def warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr)


@dataclass
class PreparedText:
    """A corpus split, tokenized and encoded: ``encoded[name] = (id arrays, labels)`` for train/val/test."""

    splits: CorpusSplits
    tokenizer: Tokenizer
    vocab: Vocab
    encoded: dict[str, Encoded]
    truncated: int
    classes: list[str]

    @functools.cached_property
    def fingerprint(self) -> str:
        """``split_fingerprint`` of the splits (computed once)."""
        return split_fingerprint(self.splits)

    def meta(self, cfg: TextTrainConfig) -> dict:
        """The ``meta.json`` entries every checkpoint of this run carries (besides the model's)."""
        return {
            "task": TASK, "class_names": self.classes, "dataset": str(cfg.data),
            "data": {"path": str(Path(cfg.data).resolve()), "text_col": cfg.text_col, "label_col": cfg.label_col,
                     "seed": cfg.seed, "split": self.splits.report, "split_sha256": self.fingerprint,
                     "train_on": cfg.train_on},
            "tokenizer": self.tokenizer.config(), "vocab": self.vocab.to_list(), "max_len": cfg.max_len,
            "train_config": cfg.to_dict(),
        }


def prepare_text(cfg: TextTrainConfig) -> PreparedText:
    """Split ``cfg.data`` by the fixed rule (seed ``cfg.seed``), build the tokenizer and the vocabulary on the
    training split, and encode the three splits (texts without tokens are left out, with a warning).

    With ``cfg.train_on == "train+val"`` the validation texts join the training split (after it, in split
    order) and the encoded validation split is empty."""
    splits = prepare_splits(cfg.data, cfg.text_col, cfg.label_col, cfg.seed)
    train_split, val_split = splits.train, splits.val
    if cfg.train_on == "train+val":
        train_split, val_split = train_split + val_split, val_split.subset([])
    unlimited = train_split.labels
    if cfg.limit_train is not None and cfg.limit_train < len(train_split):
        train_split = train_split.subset(np.arange(cfg.limit_train))  # already shuffled by the split rule
    spec: str | dict = cfg.tokenizer
    if cfg.tokenizer == "auto" and cfg.model == "charcnn":
        spec = "char"  # a character-level model reads characters, in any language
    if cfg.tokenizer == "char+jieba":
        spec = {"name": cfg.tokenizer, "lower": cfg.lower, "word_buckets": cfg.word_buckets or DEFAULT_WORD_BUCKETS}
    tokenizer = get_tokenizer(spec, texts=train_split.texts)
    if cfg.lower is False:
        tokenizer.lower = False
    if cfg.nfkc:
        if not isinstance(tokenizer, CharTokenizer):
            raise ValueError(f"train-text: --nfkc normalises the texts of the character tokenizers, but --tokenizer "
                             f"auto chose {tokenizer.name!r} for this corpus; pass --tokenizer char or drop --nfkc")
        tokenizer.normalize = True
    vocab = Vocab.build(tokenizer.tokenize_all(train_split.texts), min_freq=cfg.min_freq, max_size=cfg.max_vocab)
    if len(vocab) <= 2:
        warn(f"the vocabulary is empty (no {tokenizer.name} token occurs --min-freq {cfg.min_freq} times in the "
             "training texts): every text reads as <unk>")
    encoded: dict[str, Encoded] = {}
    truncated = 0
    for name, part in (("train", train_split), ("val", val_split), ("test", splits.test)):
        seqs, trunc, kept = encode_texts(part.texts, tokenizer, vocab, cfg.max_len, skip_empty=True)
        if len(kept) < len(part):
            warn(f"{len(part) - len(kept)} {name} text(s) have no {tokenizer.name} tokens and were left out")
        encoded[name] = (seqs, part.labels[kept])
        truncated += trunc
    if truncated:
        warn(f"{truncated} text(s) longer than --max-len {cfg.max_len} tokens were truncated")
    _check_train_classes(cfg, splits, encoded["train"][1], unlimited)
    if cfg.train_on == "train" and not len(encoded["val"][0]):
        why = (f"the split of {splits.report['kept']} usable texts has none; 10 give one"
               if not splits.report["sizes"]["val"] else "none has tokens")
        warn(f"no validation texts ({why}): the last epoch is kept"
             + ("; --patience has no effect" if cfg.patience is not None else ""))
    return PreparedText(splits, tokenizer, vocab, encoded, truncated, list(splits.classes))


def _check_train_classes(cfg: TextTrainConfig, splits: CorpusSplits, labels: np.ndarray,
                         unlimited: np.ndarray) -> None:
    """Refuse a training set that lacks a label (the model could never predict it); ``unlimited``: the training
    labels before ``--limit-train``."""
    missing = [c for i, c in enumerate(splits.classes) if not np.any(labels == i)]
    if not missing:
        return
    names = ", ".join(map(repr, missing))
    if cfg.limit_train is not None and all(np.any(unlimited == splits.classes.index(c)) for c in missing):
        raise ValueError(f"train-text: --limit-train {cfg.limit_train} leaves no training text labelled {names}; "
                         "raise it")
    counts = ", ".join(f"{c} {n}" for c, n in splits.report["per_label_unique"].items())
    raise ValueError(f"{cfg.data}: the training split ({len(labels)} of {splits.report['kept']} usable texts) has "
                     f"no text labelled {names} (unique texts per label: {counts}); add texts of every label "
                     "(training gets a random 80%)")


def model_config(cfg: TextTrainConfig, vocab_size: int) -> dict:
    """Keyword arguments of ``models.get(cfg.model, num_classes=..., **this)``."""
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
        if cfg.tokenizer == "char+jieba":
            out.update(word_buckets=cfg.word_buckets or DEFAULT_WORD_BUCKETS, word_mode=cfg.word_mode)
    out.update(cfg.model_config)
    return out


def make_loader(seqs: list[np.ndarray], labels: np.ndarray, model: Any, batch_size: int, shuffle: bool = False,
                seed: int = 0) -> TextLoader:
    """Batches for ``model`` (padded to its widest window or its fixed length); evaluation goes shortest first."""
    return TextLoader(seqs, labels, batch_size=batch_size, shuffle=shuffle, seed=seed,
                      min_len=getattr(model, "min_length", 1), fixed_len=getattr(model, "fixed_length", None),
                      sort_by_length=not shuffle)


@dataclass
class FitResult:
    """One trained model: its best epoch's weights (loaded into ``model``) and checkpoint metadata."""

    model: Any
    trainer: Any
    best_state: dict[str, np.ndarray]
    best_meta: dict
    best_dir: Path
    loss_fn: Any

    @property
    def best_epoch(self) -> int | None:
        return self.best_meta.get("epoch")

    @property
    def best_logs(self) -> dict:
        return next((h for h in self.trainer.history if h.get("epoch") == self.best_epoch), {})


def _init_embedding(cfg: TextTrainConfig, prep: PreparedText, model: Any, seed: int) -> dict | None:
    """Copy pretrained (``--vectors``) or corpus-trained (``--pretrain``) vectors into the token embedding."""
    mat, report = None, None
    if cfg.vectors:
        from .vectors import load_vectors
        mat, report = load_vectors(cfg.vectors, prep.vocab, dim=cfg.embed_dim,
                                   generator=np.random.default_rng(seed))
        print(f"vectors: {report['found']}/{report['found'] + report['missing']} vocabulary tokens "
              f"found in {cfg.vectors}", file=sys.stderr)
    elif cfg.pretrain == "ppmi":
        from .pretrain import ppmi_svd_vectors
        t0 = time.perf_counter()
        mat = ppmi_svd_vectors(prep.encoded["train"][0], len(prep.vocab), cfg.embed_dim, seed=seed)
        print(f"pretrained {len(prep.vocab)} x {cfg.embed_dim} PPMI-SVD vectors on the training texts "
              f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    if mat is not None:
        model.embedding.weight.data[...] = mat
        model.embedding.weight._version += 1
        if hasattr(model, "embedding_static"):
            model.embedding_static.weight.data[...] = mat
            model.embedding_static.weight._version += 1
    return report


def fit_model(cfg: TextTrainConfig, prep: PreparedText, out: Path, seed: int, progress: bool = True,
              tensorboard: bool = False, extra_callbacks: Iterable[Any] = (),
              extra_meta: dict | None = None) -> FitResult:
    """Train ``cfg.model`` on ``prep`` with ``seed`` (initialisation, batch order, dropout); the best epoch on
    validation (the last one when there is no validation split) is saved to ``out/best`` (history in
    ``out/history.json|csv``) and loaded back into the model."""
    from .. import manual_seed
    from ..io import load_checkpoint
    from ..models import get as get_model
    from ..models.loading import model_meta
    from ..nn import CrossEntropyLoss
    from ..train import callbacks as C
    from ..train.config import build_optimizer, build_scheduler
    from ..train.trainer import Trainer
    from .callbacks import ConstraintCallback, WeightEMA

    manual_seed(seed)
    model = get_model(cfg.model, num_classes=len(prep.classes), **model_config(cfg, len(prep.vocab)))
    vec_report = _init_embedding(cfg, prep, model, seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer(cfg.optimizer, params, cfg.lr, cfg.weight_decay)
    train_loader = make_loader(*prep.encoded["train"], model, cfg.batch_size, shuffle=True, seed=seed)
    val_loader = make_loader(*prep.encoded["val"], model, cfg.eval_batch_size) if len(prep.encoded["val"][0]) \
        else None
    scheduler, interval = build_scheduler(cfg.scheduler, optimizer, cfg.epochs, len(train_loader), cfg.lr)
    loss_fn = CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    base_meta = {**prep.meta(cfg), "vectors": vec_report, **(extra_meta or {})}

    def meta_fn(trainer, logs):
        return model_meta(model, **base_meta)

    adversary = None
    if cfg.adversarial:   # before anything is written: a model without a trainable table is an error
        from ..train.adversarial import FGM, embedding_tables
        adversary = FGM(embedding_tables(model), cfg.adversarial)
    out.mkdir(parents=True, exist_ok=True)
    best_dir = out / "best"
    cbs: list = [C.ProgressBar(enabled=progress), ConstraintCallback()]
    if cfg.ema:
        cbs.append(WeightEMA(cfg.ema))
    # without validation (train+val) the last epoch is kept: a fixed schedule, not a choice on training data
    monitor = "val_accuracy" if val_loader is not None else "epoch"
    cbs += [C.BestCheckpoint(best_dir, meta_fn, monitor=monitor), C.HistoryWriter(out)]
    if cfg.patience is not None:
        cbs.append(C.EarlyStopping(patience=cfg.patience))
    if cfg.stop_epoch is not None:
        cbs.append(C.StopAtEpoch(cfg.stop_epoch))
    if tensorboard:
        cbs.append(C.TensorBoardLogger(out / "tensorboard"))
    cbs.extend(extra_callbacks)
    rdrop = None
    if cfg.rdrop:
        from ..train.rdrop import RDrop
        rdrop = RDrop(cfg.rdrop)
    trainer = Trainer(model, optimizer, loss_fn=loss_fn, scheduler=scheduler, scheduler_interval=interval,
                      epochs=cfg.epochs, callbacks=cbs, meta_fn=meta_fn, config=cfg.to_dict(), adversary=adversary,
                      rdrop=rdrop, eval_loss_fn=CrossEntropyLoss() if cfg.label_smoothing or rdrop else None)

    def train_data(epoch: int):
        train_loader.set_epoch(epoch - 1)
        return train_loader

    trainer.fit(train_data, val_loader)
    best_state, best_meta = load_checkpoint(best_dir)
    model.load_state_dict(best_state)
    return FitResult(model, trainer, best_state, dict(best_meta), best_dir, loss_fn)


def common_result(cfg: TextTrainConfig, prep: PreparedText, model: Any, out: Path) -> dict:
    """The entries of ``train_text``'s result that do not depend on how the model was trained."""
    return {
        "out_dir": str(out),
        "classes": prep.classes,
        "model": cfg.model,
        "embedding": cfg.embedding_type if cfg.model == "textcnn" else None,
        "tokenizer": prep.tokenizer.name,
        "vocab_size": len(prep.vocab),
        "num_parameters": int(model.num_parameters()),
        "num_train": len(prep.encoded["train"][0]),
        "num_val": len(prep.encoded["val"][0]),
        "num_test": len(prep.encoded["test"][0]),
        "truncated": prep.truncated,
        "split": prep.splits.report,
        "config": cfg.to_dict(),
    }
