"""Seed 001's MNIST CNN (§4.3 design with §5.2's padding, dense layer and dropout; the issue fixes the order).

    conv1 (in->64, 3x3, pad 1) -> ReLU -> maxpool 2 -> bn1 -> conv2 (64->128, 3x3, pad 1) -> ReLU -> maxpool 2
    -> bn2 -> flatten -> fc1 (128*7*7=6272 -> 1024) -> ReLU -> dropout 0.5 -> fc2 (1024 -> num_classes)

Keys: conv1.*, bn1.{weight,bias,running_mean,running_var,...}, conv2.*, bn2.*, fc1.*, fc2.*.
"""
from __future__ import annotations

from .. import nn
from ..nn.fused import conv_relu_max_pool
from ..tensor import Tensor


class Seed001(nn.Module):
    """Input (N, in_channels, input_size, input_size) -> logits (N, num_classes)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 28, dropout: float = 0.5):
        super().__init__()
        if input_size % 4 != 0:
            raise ValueError(f"Seed001: input_size must be divisible by 4 (two 2x2 pools), got {input_size}")
        side = input_size // 4
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 128, kernel_size=3, stride=1, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.bn2 = nn.BatchNorm2d(128)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(128 * side * side, 1024)
        self.relu3 = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn1(conv_relu_max_pool(self.conv1, self.relu1, self.pool1, x))
        x = self.bn2(conv_relu_max_pool(self.conv2, self.relu2, self.pool2, x))
        x = self.dropout(self.relu3(self.fc1(self.flatten(x))))
        return self.fc2(x)
