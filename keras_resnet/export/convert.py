"""Keras -> TFLite: float32, fp16, dynamic-range, full-integer int8 and int16x8; QAT, pruning, verification.

The converted model takes raw pixels (preprocessing is part of the Keras graph) and carries a metadata
record (input quantization, classes, preprocessing, provenance) embedded and as a JSON sidecar.
"""

from __future__ import annotations

import gzip
import os
import tempfile

import numpy as np

from keras_resnet import sources
from keras_resnet.device.statistics import interleaved, summarize
from keras_resnet.errors import UserError
from keras_resnet.lite.accuracy import topk
from keras_resnet.lite.runtime import TFLiteModel
from keras_resnet.training import datasets

MODES = ("float32", "int8", "fp16", "dynamic", "int16x8")
IO_TYPES = ("int8", "uint8", "float")
DEFAULT_CALIB_SAMPLES = 300


def _converter(model, input_size):
    """A TFLiteConverter for a Keras 3 model, a tf_keras model, or a SavedModel directory; returns
    (converter, temporary directory to clean up or None).

    A Keras 3 model is exported (quietly, as a SavedModel) with a static input of batch 1: left unknown, the
    batch makes the converter compute shapes at run time, so a `Flatten` becomes SHAPE, STRIDED_SLICE and
    PACK before its RESHAPE, which the Edge TPU cuts the graph at and TFLite-Micro needs three more kernels
    for. With it fixed, every static layer converts to static operators. tf_keras models (TFMOT's) convert
    from the model, which already fixes the batch at 1.
    """
    import tensorflow as tf

    if isinstance(model, (str, os.PathLike)):
        return tf.lite.TFLiteConverter.from_saved_model(os.fspath(model)), None
    if type(model).__module__.startswith("tf_keras"):
        return tf.lite.TFLiteConverter.from_keras_model(model), None
    signature = [tf.TensorSpec((1, *_static_input_shape(model, input_size)), model.inputs[0].dtype)]
    tmp = tempfile.TemporaryDirectory(prefix="resnet-export-")
    model.export(tmp.name, format="tf_saved_model", verbose=False, input_signature=signature)
    return tf.lite.TFLiteConverter.from_saved_model(tmp.name), tmp


def convert_keras(
    model, mode: str = "float32", representative=None, io: str = "int8", input_size: int | None = None
) -> bytes:
    """Convert a Keras model (or SavedModel path) to TFLite bytes, with a static input of batch 1.

    mode: one of MODES. For int8 and int16x8, `representative` is a zero-argument callable yielding
    calibration batches [x] (float pixels as the model takes them). `io` picks the input/output type of
    int8 models: "int8" (default), "uint8" (Edge TPU-style pipelines) or "float" (quantize inside).
    `input_size`: the square input side for a model that takes any size (None in its input shape).
    """
    import tensorflow as tf

    if mode not in MODES:
        raise UserError(f"mode must be one of {MODES}. Received: mode={mode!r}")
    if io not in IO_TYPES:
        raise UserError(f"io must be one of {IO_TYPES}. Received: io={io!r}")
    converter, tmp = _converter(model, input_size)
    try:
        if mode != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "fp16":
            converter.target_spec.supported_types = [tf.float16]
        if mode in ("int8", "int16x8"):
            if representative is None:
                raise UserError(
                    f"mode={mode!r} conversion needs calibration data: pass representative=CALLABLE "
                    f"(representative_from(images)). Received: representative=None"
                )
            converter.representative_dataset = representative
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.TFLITE_BUILTINS_INT8
                if mode == "int8"
                else tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
            ]
        if mode == "int8" and io != "float":
            converter.inference_input_type = converter.inference_output_type = getattr(tf, io)
        return converter.convert()
    finally:
        if tmp is not None:
            tmp.cleanup()


def _static_input_shape(model, input_size: int | None) -> tuple:
    """The input shape (without the batch) to export: an image's, or any other input's if fully known."""
    shape = tuple(model.inputs[0].shape[1:])
    if len(shape) == 3:
        return model_input_shape(model, input_size)
    if None in shape:
        raise UserError(
            f"{model.name} takes inputs of shape {shape}, not fully known: convert a model whose "
            f"input shape is fixed. Received: a model with input {shape}"
        )
    return shape


def model_input_shape(model, input_size: int | None = None) -> tuple:
    """(height, width, channels) the model takes; `input_size` fixes the sides a model leaves open (None)."""
    shape = tuple(model.inputs[0].shape[1:])
    if len(shape) != 3:
        raise UserError(
            f"{model.name} takes inputs of shape {shape}, not images (height, width, channels): "
            f"convert an image classifier. Received: a model with input {shape}"
        )
    height, width, channels = shape
    if input_size is not None and None not in (height, width) and (height, width) != (input_size, input_size):
        raise UserError(
            f"{model.name} takes {height}x{width} images; input_size is for models that take any "
            f"size: leave it out. Received: input_size={input_size}"
        )
    if None in (height, width) and input_size is None:
        raise UserError(
            f"{model.name} takes images of any size: give the size to convert it for with "
            f"input_size=N. Received: input_size=None (the model's input is {shape})"
        )
    return (height or input_size, width or input_size, channels)


def calibration_data(source, shape, samples: int = DEFAULT_CALIB_SAMPLES, split: str = "train"):
    """Class-balanced calibration images from the training split of `source`, as a model of input `shape`
    = (height, width, channels) takes them (any image size and mode is converted)."""
    if samples < 1:
        raise UserError(f"samples must be at least 1. Received: samples={samples}")
    return datasets.load(source, split, limit=samples, size=shape[:2], channels=shape[2])


def representative_from(images: np.ndarray):
    """The zero-argument generator the TFLite converter calls: one float32 image per batch."""

    def generator():
        for image in images:
            yield [image[None].astype(np.float32)]

    return generator


def preprocessing_record(model) -> dict:
    """How the model normalises its input (read from its 'preprocess' layer), for the metadata record."""
    try:
        layer = model.get_layer("preprocess")
    except ValueError:
        return {"in_graph": False, "note": "the model takes its inputs as they are (no preprocess layer)"}
    config = layer.get_config()
    mean = np.ravel(config.get("mean")).tolist() if config.get("mean") is not None else None
    std = np.sqrt(np.ravel(config["variance"])).tolist() if config.get("variance") is not None else None
    return {"in_graph": True, "input": "RGB pixels 0-255", "mean": mean, "std": std}


def build_record(model, tflite_bytes: bytes, mode: str, io: str, classes, calibration: dict | None) -> dict:
    import tensorflow as tf

    from keras_resnet._version import __version__

    return {
        "format": 1,
        "model": model.name,
        "mode": mode,
        "io": io if mode == "int8" else "float",
        **TFLiteModel(tflite_bytes).io_record(),
        "classes": list(classes) if classes is not None else None,
        "preprocessing": preprocessing_record(model),
        "calibration": calibration,
        "converter": {"resnet-tflite": __version__, "tensorflow": tf.__version__},
    }


def report_path(tflite_path) -> str:
    return os.path.splitext(os.fspath(tflite_path))[0] + ".eval.json"


def keras_outputs(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    return np.asarray(model.predict(x.astype(np.float32), batch_size=batch_size, verbose=0))


def verify(model, tflite_bytes: bytes, images: sources.Images) -> dict:
    """Keras and TFLite on the same images: top-1/top-5 of each, top-1 agreement, output error."""
    reference = keras_outputs(model, images.x)
    converted = TFLiteModel(tflite_bytes).run(images.x.astype(np.float32))
    diff = np.abs(reference - converted)
    return {
        "keras": topk(reference, images.y),
        "tflite": topk(converted, images.y),
        "agreement_top1": float(np.mean(reference.argmax(1) == converted.argmax(1))),
        "max_abs_output_error": float(diff.max()),
        "mean_abs_output_error": float(diff.mean()),
    }


def evaluate_tflite(model: TFLiteModel, images: sources.Images) -> dict:
    """Top-1/top-5 of a .tflite classifier on labelled images (of its input size: `TFLiteModel.image_input`)."""
    model.check_classifier()
    return topk(model.run(images.x.astype(np.float32)), images.y)


def file_sizes(tflite_bytes: bytes) -> dict:
    return {"bytes": len(tflite_bytes), "gzip_bytes": len(gzip.compress(tflite_bytes, compresslevel=9))}


def kernel_sparsity(model) -> float:
    """Fraction of zeros over all trainable convolution and dense kernels."""
    kernels = [
        np.asarray(layer.kernel)
        for layer in model.layers
        if hasattr(layer, "kernel") and layer.trainable and layer.__class__.__name__ in ("Conv2D", "Dense")
    ]
    total = sum(k.size for k in kernels)
    return float(sum(np.count_nonzero(k == 0) for k in kernels) / total) if total else 0.0


def median_latency_ms(tflite_bytes: bytes, runs: int = 30, threads: int = 1) -> float:
    """A quick p50 latency in LiteRT for the conversion report (the benchmark harness measures properly)."""
    model = TFLiteModel(tflite_bytes, num_threads=threads)
    model.invoke_raw(np.zeros(model.input_shape, model.input_dtype))  # the cold run, not timed
    (samples,) = interleaved([model.interpreter.invoke], runs)
    return summarize(samples)["latency_ms"]["p50"]
