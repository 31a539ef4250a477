"""`resnet-tflite edgetpu` and `resnet-tflite micro`: thin wrappers over keras_resnet.edgetpu and .micro.

Neither command imports TensorFlow: both read the .tflite file with keras_resnet.tflite_file.
"""
from __future__ import annotations

import json
import os
import sys

import click

from keras_resnet.cli import CONTEXT
from keras_resnet.errors import cli_errors

EXIT_NOT_FULLY_MAPPED = 3  # 1 is kept for errors; 3 says "valid model, but part of it runs on the CPU"


def _out_dir(out, model_path) -> str:
    """`--out`, created if needed (refused first if it could not be); the model's own folder when not given."""
    from keras_resnet.io import check_directory

    directory = os.path.abspath(out) if out else os.path.dirname(os.path.abspath(model_path))
    check_directory(directory)
    os.makedirs(directory, exist_ok=True)
    return directory


def _write_json(path, data) -> None:
    from keras_resnet.io import write_text

    write_text(path, json.dumps(data, indent=2) + "\n")


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
    from keras_resnet import edgetpu as tpu
    from keras_resnet import tflite_file

    parsed = tflite_file.read_file(model)
    report = {"model": os.path.abspath(model), "preflight": tpu.preflight(parsed)}
    directory = _out_dir(out, model)
    if not check_only:
        compiler = tpu.find_compiler()
        if compiler is None:
            click.echo(f"note: {tpu.INSTALL_HINT}", err=True)
            report["compiler"] = {"available": False, "message": tpu.INSTALL_HINT}
        else:
            click.echo(f"compiling with {compiler} (up to {tpu.COMPILE_TIMEOUT_S} s) ...", err=True)
            report["compiler"] = tpu.compile_model(model, directory, compiler)
    compiled = "output" in report.get("compiler", {})
    report["fully_mapped"] = report["compiler"]["fully_mapped"] if compiled else report["preflight"]["fully_mapped"]
    stem = os.path.splitext(os.path.basename(model))[0]
    _write_json(os.path.join(directory, f"{stem}_edgetpu_report.json"), report)
    click.echo(json.dumps(report, indent=2) if as_json else _edgetpu_summary(report))
    if not report["fully_mapped"]:
        sys.exit(EXIT_NOT_FULLY_MAPPED)


def _micro_summary(report: dict) -> str:
    arena = report["arena"]
    lines = [f"wrote {', '.join(report['files'])} to {report['out']}",
             f"flash (model): {report['flash_bytes']:,} bytes; RAM (tensor arena): {arena['measured_bytes']:,} "
             f"bytes measured, {arena['recommended_bytes']:,} reserved (+{int(arena['margin'] * 100)}%, "
             "kTensorArenaSize); the TFLM runtime and your application come on top",
             f"operators: {', '.join(report['operators'])}"]
    lines += [f"  {'fits ' if b['fits'] else 'NO   '} {b['board']}" for b in report["boards"]]
    if "parity" in report:
        p = report["parity"]
        lines.append(f"parity on {p['images']} images: max |TFLM - LiteRT reference kernels| = "
                     f"{p['litert_reference_kernels']['max_abs_diff']:g} LSB, vs LiteRT default = "
                     f"{p['litert_default']['max_abs_diff']:g} LSB, top-1 agreement "
                     f"{p['litert_default']['top1_agreement']:.3f}")
    return "\n".join(lines)


@click.command(context_settings=CONTEXT)
@click.argument("model", metavar="FILE.tflite")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for the C++ sources.")
@click.option("--name", help="C name of the model (default: the file name), prefix of every generated file.")
@click.option("--parity", "parity_source", help="Also compare TFLM with LiteRT on this SOURCE's test split.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True,
              help="Images for --parity.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report instead of a summary.")
@cli_errors
def micro(model, out, name, parity_source, limit, as_json):
    """Export FILE.tflite for TFLite-Micro: C array, op resolver, settings, and the measured tensor arena.

    Writes NAME_model_data.cc/.h, NAME_op_resolver.h, NAME_model_settings.h and NAME_micro.json into OUT.
    """
    from keras_resnet import micro as tflm
    from keras_resnet import sources, tflite_file

    parsed = tflite_file.read_file(model)
    data = parsed.data
    name = tflm.c_name(name or os.path.splitext(os.path.basename(model))[0])
    pixels = None
    if parity_source:  # checked before anything is written
        pixels = sources.load(parity_source, "test", limit=limit).x.astype("float32")
        tflm.quantized_inputs(parsed, pixels)
    directory = _out_dir(out, model)
    report = {"model": os.path.abspath(model), "out": directory, **tflm.export(data, directory, name)}
    if pixels is not None:
        report["parity"] = tflm.parity(data, parsed, pixels, report["arena"]["recommended_bytes"])
    _write_json(os.path.join(directory, f"{name}_micro.json"), report)
    click.echo(json.dumps(report, indent=2) if as_json else _micro_summary(report))

