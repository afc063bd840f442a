"""The text entries of a checkpoint's ``meta.json`` (``task``, ``tokenizer``, ``vocab``, ``max_len``), checked when
a text model is loaded (``models.load_model`` calls these for models that read token ids): a missing or malformed
entry is one line naming the checkpoint, meta.json and the field, not a tokenizer or encoder error later, and a
vocabulary that does not fit the model's embedding is refused instead of reading the missing tokens as ``<unk>``.
"""
from __future__ import annotations

from typing import Any

from ..models.loading import _positive_int, show as _show
from .fit import TASK
from .tokenize import TOKENIZERS
from .vocab import PAD, UNK

__all__ = ["TOKENIZER_NAMES", "text_meta_problem", "vocab_size_problem", "embedding_rows"]

TOKENIZER_NAMES = tuple(t for t in TOKENIZERS if t != "auto")   # what a checkpoint's tokenizer can be


def _tokenizer_problem(spec: Any) -> str | None:
    """What is wrong with a ``tokenizer`` entry (a name, or ``Tokenizer.config()``), or None."""
    name = spec.get("name") if isinstance(spec, dict) else spec
    if not isinstance(name, str) or name not in TOKENIZER_NAMES:
        return f"should name a tokenizer ({', '.join(TOKENIZER_NAMES)}), is {_show(spec)}"
    if isinstance(spec, dict):
        for key in ("lower", "normalize"):
            if key in spec and not isinstance(spec[key], bool):
                return f"has {key} {_show(spec[key])}, not true or false"
        if "word_buckets" in spec and not _positive_int(spec["word_buckets"]):
            return f"has word_buckets {_show(spec['word_buckets'])}, not a positive integer"
    return None


def _vocab_problem(vocab: Any) -> str | None:
    """What is wrong with a ``vocab`` entry (the token of each id, ``<pad>`` and ``<unk>`` first), or None."""
    if not isinstance(vocab, list) or not all(isinstance(t, str) for t in vocab):
        return "should be a list of token strings"
    if vocab[:2] != [PAD, UNK]:
        return f"should start with {PAD!r} and {UNK!r}, starts with {_show(vocab[:2])}"
    seen: set[str] = set()
    for token in vocab:
        if token in seen:
            return f"has the token {_show(token)} more than once"
        seen.add(token)
    return None


def text_meta_problem(meta: dict) -> tuple[str, str] | None:
    """``(field, what is wrong)`` for the first text entry of a text checkpoint's meta.json that is missing
    (``task``) or malformed (``tokenizer``, ``vocab``, ``max_len``), or None. ``tokenizer`` and ``vocab`` may be
    absent here (the text verbs require them when they tokenize)."""
    task = meta.get("task")
    if task is None:
        return "task", f"is missing (a text classifier's is {TASK!r})"
    if task != TASK:
        return "task", f"should be {TASK!r} for a model that reads token ids, is {_show(task)}"
    if "tokenizer" in meta:
        problem = _tokenizer_problem(meta["tokenizer"])
        if problem:
            return "tokenizer", problem
    if "vocab" in meta:
        problem = _vocab_problem(meta["vocab"])
        if problem:
            return "vocab", problem
    max_len = meta.get("max_len")
    if max_len is not None and not _positive_int(max_len):
        return "max_len", f"should be a positive integer or null, is {_show(max_len)}"
    return None


def embedding_rows(model: Any) -> int | None:
    """Rows of the token embedding of a text model (an ensemble's first member's), or None when it has none."""
    for name, module in model.named_modules():
        if name.split(".")[-1] == "embedding" and hasattr(module, "weight"):
            return int(module.weight.shape[0])
    return None


def vocab_size_problem(meta: dict, model: Any) -> str | None:
    """What is wrong with the size of meta.json's ``vocab`` for ``model`` (one token per embedding row), or None."""
    vocab = meta.get("vocab")
    rows = embedding_rows(model)
    if not isinstance(vocab, list) or rows is None or len(vocab) == rows:
        return None
    return f"has {len(vocab)} tokens but the model's embedding has {rows} rows (model.config.vocab_size)"
