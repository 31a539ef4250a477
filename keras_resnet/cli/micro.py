"""`resnet-tflite micro`: TFLite-Micro sources for a .tflite file, with the measured tensor arena.

No TensorFlow: the .tflite file is read by `keras_resnet.lite.flatbuffer`.
"""
from __future__ import annotations

import json
import os

import click

from keras_resnet.cli.options import CONTEXT, out_dir
from keras_resnet.errors import cli_errors
from keras_resnet.files import write_json


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
    from keras_resnet import sources
    from keras_resnet.lite import flatbuffer, micro as export
    from keras_resnet.lite.runtime import image_input

    parsed = flatbuffer.read_file(model)
    data = parsed.data
    name = export.c_name(name or os.path.splitext(os.path.basename(model))[0])
    pixels = None
    if parity_source:  # read before anything is written, as the model takes its images
        size, channels = image_input(parsed.tensors[parsed.inputs[0]].shape, model)
        pixels = sources.load(parity_source, "test", limit=limit, size=size, channels=channels).x.astype("float32")
    directory = out_dir(out, model)
    report = {"model": os.path.abspath(model), "out": directory, **export.export(data, directory, name)}
    if pixels is not None:
        report["parity"] = export.parity(data, parsed, pixels, report["arena"]["recommended_bytes"])
    write_json(os.path.join(directory, f"{name}_micro.json"), report)
    click.echo(json.dumps(report, indent=2) if as_json else _micro_summary(report))
