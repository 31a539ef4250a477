"""Channel pruning that makes a model really smaller: whole filters out, a dense narrower model rebuilt.

Magnitude pruning zeroes weights but keeps every layer as wide as before, so a TFLite model runs no faster.
Here whole filters are removed from the convolutions inside residual blocks whose output channels no
shortcut ties: the first conv of a basic block, the first two of a bottleneck (the last conv of a block
must keep the width of the shortcut it is added to). The narrower network is rebuilt through the same
builders (`models.build` with `inner_widths`), so its layer names are those of the original and weights
copy by name: of a pruned conv the kept output channels of its kernel (and bias), the four vectors of its
BatchNorm, and the matching input channels of the next conv.

Which filters go (`CRITERIA`):
- "bn": the smallest |gamma| of the BatchNorm after the conv, Liu et al. 2017, "Learning
  Efficient Convolutional Networks through Network Slimming" (ICCV). BatchNorm rescales every channel to
  unit variance, so a filter's own norm says little about its output (weight decay shrinks all filters
  while BatchNorm undoes the scale); gamma is the scale the channel leaves with. Measured right after
  halving ResNet-20 (`tools/prune_table.py`), neither criterion is consistently better before fine-tuning.
- "l1" (default): the smallest L1 norms of the filter weights, Li et al. 2017, "Pruning Filters for Efficient
  ConvNets" (ICLR), Section 3.1. The second conv of a bottleneck is scored on the input channels the
  first one keeps (their "greedy" strategy, Section 3.2).

How much goes: one ratio for every prunable layer, one per stage, or a budget of MACs (multiply-
accumulates) to keep, met by the smallest common ratio whose exact MAC count fits (`ratio_for_macs`):
every prunable layer then loses the same share of its filters. A common ratio is the allocation whose
cost is predictable from the arithmetic alone; Li et al. find a layer's sensitivity to pruning varies
but use near-uniform ratios within a stage, and per-stage ratios remain available for a hand-tuned mix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from keras_resnet.errors import UserError
from keras_resnet.models import specs
from keras_resnet.models.profiler import profile

CRITERIA = ("l1", "bn")  # the first is the default
STAGE_NAMES = ("conv2", "conv3", "conv4", "conv5")
PRUNED_SUFFIX = "_pruned"


# --- what the model is ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Architecture:
    """A model built by `models.build`, read back from its layers: the spec and the builder's arguments."""

    spec: specs.Spec
    options: dict  # keyword arguments of models.build besides the spec

    def conv_names(self, stage: int, block: int) -> list[str]:
        """Names of the convs of block `block` (1-based) of stage `stage` (0-based), in order."""
        return [f"{STAGE_NAMES[stage]}_block{block}_{i}_conv" for i in range(1, self.spec.inner_convs + 2)]

    def blocks(self):
        """(stage index, block number) of every residual block."""
        return [(s, b) for s, n in enumerate(self.spec.blocks) for b in range(1, n + 1)]


def _has(model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


def _blocks_per_stage(model) -> tuple[int, ...]:
    names = {layer.name for layer in model.layers}
    counts = []
    for stage in STAGE_NAMES:
        n = 0
        while f"{stage}_block{n + 1}_1_conv" in names:
            n += 1
        if n == 0:
            break
        counts.append(n)
    return tuple(counts)


def _shortcut_option(model, spec: specs.Spec, projections: int, total_blocks: int) -> str | None:
    """The shortcut option the model was built with, from its layers (A, B, C or None for plain)."""
    if any(layer.name.endswith("_zeropad") for layer in model.layers):
        return "A"
    if projections == total_blocks:
        return "C"
    if projections:
        return "B"
    adds = any(layer.__class__.__name__ == "Add" for layer in model.layers)
    return spec.shortcut if adds else None


def _base_spec(model, block: str, blocks: tuple[int, ...]) -> specs.Spec:
    """The registered spec with these blocks: CIFAR (3x3 stem, 6n+2) or ImageNet (Table 1)."""
    if _has(model, "pool1_pool"):
        for depth, (kind, counts) in specs.IMAGENET_TABLE.items():
            if (kind, counts) == (block, blocks):
                return specs.imagenet_spec(depth)
    elif block == "basic" and len(blocks) == 3 and len(set(blocks)) == 1:
        return specs.cifar_spec(6 * blocks[0] + 2)
    raise UserError(
        f"{model.name} is not a ResNet built by this package ({block} blocks {blocks}): only "
        "those can be pruned and rebuilt. Received: a model named " + model.name
    )


def describe(model) -> Architecture:
    """The spec and builder arguments that rebuild `model` (made by `models.build`) layer for layer.

    Widths are read as absolute channel counts (so a `width` multiplier or earlier pruning is kept),
    the variant from the BatchNorm epsilon (v1: 1.001e-5), the shortcut option from its layers.
    """
    blocks = _blocks_per_stage(model)
    if not blocks or not _has(model, "conv1_conv"):
        raise UserError(
            f"{model.name} has no conv1_conv / conv2_block1_1_conv layers: only ResNets built by "
            f"this package can be pruned. Received: a model named {model.name}"
        )
    block = "bottleneck" if _has(model, "conv2_block1_3_conv") else "basic"
    base = _base_spec(model, block, blocks)
    last = 3 if block == "bottleneck" else 2
    widths = tuple(
        model.get_layer(f"{STAGE_NAMES[s]}_block1_{last}_conv").filters
        // (specs.BOTTLENECK_EXPANSION if block == "bottleneck" else 1)
        for s in range(len(blocks))
    )
    inner = tuple(
        tuple(
            tuple(model.get_layer(f"{STAGE_NAMES[s]}_block{b}_{i}_conv").filters for i in range(1, last))
            for b in range(1, n + 1)
        )
        for s, n in enumerate(blocks)
    )
    projections = sum(
        _has(model, f"{STAGE_NAMES[s]}_block{b}_0_conv") for s, n in enumerate(blocks) for b in range(1, n + 1)
    )
    spec = replace(base, widths=widths, stem_width=model.get_layer("conv1_conv").filters, inner_widths=inner)
    spec = replace(spec, shortcut=_shortcut_option(model, spec, projections, sum(blocks)))
    top = _has(model, "predictions")
    options = {
        "include_top": top,
        "input_shape": tuple(model.input_shape[1:]),
        "pooling": None if top else _pooling(model),
        "classes": model.get_layer("predictions").units if top else None,
        "classifier_activation": model.get_layer("predictions").get_config()["activation"] if top else None,
        "name": model.name,
        "preact": _has(model, "post_bn"),
        "variant": "v1" if model.get_layer("conv2_block1_1_bn").epsilon > 1e-5 else "v1.5",
        "preprocess": _preprocess_of(model),
    }
    return Architecture(spec, options)


def _pooling(model) -> str | None:
    """The `pooling` argument of a model built without its top."""
    for option, layer in (("avg", "avg_pool"), ("max", "max_pool")):
        if _has(model, layer):
            return option
    return None


def _preprocess_of(model):
    """(mean, std) of the model's folded-in input normalisation, or None."""
    if not _has(model, "preprocess"):
        return None
    config = model.get_layer("preprocess").get_config()
    return tuple(np.ravel(config["mean"]).tolist()), tuple(np.sqrt(np.ravel(config["variance"])).tolist())


def rebuild(arch: Architecture, inner_widths, name: str | None = None):
    """A fresh model of `arch` with other inner widths, through the same builder (same layer names)."""
    from keras_resnet.models.builders import build

    options = {**arch.options, "name": name or arch.options["name"]}
    return build(arch.spec, shortcut=arch.spec.shortcut, inner_widths=inner_widths, **options)


def pruned_name(name: str) -> str:
    return name if name.endswith(PRUNED_SUFFIX) else name + PRUNED_SUFFIX


# --- how many filters stay -----------------------------------------------------------------------------


def parse_ratios(text: str) -> tuple[float, ...]:
    """`channels`: one pruning ratio for every stage, or one per stage ("0.25,0.5,0.5"), each in [0, 1)."""
    try:
        ratios = tuple(float(p) for p in str(text).split(","))
    except ValueError:
        raise UserError(
            f"Pass channels=RATIO, a fraction of filters to remove, e.g. 0.5, or one per stage, "
            f"e.g. '0.25,0.5,0.5'. Received: channels={text!r}"
        ) from None
    if not all(0.0 <= r < 1.0 for r in ratios):
        raise UserError(f"Pass channels=RATIO, fractions of filters to remove, in [0, 1). Received: channels={text!r}")
    return ratios


def kept(filters: int, ratio: float) -> int:
    """Filters a layer keeps when `ratio` of them are removed (the removed count rounded half up)."""
    return filters - math.floor(filters * ratio + 0.5)


def plan(arch: Architecture, ratios: tuple[float, ...]) -> tuple:
    """Inner widths after removing `ratios[stage]` of each prunable conv's filters; refuses an empty layer."""
    widths = []
    for s, stage in enumerate(arch.spec.inner_widths):
        row = []
        for b, block in enumerate(stage, start=1):
            for name, filters in zip(arch.conv_names(s, b), block):
                if kept(filters, ratios[s]) < 1:
                    raise UserError(
                        f"Pruning {ratios[s]:g} of the filters would leave {name} with none of its "
                        f"{filters}: use a ratio below {(filters - 0.5) / filters:.4g} for stage "
                        f"{STAGE_NAMES[s]}. Received: {ratios[s]:g}"
                    )
            row.append(tuple(kept(f, ratios[s]) for f in block))
        widths.append(tuple(row))
    return tuple(widths)


# --- what it costs -------------------------------------------------------------------------------------


def _conv_macs(layer, cin: int, cout: int) -> int:
    """MACs of a conv at batch 1 with `cin` input and `cout` output channels (its spatial size unchanged)."""
    height, width = layer.output.shape[1:3]
    kh, kw = layer.kernel_size
    return int(height) * int(width) * kh * kw * cin * cout


def macs_after(model, arch: Architecture, inner_widths, total: int | None = None) -> int:
    """Exact MACs of the model rebuilt with `inner_widths` (only the convs of the blocks change)."""
    total = profile(model)["macs"] if total is None else total
    for s, b in arch.blocks():
        layers = [model.get_layer(n) for n in arch.conv_names(s, b)]
        old = [layers[0].kernel.shape[2]] + [layer.filters for layer in layers]
        new = [old[0], *inner_widths[s][b - 1], old[-1]]
        total += sum(
            _conv_macs(layer, new[i], new[i + 1]) - _conv_macs(layer, old[i], old[i + 1])
            for i, layer in enumerate(layers)
        )
    return total


def check_macs_fraction(fraction: float) -> None:
    if not 0.0 < fraction <= 1.0:
        raise UserError(
            f"Pass macs=FRACTION, the fraction of MACs to keep, in (0, 1], e.g. 0.6. Received: macs={fraction:g}"
        )


def ratio_for_macs(model, arch: Architecture, fraction: float) -> float:
    """The smallest common pruning ratio whose model keeps at most `fraction` of the MACs.

    Kept filters are whole numbers, so MACs fall in steps as the ratio grows; bisection on the exact count
    finds the first step at or under the budget (to 1e-6 in the ratio, far below one filter's step).
    """
    check_macs_fraction(fraction)
    total = profile(model)["macs"]
    budget = fraction * total
    narrowest = min(f for stage in arch.spec.inner_widths for block in stage for f in block)
    high = (narrowest - 0.5) / narrowest - 1e-9  # the largest ratio that leaves every layer a filter

    def fits(ratio):
        return macs_after(model, arch, plan(arch, (ratio,) * len(arch.spec.blocks)), total) <= budget

    if fits(0.0):
        return 0.0
    if not fits(high):
        least = macs_after(model, arch, plan(arch, (high,) * len(arch.spec.blocks)), total)
        raise UserError(
            f"macs={fraction:g} cannot be met: with one filter left in every pruned conv the "
            f"model keeps {least / total:.1%} of its MACs (stem, the last conv of each block, "
            f"shortcuts and classifier are not pruned). Received: macs={fraction:g}"
        )
    low = 0.0
    while high - low > 1e-6:
        middle = (low + high) / 2
        low, high = (low, middle) if fits(middle) else (middle, high)
    return high


# --- which filters stay, and the surgery ---------------------------------------------------------------


def filter_scores(model, name: str, inputs_kept, criterion: str) -> np.ndarray:
    """Importance of each output filter of conv `name` (higher stays); see the module docstring."""
    if criterion == "l1":
        kernel = np.asarray(model.get_layer(name).kernel)
        if inputs_kept is not None:
            kernel = kernel[:, :, inputs_kept, :]
        return np.abs(kernel).sum(axis=(0, 1, 2))
    if criterion == "bn":
        return np.abs(np.asarray(model.get_layer(name.replace("_conv", "_bn")).gamma))
    raise UserError(f"criterion must be one of {CRITERIA}. Received: {criterion!r}")


def choose_filters(model, arch: Architecture, inner_widths, criterion: str) -> dict[str, np.ndarray]:
    """{conv name: sorted indices of the filters it keeps} for every prunable conv."""
    keep = {}
    for s, b in arch.blocks():
        inputs_kept = None
        for name, count in zip(arch.conv_names(s, b), inner_widths[s][b - 1]):
            scores = filter_scores(model, name, inputs_kept, criterion)
            inputs_kept = np.sort(np.argsort(-scores, kind="stable")[:count])
            keep[name] = inputs_kept
    return keep


def _axes(layer_name: str, ndim: int, keep: dict) -> dict[int, np.ndarray]:
    """{axis: indices kept} for one weight of a layer of the original model (empty: copied whole)."""
    stem, _, kind = layer_name.rpartition("_")
    axes = {}
    if kind == "conv":
        prefix, _, number = stem.rpartition("_")
        before = f"{prefix}_{int(number) - 1}_conv" if number.isdigit() else None
        if layer_name in keep:  # kernel (kh, kw, in, out) or bias (out,)
            axes[ndim - 1] = keep[layer_name]
        if before in keep and ndim == 4:
            axes[2] = keep[before]
    elif kind == "bn" and f"{stem}_conv" in keep:  # gamma, beta, moving mean, moving variance
        axes[0] = keep[f"{stem}_conv"]
    return axes


def copy_weights(original, pruned, keep: dict[str, np.ndarray]) -> None:
    """Copy every weight of `original` into `pruned` by layer name, keeping the chosen channels."""
    for layer in pruned.layers:
        if not layer.weights:
            continue
        source = original.get_layer(layer.name)
        for old, new in zip(source.weights, layer.weights):
            value = np.asarray(old)
            for axis, index in _axes(layer.name, value.ndim, keep).items():
                value = np.take(value, index, axis=axis)
            if value.shape != tuple(new.shape):
                raise ValueError(f"{layer.name}: pruned weight {value.shape} does not fit {tuple(new.shape)}")
            new.assign(value)


@dataclass
class Pruned:
    """A pruned model and what was done: widths, kept filters, parameters and MACs before and after."""

    model: object
    inner_widths: tuple
    keep: dict
    report: dict


def prune(
    model, ratios: tuple[float, ...] | None = None, macs: float | None = None, criterion: str = CRITERIA[0]
) -> Pruned:
    """Remove filters from `model`'s prunable convs by `ratios` (one for all stages, or one per stage) or
    to keep `macs` of its MACs; returns the rebuilt, narrower model with the kept weights (not fine-tuned)."""
    if (ratios is None) == (macs is None):
        raise UserError(
            f"Give pruning ratios or a MAC budget (macs), exactly one. Received: ratios={ratios!r}, macs={macs!r}"
        )
    if criterion not in CRITERIA:
        raise UserError(f"criterion must be one of {CRITERIA}. Received: {criterion!r}")
    arch = describe(model)
    stages = len(arch.spec.blocks)
    ratios = (ratio_for_macs(model, arch, macs),) if macs is not None else tuple(ratios)
    if len(ratios) == 1:
        ratios *= stages
    if len(ratios) != stages:
        raise UserError(
            f"{model.name} has {stages} stages: give one ratio or {stages}, one per stage. "
            f"Received: {','.join(f'{r:g}' for r in ratios)}"
        )
    widths = plan(arch, ratios)
    keep = choose_filters(model, arch, widths, criterion)
    pruned = rebuild(arch, widths, pruned_name(model.name))
    copy_weights(model, pruned, keep)
    before, after = profile(model), profile(pruned)
    report = {
        "model": model.name,
        "criterion": criterion,
        "ratios": list(ratios),
        "inner_widths": {"before": arch.spec.inner_widths, "after": widths},
        "params": {"before": before["params"], "after": after["params"]},
        "trainable_params": {"before": before["trainable_params"], "after": after["trainable_params"]},
        "macs": {"before": before["macs"], "after": after["macs"]},
        "params_pruned": 1 - after["trainable_params"] / before["trainable_params"],
        "macs_kept": after["macs"] / before["macs"],
    }
    return Pruned(pruned, widths, keep, report)
