"""Benchmark results as a Markdown table and two plots: latency distribution, and accuracy versus latency.

The second is the classic speed/accuracy/memory chart: p50 latency across, top-1 up, model file size as
bubble area. Reads the JSON that `benchmark` returns and writes (or a reference file); needs matplotlib,
which is on the workstation, not on devices.
"""

from __future__ import annotations

import os

from keras_resnet.device.results import load_results, machine_name, results_of
from keras_resnet.errors import UserError
from keras_resnet.files import atomic_path, write_text

__all__ = ["report", "write_report", "markdown"]

MARKDOWN = "report.md"
LATENCY_PNG = "latency.png"
ACCURACY_PNG = "accuracy_latency.png"


def flatten(results: list[dict]) -> list[dict]:
    """Every row of every result, with a short label and the machine it ran on."""
    rows = []
    for result in results:
        system = result["system"]
        machine = machine_name(system)
        if system["emulation"]["emulated"]:
            machine += " (emulated)"
        for r in result["results"]:
            rows.append({**r, "machine": machine, "label": f"{r['model']} t{r['threads']} {r['delegate']}"})
    return rows


def _cell(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def markdown(rows: list[dict]) -> str:
    """A Markdown table of the rows (latency in ms, size in KiB, MACs in millions)."""
    lines = [
        "| model | threads | delegate | size KiB | MMACs | load ms | first ms | p50 ms | p90 ms | p99 ms "
        "| img/s | GMAC/s | top-1 | top-5 | machine |",
        "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for r in rows:
        lat, acc = r["latency_ms"], r.get("accuracy") or {}
        lines.append(
            f"| {r['model']} | {r['threads']} | {r['delegate']} | {r['size_bytes'] / 1024:,.0f} "
            f"| {_cell(r['macs'] and r['macs'] / 1e6, ',.1f')} | {r['load_ms']:.1f} | {r['first_ms']:.2f} "
            f"| {lat['p50']:.3f} | {lat['p90']:.3f} | {lat['p99']:.3f} | {r['throughput_ips']:,.1f} "
            f"| {_cell(r['gmacs_per_s'], '.1f')} | {_cell(acc.get('top1'), '.3f')} "
            f"| {_cell(acc.get('top5'), '.3f')} | {r['machine']} |"
        )
    return "\n".join(lines) + "\n"


def plot_latency(rows: list[dict], path: str) -> None:
    """Box plot of every row's timed runs (log scale when they span more than a decade)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2))
    ax.boxplot([r["samples_ms"] for r in rows], vert=False, whis=(1, 99), showfliers=True, flierprops={"markersize": 2})
    ax.set_yticks(range(1, len(rows) + 1), [r["label"] for r in rows], fontsize=8)
    lows, highs = [min(r["samples_ms"]) for r in rows], [max(r["samples_ms"]) for r in rows]
    if max(highs) > 10 * min(lows):
        ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("latency per inference (ms); box: p25-p75, whiskers: p1-p99")
    ax.set_title("Latency distribution")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_accuracy_latency(rows: list[dict], path: str) -> bool:
    """Top-1 versus p50 latency, bubble area proportional to file size; False when no row has accuracy."""
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    rows = [r for r in rows if (r.get("accuracy") or {}).get("top1") is not None]
    if not rows:
        return False
    largest = max(r["size_bytes"] for r in rows)
    fig, ax = plt.subplots(figsize=(9, 5))
    colors = plt.get_cmap("tab20").colors
    for i, r in enumerate(rows):  # a legend, not annotations: equal accuracies would stack the labels
        ax.scatter(
            r["latency_ms"]["p50"],
            r["accuracy"]["top1"],
            s=2000 * r["size_bytes"] / largest,
            alpha=0.5,
            color=colors[i % len(colors)],
            edgecolors="black",
            linewidths=0.6,
            label=r["label"],
        )
    legend = ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    for handle in legend.legend_handles:
        handle.set_sizes([40])
    ax.set_xscale("log")
    ticks = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(ticks)
    ax.xaxis.set_minor_formatter(ticks)
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("p50 latency (ms, log scale)")
    ax.set_ylabel("top-1 accuracy")
    ax.set_title(f"Accuracy vs latency (bubble area: model size, largest {largest / 2**20:.1f} MiB)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def report(results, out) -> list[str]:
    """The benchmark report: a Markdown table and plots (latency distribution; accuracy versus latency, model
    size as bubble area) of benchmark results.

    Args:
        results: Result file path(s) (written by `benchmark`'s json_path, or reference files), or result
            dicts as `benchmark` returns them, or a list mixing both.
        out: An existing folder for report.md, latency.png and accuracy_latency.png.

    Returns:
        The names of the files written into `out`: report.md, latency.png, and accuracy_latency.png when
        any row has accuracy.

    Raises:
        UserError: `out` is no folder, a file is no benchmark result, or there is no row.
        FileNotFoundError: A result file does not exist.
    """
    out = os.fspath(out)
    if not os.path.isdir(out):
        raise UserError(f"Output directory {out} does not exist; create it first. Received: out={out!r}")
    if isinstance(results, (str, os.PathLike, dict)):
        results = [results]
    documents = []
    for item in results:
        documents += results_of(item) if isinstance(item, dict) else load_results(os.fspath(item))
    return _write(documents, out, [r if isinstance(r, dict) else os.fspath(r) for r in results])


def write_report(paths: list[str], out_dir: str) -> list[str]:
    """report.md, latency.png and (when any row has accuracy) accuracy_latency.png in `out_dir` (`report`)."""
    return report(list(paths), out_dir)


def _write(documents: list[dict], out_dir: str, given: list) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    rows = flatten(documents)
    if not rows:
        raise UserError(f"No benchmark rows in the results. Received: results={given!r}")
    written = []
    with atomic_path(os.path.join(out_dir, LATENCY_PNG), suffix=".png") as tmp:
        plot_latency(rows, tmp)
    written.append(LATENCY_PNG)
    has_accuracy = any((r.get("accuracy") or {}).get("top1") is not None for r in rows)
    if has_accuracy:
        with atomic_path(os.path.join(out_dir, ACCURACY_PNG), suffix=".png") as tmp:
            plot_accuracy_latency(rows, tmp)
        written.append(ACCURACY_PNG)
    text = "# Benchmark results\n\n" + markdown(rows) + "\n" + "".join(f"![{name}]({name})\n\n" for name in written)
    if not has_accuracy:
        text += "No row has accuracy (run `bench --data SOURCE`), so there is no accuracy-versus-latency plot.\n"
    write_text(os.path.join(out_dir, MARKDOWN), text)
    return [MARKDOWN, *written]
