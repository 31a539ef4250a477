"""`resnet-tflite list` and `resnet-tflite info`: what the registered models are, from the spec table."""

from __future__ import annotations

import json

import click

from keras_resnet.cli.options import (
    CONTEXT,
    MODEL_OPTIONS,
    command_errors,
    given,
    json_option,
    model_options,
    unsafe_load_option,
)
from keras_resnet.models import specs
from keras_resnet.models.loading import check_model_argument


@click.command("list", context_settings=CONTEXT)
@json_option()
@command_errors
def list_command(as_json):
    """List every registered model with its trainable parameters and MACs at its default input.

    Python: keras_resnet.models.specs.model_table() (what --json prints), keras_resnet.list_models().
    """
    table = specs.model_table()
    if as_json:
        click.echo(json.dumps(table, indent=2))
        return
    click.echo(f"{'model':<12}{'family':<10}{'blocks':<16}{'input':>7}{'shortcut':>10}{'params':>14}{'MACs':>16}")
    for name in specs.list_models():
        s, row = specs.REGISTRY[name], table[name]
        blocks = f"{s.block[:6]} {'-'.join(map(str, s.blocks))}"
        click.echo(
            f"{name:<12}{s.family:<10}{blocks:<16}{s.input_size:>7}{str(s.shortcut or '-'):>10}"
            f"{row['trainable_params']:>14,}{row['macs']:>16,}"
        )


@click.command(context_settings=CONTEXT)
@click.argument("model")
@model_options
@json_option()
@unsafe_load_option()
@command_errors
def info(model, as_json, unsafe_load, **_):
    """Profile MODEL (a registered name or a .keras file): stages, parameters, MACs, peak memory.

    Python: keras_resnet.models.loading.info(model, ...) (what --json prints).
    """
    check_model_argument(model)  # before TensorFlow starts
    from keras_resnet.models.loading import info as model_info
    from keras_resnet.models.profiler import format_profile

    result = model_info(model, unsafe_load=unsafe_load, **given(*MODEL_OPTIONS))
    click.echo(json.dumps(result, indent=2) if as_json else format_profile(result))
