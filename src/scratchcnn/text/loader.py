"""From texts to batches: encode (tokenize, look up ids, truncate to ``max_len``), pad, and iterate.

Batches are ``(ids, labels)``: int64 Tensors (B, L) with ``<pad>`` = 0 after each text, and (B,). Each batch
is padded only to its longest text (at least ``min_len``, e.g. the widest convolution window), or to exactly
``fixed_len`` for models with a fixed input length. Models mask the padding, so how much there is does not
change their output. Training batches group texts of similar length (sorted within pools of
``pool_batches`` batches, pools and batch order shuffled), which saves most of the padding work; the order of
epoch ``e`` depends only on ``(seed, e)``.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from ..tensor import Tensor
from .tokenize import CharWordTokenizer, Tokenizer
from .vocab import PAD_ID, Vocab

__all__ = ["encode_texts", "pad_batch", "TextLoader"]


def encode_texts(texts: Sequence[str], tokenizer: Tokenizer, vocab: Vocab, max_len: int | None = None,
                 skip_empty: bool = False) -> tuple[list[np.ndarray], int, list[int]]:
    """``(ids, truncated, kept)``: the ids of each text (truncated to ``max_len`` tokens), how many texts were
    truncated, and the indices of the texts encoded.

    A text without tokens (empty, or only characters the tokenizer drops) is an error naming it, or, with
    ``skip_empty``, left out (its index is missing from ``kept``).
    """
    if max_len is not None and max_len < 1:
        raise ValueError(f"encode_texts: max_len must be >= 1, got {max_len}")
    out: list[np.ndarray] = []
    kept: list[int] = []
    truncated = 0
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"encode_texts: text {i + 1} is a {type(t).__name__}, expected a string")
        toks = tokenizer(t)
        if not toks:
            if skip_empty:
                continue
            what = "is empty" if not t.strip() else f"({t[:40]!r}) has no {tokenizer.name} tokens"
            raise ValueError(f"text {i + 1} {what}; every text needs at least one token")
        if max_len is not None and len(toks) > max_len:
            toks = toks[:max_len]
            truncated += 1
        ids = vocab.encode(toks)
        if isinstance(tokenizer, CharWordTokenizer):  # pack the word channel: char + vocab_size * word bucket
            ids = ids + len(vocab) * tokenizer.word_buckets(t)[:len(ids)]
        out.append(ids)
        kept.append(i)
    return out, truncated, kept


def pad_batch(seqs: Sequence[np.ndarray], min_len: int = 1, fixed_len: int | None = None) -> np.ndarray:
    """Stack id arrays into (B, L) int64 padded with ``<pad>`` (0): L = ``fixed_len`` if given (longer
    sequences are cut), else max(longest, ``min_len``)."""
    length = fixed_len if fixed_len is not None else max(min_len, max((len(s) for s in seqs), default=0))
    out = np.full((len(seqs), length), PAD_ID, dtype=np.int64)
    for i, s in enumerate(seqs):  # one slice copy per text (the batch is a few dozen rows)
        n = min(len(s), length)
        out[i, :n] = s[:n]
    return out


class TextLoader:
    """Batches of ``(ids (B, L) int64 Tensor, labels (B,) int64 Tensor)``.

    Args:
        seqs: encoded texts (from :func:`encode_texts`).
        labels: (N,) class indices.
        batch_size: texts per batch.
        shuffle: new (length-bucketed) order every epoch; False keeps the given order.
        seed: seeds the shuffling; epoch ``e`` (``set_epoch``) uses the stream ``(seed, e)``.
        min_len, fixed_len: see :func:`pad_batch`.
        bucket: group similar lengths when shuffling (default True).
        pool_batches: batches per sorting pool.
        sort_by_length: without shuffling, go through the texts shortest first (fast evaluation; the batches
            then come in that order, so keep ``labels`` from the batches, not from the input order).
    """

    def __init__(self, seqs: Sequence[np.ndarray], labels: Sequence[int] | np.ndarray, batch_size: int = 50,
                 shuffle: bool = False, seed: int = 0, min_len: int = 1, fixed_len: int | None = None,
                 bucket: bool = True, pool_batches: int = 50, sort_by_length: bool = False):
        labels = np.asarray(labels, dtype=np.int64)
        if len(seqs) != len(labels):
            raise ValueError(f"TextLoader: {len(seqs)} texts but {len(labels)} labels")
        if batch_size < 1:
            raise ValueError(f"TextLoader: batch_size must be >= 1, got {batch_size}")
        self.seqs, self.labels = list(seqs), labels
        self.lengths = np.array([len(s) for s in self.seqs], dtype=np.int64)
        self.batch_size, self.shuffle, self.seed = int(batch_size), bool(shuffle), int(seed)
        self.min_len, self.fixed_len = int(min_len), fixed_len
        self.bucket, self.pool_batches = bool(bucket), int(pool_batches)
        self.sort_by_length = bool(sort_by_length)
        self.epoch = 0

    def __len__(self) -> int:
        return -(-len(self.seqs) // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def batch_indices(self) -> list[np.ndarray]:
        """The index arrays of this epoch's batches."""
        n, bs = len(self.seqs), self.batch_size
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable") if self.sort_by_length else np.arange(n)
            return [order[i:i + bs] for i in range(0, n, bs)]
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(n)
        if self.bucket and self.fixed_len is None:
            pool = bs * self.pool_batches
            for i in range(0, n, pool):
                chunk = order[i:i + pool]
                order[i:i + pool] = chunk[np.argsort(self.lengths[chunk], kind="stable")]
        batches = [order[i:i + bs] for i in range(0, n, bs)]
        if self.bucket and self.fixed_len is None:
            batches = [batches[j] for j in rng.permutation(len(batches))]
        return batches

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for idx in self.batch_indices():
            ids = pad_batch([self.seqs[i] for i in idx], self.min_len, self.fixed_len)
            yield Tensor(ids), Tensor(self.labels[idx])
