"""Keras model files: loading that never runs a stranger's code, and saving that is atomic."""

from __future__ import annotations

import os

import keras

from keras_resnet.errors import UserError
from keras_resnet.files import atomic_path, check_keras_file


def load_keras_model(path, unsafe: bool = False):
    """Load a `.keras` file, SavedModel directory or legacy `.h5` model in Keras' safe mode.

    Safe mode refuses `Lambda` layers, whose deserialisation runs arbitrary Python from the file; pass
    `unsafe=True` only for files you trust.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise UserError(f"{path} is a directory but not a SavedModel (no saved_model.pb). Received: {path}")
        return keras.layers.TFSMLayer(path, call_endpoint="serving_default")
    check_keras_file(path)
    try:
        return keras.saving.load_model(path, safe_mode=not unsafe, compile=False)
    except ValueError as err:
        if "Lambda" in str(err) or "safe_mode" in str(err):
            raise UserError(
                f"{path} contains a Lambda layer, which can run arbitrary code; refusing it. "
                "Pass unsafe_load=True only if you trust the file. Received: unsafe_load=False"
            ) from None
        raise UserError(
            f"{path} is not a loadable Keras model ({str(err).splitlines()[0]}): pass a model "
            f"saved with model.save(), not a weights file. Received: {path}"
        ) from None
    except (OSError, KeyError, EOFError) as err:
        raise UserError(
            f"{path} is not a valid Keras model file ({err.__class__.__name__}): pass a model "
            f"saved with model.save(). Received: {path}"
        ) from None


def save_model(model: keras.Model, path) -> None:
    """Save a `.keras` file atomically."""
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)
