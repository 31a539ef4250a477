"""Published pretrained weights by name: `weights="imagenet"`, `"imagenet-v2"` and `"cifar10"`.

`PUBLISHED` is the one table of the files other projects publish and these names load: the model, layout
and classifier each file fits, its URL, its hash, its published top-1 and the input normalisation it was
trained with. The builders read it (which file, which normalisation), `keras_resnet.models.download`
fetches and checks its files, the commands check a name against it before TensorFlow starts, and
`tools/make_docs.py` writes the README's table from it (`markdown_table`).

- "imagenet": torchvision's IMAGENET1K_V1 ResNet-18/34/50/101/152 for `variant="v1.5"` (the default);
  keras.applications' ResNet50/101/152 for `variant="v1"` and its ResNet50V2/101V2/152V2 for
  `variant="v1", preact=True`, with and without the classifier, as keras.applications publishes them.
- "imagenet-v2": torchvision's IMAGENET1K_V2 ResNet-50/101/152 (its newer training recipe), `variant="v1.5"`.
- "cifar10": ResNet-20/32/44/56/110/1202 of github.com/akamaster/pytorch_resnet_cifar10 (BSD-2-Clause,
  Copyright (c) 2018 Yerlan Idelbayev), trained on the original CIFAR-10 with option-A shortcuts: the nets
  of the paper's Section 4.2.

Hashes are checked as their publishers check them: keras.applications' files by MD5 (as keras does), the
others by their full SHA-256 where it is recorded here, else by the hex digits in the file name, the first
digits of its SHA-256 (what torch.hub's `check_hash` compares). `RESNET_WEIGHTS_MIRROR` names a base URL
that serves the same files under their published names (a mirror, or a local server). Pure Python.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from keras_resnet.errors import UserError
from keras_resnet.files import readable_file
from keras_resnet.models import specs

MIRROR = "RESNET_WEIGHTS_MIRROR"
TORCHVISION = "https://download.pytorch.org/models/"
KERAS = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
AKAMASTER = "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/"
HASH_IN_NAME = re.compile(r"-([a-f0-9]*)\.")  # torch.hub's HASH_REGEX: resnet18-f37072fd.pth -> f37072fd
HASH_KINDS = {"sha256": "SHA-256", "md5": "MD5", "sha256-prefix": "SHA-256 prefix in the name"}

# torchvision, torchvision/models/resnet.py: (name, depth) -> (file, acc@1 on ImageNet-1k val).
_TORCHVISION = {
    ("imagenet", 18): ("resnet18-f37072fd.pth", 69.758),
    ("imagenet", 34): ("resnet34-b627a593.pth", 73.314),
    ("imagenet", 50): ("resnet50-0676ba61.pth", 76.130),
    ("imagenet", 101): ("resnet101-63fe2227.pth", 77.374),
    ("imagenet", 152): ("resnet152-394f9c45.pth", 78.312),
    ("imagenet-v2", 50): ("resnet50-11ad3fa6.pth", 80.858),
    ("imagenet-v2", 101): ("resnet101-cd907fc2.pth", 81.886),
    ("imagenet-v2", 152): ("resnet152-f82ba261.pth", 82.284),
}
# keras.applications, keras/src/applications/resnet.py WEIGHTS_HASHES: (depth, preact) -> (MD5 of the file
# with the classifier, of the one without, top-1 on keras.io/api/applications).
_KERAS = {
    (50, False): ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626", 74.9),
    (101, False): ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21", 76.4),
    (152, False): ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c", 76.6),
    (50, True): ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917", 76.0),
    (101, True): ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5", 77.2),
    (152, True): ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33", 78.0),
}
# akamaster/pytorch_resnet_cifar10, pretrained_models/: depth -> (file, full SHA-256 where recorded, 100 minus
# the test error its README publishes for it on the original CIFAR-10 test set).
_AKAMASTER = {
    20: ("resnet20-12fca82f.th", "12fca82f0bebc4135bf1f32f6e3710e61d5108578464b84fd6d7f5c1b04036c8", 91.73),
    32: ("resnet32-d509ac18.th", "d509ac1820d7f25398913559d7e81a13229b1e7adc5648e3bfa5e22dc137f850", 92.63),
    44: ("resnet44-014dd654.th", "014dd6541728a1c700b1642ab640e211dc6eb8ed507d70697458dc8f8a0ae2e4", 93.10),
    56: ("resnet56-4bfd9763.th", "4bfd97631478d6b638d2764fd2baff3edb1d7d82252d54439343b6596b9b5367", 93.39),
    110: ("resnet110-1d1ed7c2.th", None, 93.68),
    1202: ("resnet1202-f3b1deed.th", None, 93.82),
}


@dataclass(frozen=True)
class Published:
    """One published weights file and the model it fits."""

    weights: str  # the name users pass: "imagenet", "imagenet-v2" or "cifar10"
    model: str  # registered model name
    variant: str
    preact: bool
    top: bool | None  # holds the classifier (True), not (False), or serves both (None: include_top=False skips it)
    url: str
    file_hash: str
    hash_kind: str  # "sha256", "md5" or "sha256-prefix"
    top1: float  # published top-1 in percent, on the publisher's test set
    source: str  # who publishes it, as the README credits it
    preprocess: str  # key of specs.PREPROCESSING: how its training normalised the inputs
    classes: int
    bgr: bool = False  # trained on BGR pixels (keras.applications' "caffe" mode)

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


def _hash_in_name(file_name: str) -> str:
    return HASH_IN_NAME.search(file_name).group(1)


def _table() -> tuple[Published, ...]:
    rows = [
        Published(
            weights=name,
            model=f"resnet{depth}",
            variant="v1.5",
            preact=False,
            top=None,
            url=TORCHVISION + file,
            file_hash=_hash_in_name(file),
            hash_kind="sha256-prefix",
            top1=top1,
            source=f"torchvision IMAGENET1K_{'V2' if name == 'imagenet-v2' else 'V1'}",
            preprocess="imagenet",
            classes=1000,
        )
        for (name, depth), (file, top1) in _TORCHVISION.items()
    ]
    for (depth, preact), (md5_top, md5_notop, top1) in _KERAS.items():
        stem = f"resnet{depth}{'v2' if preact else ''}_weights_tf_dim_ordering_tf_kernels"
        for top, md5, suffix in ((True, md5_top, ".h5"), (False, md5_notop, "_notop.h5")):
            rows.append(
                Published(
                    weights="imagenet",
                    model=f"resnet{depth}",
                    variant="v1",
                    preact=preact,
                    top=top,
                    url=KERAS + stem + suffix,
                    file_hash=md5,
                    hash_kind="md5",
                    top1=top1,
                    source=f"keras.applications ResNet{depth}{'V2' if preact else ''}",
                    preprocess="tf" if preact else "caffe",
                    classes=1000,
                    bgr=not preact,
                )
            )
    for depth, (file, sha256, top1) in _AKAMASTER.items():
        rows.append(
            Published(
                weights="cifar10",
                model=f"resnet{depth}",
                variant="v1.5",
                preact=False,
                top=None,
                url=AKAMASTER + file,
                file_hash=sha256 or _hash_in_name(file),
                hash_kind="sha256" if sha256 else "sha256-prefix",
                top1=top1,
                source="akamaster/pytorch_resnet_cifar10",
                preprocess="imagenet",
                classes=10,
            )
        )
    return tuple(rows)


PUBLISHED = _table()
NAMES = tuple(dict.fromkeys(entry.weights for entry in PUBLISHED))


def is_named(weights) -> bool:
    """Whether `weights` is one of the published names (which win over a file of that name, as in Keras)."""
    return isinstance(weights, str) and weights in NAMES


def origin(entry: Published) -> str:
    """The URL `entry`'s file is downloaded from: its published one, or the same name under $RESNET_WEIGHTS_MIRROR."""
    mirror = os.environ.get(MIRROR)
    return f"{mirror.rstrip('/')}/{entry.file_name}" if mirror else entry.url


def _layout(entry: Published) -> str:
    return f"variant={entry.variant!r}" + (", preact=True" if entry.preact else "")


def resolve(weights: str, spec: specs.Spec, options: dict) -> Published:
    """The published file that `weights` names for `spec` built with `options` (the builder's keywords:
    include_top, classes, variant, preact, width, shortcut; absent ones take the builder's defaults).

    Refuses, saying what to pass instead, a model nobody publishes these weights for, another layout, a
    width or shortcut the file does not fit, and a classifier of another size.
    """
    candidates = [entry for entry in PUBLISHED if entry.weights == weights and entry.model == spec.name]
    if not candidates:
        models = ", ".join(dict.fromkeys(entry.model for entry in PUBLISHED if entry.weights == weights))
        raise UserError(
            f"weights={weights!r} are published for {models}: build one of those, or pass a weights "
            f"file. Received: {spec.name} with weights={weights!r}"
        )
    include_top = options.get("include_top", True)
    variant, preact = options.get("variant", "v1.5"), bool(options.get("preact", False))
    fitting = [
        entry
        for entry in candidates
        if (entry.variant, entry.preact) == (variant, preact) and entry.top in (None, include_top)
    ]
    if not fitting:
        layouts = " or ".join(dict.fromkeys(_layout(entry) for entry in candidates))
        raise UserError(
            f"weights={weights!r} of {spec.name} are published for {layouts}. Received: "
            f"variant={variant!r}, preact={preact!r}"
        )
    width, shortcut = options.get("width", 1.0), options.get("shortcut", "default")
    if width != 1 or shortcut not in ("default", spec.shortcut):
        raise UserError(
            f"weights={weights!r} fit {spec.name} as published (width 1, shortcut option "
            f"{spec.shortcut}): leave width and shortcut out. Received: width={width!r}, "
            f"shortcut={shortcut!r}"
        )
    entry, classes = fitting[0], options.get("classes")
    if include_top and classes not in (None, entry.classes):
        raise UserError(
            f"weights={weights!r} of {spec.name} come with a {entry.classes}-class classifier: pass "
            f"include_top=False for a new one, or classes={entry.classes}. Received: classes={classes!r}"
        )
    return entry


def _flat(pair) -> list[float]:
    return [float(value) for part in pair for value in part]


def preprocess_for(entry: Published, preprocess):
    """The input normalisation of a model given `entry`'s weights: the one they were trained with when
    `preprocess` is None, `preprocess` itself when it is the same (by name or as a (mean, std) pair).

    Anything else is refused: weights fed inputs normalised another way compute something else (the
    CIFAR-10 files were trained on ImageNet's mean and std, not on CIFAR-10's).
    """
    if preprocess is None:
        return entry.preprocess
    expected = specs.PREPROCESSING[entry.preprocess]
    given = specs.PREPROCESSING.get(preprocess) if isinstance(preprocess, str) else preprocess
    try:
        same = len(_flat(given)) == 6 and all(
            math.isclose(a, b, rel_tol=1e-6) for a, b in zip(_flat(given), _flat(expected))
        )
    except (TypeError, ValueError):
        same = False
    if same:
        return preprocess
    mean, std = expected
    raise UserError(
        f"weights={entry.weights!r} of {entry.model} were trained on inputs normalised as "
        f"{entry.preprocess!r} (mean {mean}, std {std} in 0-255 units), which the model does itself: "
        f"leave preprocess out or pass {entry.preprocess!r}. Received: preprocess={preprocess!r}"
    )


def check(weights: str, spec: specs.Spec, options: dict, preprocess=None) -> Published | None:
    """`weights`, checked before TensorFlow starts: the published entry of a name (and the `preprocess`
    given with it), or None for a weights file, which must be readable."""
    if is_named(weights):
        entry = resolve(weights, spec, options)
        preprocess_for(entry, preprocess)
        return entry
    if not os.path.exists(weights) and not os.path.splitext(weights)[1] and os.sep not in weights:
        raise UserError(
            f"weights takes a published name ({', '.join(NAMES)}) or the path of a weights file. "
            f"Received: weights={weights!r}"
        )
    readable_file(weights, "Weights file")
    return None


def markdown_table() -> str:
    """The README's table of the published files, one row per model and layout (keras.applications' with and
    without the classifier in one), generated from `PUBLISHED` by `tools/make_docs.py`."""
    groups: dict[tuple, list[Published]] = {}
    for entry in PUBLISHED:
        groups.setdefault((entry.weights, entry.model, entry.variant, entry.preact), []).append(entry)
    lines = [
        "| `weights=` | model | also pass | file(s) | hash checked | published top-1 | published by |",
        "|---|---|---|---|---|--:|---|",
    ]
    for first, *others in groups.values():
        layout = "" if (first.variant, first.preact) == ("v1.5", False) else f"`{_layout(first)}`"
        files = ", ".join(f"`{entry.file_name}`" for entry in (first, *others))
        lines.append(
            f"| `{first.weights}` | ResNet{first.model.removeprefix('resnet')} | {layout} | {files} "
            f"| {HASH_KINDS[first.hash_kind]} | {first.top1:g}% | {first.source} |"
        )
    return "\n".join(lines) + "\n"
