"""`resnet-tflite list` and `resnet-tflite info`: what the registered models are, from the spec table."""
from __future__ import annotations

import json

import click

from keras_resnet.cli.options import CONTEXT, MODEL_OPTIONS, builder_arguments, check_model_argument, given, \
    model_options
from keras_resnet.errors import cli_errors
from keras_resnet.models import specs


@click.command("list", context_settings=CONTEXT)
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


@click.command(context_settings=CONTEXT)
@click.argument("model")
@model_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--unsafe-load", is_flag=True, help="Allow Lambda layers in a .keras file (runs its code).")
@cli_errors
def info(model, as_json, unsafe_load, **_):
    """Profile MODEL (a registered name or a .keras file): stages, parameters, MACs, peak memory."""
    is_file = check_model_argument(model)
    from keras_resnet.models.profiler import format_profile, profile

    if is_file:
        from keras_resnet.models.saving import load_keras_model

        net = load_keras_model(model, unsafe=unsafe_load)
    else:
        from keras_resnet.models.builders import create_model

        net = create_model(model, **builder_arguments(given(*MODEL_OPTIONS)))
    result = profile(net)
    click.echo(json.dumps(result, indent=2) if as_json else format_profile(result))
