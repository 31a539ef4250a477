"""Running the firmware: in qemu-system-arm on the target's board, with semihosting so that it reads the test
images from the host and prints to it, or natively for the host; and reading what main.cc printed."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

import numpy as np

from keras_resnet.errors import UserError
from keras_resnet.lite.firmware import toolchain
from keras_resnet.lite.firmware.targets import Target

RUN_TIMEOUT_S = 600
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

    outputs: np.ndarray
    arena_used: int
    stack_used: int  # -1: not measured (the host)
    heap_used: int
    command: list[str]


def command(target: Target, program: str) -> list[str]:
    """The command line that runs the firmware (in the folder that holds its images file)."""
    if target.host:
        return [program]
    return [
        toolchain.find("qemu-system-arm"),
        "-M",
        target.board,
        "-cpu",
        target.name,
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
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


def parse(lines: list[str], argv: list[str]) -> Run:
    """main.cc's lines: `FW_OUT <image> <values...>` per image and `FW_<WHAT>_USED <bytes> of <bytes>`."""
    outputs, used = {}, {}
    for line in lines:
        fields = line.split()
        if fields[:1] == ["FW_OUT"]:
            outputs[int(fields[1])] = [int(v) for v in fields[2:]]
        elif len(fields) == 4 and fields[0].endswith("_USED"):
            used[fields[0]] = int(fields[1])
    if not outputs or sorted(outputs) != list(range(len(outputs))) or "FW_ARENA_USED" not in used:
        raise UserError(
            f"The firmware ran but printed no complete result ({len(outputs)} images' outputs). "
            f"Received: {' | '.join(lines[-3:]) or 'nothing'}"
        )
    return Run(
        np.asarray([outputs[i] for i in range(len(outputs))]),
        used["FW_ARENA_USED"],
        used.get("FW_STACK_USED", -1),
        used.get("FW_HEAP_USED", -1),
        argv,
    )
