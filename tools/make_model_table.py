"""Regenerate keras_resnet/model_table.json: parameters, MACs and peak memory of every registered model.

    .venv/bin/python tools/make_model_table.py

`resnet-tflite list` reads the table so it needs no TensorFlow; tests/test_models.py checks it against
freshly built models.
"""

import json
import pathlib

from keras_resnet.files import write_text
from keras_resnet.models.builders import create_model
from keras_resnet.models.profiler import profile
from keras_resnet.models.specs import MODEL_TABLE, list_models

KEYS = ("params", "trainable_params", "macs", "peak_activation_bytes")


def table_row(name: str) -> dict:
    info = profile(create_model(name))
    return {k: info[k] for k in KEYS}


if __name__ == "__main__":
    table = {}
    for name in list_models():
        table[name] = table_row(name)
        print(name, table[name], flush=True)
    out = pathlib.Path(__file__).resolve().parent.parent / "keras_resnet" / MODEL_TABLE
    write_text(out, json.dumps(table, indent=1) + "\n")
    print("wrote", out)
