"""Run .tflite models with LiteRT (or tflite_runtime): NumPy only, no TensorFlow, so it runs on devices."""
from __future__ import annotations

import os

import numpy as np


def interpreter_class():
    """LiteRT's Interpreter, or tflite_runtime's on older device images."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise ImportError("No TFLite runtime: install one with `pip install ai-edge-litert`") from None
    return Interpreter


def runtime_version() -> str:
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
    return (q.astype(np.float32) - zero_point) * np.float32(scale)


class TFLiteModel:
    """A .tflite model with one image input and one output, run on float pixels or raw integers.

    `run(x)` takes float input (pixels in the model's own units, e.g. 0-255) and quantizes it with the
    model's input parameters when the input is integer; it returns float outputs (dequantized).
    """

    def __init__(self, model, num_threads: int | None = None, experimental_delegates=None,
                 xnnpack: bool = True):
        kwargs = {"num_threads": num_threads, "experimental_delegates": experimental_delegates}
        if not xnnpack:
            kwargs["experimental_op_resolver_type"] = _builtin_without_default_delegates()
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

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        if np.issubdtype(self.input_dtype, np.integer) and not np.issubdtype(x.dtype, np.integer):
            scale, zero_point = self.input["quantization"]
            return quantize(x, scale, zero_point, self.input_dtype)
        return x.astype(self.input_dtype, copy=False)

    def invoke_raw(self, x: np.ndarray) -> np.ndarray:
        """Set the input exactly as given (already in the input's dtype), invoke, return the raw output."""
        self.interpreter.set_tensor(self.input["index"], x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])

    def run(self, x: np.ndarray) -> np.ndarray:
        """Float outputs for a batch of inputs, one image at a time (the model's batch is 1)."""
        x = np.asarray(x)
        expected = self.input_shape[1:]
        if tuple(x.shape[1:]) != expected:
            raise ValueError(f"Images of shape {tuple(x.shape[1:])} do not fit the model's input {expected}. "
                             f"Resize them, or convert the model for this size. Received: {x.shape}")
        outputs = []
        for image in x:
            raw = self.invoke_raw(self._prepare(image[None]))
            if np.issubdtype(raw.dtype, np.integer):
                scale, zero_point = self.output["quantization"]
                raw = dequantize(raw, scale, zero_point)
            outputs.append(raw[0])
        return np.stack(outputs)


def _builtin_without_default_delegates():
    from ai_edge_litert.interpreter import OpResolverType

    return OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
