"""TextCNN (Kim 2014, "Convolutional Neural Networks for Sentence Classification") on the engine's conv1d.

    ids (N, L) -> embedding (N, L, D) -> per window k in kernel_sizes: conv1d (D -> num_filters, k) -> ReLU
    -> max over time -> concat (N, len(kernel_sizes) * num_filters) -> dropout -> fc -> logits (N, num_classes)

Defaults are Kim's: windows 3, 4, 5 with 100 maps each, ReLU, max-over-time pooling, dropout 0.5, and the
max-norm constraint 3 on the output layer's weight vectors (``apply_constraints()``, called after every
optimiser step by the text trainer).

Padding (id 0) is masked out of the max over time: positions whose window reaches past a text's end are set
to -inf before the max (``max(relu(c)) == relu(max(c))``, so ReLU is applied after the max, on (N, F) only).
A text shorter than a window keeps its single position-0 window (the missing tokens count as zero vectors),
so a padded batch gives exactly the outputs of the texts run one by one.

Embedding variants (``embedding``): ``rand`` (one trainable table), ``static`` (frozen table, e.g. pretrained
vectors), ``non-static`` (trainable table initialised with pretrained vectors; same layout as ``rand``),
``multichannel`` (a frozen and a trainable copy, stacked as 2*D input channels: each filter sees both, which
is Kim's two-channel convolution). Pretrained vectors are copied in by the caller (``load_vectors``).

Optional hashed character/word n-gram embeddings (``ngram_orders``, e.g. (2, 3)): the n-gram starting at each
position is hashed (from the token ids) into ``ngram_buckets`` rows of an extra table per order; the vectors are
added to the token embedding (``ngram_mode="sum"``) or stacked as extra channels (``"concat"``). Bucket 0 is
padding (n-grams that run past the text's end), always zero.

Optional word channel (``word_buckets`` > 0, with the ``char+jieba`` tokenizer): each input id packs a
character and the hashed jieba word it belongs to, ``char_id + vocab_size * word_bucket``; the word vectors (a
table of ``word_buckets + 1`` rows, zero-initialised, row 0 = padding) are added to the character embedding
(``word_mode="sum"``) or stacked as extra channels (``"concat"``). Character n-grams use the character ids.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import functional as F
from .. import nn
from ..nn.utils import max_norm_
from ..random import default_generator
from ..tensor import Tensor

__all__ = ["TextCNN", "hash_ngrams", "masked_max_over_time", "masked_mean_over_time", "EMBEDDINGS"]

EMBEDDINGS = ("rand", "static", "non-static", "multichannel")
PAD_ID = 0
_MIX = np.int64(1000003)
_MOD = np.int64(2147483647)
_KNUTH = np.int64(2654435761)


def hash_ngrams(ids: np.ndarray, order: int, buckets: int) -> np.ndarray:
    """Bucket (1..buckets) of the n-gram of ``order`` tokens starting at each position of ``ids`` (N, L);
    0 where the n-gram would include padding or run past the end. Deterministic (depends on ids only)."""
    ids = np.asarray(ids, dtype=np.int64)
    n, length = ids.shape
    out = np.zeros((n, length), dtype=np.int64)
    m = length - order + 1
    if m <= 0:
        return out
    h = np.zeros((n, m), dtype=np.int64)
    valid = np.ones((n, m), dtype=bool)
    for j in range(order):
        part = ids[:, j:j + m]
        h = (h * _MIX + part + j) % _MOD
        valid &= part != PAD_ID
    h = (h * _KNUTH) % np.int64(1 << 32)
    out[:, :m] = np.where(valid, h % buckets + 1, 0)
    return out


def masked_max_over_time(c: Tensor, lengths: np.ndarray, kernel: int) -> Tensor:
    """Max over the last axis of ``c`` (N, F, L_out), over the first ``max(len - kernel + 1, 1)`` positions
    of each sample only (the windows that lie inside its text); the rest is set to -inf first."""
    n, _, lout = c.shape
    valid = np.maximum(np.asarray(lengths) - kernel + 1, 1)
    if (valid >= lout).all():
        return c.max(axis=2)
    mask = np.where(np.arange(lout)[None, :] < valid[:, None], 0.0, -np.inf).astype(c.dtype)
    return (c + Tensor(mask[:, None, :])).max(axis=2)


def masked_mean_over_time(c: Tensor, lengths: np.ndarray, kernel: int) -> Tensor:
    """Mean over the last axis of ``c`` (N, F, L_out), over the first ``max(len - kernel + 1, 1)`` positions
    of each sample only (the same windows ``masked_max_over_time`` uses)."""
    lout = c.shape[2]
    valid = np.minimum(np.maximum(np.asarray(lengths) - kernel + 1, 1), lout)
    weights = (np.arange(lout)[None, :] < valid[:, None]) / valid[:, None]
    return (c * Tensor(weights.astype(c.dtype)[:, None, :])).sum(axis=2)


class TextCNN(nn.Module):
    """Kim's TextCNN: input ids (N, L) int64 (0 = padding, after the tokens) -> logits (N, num_classes).

    Args:
        num_classes: output classes.
        vocab_size: rows of the token embedding (including ``<pad>`` = 0 and ``<unk>``).
        embed_dim: embedding size D (Kim: 300).
        kernel_sizes: convolution window widths (Kim: 3, 4, 5).
        num_filters: feature maps per window width (Kim: 100).
        dropout: dropout on the pooled features (Kim: 0.5).
        max_norm: max L2 norm of each output unit's weight vector, enforced by ``apply_constraints`` (Kim: 3);
            None or 0 disables it.
        embedding: ``rand`` | ``static`` | ``non-static`` | ``multichannel`` (see the module docstring).
        ngram_orders: orders of hashed n-gram embeddings to add (e.g. [2, 3]); empty for plain Kim.
        ngram_buckets: hash buckets per order.
        ngram_mode: ``sum`` (add to the token embedding) or ``concat`` (extra input channels).
        embed_dropout: dropout on the embedded sequence (0 for Kim).
        ngram_init_std: standard deviation of the n-gram tables' normal initialisation (default 0: they start
            at zero, so training starts from the plain token model and the n-grams learn corrections).
        embed_init: the token embedding starts uniform in [-embed_init, embed_init] (Kim's code: 0.25; the
            ``<pad>`` row is zero). Pretrained vectors replace it.
        pooling: ``max`` (Kim: max over time), ``mean`` (mean of the ReLU maps over the text) or ``max+mean``
            (both, concatenated: the output layer then sees 2 * len(kernel_sizes) * num_filters features).
        ngram_dropout: in training, each n-gram is dropped (its bucket set to padding, a zero vector) with this
            probability, so the model cannot lean on memorised rare n-grams alone.
        word_buckets: rows of the word channel (0: none); ids are then packed ``char + vocab_size * word``.
        word_mode: ``sum`` (add the word vector to its characters' vectors) or ``concat`` (extra channels).
    """

    input_kind = "tokens"
    """Its input is token ids, not images (image training, `scratchcnn train`, refuses it)."""

    def __init__(self, num_classes: int = 2, vocab_size: int = 10000, embed_dim: int = 300,
                 kernel_sizes: Sequence[int] = (3, 4, 5), num_filters: int = 100, dropout: float = 0.5,
                 max_norm: float | None = 3.0, embedding: str = "rand", ngram_orders: Sequence[int] = (),
                 ngram_buckets: int = 0, ngram_mode: str = "sum", embed_dropout: float = 0.0,
                 ngram_init_std: float = 0.0, embed_init: float = 0.25, ngram_dropout: float = 0.0,
                 pooling: str = "max", word_buckets: int = 0, word_mode: str = "sum"):
        super().__init__()
        if embedding not in EMBEDDINGS:
            raise ValueError(f"TextCNN: embedding must be one of {', '.join(EMBEDDINGS)}, got {embedding!r}")
        if ngram_mode not in ("sum", "concat"):
            raise ValueError(f"TextCNN: ngram_mode must be 'sum' or 'concat', got {ngram_mode!r}")
        ks = [int(k) for k in kernel_sizes]
        if not ks or min(ks) < 1:
            raise ValueError(f"TextCNN: kernel_sizes must be positive window widths, got {list(kernel_sizes)}")
        orders = [int(o) for o in ngram_orders]
        if any(o < 2 for o in orders):
            raise ValueError(f"TextCNN: ngram_orders must be >= 2 (order 1 is the token itself), got {orders}")
        if orders and ngram_buckets < 1:
            raise ValueError(f"TextCNN: ngram_orders {orders} need ngram_buckets >= 1, got {ngram_buckets}")
        if vocab_size < 2:
            raise ValueError(f"TextCNN: vocab_size must be >= 2 (pad and unk), got {vocab_size}")
        self.kernel_sizes, self.embedding_type = ks, embedding
        self.ngram_orders, self.ngram_buckets, self.ngram_mode = orders, int(ngram_buckets), ngram_mode
        if not 0.0 <= ngram_dropout < 1.0:
            raise ValueError(f"TextCNN: ngram_dropout must be in [0, 1), got {ngram_dropout}")
        self.ngram_dropout = float(ngram_dropout)
        if pooling not in ("max", "mean", "max+mean"):
            raise ValueError(f"TextCNN: pooling must be 'max', 'mean' or 'max+mean', got {pooling!r}")
        self.pooling = pooling
        if word_mode not in ("sum", "concat") or int(word_buckets) < 0:
            raise ValueError(f"TextCNN: word_mode must be 'sum' or 'concat' and word_buckets >= 0, got "
                             f"{word_mode!r}, {word_buckets}")
        self.vocab_size, self.word_buckets, self.word_mode = int(vocab_size), int(word_buckets), word_mode
        self.max_norm = float(max_norm) if max_norm else None
        self.min_length = max(ks)
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD_ID)
        nn.init.uniform_(self.embedding.weight, -float(embed_init), float(embed_init))
        self.embedding.weight.data[PAD_ID] = 0.0
        if embedding == "static":
            self.embedding.weight.requires_grad_(False)
        channels = embed_dim
        if embedding == "multichannel":
            self.embedding_static = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD_ID)
            self.embedding_static.weight.data[...] = self.embedding.weight.data
            self.embedding_static.weight.requires_grad_(False)
            channels += embed_dim
        if orders:
            self.ngram_embeddings = nn.ModuleList(
                [nn.Embedding(self.ngram_buckets + 1, embed_dim, padding_idx=PAD_ID) for _ in orders])
            for table in self.ngram_embeddings:
                table.weight.data[...] = 0.0
                if ngram_init_std > 0:
                    nn.init.normal_(table.weight, std=float(ngram_init_std))
                    table.weight.data[PAD_ID] = 0.0
            if ngram_mode == "concat":
                channels += embed_dim * len(orders)
        if self.word_buckets:
            self.word_embedding = nn.Embedding(self.word_buckets + 1, embed_dim, padding_idx=PAD_ID)
            self.word_embedding.weight.data[...] = 0.0
            if word_mode == "concat":
                channels += embed_dim
        self.embed_dropout = nn.Dropout(embed_dropout)
        self.convs = nn.ModuleList([nn.Conv1d(channels, num_filters, k) for k in ks])
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(num_filters * len(ks) * (2 if pooling == "max+mean" else 1), num_classes)

    def embed(self, ids: np.ndarray, words: np.ndarray | None = None) -> Tensor:
        """(N, L) ids (and word buckets, with a word channel) -> (N, L, C) input features (all channels)."""
        x = self.embedding(ids)
        parts = [x]
        if words is not None:
            w = self.word_embedding(words)
            if self.word_mode == "sum":
                parts[0] = parts[0] + w
            else:
                parts.append(w)
        if self.embedding_type == "multichannel":
            parts.append(self.embedding_static(ids))
        if self.ngram_orders:
            grams = []
            for o, table in zip(self.ngram_orders, self.ngram_embeddings):
                h = hash_ngrams(ids, o, self.ngram_buckets)
                if self.training and self.ngram_dropout > 0:
                    h[default_generator().random(h.shape) < self.ngram_dropout] = PAD_ID
                grams.append(table(h))
            if self.ngram_mode == "sum":
                for g in grams:
                    parts[0] = parts[0] + g
            else:
                parts += grams
        return parts[0] if len(parts) == 1 else F.cat(parts, 2)

    def _plain_convs(self) -> bool:
        """The windows and their pooling can run fused (:func:`~scratchcnn.functional.conv1d_windows_max`) when
        every one is a plain ``nn.Conv1d`` (not wrapped, e.g. by LoRA) without hooks (a summary, feature maps or an
        inserted block must see each module run)."""
        return all(type(c) is nn.Conv1d and not c._forward_hooks and not c._forward_pre_hooks and c.stride == (1,)
                   and c.groups == 1 and c.padding == (0,) and c.padding_mode == "zeros" for c in self.convs) \
            and len({(c.dilation, c.mode) for c in self.convs}) == 1

    def features(self, ids: Tensor | np.ndarray) -> Tensor:
        """The pooled features (N, len(kernel_sizes) * num_filters), before dropout and the output layer."""
        x = ids.data if isinstance(ids, Tensor) else np.asarray(ids)
        if x.ndim != 2 or x.dtype.kind not in "iu":
            raise ValueError(f"TextCNN: expected token ids (N, L) of an integer type, got shape {x.shape} "
                             f"dtype {x.dtype}")
        lengths = (x != PAD_ID).sum(axis=1)
        if x.shape[1] < self.min_length:  # shorter than the widest window: pad (masked anyway)
            x = np.pad(x, ((0, 0), (0, self.min_length - x.shape[1])))
        words = None
        if self.word_buckets:  # unpack char + vocab_size * word
            x, words = x % self.vocab_size, x // self.vocab_size
            if words.max(initial=0) > self.word_buckets:
                raise ValueError(f"TextCNN: word bucket {words.max()} > word_buckets {self.word_buckets}")
        h = self.embed_dropout(self.embed(x, words)).transpose(1, 2)  # (N, C, L)
        if self.pooling == "max" and self._plain_convs():   # windows and pooling in one op, one GEMM per tap
            first = self.convs[0]
            valid = np.maximum(lengths[:, None] - np.asarray(self.kernel_sizes)[None, :] + 1, 1)   # inside the text
            c = F.conv1d_windows_max(h, [conv.weight for conv in self.convs], [conv.bias for conv in self.convs],
                                     valid=valid, dilation=first.dilation[0], mode=first.mode)
            return F.relu(c)
        maxes, means = [], []
        for conv, k in zip(self.convs, self.kernel_sizes):
            c = conv(h)
            if self.pooling != "mean":
                maxes.append(masked_max_over_time(c, lengths, k))
            if self.pooling != "max":
                means.append(masked_mean_over_time(F.relu(c), lengths, k))
        parts = ([F.relu(F.cat(maxes, 1) if len(maxes) > 1 else maxes[0])] if maxes else []) + means
        return F.cat(parts, 1) if len(parts) > 1 else parts[0]

    def forward(self, ids: Tensor | np.ndarray) -> Tensor:
        return self.fc(self.dropout(self.features(ids)))

    def apply_constraints(self) -> None:
        """Kim's max-norm: rescale each output unit's weight vector to L2 norm <= ``max_norm`` (in place)."""
        if self.max_norm:
            max_norm_(self.fc.weight, self.max_norm, dim=0)
