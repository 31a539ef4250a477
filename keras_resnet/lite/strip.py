"""A .tflite file without what a microcontroller never reads: tensor and subgraph names, the description, the
signatures and the metadata (our record, the converter's). TensorFlow's own `strip_strings` clears the names
and signatures; this also empties the metadata buffers, which the record makes the larger part.

Kept: the buffers' contents, the operators and the `OfflineMemoryAllocation` metadata, which TFLite-Micro
reads when a model plans its arena offline. The class names stay in the model's `.json` sidecar
(`keras_resnet.lite.metadata.record_of`). NumPy and LiteRT's schema only: no TensorFlow.
"""

from __future__ import annotations

from keras_resnet.lite import flatbuffer
from keras_resnet.lite.metadata import entry_name

KEPT_METADATA = ("OfflineMemoryAllocation",)


def strip_strings(model_bytes: bytes) -> bytes:
    """`model_bytes` with names, description, signatures and metadata (but TFLite-Micro's) removed."""
    model = flatbuffer.unpack(model_bytes)
    model.description = None
    model.signatureDefs = None
    for graph in model.subgraphs or []:
        graph.name = None
        for tensor in graph.tensors or []:
            tensor.name = None
    kept = [entry for entry in model.metadata or [] if entry_name(entry) in KEPT_METADATA]
    in_use = {t.buffer for graph in model.subgraphs or [] for t in graph.tensors or []} | {e.buffer for e in kept}
    for entry in model.metadata or []:
        if entry.buffer not in in_use:
            model.buffers[entry.buffer].data = None  # emptied, not removed: tensors refer to buffers by index
    model.metadata = kept or None
    model.metadataBuffer = None
    return flatbuffer.pack(model)


def stripped(model: flatbuffer.Model) -> flatbuffer.Model:
    """`model` read again after `strip_strings`: what a stripped export builds and runs."""
    return flatbuffer.read(strip_strings(model.data))
