"""Callbacks that write files: TensorBoard events, history JSON/CSV, curves and confusion-matrix PNGs, best
checkpoint; and the progress bar's stderr output."""
from __future__ import annotations

import io
import json

import numpy as np

import scratchcnn as sc
from scratchcnn import models, optim
from scratchcnn.models import load_model
from scratchcnn.train import (BestCheckpoint, CurvePlotter, HistoryWriter, ProgressBar, TensorBoardLogger, Trainer,
                              plot_confusion_matrix)


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, n)
    return [(sc.Tensor(x[i:i + 16]), sc.Tensor(y[i:i + 16])) for i in range(0, n, 16)]


def test_file_writing_callbacks(tmp_path):
    sc.manual_seed(0)
    model = models.get("seed000")
    buf = io.StringIO()
    cbs = [ProgressBar(file=buf), TensorBoardLogger(tmp_path / "tb", log_every=1), HistoryWriter(tmp_path),
           CurvePlotter(tmp_path),
           BestCheckpoint(tmp_path / "best", lambda t, logs: models.model_meta(t.model, dataset="toy"))]
    trainer = Trainer(model, optim.Adam(model.parameters(), lr=1e-3), epochs=2, callbacks=cbs)
    trainer.fit(_data(), _data(seed=1))
    events = list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
    hist = json.loads((tmp_path / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2]
    assert (tmp_path / "history.csv").read_text().count("\n") == 3
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    loaded, meta = load_model(tmp_path / "best")
    assert meta["epoch"] in (1, 2) and meta["selected_on"] == "val_accuracy" and meta["dataset"] == "toy"
    assert "val_accuracy" in meta["metrics"]
    text = buf.getvalue()
    assert "epoch 1/2" in text and "epoch 2/2" in text and "val_acc" in text


def test_confusion_matrix_png(tmp_path):
    path = plot_confusion_matrix([[5, 1], [0, 7]], ["cat", "dog"], tmp_path / "cm.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
