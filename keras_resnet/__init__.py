"""resnet-tflite: every ResNet of He et al. 2016, from Keras to int8 TFLite, Edge TPU and microcontrollers.

The layout is the architecture: `models` (spec table, builders, weights), `training`, `export` (Keras to
TFLite) on the workstation; `lite` (.tflite files, LiteRT, TFLite-Micro, Edge TPU) and `device` (the
benchmark harness) without TensorFlow, for devices; `cli` over them all. Names are imported lazily, so
`import keras_resnet` (and the device-side `python -m keras_resnet.bench`) does not import TensorFlow.
"""

from __future__ import annotations

import importlib

from keras_resnet._version import __version__ as __version__
from keras_resnet.models.specs import REGISTRY

_LAZY = {
    "list_models": "keras_resnet.models.specs",
    "get_spec": "keras_resnet.models.specs",
    "create_model": "keras_resnet.models.builders",
    "build": "keras_resnet.models.builders",
    "ResNetCIFAR": "keras_resnet.models.builders",
    "profile": "keras_resnet.models.profiler",
    "format_profile": "keras_resnet.models.profiler",
    "to_tf_keras": "keras_resnet.models.twin",
    "copy_weights": "keras_resnet.models.twin",
    "fit": "keras_resnet.training.fit",
    "convert": "keras_resnet.export.pipeline",
    "evaluate": "keras_resnet.export.pipeline",
    "prune": "keras_resnet.training.prune",
    "micro": "keras_resnet.lite.micro",
    "edgetpu": "keras_resnet.lite.edgetpu",
    "firmware": "keras_resnet.lite.firmware.builder",
    "benchmark": "keras_resnet.device.harness",
    "report": "keras_resnet.device.report",
    "convert_weights": "keras_resnet.models.convert_weights",
    "compare_outputs": "keras_resnet.device.compare",
}
_LAZY.update({f"ResNet{spec.depth}": "keras_resnet.models.builders" for spec in REGISTRY.values() if not spec.plain})

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'keras_resnet' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
