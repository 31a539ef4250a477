"""Load weight files into built models, with an error that names the first tensor that does not fit."""
from __future__ import annotations

import os


class WeightsMismatch(ValueError):
    """A weights file that does not fit the model it is loaded into."""


def _h5_layer_weights(path):
    """{layer name: [array shapes]} of a legacy keras.applications-style .h5 weights file."""
    import h5py

    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in group.attrs:
            raise WeightsMismatch(f"{path} is not a Keras .h5 weights file (no layer_names). Received: {path}")
        result = {}
        for raw in group.attrs["layer_names"]:
            name = raw.decode() if isinstance(raw, bytes) else raw
            names = group[name].attrs.get("weight_names", [])
            result[name] = [tuple(group[name][n.decode() if isinstance(n, bytes) else n].shape) for n in names]
        return result


def check_h5_fits(model, path):
    """Raise WeightsMismatch naming the first weighted layer of `model` missing from or unlike the file."""
    stored = _h5_layer_weights(path)
    for layer in model.layers:
        shapes = [tuple(w.shape) for w in layer.weights]
        if not shapes:
            continue
        if layer.name not in stored:
            raise WeightsMismatch(f"{path} has no weights for layer {layer.name!r} (wrong depth or variant?). "
                                  f"Received: {path}")
        if stored[layer.name] != shapes:
            raise WeightsMismatch(
                f"{path}: layer {layer.name!r} holds {stored[layer.name]} but the model expects {shapes} "
                f"(wrong classes? pass include_top=False or the right classes). Received: {path}")


def load_weights(model, path):
    """Load `path` into `model`: Keras `.weights.h5` or legacy `.h5` (matched by layer name)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Weights file not found: {path}. Received: weights={path!r}")
    if path.endswith(".weights.h5"):
        try:
            model.load_weights(path)
        except ValueError as err:
            raise WeightsMismatch(f"{path} does not fit {model.name}: {err}") from None
    elif path.endswith((".h5", ".hdf5")):
        check_h5_fits(model, path)
        model.load_weights(path, by_name=True)
    else:
        raise WeightsMismatch(f"Unsupported weights file {path}: expected .weights.h5 or .h5. Received: {path}")
