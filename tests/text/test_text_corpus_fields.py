"""A CSV/TSV record must have one field per header column: an unquoted comma (an extra tab) inside a text used
to shift the text's tail into the label column silently (a new class, the real label dropped)."""
from __future__ import annotations

import pytest

from scratchcnn.text import TextCorpusError, load_corpus


def write(path, text: str):
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.mark.parametrize("name,content,fragments", [
    ("r.csv", "text,label\ngood film,pos\ngreat movie, loved it,pos\n",
     ["r.csv: line 3 has 3 field(s), the header has 2", 'quote a text that holds commas as "..."']),
    ("r.tsv", "text\tlabel\ngood film\tpos\ngreat movie\tloved it\tpos\n",
     ["r.tsv: line 3 has 3 field(s), the header has 2", "a TSV text cannot hold a tab"]),
    # a record short of a column the header names, though it has enough fields to reach text and label
    ("s.csv", "text,label,source\ngood,pos,web\nbad,neg\n",
     ["s.csv: line 3 has 2 field(s), the header has 3", "one field per column"]),
    # a multi-line quoted record names where it starts and ends
    ("m.csv", 'text,label\ngood,pos\n"two\nlines",neg,extra\n',
     ["m.csv: line 3 (a record running to line 4) has 3 field(s), the header has 2"]),
])
def test_record_width_differs_from_header(tmp_path, name, content, fragments):
    with pytest.raises(TextCorpusError) as e:
        load_corpus(write(tmp_path / name, content))
    msg = str(e.value)
    assert "\n" not in msg and all(f in msg for f in fragments), msg


def test_extra_columns_named_by_the_header_are_fine(tmp_path):
    # an id column (and a trailing empty one) is read by the header, the label comes from its own column
    raw = load_corpus(write(tmp_path / "ids.csv", 'id,text,label,note\n1,"great movie, loved it",pos,\n2,bad,neg,x\n'))
    assert raw.texts == ["great movie, loved it", "bad"] and raw.labels == ["pos", "neg"]
    raw = load_corpus(write(tmp_path / "ids.tsv", "label\ttext\tid\npos\tgreat, fine\t1\nneg\tbad\t2\n"))
    assert raw.texts == ["great, fine", "bad"] and raw.labels == ["pos", "neg"]


def test_jsonl_labels_are_kept_as_spelled(tmp_path):
    """JSON numbers and booleans become the label their line spells (docs/text.md), not Python's str() of them."""
    from scratchcnn.text import load_corpus
    path = tmp_path / "labels.jsonl"
    path.write_text('{"text": "a", "label": true}\n{"text": "b", "label": false}\n{"text": "c", "label": 1e2}\n'
                    '{"text": "d", "label": 1.50}\n{"text": "e", "label": 7}\n{"text": 12, "label": "7"}\n',
                    encoding="utf-8")
    corpus = load_corpus(path)
    assert corpus.labels == ["true", "false", "1e2", "1.50", "7", "7"] and corpus.texts[-1] == "12"
