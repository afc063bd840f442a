"""Fine-tuning strategies: what trains, with which learning rate, and which new modules are added.

=================  ==========================================================================================
``full``           every parameter trains
``linear-probe``   everything frozen but the classifier head
``partial``        the last K layer units train (``unfreeze_last``; the head is one unit)
``discriminative`` every parameter trains; unit i counted back from the head gets ``lr * decay**i``
``bitfit``         only biases (and the head) train (Ben Zaken et al. 2021)
``lora``           base frozen; LoRA branches on the target Conv/Linear layers (and the head) train
``adapter``        base frozen; bottleneck adapters after each conv block, parallel bottleneck adapters beside
                   each Linear layer but the head (``adapter_linear``), and the head train
``scratch``        the baseline: the same architecture re-initialised, every parameter trains
=================  ==========================================================================================

A *layer unit* is a Conv/Linear layer plus the parameter-holding layers (BatchNorm) that follow it
(``structure.layer_units``). ``--bn freeze`` freezes BatchNorm on top of any strategy; the default is ``train``
for the strategies that train the body (full, partial, discriminative, scratch) and ``freeze`` for the others.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .adapter import add_adapters, add_parallel_adapters
from .freeze import freeze, freeze_batchnorm, unfreeze
from .lora import wrap_lora
from .structure import LayerCall, conv_block_ends, is_conv, is_linear, layer_units, set_submodule

__all__ = ["STRATEGIES", "BASELINE", "StrategyOptions", "apply_strategy", "rebuild_structure", "lora_targets"]

STRATEGIES = ("full", "linear-probe", "partial", "discriminative", "bitfit", "lora", "adapter")
BASELINE = "scratch"
_BODY_TRAINING = ("full", "partial", "discriminative", BASELINE)


@dataclass
class StrategyOptions:
    """Settings of a strategy (the CLI options of the same names)."""

    strategy: str = "full"
    unfreeze_last: int = 2
    layer_lr_decay: float | None = None
    rank: int = 4
    alpha: float = 8.0
    lora_dropout: float = 0.0
    targets: str = "all"
    adapter_dim: int = 16
    adapter_linear: bool = True
    bn: str | None = None

    def validate(self) -> None:
        if self.strategy not in STRATEGIES + (BASELINE,):
            raise ValueError(f"finetune: unknown strategy {self.strategy!r}; choose one of "
                             f"{', '.join(STRATEGIES + (BASELINE,))}")
        if self.bn not in (None, "train", "freeze"):
            raise ValueError(f"finetune: --bn must be 'train' or 'freeze', got {self.bn!r}")
        if not isinstance(self.unfreeze_last, int) or self.unfreeze_last < 1:
            raise ValueError(f"finetune: --unfreeze-last must be a positive integer, got {self.unfreeze_last!r}")
        if self.layer_lr_decay is not None and not 0.0 < float(self.layer_lr_decay) <= 1.0:
            raise ValueError(f"finetune: --layer-lr-decay must be in (0, 1], got {self.layer_lr_decay!r}")
        if not isinstance(self.adapter_dim, int) or self.adapter_dim < 1:
            raise ValueError(f"finetune: --adapter-dim must be a positive integer, got {self.adapter_dim!r}")

    @property
    def bn_mode(self) -> str:
        return self.bn or ("train" if self.strategy in _BODY_TRAINING else "freeze")

    @property
    def lr_decay(self) -> float | None:
        if self.layer_lr_decay is not None:
            return float(self.layer_lr_decay)
        return 0.5 if self.strategy == "discriminative" else None

    def to_dict(self) -> dict:
        return asdict(self)


def lora_targets(calls: list[LayerCall], head: str, spec: str) -> list[str]:
    """Resolve ``--targets``: ``all`` (every Conv/Linear but the head), ``conv``, ``linear``, or a comma list of
    layer names."""
    layers = [c.name for c in calls if (is_conv(c.module) or is_linear(c.module)) and c.name != head]
    spec = (spec or "all").strip()
    if spec == "all":
        out = layers
    elif spec in ("conv", "linear"):
        pick = is_conv if spec == "conv" else is_linear
        out = [c.name for c in calls if pick(c.module) and c.name != head]
    else:
        out = [s.strip() for s in spec.split(",") if s.strip()]
        known = {c.name: c.module for c in calls}
        for name in out:
            if name == head:
                raise ValueError(f"finetune: --targets names the head {head!r}, which is trained fully; "
                                 "leave it out")
            if name not in known:
                raise ValueError(f"finetune: --targets names {name!r}, which is not a layer of the model; "
                                 f"Conv/Linear layers are: {', '.join(layers)}")
            if name not in layers:
                raise ValueError(f"finetune: --targets names {name!r}, a {type(known[name]).__name__}; "
                                 "LoRA applies to Conv1d, Conv2d and Linear layers")
    if not out:
        raise ValueError(f"finetune: --targets {spec!r} selects no layer")
    return out


@dataclass
class Plan:
    """What ``apply_strategy`` did: parameter groups for the optimiser and the structure to record."""

    param_groups: list[dict]
    structure: dict = field(default_factory=dict)
    units: list[list[str]] = field(default_factory=list)


def _unit_params(model: Any, unit: list[str]) -> list:
    out = []
    for name in unit:
        out.extend(model.get_submodule(name).parameters())
    return out


def apply_strategy(model: Any, calls: list[LayerCall], head: str, opts: StrategyOptions, lr: float) -> Plan:
    """Freeze/unfreeze, add LoRA layers or adapters, set BatchNorm handling; return the optimiser groups.

    ``calls`` is ``structure.trace`` of the model *before* any change (the head already replaced is fine: it is
    found by name). Everything is validated before the model is changed where possible.
    """
    opts.validate()
    units = layer_units(calls)
    s = opts.strategy
    structure: dict[str, Any] = {"lora": None, "adapters": None}
    if s == "partial" and opts.unfreeze_last > len(units):
        raise ValueError(f"finetune: --unfreeze-last {opts.unfreeze_last} but the model has only {len(units)} "
                         f"layer units ({', '.join('+'.join(u) for u in units)})")
    targets = lora_targets(calls, head, opts.targets) if s == "lora" else []

    freeze(model.parameters())
    if s in ("full", "discriminative", BASELINE):
        unfreeze(model.parameters())
    elif s == "partial":
        for unit in units[-opts.unfreeze_last:]:
            unfreeze(_unit_params(model, unit))
    elif s == "bitfit":
        unfreeze(p for n, p in model.named_parameters() if n.rsplit(".", 1)[-1] == "bias")
    elif s == "lora":
        wrapped = {}
        for name in targets:
            wrapped[name] = wrap_lora(model.get_submodule(name), opts.rank, opts.alpha, opts.lora_dropout, name)
        for name, layer in wrapped.items():  # only after every target validated
            set_submodule(model, name, layer)
        structure["lora"] = {"targets": targets, "rank": opts.rank, "alpha": opts.alpha,
                             "dropout": opts.lora_dropout}
    elif s == "adapter":
        after = [(c.name, tuple(c.out_shape)) for c in conv_block_ends(calls)]
        beside = [(c.name, c.module.in_features, c.module.out_features) for c in calls
                  if opts.adapter_linear and is_linear(c.module) and c.name != head]
        if not after and not beside:
            raise ValueError("finetune: the adapter strategy needs convolution blocks or Linear layers besides the "
                             "head; the model has none")
        add_adapters(model, after, opts.adapter_dim)
        add_parallel_adapters(model, beside, opts.adapter_dim)
        structure["adapters"] = {"after": [[n, list(sh)] for n, sh in after], "bottleneck": opts.adapter_dim,
                                 "parallel": [list(b) for b in beside]}
    unfreeze(model.get_submodule(head).parameters())
    structure["bn"] = opts.bn_mode
    if opts.bn_mode == "freeze":
        structure["bn_frozen"] = freeze_batchnorm(model)

    groups = _param_groups(model, units, lr, opts.lr_decay)
    if not groups:
        raise ValueError(f"finetune: strategy {s} leaves no parameter to train")
    return Plan(groups, structure, units)


def _param_groups(model: Any, units: list[list[str]], lr: float, decay: float | None) -> list[dict]:
    trainable = [p for p in model.parameters() if p.requires_grad]
    if decay is None or decay == 1.0:
        return [{"params": trainable, "lr": lr}] if trainable else []
    groups: list[dict] = []
    placed: set[int] = set()
    for depth, unit in enumerate(reversed(units)):
        ps = [p for p in _unit_params(model, unit) if p.requires_grad and id(p) not in placed]
        placed.update(id(p) for p in ps)
        if ps:
            groups.append({"params": ps, "lr": lr * decay ** depth, "unit": "+".join(unit)})
    rest = [p for p in trainable if id(p) not in placed]
    if rest:
        groups.append({"params": rest, "lr": lr, "unit": "added"})
    return groups


def rebuild_structure(model: Any, structure: dict) -> None:
    """Re-create the LoRA layers / adapters recorded in ``structure`` on a freshly built base model (their
    values come from the checkpoint afterwards)."""
    lora = structure.get("lora")
    if lora:
        for name in lora["targets"]:
            set_submodule(model, name, wrap_lora(model.get_submodule(name), int(lora["rank"]),
                                                 float(lora["alpha"]), float(lora.get("dropout", 0.0)), name))
    adapters = structure.get("adapters")
    if adapters:
        add_adapters(model, [(n, tuple(sh)) for n, sh in adapters["after"]], int(adapters["bottleneck"]))
        add_parallel_adapters(model, [(n, int(i), int(o)) for n, i, o in adapters.get("parallel", [])],
                              int(adapters["bottleneck"]))
