"""`resnet-tflite prune`: channel pruning and fine-tuning, a thin wrapper over `keras_resnet.training.prune.prune`."""

from __future__ import annotations

import contextlib
import json
import sys

import click

from keras_resnet.cli.options import (
    CONTEXT,
    OneLineCommand,
    command_errors,
    data_option,
    distill_options,
    given,
    mixed_precision_option,
    recipe_option,
    recipe_options,
    unsafe_load_option,
    weights_option,
)
from keras_resnet.models.channel_pruning import CRITERIA  # NumPy only at import: --help stays instant

RECIPE_OPTIONS = ("lr", "schedule", "batch_size", "weight_decay", "nesterov", "seed")


@click.command(cls=OneLineCommand, context_settings=CONTEXT)
@click.argument("model")
@weights_option()
@click.option(
    "--channels",
    help="Fraction of filters to remove from each prunable conv: one ratio (0.5) or one per stage (0.25,0.5,0.5).",
)
@click.option(
    "--macs",
    type=float,
    help="Instead of --channels: the fraction of MACs to keep (0.6); met by "
    "the smallest ratio common to all prunable convs.",
)
@click.option(
    "--criterion",
    type=click.Choice(CRITERIA),
    default=CRITERIA[0],
    show_default=True,
    help="Filters removed: smallest L1 norm (Li et al. 2017) or smallest BatchNorm |gamma| (Liu et al. 2017).",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The pruned .keras file.")
@data_option("Fine-tuning data (training split); not needed with --epochs 0")
@click.option(
    "--epochs",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Fine-tuning epochs; 0 keeps the pruned weights as they are.",
)
@recipe_option(default="finetune")
@recipe_options(*RECIPE_OPTIONS)
@mixed_precision_option()
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False),
    help="Keep the fine-tuning run (history, curves, metrics.json) here; default: a temporary folder.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the fine-tuning kept in --run-dir from its last "
    "completed epoch (after a crash or Ctrl-C); give the same MODEL, --data and options.",
)
@distill_options
@unsafe_load_option()
@command_errors
def prune(**options):
    """Remove whole filters from MODEL's residual blocks, rebuild it narrower, fine-tune it, write OUT.

    MODEL is a .keras file, or a registered name with its --weights. The first conv of each basic block and
    the first two of each bottleneck lose filters (no shortcut ties their channels); the model is rebuilt
    dense, so it is smaller and faster once converted. Prints the JSON report (what
    keras_resnet.prune(model, out, ...) returns).

    Example: resnet-tflite prune r20.keras --channels 0.5 --data folder:cifar10-jpg --epochs 15 --out r20p.keras

    Example: resnet-tflite prune resnet56 --weights cifar10 --channels 0.5 --data folder:cifar10-jpg --out r56p.keras
    """
    for name in RECIPE_OPTIONS:  # unset: the recipe's value
        options.pop(name)
    from keras_resnet.training.prune import prune as prune_model

    # Keras prints training progress on stdout; it goes to stderr so that stdout holds only the report
    with contextlib.redirect_stdout(sys.stderr):
        report = prune_model(**options, **given(*RECIPE_OPTIONS))
    click.echo(json.dumps(report, indent=2))
