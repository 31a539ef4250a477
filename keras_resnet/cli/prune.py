"""`resnet-tflite prune`: channel pruning and fine-tuning, a thin wrapper over `keras_resnet.models.channel_pruning`
and `keras_resnet.training.fit.fine_tune_pruned`."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile

import click

from keras_resnet import sources
from keras_resnet.cli.options import CONTEXT, OneLineCommand, check_model_weights, given, mixed_precision_option, \
    open_model, recipe_options
from keras_resnet.errors import UserError, cli_errors
from keras_resnet.files import atomic_path, check_writable
from keras_resnet.models import channel_pruning as pruning  # NumPy only at import: --help stays instant
from keras_resnet.training import recipes

RECIPE_OPTIONS = ("lr", "schedule", "batch_size", "weight_decay", "nesterov", "seed")


def _check_request(channels, macs, out, data_source, epochs, run_dir, resume) -> tuple | None:
    """The pruning ratios (None with --macs), once every option was checked, before TensorFlow starts."""
    if (channels is None) == (macs is None):
        raise UserError("Give --channels RATIO or --macs FRACTION (exactly one).")
    if not out.endswith(".keras"):
        raise UserError(f"--out must name a .keras file. Received: {out}")
    if epochs and not data_source:
        raise UserError("Fine-tuning needs --data SOURCE; pass --epochs 0 to keep the pruned weights untuned.")
    ratios = pruning.parse_ratios(channels) if channels else None
    if macs is not None:
        pruning.check_macs_fraction(macs)
    held = run_dir and os.path.exists(os.path.join(run_dir, "config.json"))
    if resume and not (epochs and held):
        raise UserError(f"--resume continues the fine-tuning kept in --run-dir, and there is none: give "
                        f"--epochs and the --run-dir of the run. Received: --run-dir {run_dir}")
    if held and not resume:
        raise UserError(f"{run_dir} already holds a run: pass --resume to continue it, or choose another "
                        f"--run-dir. Received: {run_dir}")
    if epochs:
        sources.check(data_source, "train")
    return ratios


@click.command(cls=OneLineCommand, context_settings=CONTEXT)
@click.argument("model")
@click.option("--weights", help="For a registered MODEL name: published weights (imagenet, imagenet-v2, cifar10) or a "
              "weights file.")
@click.option("--channels", help="Fraction of filters to remove from each prunable conv: one ratio (0.5) or "
              "one per stage (0.25,0.5,0.5).")
@click.option("--macs", type=float, help="Instead of --channels: the fraction of MACs to keep (0.6); met by "
              "the smallest ratio common to all prunable convs.")
@click.option("--criterion", type=click.Choice(pruning.CRITERIA), default=pruning.CRITERIA[0],
              show_default=True, help="Filters removed: smallest L1 norm (Li et al. 2017) or smallest "
                                      "BatchNorm |gamma| (Liu et al. 2017).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The pruned .keras file.")
@click.option("--data", "data_source", help="Fine-tuning data SOURCE (folder:, npz:, tfds:); not needed "
              "with --epochs 0.")
@click.option("--epochs", type=click.IntRange(min=0), default=10, show_default=True,
              help="Fine-tuning epochs; 0 keeps the pruned weights as they are.")
@click.option("--recipe", type=click.Choice(sorted(recipes.RECIPES)), default="finetune", show_default=True,
              help="Training recipe the options below override (see resnet-train).")
@recipe_options(*RECIPE_OPTIONS)
@mixed_precision_option()
@click.option("--run-dir", type=click.Path(file_okay=False), help="Keep the fine-tuning run (history, "
              "curves, metrics.json) here; default: a temporary folder.")
@click.option("--resume", is_flag=True, help="Continue the fine-tuning kept in --run-dir from its last "
              "completed epoch (after a crash or Ctrl-C); give the same MODEL, --data and options.")
@click.option("--unsafe-load", is_flag=True, help="Allow Lambda layers in MODEL (runs its code).")
@cli_errors
def prune(model, weights, channels, macs, criterion, out, data_source, epochs, recipe, mixed_precision, run_dir,
          resume, unsafe_load, **_):
    """Remove whole filters from MODEL's residual blocks, rebuild it narrower, fine-tune it, write OUT.

    MODEL is a .keras file, or a registered name with its --weights. The first conv of each basic block and
    the first two of each bottleneck lose filters (no shortcut ties their channels); the model is rebuilt
    dense, so it is smaller and faster once converted.

    Example: resnet-tflite prune r20.keras --channels 0.5 --data folder:cifar10-jpg --epochs 15 --out r20p.keras

    Example: resnet-tflite prune resnet56 --weights cifar10 --channels 0.5 --data folder:cifar10-jpg --out r56p.keras
    """
    ratios = _check_request(channels, macs, out, data_source, epochs, run_dir, resume)
    check_model_weights(model, weights)
    check_writable(out)
    from keras_resnet.models.saving import save_model
    from keras_resnet.training.fit import fine_tune_pruned

    net = open_model(model, weights, None, unsafe_load)
    result = pruning.prune(net, ratios, macs, criterion)
    report = result.report
    click.echo(f"pruned {net.name}: {report['params']['before']:,} -> {report['params']['after']:,} parameters, "
               f"{report['macs_kept']:.1%} of the MACs kept", err=True)
    if not epochs:
        save_model(result.model, out)
    else:
        hyper = given(*RECIPE_OPTIONS)
        # Keras prints training progress on stdout; it goes to stderr so that stdout holds only the report
        with tempfile.TemporaryDirectory(prefix="resnet-prune-run-") as scratch, \
                contextlib.redirect_stdout(sys.stderr):
            tuned, metrics = fine_tune_pruned(result.model, data_source, run_dir or scratch, recipe, resume=resume,
                                              epochs=epochs, mixed_precision=mixed_precision, **hyper)
            with atomic_path(out, suffix=".keras") as tmp:
                shutil.copyfile(tuned, tmp)
        report["fine_tuning"] = {"data": data_source, "epochs": epochs, "recipe": recipe, "run_dir": run_dir,
                                 **hyper, "metrics": metrics}
    report["out"] = out
    click.echo(json.dumps(report, indent=2))
