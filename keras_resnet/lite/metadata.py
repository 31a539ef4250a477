"""What a device needs to know about a model, embedded in the .tflite file and written beside it.

The record (input quantization, class names, preprocessing, provenance) is stored as JSON in the model's
`metadata` table under METADATA_NAME, so it travels with the file, and as a `.json` sidecar that people
and scripts can read. NumPy + flatbuffers only (LiteRT's schema), so devices can read it too.
"""

from __future__ import annotations

import json
import os

import numpy as np

from keras_resnet.errors import UserError
from keras_resnet.lite.flatbuffer import MALFORMED, pack, schema, unpack

METADATA_NAME = "resnet_tflite"


def embed(model_bytes: bytes, record: dict) -> bytes:
    """`model_bytes` with `record` stored as JSON metadata (replacing an earlier record of ours)."""
    model = unpack(model_bytes)
    buffer = schema().BufferT()
    buffer.data = np.frombuffer(json.dumps(record, sort_keys=True).encode(), dtype=np.uint8)
    model.buffers = list(model.buffers or []) + [buffer]
    entry = schema().MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if entry_name(m) != METADATA_NAME] + [entry]
    return pack(model)


def entry_name(entry) -> str:
    """The name of a metadata entry of the object API, as text."""
    name = entry.name
    return name.decode() if isinstance(name, bytes) else (name or "")


def sidecar_path(tflite_path) -> str:
    """The record's `.json` file beside a `.tflite` file."""
    return os.path.splitext(os.fspath(tflite_path))[0] + ".json"


def record_of(tflite_path, model_bytes: bytes) -> dict | None:
    """The record embedded in `model_bytes`, else the one in the sidecar beside `tflite_path` (a model stripped
    for a microcontroller carries none; None: no file), else None."""
    record = read(model_bytes)
    if record is None and tflite_path is not None and os.path.isfile(sidecar_path(tflite_path)):
        with open(sidecar_path(tflite_path)) as f:
            try:
                record = json.load(f)
            except ValueError:
                return None
    return record if isinstance(record, dict) else None


def read(model_bytes: bytes) -> dict | None:
    """The record embedded by `embed`, or None when the model carries none; a UserError (never another
    exception) when the metadata table or the record is damaged."""
    data = bytes(model_bytes)
    try:
        record = _find_record(data)
    except MALFORMED as err:
        raise UserError(
            f"The model's metadata is damaged ({err.__class__.__name__}: {err}): convert the model "
            f"again. Received: {len(data)} bytes"
        ) from None
    if record is not None and not isinstance(record, dict):
        raise UserError(
            f"The model's {METADATA_NAME} metadata is not a JSON object: convert the model again. "
            f"Received: {type(record).__name__}"
        )
    return record


def _find_record(data: bytes):
    """The decoded JSON of our metadata entry, or None; flatbuffer and JSON errors propagate."""
    model = schema().Model.GetRootAs(data, 0)
    count = model.MetadataLength()
    if not 0 <= count <= len(data):
        raise ValueError(f"the metadata table claims {count} entries")
    for i in range(count):
        entry = model.Metadata(i)
        if (entry.Name() or b"").decode() == METADATA_NAME:
            if not 0 <= entry.Buffer() < model.BuffersLength():
                raise IndexError(f"metadata buffer {entry.Buffer()} of {model.BuffersLength()}")
            return json.loads(model.Buffers(entry.Buffer()).DataAsNumpy().tobytes())
    return None
