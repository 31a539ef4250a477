"""`resnet-tflite bench` and `resnet-tflite report`: thin click wrappers.

`bench` hands its arguments untouched to the argparse parser in keras_resnet.bench, the one that
`python -m keras_resnet.bench` uses on devices without click, so both spell and document options alike.
"""
from __future__ import annotations

import sys

import click

from keras_resnet.errors import cli_errors

PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


@click.command(context_settings=PASS_THROUGH, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench(args):
    """Benchmark .tflite models: latency, throughput, accuracy, system record (see bench --help)."""
    from keras_resnet.bench import main

    sys.exit(main(list(args), prog="resnet-tflite bench"))


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for report.md, latency.png and accuracy_latency.png.")
@cli_errors
def report(results, out_dir):
    """Markdown table and plots (latency distribution; accuracy vs latency, size as bubble area) from
    RESULTS.json files written by `bench --json` or reference files."""
    from keras_resnet.report import write_report

    for name in write_report(list(results), out_dir):
        click.echo(f"wrote {out_dir.rstrip('/')}/{name}")
