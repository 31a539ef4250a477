"""`resnet-tflite report`: the benchmark table and plots from result files."""

from __future__ import annotations

import json
import os

import click

from keras_resnet.cli.options import CONTEXT, command_errors, json_option


@click.command(context_settings=CONTEXT)
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory for report.md, latency.png and accuracy_latency.png.",
)
@json_option()
@command_errors
def report(results, out, as_json):
    """Markdown table and plots (latency distribution; accuracy vs latency, size as bubble area) from
    RESULTS.json files written by `bench --json` or reference files. The Python function is keras_resnet.report.
    """
    from keras_resnet.device.report import report as write_report

    written = write_report(list(results), out)
    if as_json:
        click.echo(json.dumps(written))
        return
    for name in written:
        click.echo(f"wrote {os.path.join(out, name)}")
