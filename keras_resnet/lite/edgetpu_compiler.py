"""The Edge TPU compiler: finding and running `edgetpu_compiler`, and reading its log into a report.

The compiler exists for x86-64 Debian/Ubuntu only. Its console output and `.log` file are parsed into the
same shape of report as the preflight's (`keras_resnet.lite.edgetpu`): memory, subgraphs, per-op status.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

from keras_resnet.errors import UserError
from keras_resnet.lite import flatbuffer

COMPILER = "edgetpu_compiler"
COMPILE_TIMEOUT_S = 600
INSTALL_HINT = (
    "edgetpu_compiler is not on PATH. It runs on x86-64 Debian/Ubuntu and comes from Coral's apt repository: "
    "curl https://packages.cloud.google.com/apt/doc/apt-key.gpg | sudo apt-key add - ; "
    'echo "deb https://packages.cloud.google.com/apt coral-edgetpu-stable main" | '
    "sudo tee /etc/apt/sources.list.d/coral-edgetpu.list ; sudo apt-get update ; "
    "sudo apt-get install edgetpu-compiler (see https://coral.ai/docs/edgetpu/compiler/). "
    "The preflight above does not need it."
)


# --- the compiler's log -------------------------------------------------------------------------------

_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
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
    report["errors"] = [
        line.strip()
        for line in text.splitlines()
        if re.match(r"\s*(ERROR|Error|Internal compiler error|Compilation failed)", line)
    ]
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
    report["fully_mapped"] = (
        not report["errors"]
        and report.get("operations_cpu") == 0
        and report.get("subgraphs", 1) == 1
        and "compile_ms" in report
    )


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
            raise UserError(
                f"{COMPILER} reported no error but wrote no {output_name(model_path)}. Received: {_tail(stdout)}"
            )
        flatbuffer.read(open(produced, "rb").read())  # a damaged output is refused, not shipped
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
        raise UserError(
            f"{COMPILER} did not finish within {timeout:g} s and was stopped. Received: {compiler}"
        ) from None
    except OSError as err:
        raise UserError(f"{COMPILER} could not be started ({err.strerror}). Received: {compiler}") from None
    output = done.stdout + done.stderr
    if done.returncode != 0:
        errors = parse_compiler_log(output)["errors"]
        raise UserError(f"{COMPILER} failed (exit {done.returncode}): {'; '.join(errors) if errors else _tail(output)}")
    return output


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:]) or "(no output)"
