"""Benchmarks against PyTorch (``scratchcnn bench``): same process, same threads, ratios; never a timed test.

PyTorch is optional here and imported only when a benchmark runs.
"""
from __future__ import annotations

from .run import default_threads, format_table, run_bench
from .twins import torch_textcnn, torch_twin

__all__ = ["run_bench", "format_table", "default_threads", "torch_twin", "torch_textcnn"]
