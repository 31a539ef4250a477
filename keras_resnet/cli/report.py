"""`resnet-tflite report`: the benchmark table and plots from result files."""
from __future__ import annotations

import click

from keras_resnet.cli.options import CONTEXT
from keras_resnet.errors import cli_errors


@click.command(context_settings=CONTEXT)
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for report.md, latency.png and accuracy_latency.png.")
@cli_errors
def report(results, out_dir):
    """Markdown table and plots (latency distribution; accuracy vs latency, size as bubble area) from
    RESULTS.json files written by `bench --json` or reference files."""
    from keras_resnet.device.report import write_report

    for name in write_report(list(results), out_dir):
        click.echo(f"wrote {out_dir.rstrip('/')}/{name}")
