"""Run .tflite models with LiteRT (or tflite_runtime): NumPy only, no TensorFlow, so it runs on devices."""

from __future__ import annotations

import os
import platform

import numpy as np

from keras_resnet.errors import UserError

# The Edge TPU runtime's library name on each platform (what pycoral's `load_edgetpu_delegate` loads).
EDGETPU_LIBRARIES = {"Linux": "libedgetpu.so.1", "Darwin": "libedgetpu.1.dylib", "Windows": "edgetpu.dll"}
EDGETPU_CUSTOM_OP = b"edgetpu-custom-op"


def interpreter_module():
    """LiteRT's `interpreter` module, or tflite_runtime's on older device images."""
    try:
        from ai_edge_litert import interpreter
    except ImportError:
        try:
            from tflite_runtime import interpreter
        except ImportError:
            raise ImportError("No TFLite runtime: install one with `pip install ai-edge-litert`") from None
    return interpreter


def interpreter_class():
    """LiteRT's Interpreter, or tflite_runtime's on older device images."""
    return interpreter_module().Interpreter


def load_delegate(library: str, options: dict | None = None):
    """An external delegate loaded from a shared library; a clear error naming the library if it fails."""
    try:
        return _delegate(library, options)
    except (ValueError, RuntimeError, OSError) as err:
        raise UserError(
            f"Could not load the delegate library {library}: {_detail(err)}. Check the path and that "
            f"it is built for this platform ({platform.system()} {platform.machine()})."
        ) from None


def _delegate(library: str, options: dict | None):
    _open_library(library)
    return interpreter_module().load_delegate(library, options)


def _detail(err: BaseException) -> str:
    return " ".join(str(err).split()) or err.__class__.__name__


def _open_library(library: str) -> None:
    """Open the shared library first, so a missing one fails here with the loader's message.

    LiteRT's Delegate, when its own dlopen fails, leaves a half-built object whose __del__ prints a
    traceback at exit; failing before it is constructed keeps the error to one line.
    """
    import ctypes

    ctypes.CDLL(library)


def edgetpu_library(system: str | None = None) -> str:
    """The Edge TPU runtime library to load on this platform (`system` as `platform.system()` names it)."""
    system = system or platform.system()
    if system not in EDGETPU_LIBRARIES:
        raise UserError(
            f"The Edge TPU runtime exists for Linux, macOS and Windows, not {system}. Received: platform {system}"
        )
    return EDGETPU_LIBRARIES[system]


def edgetpu_delegate(device: str | None = None):
    """The Edge TPU delegate; a clear error when the runtime library or the device is missing."""
    library = edgetpu_library()
    try:
        return _delegate(library, {"device": device} if device else None)
    except (ValueError, RuntimeError, OSError) as err:
        raise UserError(
            f"No usable Edge TPU: loading {library} failed ({_detail(err)}). Install the Edge TPU "
            f"runtime (libedgetpu1-std, see tflite/README.md) and plug in or enable the device. "
            f"Received: edgetpu=True"
        ) from None


def is_edgetpu_compiled(model_bytes: bytes) -> bool:
    """True when the model holds Edge TPU custom ops (made by edgetpu_compiler), which only the delegate runs."""
    return EDGETPU_CUSTOM_OP in model_bytes


def runtime_version() -> str:
    """Name and version of the installed TFLite runtime, e.g. "ai-edge-litert 2.3.0"."""
    for module in ("ai_edge_litert", "tflite_runtime"):
        try:
            from importlib.metadata import version

            return f"{module.replace('_', '-')} {version(module.replace('_', '-'))}"
        except Exception:  # noqa: BLE001 - metadata lookups fail in many ways; try the next runtime
            continue
    return "unknown"


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype) -> np.ndarray:
    """Float values to the integer type of a quantized tensor (round half away from zero, saturate)."""
    info = np.iinfo(dtype)
    q = np.round(np.asarray(x, np.float64) / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integer tensor values back to the floats they stand for."""
    return (q.astype(np.float32) - zero_point) * np.float32(scale)


def image_input(shape, name: str = "the model") -> tuple[tuple[int, int], int]:
    """((height, width), channels) of a model input of `shape`: the size and channels its images are read at
    (`keras_resnet.sources.load`); a UserError when the input is not one image (1, height, width, channels)."""
    shape = tuple(int(d) for d in shape)
    if len(shape) != 4 or shape[0] != 1 or min(shape) < 1:
        raise UserError(
            f"{name} takes inputs of shape {shape}, not one image (1, height, width, channels): "
            f"run an image classifier. Received: input shape {shape}"
        )
    return shape[1:3], shape[3]


def tensor_record(detail: dict) -> dict:
    """Shape, dtype and (scale, zero point) of an input or output tensor, from LiteRT's tensor details."""
    scale, zero_point = detail["quantization"]
    return {
        "shape": [int(d) for d in detail["shape"]],
        "dtype": np.dtype(detail["dtype"]).name,
        "scale": float(scale),
        "zero_point": int(zero_point),
    }


class TFLiteModel:
    """A .tflite model with one image input and one output, run on float pixels or raw integers.

    `run(x)` takes float input (pixels in the model's own units, e.g. 0-255) and quantizes it with the
    model's input parameters when the input is integer; it returns float outputs (dequantized).
    `xnnpack=False` runs LiteRT's plain CPU kernels; `reference_kernels=True` its reference kernels, the
    ones TFLite-Micro's kernels derive from.
    """

    def __init__(
        self,
        model,
        num_threads: int | None = None,
        experimental_delegates=None,
        xnnpack: bool = True,
        reference_kernels: bool = False,
    ):
        kwargs = {"num_threads": num_threads, "experimental_delegates": experimental_delegates}
        if reference_kernels:
            kwargs["experimental_op_resolver_type"] = interpreter_module().OpResolverType.BUILTIN_REF
        elif not xnnpack:
            kwargs["experimental_op_resolver_type"] = (
                interpreter_module().OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            )
        if isinstance(model, (bytes, bytearray)):
            kwargs["model_content"] = bytes(model)
        else:
            kwargs["model_path"] = os.fspath(model)
        self.interpreter = interpreter_class()(**{k: v for k, v in kwargs.items() if v is not None})
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    @property
    def input_shape(self) -> tuple:
        return tuple(int(d) for d in self.input["shape"])

    @property
    def input_dtype(self):
        return self.input["dtype"]

    def io_record(self) -> dict:
        """{"input": ..., "output": ...}: shape, dtype and quantization of each (see `tensor_record`)."""
        return {"input": tensor_record(self.input), "output": tensor_record(self.output)}

    def image_input(self, name: str = "the model") -> tuple[tuple[int, int], int]:
        """((height, width), channels) of the model's image input (see `image_input`)."""
        return image_input(self.input_shape, name)

    def check_classifier(self, name: str = "the model") -> None:
        """A UserError unless the output is a classifier's scores, shape (1, classes): top-k needs them."""
        shape = tuple(int(d) for d in self.output["shape"])
        if len(shape) != 2 or shape[0] != 1 or shape[1] < 1:
            raise UserError(
                f"{name} outputs shape {shape}, not class scores (1, classes): accuracy needs an "
                f"image classifier. Received: output shape {shape}"
            )

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        """Pixels (float or uint8, in the model's own units) as the input tensor holds them.

        A quantized input is always quantized with its own (scale, zero point): casting uint8 pixels
        straight to an int8 input would wrap 128-255 to negative values, a silent preprocessing bug.
        """
        scale, zero_point = self.input["quantization"]
        if np.issubdtype(self.input_dtype, np.integer) and scale > 0:
            return quantize(x, scale, zero_point, self.input_dtype)
        return x.astype(self.input_dtype, copy=False)

    def invoke(self) -> None:
        """Run the model on the input already set; a UserError when a kernel refuses the model's contents."""
        try:
            self.interpreter.invoke()
        except RuntimeError as err:
            raise UserError(
                f"The model does not run: {runtime_version()} says {' '.join(str(err).split())}. "
                "It is damaged or made for another runtime: convert it again."
            ) from None

    def invoke_raw(self, x: np.ndarray) -> np.ndarray:
        """Set the input exactly as given (already in the input's dtype), invoke, return the raw output."""
        self.interpreter.set_tensor(self.input["index"], x)
        self.invoke()
        return self.interpreter.get_tensor(self.output["index"])

    def run_raw(self, x: np.ndarray) -> np.ndarray:
        """Outputs for a batch of inputs as the output tensor holds them (integers for a quantized output),
        one image at a time (the model's batch is 1)."""
        x = np.asarray(x)
        if self.input_shape[:1] != (1,):
            raise UserError(
                f"The model takes batches of shape {self.input_shape}; images are run one at a time: "
                f"convert it with a batch size of 1. Received: input shape {self.input_shape}"
            )
        expected = self.input_shape[1:]
        if tuple(x.shape[1:]) != expected:
            raise UserError(
                f"Images of shape {tuple(x.shape[1:])} do not fit the model's input {expected}. "
                f"Resize them, or convert the model for this size. Received: {x.shape}"
            )
        return self.raw_outputs(self._prepare(image) for image in x)  # one image at a time: bounded memory

    def raw_outputs(self, xs) -> np.ndarray:
        """Raw outputs for inputs (an array or an iterable of images) already in the input tensor's type,
        one invoke per input."""
        return np.stack([self.invoke_raw(x[None])[0] for x in xs])

    def float_outputs(self, raw: np.ndarray) -> np.ndarray:
        """Outputs of `run_raw` as the floats they stand for (dequantized when the output is integer)."""
        if np.issubdtype(raw.dtype, np.integer):
            scale, zero_point = self.output["quantization"]
            return dequantize(raw, scale, zero_point)
        return raw

    def run(self, x: np.ndarray) -> np.ndarray:
        """Float outputs for a batch of inputs, one image at a time (the model's batch is 1)."""
        return self.float_outputs(self.run_raw(x))


# Builtin operators whose multiply-accumulates `model_macs` counts: everything a ResNet spends time in.
_MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def model_macs(model_bytes: bytes) -> int | None:
    """Multiply-accumulates of one inference, counted from the main graph's conv and dense ops.

    None when LiteRT's flatbuffer schema is not installed (tflite_runtime only), when the file cannot be
    read, or when the model holds custom ops (an Edge TPU-compiled model), whose work the file does not say.
    """
    from keras_resnet.lite import flatbuffer

    try:
        model = flatbuffer.read(model_bytes)
    except (ImportError, UserError):
        return None
    if any(op.opcode == "CUSTOM" for op in model.operators):
        return None
    return sum(_op_macs(model, op) for op in model.operators if op.opcode in _MAC_OPS)


def _op_macs(model, op) -> int:
    """MACs of one conv / depthwise conv / fully-connected op: output elements x the reduction length."""
    if len(op.inputs) < 2 or not op.outputs or None in (model.tensor(op.inputs[1]), model.tensor(op.outputs[0])):
        return 0
    output, weights = model.tensor(op.outputs[0]).shape, model.tensor(op.inputs[1]).shape
    reduction = {
        "CONV_2D": weights[1:],  # (out, kh, kw, in)
        "DEPTHWISE_CONV_2D": weights[1:3],  # (1, kh, kw, out)
        "FULLY_CONNECTED": weights[-1:],
    }[op.opcode]  # (out, in)
    return int(np.prod(output, dtype=np.int64) * np.prod(reduction, dtype=np.int64))
