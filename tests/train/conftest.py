"""A tiny registered model with BatchNorm and Dropout, so resume tests cover buffers and dropout RNG fast."""
from __future__ import annotations

import pytest

from scratchcnn import models, nn


class TinyNet(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(4)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(0.3)
        self.fc = nn.Linear(4 * 7 * 7, num_classes)

    def forward(self, x):
        return self.fc(self.dropout(self.flatten(self.pool(self.relu(self.bn1(self.conv1(x)))))))


@pytest.fixture(scope="session")
def tiny_model_name() -> str:
    models.register("test-tiny", TinyNet, "test model: conv4 + BN + dropout + fc")
    return "test-tiny"
