"""`resnet-tflite micro`: TFLite-Micro sources for a .tflite file, with the measured tensor arena.

No TensorFlow: the .tflite file is read by `keras_resnet.lite.flatbuffer`.
"""

from __future__ import annotations

import json

import click

from keras_resnet.cli.options import (
    CONTEXT,
    c_name_option,
    command_errors,
    json_option,
    limit_option,
    strip_option,
)


def _micro_summary(report: dict) -> str:
    arena = report["arena"]
    lines = [
        f"wrote {', '.join(report['files'])} to {report['out']}",
        f"flash (model): {report['flash_bytes']:,} bytes; RAM (tensor arena): {arena['measured_bytes']:,} "
        f"bytes measured, {arena['recommended_bytes']:,} reserved (+{int(arena['margin'] * 100)}%, "
        "kTensorArenaSize); the TFLM runtime and your application come on top",
        f"operators: {', '.join(report['operators'])}",
    ]
    lines += [f"  {'fits ' if b['fits'] else 'NO   '} {b['board']}" for b in report["boards"]]
    if "parity" in report:
        p = report["parity"]
        lines.append(
            f"parity on {p['images']} images: max |TFLM - LiteRT reference kernels| = "
            f"{p['litert_reference_kernels']['max_abs_diff']:g} LSB, vs LiteRT default = "
            f"{p['litert_default']['max_abs_diff']:g} LSB, top-1 agreement "
            f"{p['litert_default']['top1_agreement']:.3f}"
        )
    return "\n".join(lines)


@click.command(context_settings=CONTEXT)
@click.argument("model", metavar="FILE.tflite")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for the C++ sources.")
@c_name_option()
@click.option("--parity", help="Also compare TFLM with LiteRT on this SOURCE's test split.")
@limit_option(default=100, show_default=True)
@strip_option()
@json_option()
@command_errors
def micro(model, out, name, parity, limit, strip, as_json):
    """Export FILE.tflite for TFLite-Micro: C array, op resolver, settings, and the measured tensor arena.

    Writes NAME_model_data.cc/.h, NAME_op_resolver.h, NAME_model_settings.h and NAME_micro.json into OUT.
    The Python function is keras_resnet.micro.
    """
    from keras_resnet.lite.micro import micro as export_micro

    report = export_micro(model, out, name=name, parity=parity, limit=limit, strip=strip)
    click.echo(json.dumps(report, indent=2) if as_json else _micro_summary(report))
