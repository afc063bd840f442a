"""Audit of what training and evaluation report: metrics against scikit-learn (label subsets, repeated labels,
empty input, many classes), non-finite model outputs, TensorBoard events through TensorBoard's own reader,
the PNG figures (size, content, matplotlib state) and the best checkpoint against the epoch it reports."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcnn as sc
from scratchcnn import models, nn, optim
from scratchcnn.train import (Callback, TensorBoardLogger, Trainer, TrainConfig, evaluate_checkpoint,
                              evaluate_model, metrics, plot_confusion_matrix, plot_history, predict_arrays, train)

sk = pytest.importorskip("sklearn.metrics")


# ----------------------------------------------------------------------------------------------- metrics
@st.composite
def subset_cases(draw):
    """Labels of k classes scored on a subset of them (sometimes with a class that never occurs)."""
    k = draw(st.integers(2, 7))
    n = draw(st.integers(1, 50))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    t = rng.integers(0, k, n)
    p = np.where(rng.random(n) < draw(st.floats(0, 1)), t, rng.integers(0, k, n))
    labels = sorted(rng.choice(k, size=draw(st.integers(1, k - 1)), replace=False).tolist())
    if draw(st.booleans()):
        labels.append(k + 3)                      # a class nobody has
    return t.astype(np.int64), p.astype(np.int64), labels


@settings(max_examples=80, deadline=None)
@given(subset_cases())
def test_scores_on_a_label_subset_count_samples_of_other_classes_like_sklearn(case):
    """A sample whose true class is scored but whose prediction is not (or the reverse) is still a miss (a false
    alarm) of the scored class, as in sklearn; it used to vanish, inflating recall and support."""
    t, p, labels = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for average in (None, "macro", "weighted", "micro"):
            ours = metrics.precision_recall_f1(t, p, labels, average=average)
            ref = sk.precision_recall_fscore_support(t, p, labels=labels, average=average, zero_division=0)[:3]
            for a, b in zip(ours, ref):
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=str(average))
        ref = sk.classification_report(t, p, labels=labels, output_dict=True, zero_division=0)
    ours = metrics.classification_report(t, p, labels)
    assert list(ours) == list(ref)
    for key, val in ref.items():
        if isinstance(val, dict):
            for m, v in val.items():
                assert ours[key][m] == pytest.approx(v, abs=1e-12), (key, m)
        else:
            assert ours[key] == pytest.approx(val, abs=1e-12), key


def test_report_on_a_subset_has_sklearns_support_and_micro_average():
    t, p = np.array([0, 1, 2, 2]), np.array([0, 2, 2, 1])
    rep = metrics.classification_report(t, p, labels=[0, 1])
    assert rep["1"] == {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 1.0}
    assert "accuracy" not in rep and rep["micro avg"]["precision"] == 0.5
    assert rep["weighted avg"]["recall"] == 0.5


def test_repeated_labels_are_refused():
    t, p = np.array([0, 1]), np.array([0, 1])
    for fn in (metrics.confusion_matrix, metrics.precision_recall_f1, metrics.classification_report):
        with pytest.raises(ValueError, match=r"each class once, got \[0\]"):
            fn(t, p, [0, 0, 1])


def test_empty_input_scores_zero_without_warnings():
    e = np.array([], dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metrics.accuracy(e, e) == 0.0
        assert metrics.precision_recall_f1(e, e) == (0.0, 0.0, 0.0)
        assert metrics.precision_recall_f1(e, e, average="weighted") == (0.0, 0.0, 0.0)
        assert metrics.precision_recall_f1(e, e, [0, 1], average="micro") == (0.0, 0.0, 0.0)
        rep = metrics.classification_report(e, e, labels=[0, 1])
        assert rep["accuracy"] == 0.0 and rep["macro avg"]["f1-score"] == 0.0
        assert metrics.summarize(e, e, 2)["recall"] == 0.0
    with pytest.raises(ValueError, match="empty and no labels were given"):
        metrics.classification_report(e, e)


def test_many_classes_are_scored_without_a_k_by_k_matrix():
    """sklearn scores per class in O(N + K) memory; a 4000-class matrix alone would take 128 MB."""
    rng = np.random.default_rng(0)
    k = 4000
    t, p = rng.integers(0, k, 2000), rng.integers(0, k, 2000)
    p[:1500] = t[:1500]
    tracemalloc.start()
    try:
        ours = metrics.precision_recall_f1(t, p, range(k), average=None)
        rep = metrics.classification_report(t, p, range(k))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20e6, f"peak {peak / 1e6:.0f} MB"
    ref = sk.precision_recall_fscore_support(t, p, labels=list(range(k)), zero_division=0)[:3]
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b)
    assert rep["macro avg"]["f1-score"] == pytest.approx(float(ref[2].mean()))


def test_confusion_matrix_rows_are_true_columns_predicted():
    cm = metrics.confusion_matrix([0, 0, 1], [1, 1, 1], labels=[0, 1])
    assert cm.tolist() == [[0, 2], [0, 1]] == sk.confusion_matrix([0, 0, 1], [1, 1, 1]).tolist()


# ----------------------------------------------------------------------------------------------- non-finite outputs
class _Scaled(nn.Module):
    """A linear classifier of (N, 1, 2, 2) inputs whose logits are multiplied by ``scale`` (inf: infinite)."""

    def __init__(self, scale: float):
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4, 3)
        self.scale = scale

    def forward(self, x):
        return self.fc(self.flatten(x)) * self.scale


def _batches(n=6):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 1, 2, 2)).astype(np.float32)
    y = rng.integers(0, 3, n)
    return [(sc.Tensor(x[:3]), sc.Tensor(y[:3])), (sc.Tensor(x[3:]), sc.Tensor(y[3:]))]


def test_non_finite_outputs_are_one_clear_error_not_a_made_up_accuracy():
    model = _Scaled(np.float32(np.inf))
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # no RuntimeWarning flood either
        with pytest.raises(ValueError, match=r"evaluate: the model's outputs are NaN or infinite for 6 of 6 samples"):
            evaluate_model(model, _batches(), nn.CrossEntropyLoss(), return_predictions=True)
        with pytest.raises(ValueError, match=r"predict: .* NaN or infinite for 2 of 2 images"):
            predict_arrays(model, np.ones((2, 1, 2, 2), np.float32), [0.0], [1.0])
    fine = evaluate_model(_Scaled(1.0), _batches(), nn.CrossEntropyLoss())
    assert np.isfinite(fine["loss"]) and fine["num_samples"] == 6


# ----------------------------------------------------------------------------------------------- TensorBoard
def _event_scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series as TensorBoard itself reads the folder."""
    ea_mod = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = ea_mod.EventAccumulator(str(log_dir), size_guidance={ea_mod.SCALARS: 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _image_batches(n=48, seed=0, bs=16):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, n)
    return [(sc.Tensor(x[i:i + bs]), sc.Tensor(y[i:i + bs])) for i in range(0, n, bs)]


class _StopAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_batch_end(self, trainer, logs):
        if trainer.global_step == self.step:
            raise KeyboardInterrupt


def _tiny_trainer(callbacks, epochs=2):
    sc.manual_seed(0)
    model = models.get("seed000")
    opt = optim.SGD(model.parameters(), lr=0.01)
    return Trainer(model, opt, scheduler=optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5), epochs=epochs,
                   callbacks=callbacks)


def test_tensorboard_events_hold_the_history_as_tensorboard_reads_them(tmp_path):
    logger = TensorBoardLogger(tmp_path / "tb", log_every=1)
    trainer = _tiny_trainer([logger])
    hist = trainer.fit(_image_batches(), _image_batches(seed=1))
    assert logger._writer is None                           # closed at the end
    got = _event_scalars(tmp_path / "tb")
    assert set(got) == {"epoch/loss", "epoch/accuracy", "epoch/val_loss", "epoch/val_accuracy", "epoch/lr",
                        "train/loss", "train/lr"}
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert [s for s, _ in got[f"epoch/{key}"]] == [1, 2]
        np.testing.assert_allclose([v for _, v in got[f"epoch/{key}"]], [h[key] for h in hist], rtol=1e-6)
    assert [s for s, _ in got["train/loss"]] == list(range(1, 7))
    assert [v for _, v in got["train/lr"]] == pytest.approx([0.01] * 3 + [0.005] * 3)
    assert all(np.isfinite(v) and v > 0 for _, v in got["train/loss"])


def test_tensorboard_is_flushed_and_closed_on_ctrl_c(tmp_path):
    logger = TensorBoardLogger(tmp_path / "tb", log_every=1)
    trainer = _tiny_trainer([logger, _StopAt(5)])
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(_image_batches(), _image_batches(seed=1))
    assert logger._writer is None
    got = _event_scalars(tmp_path / "tb")
    assert [s for s, _ in got["train/loss"]] == [1, 2, 3, 4, 5]
    assert [s for s, _ in got["epoch/val_accuracy"]] == [1]


def test_resumed_run_shows_each_tensorboard_step_once_in_tensorboard(tmp_path, data_dir, tiny_model_name):
    cfg = dict(model=tiny_model_name, epochs=2, batch_size=32, limit_train=160, limit_test=50, val_split=0.2,
               eval_batch_size=100, seed=4, data_dir=str(data_dir))
    quiet = dict(progress=False, tensorboard=True, plots=False)
    ref = tmp_path / "straight"
    train(TrainConfig(**cfg), ref, **quiet)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(**cfg), out, extra_callbacks=[_StopAt(6)], **quiet)
    train(resume=out, **quiet)
    got, want = _event_scalars(out / "tensorboard"), _event_scalars(ref / "tensorboard")
    assert sorted(got) == sorted(want)
    for tag, series in got.items():
        steps = [s for s, _ in series]
        assert steps == sorted(set(steps)) == [s for s, _ in want[tag]], tag
        np.testing.assert_allclose([v for _, v in series], [v for _, v in want[tag]], rtol=1e-5, err_msg=tag)


# ----------------------------------------------------------------------------------------------- plots
_HISTORY = [{"epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.2, "val_accuracy": 0.4, "lr": 0.1},
            {"epoch": 2, "loss": 0.5, "accuracy": 0.7, "val_loss": 0.9, "val_accuracy": 0.6, "lr": 0.01}]


def test_plots_leave_the_matplotlib_backend_alone(tmp_path):
    """A notebook's (or any program's) backend must survive a training run's plots; they used to force Agg."""
    code = ("import matplotlib; matplotlib.use('svg')\n"
            "from scratchcnn.train import plot_history, plot_confusion_matrix\n"
            f"plot_history({_HISTORY!r}, {str(tmp_path / 'c.png')!r})\n"
            f"plot_confusion_matrix([[1, 2], [3, 4]], ['a', 'b'], {str(tmp_path / 'm.png')!r})\n"
            "from scratchcnn.finetune.compare import plot_comparison\n"
            "plot_comparison([{'strategy': 's', 'accuracy': 0.9, 'trainable_percent': 5.0}], "
            f"{str(tmp_path / 'f.png')!r})\n"
            "print(matplotlib.get_backend())\n")
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "DISPLAY", "WAYLAND_DISPLAY")}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "svg"
    for name in ("c.png", "m.png", "f.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_pngs_are_readable_with_the_documented_size(tmp_path):
    from PIL import Image
    curves = plot_history(_HISTORY, tmp_path / "curves.png")
    cm = plot_confusion_matrix(np.arange(16).reshape(4, 4), list("abcd"), tmp_path / "cm.png", title="t")
    with Image.open(curves) as im:
        im.load()
        assert im.size == (1200, 380)                     # three panels (loss, accuracy, lr) of 400 x 380
    side = max(5.0, 1.6 + 0.55 * 4)
    with Image.open(cm) as im:
        im.load()
        assert im.size == (round(100 * (side + 1)), round(100 * side))
        assert np.asarray(im.convert("L")).std() > 10      # something is drawn
    no_val = plot_history([{k: v for k, v in h.items() if not k.startswith("val")} for h in _HISTORY],
                          tmp_path / "train_only.png")
    assert no_val.stat().st_size > 0


def test_confusion_plot_writes_the_counts_of_the_matrix():
    from scratchcnn.viz.runs import confusion_figure
    cm = np.array([[5, 0, 1], [2, 7, 0], [0, 3, 11]])
    fig, info = confusion_figure(cm, ["x", "y", "z"], "title")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == [str(v) for v in cm.ravel()]
    for t in ax.texts:                                   # each count sits in its cell: row = true, col = predicted
        col, row = t.get_position()
        assert t.get_text() == str(cm[int(row), int(col)])
    assert ax.get_ylabel() == "true" and ax.get_xlabel() == "predicted"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y", "z"]
    assert info == {"classes": 3, "samples": 29}
    with pytest.raises(ValueError, match="square"):
        confusion_figure([[1, 2, 3]])
    with pytest.raises(ValueError, match="counts"):
        confusion_figure([[1, -2], [0, 1]])


# ----------------------------------------------------------------------------------------------- best checkpoint
def test_best_checkpoint_re_evaluated_gives_the_reported_best_epoch(tmp_path, data_dir):
    """The validation metrics the run reports for its best epoch are what the saved best/ checkpoint scores on the
    same validation split; evaluating on a dataset object gives a JSON-ready result."""
    from scratchcnn.train.run import _load_data
    cfg = TrainConfig(model="seed000", epochs=3, batch_size=50, limit_train=400, limit_test=50, val_split=0.25,
                      seed=1, patience=1, data_dir=str(data_dir), scheduler="none", lr=0.02)
    res = train(cfg, tmp_path / "run", progress=False, tensorboard=False, plots=False)
    hist = json.loads((tmp_path / "run" / "history.json").read_text())
    with open(tmp_path / "run" / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [{k: float(v) for k, v in r.items()} for r in rows] == [{k: float(v) for k, v in h.items()} for h in hist]
    best = max(hist, key=lambda h: h["val_accuracy"])        # first epoch with the highest val accuracy
    assert res["best_epoch"] == best["epoch"] and res["val_accuracy"] == best["val_accuracy"]
    _, val, _ = _load_data(cfg)
    ev = evaluate_checkpoint(res["checkpoint"], dataset=val)
    assert ev["accuracy"] == pytest.approx(best["val_accuracy"], abs=1e-12)
    assert ev["loss"] == pytest.approx(best["val_loss"], rel=1e-6)
    assert ev["num_samples"] == res["num_val"] == 100
    json.dumps(ev, allow_nan=False)
    assert ev["dataset"] == "mnist" and ev["split"] == "train"
    meta = json.loads((Path(res["checkpoint"]) / "meta.json").read_text())
    assert meta["epoch"] == best["epoch"] and meta["metrics"]["val_accuracy"] == best["val_accuracy"]
