"""Running the firmware: in qemu-system-arm on the target's board, with semihosting so that it reads the test
images from the host and prints to it, or natively for the host; and reading what main.cc printed."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field

import numpy as np

from keras_resnet.errors import UserError
from keras_resnet.lite.firmware import toolchain
from keras_resnet.lite.firmware.targets import Target

RUN_TIMEOUT_S = 600
# QEMU's virtual clock advances 2^7 ns per executed instruction, whatever the host does (no alignment with real
# time, no jump over sleeps): the boards' counters then give the firmware exact instruction counts.
ICOUNT = "shift=7,align=off,sleep=off"
# main.cc's exit codes (and the fault handler's) -> what they mean
EXIT_CODES = {
    2: "the tensor arena is too small for the model (AllocateTensors failed)",
    3: "it could not open its images file",
    4: "Invoke failed",
    5: "there was no image to run",
    6: "the model or its operators do not load",
    7: "the stack overflowed",
    70: "it faulted (HardFault)",
}


@dataclass
class Run:
    """What the firmware printed: every image's raw outputs and the memory it measured."""

    outputs: np.ndarray  # integers, or float32 for a float output
    arena_used: int
    stack_used: int  # -1: not measured (the host)
    heap_used: int
    command: list[str]
    # instructions (platform_instructions(): Cortex-M under QEMU -icount): every image's Invoke(), each operator of
    # the first image, the whole run from start-up; empty and None where not counted
    instructions: list[int] = field(default_factory=list)
    operators: list[int] = field(default_factory=list)
    total_instructions: int | None = None
    count_error: str | None = None  # why there is no count (the counter went beyond its range)


def command(target: Target, program: str) -> list[str]:
    """The command line that runs the firmware (in the folder that holds its images file)."""
    if target.host:
        return [program]
    return [
        toolchain.find("qemu-system-arm"),
        "-M",
        target.board,
        "-cpu",
        target.core,
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-icount",
        ICOUNT,
        "-semihosting-config",
        "enable=on,target=native",
        "-kernel",
        program,
    ]


def run(target: Target, program: str, folder: str, timeout: float = RUN_TIMEOUT_S) -> Run:
    """Run the firmware in `folder` (where semihosting finds images.bin); a UserError for a failed run."""
    argv = command(target, program)
    where = f"QEMU's {target.board}" if not target.host else "this machine"
    try:
        done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise UserError(
            f"The firmware did not finish on {where} within {timeout:g} s (a hang, or far too many "
            f"images) and was stopped. Received: {os.path.basename(program)}"
        ) from None
    lines = done.stdout.splitlines() + done.stderr.splitlines()
    if done.returncode != 0:
        said = [line for line in lines if line.startswith(("FW_ERROR", "FW_FAULT"))]
        meaning = EXIT_CODES.get(done.returncode, f"exit code {done.returncode}")
        raise UserError(
            f"The firmware failed on {where}: {meaning}"
            f"{' (' + '; '.join(said[:2]) + ')' if said else ''}. Received: exit {done.returncode}"
        )
    return parse(lines, argv)


def float32_from_bits(words: list[str]) -> np.ndarray:
    """Floats from their 32-bit patterns in hex, as main.cc prints them (`3f800000` is 1.0)."""
    return np.array([int(w, 16) for w in words], dtype=np.uint32).view(np.float32)


def parse(lines: list[str], argv: list[str]) -> Run:
    """main.cc's lines: `FW_OUT <image> <values...>` per image (`FW_OUT_F32 <image> <bits...>` for a float
    output: each float's 32 bits in hex, exact), `FW_<WHAT>_USED <bytes> of <bytes>`, and where
    the platform counts, `FW_INSTR <image> <instructions>`, `FW_OP <index> <instructions>` and
    `FW_INSTR_TOTAL <instructions>`."""
    outputs, used, per_image, operators = {}, {}, {}, {}
    total, count_error = None, None
    for line in lines:
        fields = line.split()
        if fields[:1] == ["FW_OUT"]:
            outputs[int(fields[1])] = [int(v) for v in fields[2:]]
        elif fields[:1] == ["FW_OUT_F32"]:
            outputs[int(fields[1])] = float32_from_bits(fields[2:])
        elif len(fields) == 4 and fields[0].endswith("_USED"):
            used[fields[0]] = int(fields[1])
        elif len(fields) == 3 and fields[0] in ("FW_INSTR", "FW_OP"):
            (per_image if fields[0] == "FW_INSTR" else operators)[int(fields[1])] = int(fields[2])
        elif len(fields) == 2 and fields[0] == "FW_INSTR_TOTAL":
            total = int(fields[1])
        elif line.startswith("FW_ERROR the instruction count"):
            count_error = line.removeprefix("FW_ERROR ").strip()
    if not outputs or sorted(outputs) != list(range(len(outputs))) or "FW_ARENA_USED" not in used:
        raise UserError(
            f"The firmware ran but printed no complete result ({len(outputs)} images' outputs). "
            f"Received: {' | '.join(lines[-3:]) or 'nothing'}"
        )
    counted = sorted(per_image) == list(range(len(outputs))) and count_error is None
    return Run(
        outputs=np.asarray([outputs[i] for i in range(len(outputs))]),
        arena_used=used["FW_ARENA_USED"],
        stack_used=used.get("FW_STACK_USED", -1),
        heap_used=used.get("FW_HEAP_USED", -1),
        command=argv,
        instructions=[per_image[i] for i in range(len(outputs))] if counted else [],
        operators=[operators[i] for i in sorted(operators)]
        if counted and sorted(operators) == list(range(len(operators)))
        else [],
        total_instructions=total if count_error is None else None,
        count_error=count_error,
    )
