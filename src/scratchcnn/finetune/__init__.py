"""scratchcnn.finetune: adapt a pretrained model to new data - transfer, incremental and parameter-efficient.

- ``structure``: trace the layer order, find the classifier head, layer units and conv block ends.
- ``heads``: ``replace_head`` (new task) and ``extend_head`` (old rows kept, new classes added).
- ``freeze`` / ``strategies``: full, linear-probe, partial, discriminative LRs, BitFit, LoRA, adapters; BatchNorm.
- ``lora``: ``LoRALinear``, ``LoRAConv`` (1-d and 2-d), merge/unmerge.
- ``adapter``: ``Adapter`` (zero-initialised bottleneck after a conv block), ``ParallelAdapter`` (beside a Linear
  layer), ``ResidualBlock`` (a new block, ``--insert-block``), ``insert_after`` / ``add_parallel``.
- ``checkpoint``: adapter-only checkpoints (hash-checked base reference) and merged ones; ``load_finetuned``.
- ``run`` / ``compare``: the end-to-end runs behind ``scratchcnn finetune`` and ``finetune-compare``.
"""
from .adapter import (Adapter, ParallelAdapter, ResidualBlock, add_adapters, add_parallel, insert_after,
                      inserted_blocks)
from .checkpoint import (FinetuneCheckpointError, load_any, load_finetuned, save_adapter_checkpoint,
                         save_merged_checkpoint)
from .data import FinetuneData, parse_classes, prepare_data
from .freeze import count_parameters, freeze, freeze_batchnorm, trainable_named_parameters, unfreeze
from .heads import extend_head, replace_head
from .lora import LoRAConv, LoRALayer, LoRALinear, lora_layers, max_rank, merge_lora, unmerge_lora, wrap_lora
from .strategies import BASELINE, STRATEGIES, StrategyOptions, apply_strategy
from .structure import find_head, layer_units, trace
from .run import FinetuneConfig, finetune, prepare
from .compare import finetune_compare

__all__ = ["Adapter", "ParallelAdapter", "ResidualBlock", "add_adapters", "add_parallel", "insert_after",
           "inserted_blocks", "FinetuneCheckpointError", "load_any",
           "load_finetuned", "save_adapter_checkpoint", "save_merged_checkpoint", "FinetuneData", "parse_classes",
           "prepare_data", "count_parameters", "freeze", "freeze_batchnorm", "trainable_named_parameters",
           "unfreeze", "extend_head", "replace_head", "LoRAConv", "LoRALayer", "LoRALinear", "lora_layers",
           "max_rank", "merge_lora", "unmerge_lora", "wrap_lora", "BASELINE", "STRATEGIES", "StrategyOptions",
           "apply_strategy", "find_head", "layer_units", "trace", "FinetuneConfig", "finetune", "prepare",
           "finetune_compare"]
