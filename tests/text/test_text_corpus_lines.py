"""Line handling of corpora: only ``\\n``, ``\\r\\n`` and ``\\r`` end a line (U+2028 and friends stay inside their
text, line numbers stay right); TSV has no quoting; CSV errors name the line where the bad record starts."""
from __future__ import annotations

import json

import pytest

from scratchcnn.text import TextCorpusError, load_corpus
from scratchcnn.text.corpus import split_lines

# str.splitlines() breaks at all of these; JSON strings and text lines may hold them
INNER = ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"]


def write(path, text: str):
    path.write_bytes(text.encode("utf-8"))
    return path


def test_split_lines_breaks_only_at_newlines():
    assert split_lines("a\u2028b\nc\r\nd\re\x85f\n") == ["a\u2028b", "c", "d", "e\x85f"]
    assert split_lines("") == [] and split_lines("\n") == [""] and split_lines("x") == ["x"]
    for ch in INNER:
        assert split_lines(f"a{ch}b\nc\n") == [f"a{ch}b", "c"]


def test_jsonl_keeps_raw_line_separators_and_line_numbers(tmp_path):
    rows = [{"text": f"good{ch}one {i}", "label": "pos" if i % 2 else "neg"} for i, ch in enumerate(INNER)]
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    assert "\u2028" in lines[0] and "\x85" in lines[2]          # json.dumps writes these raw
    raw = load_corpus(write(tmp_path / "d.jsonl", "\n".join(lines) + "\n"))
    assert raw.texts == [r["text"] for r in rows] and raw.labels == [r["label"] for r in rows]
    write(tmp_path / "e.jsonl", "\r\n".join(lines[:3] + ["{oops"]) + "\r\n")
    with pytest.raises(TextCorpusError, match=r"e\.jsonl: line 4 is not valid JSON"):
        load_corpus(tmp_path / "e.jsonl")


def test_folder_one_example_per_line(tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    write(d / "pos.txt", "".join(f"nice{ch}film\r\n" for ch in INNER))
    write(d / "neg.txt", "bad\rworse\nworst\n")                  # a lone \r ends a line, as in open()
    raw = load_corpus(d)
    assert raw.groups["pos"] == [f"nice{ch}film" for ch in INNER]
    assert raw.groups["neg"] == ["bad", "worse", "worst"]


def test_not_utf8_line_number_after_line_separators(tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    write(d / "pos.txt", "ok\n")
    (d / "neg.txt").write_bytes("a\u2028b\nc\x85d\r\n".encode() + b"caf\xe9\n")
    with pytest.raises(TextCorpusError, match=r"neg\.txt: not UTF-8 text \(line 3"):
        load_corpus(d)


def test_tsv_has_no_quoting(tmp_path):
    content = ('text\tlabel\n"Great" movie, loved it\tpos\n"Worst film\tneg\nawful\tneg\n'
               '6" tall, "ok"\tpos\n')
    raw = load_corpus(write(tmp_path / "q.tsv", content))
    assert raw.texts == ['"Great" movie, loved it', '"Worst film', "awful", '6" tall, "ok"']
    assert raw.labels == ["pos", "neg", "neg", "pos"]
    write(tmp_path / "s.tsv", 'text\tlabel\n"a\tpos\nno label here\nc\tneg\n')
    with pytest.raises(TextCorpusError, match=r"s\.tsv: line 3 has 1 field\(s\), expected at least 2"):
        load_corpus(tmp_path / "s.tsv")
    raw = load_corpus(write(tmp_path / "u.tsv", "text\tlabel\r\na\u2028b\tx\r\n\r\nc\ty\r\n"))
    assert raw.texts == ["a\u2028b", "c"] and raw.labels == ["x", "y"]


@pytest.mark.parametrize("content,fragments", [
    # an unmatched quote: the record starts on line 3 and runs to the end of the file
    ('text,label\ngood,pos\n"unterminated,neg\nbad,neg\nfine,pos\n', ["line 3 ", "never closed"]),
    # text after a closing quote (strict CSV)
    ('text,label\ngood,pos\n"Great" movie,pos\n', ["line 3 is not valid CSV"]),
    # a quoted field spanning lines 3-5 in a record short of fields: the start line, and where it ends
    ('text,label\ngood,pos\n"a\nb\nc"\nd,neg\n', ["line 3 (a record running to line 5) has 1 field(s)"]),
    # an empty label after a three-line record: line numbers keep counting physical lines
    ('text,label\n"a\nb\nc",pos\ngood one,\nbad,neg\n', ["line 5 has an empty label"]),
    ('text,label\ngood,pos\n"\n\n",neg\n', ["line 3 has an empty text"]),
])
def test_csv_errors_name_the_start_line(tmp_path, content, fragments):
    with pytest.raises(TextCorpusError, match="q.csv") as e:
        load_corpus(write(tmp_path / "q.csv", content))
    assert "\n" not in str(e.value) and all(f in str(e.value) for f in fragments), str(e.value)


def test_csv_keeps_standard_quoting(tmp_path):
    content = 'text,label\n"ok ""fine"", really",pos\n"two\nlines",neg\n6" tall,neg\n"a\u2028b",pos\n'
    raw = load_corpus(write(tmp_path / "d.csv", content))
    assert raw.texts == ['ok "fine", really', "two\nlines", '6" tall', "a\u2028b"]
    assert raw.labels == ["pos", "neg", "neg", "pos"]
