"""`resnet-tflite edgetpu`: the Edge TPU preflight and, where the compiler is installed, the compile.

No TensorFlow: the .tflite file is read by `keras_resnet.lite.flatbuffer`.
"""
from __future__ import annotations

import json
import os
import sys

import click

from keras_resnet.cli.options import CONTEXT, out_dir
from keras_resnet.errors import cli_errors
from keras_resnet.files import write_json

EXIT_NOT_FULLY_MAPPED = 3  # 1 is kept for errors; 3 says "valid model, but part of it runs on the CPU"


def _edgetpu_summary(report: dict) -> str:
    """A few lines a person reads: the verdict, the cut, memory, the per-op table."""
    pre, compiled = report["preflight"], report.get("compiler")
    lines = [f"preflight: {pre['operations_edgetpu']}/{pre['operations']} operations on the Edge TPU"
             f" ({'fully mapped' if pre['fully_mapped'] else 'NOT fully mapped'})"]
    if pre["first_unmappable"]:
        cut = pre["first_unmappable"]
        lines.append(f"  cut at operator {cut['index']} ({cut['op']}): {'; '.join(cut['reasons'])}")
    params = pre["parameters"]
    lines.append(f"  parameters {params['bytes']:,} bytes: ~{params['on_chip_estimate']:,} cached on chip, "
                 f"~{params['off_chip_estimate']:,} streamed (cache ~{params['cache_bytes'] // 2 ** 20} MiB)")
    if compiled and "output" in compiled:
        lines.append(f"compiler {compiled.get('version', '?')}: {compiled.get('operations_edgetpu', '?')} on the "
                     f"Edge TPU, {compiled.get('operations_cpu', '?')} on the CPU, "
                     f"{compiled.get('subgraphs', '?')} subgraph(s); on-chip {compiled.get('on_chip_bytes', 0):,} "
                     f"bytes, off-chip {compiled.get('off_chip_bytes', 0):,} bytes -> {compiled['output']}")
    table = (compiled or {}).get("op_counts") or pre["op_counts"]
    lines += [f"  {row['op']:<24}{row['count']:>6}  {row['status']}" for row in table]
    lines.append(f"verdict: {'fully mapped' if report['fully_mapped'] else 'NOT fully mapped'}")
    return "\n".join(lines)


@click.command(context_settings=CONTEXT)
@click.argument("model", metavar="FILE.tflite")
@click.option("--out", type=click.Path(file_okay=False), help="Folder for <name>_edgetpu.tflite and the report "
              "(default: the model's folder).")
@click.option("--check-only", is_flag=True, help="Only the preflight; do not run edgetpu_compiler.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report instead of a summary.")
@cli_errors
def edgetpu(model, out, check_only, as_json):
    """Check FILE.tflite against the Edge TPU's requirements op by op, then compile it if the compiler is here.

    Exit code 0: every operation maps to the Edge TPU; 3: part of the model would run on the CPU; 1: error.
    The JSON report is written beside the output as <name>_edgetpu_report.json.
    """
    from keras_resnet.lite import edgetpu_compiler, flatbuffer
    from keras_resnet.lite.edgetpu import preflight

    parsed = flatbuffer.read_file(model)
    report = {"model": os.path.abspath(model), "preflight": preflight(parsed)}
    directory = out_dir(out, model)
    if not check_only:
        compiler = edgetpu_compiler.find_compiler()
        if compiler is None:
            click.echo(f"note: {edgetpu_compiler.INSTALL_HINT}", err=True)
            report["compiler"] = {"available": False, "message": edgetpu_compiler.INSTALL_HINT}
        else:
            click.echo(f"compiling with {compiler} (up to {edgetpu_compiler.COMPILE_TIMEOUT_S} s) ...", err=True)
            report["compiler"] = edgetpu_compiler.compile_model(model, directory, compiler)
    compiled = "output" in report.get("compiler", {})
    report["fully_mapped"] = report["compiler"]["fully_mapped"] if compiled else report["preflight"]["fully_mapped"]
    stem = os.path.splitext(os.path.basename(model))[0]
    write_json(os.path.join(directory, f"{stem}_edgetpu_report.json"), report)
    click.echo(json.dumps(report, indent=2) if as_json else _edgetpu_summary(report))
    if not report["fully_mapped"]:
        sys.exit(EXIT_NOT_FULLY_MAPPED)
