"""The programs a firmware build needs, found on PATH, each with the Debian package that provides it, and
running them so that a failure becomes one line with the tool's own first error lines."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from keras_resnet.errors import UserError

# program -> Debian package (`make firmware-tools` installs them all)
PACKAGES = {
    "arm-none-eabi-gcc": "gcc-arm-none-eabi",
    "arm-none-eabi-g++": "gcc-arm-none-eabi",
    "arm-none-eabi-size": "binutils-arm-none-eabi",
    "qemu-system-arm": "qemu-system-arm",
    "make": "make",
    "g++": "g++",
}
# C library files the cross compiler must find -> the Debian package that has them
LIBRARIES = {"libc_nano.a": "libnewlib-arm-none-eabi", "libstdc++_nano.a": "libstdc++-arm-none-eabi-newlib"}
ERROR_LINE = re.compile(r"(error|Error|undefined reference|overflowed|will not fit|No rule to make)")


def find(program: str) -> str:
    """The path of `program`; a UserError naming its Debian package when it is not installed."""
    path = shutil.which(program)
    if path is None:
        package = PACKAGES[program]
        raise UserError(
            f"{program} is not installed: it comes with Debian's {package} (sudo apt-get install "
            f"{package}, or `make firmware-tools` in this checkout). Received: no {program} on PATH"
        )
    return path


def check_cross_libraries() -> None:
    """newlib and libstdc++ for arm-none-eabi are separate packages: a missing one would fail deep in a link."""
    gcc = find("arm-none-eabi-gcc")
    for library, package in LIBRARIES.items():
        found = run([gcc, f"-print-file-name={library}"], "arm-none-eabi-gcc").strip()
        if not os.path.isabs(found):
            raise UserError(
                f"{library} for arm-none-eabi is not installed: it comes with Debian's {package} "
                f"(sudo apt-get install {package}, or `make firmware-tools`). Received: no {library}"
            )


def run(command: list[str], what: str, cwd=None, env=None, timeout: float | None = None) -> str:
    """Run `command`; its output, or a UserError with `what` and the first error lines it printed."""
    try:
        done = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, errors="replace", timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise UserError(
            f"{what} did not finish within {timeout:g} s and was stopped. Received: {' '.join(command[:3])} ..."
        ) from None
    if done.returncode != 0:
        raise UserError(f"{what} failed (exit {done.returncode}): {first_errors(done.stdout + done.stderr)}")
    return done.stdout


def first_errors(output: str, count: int = 3) -> str:
    """The first lines of a compiler's or linker's output that say what went wrong (else its last lines)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if ERROR_LINE.search(line)] or lines[-count:]
    return " | ".join(errors[:count]) or "(no output)"
