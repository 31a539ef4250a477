"""`resnet-tflite weights convert`: a PyTorch or safetensors ResNet checkpoint as a Keras weights file
(`keras_resnet.models.convert_weights.convert_weights`)."""

from __future__ import annotations

import json

import click

from keras_resnet.cli.options import CONTEXT, OneLineCommand, OneLineErrors, command_errors, json_option
from keras_resnet.errors import UserError


class WeightsGroup(OneLineErrors, click.Group):
    """The `weights` group, its usage errors on one line."""


@click.group(cls=WeightsGroup, context_settings=CONTEXT)
def weights():
    """Weight files: convert a PyTorch or safetensors checkpoint into Keras weights."""


@weights.command(cls=OneLineCommand, context_settings=CONTEXT)
@click.argument("checkpoint")
@click.option("--out", required=True, help="Keras weights file to write (.weights.h5).")
@click.option("--model", help="resnet18|34|50|101|152|20|32|... (default: inferred from the tensors).")
@click.option(
    "--top/--no-top",
    "include_top",
    default=True,
    show_default=True,
    help="Keep the classifier; --no-top leaves it out (include_top=False).",
)
@json_option()
@command_errors
def convert(checkpoint, out, model, include_top, as_json):
    """Convert CHECKPOINT (a torchvision, timm or akamaster ResNet state dict: .pth, .pt, .bin, .th or
    .safetensors) into a Keras .weights.h5 file, reporting every tensor's mapping with both shapes.

    The checkpoint is read without running code from it (torch.load(weights_only=True), or safetensors);
    the depth and classes are inferred from its tensors. Load the result with
    ResNet50(weights="resnet50.weights.h5"), or ResNet18(include_top=False, weights=...) after --no-top.
    """
    from keras_resnet.models.convert_weights import convert_weights, format_conversion

    try:
        conversion = convert_weights(checkpoint, out, model=model, include_top=include_top)
    except UserError as err:  # the one value of include_top a message asks for has its own flag
        raise UserError(str(err).replace("include_top=False", "--no-top")) from err
    click.echo(json.dumps(conversion, indent=2) if as_json else format_conversion(conversion))
