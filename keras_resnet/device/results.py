"""Benchmark results as files: the JSON and CSV layouts, machine keys, and comparison with reference results.

The layouts are documented in tflite/README.md and fixed by SCHEMA and CSV_COLUMNS.
"""

from __future__ import annotations

import csv
import io
import json
import os

from keras_resnet.errors import UserError
from keras_resnet.files import readable_file

SCHEMA = "resnet-tflite-bench/1"
REFERENCE_SCHEMA = "resnet-tflite-reference/1"
CSV_COLUMNS = (
    "model",
    "threads",
    "delegate",
    "size_bytes",
    "macs",
    "load_ms",
    "first_ms",
    "min_ms",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "mean_ms",
    "std_ms",
    "throughput_ips",
    "gmacs_per_s",
    "top1",
    "top5",
    "images",
    "emulated",
    "board",
    "cpu",
    "runtime",
)
DEFAULT_TOLERANCE = 0.10  # --compare: a p50 more than 10% above the reference is a regression
ACCURACY_TOLERANCE = 0.01  # --compare: top-1 more than 1 point below the reference is a regression


def results_of(document: dict) -> list[dict]:
    """The benchmark results in a file: one result, or a reference file holding several runs."""
    if document.get("schema") == SCHEMA:
        return [document]
    if document.get("schema") == REFERENCE_SCHEMA:
        return list(document["runs"])
    raise UserError(
        f"Not a benchmark result: schema is {document.get('schema')!r}, expected {SCHEMA!r} or {REFERENCE_SCHEMA!r}"
    )


def load_results(path: str) -> list[dict]:
    """Results from a JSON file written by `bench --json` or a reference file."""
    path = readable_file(path, "Results file")
    try:
        with open(path) as f:
            document = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path} is not valid JSON ({err}). Received: {path}") from None
    if not isinstance(document, dict):
        raise UserError(f"{path} is not a benchmark result (top level is not an object). Received: {path}")
    return results_of(document)


def csv_rows(result: dict) -> list[dict]:
    """One flat dict per result row, keyed by CSV_COLUMNS."""
    system = result["system"]
    out = []
    for r in result["results"]:
        acc = r.get("accuracy") or {}
        lat = r["latency_ms"]
        out.append(
            {
                "model": r["model"],
                "threads": r["threads"],
                "delegate": r["delegate"],
                "size_bytes": r["size_bytes"],
                "macs": r["macs"],
                "load_ms": r["load_ms"],
                "first_ms": r["first_ms"],
                **{f"{k}_ms": lat[k] for k in ("min", "p50", "p90", "p99", "mean", "std")},
                "throughput_ips": r["throughput_ips"],
                "gmacs_per_s": r["gmacs_per_s"],
                "top1": acc.get("top1"),
                "top5": acc.get("top5"),
                "images": acc.get("images"),
                "emulated": r["emulated"],
                "board": system["board"]["model"],
                "cpu": system["cpu"]["model"],
                "runtime": system["runtime"],
            }
        )
    return out


def to_csv(result: dict) -> str:
    """The result as CSV text with the fixed header CSV_COLUMNS (empty cells for unknown values)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(result))
    return buffer.getvalue()


def machine_name(system: dict) -> str:
    """What a machine is called in tables: its board, else its CPU model."""
    return system["board"]["model"] or system["cpu"]["model"] or "unknown"


def machine_id(system: dict) -> str:
    """A file-name key for a machine: board (or CPU model), architecture and core count."""
    text = f"{machine_name(system)}-{system['os']['machine']}-{system['cpu']['cores']}cpu".lower()
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").replace("--", "-")


# ---------------------------------------------------------------- comparison with reference results


def row_key(r: dict) -> tuple:
    return r["model"], r["threads"], r["delegate"]


def compare(result: dict, references: list[dict], tolerance: float = DEFAULT_TOLERANCE) -> dict:
    """Each row against the reference row of the same model, threads and delegate.

    Status: "regression" when p50 exceeds the reference by more than `tolerance` (a fraction) or top-1
    falls by more than ACCURACY_TOLERANCE; "faster" when p50 beats it by more than `tolerance`; "ok";
    or "no-reference" when the reference has no such row (never an error).
    """
    table = {row_key(r): r for ref in references for r in ref["results"]}
    rows = []
    for r in result["results"]:
        ref = table.get(row_key(r))
        entry = {
            "model": r["model"],
            "threads": r["threads"],
            "delegate": r["delegate"],
            "p50_ms": r["latency_ms"]["p50"],
            "reference_p50_ms": None,
            "change": None,
            "status": "no-reference",
        }
        if ref is not None:
            change = r["latency_ms"]["p50"] / ref["latency_ms"]["p50"] - 1
            entry.update(
                reference_p50_ms=ref["latency_ms"]["p50"], change=change, status=_status(change, r, ref, tolerance)
            )
        rows.append(entry)
    return {
        "tolerance": tolerance,
        "accuracy_tolerance": ACCURACY_TOLERANCE,
        "rows": rows,
        "regressions": sum(e["status"] == "regression" for e in rows),
    }


def _status(change: float, r: dict, ref: dict, tolerance: float) -> str:
    """Regression / faster / ok for one row that has a reference."""
    acc, ref_acc = r.get("accuracy") or {}, ref.get("accuracy") or {}
    if (
        acc.get("top1") is not None
        and ref_acc.get("top1") is not None
        and acc["top1"] < ref_acc["top1"] - ACCURACY_TOLERANCE
    ):
        return "regression"
    if change > tolerance:
        return "regression"
    return "faster" if change < -tolerance else "ok"


def reference_file(path: str, system: dict) -> str | None:
    """The reference file to compare with: `path` itself, or this machine's file in the directory `path`."""
    if not os.path.isdir(path):
        return path
    candidate = os.path.join(path, machine_id(system) + ".json")
    return candidate if os.path.exists(candidate) else None


def refuse_emulated(systems: list[dict], what: str) -> None:
    """A UserError when any system record says emulation: emulated timings never become or meet a reference."""
    emulated = [s["emulation"] for s in systems if s["emulation"]["emulated"]]
    if emulated:
        evidence = "; ".join(emulated[0].get("evidence") or ["qemu"])
        raise UserError(
            f"{what}: timings measured under emulation ({evidence}) are not device figures and "
            f"cannot serve as a reference; measure on the device itself."
        )


def attach_comparison(result: dict, path: str, tolerance: float) -> None:
    """Compare with the reference at `path`; a missing machine file is a warning, not an error.

    An emulated run is not compared (its timings say nothing about a device), and a reference holding
    emulated runs is refused, so emulated figures can neither pass nor fail a device check.
    """
    if result["system"]["emulation"]["emulated"]:
        result["warnings"].append("emulated timings are not compared with references: nothing compared")
        return
    ref = reference_file(path, result["system"])
    if ref is None:
        result["warnings"].append(
            f"no reference file for this machine ({machine_id(result['system'])}.json) in {path}: nothing compared"
        )
        return
    references = load_results(ref)
    refuse_emulated([r["system"] for r in references], ref)
    result["comparison"] = compare(result, references, tolerance)
    result["comparison"]["reference"] = ref
