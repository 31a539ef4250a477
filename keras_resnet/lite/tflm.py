"""TFLite-Micro on the host: the `tflite-micro` Python interpreter (the microcontroller kernels built for this
machine), to run a model as a microcontroller would and to measure the smallest tensor arena it needs.

The host is 64-bit, so TFLM's bookkeeping structs take more arena here than on a 32-bit microcontroller;
`keras_resnet.lite.firmware` measures the arena on the target itself. TFLM trusts the model file: run a
model here only after `keras_resnet.lite.safety` has passed it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile

import numpy as np

from keras_resnet.errors import UserError
from keras_resnet.lite import flatbuffer

KIB = 1024
ARENA_SEARCH_LIMIT = 512 * 1024 * 1024
# One activation larger than this fits no microcontroller by far; the model is refused before the arena is
# measured, since running it in TFLite-Micro dozens of times would take minutes.
ACTIVATION_LIMIT = 64 * 1024 * 1024
NUMPY_TYPES = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32, "float32": np.float32}


@contextlib.contextmanager
def captured_stderr():
    """Collect what native code prints on file descriptor 2 (TFLM reports allocation failures there)."""
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        text = []
        try:
            yield text
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text.append(sink.read().decode(errors="replace"))


def interpreter(data: bytes, arena_bytes: int):
    """A TFLM interpreter of the model bytes in an arena of `arena_bytes`."""
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_bytes(data, arena_size=int(arena_bytes))


def run_once(data: bytes, arena_bytes: int, x: np.ndarray) -> str | None:
    """Allocate and invoke the model once on `x`; None when it ran, else what TFLM said (its last lines)."""
    with captured_stderr() as text:
        try:
            runner = interpreter(data, arena_bytes)
            runner.set_input(x, 0)
            runner.invoke()
            message = None
        except RuntimeError as err:
            message = str(err)
    if message is None:
        return None
    lines = [line.strip() for line in text[0].splitlines() if line.strip()]
    return "; ".join(lines[-3:] + [message])


def runs_with_arena(data: bytes, arena_bytes: int, x: np.ndarray) -> bool:
    """Whether TFLM allocates and invokes the model within an arena of `arena_bytes`."""
    return run_once(data, arena_bytes, x) is None


def zeros_input(model: flatbuffer.Model) -> np.ndarray:
    """An all-zero input of the model's shape and type."""
    tensor = model.tensors[model.inputs[0]]
    if tensor.dtype not in NUMPY_TYPES:
        raise UserError(
            f"The model's input is {tensor.dtype}; expected int8, uint8 or float32. Received: {tensor.dtype}"
        )
    return np.zeros(tensor.shape, NUMPY_TYPES[tensor.dtype])


def check_activations(model: flatbuffer.Model) -> None:
    """Refuse a model with an activation larger than ACTIVATION_LIMIT before it is run at all."""
    activations = [
        (int(np.prod(t.shape, dtype=np.int64)) * flatbuffer.ITEMSIZE.get(t.dtype, 1), t.index)
        for t in model.tensors
        if not t.is_constant
    ]
    size, index = max(activations, default=(0, None))
    if size > ACTIVATION_LIMIT:
        raise UserError(
            f"Tensor {index} alone takes {size:,} bytes of RAM, more than any microcontroller has: "
            f"use a smaller input size or width. Received: {size:,} bytes"
        )


def measure_arena(data: bytes, model: flatbuffer.Model) -> int:
    """The smallest arena (bytes) in which TFLM allocates and runs the model, by bisection.

    First the model must run with a generous arena; if it does not, the failure is not about memory
    (an unsupported operator, say) and TFLM's own message is reported. The bisection itself runs in a child
    process (`bisect_elsewhere`): for some arenas a few bytes short of what a model needs, TFLM's memory
    planner writes out of bounds and the process dies (tflite-micro 0.dev20261023: a two-layer
    fully-connected int8 model of 64 inputs, at 1,960 to 1,990 bytes), which no `try` can catch.
    """
    x = zeros_input(model)
    high = max(64 * KIB, 4 * len(data))
    while (error := run_once(data, high, x)) is not None:
        if high >= ARENA_SEARCH_LIMIT:
            raise UserError(f"TFLite-Micro cannot run this model: {error}")
        high *= 4
    low = 0  # fails (an empty arena holds nothing)
    while high - low > 1:
        low, high = bisect_elsewhere(data, low, high)
    return high


BISECT_TIMEOUT_S = 600


def bisect_elsewhere(data: bytes, low: int, high: int) -> tuple[int, int]:
    """Bisect the arena between `low` (too small) and `high` (fits) in a child process
    (`python -m keras_resnet.lite.tflm`); the bounds it reached. A probe that crashes the child counts as too
    small (TFLM only crashes where it cannot allocate), and the caller goes on from there in a new child."""
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")])))
    done = subprocess.run(
        [sys.executable, "-m", "keras_resnet.lite.tflm", str(low), str(high)],
        input=data,
        capture_output=True,
        env=env,
        timeout=BISECT_TIMEOUT_S,
    )
    trying = None
    for fields in (line.split() for line in done.stdout.decode(errors="replace").splitlines()):
        if len(fields) == 2 and fields[0] == "trying":
            trying = int(fields[1])
        elif len(fields) == 2 and fields[0] in ("fits", "short"):
            size, trying = int(fields[1]), None
            low, high = (low, size) if fields[0] == "fits" else (size, high)
    if done.returncode != 0:
        if trying is None:  # not a probe that crashed: the child itself failed
            raise UserError(
                f"Measuring TFLite-Micro's arena failed in its child process (exit code {done.returncode}): "
                f"{done.stderr.decode(errors='replace').strip()[-500:]}"
            )
        low = trying
    return low, high


def _bisect_main(argv: list[str]) -> int:
    """`python -m keras_resnet.lite.tflm LOW HIGH < model.tflite`: `measure_arena`'s bisection between LOW (too
    small) and HIGH (fits), each probe said on stdout before it runs ("trying N") and after ("fits N", "short N")."""
    low, high = int(argv[0]), int(argv[1])
    data = sys.stdin.buffer.read()
    x = zeros_input(flatbuffer.read(data))
    while high - low > 1:
        middle = (low + high) // 2
        print("trying", middle, flush=True)
        fits = runs_with_arena(data, middle, x)
        print("fits" if fits else "short", middle, flush=True)
        low, high = (low, middle) if fits else (middle, high)
    return 0


def outputs(data: bytes, arena_bytes: int, xs: np.ndarray) -> np.ndarray:
    """Raw outputs of TFLM for a batch of inputs already in the input's type (one invoke each)."""
    runner = interpreter(data, arena_bytes)
    results = []
    for x in xs:
        runner.set_input(x[None], 0)
        runner.invoke()
        results.append(runner.get_output(0)[0].copy())
    return np.stack(results)


def quantized_inputs(model: flatbuffer.Model, pixels: np.ndarray) -> np.ndarray:
    """Images (float pixels) in the model's input type, quantized with its input parameters."""
    from keras_resnet.lite.runtime import quantize

    tensor = model.tensors[model.inputs[0]]
    if tuple(pixels.shape[1:]) != tuple(tensor.shape[1:]):
        raise UserError(
            f"Images of shape {tuple(pixels.shape[1:])} do not fit the model's input "
            f"{tuple(tensor.shape[1:])}: use images of the model's input size and channels. "
            f"Received: {pixels.shape}"
        )
    dtype = NUMPY_TYPES[tensor.dtype]
    if np.issubdtype(dtype, np.floating):
        return pixels.astype(dtype)
    return quantize(pixels, tensor.scale[0], tensor.zero_point[0], dtype)


if __name__ == "__main__":
    sys.exit(_bisect_main(sys.argv[1:]))
