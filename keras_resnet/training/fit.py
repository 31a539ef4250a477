"""Training: the paper's recipes, mixed precision, tf.distribute, crash-safe resume and a complete run dir.

`fit(model, data, out, recipe=...)` trains a registered model (or a Keras model file) on a data source and
leaves in `out`: `best.keras` and `last.keras` (float32, taking raw pixels), `history.csv`, `config.json`,
`metrics.json` (top-1/top-5 of both models on the evaluation split), `classes.txt`, `curves.png`,
TensorBoard logs in `logs/` (when tensorboard is installed) and `checkpoint/` for `resume=True`
(`keras_resnet.training.rundir` says how a run survives a crash).

Everything that can be checked without TensorFlow is checked here first, before it is imported (the
model argument, the weights file, the recipe, the run dir, every image of the data source): a mistake
costs a second, not TensorFlow's start-up. The run itself is `keras_resnet.training.session`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from keras_resnet import sources
from keras_resnet.errors import UserError
from keras_resnet.files import check_directory, check_keras_file, is_model_file
from keras_resnet.models import pretrained
from keras_resnet.models.specs import PREPROCESSING, get_spec
from keras_resnet.training import distill, recipes


@dataclass
class Run:
    """A run whose request was accepted: its config (the saved one when resuming) and its data, listed."""

    out: str
    resume: bool
    config: dict
    train: sources.Listing | None  # None: a tfds split, streamed
    test: sources.Listing | None


def fit(
    model: str,
    data: str,
    out: str,
    recipe: str = "cifar",
    *,
    resume: bool = False,
    mixed_precision: str = "auto",
    strategy: str = "auto",
    input_size: int | None = None,
    model_options: dict | None = None,
    weights: str | None = None,
    verbose: int | None = None,
    unsafe_load: bool = False,
    teacher: str | None = None,
    teacher_weights: str | None = None,
    distill_temperature: float = distill.TEMPERATURE,
    distill_alpha: float = distill.ALPHA,
    **hyper,
) -> dict:
    """Train `model` (a registered name or a Keras model file) on `data` into run dir `out`.

    `weights`: for a registered name, a published name ("imagenet", "imagenet-v2", "cifar10":
    `keras_resnet.models.pretrained`, downloaded when the run starts) or a weights file
    (`keras_resnet.models.weights`: torchvision/timm/akamaster checkpoints, Keras files); its backbone gets
    a new classifier for the data's classes, and the inputs are normalised as the weights were trained
    (ImageNet's mean and std for files). With `head_epochs` (the finetune recipe: 3 of 10), training starts with the
    backbone frozen; the checkpoint records the phase, so a resumed run continues in the right one.
    `model_options`: builder keywords for a registered name (width, preact, shortcut, ...), as given.

    `teacher`: knowledge distillation (`keras_resnet.training.distill`) from a trained model, a `.keras` file
    or a registered name with `teacher_weights` (a published name or a weights file), with its soft targets
    at `distill_temperature` weighted `distill_alpha` against the labels'. It must classify the same classes
    at the same input size as the student.

    `hyper` overrides any field of `keras_resnet.training.recipes.Recipe` (epochs, steps, batch_size, lr,
    schedule, weight_decay, momentum, warmup_steps, holdout, seed, ...). Returns the metrics written to
    `metrics.json`. `unsafe_load` allows Lambda layers in a `.keras` model (their code runs).
    """
    run = plan(
        model,
        data,
        out,
        recipe,
        resume=resume,
        weights=weights,
        input_size=input_size,
        model_options=model_options or {},
        distillation=distill.check(teacher, teacher_weights, distill_temperature, distill_alpha),
        **hyper,
    )
    from keras_resnet.training import session  # TensorFlow starts here

    return session.train(run, mixed_precision, strategy, unsafe_load, verbose)


def plan(
    model: str,
    data: str,
    out: str,
    recipe: str,
    *,
    resume: bool,
    weights: str | None,
    input_size: int | None,
    model_options: dict,
    distillation: distill.Distillation | None = None,
    **hyper,
) -> Run:
    """Check the request and list its data, without TensorFlow; a UserError names the first problem."""
    if is_model_file(model):
        if weights:
            raise UserError(
                f"weights apply to a registered model name; {model} carries its own weights: leave "
                f"them out. Received: weights={weights!r}"
            )
        check_keras_file(model)
        depth = None
    else:
        depth = get_spec(model).depth
    options = {**model_options, "include_top": False}
    published = pretrained.check(weights, get_spec(model), options) if weights else None
    settings = recipes.resolve(recipe, depth, **hyper)
    request = {
        "model": model,
        "weights": weights,
        "data": str(sources.parse(data)),
        "recipe_name": recipe,
        "recipe": asdict(settings),
        "augment": settings.augment,
        "input_size": input_size,
        "model_options": model_options,
        "distill": distillation.as_config() if distillation else None,
    }
    if published:  # the normalisation these weights were trained with (files: ImageNet's, see session)
        request["preprocess"] = [list(v) for v in PREPROCESSING[published.preprocess]]
    check_directory(out)
    config = start_config(out, resume, request)
    train, test = (sources.scan(config["data"], split) for split in ("train", "test"))
    if train is not None and train.classes != test.classes:
        raise UserError(
            f"{config['data']}: train and test splits name different classes "
            f"({train.classes[:5]}... vs {test.classes[:5]}...). Received: data={config['data']!r}"
        )
    if train is not None:
        distill.check_classes(distillation, len(train.classes))
    return Run(out=out, resume=resume, config=config, train=train, test=test)


def start_config(out: str, resume: bool, request: dict) -> dict:
    """The run's config: `request` for a new run dir, the saved one when resuming (after checking that
    nothing asked for now contradicts it)."""
    config_path = os.path.join(out, "config.json")
    if not resume:
        if os.path.exists(config_path):
            raise UserError(
                f"{out} already holds a run: pass resume=True to continue it, or choose another "
                f"out=DIR. Received: out={os.fspath(out)!r}"
            )
        return request
    if not os.path.exists(config_path):
        raise UserError(
            f"Nothing to resume in {out} (no config.json): pass the out of an interrupted run, "
            f"or leave resume out. Received: out={os.fspath(out)!r}, resume=True"
        )
    with open(config_path) as f:
        saved = json.load(f)
    for key in ("model", "weights", "data", "distill"):
        if request[key] != saved.get(key):
            raise UserError(
                f"{out} was started with {key}={saved.get(key)!r}; resume it with the same. "
                f"Received: {key}={request[key]!r}"
            )
    return saved


def fine_tune_pruned(
    model, data: str, run_dir: str, recipe: str = "finetune", *, resume: bool = False, **options
) -> tuple[str, dict]:
    """Fine-tune a channel-pruned model (`keras_resnet.models.channel_pruning`) with `fit` into `run_dir`.

    `options` are fit's (epochs, lr, schedule, mixed_precision, ...). The pruned model keeps its trained
    classifier, so no epoch trains the head alone (head_epochs=0 whatever the recipe says; the block
    convs that lost filters need recovering from the first step). The pruned starting point is kept in
    the run dir as `pruned.keras`, so that a killed run continues with `resume=True` (from its last
    epoch, as any training run). Returns the path of the fine-tuned model (the last epoch's: the
    validation split may be the test split, so no "best" is picked on it) and the metrics fit wrote.
    """
    from keras_resnet.models.saving import save_model

    start = os.path.join(run_dir, "pruned.keras")
    if not resume:
        os.makedirs(run_dir, exist_ok=True)
        save_model(model, start)
    metrics = fit(start, data, run_dir, recipe, resume=resume, **{"head_epochs": 0, **options})
    return os.path.join(run_dir, "last.keras"), metrics
