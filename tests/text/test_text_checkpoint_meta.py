"""A text checkpoint's meta.json is checked against its model when it is loaded: a vocabulary that does not fit the
embedding, a bad max_len / tokenizer / vocab, a missing task are one line naming the checkpoint, meta.json and the
field (not an encoder error, and never a silently different prediction)."""
from __future__ import annotations

import json

import pytest

import scratchcnn
from scratchcnn import models
from scratchcnn.io import save_checkpoint
from scratchcnn.models.loading import CheckpointMismatchError, model_meta
from scratchcnn.text import load_text_model, predict_texts

from cli.helpers import assert_one_line_error, run

VOCAB = ["<pad>", "<unk>"] + [f"w{i}" for i in range(10)]
CFG = {"vocab_size": len(VOCAB), "embed_dim": 8, "kernel_sizes": [2, 3], "num_filters": 4}


def write(path, ensemble=False):
    scratchcnn.manual_seed(0)
    model = (models.get("ensemble", num_classes=2, member="textcnn", member_config=CFG, size=2) if ensemble
             else models.get("textcnn", num_classes=2, **CFG))
    meta = model_meta(model, task="text-classification", class_names=["neg", "pos"], dataset="corpus",
                      tokenizer={"name": "word", "lower": True, "normalize": True}, vocab=VOCAB, max_len=16)
    return save_checkpoint(path, model.state_dict(), meta)


def edit_meta(d, edit):
    meta = json.loads((d / "meta.json").read_text())
    edit(meta)
    (d / "meta.json").write_text(json.dumps(meta))


def refusal(d, load=load_text_model) -> str:
    with pytest.raises(CheckpointMismatchError) as e:
        load(d)
    assert "\n" not in str(e.value)
    return str(e.value)


@pytest.mark.parametrize("ensemble", [False, True])
def test_vocabulary_must_fit_the_embedding(tmp_path, ensemble):
    d = write(tmp_path / "c", ensemble)
    assert len(load_text_model(d)[3]) == len(VOCAB)
    assert predict_texts(d, ["w1 w2 w3"])[0][0]["label"] in ("neg", "pos")
    edit_meta(d, lambda m: m.__setitem__("vocab", VOCAB[:4]))
    assert refusal(d) == (f"checkpoint {d}: meta.json field vocab has 4 tokens but the model's embedding has "
                          f"{len(VOCAB)} rows (model.config.vocab_size)")


@pytest.mark.parametrize("field, value, what", [
    ("max_len", 0, "max_len should be a positive integer or null, is 0"),
    ("max_len", "16", 'max_len should be a positive integer or null, is "16"'),
    ("vocab", VOCAB[:-1] + ["w3"], 'vocab has the token "w3" more than once'),
    ("vocab", ["<unk>", "<pad>"] + VOCAB[2:], 'vocab should start with \'<pad>\' and \'<unk>\', starts with '
                                              '["<unk>", "<pad>"]'),
    ("vocab", "w0 w1", "vocab should be a list of token strings"),
    ("tokenizer", "klingon", 'tokenizer should name a tokenizer (char, word, jieba, char+jieba), is "klingon"'),
    ("tokenizer", {"name": "word", "lower": "yes"}, 'tokenizer has lower "yes", not true or false'),
    ("tokenizer", {"name": "char+jieba", "word_buckets": 0}, "tokenizer has word_buckets 0, not a positive integer"),
    ("task", "image-classification", "task should be 'text-classification' for a model that reads token ids, is "
                                     '"image-classification"'),
])
def test_bad_text_fields_name_the_checkpoint_and_field(tmp_path, field, value, what):
    d = write(tmp_path / "c")
    edit_meta(d, lambda m: m.__setitem__(field, value))
    # (predict-text's own check of the task comes first there: "not a text classifier")
    load = models.load_model if field == "task" else load_text_model
    assert refusal(d, load) == f"checkpoint {d}: meta.json field {what}"


def test_missing_task_is_named(tmp_path):
    d = write(tmp_path / "c")
    edit_meta(d, lambda m: m.pop("task"))
    with pytest.raises(CheckpointMismatchError) as e:
        models.load_model(d)
    assert str(e.value) == (f"checkpoint {d}: meta.json field task is missing (a text classifier's is "
                            "'text-classification')")
    with pytest.raises(ValueError) as e:
        load_text_model(d)           # predict-text's own check names the missing field too
    assert str(e.value).endswith(f"checkpoint {d}: meta.json field task is missing (a text classifier's is "
                                 "'text-classification')")


def test_predict_text_with_a_cut_vocabulary_is_one_line(tmp_path, capsys):
    d = write(tmp_path / "c")
    edit_meta(d, lambda m: m.__setitem__("vocab", VOCAB[:4]))
    rc, out, err = run(capsys, "predict-text", d, "w1 w2")
    assert_one_line_error(rc, out, err, f"checkpoint {d}: meta.json field vocab has 4 tokens", "12 rows")
    edit_meta(d, lambda m: (m.__setitem__("vocab", VOCAB), m.__setitem__("max_len", 0)))
    rc, out, err = run(capsys, "predict-text", d, "w1 w2")
    assert_one_line_error(rc, out, err, f"checkpoint {d}: meta.json field max_len")
