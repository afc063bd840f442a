"""LeNet-5 (LeCun et al. 1998) adapted to 28x28 inputs: the first convolution pads by 2 so C1 sees 32x32.

    conv1 (in->6, 5x5, pad 2) -> act -> pool 2 -> conv2 (6->16, 5x5) -> act -> pool 2 -> flatten
    -> fc1 (16*5*5=400 -> 120) -> act -> fc2 (120 -> 84) -> act -> fc3 (84 -> num_classes)

``activation`` is ``"relu"`` (default, trains fastest) or ``"tanh"`` (the original); ``pool`` is ``"max"``
(default) or ``"avg"`` (the original's subsampling). 61,706 parameters for 10 classes.
"""
from __future__ import annotations

from .. import nn
from ..nn.fused import conv_relu_max_pool
from ..tensor import Tensor


def _act(name: str):
    if name == "relu":
        return nn.ReLU()
    if name == "tanh":
        return nn.Tanh()
    raise ValueError(f"LeNet5: activation must be 'relu' or 'tanh', got {name!r}")


def _pool(name: str):
    if name == "max":
        return nn.MaxPool2d(kernel_size=2, stride=2)
    if name == "avg":
        return nn.AvgPool2d(kernel_size=2, stride=2)
    raise ValueError(f"LeNet5: pool must be 'max' or 'avg', got {name!r}")


class LeNet5(nn.Module):
    """Input (N, in_channels, 28, 28) -> logits (N, num_classes)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, activation: str = "relu", pool: str = "max"):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 6, kernel_size=5, padding=2)
        self.act1 = _act(activation)
        self.pool1 = _pool(pool)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.act2 = _act(activation)
        self.pool2 = _pool(pool)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.act3 = _act(activation)
        self.fc2 = nn.Linear(120, 84)
        self.act4 = _act(activation)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = conv_relu_max_pool(self.conv1, self.act1, self.pool1, x)
        x = conv_relu_max_pool(self.conv2, self.act2, self.pool2, x)
        x = self.act3(self.fc1(self.flatten(x)))
        x = self.act4(self.fc2(x))
        return self.fc3(x)
