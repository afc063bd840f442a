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

``insert_blocks`` (``--insert-block NAME``, any strategy): a new ``ResidualBlock`` after each named module, the
identity at initialisation. The blocks always train, whatever the strategy freezes; with discriminative learning
rates they get the base LR (group ``"added"``, like LoRA branches and adapters: new weights starting from zero
should not learn at a decayed rate). Recorded as ``structure["blocks"] = [[name, [C, H, W]], ...]``.

A *layer unit* is a Conv/Linear layer plus the parameter-holding layers (BatchNorm) that follow it
(``structure.layer_units``). ``--bn freeze`` freezes BatchNorm on top of any strategy; the default is ``train``
for the strategies that train the body (full, partial, discriminative, scratch) and ``freeze`` for the others.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from .adapter import add_adapters, add_parallel_adapters, add_residual_blocks
from .freeze import freeze, freeze_batchnorm, unfreeze
from .lora import wrap_lora
from .structure import LayerCall, conv_block_ends, is_conv, is_linear, layer_units, output_shapes, set_submodule

__all__ = ["STRATEGIES", "BASELINE", "StrategyOptions", "apply_strategy", "rebuild_structure", "lora_targets",
           "block_sites"]

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
    insert_blocks: list[str] = field(default_factory=list)

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
        if isinstance(self.insert_blocks, str) or not all(isinstance(n, str) and n.strip()
                                                          for n in (self.insert_blocks or [])):
            raise ValueError(f"finetune: --insert-block takes module names, got {self.insert_blocks!r}")
        seen: set[str] = set()
        for name in self.insert_blocks or []:
            if name in seen:
                raise ValueError(f"finetune: --insert-block {name} is given twice; one block per module")
            seen.add(name)

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


def block_sites(model: Any, calls: list[LayerCall], head: str, names: Sequence[str],
                input_shape: Sequence[int] | None = None, taken: Sequence[str] = ()) -> list[tuple[str, tuple]]:
    """Validate ``--insert-block`` names; return ``[(name, output shape without batch), ...]``.

    A name must be a submodule that the forward pass calls before the classifier head (not the head, nor a
    container holding it), whose output is a vector (F,) or a feature map (C, L) / (C, H, W), named once, and
    not in ``taken`` (modules that already get an adapter). Output shapes come from a dummy forward pass over
    ``input_shape`` (any module, containers too); without it only the leaf modules of ``calls`` can be named.
    """
    if not names:
        return []
    modules = dict(model.named_modules())
    order = {c.name: i for i, c in enumerate(calls)}
    head_at = order.get(head, len(calls))
    before = [c.name for c in calls[:head_at]]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"finetune: --insert-block {name} is given twice; one block per module")
        seen.add(name)
        if not name or name not in modules or modules[name] is model:
            raise ValueError(f"finetune: --insert-block {name!r} is not a module of the model; modules before the "
                             f"head: {', '.join(before)}")
        inside = [order[c] for c in order if c == name or c.startswith(name + ".")]
        if name == head or (inside and max(inside) >= head_at):
            what = "is the classifier head" if name == head else f"comes after or holds the classifier head {head}"
            raise ValueError(f"finetune: --insert-block {name} {what}; a block goes before the head (its output "
                             "feeds the new classes)" + (f", e.g. after {before[-1]}" if before else ""))
        if name in taken:
            raise ValueError(f"finetune: --insert-block {name}: the adapter strategy already inserts an adapter "
                             f"after {name}; name another module, or use another strategy")
    if input_shape is not None:
        shapes = output_shapes(model, input_shape, list(names))
    else:
        known = {c.name: tuple(c.out_shape) for c in calls}
        shapes = {}
        for name in names:
            if name not in known and list(modules[name].children()):
                raise ValueError(f"finetune: --insert-block {name} is a container; name one of its layers")
            shapes[name] = known.get(name)
    sites = []
    for name in names:
        shape = shapes[name]
        if shape is None:
            raise ValueError(f"finetune: --insert-block {name}: the model's forward pass never calls {name}, so a "
                             "block after it would never run")
        if len(shape) not in (1, 2, 3):
            raise ValueError(f"finetune: --insert-block {name}: its output has shape {tuple(shape)}, not a vector "
                             "(F,) or a feature map (C, L) / (C, H, W)")
        sites.append((name, tuple(int(s) for s in shape)))
    return sites


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


def apply_strategy(model: Any, calls: list[LayerCall], head: str, opts: StrategyOptions, lr: float,
                   input_shape: Sequence[int] | None = None) -> Plan:
    """Freeze/unfreeze, add LoRA layers, adapters and inserted blocks, set BatchNorm handling; return the
    optimiser groups.

    ``calls`` is ``structure.trace`` of the model *before* any change (the head already replaced is fine: it is
    found by name); ``input_shape`` (C, H, W) lets ``--insert-block`` name containers as well as leaf layers.
    Everything is validated before the model is changed where possible.
    """
    opts.validate()
    units = layer_units(calls)
    s = opts.strategy
    structure: dict[str, Any] = {"lora": None, "adapters": None, "blocks": None}
    if s == "partial" and opts.unfreeze_last > len(units):
        raise ValueError(f"finetune: --unfreeze-last {opts.unfreeze_last} but the model has only {len(units)} "
                         f"layer units ({', '.join('+'.join(u) for u in units)})")
    targets = lora_targets(calls, head, opts.targets) if s == "lora" else []
    adapter_after = [(c.name, tuple(c.out_shape)) for c in conv_block_ends(calls)] if s == "adapter" else []
    sites = block_sites(model, calls, head, list(opts.insert_blocks or []), input_shape,
                        taken=[n for n, _ in adapter_after])

    base_ids = {id(p) for p in model.parameters()}
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
        after = adapter_after
        beside = [(c.name, c.module.in_features, c.module.out_features) for c in calls
                  if opts.adapter_linear and is_linear(c.module) and c.name != head]
        if not after and not beside:
            raise ValueError("finetune: the adapter strategy needs convolution blocks or Linear layers besides the "
                             "head; the model has none")
        add_adapters(model, after, opts.adapter_dim)
        add_parallel_adapters(model, beside, opts.adapter_dim)
        structure["adapters"] = {"after": [[n, list(sh)] for n, sh in after], "bottleneck": opts.adapter_dim,
                                 "parallel": [list(b) for b in beside]}
    block_params: list = []
    if sites:  # after LoRA and adapters: the hook runs on the wrapped layer's (or adapted) output, as on loading
        add_residual_blocks(model, sites)
        from .adapter import inserted_blocks
        blocks = inserted_blocks(model)
        block_params = [p for name, _ in sites for p in blocks[name].parameters()]
        unfreeze(block_params)
        structure["blocks"] = [[n, list(sh)] for n, sh in sites]
    unfreeze(model.get_submodule(head).parameters())
    structure["bn"] = opts.bn_mode
    if opts.bn_mode == "freeze":
        structure["bn_frozen"] = freeze_batchnorm(model)

    new_ids = {id(p) for p in model.parameters()} - base_ids    # LoRA branches, adapters, inserted blocks
    groups = _param_groups(model, units, lr, opts.lr_decay, new_ids)
    if not groups:
        raise ValueError(f"finetune: strategy {s} leaves no parameter to train")
    return Plan(groups, structure, units)


def _param_groups(model: Any, units: list[list[str]], lr: float, decay: float | None,
                  added: set[int] | None = None) -> list[dict]:
    """One group at ``lr``, or with ``decay`` one group per layer unit (``lr * decay**depth`` from the head back)
    and the new modules (the ids in ``added``: LoRA branches, adapters and inserted blocks, which live inside a
    unit's module once LoRA wraps its layer or, in Sequential models, a block is registered on it) in an
    ``"added"`` group at ``lr``."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    if decay is None or decay == 1.0:
        return [{"params": trainable, "lr": lr}] if trainable else []
    groups: list[dict] = []
    added = set(added or ())
    placed: set[int] = set(added)
    for depth, unit in enumerate(reversed(units)):
        ps = [p for p in _unit_params(model, unit) if p.requires_grad and id(p) not in placed]
        placed.update(id(p) for p in ps)
        if ps:
            groups.append({"params": ps, "lr": lr * decay ** depth, "unit": "+".join(unit)})
    rest = [p for p in trainable if id(p) not in placed or id(p) in added]
    if rest:
        groups.append({"params": rest, "lr": lr, "unit": "added"})
    return groups


def rebuild_structure(model: Any, structure: dict) -> None:
    """Re-create the LoRA layers / adapters / inserted residual blocks recorded in ``structure`` on a freshly
    built base model, in the order ``apply_strategy`` added them (their values come from the checkpoint
    afterwards)."""
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
    blocks = structure.get("blocks")
    if blocks:
        add_residual_blocks(model, [(n, tuple(int(s) for s in sh)) for n, sh in blocks])
