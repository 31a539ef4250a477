"""The benchmark's command line: `python -m keras_resnet.bench` on a device, `resnet-tflite bench` on a workstation.

argparse, not click: the command works in a bare `pip install "resnet-tflite[device]"`, and `resnet-tflite
bench` hands its arguments to this parser, so there is one set of options and one help text.
"""

from __future__ import annotations

import argparse
import sys

from keras_resnet.device import harness, results
from keras_resnet.errors import cli_errors

REGRESSION_EXIT = 3


def _fmt(value, spec: str) -> str:
    """`value` formatted by `spec`, or a dash padded to the spec's width when it is unknown."""
    return format("-", ">" + spec.split(".")[0]) if value is None else format(value, spec)


def format_table(result: dict) -> str:
    """A fixed-width table of every row, for the terminal."""
    lines = [
        f"{'model':<24}{'thr':>4} {'delegate':<9}{'load':>8}{'first':>9}{'p50':>9}{'p90':>9}{'p99':>9}"
        f"{'std':>8}{'img/s':>9}{'GMAC/s':>8}{'top1':>7}{'top5':>7}",
        f"{'':<24}{'':>4} {'':<9}{'ms':>8}{'ms':>9}{'ms':>9}{'ms':>9}{'ms':>9}{'ms':>8}",
    ]
    for r in result["results"]:
        lat, acc = r["latency_ms"], r.get("accuracy") or {}
        lines.append(
            f"{r['model'][:23]:<24}{r['threads']:>4} {r['delegate'][:8]:<9}{r['load_ms']:>8.1f}"
            f"{r['first_ms']:>9.2f}{lat['p50']:>9.3f}{lat['p90']:>9.3f}{lat['p99']:>9.3f}{lat['std']:>8.3f}"
            f"{r['throughput_ips']:>9.1f}{_fmt(r['gmacs_per_s'], '8.2f')}"
            f"{_fmt(acc.get('top1'), '7.3f')}{_fmt(acc.get('top5'), '7.3f')}"
        )
    return "\n".join(lines)


def format_system(result: dict) -> str:
    """Two lines saying where the numbers come from."""
    s = result["system"]
    temp = s["thermal_before"]["celsius"], s["thermal_after"]["celsius"]
    emulated = " EMULATED (qemu)" if s["emulation"]["emulated"] else ""
    return (
        f"board: {s['board']['model'] or 'unknown'} | cpu: {s['cpu']['model']} x{s['cpu']['cores']} | "
        f"{s['os']['system']} {s['os']['machine']}{emulated}\n"
        f"runtime: {s['runtime']} | delegate: {s['delegate']['name']} | temperature before/after: "
        f"{temp[0] or 'unknown'} / {temp[1] or 'unknown'} | "
        f"peak RSS: {_fmt(s['peak_rss_bytes'] and s['peak_rss_bytes'] / 2**20, '.0f')} MiB"
    )


def format_comparison(comparison: dict) -> str:
    """One line per row: status, p50 and the change against the reference."""
    lines = [
        f"compared with reference (tolerance {comparison['tolerance']:.0%} on p50, "
        f"{comparison['accuracy_tolerance']:.0%} on top-1):"
    ]
    for e in comparison["rows"]:
        change = "" if e["change"] is None else f" vs {e['reference_p50_ms']:.3f} ms ({e['change']:+.1%})"
        lines.append(
            f"  {e['status']:<13}{e['model']} threads={e['threads']} {e['delegate']}: {e['p50_ms']:.3f} ms{change}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- command line


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one `error:` line (exit 2), like the rest of the CLI."""

    def error(self, message):
        self.exit(2, f"error: {message} (see --help)\n")


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, got {text!r}") from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative integers, got {text!r}")
    return values


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The options of `harness.benchmark`, each stored under the name of its argument there."""
    parser = _Parser(
        prog=prog,
        description="Benchmark .tflite models on this machine: load time, cold and "
        "warm latency, throughput, optional accuracy, and a record of the system. The Python function "
        "is keras_resnet.benchmark.",
    )
    add = parser.add_argument
    add("models", nargs="+", metavar="MODEL.tflite", help="models to benchmark, interleaved A B A B ...")
    add(
        "--threads",
        dest="num_threads",
        type=_int_list,
        default=[1],
        metavar="N[,N...]",
        help="interpreter threads (num_threads); a list measures each count, interleaved (default 1)",
    )
    add(
        "--warmup",
        dest="warmup_runs",
        type=int,
        default=5,
        metavar="N",
        help="untimed runs after the first (default 5)",
    )
    add("--runs", dest="num_runs", type=int, default=50, metavar="N", help="timed runs per model (default 50)")
    add("--edgetpu", action="store_true", help="run on a Coral Edge TPU (loads libedgetpu)")
    add("--delegate", metavar="PATH", help="external delegate library (external_delegate_path)")
    add("--no-xnnpack", dest="xnnpack", action="store_false", help="plain CPU kernels, without XNNPACK")
    add("--data", metavar="SOURCE", help="labelled images (folder:PATH or npz:PATH) for top-1/top-5")
    add("--split", default="test", choices=harness.SPLITS, help="split of --data (default test)")
    add("--limit", type=int, default=500, metavar="N", help="images from --data, class-balanced (default 500)")
    add(
        "--outputs",
        action="store_true",
        help="with --data: keep every image's label and raw output in the JSON (compare machines image by image)",
    )
    add("--pin", type=_int_list, metavar="CPU[,CPU...]", help="pin the process to these CPUs (Linux)")
    add("--json", dest="json_path", metavar="OUT", help="write the full result as JSON")
    add("--csv", dest="csv_path", metavar="OUT", help="write one CSV row per model and thread count")
    add("--compare", metavar="REF", help="reference result file, or a directory of <machine>.json files")
    add(
        "--tolerance",
        type=float,
        default=results.DEFAULT_TOLERANCE,
        metavar="FRACTION",
        help=f"p50 increase counted as a regression by --compare (default {results.DEFAULT_TOLERANCE})",
    )
    add("--quiet", action="store_true", help="print nothing but warnings and errors (no progress, no table)")
    return parser


def parser_flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """{argument name of `harness.benchmark`: how the command line spells it}: the option string of each
    destination (`--runs` for num_runs), the metavar of a positional argument."""
    flags = {}
    for action in parser._actions:
        if action.dest != "help":
            flags[action.dest] = action.option_strings[0] if action.option_strings else action.metavar or action.dest
    return flags


def _flags() -> dict[str, str]:
    return parser_flags(build_parser())


@cli_errors(flags=_flags)
def main(argv=None, prog: str | None = None) -> int:
    """`python -m keras_resnet.bench` and `resnet-tflite bench`: exit 0, 1 on an error, 3 on a regression."""
    argv = list(sys.argv[1:] if argv is None else argv)
    options = vars(build_parser(prog).parse_args(argv))
    quiet = options.pop("quiet")
    progress = None if quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    result = harness.benchmark(options.pop("models"), **options, progress=progress, command=argv)
    for warning in result["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    if not quiet:
        print(format_system(result))
        print(format_table(result))
        if result["comparison"]:
            print(format_comparison(result["comparison"]))
    return REGRESSION_EXIT if result["comparison"] and result["comparison"]["regressions"] else 0
