"""TFLite-Micro export: the model as a C array, its op resolver and settings headers, the measured arena.

The tensor arena is measured, not guessed: the model runs in the `tflite-micro` Python interpreter (the
microcontroller kernels built for the host) with ever smaller arenas until it no longer fits. The host is
64-bit, so its bookkeeping structs are larger than on a 32-bit microcontroller and the measurement errs on
the safe side; the stated margin covers kernels that ask for more scratch memory on a target (CMSIS-NN).
No TensorFlow here: the model is read by `keras_resnet.tflite_file`.
"""
from __future__ import annotations

import contextlib
import os
import re
import tempfile

import numpy as np

from keras_resnet import tflite_file
from keras_resnet.errors import UserError

ARENA_MARGIN = 0.10  # on top of the measured minimum, then rounded up to ARENA_ALIGN
ARENA_ALIGN = 1024
ARENA_SEARCH_LIMIT = 512 * 1024 * 1024
# One activation larger than this fits no microcontroller by far; the model is refused before the arena is
# measured, since running it in TFLite-Micro dozens of times would take minutes.
ACTIVATION_LIMIT = 64 * 1024 * 1024
PARITY_TOLERANCE_LSB = 4  # largest TFLM vs LiteRT-reference difference we accept (measured: 2)
KIB = 1024
# Memory budgets people check a model against: (label, flash bytes, RAM bytes).
BOARDS = (
    ("256 KB flash / 128 KB RAM (small Cortex-M4, MLPerf Tiny class)", 256 * KIB, 128 * KIB),
    ("1 MB flash / 256 KB RAM (nRF52840: Arduino Nano 33 BLE Sense)", 1024 * KIB, 256 * KIB),
    ("1 MB flash / 320 KB RAM (STM32F746G-DISCO, MLPerf Tiny reference)", 1024 * KIB, 320 * KIB),
    ("2 MB flash / 512 KB RAM (ESP32-S3, STM32H7 class)", 2048 * KIB, 512 * KIB),
)
# TFLite builtin -> MicroMutableOpResolver method (tensorflow/lite/micro/micro_mutable_op_resolver.h).
RESOLVER_METHODS = {
    "ABS": "AddAbs", "ADD": "AddAdd", "ADD_N": "AddAddN", "ARG_MAX": "AddArgMax", "ARG_MIN": "AddArgMin",
    "AVERAGE_POOL_2D": "AddAveragePool2D", "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd", "CAST": "AddCast",
    "CONCATENATION": "AddConcatenation", "CONV_2D": "AddConv2D", "DEPTH_TO_SPACE": "AddDepthToSpace",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "DEQUANTIZE": "AddDequantize", "ELU": "AddElu",
    "EXP": "AddExp", "EXPAND_DIMS": "AddExpandDims", "FULLY_CONNECTED": "AddFullyConnected",
    "GATHER": "AddGather", "HARD_SWISH": "AddHardSwish", "L2_NORMALIZATION": "AddL2Normalization",
    "LEAKY_RELU": "AddLeakyRelu", "LOGISTIC": "AddLogistic", "MAXIMUM": "AddMaximum",
    "MAX_POOL_2D": "AddMaxPool2D", "MEAN": "AddMean", "MINIMUM": "AddMinimum", "MUL": "AddMul",
    "PACK": "AddPack", "PAD": "AddPad", "PADV2": "AddPadV2", "PRELU": "AddPrelu", "QUANTIZE": "AddQuantize",
    "REDUCE_MAX": "AddReduceMax", "RELU": "AddRelu", "RELU6": "AddRelu6", "RESHAPE": "AddReshape",
    "RESIZE_BILINEAR": "AddResizeBilinear", "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor",
    "RSQRT": "AddRsqrt", "SHAPE": "AddShape", "SOFTMAX": "AddSoftmax", "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd",
    "SPACE_TO_DEPTH": "AddSpaceToDepth", "SPLIT": "AddSplit", "SPLIT_V": "AddSplitV", "SQUEEZE": "AddSqueeze",
    "STRIDED_SLICE": "AddStridedSlice", "SUB": "AddSub", "SUM": "AddSum", "TANH": "AddTanh",
    "TRANSPOSE": "AddTranspose", "TRANSPOSE_CONV": "AddTransposeConv", "UNPACK": "AddUnpack",
}
NUMPY_TYPES = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32, "float32": np.float32}


# --- names and C source ---------------------------------------------------------------------------------

def c_name(name: str) -> str:
    """`name` as a C identifier (file stem -> "resnet8"); refuses names that cannot become one."""
    cleaned = re.sub(r"\W", "_", name.strip()).strip("_").lower()
    if not cleaned or not re.match(r"[a-z_]", cleaned):
        raise UserError(f"--name must start with a letter and hold letters, digits or '_'. Received: {name!r}")
    return cleaned


def c_string(text: str) -> str:
    """A C string literal for `text` (UTF-8, with quotes, backslashes and non-ASCII bytes escaped)."""
    out = []
    for byte in str(text).encode():
        char = chr(byte)
        out.append(f"\\{char}" if char in '"\\' else char if 32 <= byte < 127 else f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def model_data_sources(data: bytes, name: str) -> dict[str, str]:
    """`NAME_model_data.h/.cc`: the model bytes as a 16-byte-aligned array and its length (C linkage)."""
    guard = f"{name.upper()}_MODEL_DATA_H_"
    header = (f"// {name}: a TFLite model as a C array, written by resnet-tflite micro.\n"
              f"#ifndef {guard}\n#define {guard}\n\n"
              "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
              f"extern const unsigned char g_{name}_model_data[];\n"
              f"extern const unsigned int g_{name}_model_data_len;  // {len(data)} bytes\n\n"
              "#ifdef __cplusplus\n}\n#endif\n\n"
              f"#endif  // {guard}\n")
    rows = (", ".join(f"0x{b:02x}" for b in data[i:i + 12]) for i in range(0, len(data), 12))
    source = (f"// {name}: a TFLite model as a C array, written by resnet-tflite micro.\n"
              f"#include \"{name}_model_data.h\"\n\n"
              "// TFLite-Micro reads the flatbuffer in place, so the array stays in flash and must be aligned.\n"
              f"alignas(16) const unsigned char g_{name}_model_data[] = {{\n  "
              + ",\n  ".join(rows) + "\n};\n"
              f"const unsigned int g_{name}_model_data_len = {len(data)};\n")
    return {f"{name}_model_data.h": header, f"{name}_model_data.cc": source}


def resolver_methods(model: tflite_file.Model) -> list[str]:
    """The resolver's Add* calls for exactly the builtins the model uses (a clear error for others)."""
    missing = [op for op in model.op_names() if op not in RESOLVER_METHODS]
    if missing:
        raise UserError(f"The model uses operators TFLite-Micro's resolver does not offer here: "
                        f"{', '.join(missing)}. Convert with --int8 (builtins only). Received: {missing}")
    return [RESOLVER_METHODS[op] for op in model.op_names()]


def resolver_header(model: tflite_file.Model, name: str) -> str:
    """`NAME_op_resolver.h`: a MicroMutableOpResolver sized to the model's distinct operators."""
    methods = resolver_methods(model)
    guard = f"{name.upper()}_OP_RESOLVER_H_"
    calls = "".join(f"  TF_LITE_ENSURE_STATUS(resolver.{m}());\n" for m in methods)
    return (f"// {name}: the operators the model uses, and no others (smaller binary).\n"
            f"#ifndef {guard}\n#define {guard}\n\n"
            "#include \"tensorflow/lite/micro/micro_mutable_op_resolver.h\"\n\n"
            f"namespace {name} {{\n\n"
            f"constexpr int kOpCount = {len(methods)};\n"
            "using OpResolver = tflite::MicroMutableOpResolver<kOpCount>;\n\n"
            "inline TfLiteStatus RegisterOps(OpResolver& resolver) {\n"
            f"{calls}  return kTfLiteOk;\n}}\n\n"
            f"}}  // namespace {name}\n\n#endif  // {guard}\n")


def settings_header(info: dict, name: str, arena_bytes: int) -> str:
    """`NAME_model_settings.h`: input shape, input/output quantization, classes, the arena to reserve."""
    guard = f"{name.upper()}_MODEL_SETTINGS_H_"
    inp, out = info["input"], info["output"]
    height, width, channels = (list(inp["shape"][1:]) + [1, 1, 1])[:3]
    classes = info["classes"]
    names = ",\n    ".join(c_string(c) for c in classes)
    return (f"// {name}: what the application needs to feed the model and read its answer.\n"
            f"#ifndef {guard}\n#define {guard}\n\n"
            f"namespace {name} {{\n\n"
            f"constexpr int kInputHeight = {height};\n"
            f"constexpr int kInputWidth = {width};\n"
            f"constexpr int kInputChannels = {channels};\n"
            f"constexpr int kInputSize = {height * width * channels};  // elements of type {inp['dtype']}\n"
            f"constexpr float kInputScale = {inp['scale']!r}f;  // real = scale * (q - zero_point)\n"
            f"constexpr int kInputZeroPoint = {inp['zero_point']};\n"
            f"constexpr float kOutputScale = {out['scale']!r}f;\n"
            f"constexpr int kOutputZeroPoint = {out['zero_point']};\n"
            f"constexpr int kNumClasses = {len(classes)};\n"
            f"constexpr const char* kClassNames[kNumClasses] = {{\n    {names}}};\n"
            f"// Measured on the host ({info['arena']['measured_bytes']} bytes) plus a "
            f"{int(ARENA_MARGIN * 100)}% margin.\n"
            f"constexpr int kTensorArenaSize = {arena_bytes};\n\n"
            f"}}  // namespace {name}\n\n#endif  // {guard}\n")


# --- running the model in TFLite-Micro ------------------------------------------------------------------

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


def tflm_interpreter(data: bytes, arena_bytes: int):
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_bytes(data, arena_size=int(arena_bytes))


def runs_with_arena(data: bytes, arena_bytes: int, x: np.ndarray) -> bool:
    """Whether TFLM allocates and invokes the model within an arena of `arena_bytes`."""
    with captured_stderr():
        try:
            interpreter = tflm_interpreter(data, arena_bytes)
            interpreter.set_input(x, 0)
            interpreter.invoke()
            return True
        except RuntimeError:
            return False


def zeros_input(model: tflite_file.Model) -> np.ndarray:
    tensor = model.tensors[model.inputs[0]]
    if tensor.dtype not in NUMPY_TYPES:
        raise UserError(f"The model's input is {tensor.dtype}; expected int8, uint8 or float32. "
                        f"Received: {tensor.dtype}")
    return np.zeros(tensor.shape, NUMPY_TYPES[tensor.dtype])


def check_activations(model: tflite_file.Model) -> None:
    """Refuse a model with an activation larger than ACTIVATION_LIMIT before it is run at all."""
    activations = [(int(np.prod(t.shape, dtype=np.int64)) * tflite_file.ITEMSIZE.get(t.dtype, 1), t.index)
                   for t in model.tensors if not t.is_constant]
    size, index = max(activations, default=(0, None))
    if size > ACTIVATION_LIMIT:
        raise UserError(f"Tensor {index} alone takes {size:,} bytes of RAM, more than any microcontroller has: "
                        f"use a smaller input size or width. Received: {size:,} bytes")


def measure_arena(data: bytes, model: tflite_file.Model) -> int:
    """The smallest arena (bytes) in which TFLM allocates and runs the model, by bisection.

    First the model must run with a generous arena; if it does not, the failure is not about memory
    (an unsupported operator, say) and TFLM's own message is reported.
    """
    x = zeros_input(model)
    high = max(64 * KIB, 4 * len(data))
    while not runs_with_arena(data, high, x):
        if high >= ARENA_SEARCH_LIMIT:
            raise UserError(f"TFLite-Micro cannot run this model: {_tflm_error(data, high, x)}")
        high *= 4
    low = 0  # fails (an empty arena holds nothing)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if runs_with_arena(data, middle, x) else (middle, high)
    return high


def _tflm_error(data: bytes, arena_bytes: int, x) -> str:
    with captured_stderr() as text:
        try:
            interpreter = tflm_interpreter(data, arena_bytes)
            interpreter.set_input(x, 0)
            interpreter.invoke()
        except RuntimeError as err:
            message = str(err)
    lines = [line.strip() for line in text[0].splitlines() if line.strip()]
    return "; ".join(lines[-3:] + [message])


def recommended_arena(measured: int) -> int:
    """The measured minimum plus ARENA_MARGIN, rounded up to ARENA_ALIGN."""
    return -(-int(measured * (1 + ARENA_MARGIN)) // ARENA_ALIGN) * ARENA_ALIGN


def tflm_outputs(data: bytes, arena_bytes: int, xs: np.ndarray) -> np.ndarray:
    """Raw outputs of TFLM for a batch of inputs already in the input's type (one invoke each)."""
    interpreter = tflm_interpreter(data, arena_bytes)
    outputs = []
    for x in xs:
        interpreter.set_input(x[None], 0)
        interpreter.invoke()
        outputs.append(interpreter.get_output(0)[0].copy())
    return np.stack(outputs)


def litert_outputs(data: bytes, xs: np.ndarray, reference_kernels: bool) -> np.ndarray:
    """Raw LiteRT outputs, with its reference kernels (what TFLM's kernels derive from) or the default."""
    from keras_resnet.runtime import TFLiteModel, interpreter_class

    if not reference_kernels:
        model = TFLiteModel(data)
        return np.stack([model.invoke_raw(x[None])[0] for x in xs])
    from ai_edge_litert.interpreter import OpResolverType

    interpreter = interpreter_class()(model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    results = []
    for x in xs:
        interpreter.set_tensor(inp, x[None])
        interpreter.invoke()
        results.append(interpreter.get_tensor(out)[0].copy())
    return np.stack(results)


def quantized_inputs(model: tflite_file.Model, pixels: np.ndarray) -> np.ndarray:
    """Images (float pixels) in the model's input type, quantized with its input parameters."""
    from keras_resnet.runtime import quantize

    tensor = model.tensors[model.inputs[0]]
    if tuple(pixels.shape[1:]) != tuple(tensor.shape[1:]):
        raise UserError(f"Images of shape {tuple(pixels.shape[1:])} do not fit the model's input "
                        f"{tuple(tensor.shape[1:])}: use images of the model's input size and channels. "
                        f"Received: {pixels.shape}")
    dtype = NUMPY_TYPES[tensor.dtype]
    if np.issubdtype(dtype, np.floating):
        return pixels.astype(dtype)
    return quantize(pixels, tensor.scale[0], tensor.zero_point[0], dtype)


def parity(data: bytes, model: tflite_file.Model, pixels: np.ndarray, arena_bytes: int) -> dict:
    """TFLM against LiteRT on the same inputs: largest difference in output steps (LSB), top-1 agreement.

    TFLM's kernels derive from LiteRT's reference kernels, and against those the outputs are bit-exact on
    nearly every image (98-100 of 100 CIFAR-10 test images for ResNet-8 in our measurements), with an
    occasional difference of up to PARITY_TOLERANCE_LSB on one output where an intermediate rounding
    resolves differently. LiteRT's default kernels (optimised paths, XNNPACK) round intermediates in their
    own way: a few LSB on most images, the same top-1 on nearly all.
    """
    xs = quantized_inputs(model, pixels)
    micro = tflm_outputs(data, arena_bytes, xs).astype(np.float64)
    result = {"images": int(len(xs))}
    for key, reference in (("litert_reference_kernels", True), ("litert_default", False)):
        other = litert_outputs(data, xs, reference).astype(np.float64)
        diff = np.abs(micro - other)
        result[key] = {"max_abs_diff": float(diff.max()), "bit_exact_images": int(np.sum(diff.max(axis=1) == 0)),
                       "top1_agreement": float(np.mean(micro.argmax(1) == other.argmax(1)))}
    return result


# --- export ---------------------------------------------------------------------------------------------

def io_record(model: tflite_file.Model) -> dict:
    def describe(index):
        t = model.tensors[index]
        return {"shape": list(t.shape), "dtype": t.dtype, "scale": t.scale[0] if t.scale else 0.0,
                "zero_point": t.zero_point[0] if t.zero_point else 0}
    return {"input": describe(model.inputs[0]), "output": describe(model.outputs[0])}


def class_names(data: bytes, model: tflite_file.Model) -> list[str]:
    """Class names from the model's embedded record, else class_0 ... class_{n-1}."""
    from keras_resnet import metadata

    try:
        record = metadata.read(data)
    except UserError:  # a damaged record only costs the names, never the export
        record = None
    classes = (record or {}).get("classes")
    count = int(np.prod(model.tensors[model.outputs[0]].shape[1:]) or 1)
    return [str(c) for c in classes] if classes and len(classes) == count else [f"class_{i}" for i in range(count)]


def board_fit(flash_bytes: int, ram_bytes: int) -> list[dict]:
    """For each of BOARDS: does the model (flash) and the arena (RAM) fit, and how much is left."""
    return [{"board": label, "fits": flash_bytes <= flash and ram_bytes <= ram,
             "flash_left": flash - flash_bytes, "ram_left": ram - ram_bytes} for label, flash, ram in BOARDS]


def budget(data: bytes) -> dict:
    """Flash (model bytes) and RAM (measured arena, recommended arena) of a model, against BOARDS.

    The model runs in TFLite-Micro only after LiteRT has (tflite_check.check_model): TFLM trusts the file.
    """
    from keras_resnet.tflite_check import check_model

    model = tflite_file.read(data)
    check_activations(model)
    check_model(data, micro=True)
    measured = measure_arena(data, model)
    arena = recommended_arena(measured)
    return {"flash_bytes": len(data), "arena": {"measured_bytes": measured, "recommended_bytes": arena,
                                                "margin": ARENA_MARGIN},
            "boards": board_fit(len(data), arena)}


def export(data: bytes, out_dir, name: str) -> dict:
    """Write the C array, op resolver and settings headers for `data` into `out_dir`; return the report."""
    from keras_resnet.io import write_text

    model = tflite_file.read(data)
    name = c_name(name)
    resolver = resolver_header(model, name)  # refuses unsupported operators before measuring
    report = {"name": name, **budget(data), **io_record(model), "classes": class_names(data, model),
              "operators": model.op_names()}
    files = {**model_data_sources(data, name), f"{name}_op_resolver.h": resolver,
             f"{name}_model_settings.h": settings_header(report, name, report["arena"]["recommended_bytes"])}
    for filename, text in files.items():
        write_text(os.path.join(out_dir, filename), text)
    report["files"] = sorted(files)
    return report
