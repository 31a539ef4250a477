"""`resnet-tflite eval`: top-1/top-5 of any .tflite classifier on labelled images (no TensorFlow but for tfds:),
a thin wrapper over `keras_resnet.export.pipeline.evaluate`."""

from __future__ import annotations

import json

import click

from keras_resnet.cli.options import CONTEXT, command_errors, data_option, json_option, limit_option


@click.command("eval", context_settings=CONTEXT)
@click.argument("model", metavar="TFLITE_FILE")
@data_option("Labelled images", required=True)
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True)
@limit_option()
@json_option()
@command_errors
def evaluate(model, data, split, limit, as_json):
    """Top-1/top-5 of any TFLITE_FILE on labelled images; writes a .eval.json report beside it.

    Images of any size and mode are converted to the model's input (bilinear resizing; RGB or greyscale).
    Python: keras_resnet.evaluate(tflite_file, data).
    """
    from keras_resnet.export.pipeline import evaluate as evaluate_model

    result = evaluate_model(model, data, split=split, limit=limit)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    top5 = f" top-5 {result['top5']:.4f}" if result["top5"] is not None else ""
    click.echo(f"top-1 {result['top1']:.4f}{top5} on {result['images']} images of {data} ({split})")
