"""The spec table: every architecture of He et al. 2016 as data (pure Python, no TensorFlow).

Table 1 of "Deep Residual Learning for Image Recognition" gives the ImageNet nets; Section 4.2 gives the
CIFAR nets as depth 6n+2 (a 3x3 stem, three stages of n basic blocks with 16/32/64 filters). Every
builder, the registry, the CLI and the tests read this module, so a depth is declared exactly once.
"""

from __future__ import annotations

import difflib
import numbers
from dataclasses import dataclass, replace

from keras_resnet.errors import UserError

# Paper Table 1: depth -> (block kind, blocks per stage). Stage widths are the 3x3 filters of each stage.
IMAGENET_TABLE = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
IMAGENET_WIDTHS = (64, 128, 256, 512)
CIFAR_WIDTHS = (16, 32, 64)
CIFAR_DEPTHS = (8, 20, 32, 44, 56, 110, 1202)  # registered; ResNetCIFAR takes any 6n+2
PLAIN_DEPTHS = (18, 34, 20, 32, 44, 56)  # the paper's plain baselines (Figures 4 and 6)
SHORTCUTS = ("A", "B", "C", None)  # paper Section 3.3 options; None builds a plain network
VARIANTS = ("v1.5", "v1")
BOTTLENECK_EXPANSION = 4


@dataclass(frozen=True)
class Spec:
    """One architecture: enough to build it, count it and name it."""

    name: str
    family: str  # "imagenet" (7x7 stem + max-pool, 224 input) or "cifar" (3x3 stem, 32 input)
    depth: int
    block: str  # "basic" or "bottleneck"
    blocks: tuple[int, ...]  # blocks per stage
    widths: tuple[int, ...]  # filters of each stage's 3x3 convs
    stem_width: int
    shortcut: str | None  # default shortcut option
    input_size: int
    classes: int
    # Per stage, per block: the filters of the convs inside the block that no shortcut ties (the first
    # conv of a basic block, the first two of a bottleneck), as absolute channel counts that the width
    # multiplier does not scale. None: the stage width, as in the paper. Channel pruning sets them.
    inner_widths: tuple[tuple[tuple[int, ...], ...], ...] | None = None

    @property
    def plain(self) -> bool:
        return self.shortcut is None

    @property
    def inner_convs(self) -> int:
        """How many convs of each block have free output channels: 1 (basic) or 2 (bottleneck)."""
        return 1 if self.block == "basic" else 2


def cifar_n(depth: int) -> int:
    """Blocks per stage of a CIFAR net of `depth` layers (6n+2); refuses other depths helpfully."""
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        if not isinstance(depth, int) or depth < 8:
            hint = "the smallest valid depth is 8"
        else:
            lower = depth - (depth - 2) % 6
            hint = f"the nearest valid depths are {lower} and {lower + 6}"
        raise UserError(f"A CIFAR ResNet has 6n+2 layers (n >= 1 blocks per stage); {hint}. Received: depth={depth!r}")
    return (depth - 2) // 6


def imagenet_spec(depth: int, shortcut: str | None = "B") -> Spec:
    if depth not in IMAGENET_TABLE:
        raise UserError(f"ImageNet ResNets exist at depths {sorted(IMAGENET_TABLE)}. Received: depth={depth!r}")
    block, blocks = IMAGENET_TABLE[depth]
    prefix = "resnet" if shortcut else "plain"
    return Spec(
        name=f"{prefix}{depth}",
        family="imagenet",
        depth=depth,
        block=block,
        blocks=blocks,
        widths=IMAGENET_WIDTHS,
        stem_width=64,
        shortcut=shortcut,
        input_size=224,
        classes=1000,
    )


def cifar_spec(depth: int, shortcut: str | None = "A") -> Spec:
    n = cifar_n(depth)
    prefix = "resnet" if shortcut else "plain"
    return Spec(
        name=f"{prefix}{depth}",
        family="cifar",
        depth=depth,
        block="basic",
        blocks=(n, n, n),
        widths=CIFAR_WIDTHS,
        stem_width=CIFAR_WIDTHS[0],
        shortcut=shortcut,
        input_size=32,
        classes=10,
    )


def _registry() -> dict[str, Spec]:
    specs = [imagenet_spec(d) for d in IMAGENET_TABLE] + [cifar_spec(d) for d in CIFAR_DEPTHS]
    for depth in PLAIN_DEPTHS:
        specs.append(imagenet_spec(depth, None) if depth in IMAGENET_TABLE else cifar_spec(depth, None))
    return {spec.name: spec for spec in specs}


REGISTRY = _registry()


def list_models() -> list[str]:
    """Names of every registered model, ImageNet nets first, then CIFAR, then plain baselines."""
    return list(REGISTRY)


def get_spec(name: str) -> Spec:
    """The spec registered as `name` (case-insensitive, '-' and '_' ignored), with a did-you-mean."""
    key = name.lower().replace("-", "").replace("_", "")
    if key in REGISTRY:
        return REGISTRY[key]
    close = difflib.get_close_matches(key, REGISTRY, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UserError(f"Unknown model {name!r}.{hint} keras_resnet.list_models() names them all. Received: name={name!r}")


def with_shortcut(spec: Spec, shortcut: str | None) -> Spec:
    """The same spec with another shortcut option (validated)."""
    if shortcut not in SHORTCUTS:
        raise UserError(f"shortcut must be one of 'A', 'B', 'C' or None (plain). Received: shortcut={shortcut!r}")
    return replace(spec, shortcut=shortcut)


def _sequence_of(value, length: int) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == length


def _channel_count(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def with_inner_widths(spec: Spec, inner_widths) -> Spec:
    """The same spec with per-block inner widths (see `Spec.inner_widths`), validated against its blocks.

    `inner_widths[s][b]` holds `spec.inner_convs` whole numbers >= 1 for block b of stage s; None
    restores the paper's widths.
    """
    if inner_widths is None:
        return replace(spec, inner_widths=None)
    valid = _sequence_of(inner_widths, len(spec.blocks)) and all(
        _sequence_of(stage, blocks)
        and all(_sequence_of(block, spec.inner_convs) and all(map(_channel_count, block)) for block in stage)
        for stage, blocks in zip(inner_widths, spec.blocks)
    )
    if not valid:
        raise UserError(
            f"inner_widths of {spec.name} needs, per stage, per block ({'-'.join(map(str, spec.blocks))} "
            f"blocks), {spec.inner_convs} whole number(s) >= 1. Received: inner_widths={inner_widths!r}"
        )
    frozen = tuple(tuple(tuple(int(w) for w in block) for block in stage) for stage in inner_widths)
    return replace(spec, inner_widths=frozen)


def scaled(width: int, multiplier: float) -> int:
    """Channels after a width multiplier: rounded, never below 1."""
    return max(1, int(round(width * multiplier)))


# Input normalisation folded into models, as (mean, std) per RGB channel in 0-255 pixel units, so that an
# exported model takes raw pixels. CIFAR-10's are the training-set statistics, ImageNet's torchvision's.
# "caffe" and "tf" are keras.applications' modes of `preprocess_input` for its ResNet and ResNetV2 weights:
# "caffe" subtracts the ImageNet mean (listed here R, G, B) from BGR pixels, and a model given those weights
# by name takes RGB pixels because its first conv's input channels are swapped instead; "tf" maps 0-255 to
# -1..1.
PREPROCESSING = {
    "cifar10": ((125.31, 122.95, 113.87), (62.99, 62.09, 66.70)),
    "imagenet": ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375)),
    "unit": ((0.0, 0.0, 0.0), (255.0, 255.0, 255.0)),
    "caffe": ((123.68, 116.779, 103.939), (1.0, 1.0, 1.0)),
    "tf": ((127.5, 127.5, 127.5), (127.5, 127.5, 127.5)),
}


MODEL_TABLE = "model_table.json"


def model_table() -> dict:
    """{name: {"params", "trainable_params", "macs", "peak_activation_bytes"}} at each default input.

    Counted from the built models by `tools/make_model_table.py` and checked against them by the tests, so
    listing models needs no TensorFlow and no minute of building ResNet-1202.
    """
    import json
    from importlib import resources

    return json.loads(resources.files("keras_resnet.models").joinpath(MODEL_TABLE).read_text())
