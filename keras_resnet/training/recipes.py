"""The training recipes of He et al. 2016 as one table (pure Python, no TensorFlow).

- cifar (Section 4.2): SGD momentum 0.9, weight decay 1e-4, batch 128, lr 0.1 divided by 10 at 32k and
  48k of 64k iterations; ResNet-110 and deeper warm up at lr 0.01 for ~400 iterations. Augmentation:
  4-pixel padding, random 32x32 crop, horizontal flip.
- imagenet (Section 3.4): batch 256, lr 0.1 divided by 10 at 1/3 and 2/3 of training (epochs 30 and 60
  of the usual 90), weight decay 1e-4, momentum 0.9. Augmentation: scale augmentation (shorter side in
  [256, 480]), random 224 crop, flip, colour and PCA lighting; centre crop for evaluation.
- finetune (transfer learning from existing weights, with a new classifier): 10 epochs in two phases,
  each on its own cosine schedule. Epochs 1-3 train the classifier alone at lr 0.01, the backbone frozen
  (its BatchNorm layers in inference mode, so the pretrained statistics stay); epochs 4-10 train every
  layer at the lower lr 0.001 but for BatchNorm, which stays in inference mode (`frozen_bn`, as Keras'
  transfer-learning guide advises: a short run on small batches of new images would otherwise replace the
  statistics gathered over ImageNet with noisy ones). `head_epochs` sets the split (0: no frozen phase);
  augmentation follows the model family. The rates are low because pooled ResNet-18 features have a norm
  of about 20 per image: with lr 0.1 a new classifier diverged within its first epoch.

Weight decay has PyTorch semantics everywhere (`torch.optim.SGD(weight_decay=...)`): `wd * w` is added
to every trainable weight's gradient before momentum. That is an L2 penalty of `wd / 2 * ||w||^2` on the
loss, *not* Keras' `SGD(weight_decay=wd)` (decoupled, `w -= lr * wd * w`, outside momentum: about 10x
weaker at momentum 0.9) nor `regularizers.L2(wd)` (twice as strong). `keras_resnet.train.TorchSGD`
implements it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from keras_resnet.errors import UserError

SCHEDULES = ("step", "cosine", "onecycle")
AUGMENTATIONS = ("cifar", "imagenet", "none")
DEEP_CIFAR_WARMUP = 110  # paper: ResNet-110 (and 1202) start at lr 0.01 until training error < 80%


@dataclass(frozen=True)
class Recipe:
    """Every hyper-parameter of a run. `epochs` or `steps` (iterations) sets the budget; None: recipe's."""

    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4  # PyTorch semantics, see module docstring
    schedule: str = "step"
    boundaries: tuple[float, ...] = (0.5, 0.75)  # step schedule: fractions of all iterations
    decay: float = 0.1  # step schedule: lr multiplier at each boundary
    epochs: int | None = None
    steps: int | None = 64000
    warmup_steps: int = 0
    warmup_lr: float = 0.01  # step schedule: constant warm-up lr (paper); others ramp linearly from it
    augment: str | None = "cifar"  # None: by model family (cifar for 32x32 nets, imagenet otherwise)
    holdout: int = 0  # training images held out for validation (paper: 5000 of 50k); 0: validate on test
    seed: int = 0
    head_epochs: int = 0  # the first epochs train only the classifier, the rest of the model frozen
    head_lr: float = 0.01  # peak lr of those head-only epochs; the later ones use `lr`
    frozen_bn: bool = False  # BatchNorm stays in inference mode (pretrained statistics and scale) throughout


RECIPES = {
    "cifar": Recipe(),
    "imagenet": Recipe(batch_size=256, boundaries=(1 / 3, 2 / 3), epochs=90, steps=None, augment="imagenet"),
    "finetune": Recipe(
        batch_size=64,
        lr=0.001,
        schedule="cosine",
        boundaries=(),
        epochs=10,
        steps=None,
        augment=None,
        head_epochs=3,
        head_lr=0.01,
        frozen_bn=True,
    ),
}


@dataclass(frozen=True)
class Phase:
    """Epochs [start, end) of a run (0-based) that train `layers` ("head": the classifier; "all") at peak `lr`."""

    layers: str
    start: int
    end: int
    lr: float


def phases(recipe: Recipe, epochs: int) -> list[Phase]:
    """The run's phases: the head-only epochs (if any), then every layer for the rest."""
    if recipe.head_epochs > epochs:
        raise UserError(
            f"The head-only phase ({recipe.head_epochs} epochs) is longer than the run ({epochs} "
            f"epochs): lower head_epochs or raise epochs. "
            f"Received: head_epochs={recipe.head_epochs}, epochs={epochs}"
        )
    split = [Phase("head", 0, recipe.head_epochs, recipe.head_lr)] if recipe.head_epochs else []
    return split + ([Phase("all", recipe.head_epochs, epochs, recipe.lr)] if recipe.head_epochs < epochs else [])


def resolve(recipe: str, depth: int | None = None, **overrides) -> Recipe:
    """The named recipe with `overrides` applied (None values ignored), validated.

    `epochs` and `steps` exclude each other: giving one clears the recipe's other. The paper's warm-up is
    switched on for CIFAR nets of depth >= 110 unless `warmup_steps` is given.
    """
    if recipe not in RECIPES:
        raise UserError(f"recipe must be one of {sorted(RECIPES)}. Received: recipe={recipe!r}")
    base = RECIPES[recipe]
    overrides = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(overrides) - {f.name for f in fields(Recipe)}
    if unknown:
        raise UserError(
            f"Unknown training option(s) {sorted(unknown)}: pass fields of Recipe. "
            f"Received: {', '.join(f'{name}={overrides[name]!r}' for name in sorted(unknown))}"
        )
    if "epochs" in overrides and "steps" in overrides:
        raise UserError(
            f"Give epochs or steps, not both. Received: epochs={overrides['epochs']}, steps={overrides['steps']}"
        )
    if "epochs" in overrides:
        overrides["steps"] = None
    elif "steps" in overrides:
        overrides["epochs"] = None
    if recipe == "cifar" and depth is not None and depth >= DEEP_CIFAR_WARMUP:
        overrides.setdefault("warmup_steps", 400)
    result = replace(base, **overrides)
    _validate(result)
    return result


def _validate(r: Recipe) -> None:
    checks = [
        (r.batch_size >= 1, "batch_size must be >= 1"),
        (r.lr > 0, "lr must be > 0"),
        (0 <= r.momentum < 1, "momentum must be in [0, 1)"),
        (r.weight_decay >= 0, "weight_decay must be >= 0"),
        (r.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}"),
        (all(0 < b < 1 for b in r.boundaries), "boundaries are fractions of training in (0, 1)"),
        ((r.epochs or 1) >= 1 and (r.steps or 1) >= 1, "epochs and steps must be >= 1"),
        (r.warmup_steps >= 0 and r.warmup_lr > 0, "warmup_steps must be >= 0 and warmup_lr > 0"),
        (r.augment in AUGMENTATIONS + (None,), f"augment must be one of {AUGMENTATIONS}"),
        (r.holdout >= 0, "holdout must be >= 0"),
        (r.head_epochs >= 0 and r.head_lr > 0, "head_epochs must be >= 0 and head_lr > 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(f"{message}. Received: {asdict(r)}")


def epochs_for(recipe: Recipe, steps_per_epoch: int) -> int:
    """Epochs of a run: the recipe's, or its iteration budget rounded to whole epochs."""
    return recipe.epochs if recipe.epochs else max(1, round(recipe.steps / steps_per_epoch))
