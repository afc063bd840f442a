"""Few-shot fine-tuning on a validation set (docs/finetune.md, "Few-shot defaults"): for each sample seed, the
run of ``scratchcnn finetune BASE --dataset mnist --classes 5-9 --labels-per-class 10 --epochs 30 --seed S``,
evaluated not on the test split but on 2,000 *training* images of those classes outside the sampled ones.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/fewshot_validation.py \
        --base runs/pre04/merged --strategies full,scratch --seeds 1,2,3,4,5,6 --data-dir ../shared/datasets

Prints one JSON line per run and, per strategy, the mean over the seeds; with ``scratch`` among the strategies,
each other strategy's mean gap to it and that gap's standard error over the seeds. ``--sam RHO`` trains with
sharpness-aware minimisation (the gradient taken again at w + RHO * g / ||g||; the fourteenth session's
experiment); ``--set KEY=VALUE`` (repeatable) changes a ``FinetuneConfig`` setting of every strategy but
scratch (``--strategies partial --set unfreeze_last=5``). Choosing defaults here keeps the test split for the final numbers.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import scratchcnn  # noqa: F401  (first: it sets OpenBLAS' thread timeout before NumPy loads)
import numpy as np


class SAM:
    """Sharpness-aware minimisation in the Trainer's ``adversary`` slot: ``attack`` moves the trainable
    parameters to w + rho * g / ||g|| (g the clean gradient, its norm over all of them) and clears their
    gradients, so the second pass's gradient replaces it; ``restore`` puts the weights back exactly."""

    def __init__(self, model, rho: float):
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.rho = float(rho)
        self.saved: list = []

    def attack(self) -> None:
        grads = [p.grad for p in self.params]
        norm = float(np.sqrt(sum(np.dot(g.reshape(-1).astype(np.float64), g.reshape(-1)) for g in grads
                                 if g is not None))) + 1e-12
        self.saved = []
        for p, g in zip(self.params, grads):
            if g is None:
                continue
            self.saved.append((p, p.data.copy()))
            p.data += ((self.rho / norm) * g).astype(p.data.dtype)
            p._version += 1
            p.grad = None

    def restore(self) -> None:
        for p, saved in self.saved:
            np.copyto(p.data, saved)
            p._version += 1
        self.saved = []


def run_one(args, strategy: str, seed: int) -> dict:
    from scratchcnn.data import few_shot
    from scratchcnn.finetune.data import prepare_data
    from scratchcnn.finetune.run import FinetuneConfig, prepare
    data = prepare_data("mnist", args.data_dir, args.classes, args.labels_per_class, seed)
    full = prepare_data("mnist", args.data_dir, args.classes, None, seed)
    picked = few_shot(full.train.labels, args.labels_per_class,
                      seed=int(np.random.SeedSequence([seed, 11]).generate_state(2)[0]),
                      classes=range(len(full.class_subset)))
    if not np.array_equal(full.train.subset(np.sort(picked)).images, data.train.images):
        raise SystemExit("the few-shot sample could not be reproduced: finetune.data's sampling rule changed")
    rest = np.setdiff1d(np.arange(len(full.train)), picked)
    data.test = full.train.subset(np.sort(np.random.default_rng([seed, 99]).permutation(rest)[:args.val_size]))
    base = None if strategy == "scratch" and args.base is None else args.base
    overrides = {} if strategy == "scratch" else args.set
    cfg = FinetuneConfig(strategy=strategy, base=base, model=args.model if base is None else None,
                         dataset="mnist", classes=args.classes, labels_per_class=args.labels_per_class,
                         epochs=args.epochs, seed=seed, data_dir=args.data_dir, **overrides)
    cfg.validate()
    session = prepare(cfg, data=data)
    extra = {}
    if args.sam:
        import scratchcnn.train.trainer as trainer_mod
        sam = SAM(session.model, args.sam)
        original = trainer_mod.Trainer.__init__

        def init(self, *a, **k):
            k["adversary"] = sam
            original(self, *a, **k)
        trainer_mod.Trainer.__init__ = init
        extra["sam"] = args.sam
    t0 = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = session.run(f"{tmp}/out", progress=False)
    finally:
        if args.sam:
            trainer_mod.Trainer.__init__ = original
    return {"strategy": strategy, "seed": seed, "val_accuracy": round(100 * result["accuracy"], 2),
            "seconds": round(time.perf_counter() - t0, 1), **extra, **overrides}


def _setting(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` of ``--set``: a FinetuneConfig field and a JSON value (a bare word stays a string)."""
    from dataclasses import fields

    from scratchcnn.finetune.run import FinetuneConfig
    key, sep, value = text.partition("=")
    names = {f.name for f in fields(FinetuneConfig)}
    if not sep or key not in names:
        raise argparse.ArgumentTypeError(f"--set wants KEY=VALUE with KEY one of {', '.join(sorted(names))}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", help="base checkpoint folder (optional for --strategies scratch alone)")
    ap.add_argument("--model", default="seed001", help="architecture for scratch without a base")
    ap.add_argument("--strategies", default="full,scratch")
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--classes", default="5-9")
    ap.add_argument("--labels-per-class", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--val-size", type=int, default=2000)
    ap.add_argument("--sam", type=float, default=0.0, help="SAM's rho (0: off)")
    ap.add_argument("--set", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                    help="a FinetuneConfig setting for every strategy but scratch, e.g. unfreeze_last=4 or lr=3e-4")
    ap.add_argument("--data-dir")
    args = ap.parse_args()
    args.set = dict(args.set)
    strategies = [s for s in args.strategies.split(",") if s]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    if args.base is None and strategies != ["scratch"]:
        raise SystemExit("give --base CHECKPOINT (only --strategies scratch runs without one)")
    acc: dict[str, dict[int, float]] = {s: {} for s in strategies}
    for strategy in strategies:
        for seed in seeds:
            row = run_one(args, strategy, seed)
            acc[strategy][seed] = row["val_accuracy"]
            print(json.dumps(row), flush=True)
    for strategy in strategies:
        line = f"{strategy}: mean {statistics.fmean(acc[strategy].values()):.2f} over seeds {seeds}"
        if "scratch" in acc and strategy != "scratch":
            gaps = [acc[strategy][s] - acc["scratch"][s] for s in seeds]
            se = statistics.stdev(gaps) / len(gaps) ** 0.5 if len(gaps) > 1 else float("nan")
            line += f"; gap to scratch {statistics.fmean(gaps):+.2f} (standard error {se:.2f})"
        print(line)


if __name__ == "__main__":
    main()
