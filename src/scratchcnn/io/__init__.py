"""scratchcnn.io: checkpoints (model.safetensors + meta.json, atomic, validated), atomic file writes, PyTorch
interop (``to_torch``, ``load_torch_state_dict``; torch is imported only inside ``to_torch``) and ONNX export."""
from .atomic import (atomic_directory, atomic_write_bytes, atomic_write_text, recover_directory,
                     remove_stale_siblings)
from .checkpoint import CheckpointError, file_sha256, load_checkpoint, read_meta, save_checkpoint
from .torch_interop import load_torch_state_dict, to_torch
from .onnx_export import export_onnx, onnx_signature  # numpy-only at import; ``onnx`` is imported when it is called

__all__ = ["atomic_directory", "atomic_write_bytes", "atomic_write_text", "recover_directory",
           "remove_stale_siblings", "CheckpointError", "file_sha256", "load_checkpoint", "read_meta",
           "save_checkpoint", "to_torch", "load_torch_state_dict", "export_onnx", "onnx_signature"]
