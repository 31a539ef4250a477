"""`.tflite` files without TensorFlow: the flatbuffer reader and metadata, the LiteRT and TFLite-Micro runtimes,
the safety gate every file from elsewhere passes, the Edge TPU preflight and compiler driver, TFLite-Micro
export. NumPy and the TFLite runtimes only, so that devices run it (an import contract holds this).

The functions of the commands are `micro.micro`, `edgetpu.edgetpu` and `firmware.firmware` (also
`keras_resnet.micro`, `keras_resnet.edgetpu` and `keras_resnet.firmware`). Submodules are imported on use.
"""

__all__ = [
    "accuracy",
    "edgetpu",
    "edgetpu_compiler",
    "firmware",
    "flatbuffer",
    "metadata",
    "micro",
    "runtime",
    "safety",
    "tflm",
]
