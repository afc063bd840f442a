"""TensorBoard event files via tensorboardX (imported only when this callback starts).

A run interrupted mid-epoch has already logged ``train/*`` points past its last snapshot (and, stopped between the
epoch's callbacks and the snapshot, that epoch's ``epoch/*`` points); resumed, it logs them again, and TensorBoard
shows both. With ``owns_log_dir`` the logger first drops from the folder's event files every point the run is
about to write again (``trim_event_files``), so the curves of a resumed run have each step once.
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from .base import Callback

__all__ = ["TensorBoardLogger", "trim_event_files", "read_event_records"]

_EPOCH_PREFIX = "epoch/"


def read_event_records(path: str | Path) -> list[bytes]:
    """The serialised ``Event`` records of one event file, up to the first incomplete or damaged record (what a
    process killed while writing leaves at the end)."""
    from tensorboardX.record_writer import masked_crc32c
    buf = Path(path).read_bytes()
    out, i = [], 0
    while i + 12 <= len(buf):
        header = buf[i:i + 8]
        (n,) = struct.unpack("<Q", header)
        (hcrc,) = struct.unpack("<I", buf[i + 8:i + 12])
        if hcrc != masked_crc32c(header) or i + 12 + n + 4 > len(buf):
            break
        data = buf[i + 12:i + 12 + n]
        (dcrc,) = struct.unpack("<I", buf[i + 12 + n:i + 16 + n])
        if dcrc != masked_crc32c(data):
            break
        out.append(data)
        i += 16 + n
    return out


def _record(data: bytes) -> bytes:
    from tensorboardX.record_writer import masked_crc32c
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))


def trim_event_files(log_dir: str | Path, epoch: int, global_step: int) -> int:
    """Remove from the event files in ``log_dir`` the scalars a run resuming after ``epoch`` epochs and
    ``global_step`` steps will log again: ``epoch/*`` points past ``epoch``, other points past ``global_step``,
    and repeats of a (tag, step) already seen. Returns how many values were dropped.

    Nothing is rewritten when nothing is dropped. Otherwise the kept events go (atomically) into the oldest file,
    under its name, and the other files are deleted; a crash in between leaves files that the next call trims.
    """
    from tensorboardX.proto import event_pb2

    from ...io.atomic import atomic_write_bytes
    files = sorted(p for p in Path(log_dir).glob("events.out.tfevents.*") if p.is_file())
    if not files:
        return 0
    kept: list[Any] = []
    seen: set[tuple[str, int]] = set()
    dropped = 0
    for f in files:
        for data in read_event_records(f):
            ev = event_pb2.Event()
            try:
                ev.ParseFromString(data)
            except Exception:  # a record that is not an Event: not ours to keep
                dropped += 1
                continue
            if ev.HasField("file_version"):
                continue
            if not ev.HasField("summary"):
                if ev.step <= global_step:
                    kept.append(ev)
                else:
                    dropped += 1
                continue
            values = []
            for v in ev.summary.value:
                limit = epoch if v.tag.startswith(_EPOCH_PREFIX) else global_step
                if ev.step > limit or (v.tag, ev.step) in seen:
                    dropped += 1
                    continue
                seen.add((v.tag, ev.step))
                values.append(v)
            if len(values) != len(ev.summary.value):
                del ev.summary.value[:]
                ev.summary.value.extend(values)
            if values:
                kept.append(ev)
    if not dropped:
        return 0
    head = event_pb2.Event(wall_time=kept[0].wall_time if kept else 0.0, file_version="brain.Event:2")
    atomic_write_bytes(files[0], b"".join(_record(e.SerializeToString()) for e in [head, *kept]))
    for f in files[1:]:
        f.unlink(missing_ok=True)
    return dropped


class TensorBoardLogger(Callback):
    """Scalars ``train/loss`` every ``log_every`` steps and ``epoch/*`` (loss, accuracy, val_*, lr) per epoch.

    ``owns_log_dir``: the folder holds this run's events only (``scratchcnn train``); at the start, points the run
    will log again (after the resume point; all of them on a fresh start) are removed (``trim_event_files``).
    """

    def __init__(self, log_dir: str | Path, log_every: int = 50, owns_log_dir: bool = False):
        self.log_dir = Path(log_dir)
        self.log_every = max(1, int(log_every))
        self.owns_log_dir = bool(owns_log_dir)
        self._writer: Any = None

    def on_train_begin(self, trainer):
        try:
            from tensorboardX import SummaryWriter
        except ImportError as exc:  # pragma: no cover - tensorboardX is a dependency
            raise RuntimeError("TensorBoard logging needs tensorboardX (pip install tensorboardX)") from exc
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self.owns_log_dir:
            trim_event_files(self.log_dir, trainer.epoch, trainer.global_step)
        # event files are named by the second they are opened in: the step the run starts at keeps a quick resume
        # from truncating (and a same-second name from out-sorting) the file of the session before
        self._writer = SummaryWriter(logdir=str(self.log_dir), filename_suffix=f".s{trainer.global_step:012d}")

    def on_batch_end(self, trainer, logs):
        if self._writer is not None and trainer.global_step % self.log_every == 0:
            self._writer.add_scalar("train/loss", logs["last_loss"], trainer.global_step)
            self._writer.add_scalar("train/lr", logs["lr"], trainer.global_step)

    def on_epoch_end(self, trainer, logs):
        if self._writer is None:
            return
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
            if key in logs:
                self._writer.add_scalar(f"epoch/{key}", logs[key], logs["epoch"])
        self._writer.flush()

    def on_train_end(self, trainer, logs):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
