"""A .tflite file from elsewhere is checked before a runtime in this process touches it.

LiteRT and TFLite-Micro trust much of a model: an operator with too few inputs, for one, makes LiteRT
read past an array and die with a segmentation fault, which no `try` can catch. So a model passes two
gates: the package's own checks of the flatbuffer (`flatbuffer.read`), then a first run in a throwaway
process (`python -m keras_resnet.lite.safety`), where a crash or a hang costs that process only and
becomes a clear error here. NumPy and LiteRT only: devices use it too.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from keras_resnet.errors import UserError
from keras_resnet.files import read_bytes
from keras_resnet.lite import flatbuffer, tflm
from keras_resnet.lite.runtime import TFLiteModel

FIRST_RUN_TIMEOUT_S = 300
REMEDY = "Convert the model again or copy the file anew."


def check_model(data: bytes, name: str = "the model", micro: bool = False, delegate: bool = False) -> flatbuffer.Model:
    """The parsed model if it passes the package's checks and a first run on zeros in another process
    (LiteRT, and with `micro` TFLite-Micro too); a clear UserError if not.

    `delegate`: the caller runs the model with a delegate (the Edge TPU, an external library), which may
    supply its custom operators; a model with custom operators then has its first run in the caller.
    """
    model = flatbuffer.read(data, name)
    if not (delegate and "CUSTOM" in (op.opcode for op in model.operators)):
        first_run_elsewhere(data, name, micro)
    return model


def check_tflite(path) -> bytes:
    """The file's bytes if `check_model` accepts them; a clear error naming the file if not."""
    data = read_bytes(path, "TFLite file")
    check_model(data, path)
    return data


def first_run_elsewhere(data: bytes, name: str, micro: bool = False) -> None:
    """Run the model once in a child process; its refusal, crash or hang becomes a UserError here."""
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # above keras_resnet/
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")])))
    command = [sys.executable, "-m", "keras_resnet.lite.safety"] + (["--micro"] if micro else [])
    try:
        done = subprocess.run(command, input=data, capture_output=True, env=env, timeout=FIRST_RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise UserError(
            f"{name} did not finish one run within {FIRST_RUN_TIMEOUT_S} s: it is damaged or far "
            f"too large. {REMEDY} Received: {len(data)} bytes"
        ) from None
    if done.returncode == 0:
        return
    if done.returncode == 1 and done.stdout.strip():  # the child's UserError
        raise UserError(f"{name} failed its first run: {done.stdout.decode(errors='replace').strip()}")
    how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit code {done.returncode}"
    raise UserError(
        f"{name} crashed the TFLite runtime on its first run ({how}): it is damaged. {REMEDY} "
        f"Received: {len(data)} bytes"
    )


def first_run(data: bytes, micro: bool) -> None:
    """In the child: LiteRT builds the model and runs it on zeros (as `eval` and `bench` will, with
    XNNPACK); with `micro`, TFLite-Micro runs it too, in a generous arena."""
    try:
        runner = TFLiteModel(data)
    except (ValueError, RuntimeError) as err:
        raise UserError(
            f"LiteRT cannot load it ({str(err).splitlines()[0]}): it is damaged or made for another runtime. {REMEDY}"
        ) from None
    zeros = np.zeros(runner.input_shape, runner.input_dtype)
    runner.invoke_raw(zeros)
    if micro:
        plain = TFLiteModel(data, xnnpack=False)  # XNNPACK leaves the tensors it takes over as stored
        plain.invoke_raw(zeros)
        check_stored_shapes(flatbuffer.read(data), plain)
        tflm.runs_with_arena(data, tflm.ARENA_SEARCH_LIMIT // 4, zeros)


def check_stored_shapes(model: flatbuffer.Model, runner) -> None:
    """TFLite-Micro takes every tensor's shape from the file, where LiteRT computes them: a file whose stored
    shapes differ from the computed ones would make TFLite-Micro loop or write out of bounds."""
    for detail in runner.interpreter.get_tensor_details():
        index, computed = detail["index"], tuple(int(d) for d in detail["shape"])
        if index < len(model.tensors) and model.tensors[index].shape != computed:
            raise UserError(
                f"tensor {index} is stored with shape {list(model.tensors[index].shape)} but its "
                f"inputs make it {list(computed)}: the file is damaged. {REMEDY}"
            )


def main() -> int:
    """`python -m keras_resnet.lite.safety [--micro] < model.tflite`: exit 0, or 1 with the reason."""
    try:
        first_run(sys.stdin.buffer.read(), "--micro" in sys.argv[1:])
    except UserError as err:
        print(err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
