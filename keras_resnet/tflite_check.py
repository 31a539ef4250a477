"""Cheap validation of a .tflite file before handing it to a runtime that may crash on garbage."""
from __future__ import annotations

from keras_resnet.errors import UserError
from keras_resnet.io import readable_file

MIN_SIZE = 16


def check_tflite(path) -> bytes:
    """The file's bytes if it looks like a TFLite flatbuffer and LiteRT can load it; a clear error if not."""
    path = readable_file(path, "TFLite file")
    data = open(path, "rb").read()
    if len(data) < MIN_SIZE or data[4:8] != b"TFL3":
        raise UserError(f"{path} is not a TFLite model (no TFL3 identifier; truncated or another format). "
                        f"Received: {len(data)} bytes")
    from keras_resnet.runtime import TFLiteModel

    try:
        TFLiteModel(data)
    except (ValueError, RuntimeError) as err:
        raise UserError(f"{path} is a damaged TFLite model: {str(err).splitlines()[0]}") from None
    return data
