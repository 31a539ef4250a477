"""Running the firmware: in qemu-system-arm on the target's board, or natively for the host, through the folder's
run.sh (what `make run` runs too); and reading what main.cc printed.

With semihosting the firmware reads the test inputs from the host's images.bin, prints to the host and ends QEMU
with its exit code. With the UART, as on a board, it prints to the board's serial port (QEMU's stdout) and reads
its inputs from flash; a board has nothing to exit to, so the port prints `FW_EXIT <code>` and waits, and run.sh
stops QEMU on that line with the code."""

from __future__ import annotations

import os
import shlex
import signal
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


def command(target: Target, program: str, io: str = "semihosting") -> list[str]:
    """The command line that runs the firmware with the I/O it was built for (in the folder of its inputs)."""
    if target.host:
        return [program]
    return [
        "qemu-system-arm",
        "-M",
        target.board,
        "-cpu",
        target.core,
        "-nographic",
        "-monitor",
        "none",
        "-icount",
        ICOUNT,
        *(
            ["-serial", "stdio"]
            if io == "uart"
            else ["-serial", "none", "-semihosting-config", "enable=on,target=native"]
        ),
        "-kernel",
        program,
    ]


EXIT_LINE = "FW_EXIT"  # the UART port's last line: `FW_EXIT <code>`


def shell_command(target: Target, program: str, io: str) -> str:
    """`command` as a line of run.sh; for the UART, QEMU stopped at the port's FW_EXIT line with its code."""
    line = shlex.join(command(target, program, io))
    if io != "uart":
        return f"exec {line}"
    return (
        f"{line} -pidfile qemu.pid | {{ while IFS= read -r line; do printf '%s\\n' \"$line\"; "
        f'case "$line" in {EXIT_LINE}*) kill "$(cat qemu.pid)"; rm -f qemu.pid; exit "${{line#{EXIT_LINE} }}" ;; esac; '
        f'done; echo "run.sh: QEMU ended before the firmware printed {EXIT_LINE}" >&2; exit 1; }}'
    )


def run(target: Target, folder: str, io: str, timeout: float = RUN_TIMEOUT_S) -> Run:
    """Run the firmware in `folder` through its run.sh; a UserError for a failed run."""
    if not target.host:
        toolchain.find("qemu-system-arm")  # run.sh takes it from PATH: say which package has it
    argv = ["./run.sh", io]
    where = f"QEMU's {target.board}" if not target.host else "this machine"
    process = subprocess.Popen(
        argv,
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # run.sh and QEMU with it
        process.communicate()
        raise UserError(
            f"The firmware did not finish on {where} within {timeout:g} s (a hang, or far too many "
            f"images) and was stopped. Received: {folder}"
        ) from None
    lines = stdout.splitlines() + stderr.splitlines()
    if process.returncode != 0:
        said = [line for line in lines if line.startswith(("FW_ERROR", "FW_FAULT"))]
        meaning = EXIT_CODES.get(process.returncode, f"exit code {process.returncode}")
        raise UserError(
            f"The firmware failed on {where}: {meaning}"
            f"{' (' + '; '.join(said[:2]) + ')' if said else ''}. Received: exit {process.returncode}"
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
