"""Shared by the tests of runs that fail (train, train-text, finetune): a callback that raises at an epoch's
start and a snapshot of a folder tree to compare before and after."""
from __future__ import annotations

from pathlib import Path

from scratchcnn.train import Callback


class Raise(Callback):
    """Raises ``exc`` as epoch ``epoch`` begins (after the previous epoch's best/ and last/ are written)."""

    def __init__(self, exc: BaseException, epoch: int = 2):
        self.exc, self.epoch = exc, epoch

    def on_epoch_begin(self, trainer, epoch, num_batches):
        if epoch == self.epoch:
            raise self.exc


def tree(root: Path) -> list:
    """Every path below ``root`` with its bytes (None for folders), sorted: equal trees compare equal."""
    return sorted((str(p.relative_to(root)), p.read_bytes() if p.is_file() else None) for p in root.rglob("*"))


def out_folder(root: Path, given: str) -> Path:
    """``root/made/run`` as a test's --out: "missing" (not made), "empty" (made, empty) or "full" (holding a
    notes.txt that a failed run must leave alone)."""
    out = root / "made" / "run"
    if given != "missing":
        out.mkdir(parents=True)
    if given == "full":
        (out / "notes.txt").write_text("keep me")
    return out
