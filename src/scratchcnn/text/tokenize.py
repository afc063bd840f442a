"""Tokenizers: ``char`` (Chinese and other CJK text), ``word`` (lower-cased regex words, for English),
``jieba`` (Chinese words; needs the optional ``jieba`` package, imported only when used) and ``char+jieba``
(characters, each tagged with the hashed jieba word it belongs to: a second, word-level input channel).

A tokenizer is a callable ``text -> list[str]`` with a ``name`` and a JSON-ready ``config()``; ``get_tokenizer``
rebuilds one from that (checkpoints store it). ``"auto"`` picks ``char`` when most letters are CJK, else ``word``.
"""
from __future__ import annotations

import re
import unicodedata
import zlib
from typing import Iterable, Sequence

import numpy as np

__all__ = ["Tokenizer", "CharTokenizer", "WordTokenizer", "JiebaTokenizer", "CharWordTokenizer", "get_tokenizer",
           "detect_tokenizer", "cjk_fraction", "TOKENIZERS", "DEFAULT_WORD_BUCKETS"]

TOKENIZERS = ("auto", "char", "word", "jieba", "char+jieba")
DEFAULT_WORD_BUCKETS = 50000

# CJK letters: radicals, kana, bopomofo, the iteration/closing/zero marks \u3005-\u3007, Han (BMP and the
# supplementary planes: extensions B-I and the compatibility supplement in plane 2, G and H in plane 3), Hangul
_CJK = re.compile("[\u2e80-\u2fdf\u3005-\u3007\u3040-\u30ff\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf"
                  "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002fa1f\U00030000-\U000323af]")
_LETTER = re.compile(rf"[^\W\d_]|{_CJK.pattern}")  # CJK counts even where Python's Unicode is older
_WS = re.compile(r"\s+")
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*|[^\w\s]")
# normalize=True: numbers with decimal points / thousands separators stay one token ("3.50", "1,000")
_WORD_NORM = re.compile(r"\d+(?:[.,]\d+)+[^\W_]*|[^\W_]+(?:'[^\W_]+)*|[^\w\s]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


class Tokenizer:
    """Base class: ``tokenizer(text) -> list[str]``."""

    name = "base"

    def __init__(self, lower: bool = True):
        self.lower = bool(lower)

    def __call__(self, text: str) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def config(self) -> dict:
        return {"name": self.name, "lower": self.lower}

    def tokenize_all(self, texts: Iterable[str]) -> list[list[str]]:
        return [self(t) for t in texts]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lower={self.lower})"


class CharTokenizer(Tokenizer):
    """One token per character; runs of whitespace become one space, leading/trailing whitespace is dropped.

    ``normalize`` (off by default; ``train-text --nfkc``): the text is put in Unicode NFKC first, so the
    full-width forms that Chinese text mixes with ASCII are the same tokens as their ASCII twins (``，`` is
    ``,``, ``！`` is ``!``, ``１２`` is ``12``, ``ＯＫ`` is ``OK``), compatibility ideographs are their unified
    characters, and ``…`` is ``...``. (Off by default so that the models and results recorded without it
    stay as they are; ``config()`` names it only when on.)
    """

    name = "char"

    def __init__(self, lower: bool = True, normalize: bool = False):
        super().__init__(lower)
        self.normalize = bool(normalize)

    def config(self) -> dict:
        return {**super().config(), **({"normalize": True} if self.normalize else {})}

    def prepare(self, text: str) -> str:
        """The text whose characters are the tokens: normalised (NFKC), whitespace collapsed, lower-cased."""
        if self.normalize:
            text = unicodedata.normalize("NFKC", text)
        s = _WS.sub(" ", text).strip()
        return s.lower() if self.lower else s

    def __call__(self, text: str) -> list[str]:
        return list(self.prepare(text))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lower={self.lower}, normalize={self.normalize})"


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "M"


class WordTokenizer(Tokenizer):
    """Words (letters/digits, with inner apostrophes: ``don't``) and single punctuation marks, lower-cased.

    ``normalize`` (the default; checkpoints saved before it existed load with ``normalize=False``, their
    tokenizer as it was): the text is put in Unicode NFC first, so a decomposed ``e`` + U+0301 is the same word
    as ``\u00e9``; combining marks stay inside their word (Devanagari vowel signs, the dot that ``"\u0130".lower()``
    leaves) instead of becoming tokens of their own and cutting the word; the typographic apostrophes U+2019,
    U+2018 and U+02BC read as ``'`` (``don\u2019t`` is ``don't``); and a number written with decimal points or
    thousands separators is one token (``3.50``, ``1,000``), as in GloVe's and word2vec's vocabularies.
    """

    name = "word"

    def __init__(self, lower: bool = True, normalize: bool = True):
        super().__init__(lower)
        self.normalize = bool(normalize)

    def config(self) -> dict:
        return {**super().config(), "normalize": self.normalize}

    def __call__(self, text: str) -> list[str]:
        s = text.lower() if self.lower else text
        if not self.normalize:
            return _WORD.findall(s)
        s = unicodedata.normalize("NFC", s.translate(_APOSTROPHES))
        if s.isascii():
            return _WORD_NORM.findall(s)
        out: list[str] = []
        end, glue = -1, False
        for m in _WORD_NORM.finditer(s):
            tok = m.group()
            mark = len(tok) == 1 and _is_mark(tok)
            if out and m.start() == end and (mark or (glue and tok[0].isalnum())):
                out[-1] += tok      # a combining mark, or the rest of a word that a mark interrupted
            else:
                out.append(tok)
            end, glue = m.end(), mark
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lower={self.lower}, normalize={self.normalize})"


def _jieba_cut(name: str):
    try:
        import jieba
    except ImportError:
        raise ImportError(f"tokenizer {name!r} needs the jieba package, which is not installed: "
                          "pip install 'scratchcnn[jieba]' (or pip install jieba), or use --tokenizer char"
                          ) from None
    import logging
    jieba.setLogLevel(logging.WARNING)
    return jieba.lcut


class JiebaTokenizer(Tokenizer):
    """Chinese word segmentation with jieba (``pip install 'scratchcnn[jieba]'``); whitespace tokens dropped."""

    name = "jieba"

    def __init__(self, lower: bool = True):
        super().__init__(lower)
        self._cut = _jieba_cut(self.name)

    def __call__(self, text: str) -> list[str]:
        s = text.lower() if self.lower else text
        return [w for w in self._cut(s) if w.strip()]


class CharWordTokenizer(CharTokenizer):
    """Characters (exactly ``char``'s tokens), plus, for each character, the bucket (1..``word_buckets``) of
    the jieba word it belongs to (CRC-32 of the word, so stable across runs and machines): ``word_buckets(text)``.

    ``encode_texts`` packs both into one id per character, ``char_id + vocab_size * word_bucket``; TextCNN
    (``word_buckets`` > 0) unpacks them and adds a word-embedding channel to the character embedding.
    """

    name = "char+jieba"

    def __init__(self, lower: bool = True, word_buckets: int = DEFAULT_WORD_BUCKETS, normalize: bool = False):
        super().__init__(lower, normalize)
        if int(word_buckets) < 1:
            raise ValueError(f"tokenizer 'char+jieba': word_buckets must be >= 1, got {word_buckets}")
        self.buckets = int(word_buckets)
        self._cut = _jieba_cut(self.name)

    def config(self) -> dict:
        return {**super().config(), "word_buckets": self.buckets}

    def word_buckets(self, text: str) -> np.ndarray:
        """(len(self(text)),) int64: the word bucket of each character token."""
        s = self.prepare(text)
        out = []
        for w in self._cut(s):
            b = zlib.crc32(w.encode("utf-8")) % self.buckets + 1
            out += [b] * len(w)
        if len(out) != len(s):  # jieba keeps every character; guard against a future change
            raise ValueError(f"tokenizer 'char+jieba': jieba's words do not cover {s[:40]!r}")
        return np.asarray(out, dtype=np.int64)


def cjk_fraction(texts: Sequence[str], limit: int = 2000) -> float:
    """Fraction of letters that are CJK characters, over (up to) the first ``limit`` texts."""
    cjk = letters = 0
    for t in texts[:limit]:
        cjk += len(_CJK.findall(t))
        letters += len(_LETTER.findall(t))
    return cjk / letters if letters else 0.0


def detect_tokenizer(texts: Sequence[str]) -> str:
    """``"char"`` when more than half of the letters are CJK, else ``"word"``."""
    return "char" if cjk_fraction(texts) > 0.5 else "word"


def get_tokenizer(spec: str | dict = "char", texts: Sequence[str] | None = None) -> Tokenizer:
    """A tokenizer from a name (``auto`` needs ``texts``) or a ``config()`` dict."""
    if isinstance(spec, dict):
        name, lower = spec.get("name"), bool(spec.get("lower", True))
        # word: a config without "normalize" comes from a checkpoint saved before it existed (its tokenizer as it
        # was); char, char+jieba: normalize is off unless the config says so
        normalize = bool(spec.get("normalize", False))
        if name == "char+jieba":
            return CharWordTokenizer(lower, int(spec.get("word_buckets", DEFAULT_WORD_BUCKETS)), normalize)
        if name == "word":
            return WordTokenizer(lower, normalize)
        if name == "char":
            return CharTokenizer(lower, normalize)
    else:
        name, lower = spec, True
    if name == "auto":
        if texts is None:
            raise ValueError("tokenizer 'auto' needs the texts to look at")
        name = detect_tokenizer(texts)
    classes = {"char": CharTokenizer, "word": WordTokenizer, "jieba": JiebaTokenizer, "char+jieba": CharWordTokenizer}
    if name not in classes:
        raise ValueError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}")
    return classes[name](lower=lower)
