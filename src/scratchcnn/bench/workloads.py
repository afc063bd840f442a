"""The benchmarked workloads: one model, its PyTorch twin, a batch of inputs, and a train or infer step for each.

A step is a zero-argument callable: ``train`` = zero_grad, forward, cross-entropy, backward, Adam step (plus
Kim's max-norm for TextCNN); ``infer`` = eval mode, no autograd, forward. Inputs are random but shaped like the
real data (MNIST images 1x28x28; sentences of ``TEXT_LENGTH`` character ids), the same arrays for both libraries.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = ["MODELS", "TEXT_LENGTH", "TEXT_VOCAB", "Workload", "make_workload"]

MODELS = ("seed000", "seed001", "lenet5", "textcnn")
TEXT_LENGTH = 96        # characters per sentence (the review corpus' median is ~60, its 90th percentile ~150)
TEXT_VOCAB = 4000       # character vocabulary of the review corpus (~4.3k)
TEXT_EMBED = 128


@dataclass
class Workload:
    """A model of one library with its batch; ``step(phase)`` returns the callable to time."""
    name: str
    unit: str                      # "images" or "sentences"
    flops_per_sample: int          # forward FLOPs (2 x MACs of conv/linear layers)
    batch: int
    make_step: Callable[[str], Callable[[], None]]


def _scratch_model(name: str):
    import scratchcnn as sc
    from scratchcnn import models
    sc.manual_seed(0)
    if name == "textcnn":
        return models.get("textcnn", num_classes=2, vocab_size=TEXT_VOCAB, embed_dim=TEXT_EMBED)
    return models.get(name, num_classes=10)


def _inputs(name: str, batch: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    if name == "textcnn":
        x = rng.integers(1, TEXT_VOCAB, (batch, TEXT_LENGTH)).astype(np.int64)
        return x, rng.integers(0, 2, batch).astype(np.int64)
    x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    return x, rng.integers(0, 10, batch).astype(np.int64)


def _flops(name: str, model: Any) -> int:
    if name == "textcnn":   # convs: L_out * F * k * D MACs each; output layer
        macs = sum((TEXT_LENGTH - k + 1) * c.out_channels * k * c.in_channels
                   for k, c in zip(model.kernel_sizes, model.convs))
        return 2 * (macs + model.fc.in_features * model.fc.out_features)
    from scratchcnn.models import summary
    return summary(model).total_flops


def _scratch_steps(model: Any, x: np.ndarray, y: np.ndarray) -> Callable[[str], Callable[[], None]]:
    import scratchcnn as sc
    from scratchcnn import nn, optim
    from scratchcnn.train.split_batch import forward_for_training
    opt = optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = sc.Tensor(x), sc.Tensor(y)
    constrain = getattr(model, "apply_constraints", lambda: None)

    def train() -> None:   # the Trainer's step: the batch split over the cores where the model allows it
        opt.zero_grad()
        logits, finish = forward_for_training(model, xt)
        loss_fn(logits, yt).backward()
        finish()
        opt.step()
        constrain()

    def infer() -> None:
        with sc.no_grad():
            model(xt)

    def make(phase: str) -> Callable[[], None]:
        model.train(phase == "train")
        return train if phase == "train" else infer
    return make


def _torch_steps(torch: Any, twin: Any, x: np.ndarray, y: np.ndarray, textcnn: bool) -> Callable[[str], Any]:
    opt = torch.optim.Adam([p for p in twin.parameters() if p.requires_grad], lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def train() -> None:
        opt.zero_grad()
        loss_fn(twin(xt), yt).backward()
        opt.step()
        if textcnn:
            with torch.no_grad():
                twin.fc.weight.copy_(torch.renorm(twin.fc.weight, 2, 0, 3.0))

    def infer() -> None:
        with torch.inference_mode():
            twin(xt)

    def make(phase: str) -> Callable[[], None]:
        twin.train(phase == "train")
        return train if phase == "train" else infer
    return make


def make_workload(name: str, lib: str, batch: int) -> Workload:
    """The workload ``name`` (one of MODELS) for ``lib`` ("scratchcnn" or "torch"), batch ``batch``."""
    if name not in MODELS:
        raise ValueError(f"bench: unknown model {name!r}; choose from {', '.join(MODELS)}")
    model = _scratch_model(name)
    x, y = _inputs(name, batch)
    unit = "sentences" if name == "textcnn" else "images"
    if lib == "scratchcnn":
        make = _scratch_steps(model, x, y)
    elif lib == "torch":
        import torch

        from .twins import torch_textcnn, torch_twin
        twin = torch_textcnn(model) if name == "textcnn" else torch_twin(model)
        make = _torch_steps(torch, twin, x, y, name == "textcnn")
    else:
        raise ValueError(f"bench: unknown library {lib!r}")
    return Workload(name, unit, _flops(name, model), batch, make)
