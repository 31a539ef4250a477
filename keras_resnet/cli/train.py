"""`resnet-tflite train MODEL --data SOURCE --out RUN_DIR [options]` (also `resnet-train`): the command over
`keras_resnet.training.fit`.

Every hyper-parameter of the recipe table (`keras_resnet.training.recipes`) is an option; options left out take
the recipe's value, and the final values are written to RUN_DIR/config.json. `fit` checks the whole request,
data included, before TensorFlow starts.
"""

from __future__ import annotations

import json

import click

from keras_resnet.cli.options import (
    CONTEXT,
    RECIPE_FIELDS,
    OneLineCommand,
    command_errors,
    data_option,
    distill_options,
    given,
    input_size_option,
    mixed_precision_option,
    preact_option,
    recipe_option,
    recipe_options,
    shortcut_option,
    unsafe_load_option,
    width_option,
)
from keras_resnet.training.hardware import STRATEGIES

MODEL_OPTIONS = ("width", "preact", "shortcut")


@click.command(cls=OneLineCommand, context_settings=CONTEXT)
@click.argument("model")
@data_option("Training images (its test split evaluates)", required=True)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory.")
@recipe_option(default="cifar")
@click.option(
    "--weights",
    help="Pretrained weights for MODEL: published (imagenet, imagenet-v2, cifar10; downloaded "
    "once into ~/.keras/models) or a file (.pth/.safetensors/.th of torchvision, timm or akamaster, "
    ".weights.h5, .h5): its backbone under a new classifier for the data's classes.",
)
@recipe_options("head_epochs", "head_lr", "frozen_bn", "epochs", "steps", "batch_size", "lr", "schedule")
@click.option("--boundaries", help="Step schedule: comma-separated fractions of training, e.g. 0.5,0.75.")
@recipe_options(
    "decay", "momentum", "nesterov", "weight_decay", "warmup_steps", "warmup_lr", "augment", "holdout", "seed"
)
@click.option("--resume", is_flag=True, help="Continue the run in RUN_DIR from its last completed epoch.")
@mixed_precision_option()
@click.option(
    "--strategy",
    type=click.Choice(STRATEGIES),
    default=STRATEGIES[0],
    show_default=True,
    help="tf.distribute strategy; multiworker reads TF_CONFIG.",
)
@input_size_option()
@width_option()
@preact_option()
@shortcut_option()
@distill_options
@unsafe_load_option()
@command_errors
def train(
    model,
    data,
    out,
    recipe,
    weights,
    resume,
    mixed_precision,
    strategy,
    input_size,
    boundaries,
    unsafe_load,
    teacher,
    teacher_weights,
    distill_temperature,
    distill_alpha,
    **_,
):
    """Train MODEL (a registered name or a Keras model file to fine-tune) on --data into --out.

    Example: resnet-tflite train resnet20 --data folder:cifar10-jpg --out runs/r20 --epochs 30 --schedule onecycle

    Transfer learning: resnet-tflite train resnet18 --weights imagenet --data folder:MY_IMAGES --recipe finetune
    --out runs/mine --input-size 160

    Distillation: resnet-tflite train resnet20 --data folder:cifar10-jpg --out runs/r20kd --teacher
    runs/r56/best.keras (a teacher fine-tuned on the same data; see the training guide)

    Python: keras_resnet.fit(model, data, out, recipe, ...), which returns the metrics printed here.
    """
    hyper = given(*RECIPE_FIELDS)  # every recipe field but --boundaries, parsed from text
    if boundaries is not None:
        hyper["boundaries"] = _fractions(boundaries)
    from keras_resnet.training.fit import fit  # checks everything before TensorFlow starts

    metrics = fit(
        model,
        data,
        out,
        recipe,
        resume=resume,
        mixed_precision=mixed_precision,
        strategy=strategy,
        input_size=input_size,
        unsafe_load=unsafe_load,
        model_options=given(*MODEL_OPTIONS),
        weights=weights,
        teacher=teacher,
        teacher_weights=teacher_weights,
        distill_temperature=distill_temperature,
        distill_alpha=distill_alpha,
        **hyper,
    )
    if metrics:
        click.echo(json.dumps(metrics, indent=2))


def _fractions(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"comma-separated fractions, e.g. 0.5,0.75. Received: {text!r}") from None


def main():
    """Entry point of `resnet-train`."""
    train()
