"""Keras 2 (tf_keras) twins of Keras 3 models, for TensorFlow Model Optimization, and weights both ways.

TFMOT's quantization-aware training and pruning wrap tf_keras layers only. The twin is rebuilt layer by
layer from the Keras 3 graph (so it works for any functional model of standard layers, not just ours),
keeps every layer name, and receives the weights; `copy_weights` moves them back after fine-tuning.
"""

from __future__ import annotations

from keras_resnet.errors import UserError
from keras_resnet.models.graph import nodes

# Config keys whose Keras 3 values are serialised objects tf_keras cannot read; weights are copied anyway.
_DROPPED = {
    "kernel_initializer",
    "bias_initializer",
    "beta_initializer",
    "gamma_initializer",
    "moving_mean_initializer",
    "moving_variance_initializer",
    "kernel_regularizer",
    "bias_regularizer",
    "activity_regularizer",
    "beta_regularizer",
    "gamma_regularizer",
    "kernel_constraint",
    "bias_constraint",
    "beta_constraint",
    "gamma_constraint",
    "dtype",
    "quantization_config",
}


def _tf_keras_layer(layer, tf_keras):
    cls_name = layer.__class__.__name__
    cls = getattr(tf_keras.layers, cls_name, None)
    if cls is None:
        raise UserError(
            f"tf_keras has no layer {cls_name!r} to twin layer {layer.name!r}. Received: a {cls_name} layer"
        )
    config = {k: v for k, v in layer.get_config().items() if k not in _DROPPED}
    config.pop("synchronized", None)
    return cls.from_config(config)


def to_tf_keras(model):
    """A tf_keras functional model with the same graph, layer names and weights as Keras 3 `model`."""
    import tf_keras

    tensors = {}  # id of a Keras 3 tensor -> its tf_keras counterpart
    new_layers = {}
    for layer, ins, outs in nodes(model):
        if layer.__class__.__name__ == "InputLayer":
            shape = tuple(outs[0].shape[1:])
            tensors[id(outs[0])] = tf_keras.Input(shape, name=layer.name)
            continue
        if layer.name not in new_layers:
            new_layers[layer.name] = _tf_keras_layer(layer, tf_keras)
        args = [tensors[id(t)] for t in ins]
        result = new_layers[layer.name](args if len(args) > 1 else args[0])
        for t, r in zip(outs, result if isinstance(result, (list, tuple)) else [result]):
            tensors[id(t)] = r
    inputs = [tensors[id(t)] for t in model.inputs]
    outputs = [tensors[id(t)] for t in model.outputs]
    twin = tf_keras.Model(
        inputs if len(inputs) > 1 else inputs[0], outputs if len(outputs) > 1 else outputs[0], name=model.name
    )
    copy_weights(model, twin)
    return twin


def copy_weights(source, target):
    """Copy weights layer by layer, matched by name; every weighted layer of `target` must be found."""
    by_name = {layer.name: layer for layer in source.layers}
    for layer in target.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if layer.name not in by_name:
            raise UserError(f"No layer named {layer.name!r} to copy weights from. Received: {source.name!r}")
        layer.set_weights(by_name[layer.name].get_weights())
