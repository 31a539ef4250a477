"""Keras -> TFLite: float32, fp16, dynamic-range, full-integer int8 and int16x8, with verification."""
from __future__ import annotations

import os
import tempfile

MODES = ("float32", "fp16", "dynamic", "int8", "int16x8")


def _converter(model):
    """A TFLiteConverter for a Keras 3 model (through a quiet SavedModel export) or a tf_keras one."""
    import tensorflow as tf

    if type(model).__module__.startswith("tf_keras"):
        return tf.lite.TFLiteConverter.from_keras_model(model), None
    tmp = tempfile.TemporaryDirectory(prefix="resnet-export-")
    model.export(tmp.name, format="tf_saved_model", verbose=False)
    return tf.lite.TFLiteConverter.from_saved_model(tmp.name), tmp


def convert_keras(model, mode: str = "float32", representative=None, io: str = "int8") -> bytes:
    """Convert a Keras model to TFLite bytes.

    mode: one of MODES. For int8 and int16x8, `representative` yields calibration batches [x] (float
    pixels as the model takes them); `io` picks the integer input/output type of int8 models ("int8",
    "uint8" or "float").
    """
    import tensorflow as tf

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}. Received: mode={mode!r}")
    converter, tmp = _converter(model)
    try:
        if mode != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "fp16":
            converter.target_spec.supported_types = [tf.float16]
        if mode in ("int8", "int16x8"):
            if representative is None:
                raise ValueError(f"{mode} conversion needs calibration data (--calib SOURCE).")
            converter.representative_dataset = representative
            ops = (tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if mode == "int8" else
                   tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8)
            converter.target_spec.supported_ops = [ops]
        if mode == "int8" and io != "float":
            converter.inference_input_type = {"int8": tf.int8, "uint8": tf.uint8}[io]
            converter.inference_output_type = {"int8": tf.int8, "uint8": tf.uint8}[io]
        return converter.convert()
    finally:
        if tmp is not None:
            tmp.cleanup()


__all__ = ["MODES", "convert_keras"]
