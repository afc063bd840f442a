"""scratchcnn.io: checkpoints (model.safetensors + meta.json, atomic, validated) and atomic file writes."""
from .atomic import (atomic_directory, atomic_write_bytes, atomic_write_text, recover_directory,
                     remove_stale_siblings)
from .checkpoint import CheckpointError, file_sha256, load_checkpoint, read_meta, save_checkpoint

__all__ = ["atomic_directory", "atomic_write_bytes", "atomic_write_text", "recover_directory",
           "remove_stale_siblings", "CheckpointError", "file_sha256", "load_checkpoint", "read_meta",
           "save_checkpoint"]
