"""`resnet-tflite compare-outputs`: two benchmark runs of the same models compared image by image
(`keras_resnet.device.compare.compare_outputs`)."""

from __future__ import annotations

import json

import click

from keras_resnet.cli.options import CONTEXT, OneLineCommand, command_errors, json_option


@click.command("compare-outputs", cls=OneLineCommand, context_settings=CONTEXT)
@click.argument("a", metavar="A.json")
@click.argument("b", metavar="B.json")
@json_option()
@command_errors
def compare_outputs(a, b, as_json):
    """Do two benchmark runs of the same models agree image by image? Top-1 agreement and largest output
    difference, per model, thread count and delegate.

    A.json and B.json are written by `bench --json` with --data and --outputs, from the same model files and
    images, e.g. on the workstation and on a Raspberry Pi. Top-1 agreement is given of all images and of
    those whose highest output is unique in both runs (an int8 model can score two classes alike, and its
    top-1 then flips with one quantization step); output differences are in the output tensor's units
    (quantization steps, LSB, for an int8 model), the largest also dequantized.
    """
    from keras_resnet.device.compare import compare_outputs as compare
    from keras_resnet.device.compare import format_rows

    comparison = compare(a, b)
    if as_json:
        click.echo(json.dumps(comparison, indent=2))
    else:
        click.echo(f"A: {a}\nB: {b}\n{format_rows(comparison['rows'])}")
