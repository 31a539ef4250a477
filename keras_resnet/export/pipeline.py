"""Keras model to a finished .tflite file in one call (`convert`), and a .tflite file's accuracy (`evaluate`).

`convert` is everything `resnet-tflite convert` does: it checks the whole request before TensorFlow starts,
reads the data sources at the model's input size, calibrates, fine-tunes (QAT or magnitude pruning),
converts, verifies against Keras, embeds the metadata record (class names included) and writes the .tflite
file, its .json sidecar and its .eval.json report atomically. `evaluate` is `resnet-tflite eval`. Both
return what the command prints with `--json`.
"""

from __future__ import annotations

import os

from keras_resnet import sources
from keras_resnet.errors import UserError, say
from keras_resnet.export.convert import DEFAULT_CALIB_SAMPLES, IO_TYPES, MODES  # no TensorFlow at import
from keras_resnet.files import check_writable, write_bytes, write_json

__all__ = ["convert", "evaluate", "DEFAULT_CALIB_SAMPLES", "IO_TYPES", "MODES"]

SPLITS = ("test", "train")


def _is_path(model) -> bool:
    return isinstance(model, (str, os.PathLike))


def _check_request(
    model, out, mode, io_type, calib, calib_samples, qat, magnitude_prune, data, weights, preprocess
) -> None:
    """Refuse a request that cannot succeed, before TensorFlow starts (data sources: `_check_data`)."""
    from keras_resnet.models.loading import check_model_weights

    if mode not in MODES:
        raise UserError(f"mode must be one of {MODES}. Received: mode={mode!r}")
    if io_type not in IO_TYPES:
        raise UserError(f"io_type must be one of {IO_TYPES}. Received: io_type={io_type!r}")
    if not os.fspath(out).endswith(".tflite"):
        raise UserError(f"The output must name a .tflite file, e.g. model.tflite. Received: out={os.fspath(out)!r}")
    if qat and mode != "int8":
        raise UserError(f"qat=True produces an int8 model: add mode='int8'. Received: mode={mode!r} with qat=True")
    if qat and magnitude_prune is not None:
        raise UserError(
            f"Choose qat=True or magnitude_prune=SPARSITY, not both in one run. "
            f"Received: magnitude_prune={magnitude_prune!r}"
        )
    if (qat or magnitude_prune is not None) and not data:
        raise UserError("qat and magnitude_prune fine-tune the model: pass data=SOURCE. Received: data=None")
    if magnitude_prune is not None and not 0.0 <= magnitude_prune < 1.0:
        raise UserError(
            f"Pass magnitude_prune=S, a sparsity in [0, 1), e.g. 0.5. Received: magnitude_prune={magnitude_prune!r}"
        )
    if mode in ("int8", "int16x8") and not calib:
        raise UserError(
            f"mode={mode!r} needs calibration images: pass calib=SOURCE (e.g. folder:data/train). Received: calib=None"
        )
    if calib_samples is not None and calib_samples < 1:
        raise UserError(f"calib_samples must be at least 1. Received: calib_samples={calib_samples!r}")
    check_writable(out)
    if _is_path(model):
        check_model_weights(model, weights, preprocess)
    elif weights or preprocess:
        given = f"weights={weights!r}" if weights else f"preprocess={preprocess!r}"
        raise UserError(
            f"weights and preprocess apply to a registered model name, not to a model object, which "
            f"carries its own: leave them out. Received: {given}"
        )


def _check_data(calib, calib_samples, verify, limit, data, train_samples) -> None:
    """Every data source of the request can be read: checked before TensorFlow starts, read once the model
    says what size and channels its images must have."""
    for source, split, count in (
        (calib, "train", calib_samples),
        (verify, "test", limit),
        (data, "train", train_samples),
    ):
        if source:
            sources.check(source, split, count)


def _class_names(model, class_names, images):
    """The class names to record: `class_names`, else classes.txt beside a model file (a training run dir),
    else the data source's."""
    if class_names is not None:
        return [str(name) for name in class_names]
    if _is_path(model):
        candidate = os.path.join(os.path.dirname(os.path.abspath(os.fspath(model))), "classes.txt")
        if os.path.isfile(candidate):
            with open(candidate) as f:
                return [line.strip() for line in f if line.strip()]
    return images.classes if images is not None else None


def _fine_tuned(net, tuning, qat, sparsity, epochs, lr, two_four, report):
    """(the model to record, the model to convert): the QAT model, the magnitude-pruned one, or `net`."""
    from keras_resnet.export import convert as conv
    from keras_resnet.export import model_optimization

    if qat:
        return net, model_optimization.quantization_aware(net, tuning, epochs, lr or model_optimization.QAT_LR)
    pruned = model_optimization.magnitude_prune(
        net, tuning, sparsity, epochs, lr or model_optimization.MAGNITUDE_PRUNE_LR, two_four=two_four
    )
    report["sparsity"] = conv.kernel_sparsity(pruned)
    return pruned, pruned


def convert(
    model,
    out,
    *,
    mode: str = "float32",
    io_type: str = "int8",
    calib: str | None = None,
    calib_samples: int = DEFAULT_CALIB_SAMPLES,
    verify: str | None = None,
    limit: int | None = None,
    qat: bool = False,
    magnitude_prune: float | None = None,
    two_four: bool = False,
    data: str | None = None,
    epochs: int = 1,
    lr: float | None = None,
    train_samples: int | None = None,
    input_size: int | None = None,
    weights: str | None = None,
    preprocess: str | None = None,
    class_names=None,
    unsafe_load: bool = False,
    fold: bool = False,
    strip: bool = False,
) -> dict:
    """Convert a Keras model to a TFLite file `out`, with its metadata, sidecar and verification.

    Writes `out` (the metadata record embedded), its `.json` sidecar (the same record) and, with `verify`,
    `qat` or `magnitude_prune`, a `.eval.json` report, each atomically. Images of any size and mode are
    converted to the model's input. Progress lines go to stderr.

    Example:
        >>> keras_resnet.convert("resnet20", "r20.tflite", weights="cifar10", mode="int8",
        ...                      calib="folder:cifar10-jpg", verify="folder:cifar10-jpg", limit=1000)

    Args:
        model: A Keras model object, a Keras model file (.keras, .h5) or a registered model name.
        out: The .tflite file to write.
        mode: "float32", "int8" (full integer), "fp16", "dynamic" (int8 weights) or "int16x8".
        io_type: Input/output type of int8 models: "int8", "uint8" (Edge TPU-style pipelines) or "float".
        calib: Calibration data source (folder:PATH, npz:PATH, tfds:NAME), its train split; needed for int8
            and int16x8.
        calib_samples: Class-balanced calibration images.
        verify: Source whose test split Keras and TFLite are compared on.
        limit: At most this many verification images.
        qat: Quantization-aware training on `data` before int8 conversion (needs mode="int8").
        magnitude_prune: Zero this fraction of the weights, fine-tuning on `data` (layers keep their widths).
        two_four: With `magnitude_prune`: 2:4 structured sparsity.
        data: Fine-tuning data source for `qat` and `magnitude_prune` (train split).
        epochs: Fine-tuning epochs.
        lr: Fine-tuning learning rate (default: QAT_LR or MAGNITUDE_PRUNE_LR of
            `keras_resnet.export.model_optimization`).
        train_samples: At most this many fine-tuning images (class-balanced).
        input_size: For a model that takes any image size: the square input side to convert it for.
        weights: For a registered name: published weights ("imagenet", "imagenet-v2", "cifar10") or a file.
        preprocess: For a registered name: the normalisation folded into the graph.
        class_names: The class names to record; default: classes.txt beside a model file (a training run
            dir), else the classes of `verify`'s or `calib`'s data.
        unsafe_load: Allow Lambda layers in a model file (their code runs: only for files you trust).
        fold: For a microcontroller: fold the input normalisation into the first convolution
            (`keras_resnet.export.fold`: no SUB and MUL over the input pixels, a PADV2 instead, which the
            Edge TPU does not run; the first feature map's border changes a little). mode="int8" only.
        strip: Leave out what a microcontroller never reads (`keras_resnet.lite.strip`: tensor names,
            signatures, metadata); the record is then in the sidecar only.

    Returns:
        The metadata record written to the sidecar (format, model, mode, io, input and output quantization,
        classes, preprocessing, calibration, converter), plus `out`, `bytes`, `sidecar`, `eval_report` (the
        .eval.json path or None) and, when computed, `verification`, `sparsity`, `gzip_bytes` and
        `latency_p50_ms_1thread`.

    Raises:
        UserError: a request that cannot succeed (bad argument, unreadable data, unwritable output), named
            by its argument, before TensorFlow starts whenever it can be.
    """
    out = os.fspath(out)
    tune = qat or magnitude_prune is not None
    _check_request(model, out, mode, io_type, calib, calib_samples, qat, magnitude_prune, data, weights, preprocess)
    if fold and (mode != "int8" or tune):
        raise UserError(
            f"fold=True folds the normalisation for a full-integer model converted as it is: use it with "
            f"mode='int8' and without qat or magnitude_prune. Received: fold=True, mode={mode!r}"
        )
    _check_data(calib, calib_samples, verify, limit, data if tune else None, train_samples)

    from keras_resnet.export import convert as conv
    from keras_resnet.export.fold import fold_normalization
    from keras_resnet.lite import metadata
    from keras_resnet.lite.strip import strip_strings
    from keras_resnet.models.loading import open_model
    from keras_resnet.training.datasets import load

    net = open_model(model, weights, preprocess, unsafe_load) if _is_path(model) else model
    shape = conv.model_input_shape(net, input_size)
    view = {"size": shape[:2], "channels": shape[2]}
    calib_images = load(calib, "train", limit=calib_samples, **view) if calib else None
    test = load(verify, "test", limit=limit, **view) if verify else None
    tuning = load(data, "train", limit=train_samples, **view) if tune else None
    calibration = representative = None
    if calib:
        say(f"calibrating on {len(calib_images)} images of {calib} (train split)")
        representative = conv.representative_from(calib_images.x)
        calibration = {"source": calib, "split": "train", "samples": len(calib_images)}
    report, to_convert = {}, net
    if tune:
        say(f"fine-tuning on {len(tuning)} images of {data} for {epochs} epoch(s)")
        net, to_convert = _fine_tuned(net, tuning, qat, magnitude_prune, epochs, lr, two_four, report)
    folded_into = None
    if fold:
        to_convert, folded_into = fold_normalization(to_convert)
        if folded_into:
            say(f"folded the input normalisation into {folded_into}")
    say(f"converting {net.name} to {mode}")
    tflite = conv.convert_keras(to_convert, mode, representative, io_type, input_size)
    classes = _class_names(model, class_names, test or calib_images or tuning)
    record = conv.build_record(net, tflite, mode, io_type, classes, calibration)
    record["preprocessing"]["folded_into"] = folded_into
    record["stripped"] = strip
    if verify:
        say(f"verifying on {verify} (test split)")
        report["verification"] = {**conv.verify(to_convert, tflite, test), "source": verify}
    tflite = strip_strings(tflite) if strip else metadata.embed(tflite, record)
    write_bytes(out, tflite)
    write_json(metadata.sidecar_path(out), record)
    if report:
        report = {
            **report,
            "model": os.path.basename(out),
            "mode": mode,
            **conv.file_sizes(tflite),
            "latency_p50_ms_1thread": conv.median_latency_ms(tflite),
        }
        write_json(conv.report_path(out), report)
    extra = {key: value for key, value in report.items() if key not in ("model", "mode", "bytes")}
    return {
        **record,
        "out": out,
        "bytes": len(tflite),
        "sidecar": metadata.sidecar_path(out),
        "eval_report": conv.report_path(out) if report else None,
        **extra,
    }


def evaluate(model, data: str, *, split: str = "test", limit: int | None = None) -> dict:
    """Top-1/top-5 of a .tflite classifier on labelled images; writes a .eval.json report beside it.

    Images of any size and mode are converted to the model's input (bilinear resizing; RGB or greyscale).
    Only a tfds: source needs TensorFlow.

    Args:
        model: The .tflite file.
        data: Labelled images: folder:PATH, npz:PATH or tfds:NAME[:SPLIT].
        split: "test" or "train".
        limit: At most this many images (class-balanced).

    Returns:
        {"top1", "top5" (None for fewer than 5 classes), "images", "model" (the file's name), "source",
        "split", "eval_report" (the path of the report written)}.

    Raises:
        UserError: an unreadable or damaged .tflite file, a model that is no classifier, or data that cannot
            be read.
    """
    from keras_resnet.export.convert import evaluate_tflite, report_path
    from keras_resnet.lite.runtime import TFLiteModel
    from keras_resnet.lite.safety import check_tflite
    from keras_resnet.training.datasets import load

    if split not in SPLITS:
        raise UserError(f"split must be one of {SPLITS}. Received: split={split!r}")
    if limit is not None and limit < 1:
        raise UserError(f"limit must be at least 1 (or None for every image). Received: limit={limit!r}")
    model = os.fspath(model)
    sources.check(data, split, limit)
    runtime = TFLiteModel(check_tflite(model))
    size, channels = runtime.image_input(model)
    result = evaluate_tflite(runtime, load(data, split, limit=limit, size=size, channels=channels))
    result.update({"model": os.path.basename(model), "source": data, "split": split})
    write_json(report_path(model), result)
    return {**result, "eval_report": report_path(model)}
