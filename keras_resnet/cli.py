"""Command line: `resnet-tflite` (list, info, convert, prune, edgetpu, micro, bench, report, ...) and `resnet-train`.

Heavy imports (TensorFlow) happen inside the commands that need them, so `--help` is instant.
"""
from __future__ import annotations

import importlib
import json
import os
import sys

import click

from keras_resnet import specs
from keras_resnet.errors import INTERRUPTED, UserError, cli_errors

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# Commands defined in their own modules, imported only when used: command name -> "module:attribute".
LAZY_COMMANDS = {
    "convert": "keras_resnet.cli_convert:convert",
    "eval": "keras_resnet.cli_convert:evaluate",
    "bench": "keras_resnet.cli_bench:bench",
    "report": "keras_resnet.cli_bench:report",
    "edgetpu": "keras_resnet.cli_deploy:edgetpu",
    "micro": "keras_resnet.cli_deploy:micro",
    "prune": "keras_resnet.cli_prune:prune",
}


class OneLineErrors:
    """For click commands and groups: a usage error is one `error:` line on stderr (exit 2), not click's
    usage block, so every failure of the command line looks alike."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as err:  # the command alone: its help, as click shows it
            err.show()
            sys.exit(err.exit_code)
        except click.ClickException as err:
            click.echo(f"error: {err.format_message()} (see --help)", err=True)
            sys.exit(err.exit_code)
        except click.Abort:  # Ctrl-C outside a command body, e.g. while a command module is imported
            click.echo(INTERRUPTED, err=True)
            sys.exit(130)
        if standalone_mode:
            sys.exit(code if isinstance(code, int) else 0)
        return code


class OneLineCommand(OneLineErrors, click.Command):
    """A click command whose usage errors are one line."""


class LazyGroup(OneLineErrors, click.Group):
    """A click group whose commands may live in other modules, imported on first use."""

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx, name):
        if name in LAZY_COMMANDS:
            module, attribute = LAZY_COMMANDS[name].split(":")
            return getattr(importlib.import_module(module), attribute)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings=CONTEXT)
@click.version_option(package_name="resnet-tflite")
def main():
    """Every ResNet of He et al. 2016, from Keras to int8 TFLite, Edge TPU and microcontrollers."""


def model_options(func):
    """Options shared by commands that build a registered model; None means the model's default."""
    options = [
        click.option("--input-size", type=click.IntRange(min=1), help="Square input side (default: model's)."),
        click.option("--classes", type=click.IntRange(min=1), help="Number of classes (default: model's)."),
        click.option("--preact/--no-preact", default=None, help="Pre-activation blocks."),
        click.option("--width", type=click.FloatRange(min=0, min_open=True), help="Channel multiplier."),
        click.option("--variant", type=click.Choice(specs.VARIANTS), help="Layout: v1.5 (torchvision) or v1."),
        click.option("--shortcut", type=click.Choice(["A", "B", "C", "none"]), help="Shortcut option."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def check_model_argument(model: str) -> bool:
    """True when MODEL names a Keras model file, False for a registered name; a clear error, before
    TensorFlow starts, for anything else (a missing or damaged file, a directory, an unknown name)."""
    from keras_resnet.io import KERAS_SUFFIXES, check_keras_file

    if os.path.isdir(model):
        raise UserError(f"{model} is a directory: pass a .keras model file or a registered model name "
                        f"(resnet-tflite list). Received: {model}")
    if os.path.exists(model) or model.endswith(KERAS_SUFFIXES):
        check_keras_file(model)
        return True
    specs.get_spec(model)
    return False


def build_from_options(name, input_size=None, shortcut=None, **overrides):
    """A registered model built with the CLI's overrides."""
    from keras_resnet.models import create_model

    if input_size is not None:
        overrides["input_shape"] = (input_size, input_size, 3)
    if shortcut is not None:
        overrides["shortcut"] = None if shortcut == "none" else shortcut
    return create_model(name, **overrides)


@main.command("list", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@cli_errors
def list_command(as_json):
    """List every registered model with its trainable parameters and MACs at its default input."""
    table = specs.model_table()
    if as_json:
        click.echo(json.dumps(table, indent=2))
        return
    click.echo(f"{'model':<12}{'family':<10}{'blocks':<16}{'input':>7}{'shortcut':>10}{'params':>14}{'MACs':>16}")
    for name in specs.list_models():
        s, row = specs.REGISTRY[name], table[name]
        blocks = f"{s.block[:6]} {'-'.join(map(str, s.blocks))}"
        click.echo(f"{name:<12}{s.family:<10}{blocks:<16}{s.input_size:>7}{str(s.shortcut or '-'):>10}"
                   f"{row['trainable_params']:>14,}{row['macs']:>16,}")


@main.command(context_settings=CONTEXT)
@click.argument("model")
@model_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--unsafe-load", is_flag=True, help="Allow Lambda layers in a .keras file (runs its code).")
@cli_errors
def info(model, as_json, unsafe_load, **options):
    """Profile MODEL (a registered name or a .keras file): stages, parameters, MACs, peak memory."""
    is_file = check_model_argument(model)
    from keras_resnet.profiler import format_profile, profile

    if is_file:
        from keras_resnet.io import load_keras_model

        net = load_keras_model(model, unsafe=unsafe_load)
    else:
        net = build_from_options(model, **options)
    result = profile(net)
    click.echo(json.dumps(result, indent=2) if as_json else format_profile(result))


def train_main():
    """Entry point of `resnet-train` (the training command)."""
    from keras_resnet.train_cli import train

    train()
