"""Pretrained token vectors from a word2vec or GloVe *text* file, matched against a vocabulary.

Format: one vector per line, ``token v1 v2 ... vD`` separated by spaces; word2vec files start with a header line
``count D`` (detected and skipped). Tokens are matched exactly, then lower-cased. Vocabulary tokens without a
vector get Kim's initialisation, uniform in [-a, a] with a chosen so their variance matches the found vectors';
``<pad>`` is all zeros.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .corpus import TextCorpusError, _decode_error
from .vocab import PAD_ID, Vocab

__all__ = ["load_vectors", "save_vectors", "vectors_dim"]


def _parse(path: Path, wanted: set[str]) -> tuple[dict[str, np.ndarray], int]:
    found: dict[str, np.ndarray] = {}
    exact: set[str] = set()
    dim = 0
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                e = _decode_error(path, raw, exc)
                raise TextCorpusError(str(e).replace("line 1", f"line {n}")) from None
            parts = line.rstrip("\r\n").rstrip(" ").split(" ")
            if n == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec header "count dim"
            if len(parts) < 2 or not parts[0]:
                if line.strip():
                    raise TextCorpusError(f"{path}: line {n} is not 'token v1 v2 ...'")
                continue
            if not dim:
                dim = len(parts) - 1
            elif len(parts) - 1 != dim:
                raise TextCorpusError(f"{path}: line {n} has {len(parts) - 1} numbers, expected {dim} "
                                      "(like the first vector)")
            tok = parts[0]
            if tok in wanted:
                key = tok
                exact.add(tok)
            elif tok.lower() in wanted and tok.lower() not in found:
                key = tok.lower()  # a case variant, used unless the exact token comes later
            else:
                continue
            if key in exact and key != tok:
                continue
            try:
                found[key] = np.array(parts[1:], dtype=np.float32)
            except ValueError:
                raise TextCorpusError(f"{path}: line {n} has a value that is not a number") from None
    if not dim:
        raise TextCorpusError(f"{path}: no vectors in this file (expected word2vec/GloVe text format)")
    return found, dim


def vectors_dim(path: str | os.PathLike) -> int:
    """The vector size of a word2vec/GloVe text file (from its header or first vector)."""
    path = Path(path)
    if not path.is_file():
        raise TextCorpusError(f"{path}: no such vectors file")
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            parts = raw.split()
            if n == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                return int(parts[1])
            if len(parts) >= 2:
                return len(parts) - 1
            if n > 10:
                break
    raise TextCorpusError(f"{path}: no vectors in this file (expected word2vec/GloVe text format)")


def load_vectors(path: str | os.PathLike, vocab: Vocab, dim: int | None = None,
                 generator: np.random.Generator | None = None) -> tuple[np.ndarray, dict]:
    """An embedding matrix (len(vocab), D) float32 from the vectors in ``path``, and a report
    ``{"file", "dim", "found", "missing", "coverage"}``. ``dim``, if given, must match the file's."""
    path = Path(path)
    if not path.is_file():
        raise TextCorpusError(f"{path}: no such vectors file")
    found, d = _parse(path, set(vocab.tokens[2:]))
    if dim is not None and dim != d:
        raise ValueError(f"{path}: vectors have dimension {d}, but the model's embedding has {dim}")
    g = generator if generator is not None else np.random.default_rng(0)
    if found:
        var = float(np.var(np.stack(list(found.values()))))
        a = float(np.sqrt(3.0 * var)) if var > 0 else 0.25
    else:
        a = 0.25
    mat = g.uniform(-a, a, size=(len(vocab), d)).astype(np.float32)
    for tok, vec in found.items():
        mat[vocab.index[tok]] = vec
    mat[PAD_ID] = 0.0
    n = len(vocab) - 2
    report = {"file": str(path), "dim": d, "found": len(found), "missing": n - len(found),
              "coverage": len(found) / n if n else 0.0}
    return mat, report


def save_vectors(path: str | os.PathLike, tokens: list[str], vectors: np.ndarray, header: bool = True) -> Path:
    """Write vectors in word2vec text format (with the ``count dim`` header unless ``header=False``: GloVe)."""
    path = Path(path)
    vectors = np.asarray(vectors)
    lines = [f"{len(tokens)} {vectors.shape[1]}"] if header else []
    for tok, vec in zip(tokens, vectors):
        if not tok or any(c.isspace() for c in tok):
            continue  # the format cannot hold tokens with spaces
        lines.append(tok + " " + " ".join(f"{v:.6g}" for v in vec))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
