"""Reading labelled text corpora: a folder of ``<label>.txt`` files (one example per line) or a CSV/TSV/JSONL
table with a text column and a label column.

Everything is read as strict UTF-8; a file that is not says so with its name and line number. Lines end at
``\\n``, ``\\r\\n`` or ``\\r`` only (:func:`split_lines`): unlike ``str.splitlines``, U+2028/U+2029, U+0085, form
feeds and \\x1c-\\x1e stay inside their line, as JSON strings and one-example-per-line files may hold them. CSV
uses standard quoting (strict: a malformed quote is an error naming the line where its record starts); TSV has
no quoting (a field runs from tab to tab, quotes are text). Columns are found by the header; every record must
have one field per header column (an unquoted comma or a stray tab is an error, not a shifted label). Reading
does not clean or deduplicate anything: that is :func:`scratchcnn.text.splits.split_corpus`'s job (the fixed rule).
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["TextCorpusError", "RawCorpus", "split_lines", "read_lines", "load_folder", "load_table", "load_corpus",
           "TABLE_SUFFIXES"]

TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_BREAK_BYTES = re.compile(rb"\r\n|\r|\n")


class TextCorpusError(ValueError):
    """A corpus file is missing, not UTF-8, or lacks the expected columns (the message is one line)."""


@dataclass
class RawCorpus:
    """Examples as read, before cleaning: ``texts[i]`` has label name ``labels[i]``.

    ``groups`` maps each label to the list of its texts in file order (folder corpora keep one list per file,
    which the fixed split rule needs); ``kind`` is ``"folder"`` or ``"table"``; ``source`` the path read.
    """

    texts: list[str]
    labels: list[str]
    kind: str
    source: str
    empty: int = 0  # empty texts skipped (folder corpora only; in tables they are an error)
    groups: dict[str, list[str]] = field(default_factory=dict)


def _decode_error(path: Path, data: bytes, exc: UnicodeDecodeError) -> TextCorpusError:
    line = len(_LINE_BREAK_BYTES.findall(data, 0, exc.start)) + 1
    return TextCorpusError(f"{path}: not UTF-8 text (line {line}: cannot decode byte "
                           f"0x{data[exc.start]:02x}); convert the file to UTF-8")


def read_text(path: str | os.PathLike) -> str:
    """The whole file as strict UTF-8 (a leading BOM is dropped); errors name the file and the line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TextCorpusError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise TextCorpusError(f"{path}: is a folder, expected a file") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _decode_error(path, data, exc) from None
    return text[1:] if text.startswith("\ufeff") else text


def split_lines(text: str) -> list[str]:
    """``text`` cut at ``\\n``, ``\\r\\n`` and ``\\r`` only, endings dropped (no empty last line after a final
    break). Unlike ``str.splitlines``, U+2028/U+2029, U+0085, ``\\x0b``, ``\\x0c`` and ``\\x1c``-``\\x1e`` are kept
    inside their line."""
    lines = _LINE_BREAK.split(text)
    if lines[-1] == "":
        lines.pop()
    return lines


def read_lines(path: str | os.PathLike) -> list[str]:
    """Lines of a UTF-8 file without their line endings (:func:`split_lines`)."""
    return split_lines(read_text(path))


def load_folder(path: str | os.PathLike) -> RawCorpus:
    """A folder of ``<label>.txt`` files, one example per line (e.g. ``pos.txt``, ``neg.txt``).

    Lines are stripped and empty lines skipped (counted in ``empty``); nothing else is changed.
    """
    root = Path(path)
    files = sorted(p for p in root.glob("*.txt") if p.is_file())
    if not files:
        raise TextCorpusError(f"{root}: no <label>.txt files in this folder (expected one file per class, "
                              "one example per line)")
    if len(files) < 2:
        raise TextCorpusError(f"{root}: only one label file ({files[0].name}); a classifier needs at least two")
    texts: list[str] = []
    labels: list[str] = []
    groups: dict[str, list[str]] = {}
    empty = 0
    for f in files:
        kept = []
        for line in read_lines(f):
            s = line.strip()
            if s:
                kept.append(s)
            else:
                empty += 1
        groups[f.stem] = kept
        texts += kept
        labels += [f.stem] * len(kept)
    return RawCorpus(texts, labels, "folder", str(root), empty, groups)


def _cell(value, what: str, where: str) -> str:
    if value is None:
        raise TextCorpusError(f"{where}: the {what} is missing")
    if isinstance(value, (dict, list)):
        raise TextCorpusError(f"{where}: the {what} must be a string or a number, got {type(value).__name__}")
    if isinstance(value, bool):                  # JSON's spelling, not Python's True/False
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _missing_column(path: Path, col: str, kind: str, have: list[str]) -> TextCorpusError:
    opt = "--text-col" if kind == "text" else "--label-col"
    return TextCorpusError(f"{path}: no {kind} column {col!r} (columns: {', '.join(map(repr, have)) or 'none'}); "
                           f"name it with {opt}")


def _table_rows(path: Path, fmt: str, text_col: str, label_col: str):
    """Yield ``(line_number, text, label)``."""
    content = read_text(path)
    if fmt == "jsonl":
        first = True
        for i, line in enumerate(split_lines(content), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line, parse_int=str, parse_float=str)   # numbers as spelled: 1e2, 1.0
            except json.JSONDecodeError as exc:
                raise TextCorpusError(f"{path}: line {i} is not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise TextCorpusError(f"{path}: line {i} is not a JSON object")
            for col, kind in ((text_col, "text"), (label_col, "label")):
                if col not in obj:
                    if first:
                        raise _missing_column(path, col, kind, list(obj))
                    raise TextCorpusError(f"{path}: line {i} has no {kind} column {col!r}")
            first = False
            yield i, _cell(obj[text_col], "text", f"{path}: line {i}"), \
                _cell(obj[label_col], "label", f"{path}: line {i}")
        return
    rows = _tsv_rows(content) if fmt == "tsv" else _csv_rows(path, content)
    try:
        _, header = next(rows)
    except StopIteration:
        raise TextCorpusError(f"{path}: the file is empty (expected a header row)") from None
    header = [h.strip() for h in header]
    for col, kind in ((text_col, "text"), (label_col, "label")):
        if col not in header:
            raise _missing_column(path, col, kind, header)
    ti, li = header.index(text_col), header.index(label_col)
    for (n, end), row in rows:
        if not any(c.strip() for c in row):
            continue
        _check_width(path, fmt, (n, end), len(row), header, max(ti, li) + 1)
        yield n, row[ti], row[li]


def _check_width(path: Path, fmt: str, lines: tuple[int, int], width: int, header: list[str], need: int):
    """A record must have one field per header column: with more, a comma (tab) inside a text has split it and
    the fields after it would be read as the wrong columns; with fewer, a field is missing."""
    if width == len(header):
        return
    n, end = lines
    where = f"{path}: line {n}" + (f" (a record running to line {end})" if end > n else "")
    cols = f"columns {', '.join(header)}"
    if width < need:
        raise TextCorpusError(f"{where} has {width} field(s), expected at least {need} ({cols})")
    if width < len(header):
        raise TextCorpusError(f"{where} has {width} field(s), the header has {len(header)} ({cols}); "
                              "give every record one field per column (empty ones too)")
    fix = ('quote a text that holds commas as "..." (inner quotes doubled "")' if fmt == "csv"
           else "a TSV text cannot hold a tab: replace the tabs inside the text")
    raise TextCorpusError(f"{where} has {width} field(s), the header has {len(header)} ({cols}); {fix}")


def _tsv_rows(content: str):
    """Yield ``((line, line), fields)``: TSV has no quoting, a field runs from tab to tab."""
    for i, line in enumerate(split_lines(content), 1):
        yield (i, i), line.split("\t")


def _csv_rows(path: Path, content: str):
    """Yield ``((first line, last line), fields)`` of each CSV record (a quoted field may span lines); a malformed
    record is an error naming the line where it starts."""
    reader = csv.reader(io.StringIO(content, newline=""), strict=True)
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise TextCorpusError(f"{path}: line {start} opens a quoted field that is never closed (the file "
                                      "ends inside it); close the quote, and double quotes inside a quoted field "
                                      '("")') from None
            raise TextCorpusError(f"{path}: line {start} is not valid CSV ({exc}); quote a field holding commas, "
                                  'quotes or line breaks as "..." with inner quotes doubled ("")') from None
        yield (start, reader.line_num), row
        start = reader.line_num + 1


def load_table(path: str | os.PathLike, text_col: str = "text", label_col: str = "label",
               fmt: str | None = None) -> RawCorpus:
    """A CSV/TSV (header row) or JSONL table; ``fmt`` defaults from the suffix (.csv, .tsv, .jsonl/.ndjson).

    Texts are stripped; an empty text or label is an error naming the file and line.
    """
    path = Path(path)
    fmt = fmt or TABLE_SUFFIXES.get(path.suffix.lower())
    if fmt not in ("csv", "tsv", "jsonl"):
        raise TextCorpusError(f"{path}: unknown table format (expected a .csv, .tsv or .jsonl file, or a folder "
                              "of <label>.txt files)")
    texts: list[str] = []
    labels: list[str] = []
    groups: dict[str, list[str]] = {}
    for line, text, label in _table_rows(path, fmt, text_col, label_col):
        text, label = text.strip(), label.strip()
        if not text:
            raise TextCorpusError(f"{path}: line {line} has an empty text (column {text_col!r})")
        if not label:
            raise TextCorpusError(f"{path}: line {line} has an empty label (column {label_col!r})")
        texts.append(text)
        labels.append(label)
        groups.setdefault(label, []).append(text)
    if not texts:
        raise TextCorpusError(f"{path}: no examples (only a header or blank lines)")
    return RawCorpus(texts, labels, "table", str(path), 0, groups)


def load_corpus(path: str | os.PathLike, text_col: str = "text", label_col: str = "label") -> RawCorpus:
    """A folder of ``<label>.txt`` files or a CSV/TSV/JSONL table (by suffix)."""
    p = Path(path)
    if p.is_dir():
        return load_folder(p)
    if not p.exists():
        raise TextCorpusError(f"{p}: no such file or folder")
    return load_table(p, text_col, label_col)
