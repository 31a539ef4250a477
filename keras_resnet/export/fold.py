"""Input normalisation folded into the first convolution, for integer targets.

A model of this package takes raw pixels and normalises them in its graph (`(x - mean) / std` per channel, the
`preprocess` layer). Converted to int8, that is a SUB and a MUL over every input pixel, and on a
microcontroller their kernels and their passes over the image cost flash and instructions. The normalisation is
affine and the first convolution is linear, so the two fold into one convolution on raw pixels:

    conv(W, (x - mean) / std) + b  =  conv(W / std, x) + (b - sum(W * mean / std))

exactly, wherever the convolution's window lies inside the image. At the border the original convolution
reads its zero padding as the normalised value 0, i.e. a pixel of the mean colour; a folded convolution that
padded the raw image with zeros would read black pixels there instead (on a briefly trained ResNet-8 that cost
7 points of top-1). So the folded model pads the raw image itself, explicitly (one PADV2, a copy of the image),
with the grey level `pad_value` closest to the per-channel means (weighted by 1/std^2), and its convolution
pads no more: the border then differs from the original's only by `(mean_c - grey) / std_c` per channel
(within 0.11 of a standard deviation for CIFAR-10's statistics, against 2 for black).
"""

from __future__ import annotations

import keras
import numpy as np

PREPROCESS = "preprocess"


@keras.saving.register_keras_serializable(package="keras_resnet")
class ConstantPadding2D(keras.layers.Layer):
    """Pads the rows and columns of NHWC images with one constant value (`ZeroPadding2D` pads with 0 only)."""

    def __init__(self, padding, value: float, **kwargs):
        super().__init__(**kwargs)
        self.padding = tuple(tuple(int(p) for p in side) for side in padding)  # ((top, bottom), (left, right))
        self.value = float(value)

    def call(self, x):
        (top, bottom), (left, right) = self.padding
        return keras.ops.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], constant_values=self.value)

    def compute_output_shape(self, shape):
        (top, bottom), (left, right) = self.padding
        grow = lambda size, extra: None if size is None else size + extra  # noqa: E731
        return (shape[0], grow(shape[1], top + bottom), grow(shape[2], left + right), shape[3])

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "value": self.value}


def fold_normalization(model: keras.Model) -> tuple[keras.Model, str | None]:
    """`model` with its `preprocess` normalisation folded into the convolution it feeds, and that layer's name.

    Returns `(model, None)` unchanged when there is nothing to fold: no `preprocess` layer, or one that does
    not feed exactly one Conv2D (through at most a ZeroPadding2D) and nothing else, or a strided 'same'
    convolution on images of unknown size (its padding depends on the size).
    """
    norm = _layer(model, PREPROCESS)
    found = _first_conv(model, norm) if isinstance(norm, keras.layers.Normalization) else None
    padding = _padding(*found) if found else None
    if padding is None:
        return model, None
    pad_layer, conv = found
    mean = np.ravel(keras.ops.convert_to_numpy(norm.mean)).astype("float64")
    std = np.maximum(np.sqrt(np.ravel(keras.ops.convert_to_numpy(norm.variance))), keras.config.epsilon())
    kernel, new_bias = _folded_weights(conv, mean, std)
    grey = pad_value(mean, std)

    def clone(layer):
        if layer is norm:
            return ConstantPadding2D(padding, grey, name=f"{PREPROCESS}_folded")
        if layer is pad_layer:
            return keras.layers.Identity(name=layer.name)
        config = layer.get_config()
        if layer is conv:
            config.update(use_bias=True, padding="valid")
        return layer.__class__.from_config(config)

    result = keras.models.clone_model(model, clone_function=clone)
    for layer in result.layers:
        if layer.name == conv.name:
            layer.set_weights([kernel, new_bias])
        elif layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return result, conv.name


def pad_value(mean: np.ndarray, std: np.ndarray) -> float:
    """The whole grey level nearest the channel means in normalised units (mean weighted by 1/std^2): whole,
    so that a full-integer model's input (one step per grey level) holds it exactly."""
    return float(np.round(np.sum(mean / std**2) / np.sum(1 / std**2)))


def _folded_weights(conv, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The convolution's kernel and bias on raw pixels: W / std, and b - sum(W * mean / std)."""
    kernel, *bias = (w.astype("float64") for w in conv.get_weights())
    shift = -np.sum(kernel * (mean / std)[None, None, :, None], axis=(0, 1, 2))
    return (kernel / std[None, None, :, None]).astype("float32"), ((bias[0] if bias else 0.0) + shift).astype("float32")


def _padding(pad_layer, conv) -> tuple | None:
    """((top, bottom), (left, right)): what the convolution's input is padded by, explicitly or by 'same'."""
    if pad_layer is not None:
        return tuple(tuple(side) for side in pad_layer.padding)
    if conv.padding == "valid":
        return ((0, 0), (0, 0))
    sides = []
    for size, k, s, d in zip(conv.input.shape[1:3], conv.kernel_size, conv.strides, conv.dilation_rate):
        span = (k - 1) * d + 1
        if s == 1:
            total = span - 1
        elif size is None:
            return None
        else:
            total = max((-(-size // s) - 1) * s + span - size, 0)
        sides.append((total // 2, total - total // 2))  # TensorFlow's 'same': the odd pixel at the end
    return tuple(sides)


def _layer(model: keras.Model, name: str):
    try:
        return model.get_layer(name)
    except ValueError:
        return None


def _first_conv(model: keras.Model, norm) -> tuple | None:
    """(the ZeroPadding2D or None, the plain Conv2D) that alone read `norm`'s output, in that order."""
    readers = _readers(model)
    pad_layer, layer = None, _only_reader(model, readers, norm.name)
    if isinstance(layer, keras.layers.ZeroPadding2D):
        pad_layer, layer = layer, _only_reader(model, readers, layer.name)
    if type(layer) is keras.layers.Conv2D and layer.groups == 1:
        return pad_layer, layer
    return None


def _only_reader(model: keras.Model, readers: dict[str, list[str]], name: str):
    names = readers.get(name, [])
    return model.get_layer(names[0]) if len(names) == 1 else None


def _readers(model: keras.Model) -> dict[str, list[str]]:
    """{layer name: the names of the layers that read its output}, from the functional model's config."""
    readers: dict[str, list[str]] = {}
    for layer in model.get_config()["layers"]:
        for source in sorted(set(_history_names(layer.get("inbound_nodes", [])))):
            readers.setdefault(source, []).append(layer["name"])
    return readers


def _history_names(node):
    """The layer names of every `keras_history` (a serialised tensor's origin) in an inbound-nodes config."""
    if isinstance(node, dict):
        if "keras_history" in node:
            yield node["keras_history"][0]
        for value in node.values():
            yield from _history_names(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _history_names(value)
