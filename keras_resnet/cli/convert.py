"""`resnet-tflite convert`: a Keras model (file or registered name) to TFLite, a thin wrapper over
`keras_resnet.export`. Every mistake in the request is refused before TensorFlow starts."""
from __future__ import annotations

import os

import click

from keras_resnet.cli.options import CONTEXT, check_model_weights, open_model
from keras_resnet.errors import UserError, cli_errors
from keras_resnet.export.convert import DEFAULT_CALIB_SAMPLES, IO_TYPES, MODES
from keras_resnet.export.model_optimization import MAGNITUDE_PRUNE_LR, QAT_LR
from keras_resnet.files import check_writable, write_bytes, write_json

MODE_FLAGS = tuple(mode for mode in MODES if mode != "float32")  # float32 is the default: no flag
DEPRECATED_PRUNE = ("warning: --prune is now --magnitude-prune (it zeroes weights; `resnet-tflite prune` "
                    "removes whole filters); --prune still works for now")


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


def _check_request(model, out, mode, calib, qat, sparsity, data, weights, preprocess) -> None:
    """Refuse a request that cannot succeed, before TensorFlow starts (the data sources: `_check_data`)."""
    if not out.endswith(".tflite"):
        raise UserError(f"--out must name a .tflite file, e.g. model.tflite. Received: {out}")
    if qat and mode != "int8":
        raise UserError("--qat produces an int8 model: add --int8.")
    if (qat or sparsity is not None) and not data:
        raise UserError("--qat and --magnitude-prune fine-tune the model: pass --data SOURCE.")
    if qat and sparsity is not None:
        raise UserError("Choose --qat or --magnitude-prune, not both in one run.")
    if sparsity is not None and not 0.0 <= sparsity < 1.0:
        raise UserError(f"--magnitude-prune takes a sparsity in [0, 1), e.g. 0.5. Received: {sparsity}")
    if mode in ("int8", "int16x8") and not calib:
        raise UserError(f"--{mode} needs calibration images: pass --calib SOURCE (e.g. folder:data/train).")
    check_writable(out)
    check_model_weights(model, weights, preprocess)


def _check_data(calib, calib_samples, verify_source, limit, data, train_samples) -> None:
    """Every data source of the request can be read: checked before TensorFlow starts, read once the model
    says what size and channels its images must have."""
    from keras_resnet import sources

    for source, split, count in ((calib, "train", calib_samples), (verify_source, "test", limit),
                                 (data, "train", train_samples)):
        if source:
            sources.check(source, split, count)


def _classes(model_path: str, images):
    """Class names: classes.txt beside the model (a training run dir), else the data source's."""
    candidate = os.path.join(os.path.dirname(os.path.abspath(model_path)), "classes.txt")
    if os.path.isfile(candidate):
        return [line.strip() for line in open(candidate) if line.strip()]
    return images.classes if images is not None else None


def _fine_tuned(net, tuning, qat, sparsity, epochs, lr, two_four, report):
    """(the model to record, the model to convert): the QAT model, the magnitude-pruned one, or `net`."""
    from keras_resnet.export import convert as conv
    from keras_resnet.export import model_optimization

    if qat:
        return net, model_optimization.quantization_aware(net, tuning, epochs, lr or QAT_LR)
    pruned = model_optimization.magnitude_prune(net, tuning, sparsity, epochs, lr or MAGNITUDE_PRUNE_LR,
                                                two_four=two_four)
    report["sparsity"] = conv.kernel_sparsity(pruned)
    return pruned, pruned


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


@click.command(context_settings=CONTEXT)
@click.argument("model")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Output .tflite file.")
@click.option("--int8", is_flag=True, help="Full-integer: int8 weights and activations, int8 builtins only.")
@click.option("--fp16", is_flag=True, help="float16 weights.")
@click.option("--dynamic", is_flag=True, help="Dynamic-range: int8 weights, float activations.")
@click.option("--int16x8", is_flag=True, help="int16 activations, int8 weights.")
@click.option("--io", "io_type", type=click.Choice(IO_TYPES), default=IO_TYPES[0], show_default=True,
              help="Input/output type of --int8 models (uint8 for Edge TPU-style pipelines).")
@click.option("--calib", help="Calibration data SOURCE (folder:, npz:, tfds:); its training split is used.")
@click.option("--calib-samples", type=click.IntRange(min=1), default=DEFAULT_CALIB_SAMPLES, show_default=True,
              help="Class-balanced images.")
@click.option("--verify", "verify_source", help="Evaluate Keras vs TFLite on this SOURCE's test split.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many verification images.")
@click.option("--qat", is_flag=True, help="Quantization-aware training on --data before int8 conversion.")
@click.option("--magnitude-prune", "sparsity", type=float,
              help="Zero this fraction of the weights (magnitude pruning), fine-tuning on --data; the layers "
                   "keep their widths (`resnet-tflite prune` removes whole filters).")
@click.option("--prune", "old_sparsity", type=float, hidden=True, help="Old name of --magnitude-prune.")
@click.option("--two-four", is_flag=True, help="With --magnitude-prune: 2:4 structured sparsity.")
@click.option("--data", help="Fine-tuning data SOURCE for --qat / --magnitude-prune (training split).")
@click.option("--epochs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Fine-tuning epochs for --qat / --magnitude-prune.")
@click.option("--lr", type=float, help=f"Fine-tuning learning rate (default {QAT_LR:g} for QAT, "
                                       f"{MAGNITUDE_PRUNE_LR:g} for magnitude pruning).")
@click.option("--train-samples", type=click.IntRange(min=1),
              help="At most this many fine-tuning images (class-balanced).")
@click.option("--input-size", type=click.IntRange(min=1), help="For a model that takes any image size: the square "
              "input side to convert it for.")
@click.option("--weights", help="For a registered model name: published weights (imagenet, imagenet-v2, cifar10; "
              "downloaded once into ~/.keras/models) or a weights file.")
@click.option("--preprocess", help="For a registered name: cifar10, imagenet, unit, caffe or tf, folded into the "
              "graph (published --weights set their own).")
@click.option("--unsafe-load", is_flag=True, help="Allow Lambda layers in a .keras file (runs its code).")
@cli_errors
def convert(model, out, io_type, calib, calib_samples, verify_source, limit, qat, sparsity, old_sparsity, two_four,
            data, epochs, lr, train_samples, input_size, weights, preprocess, unsafe_load, **flags):
    """Convert MODEL (.keras, .h5, or a registered name) to a TFLite file OUT.

    Example: resnet-tflite convert resnet20 --weights cifar10 --int8 --calib folder:cifar10-jpg --out r20.tflite

    Writes OUT, OUT's .json sidecar (quantization, classes, preprocessing) and, with --verify or
    --qat/--magnitude-prune, a .eval.json report. Every file is written atomically. Images of any size and
    mode are converted to the model's input (bilinear resizing; RGB or greyscale).
    """
    mode, sparsity = _mode(flags), _sparsity(sparsity, old_sparsity)
    tune = qat or sparsity is not None
    _check_request(model, out, mode, calib, qat, sparsity, data, weights, preprocess)
    _check_data(calib, calib_samples, verify_source, limit, data if tune else None, train_samples)

    from keras_resnet.export import convert as conv
    from keras_resnet.lite import metadata
    from keras_resnet.training.datasets import load

    net = open_model(model, weights, preprocess, unsafe_load)
    shape = conv.model_input_shape(net, input_size)
    view = {"size": shape[:2], "channels": shape[2]}
    calib_images = load(calib, "train", limit=calib_samples, **view) if calib else None
    test = load(verify_source, "test", limit=limit, **view) if verify_source else None
    tuning = load(data, "train", limit=train_samples, **view) if tune else None
    calibration = representative = None
    if calib:
        click.echo(f"calibrating on {len(calib_images)} images of {calib} (train split)", err=True)
        representative = conv.representative_from(calib_images.x)
        calibration = {"source": calib, "split": "train", "samples": len(calib_images)}
    report, to_convert = {}, net
    if tune:
        click.echo(f"fine-tuning on {len(tuning)} images of {data} for {epochs} epoch(s)", err=True)
        net, to_convert = _fine_tuned(net, tuning, qat, sparsity, epochs, lr, two_four, report)
    click.echo(f"converting {net.name} to {mode}", err=True)
    tflite = conv.convert_keras(to_convert, mode, representative, io_type, input_size)
    record = conv.build_record(net, tflite, mode, io_type, _classes(model, test or calib_images), calibration)
    if verify_source:
        click.echo(f"verifying on {verify_source} (test split)", err=True)
        report["verification"] = {**conv.verify(to_convert, tflite, test), "source": verify_source}
    tflite = metadata.embed(tflite, record)
    write_bytes(out, tflite)
    write_json(conv.sidecar_path(out), record)
    if report:
        report = {**report, "model": os.path.basename(out), "mode": mode, **conv.file_sizes(tflite),
                  "latency_p50_ms_1thread": conv.median_latency_ms(tflite)}
        write_json(conv.report_path(out), report)
    click.echo(_summary(out, tflite, record, report))
