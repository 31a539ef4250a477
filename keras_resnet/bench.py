"""On-device benchmark harness: latency, throughput and accuracy of .tflite models, with a system record.

Runs on a Raspberry Pi or Coral board with no TensorFlow: it imports only the standard library, NumPy and
a TFLite runtime (`ai_edge_litert`, or `tflite_runtime`), plus Pillow when `--data` names image files.
The command line is argparse, not click, for the same reason: `python -m keras_resnet.bench` works in a
bare `pip install "resnet-tflite[device]"`, and `resnet-tflite bench` hands its arguments to this parser,
so there is one set of options and one help text.

How it times (the words are TFLite benchmark_model's): each model is loaded (time recorded), run once cold
(recorded apart), warmed up, then timed over `runs` calls of `Interpreter.invoke` with
`time.perf_counter_ns`, the input set once before. Several models, and several thread counts, are
interleaved round by round (A B A B ...), so thermal or background drift hits every variant alike.
Statistics: min, p50, p90, p99 (linear interpolation between order statistics, NumPy's default), mean,
population std (ddof=0), throughput = batch / mean. JSON and CSV layouts are documented in
tflite/README.md and fixed by SCHEMA and CSV_COLUMNS.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import io
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from keras_resnet import __version__, runtime, sysinfo
from keras_resnet.errors import UserError, cli_errors

SCHEMA = "resnet-tflite-bench/1"
REFERENCE_SCHEMA = "resnet-tflite-reference/1"
PERCENTILES = (50, 90, 99)
CSV_COLUMNS = ("model", "threads", "delegate", "size_bytes", "macs", "load_ms", "first_ms", "min_ms", "p50_ms",
               "p90_ms", "p99_ms", "mean_ms", "std_ms", "throughput_ips", "gmacs_per_s", "top1", "top5",
               "images", "emulated", "board", "cpu", "runtime")
DEFAULT_TOLERANCE = 0.10  # --compare: a p50 more than 10% above the reference is a regression
ACCURACY_TOLERANCE = 0.01  # --compare: top-1 more than 1 point below the reference is a regression
REGRESSION_EXIT = 3


@dataclass
class Settings:
    """What the user asked for; recorded verbatim in the result."""

    threads: list[int] = field(default_factory=lambda: [1])
    warmup: int = 5
    runs: int = 50
    edgetpu: bool = False
    delegate: str | None = None
    xnnpack: bool = True
    data: str | None = None
    split: str = "test"
    limit: int | None = 500
    pin: list[int] | None = None
    seed: int = 0
    outputs: bool = False

    def delegate_label(self) -> str:
        """One word for the accelerator path: edgetpu, the external delegate's file name, xnnpack or cpu."""
        if self.edgetpu:
            return "edgetpu"
        if self.delegate:
            return os.path.basename(self.delegate)
        return "xnnpack" if self.xnnpack else "cpu"


# ---------------------------------------------------------------- statistics and timing (pure functions)

def summarize(samples_ns, batch: int = 1) -> dict:
    """Latency statistics in milliseconds of timed runs given in nanoseconds, and throughput (images/s)."""
    ms = np.asarray(samples_ns, np.float64) / 1e6
    if ms.size == 0:
        raise ValueError("summarize needs at least one timed run")
    stats = {"min": float(ms.min())}
    stats.update({f"p{q}": float(np.percentile(ms, q)) for q in PERCENTILES})
    stats.update({"mean": float(ms.mean()), "std": float(ms.std()), "max": float(ms.max())})
    return {"latency_ms": stats, "throughput_ips": batch * 1e3 / stats["mean"]}


def time_once(fn, clock=time.perf_counter_ns) -> int:
    """Nanoseconds one call of `fn` takes on `clock`."""
    start = clock()
    fn()
    return clock() - start


def interleaved(fns, runs: int, clock=time.perf_counter_ns) -> list[list[int]]:
    """`runs` timings of each function, called round-robin (A B A B ...) so drift affects all alike."""
    samples = [[] for _ in fns]
    pairs = list(zip(fns, samples))
    for _ in range(runs):
        for fn, out in pairs:  # time_once inlined: the loop adds nothing but two clock reads per run
            start = clock()
            fn()
            out.append(clock() - start)
    return samples


# ---------------------------------------------------------------- models

@dataclass
class Variant:
    """One loaded model at one thread count: what is timed as a unit."""

    name: str
    path: str
    data: bytes
    threads: int
    model: runtime.TFLiteModel
    load_ns: int
    edgetpu_compiled: bool


def read_model(path: str, delegate: bool = False) -> bytes:
    """A model file's bytes, with a clear error when it is missing, empty, not a TFLite flatbuffer or damaged.

    The package's checks and a first run in another process (keras_resnet.tflite_check) come before LiteRT
    sees the bytes here (`delegate`: the model will run with one, which may supply its custom operators);
    devices with only tflite_runtime lack LiteRT's schema, and there LiteRT's verifier is the only check.
    """
    from keras_resnet.io import readable_file
    from keras_resnet.tflite_check import check_model

    path = readable_file(path, "Model file")
    with open(path, "rb") as f:
        data = f.read()
    try:  # an Edge TPU-compiled model is checked for its flag when loaded
        check_model(data, path, delegate=delegate or runtime.is_edgetpu_compiled(data))
    except ImportError:
        pass
    return data


def make_delegates(settings: Settings) -> list:
    """Fresh delegate instances for one interpreter (the Edge TPU or an external library), or none."""
    if settings.edgetpu:
        return [runtime.edgetpu_delegate()]
    if settings.delegate:
        return [runtime.load_delegate(settings.delegate)]
    return []


def load_variant(path: str, data: bytes, threads: int, settings: Settings, clock=time.perf_counter_ns) -> Variant:
    """Build the interpreter for one model and thread count, timing creation plus tensor allocation."""
    compiled = runtime.is_edgetpu_compiled(data)
    if compiled and not settings.edgetpu:
        raise UserError(f"{path} is compiled for the Edge TPU: run it with --edgetpu. Received: {path}")
    delegates = make_delegates(settings)
    start = clock()
    try:
        model = runtime.TFLiteModel(data, num_threads=threads, experimental_delegates=delegates or None,
                                    xnnpack=settings.xnnpack)
    except (ValueError, RuntimeError) as err:
        detail = " ".join(str(err).split())[:200]
        raise UserError(f"{path} is a damaged TFLite model (corrupt, truncated or made for another runtime); "
                        f"{runtime.runtime_version()} says: {detail}") from None
    load_ns = clock() - start
    name = os.path.splitext(os.path.basename(path))[0]
    return Variant(name, path, data, threads, model, load_ns, compiled)


def sample_input(model: runtime.TFLiteModel, seed: int) -> np.ndarray:
    """A seeded random input over the input type's range (pixels 0-255 for float inputs)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(model.input_dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, model.input_shape, endpoint=True).astype(dtype)
    return rng.uniform(0, 255, model.input_shape).astype(dtype)


def tensor_record(detail: dict) -> dict:
    """Shape, dtype and (scale, zero point) of an input or output tensor."""
    scale, zero_point = detail["quantization"]
    return {"shape": [int(d) for d in detail["shape"]], "dtype": np.dtype(detail["dtype"]).name,
            "scale": float(scale), "zero_point": int(zero_point)}


# ---------------------------------------------------------------- accuracy

def load_images(settings: Settings, variants: list[Variant]):
    """Labelled images from --data, checked against every model's input size before any timing."""
    from keras_resnet import sources

    images = sources.load(settings.data, settings.split, limit=settings.limit)
    for v in variants:
        v.model.check_classifier(v.path)
        want = v.model.input_shape[1:]
        if tuple(images.x.shape[1:]) != tuple(want):
            got = "x".join(map(str, images.x.shape[1:]))
            raise UserError(f"{settings.data} has {got} images but {v.name} takes {'x'.join(map(str, want))}: "
                            f"use data of the model's input size. Received: --data {settings.data}")
    return images


def topk(outputs: np.ndarray, labels: np.ndarray) -> dict:
    """Top-1 and top-5 accuracy (top-5 is None below 5 classes).

    The sort is stable, so classes an int8 model scores exactly alike rank by class index on every machine
    (NumPy's default sort orders ties differently on x86 and ARM).
    """
    order = np.argsort(-outputs, axis=1, kind="stable")
    top5 = float(np.mean(np.any(order[:, :5] == labels[:, None], axis=1))) if outputs.shape[1] >= 5 else None
    return {"images": int(len(labels)), "top1": float(np.mean(order[:, 0] == labels)), "top5": top5}


def accuracy(variant: Variant, images, source: str, keep_outputs: bool = False) -> dict:
    """Top-1/top-5 of the model on the images, quantized with the model's own input parameters.

    With `keep_outputs`, every image's label and raw output (as the output tensor holds it: integers for
    an int8 model) are kept too, so runs on two machines can be compared image by image.
    """
    raw = variant.model.run_raw(images.x)
    result = topk(variant.model.float_outputs(raw), images.y)
    result.update({"source": source, "classes": len(images.classes),
                   "outputs": {"labels": images.y.tolist(), "values": raw.tolist()} if keep_outputs else None})
    return result


# ---------------------------------------------------------------- the run

def system_record(settings: Settings) -> dict:
    """Machine facts plus the runtime and delegate versions; warnings are collected by the caller."""
    record = sysinfo.collect()
    record["runtime"] = runtime.runtime_version()
    record["delegate"] = delegate_record(settings)
    return record


def delegate_record(settings: Settings) -> dict:
    """Which delegate runs the models and what is known of its version."""
    label = settings.delegate_label()
    if label == "edgetpu":
        return {"name": "edgetpu", "library": runtime.edgetpu_library(), "version": _dpkg_version("libedgetpu1-std")
                or _dpkg_version("libedgetpu1-max")}
    if settings.delegate:
        return {"name": label, "library": os.path.abspath(settings.delegate), "version": None}
    return {"name": label, "library": None, "version": f"built into {runtime.runtime_version()}"}


def _dpkg_version(package: str) -> str | None:
    """The installed Debian package version (how the Edge TPU runtime is installed), or None."""
    import shutil
    import subprocess

    if shutil.which("dpkg-query") is None:
        return None
    try:
        done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{package} {done.stdout.strip()}" if done.returncode == 0 and done.stdout.strip() else None


def load_all(paths: list[str], settings: Settings, clock) -> list[Variant]:
    """Every model at every thread count, in command-line order."""
    datas = {path: read_model(path, settings.edgetpu or bool(settings.delegate)) for path in paths}
    return [load_variant(path, datas[path], threads, settings, clock) for path in paths for threads in settings.threads]


def measure(variants: list[Variant], settings: Settings, clock) -> list[dict]:
    """Cold run, warm-up and interleaved timed runs of every variant; one result row each."""
    invokes, first = [], []
    for i, v in enumerate(variants):
        v.model.interpreter.set_tensor(v.model.input["index"], sample_input(v.model, settings.seed + i))
        invokes.append(v.model.interpreter.invoke)
        first.append(time_once(v.model.invoke, clock))  # the cold run; a model that cannot run fails here
    for _ in range(settings.warmup):
        for invoke in invokes:
            invoke()
    samples = interleaved(invokes, settings.runs, clock)
    return [row(v, first_ns, timed, settings) for v, first_ns, timed in zip(variants, first, samples)]


def row(v: Variant, first_ns: int, samples_ns: list[int], settings: Settings) -> dict:
    """The result record of one variant."""
    stats = summarize(samples_ns, batch=v.model.input_shape[0] if v.model.input_shape else 1)
    macs = runtime.model_macs(v.data)
    p50_s = stats["latency_ms"]["p50"] / 1e3
    return {
        "model": v.name, "path": v.path, "size_bytes": len(v.data), "sha256": hashlib.sha256(v.data).hexdigest(),
        "input": tensor_record(v.model.input), "output": tensor_record(v.model.output),
        "edgetpu_compiled": v.edgetpu_compiled, "macs": macs, "threads": v.threads,
        "delegate": settings.delegate_label(), "xnnpack": settings.xnnpack,
        "load_ms": v.load_ns / 1e6, "first_ms": first_ns / 1e6, "warmup": settings.warmup, "runs": settings.runs,
        **stats, "gmacs_per_s": macs / p50_s / 1e9 if macs and p50_s > 0 else None,
        "samples_ms": [t / 1e6 for t in samples_ns], "accuracy": None,
    }


def run(paths: list[str], settings: Settings, clock=time.perf_counter_ns, argv=None, progress=None) -> dict:
    """Benchmark `paths` as `settings` say; the full result record (see SCHEMA).

    `progress`, if given, is called with a line of text as each long step starts.
    """
    if settings.pin:
        sysinfo.pin_cpus(settings.pin)
    system = system_record(settings)
    warnings = [w for w in (system["cpufreq"].get("warning"),) if w]
    if system["emulation"]["emulated"]:
        warnings.append("running under emulation (qemu): timings are emulated, not device figures")
    thermal_before = sysinfo.thermal()
    variants = load_all(paths, settings, clock)
    warnings += [f"{v.name} is not compiled for the Edge TPU: it runs on the CPU" for v in variants
                 if settings.edgetpu and not v.edgetpu_compiled and v.threads == settings.threads[0]]
    images = load_images(settings, variants) if settings.data else None
    say = progress or (lambda text: None)
    say(f"timing {len(variants)} model/thread variant(s): {settings.warmup} warm-up and {settings.runs} timed "
        f"runs each, interleaved")
    rows = measure(variants, settings, clock)
    if images is not None:
        say(f"accuracy on {len(images)} images of {settings.data}")
        for v, r in zip(variants, rows):
            r["accuracy"] = accuracy(v, images, settings.data, settings.outputs)
    system.update(thermal_before=thermal_before, thermal_after=sysinfo.thermal(),
                  peak_rss_bytes=sysinfo.peak_rss_bytes())
    for r in rows:
        r["emulated"] = system["emulation"]["emulated"]
    return {"schema": SCHEMA, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": list(argv) if argv is not None else None, "harness": harness_record(),
            "settings": asdict(settings), "system": system, "warnings": warnings, "results": rows,
            "comparison": None}


def harness_record() -> dict:
    """How the numbers were made, so a reader of the JSON need not read this file."""
    return {"resnet-tflite": __version__, "timer": "time.perf_counter_ns around Interpreter.invoke",
            "percentiles": "linear interpolation (numpy.percentile default)", "std": "population (ddof=0)",
            "order": "interleaved round-robin over models and thread counts",
            "gmacs_per_s": "MACs counted from the model's conv and fully-connected ops / p50"}


# ---------------------------------------------------------------- results files

def results_of(document: dict) -> list[dict]:
    """The benchmark results in a file: one result, or a reference file holding several runs."""
    if document.get("schema") == SCHEMA:
        return [document]
    if document.get("schema") == REFERENCE_SCHEMA:
        return list(document["runs"])
    raise UserError(f"Not a benchmark result: schema is {document.get('schema')!r}, expected {SCHEMA!r} or "
                    f"{REFERENCE_SCHEMA!r}")


def load_results(path: str) -> list[dict]:
    """Results from a JSON file written by `bench --json` or a reference file."""
    from keras_resnet.io import readable_file

    path = readable_file(path, "Results file")
    try:
        with open(path) as f:
            document = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path} is not valid JSON ({err}). Received: {path}") from None
    if not isinstance(document, dict):
        raise UserError(f"{path} is not a benchmark result (top level is not an object). Received: {path}")
    return results_of(document)


def csv_rows(result: dict) -> list[dict]:
    """One flat dict per result row, keyed by CSV_COLUMNS."""
    system = result["system"]
    out = []
    for r in result["results"]:
        acc = r.get("accuracy") or {}
        lat = r["latency_ms"]
        out.append({"model": r["model"], "threads": r["threads"], "delegate": r["delegate"],
                    "size_bytes": r["size_bytes"], "macs": r["macs"], "load_ms": r["load_ms"],
                    "first_ms": r["first_ms"], **{f"{k}_ms": lat[k] for k in ("min", "p50", "p90", "p99", "mean", "std")},
                    "throughput_ips": r["throughput_ips"], "gmacs_per_s": r["gmacs_per_s"],
                    "top1": acc.get("top1"), "top5": acc.get("top5"), "images": acc.get("images"),
                    "emulated": r["emulated"], "board": system["board"]["model"], "cpu": system["cpu"]["model"],
                    "runtime": system["runtime"]})
    return out


def to_csv(result: dict) -> str:
    """The result as CSV text with the fixed header CSV_COLUMNS (empty cells for unknown values)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(result))
    return buffer.getvalue()


def machine_id(system: dict) -> str:
    """A file-name key for a machine: board (or CPU model), architecture and core count."""
    name = system["board"]["model"] or system["cpu"]["model"] or "unknown"
    text = f"{name}-{system['os']['machine']}-{system['cpu']['cores']}cpu".lower()
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").replace("--", "-")


# ---------------------------------------------------------------- comparison with reference results

def row_key(r: dict) -> tuple:
    return r["model"], r["threads"], r["delegate"]


def compare(result: dict, references: list[dict], tolerance: float = DEFAULT_TOLERANCE) -> dict:
    """Each row against the reference row of the same model, threads and delegate.

    Status: "regression" when p50 exceeds the reference by more than `tolerance` (a fraction) or top-1
    falls by more than ACCURACY_TOLERANCE; "faster" when p50 beats it by more than `tolerance`; "ok";
    or "no-reference" when the reference has no such row (never an error).
    """
    table = {row_key(r): r for ref in references for r in ref["results"]}
    rows = []
    for r in result["results"]:
        ref = table.get(row_key(r))
        entry = {"model": r["model"], "threads": r["threads"], "delegate": r["delegate"],
                 "p50_ms": r["latency_ms"]["p50"], "reference_p50_ms": None, "change": None, "status": "no-reference"}
        if ref is not None:
            change = r["latency_ms"]["p50"] / ref["latency_ms"]["p50"] - 1
            entry.update(reference_p50_ms=ref["latency_ms"]["p50"], change=change, status=_status(change, r, ref, tolerance))
        rows.append(entry)
    return {"tolerance": tolerance, "accuracy_tolerance": ACCURACY_TOLERANCE, "rows": rows,
            "regressions": sum(e["status"] == "regression" for e in rows)}


def _status(change: float, r: dict, ref: dict, tolerance: float) -> str:
    """Regression / faster / ok for one row that has a reference."""
    acc, ref_acc = r.get("accuracy") or {}, ref.get("accuracy") or {}
    if acc.get("top1") is not None and ref_acc.get("top1") is not None \
            and acc["top1"] < ref_acc["top1"] - ACCURACY_TOLERANCE:
        return "regression"
    if change > tolerance:
        return "regression"
    return "faster" if change < -tolerance else "ok"


def reference_file(path: str, system: dict) -> str | None:
    """The reference file to compare with: `path` itself, or this machine's file in the directory `path`."""
    if not os.path.isdir(path):
        return path
    candidate = os.path.join(path, machine_id(system) + ".json")
    return candidate if os.path.exists(candidate) else None


# ---------------------------------------------------------------- output

def _fmt(value, spec: str) -> str:
    """`value` formatted by `spec`, or a dash padded to the spec's width when it is unknown."""
    return format("-", ">" + spec.split(".")[0]) if value is None else format(value, spec)


def format_table(result: dict) -> str:
    """A fixed-width table of every row, for the terminal."""
    lines = [f"{'model':<24}{'thr':>4} {'delegate':<9}{'load':>8}{'first':>9}{'p50':>9}{'p90':>9}{'p99':>9}"
             f"{'std':>8}{'img/s':>9}{'GMAC/s':>8}{'top1':>7}{'top5':>7}",
             f"{'':<24}{'':>4} {'':<9}{'ms':>8}{'ms':>9}{'ms':>9}{'ms':>9}{'ms':>9}{'ms':>8}"]
    for r in result["results"]:
        lat, acc = r["latency_ms"], r.get("accuracy") or {}
        lines.append(f"{r['model'][:23]:<24}{r['threads']:>4} {r['delegate'][:8]:<9}{r['load_ms']:>8.1f}"
                     f"{r['first_ms']:>9.2f}{lat['p50']:>9.3f}{lat['p90']:>9.3f}{lat['p99']:>9.3f}{lat['std']:>8.3f}"
                     f"{r['throughput_ips']:>9.1f}{_fmt(r['gmacs_per_s'], '8.2f')}"
                     f"{_fmt(acc.get('top1'), '7.3f')}{_fmt(acc.get('top5'), '7.3f')}")
    return "\n".join(lines)


def format_system(result: dict) -> str:
    """Two lines saying where the numbers come from."""
    s = result["system"]
    temp = s["thermal_before"]["celsius"], s["thermal_after"]["celsius"]
    emulated = " EMULATED (qemu)" if s["emulation"]["emulated"] else ""
    return (f"board: {s['board']['model'] or 'unknown'} | cpu: {s['cpu']['model']} x{s['cpu']['cores']} | "
            f"{s['os']['system']} {s['os']['machine']}{emulated}\n"
            f"runtime: {s['runtime']} | delegate: {s['delegate']['name']} | temperature before/after: "
            f"{temp[0] or 'unknown'} / {temp[1] or 'unknown'} | peak RSS: {_fmt(s['peak_rss_bytes'] and s['peak_rss_bytes'] / 2**20, '.0f')} MiB")


def format_comparison(comparison: dict) -> str:
    """One line per row: status, p50 and the change against the reference."""
    lines = [f"compared with reference (tolerance {comparison['tolerance']:.0%} on p50, "
             f"{comparison['accuracy_tolerance']:.0%} on top-1):"]
    for e in comparison["rows"]:
        change = "" if e["change"] is None else f" vs {e['reference_p50_ms']:.3f} ms ({e['change']:+.1%})"
        lines.append(f"  {e['status']:<13}{e['model']} threads={e['threads']} {e['delegate']}: "
                     f"{e['p50_ms']:.3f} ms{change}")
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
    parser = _Parser(prog=prog, description="Benchmark .tflite models on this machine: load time, cold and "
                     "warm latency, throughput, optional accuracy, and a record of the system.")
    add = parser.add_argument
    add("models", nargs="+", metavar="MODEL.tflite", help="models to benchmark, interleaved A B A B ...")
    add("--threads", type=_int_list, default=[1], metavar="N[,N...]",
        help="interpreter threads (num_threads); a list measures each count, interleaved (default 1)")
    add("--warmup", type=int, default=5, metavar="N", help="untimed runs after the first (default 5)")
    add("--runs", type=int, default=50, metavar="N", help="timed runs per model (default 50)")
    add("--edgetpu", action="store_true", help="run on a Coral Edge TPU (loads libedgetpu)")
    add("--delegate", metavar="PATH", help="external delegate library (external_delegate_path)")
    add("--no-xnnpack", dest="xnnpack", action="store_false", help="plain CPU kernels, without XNNPACK")
    add("--data", metavar="SOURCE", help="labelled images (folder:PATH or npz:PATH) for top-1/top-5")
    add("--split", default="test", choices=("train", "test"), help="split of --data (default test)")
    add("--limit", type=int, default=500, metavar="N", help="images from --data, class-balanced (default 500)")
    add("--outputs", action="store_true",
        help="with --data: keep every image's label and raw output in the JSON (compare machines image by image)")
    add("--pin", type=_int_list, metavar="CPU[,CPU...]", help="pin the process to these CPUs (Linux)")
    add("--json", metavar="OUT", help="write the full result as JSON")
    add("--csv", metavar="OUT", help="write one CSV row per model and thread count")
    add("--compare", metavar="REF", help="reference result file, or a directory of <machine>.json files")
    add("--tolerance", type=float, default=DEFAULT_TOLERANCE, metavar="FRACTION",
        help=f"p50 increase counted as a regression by --compare (default {DEFAULT_TOLERANCE})")
    add("--quiet", action="store_true", help="print nothing but warnings and errors (no progress, no table)")
    return parser


def settings_from(args) -> Settings:
    """Validated settings from parsed arguments."""
    if args.runs < 1 or args.warmup < 0:
        raise UserError(f"--runs must be at least 1 and --warmup at least 0. Received: --runs {args.runs} "
                        f"--warmup {args.warmup}")
    if 0 in args.threads:
        raise UserError(f"--threads must be at least 1. Received: --threads {args.threads}")
    if args.edgetpu and args.delegate:
        raise UserError("Use --edgetpu or --delegate, not both. Received: --edgetpu --delegate " + args.delegate)
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1. Received: --limit {args.limit}")
    if args.outputs and not args.data:
        raise UserError("--outputs keeps the outputs on the --data images: give --data too. Received: --outputs")
    return Settings(threads=args.threads, warmup=args.warmup, runs=args.runs, edgetpu=args.edgetpu,
                    delegate=args.delegate, xnnpack=args.xnnpack, data=args.data, split=args.split,
                    limit=args.limit, pin=args.pin, outputs=args.outputs)


def check_outputs(*paths: str | None) -> None:
    """Refuse unwritable output paths before the benchmark runs, not after minutes of timing."""
    from keras_resnet.io import check_writable

    for path in filter(None, paths):
        check_writable(path)


def write_outputs(result: dict, json_path: str | None, csv_path: str | None) -> None:
    from keras_resnet.io import write_text

    if json_path:
        write_text(json_path, json.dumps(result, indent=1) + "\n")
    if csv_path:
        write_text(csv_path, to_csv(result))


def refuse_emulated(systems: list[dict], what: str) -> None:
    """A UserError when any system record says emulation: emulated timings never become or meet a reference."""
    emulated = [s["emulation"] for s in systems if s["emulation"]["emulated"]]
    if emulated:
        evidence = "; ".join(emulated[0].get("evidence") or ["qemu"])
        raise UserError(f"{what}: timings measured under emulation ({evidence}) are not device figures and "
                        f"cannot serve as a reference; measure on the device itself.")


def attach_comparison(result: dict, path: str, tolerance: float) -> None:
    """Compare with the reference at `path`; a missing machine file is a warning, not an error.

    An emulated run is not compared (its timings say nothing about a device), and a reference holding
    emulated runs is refused, so emulated figures can neither pass nor fail a device check.
    """
    if result["system"]["emulation"]["emulated"]:
        result["warnings"].append("emulated timings are not compared with references: nothing compared")
        return
    ref = reference_file(path, result["system"])
    if ref is None:
        result["warnings"].append(f"no reference file for this machine ({machine_id(result['system'])}.json) "
                                  f"in {path}: nothing compared")
        return
    references = load_results(ref)
    refuse_emulated([r["system"] for r in references], ref)
    result["comparison"] = compare(result, references, tolerance)
    result["comparison"]["reference"] = ref


@cli_errors
def main(argv=None, prog: str | None = None) -> int:
    """`python -m keras_resnet.bench` and `resnet-tflite bench`: exit 0, 1 on an error, 3 on a regression."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(prog).parse_args(argv)
    settings = settings_from(args)
    check_outputs(args.json, args.csv)
    progress = None if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    result = run(args.models, settings, argv=argv, progress=progress)
    if args.compare:
        attach_comparison(result, args.compare, args.tolerance)
    write_outputs(result, args.json, args.csv)
    for warning in result["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    if not args.quiet:
        print(format_system(result))
        print(format_table(result))
        if result["comparison"]:
            print(format_comparison(result["comparison"]))
    return REGRESSION_EXIT if result["comparison"] and result["comparison"]["regressions"] else 0


if __name__ == "__main__":
    sys.exit(main(prog="python -m keras_resnet.bench"))
