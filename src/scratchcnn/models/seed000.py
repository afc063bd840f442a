"""Seed 000's MNIST CNN (its §5.2 PyTorch code), with the same attribute names so ``state_dict`` keys match.

    conv1 (1->16, 3x3, pad 1) -> ReLU -> maxpool 2 -> conv2 (16->32, 3x3, pad 1) -> ReLU -> maxpool 2
    -> flatten -> fc1 (32*7*7=1568 -> 128) -> ReLU -> fc2 (128 -> num_classes)

206,922 parameters for 10 classes. Keys: conv1.weight, conv1.bias, conv2.*, fc1.*, fc2.*.
"""
from __future__ import annotations

from .. import nn
from ..nn.fused import conv_relu_max_pool
from ..tensor import Tensor


class Seed000(nn.Module):
    """Input (N, in_channels, input_size, input_size) -> logits (N, num_classes)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 28):
        super().__init__()
        if input_size % 4 != 0:
            raise ValueError(f"Seed000: input_size must be divisible by 4 (two 2x2 pools), got {input_size}")
        side = input_size // 4
        self.conv1 = nn.Conv2d(in_channels, 16, kernel_size=3, stride=1, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, stride=1, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(32 * side * side, 128)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = conv_relu_max_pool(self.conv1, self.relu1, self.pool1, x)
        x = conv_relu_max_pool(self.conv2, self.relu2, self.pool2, x)
        x = self.relu3(self.fc1(self.flatten(x)))
        return self.fc2(x)
