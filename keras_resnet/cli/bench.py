"""`resnet-tflite bench`: the device benchmark harness (`keras_resnet.benchmark`), a thin click wrapper.

It hands its arguments untouched to the harness's argparse parser (`keras_resnet.device.command`), the one
that `python -m keras_resnet.bench` uses on devices without click, so both spell and document options alike.
"""

from __future__ import annotations

import sys

import click

PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


@click.command(context_settings=PASS_THROUGH, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench(args):
    """Benchmark .tflite models: latency, throughput, accuracy, system record (see bench --help)."""
    from keras_resnet.device.command import main

    sys.exit(main(list(args), prog="resnet-tflite bench"))
