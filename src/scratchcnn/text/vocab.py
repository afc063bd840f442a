"""Vocabulary: tokens <-> integer ids, with ``<pad>`` = 0 and ``<unk>`` = 1.

Built from training texts only, keeping tokens seen at least ``min_freq`` times, the ``max_size`` most frequent
(ties broken by code point, so the result is deterministic). Saved as a plain token list in checkpoint metadata.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import numpy as np

__all__ = ["Vocab", "PAD", "UNK", "PAD_ID", "UNK_ID"]

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1


class Vocab:
    """``tokens[i]`` is the token of id ``i``; ``tokens[0] == "<pad>"``, ``tokens[1] == "<unk>"``."""

    def __init__(self, tokens: Sequence[str]):
        if isinstance(tokens, (str, bytes, dict)) or not isinstance(tokens, Sequence):
            raise ValueError(f"Vocab: expected a list of token strings, got a {type(tokens).__name__}")
        tokens = list(tokens)
        bad = next((i for i, t in enumerate(tokens) if not isinstance(t, str)), None)
        if bad is not None:
            raise ValueError(f"Vocab: token {bad} is a {type(tokens[bad]).__name__} ({tokens[bad]!r:.40}), "
                             "expected a string")
        if tokens[:2] != [PAD, UNK]:
            raise ValueError(f"Vocab: the first two tokens must be {PAD!r} and {UNK!r}, got {tokens[:2]}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("Vocab: tokens must be unique")
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_freq: int = 1, max_size: int | None = None) -> "Vocab":
        """Count tokens over ``token_lists``; keep those with count >= ``min_freq``, at most ``max_size``
        (including ``<pad>`` and ``<unk>``), most frequent first."""
        if min_freq < 1:
            raise ValueError(f"Vocab.build: min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size < 3:
            raise ValueError(f"Vocab.build: max_size must be >= 3 (pad, unk and one token), got {max_size}")
        counts: Counter = Counter()
        for toks in token_lists:
            counts.update(toks)
        counts.pop(PAD, None)
        counts.pop(UNK, None)
        kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[:max_size - 2]
        vocab = cls([PAD, UNK, *kept])
        vocab.counts = {t: counts[t] for t in kept}
        return vocab

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.index

    def id(self, token: str) -> int:
        return self.index.get(token, UNK_ID)

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """Token ids (int64); unknown tokens -> ``<unk>``."""
        get = self.index.get
        ids = np.fromiter((get(t, UNK_ID) for t in tokens), dtype=np.int64, count=len(tokens))
        ids[ids == PAD_ID] = UNK_ID  # a literal "<pad>" token in a text is not padding
        return ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The tokens of ``ids``; an id outside ``0 .. len(self) - 1`` is an ``IndexError`` naming it (a negative
        one is never read from the end)."""
        out = []
        for i in ids:
            k = int(i)
            if not 0 <= k < len(self.tokens):
                raise IndexError(f"Vocab.decode: id {k} is outside the vocabulary's 0..{len(self.tokens) - 1}")
            out.append(self.tokens[k])
        return out

    def to_list(self) -> list[str]:
        return list(self.tokens)

    @classmethod
    def from_list(cls, tokens: Sequence[str]) -> "Vocab":
        return cls(tokens)

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)})"
