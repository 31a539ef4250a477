"""`resnet-train MODEL --data SOURCE --out RUN_DIR [options]`: the command over `keras_resnet.train.fit`.

Every hyper-parameter of the recipe table (`keras_resnet.recipes`) is an option; options left out take the
recipe's value, and the final values are written to RUN_DIR/config.json.
"""
from __future__ import annotations

import json

import click

from keras_resnet import recipes, sources, specs
from keras_resnet.cli import CONTEXT, OneLineCommand, check_model_argument
from keras_resnet.errors import cli_errors
from keras_resnet.io import check_directory, readable_file


@click.command(cls=OneLineCommand, context_settings=CONTEXT)
@click.argument("model")
@click.option("--data", "data_source", required=True, help="folder:PATH, npz:PATH or tfds:NAME[:SPLIT].")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--recipe", type=click.Choice(sorted(recipes.RECIPES)), default="cifar", show_default=True,
              help="The paper's CIFAR or ImageNet recipe, or fine-tuning (transfer learning).")
@click.option("--weights", help="Pretrained weights for MODEL (.pth/.safetensors of torchvision or timm, "
              ".weights.h5, .h5): its backbone under a new classifier for the data's classes.")
@click.option("--head-epochs", type=click.IntRange(min=0),
              help="First epochs that train only the classifier, the backbone frozen (finetune: 3).")
@click.option("--head-lr", type=click.FloatRange(min=0, min_open=True), help="Peak lr of the head-only epochs.")
@click.option("--frozen-bn/--no-frozen-bn", default=None,
              help="Keep BatchNorm in inference mode throughout (finetune: on).")
@click.option("--epochs", type=click.IntRange(min=1), help="Training epochs (instead of --steps).")
@click.option("--steps", type=click.IntRange(min=1), help="Training iterations, rounded to whole epochs.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Global batch size.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="Peak learning rate.")
@click.option("--schedule", type=click.Choice(recipes.SCHEDULES), help="step (paper), cosine or onecycle.")
@click.option("--boundaries", help="Step schedule: comma-separated fractions of training, e.g. 0.5,0.75.")
@click.option("--decay", type=float, help="Step schedule: lr multiplier at each boundary.")
@click.option("--momentum", type=float, help="SGD momentum.")
@click.option("--nesterov/--no-nesterov", default=None, help="Nesterov momentum.")
@click.option("--weight-decay", type=float, help="Weight decay, PyTorch semantics (coupled, through momentum).")
@click.option("--warmup-steps", type=click.IntRange(min=0), help="Warm-up iterations.")
@click.option("--warmup-lr", type=float, help="Warm-up learning rate (start of the ramp).")
@click.option("--augment", type=click.Choice(recipes.AUGMENTATIONS), help="Augmentation (default: recipe's).")
@click.option("--holdout", type=click.IntRange(min=0), help="Training images held out for validation.")
@click.option("--seed", type=int, help="Seed of initialisation, shuffling and augmentation.")
@click.option("--resume", is_flag=True, help="Continue the run in RUN_DIR from its last completed epoch.")
@click.option("--mixed-precision", type=click.Choice(["auto", "off", "bf16", "fp16"]), default="auto",
              show_default=True, help="auto: bfloat16 where the hardware has it natively.")
@click.option("--strategy", type=click.Choice(["auto", "mirrored", "multiworker"]), default="auto",
              show_default=True, help="tf.distribute strategy; multiworker reads TF_CONFIG.")
@click.option("--input-size", type=click.IntRange(min=1), help="Square input side (default: model's).")
@click.option("--width", type=click.FloatRange(min=0, min_open=True), help="Channel multiplier.")
@click.option("--preact/--no-preact", default=None, help="Pre-activation blocks.")
@click.option("--shortcut", type=click.Choice(["A", "B", "C"]), help="Shortcut option.")
@click.option("--unsafe-load", is_flag=True, help="Allow Lambda layers in a .keras MODEL (runs its code).")
@cli_errors
def train(model, data_source, out, recipe, weights, resume, mixed_precision, strategy, input_size, width, preact,
          shortcut, boundaries, unsafe_load, **hyper):
    """Train MODEL (a registered name or a .keras file to fine-tune) on --data into --out.

    Example: resnet-train resnet20 --data folder:cifar10-jpg --out runs/r20 --epochs 30 --schedule onecycle

    Transfer learning: resnet-train resnet18 --weights resnet18.pth --data folder:MY_IMAGES --recipe finetune
    --out runs/mine --input-size 160
    """
    if boundaries is not None:
        hyper["boundaries"] = _fractions(boundaries)
    # What fit would refuse after TensorFlow has started, refused first
    depth = None if check_model_argument(model) else specs.get_spec(model).depth
    recipes.resolve(recipe, depth, **hyper)
    if weights:
        readable_file(weights, "Weights file")
    sources.check(data_source, "train")
    check_directory(out)
    from keras_resnet.train import fit

    metrics = fit(model, data_source, out, recipe, resume=resume, mixed_precision=mixed_precision,
                  strategy=strategy, input_size=input_size, unsafe_load=unsafe_load,
                  model_options={"width": width, "preact": preact, "shortcut": shortcut}, weights=weights,
                  **hyper)
    if metrics:
        click.echo(json.dumps(metrics, indent=2))


def _fractions(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"comma-separated fractions, e.g. 0.5,0.75. Received: {text!r}") from None
