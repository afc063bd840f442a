"""Named built-in models and their registry: ``scratchcnn.models.get("seed000", num_classes=10)``.

State-dict keys use the attribute names of the seeds' PyTorch code (``conv1.weight``, ``fc1.bias``, ...), so
weights move between scratchcnn and an equivalent ``torch.nn.Module`` unchanged. ``summary(model)`` prints a
Keras-style table; ``load_model(checkpoint_dir)`` rebuilds a trained model from a checkpoint.
"""
from .registry import describe, get, list_models, register
from .summary import ModelSummary, summary
from .loading import CheckpointMismatchError, load_model, model_meta

__all__ = ["get", "list_models", "register", "describe", "summary", "ModelSummary", "load_model", "model_meta",
           "CheckpointMismatchError"]
