"""TextTrainConfig: everything that defines a text-classification run (stored in the checkpoint).

The defaults are plain Kim (2014) TextCNN ``rand``: windows 3/4/5 x 100 maps, embedding size 300, dropout 0.5,
max-norm 3, mini-batches of 50; Adam (lr 1e-3) stands in for Kim's Adadelta.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from numbers import Integral

from .tokenize import TOKENIZERS

__all__ = ["TextTrainConfig", "TEXT_MODELS", "TRAIN_ON"]

TEXT_MODELS = ("textcnn", "charcnn")
_EMBEDDINGS = ("rand", "static", "non-static", "multichannel")
TRAIN_ON = ("train", "train+val")


@dataclass
class TextTrainConfig:
    """Settings of ``train_text``. ``model_config`` holds extra model options (e.g. ``channels`` for charcnn)."""

    data: str = ""
    text_col: str = "text"
    label_col: str = "label"
    seed: int = 0
    tokenizer: str = "auto"
    lower: bool = True
    nfkc: bool = False                    # char tokenizers: texts in Unicode NFKC first (full-width -> ASCII)
    min_freq: int = 1
    max_vocab: int | None = None
    max_len: int = 256
    model: str = "textcnn"
    embedding: str | None = None          # None: "rand", or "non-static" when vectors are given
    vectors: str | None = None
    pretrain: str | None = None           # "ppmi": initialise the token embedding from the training texts
    embed_dim: int = 300
    kernel_sizes: list[int] = field(default_factory=lambda: [3, 4, 5])
    num_filters: int = 100
    dropout: float = 0.5
    max_norm: float | None = 3.0
    pooling: str = "max"
    embed_dropout: float = 0.0
    ngram_orders: list[int] = field(default_factory=list)
    ngram_buckets: int = 0
    ngram_mode: str = "sum"
    ngram_dropout: float = 0.0
    word_buckets: int = 0                 # char+jieba tokenizer: hashed word rows (0: DEFAULT_WORD_BUCKETS)
    word_mode: str = "sum"
    epochs: int = 8
    batch_size: int = 50
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float | None = None      # None: the optimiser's default (1e-2 for adamw, else 0), filled in
    scheduler: str = "none"
    label_smoothing: float = 0.0
    ema: float | None = None
    adversarial: float = 0.0              # > 0: FGM on the embedding tables with this eps (train/adversarial.py)
    rdrop: float = 0.0                    # > 0: R-Drop with this alpha (train/rdrop.py)
    patience: int | None = None
    limit_train: int | None = None
    stop_epoch: int | None = None         # stop after this epoch of the ``epochs``-long schedule
    train_on: str = "train"               # "train+val": refit on both, no epoch selection (the last is kept)
    eval_batch_size: int = 200
    ensemble: int = 1                     # K > 1: K models, seeds seed .. seed + K - 1, probabilities averaged
    model_config: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.weight_decay is None:
            from ..train.config import default_weight_decay
            self.weight_decay = default_weight_decay(self.optimizer)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad setting."""
        def bad(name: str, expected: str) -> None:
            raise ValueError(f"train-text: {name} must be {expected}, got {getattr(self, name)!r}")
        for name in ("epochs", "batch_size", "eval_batch_size", "max_len", "min_freq", "num_filters", "embed_dim",
                     "ensemble"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                bad(name, "a positive integer")
        if not self.kernel_sizes or any(not isinstance(k, Integral) or isinstance(k, bool) or k < 1
                                        for k in self.kernel_sizes):
            bad("kernel_sizes", "a non-empty list of positive window widths")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            bad("lr", "a positive number")
        if self.tokenizer not in TOKENIZERS:
            bad("tokenizer", f"one of {', '.join(TOKENIZERS)}")
        if self.model not in TEXT_MODELS:
            bad("model", f"one of {', '.join(TEXT_MODELS)}")
        if self.embedding is not None and self.embedding not in _EMBEDDINGS:
            bad("embedding", f"one of {', '.join(_EMBEDDINGS)}")
        if self.embedding in ("static", "non-static", "multichannel") and not (self.vectors or self.pretrain):
            raise ValueError(f"train-text: --embedding {self.embedding} uses pretrained vectors; give --vectors FILE "
                             "(a word2vec/GloVe text file) or --pretrain ppmi")
        if self.embedding == "rand" and (self.vectors or self.pretrain):
            raise ValueError("train-text: --embedding rand ignores pretrained vectors; use static, non-static or "
                             "multichannel with --vectors/--pretrain")
        if self.word_mode not in ("sum", "concat"):
            bad("word_mode", "'sum' or 'concat'")
        if not isinstance(self.word_buckets, int) or self.word_buckets < 0:
            bad("word_buckets", "a non-negative integer")
        if self.nfkc and self.tokenizer in ("word", "jieba"):
            raise ValueError(f"train-text: --nfkc normalises the texts of the character tokenizers (char, char+jieba); "
                             f"--tokenizer {self.tokenizer} does not take it (word normalises to NFC already)")
        if self.word_buckets and self.tokenizer != "char+jieba":
            raise ValueError("train-text: --word-buckets is the size of the char+jieba tokenizer's word channel; "
                             "use it with --tokenizer char+jieba")
        if self.tokenizer == "char+jieba" and self.model != "textcnn":
            raise ValueError("train-text: --tokenizer char+jieba feeds TextCNN's word channel; use --model textcnn")
        if self.pooling not in ("max", "mean", "max+mean"):
            bad("pooling", "'max', 'mean' or 'max+mean'")
        if self.pretrain not in (None, "ppmi"):
            bad("pretrain", "None or 'ppmi'")
        if self.pretrain and self.vectors:
            raise ValueError("train-text: --pretrain and --vectors both initialise the embedding; give one")
        if self.model == "charcnn" and (self.vectors or self.ngram_orders or self.pretrain):
            raise ValueError("train-text: --vectors, --pretrain and --ngrams are TextCNN options; charcnn learns "
                             "its own character embedding")
        for name in ("dropout", "embed_dropout", "label_smoothing", "ngram_dropout"):
            if not 0.0 <= float(getattr(self, name)) < 1.0:
                bad(name, "in [0, 1)")
        if self.weight_decay < 0:
            bad("weight_decay", ">= 0")
        if not (isinstance(self.adversarial, (int, float)) and self.adversarial >= 0):
            bad("adversarial", "a number >= 0 (0: off)")
        if (self.adversarial and self.model == "textcnn" and self.embedding_type == "static"
                and not self.ngram_orders and self.tokenizer != "char+jieba"):
            raise ValueError("train-text: --adversarial perturbs the trainable embedding tables, and --embedding "
                             "static has none (it freezes the only one); use non-static or multichannel, or drop "
                             "--adversarial")
        if not (isinstance(self.rdrop, (int, float)) and not isinstance(self.rdrop, bool) and self.rdrop >= 0):
            bad("rdrop", "a number >= 0 (0: off)")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            bad("ema", "in (0, 1) or None")
        if self.max_vocab is not None and self.max_vocab < 3:
            bad("max_vocab", ">= 3 or None")
        if self.ngram_orders and self.ngram_buckets < 1:
            raise ValueError(f"train-text: n-grams {self.ngram_orders} need --ngram-buckets >= 1")
        if self.train_on not in TRAIN_ON:
            bad("train_on", f"one of {', '.join(TRAIN_ON)}")
        if self.train_on == "train+val" and self.patience is not None:
            raise ValueError("train-text: --patience stops on validation, but --train-on train+val trains on the "
                             "validation split; drop one of them")
        for name in ("patience", "limit_train", "stop_epoch"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                bad(name, "a positive integer or None")
        if self.stop_epoch is not None and self.stop_epoch > self.epochs:
            raise ValueError(f"train-text: --stop-epoch {self.stop_epoch} lies beyond the schedule's "
                             f"--epochs {self.epochs}")

    @property
    def epochs_run(self) -> int:
        """Epochs actually trained: ``epochs``, or ``stop_epoch`` when it stops the schedule early."""
        return self.stop_epoch or self.epochs

    @property
    def embedding_type(self) -> str:
        return self.embedding or ("non-static" if self.vectors or self.pretrain else "rand")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TextTrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"text train config: unknown setting(s) {', '.join(unknown)}")
        return cls(**d)
