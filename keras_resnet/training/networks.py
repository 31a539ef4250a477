"""The networks of a run: the float32 model it exports, the copy it trains (mixed precision, synchronised
BatchNorm), which layers train in each phase, the multi-worker wrapper and the distilling student."""

from __future__ import annotations

import contextlib

import keras

from keras_resnet.errors import UserError
from keras_resnet.files import is_model_file
from keras_resnet.models.builders import create_model
from keras_resnet.models.pretrained import is_named
from keras_resnet.models.saving import load_keras_model
from keras_resnet.models.specs import get_spec
from keras_resnet.training.distill import Distillation, teacher_errors

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
    with _float32_policy():
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


@contextlib.contextmanager
def _float32_policy():
    """Within: models are built in float32 whatever the run's mixed-precision policy (restored after)."""
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        yield
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


class DistillingNet(keras.Model):
    """A functional student that learns from a teacher too (`keras_resnet.training.distill`).

    Its training loss is `(1 - alpha) * CE + alpha * T^2 * KL(teacher_T || student_T)`. Both models end in a
    softmax, so their logits are read back as log-probabilities (a log-softmax differs from the logits by a
    constant per image, which a softmax ignores). The teacher runs in inference mode on the batch the student
    is given (the same augmentation). Validation losses stay the student's cross-entropy, comparable with an
    undistilled run's. The teacher is held outside Keras' tracking: it is in no checkpoint and no export.
    """

    def set_teacher(self, teacher: keras.Model, temperature: float, alpha: float) -> None:
        object.__setattr__(self, "_distillation", (teacher, temperature, alpha))
        object.__setattr__(self, "_soft_loss", keras.losses.KLDivergence())  # reduced as Keras' losses are

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x, y, y_pred, sample_weight, training)
        if not training:
            return loss
        teacher, temperature, alpha = self._distillation
        soft_teacher = _softened(teacher(x, training=False), temperature)
        soft_student = _softened(y_pred, temperature)
        return (1 - alpha) * loss + alpha * temperature**2 * self._soft_loss(soft_teacher, soft_student)


class MultiWorkerDistillingNet(MultiWorkerNet, DistillingNet):
    """A distilling student under MultiWorkerMirroredStrategy."""


def _softened(probabilities, temperature: float):
    """softmax(logits / T) from softmax(logits), in float32."""
    logits = keras.ops.log(keras.ops.maximum(keras.ops.cast(probabilities, "float32"), 1e-30))
    return keras.ops.softmax(logits / temperature)


def teacher_model(distillation: Distillation, classes: int, size: int, unsafe_load: bool = False) -> keras.Model:
    """The float32 teacher of a distilled run, checked against the student's classes and input size."""
    with _float32_policy():
        if is_model_file(distillation.teacher):
            net = load_keras_model(distillation.teacher, unsafe=unsafe_load)
        else:  # a registered name: published weights bring their normalisation; files were trained on ImageNet's
            preprocess = None if is_named(distillation.weights) else "imagenet"
            with teacher_errors():
                net = create_model(distillation.teacher, weights=distillation.weights, preprocess=preprocess)
    shape, outputs = net.input_shape, net.output_shape[-1]
    if outputs != classes or shape[1:3] not in ((size, size), (None, None)):
        raise UserError(
            f"The teacher {distillation.teacher} classifies {outputs} classes at {shape[1]}x{shape[2]}; the "
            f"student learns {classes} at {size}x{size}: distil from a teacher trained on the same classes and "
            f"images. Received: teacher={distillation.teacher!r}"
        )
    return net


def model_size(model: str, input_size: int | None, unsafe_load: bool = False) -> tuple[int, str]:
    """(input side, family) of a registered name or a Keras model file."""
    if is_model_file(model):
        shape = load_keras_model(model, unsafe=unsafe_load).input_shape
        return input_size or shape[1], "cifar" if (input_size or shape[1]) <= 64 else "imagenet"
    spec = get_spec(model)
    return input_size or spec.input_size, spec.family
