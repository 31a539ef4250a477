"""The networks of a run: the float32 model it exports, the copy it trains (mixed precision, synchronised
BatchNorm), which layers train in each phase, and the multi-worker wrapper."""

from __future__ import annotations

import keras

from keras_resnet.files import is_model_file
from keras_resnet.models.builders import create_model
from keras_resnet.models.saving import load_keras_model
from keras_resnet.models.specs import get_spec

CLASSIFIER = "predictions"
FLOAT32_LAYERS = ("preprocess", CLASSIFIER)  # kept in float32 under mixed precision (input, softmax)


def float_model(
    model: str,
    classes: int,
    size: int,
    preprocess,
    options: dict,
    weights: str | None = None,
    unsafe_load: bool = False,
) -> keras.Model:
    """The float32 model of a run: a registered name built fresh, a registered name with `weights` (transfer
    learning: the file's backbone under a new classifier), or a `.keras` file (fine-tuning) whose classifier
    is replaced when the class count differs."""
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        if is_model_file(model):
            net = load_keras_model(model, unsafe=unsafe_load)
            return net if net.output_shape[-1] == classes else with_classifier(net, classes)
        if weights:
            backbone = create_model(
                model,
                include_top=False,
                pooling="avg",
                weights=weights,
                input_shape=(size, size, 3),
                preprocess=preprocess,
                **options,
            )
            return with_classifier(backbone, classes)
        return create_model(model, input_shape=(size, size, 3), classes=classes, preprocess=preprocess, **options)
    finally:
        keras.config.set_dtype_policy(policy)


def with_classifier(net: keras.Model, classes: int) -> keras.Model:
    """`net` up to its global average pool, under a new softmax classifier of `classes` outputs."""
    features = net.get_layer("avg_pool").output
    head = keras.layers.Dense(classes, activation="softmax", name=CLASSIFIER)(features)
    return keras.Model(net.inputs, head, name=net.name)


def train_layers(net: keras.Model, layers: str, trainable: dict[str, bool], frozen_bn: bool = False) -> None:
    """Make the classifier alone trainable ("head"), or every layer that was (`trainable`: the flags as
    built, which keep option-A shortcuts frozen) but BatchNorm with `frozen_bn`. A frozen BatchNorm runs in
    inference mode: it normalises with its moving statistics and does not update them."""
    for layer in net.layers:
        chosen = layers == "all" and not (frozen_bn and isinstance(layer, keras.layers.BatchNormalization))
        layer.trainable = trainable[layer.name] and (chosen or layer.name == CLASSIFIER)


def training_copy(model: keras.Model, policy: str, sync_batchnorm: bool = False) -> keras.Model:
    """A copy of `model` whose layers compute in `policy` (but for the input normalisation and the
    classifier, kept in float32), with the same weights; built in the current distribution scope.

    `sync_batchnorm`: BatchNorm statistics over the global batch (all workers), so that the moving
    averages, which are not gradients and are never all-reduced, stay identical on every worker.
    """

    def clone(layer):
        config = layer.get_config()
        if layer.name not in FLOAT32_LAYERS and "dtype" in config and not isinstance(layer, keras.layers.InputLayer):
            config["dtype"] = policy
        if sync_batchnorm and isinstance(layer, keras.layers.BatchNormalization):
            config["synchronized"] = True
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


class MultiWorkerNet(keras.Model):
    """A functional model whose step logs are rank-1, for MultiWorkerMirroredStrategy under Keras 3.

    Keras 3.15 averages per-replica logs across workers with `strategy.reduce("MEAN", v, axis=0)`, which
    fails on scalars (keras-team/keras#20585); logs of shape [1] reduce to the right global mean, and its
    symbolic pre-build (whose reduce of a data batch fails too) is skipped: this model is already built.
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        return

    def train_step(self, data):
        return {k: keras.ops.reshape(v, [1]) for k, v in super().train_step(data).items()}

    def test_step(self, data):
        return {k: keras.ops.reshape(v, [1]) for k, v in super().test_step(data).items()}


def model_size(model: str, input_size: int | None, unsafe_load: bool = False) -> tuple[int, str]:
    """(input side, family) of a registered name or a Keras model file."""
    if is_model_file(model):
        shape = load_keras_model(model, unsafe=unsafe_load).input_shape
        return input_size or shape[1], "cifar" if (input_size or shape[1]) <= 64 else "imagenet"
    spec = get_spec(model)
    return input_size or spec.input_size, spec.family
