"""`resnet-tflite convert` and `resnet-tflite eval`: thin wrappers over keras_resnet.convert."""
from __future__ import annotations

import json
import os

import click

from keras_resnet.cli import CONTEXT, check_model_argument
from keras_resnet.errors import UserError, cli_errors

MODE_FLAGS = ("int8", "fp16", "dynamic", "int16x8")


def _mode(flags: dict) -> str:
    chosen = [name for name in MODE_FLAGS if flags[name]]
    if len(chosen) > 1:
        raise UserError(f"Choose one conversion mode; got {' and '.join('--' + c for c in chosen)}.")
    return chosen[0] if chosen else "float32"


def _load(model: str, weights, preprocess, unsafe: bool):
    """A Keras model from a file or a registered name (+ --weights); MODEL was checked by the caller."""
    from keras_resnet.io import load_keras_model

    if os.path.exists(model):
        return load_keras_model(model, unsafe=unsafe)
    from keras_resnet.models import create_model

    return create_model(model, weights=weights, preprocess=preprocess)


def _classes(model_path: str, images):
    """Class names: classes.txt beside the model (a training run dir), else the data source's."""
    candidate = os.path.join(os.path.dirname(os.path.abspath(model_path)), "classes.txt")
    if os.path.isfile(candidate):
        return [line.strip() for line in open(candidate) if line.strip()]
    return images.classes if images is not None else None


def _write_json(path, data):
    from keras_resnet.io import write_text

    write_text(path, json.dumps(data, indent=2) + "\n")


@click.command(context_settings=CONTEXT)
@click.argument("model")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Output .tflite file.")
@click.option("--int8", is_flag=True, help="Full-integer: int8 weights and activations, int8 builtins only.")
@click.option("--fp16", is_flag=True, help="float16 weights.")
@click.option("--dynamic", is_flag=True, help="Dynamic-range: int8 weights, float activations.")
@click.option("--int16x8", is_flag=True, help="int16 activations, int8 weights.")
@click.option("--io", "io_type", type=click.Choice(["int8", "uint8", "float"]), default="int8", show_default=True,
              help="Input/output type of --int8 models (uint8 for Edge TPU-style pipelines).")
@click.option("--calib", help="Calibration data SOURCE (folder:, npz:, tfds:); its training split is used.")
@click.option("--calib-samples", type=click.IntRange(min=1), default=300, show_default=True,
              help="Class-balanced images.")
@click.option("--verify", "verify_source", help="Evaluate Keras vs TFLite on this SOURCE's test split.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many verification images.")
@click.option("--qat", is_flag=True, help="Quantization-aware training on --data before int8 conversion.")
@click.option("--prune", "sparsity", type=float, help="Magnitude-prune to this sparsity, fine-tuning on --data.")
@click.option("--two-four", is_flag=True, help="With --prune: 2:4 structured sparsity.")
@click.option("--data", help="Fine-tuning data SOURCE for --qat / --prune (training split).")
@click.option("--epochs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Fine-tuning epochs for --qat / --prune.")
@click.option("--lr", type=float, help="Fine-tuning learning rate (default 1e-3 for QAT, 1e-2 for pruning).")
@click.option("--train-samples", type=click.IntRange(min=1),
              help="At most this many fine-tuning images (class-balanced).")
@click.option("--weights", help="Weights file for a registered model name.")
@click.option("--preprocess", help="For a registered name: cifar10, imagenet or unit, folded into the graph.")
@click.option("--unsafe-load", is_flag=True, help="Allow Lambda layers in a .keras file (runs its code).")
@cli_errors
def convert(model, out, io_type, calib, calib_samples, verify_source, limit, qat, sparsity, two_four, data,
            epochs, lr, train_samples, weights, preprocess, unsafe_load, **flags):
    """Convert MODEL (.keras, .h5, or a registered name) to a TFLite file OUT.

    Writes OUT, OUT's .json sidecar (quantization, classes, preprocessing) and, with --verify or
    --qat/--prune, a .eval.json report. Every file is written atomically.
    """
    from keras_resnet import convert as conv
    from keras_resnet import metadata, sources
    from keras_resnet.io import check_writable, readable_file, write_bytes

    mode = _mode(flags)
    if not out.endswith(".tflite"):
        raise UserError(f"--out must name a .tflite file, e.g. model.tflite. Received: {out}")
    if qat and mode != "int8":
        raise UserError("--qat produces an int8 model: add --int8.")
    if (qat or sparsity is not None) and not data:
        raise UserError("--qat and --prune fine-tune the model: pass --data SOURCE.")
    if qat and sparsity is not None:
        raise UserError("Choose --qat or --prune, not both in one run.")
    if sparsity is not None and not 0.0 <= sparsity < 1.0:
        raise UserError(f"--prune takes a sparsity in [0, 1), e.g. 0.5. Received: {sparsity}")
    if mode in ("int8", "int16x8") and not calib:
        raise UserError(f"--{mode} needs calibration images: pass --calib SOURCE (e.g. folder:data/train).")
    check_writable(out)
    if check_model_argument(model) and (weights or preprocess):
        raise UserError("--weights and --preprocess apply to a registered model name, not to a model file.")
    if weights:
        readable_file(weights, "Weights file")
    # Data is read before the model is built, so a bad source fails before TensorFlow starts
    calib_images = sources.load(calib, "train", limit=calib_samples) if calib else None
    test = sources.load(verify_source, "test", limit=limit) if verify_source else None
    tuning = sources.load(data, "train", limit=train_samples) if qat or sparsity is not None else None

    net = _load(model, weights, preprocess, unsafe_load)
    shape = conv.model_input_shape(net)
    for images, what in ((calib_images, "Calibration"), (test, "Verification"), (tuning, "Fine-tuning")):
        if images is not None:
            conv.check_images_fit(images.x, shape, what)
    calibration = representative = None
    if calib:
        click.echo(f"calibrating on {len(calib_images)} images of {calib} (train split)", err=True)
        representative = conv.representative_from(calib_images.x)
        calibration = {"source": calib, "split": "train", "samples": len(calib_images)}
    report = {}
    to_convert = net
    if qat or sparsity is not None:
        from keras_resnet import optimize

        click.echo(f"fine-tuning on {len(tuning)} images of {data} for {epochs} epoch(s)", err=True)
        if qat:
            to_convert = optimize.quantization_aware(net, tuning, epochs, lr or 1e-3)
        else:
            net = optimize.prune(net, tuning, sparsity, epochs, lr or 1e-2, two_four=two_four)
            to_convert = net
            report["sparsity"] = conv.kernel_sparsity(net)
    click.echo(f"converting {net.name} to {mode}", err=True)
    tflite = conv.convert_keras(to_convert, mode, representative, io_type)
    record = conv.build_record(net, tflite, mode, io_type, None, calibration)
    verification = None
    if verify_source:
        click.echo(f"verifying on {verify_source} (test split)", err=True)
        verification = conv.verify(to_convert, tflite, test)  # against the fine-tuned model, if any
        verification["source"] = verify_source
    record["classes"] = _classes(model, test or calib_images)
    tflite = metadata.embed(tflite, record)
    write_bytes(out, tflite)
    _write_json(conv.sidecar_path(out), record)
    if verification or report:
        report.update({"model": os.path.basename(out), "mode": mode, **conv.file_sizes(tflite),
                       "latency_p50_ms_1thread": conv.median_latency_ms(tflite)})
        if verification:
            report["verification"] = verification
        _write_json(conv.report_path(out), report)
    click.echo(_summary(out, tflite, record, report))


def _summary(out, tflite, record, report) -> str:
    inp = record["input"]
    lines = [f"wrote {out} ({len(tflite):,} bytes, {record['mode']}); input {inp['dtype']} {inp['shape']} "
             f"scale {inp['scale']:.6g} zero point {inp['zero_point']}"]
    verification = report.get("verification")
    if verification:
        lines.append(f"top-1 keras {verification['keras']['top1']:.4f} tflite {verification['tflite']['top1']:.4f} "
                     f"agreement {verification['agreement_top1']:.4f} on {verification['keras']['images']} images")
    if "sparsity" in report:
        lines.append(f"sparsity {report['sparsity']:.3f}; gzip {report['gzip_bytes']:,} bytes")
    return "\n".join(lines)


@click.command("eval", context_settings=CONTEXT)
@click.argument("tflite_file")
@click.option("--data", required=True, help="Labelled images SOURCE (folder:, npz:, tfds:).")
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True)
@click.option("--limit", type=int, help="At most this many images (class-balanced).")
@cli_errors
def evaluate(tflite_file, data, split, limit):
    """Top-1/top-5 of any TFLite_FILE on labelled images; writes a .eval.json report beside it."""
    from keras_resnet import convert as conv
    from keras_resnet import sources
    from keras_resnet.io import readable_file
    from keras_resnet.tflite_check import check_tflite

    readable_file(tflite_file, "TFLite file")
    check_tflite(tflite_file)
    images = sources.load(data, split, limit=limit)
    result = conv.evaluate_tflite(tflite_file, images)
    result.update({"model": os.path.basename(tflite_file), "source": data, "split": split})
    _write_json(conv.report_path(tflite_file), result)
    top5 = f" top-5 {result['top5']:.4f}" if "top5" in result else ""
    click.echo(f"top-1 {result['top1']:.4f}{top5} on {result['images']} images of {data} ({split})")
