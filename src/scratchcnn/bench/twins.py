"""PyTorch twins of scratchcnn models: the same layers, names and weights, for side-by-side benchmarks and tests.

``torch_twin(model)`` mirrors any scratchcnn model built from standard layers whose ``forward`` only calls its
children (seed000, seed001, lenet5, ``nn.Sequential`` stacks) with :func:`scratchcnn.io.to_torch`: each layer
becomes the ``torch.nn`` layer of the same name and constructor arguments, the model's own ``forward`` is reused,
and the tensors are copied, so the twin computes the same function. ``torch_textcnn`` is a hand-written twin of
:class:`~scratchcnn.models.textcnn.TextCNN` (plain Kim configuration; max over time, masked only when a text of the
batch is padded, as scratchcnn's model does). PyTorch is imported lazily: it is a benchmark and test oracle only.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["torch_twin", "torch_textcnn", "copy_weights"]


def copy_weights(torch: Any, src: Any, dst: Any) -> None:
    """Load ``src``'s (scratchcnn) state_dict into ``dst`` (torch), strictly, as float32 or float64 tensors."""
    dst.load_state_dict({k: torch.from_numpy(np.array(v.data if hasattr(v, "data") else v))
                         for k, v in src.state_dict().items()})


def torch_twin(model: Any) -> Any:
    """A torch.nn.Module computing the same function as ``model`` (same children, names, weights, forward):
    ``scratchcnn.io.to_torch``, except that a ``mode="convolution"`` conv is refused (the twin's state_dict then
    always holds ``model``'s values)."""
    from ..io.torch_interop import mirror
    return mirror(model, "torch_twin", flip=False)


def _match_dtype(torch, model: Any, twin: Any) -> None:
    """Give ``twin`` the floating dtype of ``model``'s parameters (torch's default dtype may differ)."""
    params = [p for p in model.parameters() if p.data.dtype.kind == "f"]
    if params:
        twin.to({np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[params[0].data.dtype])


def torch_textcnn(model: Any) -> Any:
    """A PyTorch TextCNN with ``model``'s configuration and weights (plain Kim: token embedding only)."""
    import torch
    tnn = torch.nn
    if model.ngram_orders or model.embedding_type == "multichannel" or model.pooling != "max":
        raise ValueError("torch_textcnn: only the plain Kim configuration (one embedding, max pooling) is mirrored")
    emb = model.embedding.weight.shape
    convs = list(model.convs)

    class TorchTextCNN(tnn.Module):
        def __init__(self):
            super().__init__()
            self.ks = list(model.kernel_sizes)
            self.embedding = tnn.Embedding(emb[0], emb[1], padding_idx=0)
            self.embed_dropout = tnn.Dropout(model.embed_dropout.p)
            self.convs = tnn.ModuleList(tnn.Conv1d(c.in_channels, c.out_channels, c.kernel_size) for c in convs)
            self.dropout = tnn.Dropout(model.dropout.p)
            self.fc = tnn.Linear(model.fc.in_features, model.fc.out_features)

        def forward(self, ids):
            if ids.shape[1] < max(self.ks):     # shorter than the widest window: pad (masked anyway), as ours
                ids = torch.nn.functional.pad(ids, (0, max(self.ks) - ids.shape[1]))
            lengths = (ids != 0).sum(1)
            padded = bool((lengths < ids.shape[1]).any())   # no padding: every window lies inside its text
            h = self.embed_dropout(self.embedding(ids)).transpose(1, 2)
            pooled = []
            for conv, k in zip(self.convs, self.ks):
                c = conv(h)
                if padded:
                    valid = torch.clamp(lengths - k + 1, min=1)
                    mask = torch.arange(c.shape[2])[None, :] >= valid[:, None]
                    c = c.masked_fill(mask[:, None, :], float("-inf"))
                pooled.append(c.amax(dim=2))
            return self.fc(self.dropout(torch.relu(torch.cat(pooled, 1))))

    twin = TorchTextCNN()
    _match_dtype(torch, model, twin)
    copy_weights(torch, model, twin)
    twin.train(model.training)
    return twin
