"""Edge TPU preflight: reads the .tflite file and says, op by op, what the Edge TPU compiler would map.

It applies Coral's published model requirements (https://coral.ai/docs/edgetpu/models-intro/) without the
compiler: 8-bit quantized tensors (int32 only for constants such as biases), static shapes, at most three
non-1 dimensions (the innermost three), the supported-operations list and each operation's constraints.
The compiler maps the graph up to the first operation it cannot run; that one and everything after it runs
on the CPU. The parameter cache (about 8 MiB of on-chip SRAM) holds the weights of the mapped part; whatever
does not fit is streamed from host memory on every inference. The compiler itself is driven by
`keras_resnet.lite.edgetpu_compiler`. No TensorFlow here: the reader is `keras_resnet.lite.flatbuffer`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from keras_resnet.errors import say
from keras_resnet.files import check_directory, write_json
from keras_resnet.lite import edgetpu_compiler, flatbuffer

__all__ = ["edgetpu", "preflight", "REPORT_SUFFIX"]

REPORT_SUFFIX = "_edgetpu_report.json"  # <model name> + this: the report beside the compiled model

CACHE_BYTES = 8 * 1024 * 1024  # the Edge TPU's on-chip parameter memory (Coral quotes "roughly 8 MB")
SOFTMAX_MAX_ELEMENTS = 16000
EIGHT_BIT = ("int8", "uint8")


# --- Coral's supported operations and their constraints -----------------------------------------------


def _no_fused_activation(model, op):
    if flatbuffer.activation_name(op.options) != "NONE":
        return [
            f"has a fused {flatbuffer.activation_name(op.options)} activation; the Edge TPU runs "
            f"{op.opcode} only without one"
        ]
    return []


def _same_dilation(model, op):
    h, w = op.options.get("dilationHFactor", 1), op.options.get("dilationWFactor", 1)
    return [] if h == w else [f"dilation differs in y ({h}) and x ({w}); it must be the same"]


def _non1(shape) -> int:
    return sum(1 for d in shape if d != 1)


def _fully_connected(model, op):
    reasons = []
    if op.options.get("weightsFormat", 0) != 0:
        reasons.append("uses a shuffled weights format; only the default format is supported")
    output = model.tensor(op.outputs[0]) if op.outputs else None
    if output is not None and _non1(output.shape) > 1:
        reasons.append(f"output {list(output.shape)} is not one-dimensional")
    return reasons


def _constant_ints(model, op, position: int):
    """The int32 values of the op's constant input at `position` (axes, paddings), or None."""
    tensor = model.tensor(op.inputs[position]) if len(op.inputs) > position else None
    if tensor is None or tensor.dtype != "int32":
        return None
    return model.constant(tensor, np.int32)


def _reduce(model, op):
    axes = _constant_ints(model, op, 1)
    data = model.tensor(op.inputs[0]) if op.inputs else None
    if axes is None or data is None:
        return ["the reduction axes are not a constant int32 tensor"]
    rank = len(data.shape)
    axes = sorted({int(a) % rank for a in axes}) if rank else []
    reasons = ["reduces over the batch dimension"] if 0 in axes else []
    if op.opcode == "MEAN" and rank - 1 in axes and data.shape[-1] % 4:
        reasons.append(f"reduces over the channel dimension of size {data.shape[-1]}, not a multiple of 4")
    return reasons


def _pad(model, op):
    paddings = _constant_ints(model, op, 1)
    if paddings is None:
        return ["the paddings are not a constant int32 tensor"]
    return ["pads the batch dimension"] if paddings.size >= 2 and np.any(paddings[:2]) else []


def _pack(model, op):
    return ["packs along the batch dimension"] if op.options.get("axis", 0) == 0 else []


def _split(model, op):
    axis = _constant_ints(model, op, 0)
    return ["splits along the batch dimension"] if axis is not None and axis.size and axis[0] == 0 else []


def _softmax(model, op):
    data = model.tensor(op.inputs[0]) if op.inputs else None
    if data is None:
        return []
    reasons = [] if _non1(data.shape) <= 1 else [f"input {list(data.shape)} is not one-dimensional"]
    if int(np.prod(data.shape)) > SOFTMAX_MAX_ELEMENTS:
        reasons.append(f"input has more than {SOFTMAX_MAX_ELEMENTS} elements")
    return reasons


def _concatenation(model, op):
    reasons = _no_fused_activation(model, op)
    constants = [model.tensor(i) for i in op.inputs if model.tensor(i) is not None and model.tensor(i).is_constant]
    if constants and (len(op.inputs) != 2 or any(np.any(model.constant(t, np.uint8)) for t in constants)):
        reasons.append("a constant input is allowed only as the all-zero second of two inputs (zero padding)")
    return reasons


def _none(model, op):
    return []


# Coral's supported-operations table, by TFLite builtin name -> constraint check.
SUPPORTED = {
    "ADD": _none,
    "AVERAGE_POOL_2D": _no_fused_activation,
    "CONCATENATION": _concatenation,
    "CONV_2D": _same_dilation,
    "DEPTHWISE_CONV_2D": _same_dilation,
    "EXPAND_DIMS": _none,
    "FULLY_CONNECTED": _fully_connected,
    "L2_NORMALIZATION": _none,
    "LOGISTIC": _none,
    "LSTM": _none,
    "MAXIMUM": _none,
    "MAX_POOL_2D": _no_fused_activation,
    "MEAN": _reduce,
    "MINIMUM": _none,
    "MUL": _none,
    "PACK": _pack,
    "PAD": _pad,
    "PRELU": _none,
    "QUANTIZE": _none,
    "REDUCE_MAX": _reduce,
    "REDUCE_MIN": _reduce,
    "RELU": _none,
    "RELU6": _none,
    "RELU_N1_TO_1": _none,
    "RESHAPE": _none,
    "RESIZE_BILINEAR": _none,
    "RESIZE_NEAREST_NEIGHBOR": _none,
    "RSQRT": _none,
    "SLICE": _none,
    "SOFTMAX": _softmax,
    "SPACE_TO_DEPTH": _none,
    "SPLIT": _split,
    "SQUARED_DIFFERENCE": _none,
    "SQUEEZE": _none,
    "STRIDED_SLICE": _none,
    "SUB": _none,
    "SUM": _reduce,
    "TANH": _none,
    "TRANSPOSE": _none,
    "TRANSPOSE_CONV": _none,
}


# --- tensor requirements ----------------------------------------------------------------------------


def tensor_problems(tensor) -> list[str]:
    """Why the Edge TPU cannot hold `tensor` (type, quantization, dynamic shape, rank); empty if it can.

    The dimension rule concerns the data flowing through the graph; constant weights (a convolution's
    4-D filter) are laid out by the compiler and exempt.
    """
    label = f"tensor '{tensor.name}'"
    reasons = []
    if tensor.dtype not in EIGHT_BIT and not (tensor.dtype == "int32" and tensor.is_constant):
        what = "constant" if tensor.is_constant else "activation"
        reasons.append(
            f"{label} is a {tensor.dtype} {what}; the Edge TPU needs 8-bit quantized tensors "
            "(int32 only for constants such as biases)"
        )
    elif tensor.dtype in EIGHT_BIT and not tensor.quantized:
        reasons.append(f"{label} is {tensor.dtype} without quantization parameters")
    if any(d < 0 for d in tensor.shape) or any(d < 0 for d in tensor.shape_signature[1:]):
        reasons.append(
            f"{label} has a dynamic shape {list(tensor.shape_signature)}; "
            "the Edge TPU needs sizes fixed at compile time"
        )
    if not tensor.is_constant and (_non1(tensor.shape) > 3 or any(d != 1 for d in tensor.shape[:-3])):
        reasons.append(f"{label} has shape {list(tensor.shape)}; only the innermost 3 dimensions may be larger than 1")
    return reasons


def op_problems(model, op) -> list[str]:
    """Why the Edge TPU cannot run `op` by itself; empty if it can."""
    if op.opcode not in SUPPORTED:
        return [f"{op.name} is not an operation the Edge TPU supports"]
    reasons = list(SUPPORTED[op.opcode](model, op))
    for index in dict.fromkeys(op.inputs + op.outputs):
        tensor = model.tensor(index)
        if tensor is not None:
            reasons.extend(tensor_problems(tensor))
    return reasons


# --- preflight ------------------------------------------------------------------------------------------


def preflight(model: flatbuffer.Model) -> dict:
    """Op-by-op Edge TPU verdict, where the graph is cut, and the parameter-cache estimate."""
    operators, cut = [], None
    for op in model.operators:
        reasons = op_problems(model, op)
        if reasons and cut is None:
            cut = op
        elif cut is not None and not reasons:
            reasons = [
                f"follows operator {cut.index} ({cut.name}), the first the Edge TPU cannot run; "
                "everything after the cut runs on the CPU"
            ]
        operators.append(
            {
                "index": op.index,
                "op": op.name,
                "version": op.version,
                "status": "cpu" if reasons else "edgetpu",
                "reasons": reasons,
            }
        )
    mapped = [op for op, row in zip(model.operators, operators) if row["status"] == "edgetpu"]
    notes = []
    if model.subgraph_count > 1:
        notes.append(f"the model has {model.subgraph_count} subgraphs; only the first is compiled")
    return {
        "source": "preflight",
        "fully_mapped": cut is None and bool(model.operators),
        "operations": len(operators),
        "operations_edgetpu": len(mapped),
        "operations_cpu": len(operators) - len(mapped),
        "first_unmappable": None
        if cut is None
        else {"index": cut.index, "op": cut.name, "reasons": operators[cut.index]["reasons"]},
        "op_counts": op_counts(operators),
        "parameters": parameter_cache(model, mapped),
        "notes": notes,
        "operators": operators,
    }


def op_counts(operators: list[dict]) -> list[dict]:
    """Operators grouped like the compiler's table: (op, status, first reason) -> count."""
    counts: dict[tuple, int] = {}
    for row in operators:
        status = "Mapped to Edge TPU" if row["status"] == "edgetpu" else row["reasons"][0]
        counts[(row["op"], status)] = counts.get((row["op"], status), 0) + 1
    return [{"op": op, "count": n, "status": status} for (op, status), n in counts.items()]


def parameter_cache(model, mapped_ops) -> dict:
    """Constant bytes of the mapped operators, and how they split between on-chip cache and streaming."""
    constants = {
        i for op in mapped_ops for i in op.inputs if model.tensor(i) is not None and model.tensor(i).is_constant
    }
    total = sum(model.tensors[i].data_bytes for i in constants)
    return {
        "bytes": total,
        "cache_bytes": CACHE_BYTES,
        "on_chip_estimate": min(total, CACHE_BYTES),
        "off_chip_estimate": max(0, total - CACHE_BYTES),
        "note": "estimate from the weights' size; the compiler's own figures replace it after compiling",
    }


# --- the whole check ---------------------------------------------------------------------------------------


def edgetpu(model, out=None, *, check_only: bool = False) -> dict[str, Any]:
    """Check a .tflite file against the Edge TPU's requirements op by op, then compile it where
    `edgetpu_compiler` is installed; the report is written as <name>_edgetpu_report.json.

    Args:
        model: Path of the .tflite file (a full-integer int8 model maps fully).
        out: Folder for <name>_edgetpu.tflite, its log and the report; created if needed. Default: the
            model's folder.
        check_only: Only the preflight; do not run the compiler.

    Returns:
        The report: model (its path), preflight (the op-by-op verdict, `preflight`), compiler (the parsed
        compiler log with `output`, the compiled file; or `available: False` and how to install it; absent
        with `check_only`) and fully_mapped (the compiler's verdict when it ran, else the preflight's).

    Raises:
        UserError: The file is no valid TFLite model, `out` cannot be written, or the compiler failed.
        FileNotFoundError: `model` does not exist.
    """
    parsed = flatbuffer.read_file(model)
    model = os.path.abspath(os.fspath(model))
    report: dict[str, Any] = {"model": model, "preflight": preflight(parsed)}
    directory = os.path.abspath(os.fspath(out)) if out is not None else os.path.dirname(model)
    check_directory(directory)
    os.makedirs(directory, exist_ok=True)
    if not check_only:
        compiler = edgetpu_compiler.find_compiler()
        if compiler is None:
            say(f"note: {edgetpu_compiler.INSTALL_HINT}")
            report["compiler"] = {"available": False, "message": edgetpu_compiler.INSTALL_HINT}
        else:
            say(f"compiling with {compiler} (up to {edgetpu_compiler.COMPILE_TIMEOUT_S} s) ...")
            report["compiler"] = edgetpu_compiler.compile_model(model, directory, compiler)
    compiled = "output" in report.get("compiler", {})
    report["fully_mapped"] = report["compiler"]["fully_mapped"] if compiled else report["preflight"]["fully_mapped"]
    stem = os.path.splitext(os.path.basename(model))[0]
    write_json(os.path.join(directory, stem + REPORT_SUFFIX), report)
    return report
