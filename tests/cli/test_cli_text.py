"""`scratchcnn train-text` / `predict-text` / `evaluate` on text checkpoints: --json shapes, stdin, and bad input
as one-line errors with exit code 2."""
from __future__ import annotations

import io
import sys

import numpy as np
import pytest

from scratchcnn.cli import main

from cli.helpers import assert_one_line_error, one_json, run

GOOD = ["good", "great", "fine", "nice", "love", "superb"]
BAD = ["bad", "awful", "poor", "hate", "worst", "ugly"]


def make_csv(path, n=240, seed=0):
    """An English review table whose label is readable from its words (plus a duplicate and a conflict)."""
    rng = np.random.default_rng(seed)
    rows = ["id,review,sentiment"]
    for i in range(n):
        lab = i % 2
        words = list(rng.choice(GOOD if lab else BAD, size=3)) + list(rng.choice(["the", "film", "was", "plot"], 3))
        rng.shuffle(words)
        rows.append(f"{i},\"{' '.join(words)} {i}\",{'positive' if lab else 'negative'}")
    rows += ["900,same text,positive", "901,same text,negative", "902,good good 1,positive"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("clitext")
    data = make_csv(d / "reviews.csv", n=400)
    out = d / "run"
    so, se = io.StringIO(), io.StringIO()
    from contextlib import redirect_stderr, redirect_stdout
    with redirect_stdout(so), redirect_stderr(se):
        rc = main(["train-text", "--data", str(data), "--text-col", "review", "--label-col", "sentiment",
                   "--embed-dim", "16", "--num-filters", "8", "--epochs", "4", "--lr", "0.01", "--batch-size", "16",
                   "--ngrams", "2", "--ngram-buckets", "500", "--ema", "0.9", "--label-smoothing", "0.05",
                   "--adversarial", "0.5", "--out", str(out),
                   "--no-progress", "--json"])
    assert rc == 0, se.getvalue()
    return one_json(so.getvalue()), out, data


def test_train_text_json(trained):
    res, out, _ = trained
    assert {"test_accuracy", "checkpoint", "seconds", "classes", "val_accuracy", "best_epoch"} <= set(res)
    assert res["classes"] == ["negative", "positive"] and res["tokenizer"] == "word"
    assert res["split"]["conflicting_dropped"] == 1 and res["num_train"] + res["num_val"] + res["num_test"] == 401
    assert res["test_accuracy"] > 0.8 and (out / "best" / "model.safetensors").is_file()
    assert res["checkpoint"] == str(out / "best") and res["seconds"] > 0
    assert res["config"]["adversarial"] == 0.5          # FGM on the embedding tables (train/adversarial.py)


def test_predict_text_args_and_stdin(trained, capsys, monkeypatch):
    _, out, _ = trained
    rc, so, se = run(capsys, "predict-text", out / "best", "the film was great superb love",
                     "the plot was awful worst hate",
                     "--top-k", "3", "--json")
    assert rc == 0, se
    res = one_json(so)
    preds = res["predictions"]
    assert [p["label"] for p in preds] == ["positive", "negative"]
    for p in preds:
        assert set(p) == {"text", "label", "probability", "top_k"} and len(p["top_k"]) == 2
        assert p["top_k"][0] == {"label": p["label"], "probability": p["probability"]}
    assert preds[0]["text"] == "the film was great superb love"
    lines = "nice film fine plot was good\n\nugly poor the plot bad was\n"
    stdin = io.TextIOWrapper(io.BytesIO(lines.encode()), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    rc, so, se = run(capsys, "predict-text", out / "best", "--json")
    assert rc == 0, se
    assert [p["label"] for p in one_json(so)["predictions"]] == ["positive", "negative"]
    rc, so, se = run(capsys, "predict-text", out / "best", "the film was love great nice")
    assert rc == 0 and so.startswith("positive (")


def test_evaluate_text_checkpoint(trained, capsys):
    res, out, _ = trained
    rc, so, se = run(capsys, "evaluate", out / "best", "--json")
    assert rc == 0, se
    ev = one_json(so)
    assert ev["accuracy"] == pytest.approx(res["test_accuracy"]) and ev["num_samples"] == res["num_test"]
    assert ev["class_names"] == ["negative", "positive"] and ev["model"] == "textcnn"
    rc, so, se = run(capsys, "evaluate", out, "--split", "train", "--limit", "50", "--json")  # a run folder
    assert rc == 0 and one_json(so)["num_samples"] == 50
    rc, so, se = run(capsys, "evaluate", out, "--split", "train", "--limit", "50")  # human output
    assert rc == 0 and "(50 texts)" in so and "images" not in so and "accuracy" in so
    rc, so, se = run(capsys, "predict-text", out, "the film was love great nice", "--json")
    assert rc == 0 and one_json(so)["predictions"][0]["label"] == "positive"


@pytest.mark.parametrize("content,fragments", [
    ("review,sentiment\nnice,positive\n  ,negative\n", ["bad.csv", "line 3", "empty text"]),
    ("review,stars\nnice,positive\n", ["bad.csv", "no label column 'sentiment'", "stars"]),
])
def test_train_text_bad_tables(tmp_path, capsys, content, fragments):
    (tmp_path / "bad.csv").write_text(content, encoding="utf-8")
    rc, so, se = run(capsys, "train-text", "--data", tmp_path / "bad.csv", "--text-col", "review", "--label-col",
                     "sentiment", "--out", tmp_path / "o", "--json")
    assert_one_line_error(rc, so, se, *fragments)


def test_train_text_not_utf8(tmp_path, capsys):
    d = tmp_path / "c"
    d.mkdir()
    (d / "pos.txt").write_text("很好\n", encoding="utf-8")
    (d / "neg.txt").write_bytes("差\n不好\n太差了\n".encode("gbk"))
    rc, so, se = run(capsys, "train-text", "--data", d, "--out", tmp_path / "o", "--json")
    assert_one_line_error(rc, so, se, "neg.txt", "not UTF-8", "line 1")


def test_train_text_option_errors(tmp_path, capsys):
    data = make_csv(tmp_path / "r.csv", n=20)
    rc, so, se = run(capsys, "train-text", "--data", data, "--text-col", "review", "--label-col", "sentiment",
                     "--embedding", "static", "--json")
    assert_one_line_error(rc, so, se, "--vectors")


def test_predict_text_errors(trained, tmp_path, capsys):
    _, out, _ = trained
    rc, so, se = run(capsys, "predict-text", out / "best", "fine", "   ", "--json")
    assert_one_line_error(rc, so, se, "text 2 is empty")
    from scratchcnn import models
    from scratchcnn.io import save_checkpoint
    from scratchcnn.models.loading import model_meta
    net = models.get("lenet5")
    save_checkpoint(tmp_path / "img", net.state_dict(), model_meta(net, class_names=list("0123456789")))
    rc, so, se = run(capsys, "predict-text", tmp_path / "img", "some text", "--json")
    assert_one_line_error(rc, so, se, "image model (lenet5)", "not a text classifier")


def test_image_verbs_point_text_checkpoints_elsewhere(trained, tmp_path, capsys):
    """A text checkpoint given to the image verbs: one line naming the right verb or argument, nothing written."""
    _, out, _ = trained
    from PIL import Image
    png = tmp_path / "digit.png"
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(png)
    rc, so, se = run(capsys, "predict", out, png, "--json")
    assert_one_line_error(rc, so, se, "holds a text classifier", "predict-text")
    rc, so, se = run(capsys, "evaluate", out, "--dataset", "mnist", "--json")
    assert_one_line_error(rc, so, se, "is a text checkpoint", "text corpus", "'mnist'")
    for model in ("textcnn", "charcnn", "ensemble"):   # an ensemble of TextCNNs: its members' kind
        rc, so, se = run(capsys, "train", "--model", model, "--dataset", "mnist", "--epochs", "1",
                         "--out", tmp_path / model, "--no-progress", "--json")
        how = "--ensemble K" if model == "ensemble" else f"--model {model}"
        assert_one_line_error(rc, so, se, f"{model} classifies tokens, not images", f"train-text {how}")
        assert not (tmp_path / model).exists()


def test_train_text_ensemble_predict_and_evaluate(tmp_path, capsys):
    data = make_csv(tmp_path / "reviews.csv", n=200)
    out = tmp_path / "ens"
    rc, so, se = run(capsys, "train-text", "--data", data, "--text-col", "review", "--label-col", "sentiment",
                     "--embed-dim", "8", "--num-filters", "6", "--epochs", "2", "--lr", "0.01", "--batch-size", "16",
                     "--ensemble", "2", "--seed", "3", "--out", out, "--no-progress", "--json")
    assert rc == 0, se
    res = one_json(so)
    assert res["ensemble"] == 2 and [m["seed"] for m in res["members"]] == [3, 4] and len(res["best_epoch"]) == 2
    assert res["checkpoint"] == str(out / "best") and res["split"]["conflicting_dropped"] == 1
    assert "member 2/2 (seed 4)" in se
    rc, so, se = run(capsys, "evaluate", out, "--json")
    assert rc == 0, se
    ev = one_json(so)
    assert ev["accuracy"] == pytest.approx(res["test_accuracy"]) and ev["model"] == "ensemble"
    rc, so, se = run(capsys, "predict-text", out, "the film was great superb love", "--json")
    assert rc == 0, se
    p = one_json(so)["predictions"][0]
    assert p["label"] == "positive" and np.isclose(sum(t["probability"] for t in p["top_k"]), 1.0)
    rc, so, se = run(capsys, "train-text", "--data", data, "--text-col", "review", "--label-col", "sentiment",
                     "--epochs", "1", "--ensemble", "2", "--embed-dim", "8", "--num-filters", "4", "--out",
                     tmp_path / "h", "--no-progress")
    assert rc == 0 and "ensemble of 2, best epochs 1, 1 of 1" in so


def test_predict_text_stdin_one_text_per_line(trained, capsys, monkeypatch):
    """Only \\n, \\r\\n and \\r end a text on stdin: U+2028, U+0085 and form feeds stay inside their line."""
    _, out, _ = trained
    lines = "nice film\u2028fine plot was good\r\nugly poor\x85the plot bad\x0cwas\n\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines.encode()), encoding="utf-8"))
    rc, so, se = run(capsys, "predict-text", out / "best", "--json")
    assert rc == 0, se
    preds = one_json(so)["predictions"]
    assert [p["text"] for p in preds] == ["nice film\u2028fine plot was good", "ugly poor\x85the plot bad\x0cwas"]


def test_predict_text_stdin_drops_a_byte_order_mark(trained, capsys, monkeypatch):
    """A file saved with a BOM gives its first text the same probabilities as without (it used to become a
    '\ufeff' token, unknown to the vocabulary)."""
    _, out, _ = trained
    results = []
    for prefix in (b"", b"\xef\xbb\xbf"):
        data = prefix + "nice film fine plot was good\nugly poor the plot bad was\n".encode()
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
        rc, so, se = run(capsys, "predict-text", out / "best", "--json")
        assert rc == 0, se
        results.append(one_json(so)["predictions"])
    assert results[1] == results[0]


def test_train_text_small_corpora(tmp_path, capsys):
    """Under 10 texts: no validation split, and the summary says the last epoch is kept; too few texts, or a
    training split without some label, is one line naming the problem."""
    small = tmp_path / "small.csv"
    small.write_text("text,label\n" + "".join(f"good film {i},pos\nbad film {i},neg\n" for i in range(4))
                     + "great,pos\n", encoding="utf-8")
    opts = ["--embed-dim", "4", "--num-filters", "2", "--kernel-sizes", "1", "--epochs", "2", "--no-progress"]
    rc, so, se = run(capsys, "train-text", "--data", small, "--out", tmp_path / "o", *opts)
    assert rc == 0, se
    assert "epoch 2 of 2, no validation texts: the last epoch is kept" in so and "best epoch" not in so
    assert "data: 7 train / 0 val / 2 test texts" in so
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("text,label\ngood,pos\nbad,neg\n", encoding="utf-8")
    rc, so, se = run(capsys, "train-text", "--data", tiny, "--out", tmp_path / "o2", "--json", *opts)
    assert_one_line_error(rc, so, se, "tiny.csv: only 2 usable text(s)", "need at least 3 usable texts")
    one = tmp_path / "one.csv"
    one.write_text("text,label\n" + "".join(f"good {i},pos\n" for i in range(8)) + "bad,neg\n", encoding="utf-8")
    from scratchcnn.text import load_corpus, split_corpus
    seed = next(s for s in range(200) if 0 not in split_corpus(load_corpus(one), seed=s).train.labels)
    rc, so, se = run(capsys, "train-text", "--data", one, "--seed", seed, "--out", tmp_path / "o3", "--json", *opts)
    assert_one_line_error(rc, so, se, "one.csv: the training split", "no text labelled 'neg'")
    assert not (tmp_path / "o3").exists()


def test_train_text_english_binary_vectors_and_refusals(tmp_path, capsys):
    """train-text with binary word2vec vectors (the embedding size read from its header), a curly apostrophe
    read as the straight one; static + --adversarial and a too short CharCNN --max-len: one line, no folder."""
    data = make_csv(tmp_path / "reviews.csv", n=60)
    rng = np.random.default_rng(0)
    blob = b"%d 5\n" % (len(GOOD) + len(BAD) + 1)
    for w in GOOD + BAD + ["don't"]:
        blob += w.encode() + b" " + rng.standard_normal(5).astype("<f4").tobytes() + b"\n"
    (tmp_path / "vectors.bin").write_bytes(blob)
    common = ["--data", data, "--text-col", "review", "--label-col", "sentiment", "--no-progress", "--json"]
    rc, so, se = run(capsys, "train-text", *common, "--vectors", tmp_path / "vectors.bin", "--embedding",
                     "multichannel", "--num-filters", "2", "--epochs", "1", "--out", tmp_path / "run")
    assert rc == 0, se
    res = one_json(so)
    assert res["config"]["embed_dim"] == 5 and res["embedding"] == "multichannel"
    assert f"vectors: {len(GOOD) + len(BAD)}/" in se
    rc, so, se = run(capsys, "predict-text", tmp_path / "run", "Don\u2019t", "___", "--json")
    assert_one_line_error(rc, so, se, "text 2 ('___') has no word tokens")
    rc, so, se = run(capsys, "predict-text", tmp_path / "run", "Don\u2019t", "qqq zzz", "x", "--json")
    assert rc == 0 and len(one_json(so)["predictions"]) == 3
    rc, so, se = run(capsys, "train-text", *common, "--vectors", tmp_path / "vectors.bin", "--embedding", "static",
                     "--adversarial", "1", "--out", tmp_path / "adv")
    assert_one_line_error(rc, so, se, "--adversarial", "--embedding static")
    rc, so, se = run(capsys, "train-text", *common, "--model", "charcnn", "--max-len", "64",
                     "--out", tmp_path / "cc")
    assert_one_line_error(rc, so, se, "--max-len", "at least 123")
    assert not (tmp_path / "adv").exists() and not (tmp_path / "cc").exists()


def make_chinese_folder(folder, n=120, seed=0):
    """A two-class Chinese folder corpus whose texts mix full-width and ASCII punctuation and digits."""
    rng = np.random.default_rng(seed)
    cues = {"pos": ["\u597d", "\u68d2", "\u559c\u6b22"], "neg": ["\u5dee", "\u70c2", "\u8ba8\u538c"]}
    marks = ["\uff0c", ",", "\uff01", "!", "\uff11\uff10", "10"]
    folder.mkdir(parents=True, exist_ok=True)
    for label, cue in cues.items():
        lines = ["".join(rng.choice(cue, 2)) + str(rng.choice(marks)) + "\u4e1c\u897f" + str(rng.choice(marks))
                 + "\u5546\u54c1" * int(rng.integers(1, 3)) + f"{i}" for i in range(n)]
        (folder / f"{label}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_train_text_nfkc_reads_full_width_as_ascii(tmp_path, capsys):
    """--nfkc: the checkpoint's char tokenizer puts texts in NFKC, so its vocabulary has no full-width forms and
    predict-text gives a full-width text exactly the probabilities of its ASCII twin."""
    from scratchcnn.io import read_meta
    data = make_chinese_folder(tmp_path / "zh")
    out = tmp_path / "run"
    rc, so, se = run(capsys, "train-text", "--data", data, "--nfkc", "--embed-dim", "8", "--num-filters", "4",
                     "--epochs", "1", "--out", out, "--no-progress", "--json")
    assert rc == 0, se
    res = one_json(so)
    meta = read_meta(out / "best")
    assert res["tokenizer"] == "char" and meta["tokenizer"] == {"name": "char", "lower": True, "normalize": True}
    assert "," in meta["vocab"] and not {"\uff0c", "\uff01", "\uff11"} & set(meta["vocab"])
    rc, so, se = run(capsys, "predict-text", str(out / "best"), "\u597d\u68d2\uff0c\u4e1c\u897f\uff01\uff11\uff10",
                     "\u597d\u68d2,\u4e1c\u897f!10", "--json")
    assert rc == 0, se
    full, ascii_ = one_json(so)["predictions"]
    assert full["probability"] == ascii_["probability"] and full["label"] == ascii_["label"]


def test_train_text_nfkc_needs_a_character_tokenizer(tmp_path, capsys):
    data = make_csv(tmp_path / "r.csv", n=20)
    common = ["train-text", "--data", data, "--text-col", "review", "--label-col", "sentiment", "--nfkc", "--json"]
    rc, so, se = run(capsys, *common, "--tokenizer", "word")
    assert_one_line_error(rc, so, se, "--nfkc")
    rc, so, se = run(capsys, *common, "--out", tmp_path / "auto")          # auto picks word for English
    assert_one_line_error(rc, so, se, "--tokenizer char")
    assert not (tmp_path / "auto").exists()
