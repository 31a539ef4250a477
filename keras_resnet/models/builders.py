"""Model builders and the registry: every architecture of the spec table as a Keras functional model."""

from __future__ import annotations

import sys

import keras
from keras import layers

from keras_resnet.errors import UserError
from keras_resnet.models import pretrained, specs
from keras_resnet.models.blocks import Layout, batchnorm, conv, stage
from keras_resnet.models.specs import Spec

POOLINGS = (None, "avg", "max")


def _input_shape(spec: Spec, input_shape) -> tuple:
    """Validated (height, width, channels); None spatial dims are allowed without the top."""
    shape = tuple(input_shape) if input_shape is not None else (spec.input_size, spec.input_size, 3)
    if len(shape) != 3:
        raise UserError(f"input_shape must be (height, width, channels). Received: input_shape={input_shape!r}")
    height, width, channels = shape
    if channels is None or channels < 1:
        raise UserError(f"input_shape needs at least 1 channel. Received: input_shape={input_shape!r}")
    smallest = 32 if spec.family == "imagenet" else 4  # the network's total stride
    for side in (height, width):  # None: any size (global pooling makes the top size-independent)
        if side is not None and side < smallest:
            raise UserError(
                f"{spec.name} downsamples by {smallest}: inputs must be at least {smallest}x{smallest}. "
                f"Received: input_shape={input_shape!r}"
            )
    return shape


def _preprocessing(x, preprocess):
    """Fold input normalisation into the graph, so the model takes raw 0-255 pixels."""
    if preprocess is None:
        return x
    if isinstance(preprocess, str):
        if preprocess not in specs.PREPROCESSING:
            raise UserError(
                f"preprocess must be one of {sorted(specs.PREPROCESSING)}, a (mean, std) pair or None. "
                f"Received: preprocess={preprocess!r}"
            )
        preprocess = specs.PREPROCESSING[preprocess]
    mean, std = preprocess
    return layers.Normalization(mean=list(mean), variance=[s * s for s in std], name="preprocess")(x)


def _stem(x, spec: Spec, layout: Layout, width: float):
    filters = specs.scaled(spec.stem_width, width)
    if spec.family == "cifar":
        x = conv(x, layout, filters, 3, 1, "conv1", feeds_batchnorm=not layout.preact)
    else:
        x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
        x = layers.Conv2D(
            filters,
            7,
            strides=2,
            use_bias=layout.use_bias(not layout.preact),
            kernel_initializer="he_normal",
            name="conv1_conv",
        )(x)
    if not layout.preact:
        x = batchnorm(x, layout, "conv1_bn")
        x = layers.Activation("relu", name="conv1_relu")(x)
    if spec.family == "imagenet":
        x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
        x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    return x


def build(
    spec: Spec,
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape=None,
    pooling: str | None = None,
    classes: int | None = None,
    classifier_activation="softmax",
    name: str | None = None,
    *,
    preact: bool = False,
    width: float = 1.0,
    variant: str = "v1.5",
    shortcut: str | None = "default",
    preprocess=None,
    framework: str = "keras",
    inner_widths=None,
) -> keras.Model:
    """Build `spec` as a Keras functional model (the arguments of keras.applications, plus ours).

    weights: None, a weights file (`keras_resnet.models.weights`), or a published name, "imagenet",
    "imagenet-v2" or "cifar10" (`keras_resnet.models.pretrained`: downloaded once into the Keras cache),
    which also sets `preprocess` to the normalisation the weights were trained with. preact:
    pre-activation blocks. width: channel multiplier. variant: "v1.5" (torchvision layout) or "v1"
    (keras.applications). shortcut: "A", "B", "C" or None for a plain net (default: the spec's). preprocess:
    a name of `specs.PREPROCESSING` ("cifar10", "imagenet", "unit", "caffe", "tf"), (mean, std) or None,
    folded into the graph. framework: "keras" or
    "tf_keras" for a Keras 2 twin (what TensorFlow Model Optimization needs) with the same names.
    inner_widths: per stage, per block, the filters of the convs no shortcut ties (absolute counts, not
    scaled by `width`; see `specs.Spec.inner_widths`): what channel pruning narrows. Default: the spec's.
    """
    if framework == "tf_keras":
        from keras_resnet.models.twin import to_tf_keras

        return to_tf_keras(
            build(
                spec,
                include_top,
                weights,
                input_tensor,
                input_shape,
                pooling,
                classes,
                classifier_activation,
                name,
                preact=preact,
                width=width,
                variant=variant,
                shortcut=shortcut,
                preprocess=preprocess,
                inner_widths=inner_widths,
            )
        )
    if pretrained.is_named(weights):
        weights = pretrained.resolve(
            weights,
            spec,
            dict(
                include_top=include_top, classes=classes, variant=variant, preact=preact, width=width, shortcut=shortcut
            ),
        )
        preprocess = pretrained.preprocess_for(weights, preprocess)
    classes = spec.classes if classes is None else classes
    _check_arguments(framework, variant, pooling, width, include_top, classes)
    if shortcut != "default":
        spec = specs.with_shortcut(spec, shortcut)
    if inner_widths is not None:
        spec = specs.with_inner_widths(spec, inner_widths)
    # Keras walks the graph recursively (building, saving, converting): ResNet-1202 is ~3,600 layers deep.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20 * sum(spec.blocks) * len(spec.widths) + 1000))
    layout = Layout(variant, preact, spec.shortcut)
    if input_tensor is None:
        inputs = x = keras.Input(_input_shape(spec, input_shape), name="image")
    else:
        _input_shape(spec, input_tensor.shape[1:])
        inputs, x = keras.utils.get_source_inputs(input_tensor), input_tensor
    x = _stages(_stem(_preprocessing(x, preprocess), spec, layout, width), spec, layout, width)
    x = _head(x, layout, include_top, pooling, classes, classifier_activation)
    model = keras.Model(inputs, x, name=name or _default_name(spec, preact, width, variant))
    if weights is not None:
        from keras_resnet.models.weights import load_weights

        load_weights(model, weights)
    return model


def _check_arguments(framework, variant, pooling, width, include_top, classes) -> None:
    if framework not in ("keras", "tf_keras"):
        raise UserError(f"framework must be 'keras' or 'tf_keras'. Received: framework={framework!r}")
    if variant not in specs.VARIANTS:
        raise UserError(f"variant must be one of {specs.VARIANTS}. Received: variant={variant!r}")
    if pooling not in POOLINGS:
        raise UserError(f"pooling must be None, 'avg' or 'max'. Received: pooling={pooling!r}")
    if not width > 0:
        raise UserError(f"width must be a positive multiplier. Received: width={width!r}")
    if include_top and (not isinstance(classes, int) or classes < 1):
        raise UserError(f"classes must be a whole number >= 1. Received: classes={classes!r}")


def _stages(x, spec: Spec, layout: Layout, width: float):
    """The residual stages: the first keeps the stem's resolution, every later one halves it."""
    strides = [1] + [2] * (len(spec.blocks) - 1)
    for i, (filters, blocks) in enumerate(zip(spec.widths, spec.blocks)):
        next_stride = strides[i + 1] if i + 1 < len(strides) else 1
        x = stage(
            x,
            spec.block,
            layout,
            specs.scaled(filters, width),
            blocks,
            strides[i],
            f"conv{i + 2}",
            next_stride,
            spec.inner_widths[i] if spec.inner_widths else None,
        )
    return x


def _head(x, layout: Layout, include_top: bool, pooling, classes: int, classifier_activation):
    """The pre-activation nets' final BatchNorm and ReLU, then the classifier, or the pooling without it."""
    if layout.preact:
        x = batchnorm(x, layout, "post_bn")
        x = layers.Activation("relu", name="post_relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def _default_name(spec: Spec, preact: bool, width: float, variant: str) -> str:
    name = spec.name + ("_preact" if preact else "") + (f"_w{width:g}" if width != 1 else "")
    return name + ("_v1" if variant == "v1" else "")


def create_model(name: str, **kwargs) -> keras.Model:
    """Build a registered model by name, with `build`'s keyword arguments passed on as given (None included:
    `classifier_activation=None` gives logits, `shortcut=None` the plain net)."""
    return build(specs.get_spec(name), **kwargs)


def ResNetCIFAR(depth: int, **kwargs) -> keras.Model:
    """Any CIFAR ResNet of depth 6n+2 (paper Section 4.2); `shortcut=None` gives the plain net."""
    return build(specs.cifar_spec(depth), **kwargs)


def _builder(spec_name: str):
    spec = specs.REGISTRY[spec_name]

    def builder(
        include_top=True,
        weights=None,
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=spec.classes,
        classifier_activation="softmax",
        name=None,
        **options,
    ):
        return build(
            spec,
            include_top,
            weights,
            input_tensor,
            input_shape,
            pooling,
            classes,
            classifier_activation,
            name,
            **options,
        )

    builder.__name__ = builder.__qualname__ = f"ResNet{spec.depth}"
    builder.__doc__ = (
        f"ResNet-{spec.depth} ({spec.family}: {spec.block} blocks {spec.blocks}, default shortcut "
        f"{spec.shortcut}, {spec.input_size}x{spec.input_size} input).\n\nArguments as in "
        "keras.applications, plus preact, width, variant, shortcut, preprocess and framework: see "
        "`keras_resnet.models.build`."
    )
    return builder


# ResNet18 ... ResNet152 and ResNet8 ... ResNet1202: one builder per registered residual net of the spec table.
BUILDERS = {f"ResNet{spec.depth}": _builder(name) for name, spec in specs.REGISTRY.items() if not spec.plain}
globals().update(BUILDERS)
