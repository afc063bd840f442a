"""The benchmarked workloads: one model, its PyTorch twin, a batch of inputs, and a train or infer step for each.

A step is a zero-argument callable: ``train`` = zero_grad, forward, cross-entropy, backward, Adam step (plus
Kim's max-norm for TextCNN); ``infer`` = eval mode, no autograd, forward. Inputs are random but shaped like the
real data (MNIST images 1x28x28; sentences of ``TEXT_LENGTH`` character ids, none padded), the same arrays for
both libraries.

FLOPs (``scratchcnn summary``'s convention): 2 x multiply-accumulates of the conv and linear layers, per sample.
A forward pass is the summary's total; a training step adds the weight gradients (the same MACs again) and the
input gradients, which neither library computes for the first layer of an image model (its input is the data,
which needs no gradient): training = 3 x forward - 2 x MACs of that first layer. TextCNN's first conv layers
do need their input gradient (it trains the embedding): 3 x forward.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = ["MODELS", "TEXT_LENGTH", "TEXT_VOCAB", "TORCH_ADAM", "Workload", "make_workload"]

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
    train_flops_per_sample: int = 0    # forward + weight gradients + the input gradients computed (see above)

    def flops(self, phase: str) -> int:
        """FLOPs per sample of one ``phase`` ("train" or "infer") step."""
        return self.train_flops_per_sample if phase == "train" else self.flops_per_sample


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


def _flops(name: str, model: Any) -> tuple[int, int]:
    """(forward, training) FLOPs per sample of ``model`` on the bench's input (see the module docstring)."""
    from scratchcnn.models import summary
    rows = [r for r in summary(model, (TEXT_LENGTH,) if name == "textcnn" else None).rows if r["macs"]]
    forward = 2 * sum(r["macs"] for r in rows)
    no_input_grad = 0 if name == "textcnn" else 2 * rows[0]["macs"]   # the first layer reads the data
    return forward, 3 * forward - no_input_grad


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


TORCH_ADAM = ("default", "fused")
"""PyTorch's Adam implementations the bench can use: ``default`` (what ``torch.optim.Adam(params, lr)`` picks on
the CPU: its single-tensor loop) or ``fused`` (``fused=True``: one kernel per parameter, the same update)."""


def _torch_steps(torch: Any, twin: Any, x: np.ndarray, y: np.ndarray, max_norm: float | None = None,
                 adam: str = "default") -> Callable[[str], Any]:
    """``max_norm``: Kim's constraint on the output layer ``twin.fc`` after every step (TextCNN), as
    ``apply_constraints`` does in scratchcnn; ``adam``: one of ``TORCH_ADAM``."""
    if adam not in TORCH_ADAM:
        raise ValueError(f"bench: unknown PyTorch Adam {adam!r}; choose from {', '.join(TORCH_ADAM)}")
    opt = torch.optim.Adam([p for p in twin.parameters() if p.requires_grad], lr=1e-3,
                           fused=True if adam == "fused" else None)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def train() -> None:
        opt.zero_grad()
        loss_fn(twin(xt), yt).backward()
        opt.step()
        if max_norm:
            with torch.no_grad():
                twin.fc.weight.copy_(torch.renorm(twin.fc.weight, 2, 0, max_norm))

    def infer() -> None:
        with torch.inference_mode():
            twin(xt)

    def make(phase: str) -> Callable[[], None]:
        twin.train(phase == "train")
        return train if phase == "train" else infer
    return make


def make_workload(name: str, lib: str, batch: int, torch_adam: str = "default") -> Workload:
    """The workload ``name`` (one of MODELS) for ``lib`` ("scratchcnn" or "torch"), batch ``batch``;
    ``torch_adam`` picks PyTorch's Adam implementation (``TORCH_ADAM``)."""
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
        make = _torch_steps(torch, twin, x, y, getattr(model, "max_norm", None) if name == "textcnn" else None,
                            torch_adam)
    else:
        raise ValueError(f"bench: unknown library {lib!r}")
    forward, train = _flops(name, model)
    return Workload(name, unit, forward, batch, make, train)
