"""TFLite-Micro export: the model as a C array, its op resolver and settings headers, the measured arena.

The tensor arena is measured, not guessed: the model runs in the `tflite-micro` Python interpreter
(`keras_resnet.lite.tflm`) with ever smaller arenas until it no longer fits. The host is 64-bit, so its
bookkeeping structs are larger than on a 32-bit microcontroller and the measurement errs on the safe side;
the stated margin covers kernels that ask for more scratch memory on a target (CMSIS-NN).
No TensorFlow here: the model is read by `keras_resnet.lite.flatbuffer`.
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np

from keras_resnet.errors import UserError
from keras_resnet.files import check_directory, write_json, write_text
from keras_resnet.lite import flatbuffer, metadata, tflm
from keras_resnet.lite.runtime import TFLiteModel
from keras_resnet.lite.safety import check_model
from keras_resnet.lite.strip import stripped

__all__ = ["micro", "export", "budget", "parity", "c_name", "recommended_arena", "BOARDS"]

ARENA_MARGIN = 0.10  # on top of the measured minimum, then rounded up to ARENA_ALIGN
ARENA_ALIGN = 1024
PARITY_TOLERANCE_LSB = 4  # largest TFLM vs LiteRT-reference difference we accept (measured: 2)
KIB = tflm.KIB
# Memory budgets people check a model against: (label, flash bytes, RAM bytes).
BOARDS = (
    ("256 KB flash / 128 KB RAM (small Cortex-M4, MLPerf Tiny class)", 256 * KIB, 128 * KIB),
    ("1 MB flash / 256 KB RAM (nRF52840: Arduino Nano 33 BLE Sense)", 1024 * KIB, 256 * KIB),
    ("1 MB flash / 320 KB RAM (STM32F746G-DISCO, MLPerf Tiny reference)", 1024 * KIB, 320 * KIB),
    ("2 MB flash / 512 KB RAM (ESP32-S3, STM32H7 class)", 2048 * KIB, 512 * KIB),
)
# Builtins whose TFLite-Micro kernel also has an int8-only registration (`Register_<OP>_INT8()`, declared in
# tensorflow/lite/micro/kernels/<header>): in an all-int8 model it leaves the float, int16 and int4 paths out
# of the binary, 25 KB of flash for a ResNet with CMSIS-NN. With reference kernels they are the same kernel.
INT8_REGISTRATIONS = {
    "ADD": "add.h",
    "AVERAGE_POOL_2D": "pooling.h",
    "BATCH_MATMUL": "batch_matmul.h",
    "CONV_2D": "conv.h",
    "DEPTHWISE_CONV_2D": "depthwise_conv.h",
    "FULLY_CONNECTED": "fully_connected.h",
    "MAX_POOL_2D": "pooling.h",
    "MAXIMUM": "maximum_minimum.h",
    "MINIMUM": "maximum_minimum.h",
    "MUL": "mul.h",
    "PAD": "pad.h",
    "SOFTMAX": "softmax.h",
    "SVDF": "svdf.h",
    "TRANSPOSE": "transpose.h",
    "TRANSPOSE_CONV": "transpose_conv.h",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "unidirectional_sequence_lstm.h",
}
# MicroMutableOpResolver names its method for a builtin by the schema name in CamelCase (CONV_2D: AddConv2D,
# BATCH_TO_SPACE_ND: AddBatchToSpaceNd); these four are spelled otherwise in micro_mutable_op_resolver.h.
RESOLVER_SPELLINGS = {
    "BATCH_MATMUL": "AddBatchMatMul",
    "CUMSUM": "AddCumSum",
    "PADV2": "AddPadV2",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
}
BUILTIN_NAME = re.compile(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*")


# --- names and C source ---------------------------------------------------------------------------------


def c_name(name: str) -> str:
    """`name` as a C identifier (file stem -> "resnet8"); refuses names that cannot become one."""
    cleaned = re.sub(r"\W", "_", name.strip()).strip("_").lower()
    if not cleaned or not re.match(r"[a-z_]", cleaned):
        raise UserError(
            f"A C name must start with a letter and hold letters, digits or '_': pass name=NAME. "
            f"Received: name={name!r}"
        )
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
    header = (
        f"// {name}: a TFLite model as a C array, written by resnet-tflite micro.\n"
        f"#ifndef {guard}\n#define {guard}\n\n"
        '#ifdef __cplusplus\nextern "C" {\n#endif\n\n'
        f"extern const unsigned char g_{name}_model_data[];\n"
        f"extern const unsigned int g_{name}_model_data_len;  // {len(data)} bytes\n\n"
        "#ifdef __cplusplus\n}\n#endif\n\n"
        f"#endif  // {guard}\n"
    )
    rows = (", ".join(f"0x{b:02x}" for b in data[i : i + 12]) for i in range(0, len(data), 12))
    source = (
        f"// {name}: a TFLite model as a C array, written by resnet-tflite micro.\n"
        f'#include "{name}_model_data.h"\n\n'
        "// TFLite-Micro reads the flatbuffer in place, so the array stays in flash and must be aligned.\n"
        f"alignas(16) const unsigned char g_{name}_model_data[] = {{\n  " + ",\n  ".join(rows) + "\n};\n"
        f"const unsigned int g_{name}_model_data_len = {len(data)};\n"
    )
    return {f"{name}_model_data.h": header, f"{name}_model_data.cc": source}


def resolver_method(op: str) -> str:
    """The MicroMutableOpResolver method that registers builtin `op`, from its schema name."""
    camel = "".join(part if part[0].isdigit() else part.capitalize() for part in op.split("_"))
    return RESOLVER_SPELLINGS.get(op, "Add" + camel)


def resolver_methods(model: flatbuffer.Model) -> list[str]:
    """The resolver's Add* calls for exactly the builtins the model uses; a custom operator is refused (its
    registration is the user's own code, not TFLite-Micro's)."""
    custom = sorted({op.name for op in model.operators if op.opcode == "CUSTOM" or not BUILTIN_NAME.fullmatch(op.name)})
    if custom:
        raise UserError(
            f"The model uses custom operators, which TFLite-Micro registers only from code of your own "
            f"(MicroMutableOpResolver::AddCustom): {', '.join(custom)}. Convert it with builtin operators only "
            f"(int8 builtins). Received: {custom}"
        )
    return [resolver_method(op) for op in model.op_names()]


def all_int8(model: flatbuffer.Model) -> bool:
    """Whether every tensor that flows through the model is int8 (the full-integer models of `convert --int8`)."""
    return all(t.dtype == "int8" for t in model.tensors if not t.is_constant)


def registrations(model: flatbuffer.Model) -> list[tuple[str, str]]:
    """(resolver method, registration argument) per operator: the int8-only kernel where the model is all int8
    and TFLite-Micro has one (`INT8_REGISTRATIONS`), else the method's default ("")."""
    int8 = all_int8(model)
    return [
        (method, f"tflite::Register_{op}_INT8()" if int8 and op in INT8_REGISTRATIONS else "")
        for op, method in zip(model.op_names(), resolver_methods(model))
    ]


def resolver_header(model: flatbuffer.Model, name: str) -> str:
    """`NAME_op_resolver.h`: a MicroMutableOpResolver sized to the model's distinct operators."""
    chosen = registrations(model)
    headers = sorted({INT8_REGISTRATIONS[op] for op, (_, argument) in zip(model.op_names(), chosen) if argument})
    guard = f"{name.upper()}_OP_RESOLVER_H_"
    calls = "".join(f"  TF_LITE_ENSURE_STATUS(resolver.{method}({argument}));\n" for method, argument in chosen)
    includes = "".join(f'#include "tensorflow/lite/micro/kernels/{h}"\n' for h in headers)
    return (
        f"// {name}: the operators the model uses, and no others (smaller binary); the int8-only kernels\n"
        f"// where the model is all int8 (with CMSIS-NN, compile with -DCMSIS_NN to get them).\n"
        f"#ifndef {guard}\n#define {guard}\n\n"
        f"{includes}"
        '#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"\n\n'
        f"namespace {name} {{\n\n"
        f"constexpr int kOpCount = {len(chosen)};\n"
        "using OpResolver = tflite::MicroMutableOpResolver<kOpCount>;\n\n"
        "inline TfLiteStatus RegisterOps(OpResolver& resolver) {\n"
        f"{calls}  return kTfLiteOk;\n}}\n\n"
        f"}}  // namespace {name}\n\n#endif  // {guard}\n"
    )


def model_header(name: str) -> str:
    """`model.h`: the model's three headers under the names main.cc (the firmware's) includes them by."""
    return (
        f"// The model main.cc runs: {name}, written by resnet-tflite.\n"
        "#ifndef MODEL_H_\n#define MODEL_H_\n\n"
        f'#include "{name}_model_data.h"\n#include "{name}_model_settings.h"\n'
        f'#include "{name}_op_resolver.h"\n\n'
        f"namespace model = {name};\n#define MODEL_DATA g_{name}_model_data\n\n#endif  // MODEL_H_\n"
    )


def sources(
    data: bytes, model: flatbuffer.Model, name: str, info: dict, arena_bytes: int, arena_note: str | None = None
) -> dict[str, str]:
    """The model's TFLite-Micro sources by file name: its C array, op resolver, settings (`settings_header`'s
    `info`, `arena_bytes`, `arena_note`) and model.h; what `micro` writes and `firmware` builds in."""
    return {
        **model_data_sources(data, name),
        f"{name}_op_resolver.h": resolver_header(model, name),
        "model.h": model_header(name),
        f"{name}_model_settings.h": settings_header(info, name, arena_bytes, arena_note),
    }


def settings_header(info: dict, name: str, arena_bytes: int, arena_note: str | None = None) -> str:
    """`NAME_model_settings.h`: input shape, input/output quantization, classes, the arena to reserve
    (`arena_note` says where its size comes from; default: the host measurement and the margin)."""
    guard = f"{name.upper()}_MODEL_SETTINGS_H_"
    inp, out = info["input"], info["output"]
    height, width, channels = (list(inp["shape"][1:]) + [1, 1, 1])[:3]
    classes = info["classes"]
    names = ",\n    ".join(c_string(c) for c in classes)
    return (
        f"// {name}: what the application needs to feed the model and read its answer.\n"
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
        f"// {arena_note or _host_arena_note(info)}\n"
        f"constexpr int kTensorArenaSize = {arena_bytes};\n\n"
        f"}}  // namespace {name}\n\n#endif  // {guard}\n"
    )


def _host_arena_note(info: dict) -> str:
    return f"Measured on the host ({info['arena']['measured_bytes']} bytes) plus a {int(ARENA_MARGIN * 100)}% margin."


# --- the arena and parity ------------------------------------------------------------------------------


def round_up(value: int, step: int) -> int:
    """`value` rounded up to a multiple of `step` (an alignment)."""
    return -(-value // step) * step


def recommended_arena(measured: int) -> int:
    """The measured minimum plus ARENA_MARGIN, rounded up to ARENA_ALIGN."""
    return round_up(int(measured * (1 + ARENA_MARGIN)), ARENA_ALIGN)


def parity(data: bytes, model: flatbuffer.Model, pixels: np.ndarray, arena_bytes: int) -> dict:
    """TFLM against LiteRT on the same inputs: largest difference in output steps (LSB), top-1 agreement.

    TFLM's kernels derive from LiteRT's reference kernels, and against those the outputs are bit-exact on
    nearly every image (98-100 of 100 CIFAR-10 test images for ResNet-8 in our measurements), with an
    occasional difference of up to PARITY_TOLERANCE_LSB on one output where an intermediate rounding
    resolves differently. LiteRT's default kernels (optimised paths, XNNPACK) round intermediates in their
    own way: a few LSB on most images, the same top-1 on nearly all.
    """
    xs = tflm.quantized_inputs(model, pixels)
    micro = tflm.outputs(data, arena_bytes, xs).astype(np.float64)
    result = {"images": int(len(xs))}
    for key, reference in (("litert_reference_kernels", True), ("litert_default", False)):
        other = TFLiteModel(data, reference_kernels=reference).raw_outputs(xs).astype(np.float64)
        diff = np.abs(micro - other)
        result[key] = {
            "max_abs_diff": float(diff.max()),
            "bit_exact_images": int(np.sum(diff.max(axis=1) == 0)),
            "top1_agreement": float(np.mean(micro.argmax(1) == other.argmax(1))),
        }
    return result


# --- export ---------------------------------------------------------------------------------------------


def class_names(path, data: bytes, model: flatbuffer.Model) -> list[str]:
    """Class names from the model's record (embedded, or in the sidecar beside the file at `path`, None: no
    file), else class_0 ... class_{n-1}."""
    try:
        record = metadata.record_of(path, data)
    except UserError:  # a damaged record only costs the names, never the export
        record = None
    classes = (record or {}).get("classes")
    count = int(np.prod(model.tensors[model.outputs[0]].shape[1:]) or 1)
    return [str(c) for c in classes] if classes and len(classes) == count else [f"class_{i}" for i in range(count)]


def board_fit(flash_bytes: int, ram_bytes: int) -> list[dict]:
    """For each of BOARDS: does the model (flash) and the arena (RAM) fit, and how much is left."""
    return [
        {
            "board": label,
            "fits": flash_bytes <= flash and ram_bytes <= ram,
            "flash_left": flash - flash_bytes,
            "ram_left": ram - ram_bytes,
        }
        for label, flash, ram in BOARDS
    ]


def budget(data: bytes) -> dict:
    """Flash (model bytes) and RAM (measured arena, recommended arena) of a model, against BOARDS.

    The model runs in TFLite-Micro only after LiteRT has (`safety.check_model`): TFLM trusts the file.
    """
    model = flatbuffer.read(data)
    tflm.check_activations(model)
    check_model(data, micro=True)
    measured = tflm.measure_arena(data, model)
    arena = recommended_arena(measured)
    return {
        "flash_bytes": len(data),
        "arena": {"measured_bytes": measured, "recommended_bytes": arena, "margin": ARENA_MARGIN},
        "boards": board_fit(len(data), arena),
    }


def export(data: bytes, out_dir, name: str, classes: list[str] | None = None) -> dict:
    """Write the C array, op resolver and settings headers for `data` into `out_dir`; return the report.
    `classes`: the class names (default: the embedded record's)."""
    model = flatbuffer.read(data)
    name = c_name(name)
    resolver_methods(model)  # refuses custom operators before measuring
    sizes = budget(data)  # LiteRT runs the model in this process only after its first run elsewhere passed
    report = {
        "name": name,
        **sizes,
        **TFLiteModel(data).io_record(),
        "classes": classes or class_names(None, data, model),
        "operators": model.op_names(),
    }
    files = sources(data, model, name, report, report["arena"]["recommended_bytes"])
    for filename, text in files.items():
        write_text(os.path.join(out_dir, filename), text)
    report["files"] = sorted(files)
    return report


_parity = parity  # the argument of micro() hides the function


def default_c_name(model, name: str | None) -> str:
    """`name` as a C name, or without one the model file's name as one (`c_name`)."""
    if name is not None:
        return c_name(name)
    stem = os.path.splitext(os.path.basename(os.fspath(model)))[0]
    try:
        return c_name(stem)
    except UserError:
        raise UserError(
            f"The file name {stem!r} makes no C name: pass name=NAME (a letter, then letters, "
            f"digits or '_'). Received: model={os.fspath(model)!r}"
        ) from None


def micro(
    model, out, *, name: str | None = None, parity: str | None = None, limit: int = 100, strip: bool = False
) -> dict[str, Any]:
    """Export a .tflite file for TFLite-Micro: C array, op resolver, settings and the measured tensor arena.

    Writes NAME_model_data.cc/.h, NAME_op_resolver.h, NAME_model_settings.h, model.h and the report
    NAME_micro.json into `out`. The model runs in LiteRT (in a child process first) and in TFLite-Micro to
    measure its arena.

    Args:
        model: Path of the .tflite file (a full-integer model converted with int8).
        out: Folder for the sources and the report; created if needed.
        name: C name of the model, prefix of every generated file (default: the file name as a C name).
        parity: A data SOURCE (`folder:PATH`, `npz:PATH` or `tfds:NAME[:SPLIT]`): also compare TFLite-Micro's
            outputs with LiteRT's on its test split.
        limit: Images of `parity`'s test split (class-balanced).
        strip: Export the model without what a microcontroller never reads (`keras_resnet.lite.strip`: tensor
            names, signatures, metadata): fewer bytes of flash, the same outputs.

    Returns:
        The report written to NAME_micro.json: model and out paths, name, flash_bytes, arena (measured and
        recommended bytes, margin), boards (fit per memory budget), input and output records, classes,
        operators, files, and with `parity` the comparison with LiteRT.

    Raises:
        UserError: The file is no valid model, its operators are not in TFLite-Micro, `name` is no C name,
            `limit` is below 1, `out` cannot be written, or `parity` names no readable images.
        FileNotFoundError: `model` does not exist.
    """
    from keras_resnet import sources
    from keras_resnet.lite.runtime import image_input

    if limit < 1:
        raise UserError(f"limit is the number of parity images: at least 1. Received: limit={limit}")
    parsed = flatbuffer.read_file(model)
    name = default_c_name(model, name)
    pixels = None
    if parity:  # read before anything is written, as the model takes its images
        size, channels = image_input(parsed.tensors[parsed.inputs[0]].shape, model)
        pixels = sources.load(parity, "test", limit=limit, size=size, channels=channels).x.astype("float32")
    directory = os.path.abspath(os.fspath(out))
    check_directory(directory)
    os.makedirs(directory, exist_ok=True)
    classes = class_names(model, parsed.data, parsed)
    graph = stripped(parsed) if strip else parsed
    report = {
        "model": os.path.abspath(os.fspath(model)),
        "out": directory,
        "stripped": strip,
        **export(graph.data, directory, name, classes),
    }
    if pixels is not None:
        report["parity"] = _parity(graph.data, graph, pixels, report["arena"]["recommended_bytes"])
    write_json(os.path.join(directory, f"{name}_micro.json"), report)
    return report
