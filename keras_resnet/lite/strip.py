"""A .tflite file without what a microcontroller never reads: tensor and subgraph names, the description, the
signatures and the metadata (our record, the converter's). TensorFlow's own `strip_strings` clears the names
and signatures; this also empties the metadata buffers, which the record makes the larger part.

Kept: the buffers' contents, the operators and the `OfflineMemoryAllocation` metadata, which TFLite-Micro
reads when a model plans its arena offline. The class names stay in the model's `.json` sidecar
(`keras_resnet.lite.metadata.record_of`). NumPy and LiteRT's schema only: no TensorFlow.
"""

from __future__ import annotations

import flatbuffers

from keras_resnet.lite.flatbuffer import FILE_IDENTIFIER, schema
from keras_resnet.lite.metadata import entry_name

KEPT_METADATA = ("OfflineMemoryAllocation",)


def strip_strings(model_bytes: bytes) -> bytes:
    """`model_bytes` with names, description, signatures and metadata (but TFLite-Micro's) removed."""
    model = schema().ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    model.description = None
    model.signatureDefs = None
    for graph in model.subgraphs or []:
        graph.name = None
        for tensor in graph.tensors or []:
            tensor.name = None
    kept = [entry for entry in model.metadata or [] if entry_name(entry) in KEPT_METADATA]
    used = {op_buffer for graph in model.subgraphs or [] for op_buffer in (t.buffer for t in graph.tensors or [])}
    for entry in model.metadata or []:
        if entry not in kept and entry.buffer not in used | {e.buffer for e in kept}:
            model.buffers[entry.buffer].data = None  # emptied, not removed: tensors refer to buffers by index
    model.metadata = kept or None
    model.metadataBuffer = None
    builder = flatbuffers.Builder(len(model_bytes))
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())
