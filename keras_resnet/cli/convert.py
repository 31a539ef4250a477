"""`resnet-tflite convert`: a Keras model (file or registered name) to TFLite, a thin wrapper over
`keras_resnet.export.pipeline.convert`, which refuses every mistake in the request before TensorFlow starts."""

from __future__ import annotations

import functools
import json
import re

import click

from keras_resnet.cli.options import (
    CONTEXT,
    command_errors,
    data_option,
    input_size_option,
    json_option,
    limit_option,
    strip_option,
    unsafe_load_option,
    weights_option,
)
from keras_resnet.errors import UserError
from keras_resnet.export.convert import DEFAULT_CALIB_SAMPLES, IO_TYPES, MODES
from keras_resnet.export.model_optimization import MAGNITUDE_PRUNE_LR, QAT_LR

MODE_FLAGS = tuple(mode for mode in MODES if mode != "float32")  # float32 is the default: no flag
DEPRECATED_PRUNE = (
    "warning: --prune is now --magnitude-prune (it zeroes weights; `resnet-tflite prune` "
    "removes whole filters); --prune still works for now"
)


def _mode(flags: dict) -> str:
    chosen = [name for name in MODE_FLAGS if flags[name]]
    if len(chosen) > 1:
        raise UserError(f"Choose one conversion mode; got {' and '.join('--' + c for c in chosen)}.")
    return chosen[0] if chosen else "float32"


def _sparsity(sparsity, old_spelling):
    """The --magnitude-prune sparsity, also given by its deprecated spelling --prune (with a warning)."""
    if old_spelling is None:
        return sparsity
    click.echo(DEPRECATED_PRUNE, err=True)
    if sparsity is not None:
        raise UserError("Give --magnitude-prune once (--prune is its old name).")
    return old_spelling


def _mode_as_flags(func):
    """The library names the mode as `mode='int8'`; this command spells it as its flag (--int8)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except UserError as err:
            text = re.sub(r"mode='float32'", "float32 (no mode flag)", str(err))
            text = re.sub(r"mode='(\w+)'", r"--\1", text)
            if text == str(err):
                raise
            raise UserError(text) from err

    return wrapper


def _summary(result: dict) -> str:
    inp = result["input"]
    lines = [
        f"wrote {result['out']} ({result['bytes']:,} bytes, {result['mode']}); input {inp['dtype']} "
        f"{inp['shape']} scale {inp['scale']:.6g} zero point {inp['zero_point']}"
    ]
    verification = result.get("verification")
    if verification:
        lines.append(
            f"top-1 keras {verification['keras']['top1']:.4f} tflite {verification['tflite']['top1']:.4f} "
            f"agreement {verification['agreement_top1']:.4f} on {verification['keras']['images']} images"
        )
    if "sparsity" in result:
        lines.append(f"sparsity {result['sparsity']:.3f}; gzip {result['gzip_bytes']:,} bytes")
    return "\n".join(lines)


@click.command(context_settings=CONTEXT)
@click.argument("model")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output .tflite file.")
@click.option("--int8", is_flag=True, help="Full-integer: int8 weights and activations, int8 builtins only.")
@click.option("--fp16", is_flag=True, help="float16 weights.")
@click.option("--dynamic", is_flag=True, help="Dynamic-range: int8 weights, float activations.")
@click.option("--int16x8", is_flag=True, help="int16 activations, int8 weights.")
@click.option(
    "--io",
    "io_type",
    type=click.Choice(IO_TYPES),
    default=IO_TYPES[0],
    show_default=True,
    help="Input/output type of --int8 models (uint8 for Edge TPU-style pipelines).",
)
@click.option("--calib", help="Calibration data SOURCE (folder:, npz:, tfds:); its training split is used.")
@click.option(
    "--calib-samples",
    type=click.IntRange(min=1),
    default=DEFAULT_CALIB_SAMPLES,
    show_default=True,
    help="Class-balanced images.",
)
@click.option("--verify", help="Evaluate Keras vs TFLite on this SOURCE's test split.")
@limit_option()
@click.option("--qat", is_flag=True, help="Quantization-aware training on --data before int8 conversion.")
@click.option(
    "--magnitude-prune",
    type=float,
    help="Zero this fraction of the weights (magnitude pruning), fine-tuning on --data; the layers "
    "keep their widths (`resnet-tflite prune` removes whole filters).",
)
@click.option("--prune", "old_sparsity", type=float, hidden=True, help="Old name of --magnitude-prune.")
@click.option("--two-four", is_flag=True, help="With --magnitude-prune: 2:4 structured sparsity.")
@data_option("Fine-tuning data for --qat / --magnitude-prune (training split)")
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Fine-tuning epochs for --qat / --magnitude-prune.",
)
@click.option(
    "--lr",
    type=float,
    help=f"Fine-tuning learning rate (default {QAT_LR:g} for QAT, {MAGNITUDE_PRUNE_LR:g} for magnitude pruning).",
)
@click.option(
    "--train-samples", type=click.IntRange(min=1), help="At most this many fine-tuning images (class-balanced)."
)
@input_size_option()
@weights_option()
@click.option(
    "--preprocess",
    help="For a registered name: cifar10, imagenet, unit, caffe or tf, folded into the "
    "graph (published --weights set their own).",
)
@click.option(
    "--fold",
    is_flag=True,
    help="With --int8, for a microcontroller: fold the input normalisation into the first convolution (no SUB "
    "and MUL over the pixels; a PADV2, which the Edge TPU does not run; the border changes a little).",
)
@strip_option()
@unsafe_load_option()
@json_option()
@command_errors
@_mode_as_flags
def convert(model, old_sparsity, magnitude_prune, as_json, int8, fp16, dynamic, int16x8, **options):
    """Convert MODEL (.keras, .h5, or a registered name) to a TFLite file OUT.

    Example: resnet-tflite convert resnet20 --weights cifar10 --int8 --calib folder:cifar10-jpg --out r20.tflite

    Writes OUT, OUT's .json sidecar (quantization, classes, preprocessing) and, with --verify or
    --qat/--magnitude-prune, a .eval.json report. Every file is written atomically. Images of any size and
    mode are converted to the model's input (bilinear resizing; RGB or greyscale).
    Python: keras_resnet.convert(model, out, mode=..., calib=..., verify=...).
    """
    mode = _mode({"int8": int8, "fp16": fp16, "dynamic": dynamic, "int16x8": int16x8})
    magnitude_prune = _sparsity(magnitude_prune, old_sparsity)
    from keras_resnet.export.pipeline import convert as convert_model

    result = convert_model(model, mode=mode, magnitude_prune=magnitude_prune, **options)
    click.echo(json.dumps(result, indent=2) if as_json else _summary(result))
