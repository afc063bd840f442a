"""A tiny synthetic two-class folder corpus for end-to-end text training tests (a few seconds per run)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def make_corpus(folder: Path, n: int = 160, seed: int = 0) -> Path:
    """Two classes whose label is readable from some of their words: ``folder/pos.txt`` and ``folder/neg.txt``."""
    rng = np.random.default_rng(seed)
    words = {"pos": ["good", "great", "love", "nice"], "neg": ["bad", "awful", "hate", "poor"]}
    filler = ["the", "film", "was", "plot", "and", "it"]
    folder.mkdir(parents=True, exist_ok=True)
    for label, cue in words.items():
        lines = [" ".join(list(rng.choice(cue, 2)) + list(rng.choice(filler, 4))) + f" {label}{i}" for i in range(n)]
        (folder / f"{label}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
