"""``finetune_compare``: every strategy plus a from-scratch baseline on the same data and seed, as one table.

Every strategy is *prepared* (validated) before any training starts, so bad input fails before anything is
written. Output folder::

    out/<strategy>/     each run's folder (see ``finetune.run``)
    out/compare.csv, out/compare.json ({"rows": [...]}), out/compare.png (accuracy and trainable share)
"""
from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from .run import FinetuneConfig, _check_out, _jsonable, prepare
from .strategies import BASELINE, STRATEGIES

__all__ = ["finetune_compare", "format_table", "ROW_KEYS", "parse_strategies"]

ROW_KEYS = ("strategy", "accuracy", "old_accuracy", "new_accuracy", "trainable_params", "trainable_percent",
            "seconds", "checkpoint_bytes", "merged_bytes")


def parse_strategies(text: str | Sequence[str] | None) -> list[str]:
    """``"lora,adapter"`` -> ["lora", "adapter"]; None -> every strategy. The baseline is always added later."""
    if text is None:
        return list(STRATEGIES)
    items = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    bad = [s for s in items if s not in STRATEGIES and s != BASELINE]
    if bad:
        raise ValueError(f"finetune-compare: unknown strategies {bad}; choose from {', '.join(STRATEGIES)}")
    if not items:
        raise ValueError("finetune-compare: --strategies selects nothing")
    return [s for s in dict.fromkeys(items) if s != BASELINE]


def _row(res: dict) -> dict:
    return {k: res.get(k) for k in ROW_KEYS}


def _fmt(v: Any, kind: str) -> str:
    if v is None:
        return "-"
    if kind == "acc":
        return f"{100 * v:.2f}"
    if kind == "pct":
        return f"{v:.2f}"
    if kind == "int":
        return f"{int(v):,}"
    if kind == "s":
        return f"{v:.1f}"
    if kind == "bytes":
        return f"{v / 1024:,.0f} KiB" if v >= 1024 else f"{int(v)} B"
    return str(v)


def format_table(rows: list[dict]) -> str:
    """A fixed-width text table of the comparison rows (accuracies in %)."""
    show_old = any(r.get("old_accuracy") is not None for r in rows)
    cols = [("strategy", "strategy", "str"), ("accuracy", "acc %", "acc")]
    if show_old:
        cols += [("old_accuracy", "old %", "acc"), ("new_accuracy", "new %", "acc")]
    cols += [("trainable_params", "trainable", "int"), ("trainable_percent", "train %", "pct"),
             ("seconds", "seconds", "s"), ("checkpoint_bytes", "ckpt", "bytes"), ("merged_bytes", "full ckpt", "bytes")]
    body = [[_fmt(r.get(k), kind) for k, _, kind in cols] for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, (_, h, _) in enumerate(cols)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*(h for _, h, _ in cols)), "  ".join("-" * w for w in widths)]
    lines += [fmt.format(*b) for b in body]
    return "\n".join(lines)


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(ROW_KEYS))
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in ROW_KEYS})
    return buf.getvalue()


def plot_comparison(rows: list[dict], path: str | Path, title: str = "") -> Path:
    """Bar charts: test accuracy (with old/new classes if present) and the trainable share, per strategy."""
    from ..train.callbacks.plots import _pyplot, _save
    import numpy as np
    plt = _pyplot()
    names = [r["strategy"] for r in rows]
    x = np.arange(len(rows))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    show_old = any(r.get("old_accuracy") is not None for r in rows)
    if show_old:
        width = 0.27
        for off, key, label in ((-width, "accuracy", "all"), (0, "old_accuracy", "old classes"),
                                (width, "new_accuracy", "new classes")):
            axes[0].bar(x + off, [100 * (r.get(key) or 0) for r in rows], width, label=label)
        axes[0].legend()
    else:
        bars = axes[0].bar(x, [100 * r["accuracy"] for r in rows], color="tab:blue")
        for b, r in zip(bars, rows):
            axes[0].text(b.get_x() + b.get_width() / 2, b.get_height(), f"{100 * r['accuracy']:.1f}",
                         ha="center", va="bottom", fontsize=8)
    accs = [100 * (r.get(k) or 0) for r in rows for k in ("accuracy", "old_accuracy", "new_accuracy")
            if r.get(k) is not None]
    axes[0].set_ylim(max(0.0, min(accs) - 5.0) if accs else 0.0, 100.0)
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].set_title("accuracy")
    bars = axes[1].bar(x, [max(r["trainable_percent"], 1e-3) for r in rows], color="tab:orange")
    for b, r in zip(bars, rows):
        axes[1].text(b.get_x() + b.get_width() / 2, b.get_height(), f"{r['trainable_percent']:.3g}%",
                     ha="center", va="bottom", fontsize=8)
    axes[1].set_yscale("log")
    axes[1].set_ylabel("trainable parameters (%)")
    axes[1].set_title("trainable share (log scale)")
    for ax in axes:
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=30, ha="right")
        ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title)
    try:
        return _save(fig, Path(path))
    finally:
        plt.close(fig)


def finetune_compare(config: FinetuneConfig, strategies: Sequence[str] | str | None = None,
                     out_dir: str | Path = "runs/finetune-compare", progress: bool = True, plots: bool = True,
                     overwrite: bool = False) -> dict:
    """Run ``strategies`` (default: all) and the from-scratch baseline with ``config``'s data, seed and epochs.

    ``config.lr`` (if set) applies to every run; otherwise each strategy uses its default learning rate.
    Returns ``{"rows": [{strategy, accuracy, old_accuracy, new_accuracy, trainable_params, trainable_percent,
    seconds, checkpoint_bytes, merged_bytes}, ...], "table": str, "out_dir", "csv", "json", "png", "runs"}``.
    """
    from ..io.atomic import atomic_write_text
    names = parse_strategies(strategies) + [BASELINE]
    out = Path(out_dir)
    _check_out(out, overwrite, "finetune-compare")
    sessions = []
    data = None
    for s in names:  # validate every strategy (and load the data once) before training anything
        cfg = replace(config, strategy=s)
        if s == BASELINE and cfg.save == "adapter":    # the baseline has no base to refer to: its full one
            cfg = replace(cfg, save="merged")
        if s == BASELINE and cfg.base is None and cfg.model is None:
            raise ValueError("finetune-compare: give a base checkpoint")
        sess = prepare(cfg, data=data)
        data = sess.data
        sessions.append(sess)
    out.mkdir(parents=True, exist_ok=True)
    rows, runs = [], {}
    for i, s in enumerate(names):
        sess, sessions[i] = sessions[i], None  # free each model once it has run
        if progress:
            print(f"[{i + 1}/{len(names)}] {s}", file=sys.stderr, flush=True)
        res = sess.run(out / s, progress=progress, overwrite=True)
        rows.append(_row(res))
        runs[s] = res["out_dir"]
    table = format_table(rows)
    result = {"rows": rows, "table": table, "out_dir": str(out), "runs": runs,
              "dataset": data.train.name, "class_names": data.class_names, "num_train": len(data.train),
              "num_test": len(data.test), "epochs": config.epochs, "seed": config.seed,
              "labels_per_class": config.labels_per_class, "extend_classes": config.extend_classes}
    atomic_write_text(out / "compare.csv", _csv(rows))
    result["csv"] = str(out / "compare.csv")
    result["json"] = str(out / "compare.json")
    if plots:
        lpc = f", {config.labels_per_class} labels/class" if config.labels_per_class else ""
        plot_comparison(rows, out / "compare.png", f"fine-tuning on {data.train.name} "
                                                   f"({len(data.class_names)} classes{lpc})")
        result["png"] = str(out / "compare.png")
    atomic_write_text(out / "compare.json", json.dumps(_jsonable(result), indent=1) + "\n")
    return result
