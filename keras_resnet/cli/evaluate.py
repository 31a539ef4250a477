"""`resnet-tflite eval`: top-1/top-5 of any .tflite classifier on labelled images (no TensorFlow but for tfds:)."""
from __future__ import annotations

import os

import click

from keras_resnet.cli.options import CONTEXT
from keras_resnet.errors import cli_errors
from keras_resnet.files import write_json


@click.command("eval", context_settings=CONTEXT)
@click.argument("tflite_file")
@click.option("--data", required=True, help="Labelled images SOURCE (folder:, npz:, tfds:).")
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True)
@click.option("--limit", type=int, help="At most this many images (class-balanced).")
@cli_errors
def evaluate(tflite_file, data, split, limit):
    """Top-1/top-5 of any TFLite_FILE on labelled images; writes a .eval.json report beside it.

    Images of any size and mode are converted to the model's input (bilinear resizing; RGB or greyscale).
    """
    from keras_resnet import sources
    from keras_resnet.export.convert import evaluate_tflite, report_path
    from keras_resnet.lite.runtime import TFLiteModel
    from keras_resnet.lite.safety import check_tflite
    from keras_resnet.training.datasets import load

    sources.check(data, split, limit)
    model = TFLiteModel(check_tflite(tflite_file))
    size, channels = model.image_input(tflite_file)
    result = evaluate_tflite(model, load(data, split, limit=limit, size=size, channels=channels))
    result.update({"model": os.path.basename(tflite_file), "source": data, "split": split})
    write_json(report_path(tflite_file), result)
    top5 = f" top-5 {result['top5']:.4f}" if result["top5"] is not None else ""
    click.echo(f"top-1 {result['top1']:.4f}{top5} on {result['images']} images of {data} ({split})")
