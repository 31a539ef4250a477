"""What a `model` argument names: a Keras model file or a registered model name, checked before TensorFlow
starts (`check_model_argument`, `check_model_weights`) and then opened (`open_model`)."""

from __future__ import annotations

import os

from keras_resnet.errors import UserError
from keras_resnet.files import check_keras_file, is_model_file
from keras_resnet.models import pretrained, specs

__all__ = ["check_model_argument", "check_model_weights", "info", "open_model"]


def check_model_argument(model) -> bool:
    """Whether `model` names a Keras model file (True) or a registered model name (False).

    Args:
        model: A path to a `.keras`/`.h5` model file, or a registered name such as "resnet20".

    Returns:
        True for a model file, False for a registered name.

    Raises:
        UserError: a missing or damaged file, a directory, or an unknown name (with the closest names).
    """
    model = os.fspath(model)
    if os.path.isdir(model):
        raise UserError(
            f"{model} is a directory: pass a .keras model file or a registered model name "
            f"(keras_resnet.list_models()). Received: model={model!r}"
        )
    if is_model_file(model):
        check_keras_file(model)
        return True
    try:
        specs.get_spec(model)
    except UserError as err:  # the argument is `model` here
        raise UserError(str(err).replace(f"Received: name={model!r}", f"Received: model={model!r}")) from None
    return False


def check_model_weights(model, weights: str | None = None, preprocess: str | None = None) -> bool:
    """`check_model_argument`, plus `weights` and `preprocess`, which only a registered name takes.

    Args:
        model: A model file or a registered name.
        weights: Published weights of the name (see `keras_resnet.models.pretrained`) or a readable file.
        preprocess: The input normalisation folded into the graph; must agree with published weights.

    Returns:
        True for a model file, False for a registered name.

    Raises:
        UserError: for a bad `model`, or `weights`/`preprocess` given with a model file or not fitting.
    """
    is_file = check_model_argument(model)
    if is_file and (weights or preprocess):
        given = f"weights={weights!r}" if weights else f"preprocess={preprocess!r}"
        raise UserError(
            f"weights and preprocess apply to a registered model name, not to a model file, which "
            f"carries its own: leave them out. Received: {given}"
        )
    if weights:
        pretrained.check(weights, specs.get_spec(os.fspath(model)), {}, preprocess)
    return is_file


def open_model(model, weights: str | None = None, preprocess: str | None = None, unsafe_load: bool = False):
    """The Keras model `model` names (checked first by `check_model_weights`).

    Args:
        model: A model file, or a registered name built with `weights` (a published file is downloaded here
            when not in the cache) and `preprocess`.
        weights: See `check_model_weights`.
        preprocess: See `check_model_weights`.
        unsafe_load: Allow Lambda layers in a model file (their code runs: only for files you trust).

    Returns:
        A Keras model.

    Raises:
        UserError: a file that is no loadable Keras model, or weights that do not fit.
    """
    model = os.fspath(model)
    if is_model_file(model):
        from keras_resnet.models.saving import load_keras_model

        return load_keras_model(model, unsafe=unsafe_load)
    from keras_resnet.models.builders import create_model

    return create_model(model, weights=weights, preprocess=preprocess)


def info(model, *, input_size: int | None = None, unsafe_load: bool = False, **model_options) -> dict:
    """The profile of a model: stages, parameters, MACs, peak activation memory (`resnet-tflite info`).

    Args:
        model: A Keras model object, a Keras model file or a registered model name.
        input_size: For a registered name: the square input side (default: the model's).
        unsafe_load: Allow Lambda layers in a model file (their code runs: only for files you trust).
        **model_options: For a registered name: builder keywords (classes, preact, width, variant, shortcut).

    Returns:
        What `keras_resnet.profile` returns (`keras_resnet.format_profile` makes it a table).

    Raises:
        UserError: an unknown name, an unreadable model file, builder options given with a file or object,
            or options the builder refuses.
    """
    from keras_resnet.models.profiler import profile

    options = dict(model_options)
    if input_size is not None:
        options["input_shape"] = (input_size, input_size, 3)
    if not isinstance(model, (str, os.PathLike)):
        net = model
    elif check_model_argument(model):
        net = open_model(model, unsafe_load=unsafe_load)
    else:
        from keras_resnet.models.builders import create_model

        return profile(create_model(os.fspath(model), **options))
    if options:
        raise UserError(
            f"Builder options apply to a registered model name, not to a built model: leave them "
            f"out. Received: {', '.join(f'{k}={v!r}' for k, v in sorted(model_options.items()))}"
        )
    return profile(net)
