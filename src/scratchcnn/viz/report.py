"""``build_report(run_dir)``: one self-contained HTML page about a training run.

The page holds the run's configuration, its test metrics (overall and per class), the per-epoch history, and
the pictures (training curves, confusion matrix, first-layer kernels, misclassified test images) as PNGs
embedded with ``data:`` URIs, so the single file can be mailed or archived. Sections whose inputs are missing
(e.g. the dataset for the mistakes) say why instead of failing.
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import os
from pathlib import Path
from typing import Any, Callable

from .figure import png_bytes
from .runs import RunInfo, read_run

__all__ = ["build_report"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1250px;
color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;
margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em}td,th{border:1px solid #ddd;padding:.25em .6em;
text-align:right}th{background:#f4f4f4}td.k,th.k{text-align:left}
img{max-width:100%;height:auto;border:1px solid #eee}.muted{color:#777}.big{font-size:1.3em;font-weight:600}
"""


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _num(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return _e(v)
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"
    return _e(v)


def _kv_table(d: dict, raw: bool = False) -> str:
    """Key/value rows; ``raw`` writes values as JSON (configuration) instead of rounded numbers (metrics)."""
    cell = (lambda v: _e(json.dumps(v))) if raw else _num
    rows = "".join(f"<tr><th class=k>{_e(k)}</th><td class=k>{cell(v)}</td></tr>" for k, v in d.items())
    return f"<table>{rows}</table>"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _section(title: str, body: str) -> str:
    return f"<h2>{_e(title)}</h2>\n{body}\n"


def _history_table(hist: list[dict]) -> str:
    keys = [k for k in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")
            if any(k in h for h in hist)]
    head = "".join(f"<th>{_e(k)}</th>" for k in keys)
    rows = "".join("<tr>" + "".join(f"<td>{_num(h.get(k, ''))}</td>" for k in keys) + "</tr>" for h in hist)
    return f"<table><tr>{head}</tr>{rows}</table>"


def _per_class_table(tm: dict, names: list[str]) -> str:
    pc = tm.get("per_class") or {}
    cols = [k for k in ("precision", "recall", "f1", "support") if isinstance(pc.get(k), list)]
    if not cols:
        return ""
    n = len(pc[cols[0]])
    names = names if len(names) == n else [str(i) for i in range(n)]
    head = "<th class=k>class</th>" + "".join(f"<th>{_e(c)}</th>" for c in cols)
    rows = "".join("<tr><td class=k>" + _e(names[i]) + "</td>" + "".join(f"<td>{_num(pc[c][i])}</td>" for c in cols)
                   + "</tr>" for i in range(n))
    return f"<table><tr>{head}</tr>{rows}</table>"


def _picture(make: Callable[[], Any], alt: str) -> tuple[str, bool]:
    """Render one figure; a failure becomes a one-line note in the page."""
    try:
        fig, _ = make()
        return _img(png_bytes(fig), alt), True
    except Exception as exc:  # a missing file or dataset must not sink the whole report
        msg = " ".join(str(exc).split()) or type(exc).__name__
        return f'<p class=muted>not available: {_e(msg)}</p>', False


def build_report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None, mistakes: bool = True,
                 data_dir: str | os.PathLike | None = None, mistakes_limit: int | None = None,
                 max_mistakes: int = 32) -> dict:
    """Write the HTML report of ``run_dir`` (default ``RUN_DIR/report.html``).

    Args:
        mistakes: include the gallery of misclassified test images (needs the dataset on disk; the report
            never downloads it).
        data_dir: where the dataset is (default: the run's ``data_dir`` while that folder exists, else the usual
            search paths).
        mistakes_limit: examine only the first N test images (default: the run's ``limit_test``, else all).
    Returns:
        ``{"out", "bytes", "images", "sections", "missing"}`` (``missing``: sections shown as not available).
    """
    from ..io.atomic import atomic_write_text
    run: RunInfo = read_run(run_dir)
    out_path = Path(out) if out is not None else run.path / "report.html"
    if out_path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"report: the output file should end in .html, got {out_path}")
    meta = run.meta or {}
    model_name = (meta.get("model") or {}).get("name") or run.config.get("model", "model")
    dataset = meta.get("dataset") or run.config.get("dataset", "?")
    parts: list[str] = []
    images, missing, sections = 0, [], []

    def add(title: str, body: str, ok: bool = True) -> None:
        parts.append(_section(title, body))
        sections.append(title)
        if not ok:
            missing.append(title)

    # summary
    tm = run.test_metrics or {}
    summary = {}
    for k in ("accuracy", "old-class accuracy", "new-class accuracy", "loss", "precision", "recall", "f1",
              "num_samples"):
        if k in tm:
            summary[f"test {k}" if k != "num_samples" else "test images"] = tm[k]
    best_epoch = meta.get("epoch")
    if best_epoch is not None:
        on = str(meta.get("selected_on") or "val_accuracy")
        where = ("validation" if on.startswith("val_") else "training accuracy: no validation split"
                 if on == "accuracy" else on)
        summary[f"best epoch (on {where})"] = best_epoch
        row = next((h for h in run.history if h.get("epoch") == best_epoch), {})
        if "val_accuracy" in row:
            summary["validation accuracy at best epoch"] = row["val_accuracy"]
    if run.history:
        summary["epochs trained"] = len(run.history)
        summary["training time (s)"] = float(sum(float(h.get("seconds", 0.0) or 0.0) for h in run.history))
    big = (f'<p class=big>test accuracy {tm["accuracy"]:.4f}</p>' if isinstance(tm.get("accuracy"), (int, float))
           else "")
    add("Summary", big + (_kv_table(summary) if summary else "<p class=muted>no metrics recorded</p>"),
        bool(summary))
    add("Configuration", _kv_table(run.config, raw=True) if run.config else "<p class=muted>no configuration recorded</p>",
        bool(run.config))

    from .runs import _confusion_figure, _curves_figure, _mistakes_figure
    body, ok = _picture(lambda: _curves_figure(run), "training curves")
    images += ok
    add("Training curves", body + (_history_table(run.history) if run.history else ""), ok)
    body, ok = _picture(lambda: _confusion_figure(run), "confusion matrix")
    images += ok
    add("Confusion matrix (test)", body + (_per_class_table(tm, run.class_names) if tm else ""), ok)

    model, meta_m, label, model_err = None, {}, "", (f"no checkpoint (best/, or merged/ or adapter/ of a "
                                                      f"fine-tuning run) in {run.path}")
    if run.checkpoint is not None:
        try:
            from .modelio import resolve_model
            model, meta_m, label = resolve_model(run.checkpoint)
        except Exception as exc:  # damaged or unknown model: the rest of the report still works
            model_err = " ".join(str(exc).split())
    if model is not None:
        from .plots import _kernels_figure
        body, ok = _picture(lambda: _kernels_figure(model, meta_m, label), "first-layer kernels")
    else:
        body, ok = f"<p class=muted>not available: {_e(model_err)}</p>", False
    images += ok
    add("First-layer kernels", body, ok)

    if mistakes:
        if model is not None:
            # `scratchcnn train --limit-test N` tests on the first N images, as the gallery looks; a fine-tuning
            # run's --limit-test is a seeded pick, so its gallery looks at all the test images of its classes
            limit = (mistakes_limit if mistakes_limit is not None
                     else None if run.finetune is not None else run.config.get("limit_test"))
            ddir = data_dir if data_dir is not None else _saved_data_dir(run.config)
            body, ok = _picture(lambda: _mistakes_figure(model, meta_m, label, None, "test", ddir, limit,
                                                         max_mistakes, download=False),
                                "misclassified test images")
        else:
            body, ok = f"<p class=muted>not available: {_e(model_err)}</p>", False
        images += ok
        add("Misclassified test images", body, ok)

    created = meta.get("created") or ""
    title = f"{model_name} on {dataset}"
    page = (f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>scratchcnn report: {_e(title)}"
            f"</title><style>{_CSS}</style></head><body>\n<h1>scratchcnn training report: {_e(title)}</h1>\n"
            f"<p class=muted>run folder {_e(run.path)}"
            + (f"; checkpoint written {_e(created)}" if created else "")
            + f"; report made {_e(_dt.datetime.now().isoformat(timespec='seconds'))}</p>\n"
            + "".join(parts) + "</body></html>\n")
    atomic_write_text(out_path, page)
    return {"out": str(out_path), "bytes": len(page.encode("utf-8")), "images": int(images), "sections": sections,
            "missing": missing}


def _saved_data_dir(config: dict) -> str | None:
    """The run's recorded ``data_dir`` when it can be trusted from here: an absolute folder that still exists.
    Older runs recorded it as typed (perhaps relative to a working folder unknown now) and a folder may have moved:
    then the usual places are searched (the data found there is identified as the run's dataset)."""
    saved = config.get("data_dir")
    if isinstance(saved, str) and Path(saved).is_absolute() and Path(saved).is_dir():
        return saved
    return None
