"""`resnet-tflite edgetpu`: the Edge TPU preflight and, where the compiler is installed, the compile.

No TensorFlow: the .tflite file is read by `keras_resnet.lite.flatbuffer`.
"""

from __future__ import annotations

import json
import sys

import click

from keras_resnet.cli.options import CONTEXT, command_errors, json_option

EXIT_NOT_FULLY_MAPPED = 3  # 1 is kept for errors; 3 says "valid model, but part of it runs on the CPU"


def _edgetpu_summary(report: dict) -> str:
    """A few lines a person reads: the verdict, the cut, memory, the per-op table."""
    pre, compiled = report["preflight"], report.get("compiler")
    lines = [
        f"preflight: {pre['operations_edgetpu']}/{pre['operations']} operations on the Edge TPU"
        f" ({'fully mapped' if pre['fully_mapped'] else 'NOT fully mapped'})"
    ]
    if pre["first_unmappable"]:
        cut = pre["first_unmappable"]
        lines.append(f"  cut at operator {cut['index']} ({cut['op']}): {'; '.join(cut['reasons'])}")
    params = pre["parameters"]
    lines.append(
        f"  parameters {params['bytes']:,} bytes: ~{params['on_chip_estimate']:,} cached on chip, "
        f"~{params['off_chip_estimate']:,} streamed (cache ~{params['cache_bytes'] // 2**20} MiB)"
    )
    if compiled and "output" in compiled:
        lines.append(
            f"compiler {compiled.get('version', '?')}: {compiled.get('operations_edgetpu', '?')} on the "
            f"Edge TPU, {compiled.get('operations_cpu', '?')} on the CPU, "
            f"{compiled.get('subgraphs', '?')} subgraph(s); on-chip {compiled.get('on_chip_bytes', 0):,} "
            f"bytes, off-chip {compiled.get('off_chip_bytes', 0):,} bytes -> {compiled['output']}"
        )
    table = (compiled or {}).get("op_counts") or pre["op_counts"]
    lines += [f"  {row['op']:<24}{row['count']:>6}  {row['status']}" for row in table]
    lines.append(f"verdict: {'fully mapped' if report['fully_mapped'] else 'NOT fully mapped'}")
    return "\n".join(lines)


@click.command(context_settings=CONTEXT)
@click.argument("model", metavar="FILE.tflite")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="Folder for <name>_edgetpu.tflite and the report (default: the model's folder).",
)
@click.option("--check-only", is_flag=True, help="Only the preflight; do not run edgetpu_compiler.")
@json_option()
@command_errors
def edgetpu(model, out, check_only, as_json):
    """Check FILE.tflite against the Edge TPU's requirements op by op, then compile it if the compiler is here.

    Exit code 0: every operation maps to the Edge TPU; 3: part of the model would run on the CPU; 1: error.
    The JSON report is written beside the output as <name>_edgetpu_report.json. The Python function is
    keras_resnet.edgetpu.
    """
    from keras_resnet.lite.edgetpu import edgetpu as check_and_compile

    report = check_and_compile(model, out, check_only=check_only)
    click.echo(json.dumps(report, indent=2) if as_json else _edgetpu_summary(report))
    if not report["fully_mapped"]:
        sys.exit(EXIT_NOT_FULLY_MAPPED)
