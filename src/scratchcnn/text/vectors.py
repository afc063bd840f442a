"""Pretrained token vectors from a word2vec (text or binary), GloVe or fastText ``.vec`` file, matched against a
vocabulary.

Text formats: one vector per line, ``token v1 v2 ... vD`` separated by spaces; word2vec and fastText ``.vec``
files start with a header line ``count D`` (detected and skipped; a vector of another size than the header's is
an error). Binary word2vec (the C tool's ``-binary 1``, e.g. GoogleNews-vectors-negative300.bin, the vectors Kim
used): the header line, then per word its UTF-8 bytes, a space and D little-endian float32 (a newline may
follow); told apart from text by its content, whatever the file is called. A leading UTF-8 BOM is skipped.
Tokens are matched exactly, then lower-cased (an exact match wins over a case variant; among case variants
the first in the file). A vector with a value that is not a finite number is an error naming its line.
Vocabulary tokens without a vector get Kim's initialisation, uniform in [-a, a] with a chosen so their variance
matches the found vectors'; ``<pad>`` is all zeros.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .corpus import TextCorpusError, _decode_error
from .vocab import PAD_ID, Vocab

__all__ = ["load_vectors", "save_vectors", "vectors_dim"]

_BOM = b"\xef\xbb\xbf"
_Record = tuple[str, str, Callable[[], np.ndarray], int]


def _header(line: bytes) -> tuple[int, int] | None:
    """``(count, dim)`` of a word2vec/fastText header line, else None."""
    parts = line.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return None


def _looks_binary(line: bytes) -> bool:
    """Whether the first record after a header is binary word2vec (not a line of UTF-8 text)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return any(ord(c) < 32 and c not in "\t\r\n" for c in text)


def _text_records(path: Path, f, first: bytes | None, dim: int) -> Iterator[_Record]:
    """``(where, token, values, dim)`` of each line of a text file: ``first`` is its first line (None when that
    was a header, then ``dim`` is the header's)."""
    header = dim

    def numbered():
        if first is not None:
            yield 1, first
        yield from enumerate(f, 2)
    for n, raw in numbered():
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            e = _decode_error(path, raw, exc)
            raise TextCorpusError(str(e).replace("line 1", f"line {n}")) from None
        parts = line.rstrip("\r\n").rstrip(" ").split(" ")
        if len(parts) < 2 or not parts[0]:
            if line.strip():
                raise TextCorpusError(f"{path}: line {n} is not 'token v1 v2 ...'")
            continue
        if not dim:
            dim = len(parts) - 1
        elif len(parts) - 1 != dim:
            like = f"the header (line 1) says {dim}" if header else f"expected {dim} (like the first vector)"
            raise TextCorpusError(f"{path}: line {n} has {len(parts) - 1} numbers, {like}")

        def values(parts=parts, n=n):
            try:
                return np.array(parts[1:], dtype=np.float32)
            except ValueError:
                raise TextCorpusError(f"{path}: line {n} has a value that is not a number") from None
        yield f"line {n}", parts[0], values, dim


def _binary_records(path: Path, f, count: int, dim: int) -> Iterator[_Record]:
    """``(where, token, values, dim)`` of each record of a binary word2vec file (after its header)."""
    size = 4 * dim
    buf, pos = b"", 0
    for k in range(1, count + 1):
        while True:
            while pos < len(buf) and buf[pos] in b"\n\r":
                pos += 1
            sp = buf.find(b" ", pos)
            if sp >= 0 and len(buf) - sp - 1 >= size:
                break
            data = f.read(1 << 22)
            if not data:
                raise TextCorpusError(f"{path}: binary word2vec file ends inside vector {k} (its header says "
                                      f"{count} vectors of {dim} float32)")
            buf, pos = buf[pos:] + data, 0
        raw, vec = buf[pos:sp], buf[sp + 1:sp + 1 + size]
        pos = sp + 1 + size
        if b"\n" in raw or len(raw) > 10_000:
            raise TextCorpusError(f"{path}: vector {k} is not 'word, space, {dim} float32' (a corrupt binary "
                                  "word2vec file, or a header with the wrong size)")
        try:
            tok = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue  # a word that is not UTF-8 cannot be in a vocabulary read from UTF-8 text
        yield f"vector {k}", tok, (lambda vec=vec: np.frombuffer(vec, dtype="<f4").astype(np.float32)), dim


def _records(path: Path, f) -> Iterator[_Record]:
    """The records of the vectors file open as ``f`` (binary mode), whatever its format."""
    first = f.readline()
    if first.startswith(_BOM):
        first = first[len(_BOM):]
    head = _header(first)
    if head is None:
        return _text_records(path, f, first, 0)
    count, dim = head
    if dim < 1:
        raise TextCorpusError(f"{path}: the header says the vectors have {dim} numbers")
    at = f.tell()
    binary = _looks_binary(f.readline())
    f.seek(at)
    return _binary_records(path, f, count, dim) if binary else _text_records(path, f, None, dim)


def _parse(path: Path, wanted: set[str]) -> tuple[dict[str, np.ndarray], int]:
    found: dict[str, np.ndarray] = {}
    dim = 0
    with open(path, "rb") as f:
        for where, tok, values, dim in _records(path, f):
            if tok in wanted:
                key = tok
            elif tok.lower() in wanted and tok.lower() not in found:
                key = tok.lower()  # a case variant, used unless the exact token comes later
            else:
                continue
            vec = values()
            if not np.isfinite(vec).all():
                raise TextCorpusError(f"{path}: {where} (token {tok!r}) has a value that is not a finite number")
            found[key] = vec
    if not dim:
        raise TextCorpusError(f"{path}: no vectors in this file (expected word2vec text or binary, GloVe or "
                              "fastText .vec format)")
    return found, dim


def vectors_dim(path: str | os.PathLike) -> int:
    """The vector size of a vectors file (from its header or first vector)."""
    path = Path(path)
    if not path.is_file():
        raise TextCorpusError(f"{path}: no such vectors file")
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if n == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM):]
            head = _header(raw) if n == 1 else None
            if head is not None:
                return head[1]
            parts = raw.rstrip(b"\r\n").rstrip(b" ").split(b" ")
            if len(parts) >= 2:
                return len(parts) - 1
            if n > 10:
                break
    raise TextCorpusError(f"{path}: no vectors in this file (expected word2vec text or binary, GloVe or fastText "
                          ".vec format)")


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
    """Write ``vectors`` (len(tokens), dim) in word2vec text format (with the ``count dim`` header unless
    ``header=False``: GloVe), atomically. Empty tokens and tokens holding whitespace are left out (the format
    cannot hold them), and the header counts the records written."""
    from ..io.atomic import atomic_write_text

    path = Path(path)
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or len(vectors) != len(tokens):
        raise ValueError(f"save_vectors: vectors must have shape (len(tokens), dim) = ({len(tokens)}, dim), got "
                         f"{vectors.shape}")
    records = [tok + " " + " ".join(f"{v:.6g}" for v in vec) for tok, vec in zip(tokens, vectors)
               if tok and not any(c.isspace() for c in tok)]
    lines = [f"{len(records)} {vectors.shape[1]}", *records] if header else records
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
