"""Every data SOURCE the workstation reads: `folder:` and `npz:` through `keras_resnet.sources` (what devices
read too), `tfds:` through tensorflow-datasets, which is imported only for a tfds source.

`load` decodes a split into memory (calibration, verification, evaluation, small training sets);
`builder` is the prepared tensorflow-datasets builder that the training pipeline streams from.
"""

from __future__ import annotations

import os

import numpy as np

from keras_resnet import sources
from keras_resnet.errors import UserError


def builder(source: sources.Source):
    """The tensorflow-datasets builder of a tfds source, prepared in TFDS_DATA_DIR (or TFDS' default dir)."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise UserError("tfds: sources need tensorflow-datasets (pip install 'resnet-tflite[tf]')") from None
    try:
        prepared = tfds.builder(source.location, data_dir=os.environ.get("TFDS_DATA_DIR"))
    except Exception as err:  # noqa: BLE001 - tfds raises many types for an unknown name
        raise UserError(f"Unknown tensorflow-datasets dataset {source.location!r}: {err}") from None
    if not prepared.is_prepared():
        raise UserError(
            f"{source.location} is not prepared in {prepared.data_dir}: prepare it with "
            f"`tfds build {source.location}` (needs network) and set TFDS_DATA_DIR, or use a "
            f"folder: source. Received: {source}"
        )
    return prepared


def load(
    source, split: str = "test", limit: int | None = None, size=None, seed: int = 0, channels: int = 3
) -> sources.Images:
    """`sources.load` for every kind of source, tfds: included (see there)."""
    source = sources.parse(source) if isinstance(source, str) else source
    if source.kind != "tfds":
        return sources.load(source, split, limit, size, seed, channels)
    return _load_tfds(source, split, limit, size, seed, channels)


def _load_tfds(source: sources.Source, split: str, limit, size, seed: int, channels: int) -> sources.Images:
    import tensorflow_datasets as tfds

    prepared = builder(source)
    data = tfds.as_numpy(prepared.as_dataset(split=source.split or split, as_supervised=True))
    xs, ys = [], []
    for image, label in data:
        xs.append(image)
        ys.append(int(label))
    y = np.asarray(ys, np.int64)
    keep = sources.select(y, limit, seed)
    x = np.stack([sources.fitted(xs[i][None], size, channels)[0] for i in keep])  # images of any size
    return sources.Images(x, y[keep], list(prepared.info.features["label"].names))
