"""Edge TPU: a preflight that reads the .tflite file, the `edgetpu_compiler` driver and its log parser.

The preflight applies Coral's published model requirements (https://coral.ai/docs/edgetpu/models-intro/)
op by op, without the compiler: 8-bit quantized tensors (int32 only for constants such as biases), static
shapes, at most three non-1 dimensions (the innermost three), the supported-operations list and each
operation's constraints. The compiler maps the graph up to the first operation it cannot run; that one and
everything after it runs on the CPU. The parameter cache (about 8 MiB of on-chip SRAM) holds the weights of
the mapped part; whatever does not fit is streamed from host memory on every inference.

No TensorFlow here: the reader is `keras_resnet.tflite_file`.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

import numpy as np

from keras_resnet import tflite_file
from keras_resnet.errors import UserError

CACHE_BYTES = 8 * 1024 * 1024  # the Edge TPU's on-chip parameter memory (Coral quotes "roughly 8 MB")
COMPILER = "edgetpu_compiler"
COMPILE_TIMEOUT_S = 600
SOFTMAX_MAX_ELEMENTS = 16000
INSTALL_HINT = (
    "edgetpu_compiler is not on PATH. It runs on x86-64 Debian/Ubuntu and comes from Coral's apt repository: "
    "curl https://packages.cloud.google.com/apt/doc/apt-key.gpg | sudo apt-key add - ; "
    "echo \"deb https://packages.cloud.google.com/apt coral-edgetpu-stable main\" | "
    "sudo tee /etc/apt/sources.list.d/coral-edgetpu.list ; sudo apt-get update ; "
    "sudo apt-get install edgetpu-compiler (see https://coral.ai/docs/edgetpu/compiler/). "
    "The preflight above does not need it.")
EIGHT_BIT = ("int8", "uint8")


# --- Coral's supported operations and their constraints -----------------------------------------------

def _no_fused_activation(model, op):
    if tflite_file.activation_name(op.options) != "NONE":
        return [f"has a fused {tflite_file.activation_name(op.options)} activation; the Edge TPU runs "
                f"{op.opcode} only without one"]
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
    "ADD": _none, "AVERAGE_POOL_2D": _no_fused_activation, "CONCATENATION": _concatenation,
    "CONV_2D": _same_dilation, "DEPTHWISE_CONV_2D": _same_dilation, "EXPAND_DIMS": _none,
    "FULLY_CONNECTED": _fully_connected, "L2_NORMALIZATION": _none, "LOGISTIC": _none, "LSTM": _none,
    "MAXIMUM": _none, "MAX_POOL_2D": _no_fused_activation, "MEAN": _reduce, "MINIMUM": _none, "MUL": _none,
    "PACK": _pack, "PAD": _pad, "PRELU": _none, "QUANTIZE": _none, "REDUCE_MAX": _reduce, "REDUCE_MIN": _reduce,
    "RELU": _none, "RELU6": _none, "RELU_N1_TO_1": _none, "RESHAPE": _none, "RESIZE_BILINEAR": _none,
    "RESIZE_NEAREST_NEIGHBOR": _none, "RSQRT": _none, "SLICE": _none, "SOFTMAX": _softmax,
    "SPACE_TO_DEPTH": _none, "SPLIT": _split, "SQUARED_DIFFERENCE": _none, "SQUEEZE": _none,
    "STRIDED_SLICE": _none, "SUB": _none, "SUM": _reduce, "TANH": _none, "TRANSPOSE": _none,
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
        reasons.append(f"{label} is a {tensor.dtype} {what}; the Edge TPU needs 8-bit quantized tensors "
                       "(int32 only for constants such as biases)")
    elif tensor.dtype in EIGHT_BIT and not tensor.quantized:
        reasons.append(f"{label} is {tensor.dtype} without quantization parameters")
    if any(d < 0 for d in tensor.shape) or any(d < 0 for d in tensor.shape_signature[1:]):
        reasons.append(f"{label} has a dynamic shape {list(tensor.shape_signature)}; "
                       "the Edge TPU needs sizes fixed at compile time")
    if not tensor.is_constant and (_non1(tensor.shape) > 3 or any(d != 1 for d in tensor.shape[:-3])):
        reasons.append(f"{label} has shape {list(tensor.shape)}; only the innermost 3 dimensions may be "
                       "larger than 1")
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

def preflight(model: tflite_file.Model) -> dict:
    """Op-by-op Edge TPU verdict, where the graph is cut, and the parameter-cache estimate."""
    operators, cut = [], None
    for op in model.operators:
        reasons = op_problems(model, op)
        if reasons and cut is None:
            cut = op
        elif cut is not None and not reasons:
            reasons = [f"follows operator {cut.index} ({cut.name}), the first the Edge TPU cannot run; "
                       "everything after the cut runs on the CPU"]
        operators.append({"index": op.index, "op": op.name, "version": op.version,
                          "status": "cpu" if reasons else "edgetpu", "reasons": reasons})
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
        "first_unmappable": None if cut is None else {"index": cut.index, "op": cut.name,
                                                       "reasons": operators[cut.index]["reasons"]},
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
    constants = {i for op in mapped_ops for i in op.inputs
                 if model.tensor(i) is not None and model.tensor(i).is_constant}
    total = sum(model.tensors[i].data_bytes for i in constants)
    return {"bytes": total, "cache_bytes": CACHE_BYTES, "on_chip_estimate": min(total, CACHE_BYTES),
            "off_chip_estimate": max(0, total - CACHE_BYTES),
            "note": "estimate from the weights' size; the compiler's own figures replace it after compiling"}


# --- the compiler's log -------------------------------------------------------------------------------

_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3}
_SIZE = r"([0-9.]+)\s*(B|KiB|MiB|GiB)"
_FIELDS = {
    "version": (r"Edge TPU Compiler version (\S+)", str),
    "compile_ms": (r"Model compiled successfully in (\d+) ms", int),
    "input_model": (r"^Input(?: model)?: (.+)$", str),
    "output_model": (r"^Output(?: model)?: (.+)$", str),
    "input_bytes": (rf"Input size: {_SIZE}", "size"),
    "output_bytes": (rf"Output size: {_SIZE}", "size"),
    "on_chip_bytes": (rf"On-chip memory used for caching model parameters: {_SIZE}", "size"),
    "on_chip_remaining_bytes": (rf"On-chip memory remaining for caching model parameters: {_SIZE}", "size"),
    "off_chip_bytes": (rf"Off-chip memory used for streaming uncached model parameters: {_SIZE}", "size"),
    "subgraphs": (r"Number of Edge TPU subgraphs: (\d+)", int),
    "operations": (r"Total number of operations: (\d+)", int),
    "operation_log": (r"Operation log: (.+)$", str),
    "operations_edgetpu": (r"Number of operations that will run on Edge TPU: (\d+)", int),
    "operations_cpu": (r"Number of operations that will run on CPU: (\d+)", int),
}
_TABLE_ROW = re.compile(r"^([A-Z][A-Z0-9_]*|[\w.-]+-custom-op)\s+(\d+)\s+(\S.*?)\s*$")


def parse_size(number: str, unit: str) -> int:
    return int(round(float(number) * _UNITS[unit]))


def parse_compiler_log(text: str) -> dict:
    """The compiler's console output or `.log` file as a report: memory, subgraphs, per-op status."""
    report: dict = {"source": "edgetpu_compiler"}
    for key, (pattern, kind) in _FIELDS.items():
        match = re.search(pattern, text, re.MULTILINE)
        if match:
            report[key] = parse_size(*match.groups()) if kind == "size" else kind(match.group(1).strip())
    report["op_counts"] = _op_table(text)
    report["errors"] = [line.strip() for line in text.splitlines()
                        if re.match(r"\s*(ERROR|Error|Internal compiler error|Compilation failed)", line)]
    _fill_counts(report)
    return report


def _op_table(text: str) -> list[dict]:
    """Rows of the `Operator  Count  Status` table(s)."""
    rows, in_table = [], False
    for line in text.splitlines():
        if re.match(r"\s*Operator\s+Count\s+Status", line):
            in_table = True
            continue
        match = _TABLE_ROW.match(line.strip()) if in_table else None
        if match:
            rows.append({"op": match.group(1), "count": int(match.group(2)), "status": match.group(3)})
    return rows


def _fill_counts(report: dict) -> None:
    """Mapped/CPU counts from the table when the summary lines are absent; the verdict from both."""
    table = report["op_counts"]
    if table and "operations_edgetpu" not in report:
        report["operations_edgetpu"] = sum(r["count"] for r in table if r["status"] == "Mapped to Edge TPU")
        report["operations_cpu"] = sum(r["count"] for r in table if r["status"] != "Mapped to Edge TPU")
    if "operations_cpu" not in report and "operations" in report and not report["errors"]:
        report["operations_cpu"] = 0  # the compiler prints CPU counts only when some operation falls back
        report["operations_edgetpu"] = report["operations"]
    report["fully_mapped"] = (not report["errors"] and report.get("operations_cpu") == 0
                              and report.get("subgraphs", 1) == 1 and "compile_ms" in report)


# --- the driver -----------------------------------------------------------------------------------------

def find_compiler() -> str | None:
    return shutil.which(COMPILER)


def output_name(model_path) -> str:
    return os.path.splitext(os.path.basename(os.fspath(model_path)))[0] + "_edgetpu.tflite"


def compile_model(model_path, out_dir, compiler: str, timeout: float = COMPILE_TIMEOUT_S) -> dict:
    """Run the compiler on `model_path`, move `<name>_edgetpu.tflite` (and its log) into `out_dir`.

    The compiler writes into a private folder inside `out_dir`, so an interrupted or failed run never
    leaves a partial model behind. Returns the parsed log with `output` (the compiled file's path).
    """
    model_path, out_dir = os.path.abspath(model_path), os.path.abspath(out_dir)
    if not os.path.isdir(out_dir):
        raise UserError(f"Output directory {out_dir} does not exist; create it first. Received: {out_dir}")
    with tempfile.TemporaryDirectory(prefix=".edgetpu-", dir=out_dir) as work:
        stdout = _run(compiler, ["-s", "-o", work, model_path], timeout)
        report = parse_compiler_log(stdout)
        produced = os.path.join(work, output_name(model_path))
        if not os.path.isfile(produced):
            raise UserError(f"{COMPILER} reported no error but wrote no {output_name(model_path)}. "
                            f"Received: {_tail(stdout)}")
        tflite_file.read(open(produced, "rb").read())  # a damaged output is refused, not shipped
        log = produced[: -len(".tflite")] + ".log"
        if os.path.isfile(log):
            table = parse_compiler_log(open(log, errors="replace").read())["op_counts"]
            report["op_counts"] = report["op_counts"] or table
            shutil.move(log, os.path.join(out_dir, os.path.basename(log)))
        report["output"] = os.path.join(out_dir, output_name(model_path))
        os.replace(produced, report["output"])
    return report


def _run(compiler: str, args: list[str], timeout: float) -> str:
    """The compiler's combined output; a UserError with its own error lines when it fails."""
    try:
        done = subprocess.run([compiler, *args], capture_output=True, text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise UserError(f"{COMPILER} did not finish within {timeout:g} s and was stopped. "
                        f"Received: {compiler}") from None
    except OSError as err:
        raise UserError(f"{COMPILER} could not be started ({err.strerror}). Received: {compiler}") from None
    output = done.stdout + done.stderr
    if done.returncode != 0:
        errors = parse_compiler_log(output)["errors"]
        raise UserError(f"{COMPILER} failed (exit {done.returncode}): "
                        f"{'; '.join(errors) if errors else _tail(output)}")
    return output


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:]) or "(no output)"
