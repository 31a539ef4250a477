"""A Keras classifier ending in Flatten + Dense, int8, by TensorFlow's documented recipe and by ours.

    .venv/bin/python tools/compare_export.py

The documented recipe (`TFLiteConverter.from_keras_model`, `Optimize.DEFAULT`, a representative dataset,
`TFLITE_BUILTINS_INT8`, int8 input and output; TF 2.21, Keras 3) leaves the batch dimension unknown, so
the Flatten becomes a run-time shape computation. `resnet-tflite convert --int8` exports a static batch of 1.
For each: the operators, the file size, what the Edge TPU preflight maps and the TFLite-Micro kernels needed.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_resnet.export.convert import convert_keras, representative_from
from keras_resnet.lite import edgetpu, flatbuffer, micro


def flatten_classifier() -> keras.Model:
    keras.utils.set_random_seed(0)
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            layers.Rescaling(1 / 255),
            layers.Conv2D(8, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )


def documented(model, representative) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    return converter.convert()


def main():
    model = flatten_classifier()
    images = np.random.default_rng(0).integers(0, 256, (32, 16, 16, 3)).astype(np.float32)
    print("| converter | operators | bytes | Edge TPU preflight | TFLite-Micro kernels |")
    print("|---|---|--:|---|--:|")
    for name, data in (
        ("documented recipe", documented(model, representative_from(images))),
        ("resnet-tflite convert --int8", convert_keras(model, "int8", representative_from(images))),
    ):
        parsed = flatbuffer.read(data)
        report = edgetpu.preflight(parsed)
        cut = report["first_unmappable"]
        verdict = (
            "fully mapped"
            if report["fully_mapped"]
            else f"{report['operations_edgetpu']} of {report['operations']} mapped, cut at {cut['op']}"
        )
        print(
            f"| {name} | {', '.join(op.name for op in parsed.operators)} | {len(data):,} | {verdict} "
            f"| {len(micro.resolver_methods(parsed))} |"
        )


if __name__ == "__main__":
    main()
