"""Classic hand-made 3x3 kernels (image filters) by name: what convolution did before kernels were learned.

Each entry is written for ``mode="correlation"`` (PyTorch's conv2d); the symmetric ones give the same result
either way, the Sobel kernels change sign under ``mode="convolution"`` (the kernel is flipped).
"""
from __future__ import annotations

import numpy as np

__all__ = ["KERNELS", "KERNEL_DESCRIPTIONS", "kernel_names", "get_kernel"]

KERNELS: dict[str, list[list[float]]] = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "edge": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "sobel-x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "sobel-y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "box-blur": [[1 / 9] * 3] * 3,
    "gaussian": [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
}

KERNEL_DESCRIPTIONS: dict[str, str] = {
    "identity": "copies the input (only the centre weight is 1)",
    "edge": "outline: 8 x centre minus the 8 neighbours; zero on flat areas, large at edges",
    "sobel-x": "horizontal gradient (right minus left, smoothed vertically); finds vertical edges",
    "sobel-y": "vertical gradient (bottom minus top, smoothed horizontally); finds horizontal edges",
    "laplacian": "second derivative: the 4 neighbours minus 4 x centre; zero on flat and linear ramps",
    "box-blur": "mean of the 3x3 neighbourhood (all weights 1/9)",
    "gaussian": "weighted mean [1 2 1]^T [1 2 1] / 16: a gentle blur",
    "sharpen": "5 x centre minus the 4 neighbours: the image plus its negative Laplacian",
}


def kernel_names() -> list[str]:
    """The known kernel names, in a fixed teaching order."""
    return list(KERNELS)


def get_kernel(name: str) -> np.ndarray:
    """The (3, 3) float64 kernel called ``name`` (see ``kernel_names()``); ValueError for unknown names."""
    key = str(name).strip().lower().replace("_", "-")
    if key not in KERNELS:
        raise ValueError(f"unknown kernel name {name!r}; known kernels: {', '.join(KERNELS)}")
    return np.array(KERNELS[key], dtype=np.float64)
