"""Channel pruning in one call: whole filters out of a ResNet, the narrower model fine-tuned and saved.

`prune` is everything `resnet-tflite prune` does: it checks the request before TensorFlow starts, removes
filters (`keras_resnet.models.channel_pruning`), fine-tunes with a training recipe (`fine_tune_pruned`, a
resumable run) and writes the .keras file atomically. It returns the report the command prints.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from keras_resnet import sources
from keras_resnet.errors import UserError, say
from keras_resnet.files import atomic_path, check_writable
from keras_resnet.models import channel_pruning
from keras_resnet.training import distill, recipes
from keras_resnet.training.hardware import MIXED_PRECISION

__all__ = ["prune"]


def _ratios(channels):
    """Pruning ratios from `channels`: a number, a sequence of them (one per stage), or text ("0.25,0.5")."""
    if channels is None:
        return None
    if isinstance(channels, (list, tuple)):
        channels = ",".join(str(ratio) for ratio in channels)
    return channel_pruning.parse_ratios(channels)


def _check_request(
    model, out, channels, macs, data, epochs, recipe, run_dir, resume, weights, mixed_precision, overrides
):
    """The pruning ratios (None with `macs`), once the whole request was checked, before TensorFlow starts."""
    from keras_resnet.models.loading import check_model_weights

    if (channels is None) == (macs is None):
        raise UserError(
            f"Give channels=RATIO or macs=FRACTION (exactly one). Received: channels={channels!r}, macs={macs!r}"
        )
    if not os.fspath(out).endswith(".keras"):
        raise UserError(f"The output must name a .keras file, e.g. pruned.keras. Received: out={os.fspath(out)!r}")
    if epochs < 0:
        raise UserError(f"epochs must be 0 (no fine-tuning) or more. Received: epochs={epochs}")
    if epochs and not data:
        raise UserError(
            "Fine-tuning needs data=SOURCE; pass epochs=0 to keep the pruned weights untuned. Received: data=None"
        )
    if recipe not in recipes.RECIPES:
        raise UserError(f"recipe must be one of {sorted(recipes.RECIPES)}. Received: recipe={recipe!r}")
    if mixed_precision not in MIXED_PRECISION:
        raise UserError(
            f"mixed_precision must be one of {MIXED_PRECISION}. Received: mixed_precision={mixed_precision!r}"
        )
    unknown = sorted(set(overrides) - set(recipes.Recipe.__dataclass_fields__) - {"verbose"})
    if unknown:
        raise UserError(
            f"Unknown training option(s) {unknown}: pass fields of keras_resnet.training.recipes."
            f"Recipe. Received: {', '.join(f'{name}={overrides[name]!r}' for name in unknown)}"
        )
    ratios = _ratios(channels)
    if macs is not None:
        channel_pruning.check_macs_fraction(macs)
    held = run_dir is not None and os.path.exists(os.path.join(run_dir, "config.json"))
    if resume and not (epochs and held):
        raise UserError(
            f"resume=True continues a fine-tuning kept in run_dir, and there is none there: pass the "
            f"run_dir=DIR of the run and epochs=N. Received: run_dir={run_dir!r}, epochs={epochs}"
        )
    if held and not resume:
        raise UserError(
            f"{run_dir} already holds a run: pass resume=True to continue it, or choose another "
            f"run_dir=DIR. Received: run_dir={os.fspath(run_dir)!r}"
        )
    if epochs:
        sources.check(data, "train")
    check_writable(out)
    if isinstance(model, (str, os.PathLike)):
        check_model_weights(model, weights)
    elif weights:
        raise UserError(
            f"weights apply to a registered model name, not to a model object, which carries its "
            f"own: leave them out. Received: weights={weights!r}"
        )
    return ratios


def prune(
    model,
    out,
    *,
    channels=None,
    macs: float | None = None,
    criterion: str = channel_pruning.CRITERIA[0],
    data: str | None = None,
    epochs: int = 10,
    recipe: str = "finetune",
    run_dir=None,
    resume: bool = False,
    weights: str | None = None,
    mixed_precision: str = MIXED_PRECISION[0],
    unsafe_load: bool = False,
    teacher: str | None = None,
    teacher_weights: str | None = None,
    distill_temperature: float = distill.TEMPERATURE,
    distill_alpha: float = distill.ALPHA,
    **recipe_overrides,
) -> dict:
    """Remove whole filters from a ResNet's residual blocks, rebuild it narrower, fine-tune it, save `out`.

    The first conv of each basic block and the first two of each bottleneck lose filters (no shortcut ties
    their channels); the model is rebuilt dense, so it is smaller and faster once converted. Fine-tuning is
    a training run (`keras_resnet.training.fit`) that survives a crash: pass the same `run_dir` with
    `resume=True` to continue it.

    Example:
        >>> keras_resnet.prune("resnet56", "r56p.keras", weights="cifar10", channels=0.5,
        ...                    data="folder:cifar10-jpg", epochs=15)

    Args:
        model: A Keras model object of this package, a Keras model file or a registered model name.
        out: The pruned .keras file to write (atomically).
        channels: Fraction of filters to remove from each prunable conv: one ratio (0.5), one per stage
            ((0.25, 0.5, 0.5)) or that as text ("0.25,0.5,0.5").
        macs: Instead of `channels`: the fraction of MACs to keep (0.6), met by the smallest ratio common to
            all prunable convs.
        criterion: Filters removed: "l1" (smallest L1 norm) or "bn" (smallest BatchNorm |gamma|).
        data: Fine-tuning data source (folder:PATH, npz:PATH, tfds:NAME); not needed with epochs=0.
        epochs: Fine-tuning epochs; 0 keeps the pruned weights as they are.
        recipe: Training recipe (`keras_resnet.training.recipes.RECIPES`) that `recipe_overrides` override.
        run_dir: Keep the fine-tuning run (history, curves, metrics.json) here; default: a temporary folder.
        resume: Continue the fine-tuning kept in `run_dir` from its last completed epoch.
        weights: For a registered name: published weights ("imagenet", "imagenet-v2", "cifar10") or a file.
        mixed_precision: "auto" (bfloat16 where the hardware has it natively) or a Keras policy name.
        unsafe_load: Allow Lambda layers in a model file (their code runs: only for files you trust).
        teacher: Fine-tune by knowledge distillation from this trained model (`keras_resnet.training.distill`):
            a .keras file, or a registered name with `teacher_weights`; the unpruned model is a natural one.
        teacher_weights: The teacher's weights when it is a registered name: a published name or a file.
        distill_temperature: Temperature of the soft targets (positive).
        distill_alpha: Weight of the teacher's term against the labels', in [0, 1].
        **recipe_overrides: Fields of `keras_resnet.training.recipes.Recipe` (lr, schedule, batch_size,
            weight_decay, nesterov, seed, ...), and `verbose` for Keras' progress output.

    Returns:
        The pruning report: model, criterion, ratios, inner_widths, params, trainable_params and macs (before
        and after), params_pruned, macs_kept, `out`, and with fine-tuning `fine_tuning` (data, epochs,
        recipe, run_dir, the overrides given, and the metrics of the run).

    Raises:
        UserError: a request that cannot succeed (named by its argument), before TensorFlow starts whenever
            it can be; a model that is not a ResNet of this package.
    """
    out = os.fspath(out)
    run_dir = os.fspath(run_dir) if run_dir is not None else None
    ratios = _check_request(
        model, out, channels, macs, data, epochs, recipe, run_dir, resume, weights, mixed_precision, recipe_overrides
    )
    distillation = distill.check(teacher, teacher_weights, distill_temperature, distill_alpha)
    if distillation and not epochs:
        raise UserError(
            f"A teacher teaches during fine-tuning: pass epochs > 0, or leave teacher out. "
            f"Received: teacher={teacher!r}, epochs={epochs}"
        )
    from keras_resnet.models.loading import open_model
    from keras_resnet.models.saving import save_model
    from keras_resnet.training.fit import fine_tune_pruned

    net = open_model(model, weights, None, unsafe_load) if isinstance(model, (str, os.PathLike)) else model
    result = channel_pruning.prune(net, ratios, macs, criterion)
    report = result.report
    say(
        f"pruned {net.name}: {report['params']['before']:,} -> {report['params']['after']:,} parameters, "
        f"{report['macs_kept']:.1%} of the MACs kept"
    )
    if not epochs:
        save_model(result.model, out)
    else:
        with tempfile.TemporaryDirectory(prefix="resnet-prune-run-") as scratch:
            tuned, metrics = fine_tune_pruned(
                result.model,
                data,
                run_dir or scratch,
                recipe,
                resume=resume,
                epochs=epochs,
                mixed_precision=mixed_precision,
                teacher=teacher,
                teacher_weights=teacher_weights,
                distill_temperature=distill_temperature,
                distill_alpha=distill_alpha,
                **recipe_overrides,
            )
            with atomic_path(out, suffix=".keras") as tmp:
                shutil.copyfile(tuned, tmp)
        hyper = {name: value for name, value in recipe_overrides.items() if name != "verbose"}
        report["fine_tuning"] = {
            "data": data,
            "epochs": epochs,
            "recipe": recipe,
            "run_dir": run_dir,
            **hyper,
            "distill": distillation.as_config() if distillation else None,
            "metrics": metrics,
        }
    report["out"] = out
    return report
