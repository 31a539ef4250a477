"""How fast the firmware runs, as instructions: what the firmware counted on the target (main.cc through
`platform_instructions()`, under QEMU's `-icount shift=7`), per inference and per operator, set against each
operator's multiply-accumulates (from the model), a time at a given clock, a picture and Model Explorer node data.

An instruction count is not a cycle count. QEMU has no cycle model but counts executed instructions exactly and
reproducibly. On a single-issue core (Cortex-M4, M33) a cycle retires at most one instruction, so the count is
a lower bound on cycles there; a Cortex-M7 can issue two instructions a cycle and a Cortex-M55 spreads an MVE
instruction over beats, so there the time is an estimate only.
"""

from __future__ import annotations

import json
import os
import re

from keras_resnet.errors import UserError
from keras_resnet.lite import flatbuffer

__all__ = [
    "operator_macs",
    "parse_clock",
    "instructions_report",
    "time_kind",
    "ticks_to_instructions",
    "write_picture",
    "write_node_data",
    "PICTURE",
    "NODE_DATA",
]

PICTURE = "instructions.png"
NODE_DATA = "instructions_node_data.json"  # Model Explorer's node data (GraphNodeData: results by tensor name)
SINGLE_ISSUE = ("cortex-m4", "cortex-m33")  # at most one instruction per cycle: the time is a lower bound
ICOUNT_SHIFT = 7  # QEMU -icount shift: 2^7 ns of virtual time per instruction
# The most instructions of an inference outside its operators' events: TFLite-Micro's loop over the operators
# (the node and registration lookups, the events' bookkeeping beyond an empty event's) and Invoke's entry and
# exit. Measured at 82 an operator with CMSIS-NN on the Cortex-M55 (ResNet-8: 1,551 over 19 operators);
# bounded with room for other cores and compilers.
LOOP_OVERHEAD_PER_OPERATOR = 250
LOOP_OVERHEAD_FIXED = 2000
_UNITS = {"": 1, "hz": 1, "k": 1e3, "khz": 1e3, "m": 1e6, "mhz": 1e6, "g": 1e9, "ghz": 1e9}


def ticks_to_instructions(ticks: int, clock_hz: int) -> int:
    """Instructions from ticks of a counter at `clock_hz` under QEMU `-icount shift=7` (what cortex_m.c computes).

    The counter holds floor(ticks) of 128 ns per instruction times its clock: rounding ticks / (128 ns x clock)
    gives the instructions back exactly at 25 MHz ((ticks * 5 + 8) >> 4) and 20 MHz ((ticks * 25 + 32) >> 6).

    Args:
        ticks: The counter's value (extended to 64 bits).
        clock_hz: The counter's clock: 25,000,000 (MPS2 AN386, AN500) or 20,000,000 (AN505, MPS3 AN547).

    Returns:
        The instructions executed.

    Raises:
        UserError: A clock the firmware does not convert.
    """
    if clock_hz == 25_000_000:
        return (ticks * 5 + 8) >> 4
    if clock_hz == 20_000_000:
        return (ticks * 25 + 32) >> 6
    raise UserError(f"The boards' counters run at 20 or 25 MHz. Received: clock_hz={clock_hz!r}")


def parse_clock(clock: int | float | str | None) -> float | None:
    """A clock frequency in Hz: a number of Hz, or text such as 120MHz, 120 MHz, 1.2GHz, 32768Hz or 48M.

    Args:
        clock: The frequency, or None for none.

    Returns:
        The frequency in Hz (above 0), or None.

    Raises:
        UserError: `clock` is not a frequency, or is zero or negative.
    """
    if clock is None:
        return None
    hint = "clock takes a frequency above 0, in Hz or as text like 120MHz or 1.2GHz"
    if isinstance(clock, bool) or not isinstance(clock, (int, float, str)):
        raise UserError(f"{hint}. Received: clock={clock!r}")
    if isinstance(clock, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmg]?(?:hz)?)\s*", clock.lower())
        if not match:
            raise UserError(f"{hint}. Received: clock={clock!r}")
        hz = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        hz = float(clock)
    if not hz > 0 or hz == float("inf"):
        raise UserError(f"{hint}. Received: clock={clock!r}")
    return hz


def time_kind(target: str) -> str:
    """What a time computed from an instruction count is on `target` (its FPU or none alike): "lower bound" or
    "estimate"."""
    return "lower bound" if target.split("+")[0] in SINGLE_ISSUE else "estimate"


def operator_macs(model: flatbuffer.Model) -> list[int]:
    """Multiply-accumulates of each operator, in execution order, from its tensors' shapes.

    CONV_2D: output elements x kernel height x width x input channels (the filter is [out, h, w, in]);
    DEPTHWISE_CONV_2D: output elements x kernel height x width; FULLY_CONNECTED: output elements x input
    features (the weights are [units, features]); every other operator 0.

    Args:
        model: The model, as `keras_resnet.lite.flatbuffer.read` reads it.

    Returns:
        One count per operator.
    """
    macs = []
    for op in model.operators:
        output = model.tensor(op.outputs[0]) if op.outputs else None
        weights = model.tensor(op.inputs[1]) if len(op.inputs) > 1 else None
        if output is None or weights is None or op.opcode not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            macs.append(0)
            continue
        elements = 1
        for d in output.shape:
            elements *= d
        w = weights.shape
        per_output = {
            "CONV_2D": w[1] * w[2] * w[3] if len(w) == 4 else 0,
            "DEPTHWISE_CONV_2D": w[1] * w[2] if len(w) == 4 else 0,
            "FULLY_CONNECTED": w[-1],
        }[op.opcode]
        macs.append(int(elements * per_output))
    return macs


def instructions_report(
    model: flatbuffer.Model,
    target: str,
    per_inference: list[int],
    operators: list[int],
    total: int | None,
    clock_hz: float | None,
    note: str | None = None,
) -> dict | None:
    """firmware.json's `instructions`: every image's count, each operator's with its MACs, a time at a clock.

    Args:
        model: The model the firmware runs.
        target: The core's name (decides whether a time is a lower bound or an estimate).
        per_inference: Each image's Invoke() instructions, in image order (empty: not counted).
        operators: Each operator's instructions in the first image (empty: not counted).
        total: All the firmware executed, start-up to the end of the last image, or None.
        clock_hz: A clock to turn the count into a time, or None.
        note: Why there is no count, when the firmware said why.

    Returns:
        The report, or None when the firmware counted nothing (the host).
    """
    if not per_inference:
        return None if note is None else {"per_inference": [], "operators": [], "note": note}
    macs = operator_macs(model)
    rows = []
    if len(operators) == len(model.operators):
        for index, (op, count, mac) in enumerate(zip(model.operators, operators, macs)):
            rows.append(
                {
                    "index": index,
                    "op": op.name,
                    "output": model.tensors[op.outputs[0]].name if op.outputs else None,
                    "macs": mac,
                    "instructions": count,
                    "instructions_per_mac": round(count / mac, 3) if mac else None,
                }
            )
    first = per_inference[0]
    total_macs = sum(macs)
    report = {
        "per_inference": per_inference,
        "median": sorted(per_inference)[len(per_inference) // 2],
        "macs": total_macs,
        "instructions_per_mac": round(first / total_macs, 3) if total_macs else None,
        "operators": rows,
        "outside_operators": first - sum(operators) if rows else None,
        "total_run": total,
        "counter": f"the board's FPGAIO counter under QEMU -icount shift={ICOUNT_SHIFT} (exact instruction counts)",
        "what": "executed instructions, not cycles: "
        + (
            "a lower bound on cycles on this single-issue core"
            if time_kind(target) == "lower bound"
            else "this core can retire more than one instruction a cycle (dual issue, MVE beats): cycles differ"
        ),
    }
    if clock_hz is not None:
        median = report["median"]
        report["clock"] = {
            "hz": clock_hz,
            "ms_per_inference": round(median / clock_hz * 1e3, 4),
            "kind": time_kind(target),
        }
    return report


def write_picture(report: dict, path: str, title: str) -> str | None:
    """A bar chart of the instructions of each operator (and its instructions per MAC) as a PNG at `path`.

    Args:
        report: firmware.json's `instructions`.
        path: The PNG file to write.
        title: The chart's title.

    Returns:
        `path`, or None when there was no per-operator count to draw.
    """
    rows = report.get("operators") if report else None
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['index']} {r['op']}" for r in rows]
    counts = [r["instructions"] / 1e6 for r in rows]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.38 * len(rows) + 2), 4.2))
    colours = ["#1f77b4" if r["macs"] else "#ff7f0e" for r in rows]
    ax.bar(range(len(rows)), counts, color=colours)
    ax.set_xticks(range(len(rows)), labels, rotation=70, ha="right", fontsize=7)
    ax.set_ylabel("million instructions (one inference)")
    ax.set_title(title, fontsize=9)
    for i, r in enumerate(rows):
        if r["instructions_per_mac"]:
            ax.text(i, counts[i], f"{r['instructions_per_mac']:.2g}", ha="center", va="bottom", fontsize=6)
    ax.text(
        0.99,
        0.97,
        "blue: convolutions and dense (label: instructions per MAC)\norange: operators without MACs",
        transform=ax.transAxes,
        ha="right",
        va="top",
        fontsize=7,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_node_data(report: dict, path: str) -> str | None:
    """Each operator's instructions as Model Explorer node data (its GraphNodeData JSON: `results` keyed by each
    operator's output tensor name, a white-to-red `gradient`), to load over the .tflite graph in
    ai-edge-model-explorer.

    Args:
        report: firmware.json's `instructions`.
        path: The JSON file to write.

    Returns:
        `path`, or None when there was no per-operator count.
    """
    rows = report.get("operators") if report else None
    if not rows:
        return None
    data = {
        "results": {r["output"]: {"value": r["instructions"]} for r in rows if r["output"]},
        "gradient": [{"stop": 0, "bgColor": "#ffffff"}, {"stop": 1, "bgColor": "#d62728"}],
    }
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
    return path


def picture_title(model_path: str, target: str, kernels: str) -> str:
    return f"{os.path.basename(model_path)} on {target} ({kernels}): instructions per operator, QEMU -icount"
