"""resnet-tflite: every ResNet of He et al. 2016, from Keras to int8 TFLite, Edge TPU and microcontrollers.

Names are imported lazily, so `import keras_resnet` (and the device-side `keras_resnet.bench`) does not
import TensorFlow.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "list_models": "keras_resnet.specs",
    "get_spec": "keras_resnet.specs",
    "create_model": "keras_resnet.models",
    "build": "keras_resnet.models",
    "ResNetCIFAR": "keras_resnet.models",
    "profile": "keras_resnet.profiler",
    "format_profile": "keras_resnet.profiler",
    "to_tf_keras": "keras_resnet.twin",
    "copy_weights": "keras_resnet.twin",
}
_LAZY.update({f"ResNet{d}": "keras_resnet.models" for d in (18, 34, 50, 101, 152, 8, 20, 32, 44, 56, 110, 1202)})

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'keras_resnet' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
