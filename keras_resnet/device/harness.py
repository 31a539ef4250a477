"""On-device benchmark harness: latency, throughput and accuracy of .tflite models, with a system record.

Runs on a Raspberry Pi or Coral board with no TensorFlow: it imports only the standard library, NumPy and
a TFLite runtime (`ai_edge_litert`, or `tflite_runtime`), plus Pillow when `data` names image files.

How it times (the words are TFLite benchmark_model's): each model is loaded (time recorded), run once cold
(recorded apart), warmed up, then timed over `runs` calls of `Interpreter.invoke` with
`time.perf_counter_ns`, the input set once before. Several models, and several thread counts, are
interleaved round by round (A B A B ...), so thermal or background drift hits every variant alike
(`keras_resnet.device.statistics`). The result's layout is `keras_resnet.device.results.SCHEMA`.
`benchmark` does it all, as `python -m keras_resnet.bench` and `resnet-tflite bench` run it.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from keras_resnet import sources
from keras_resnet._version import __version__
from keras_resnet.device import results, sysinfo
from keras_resnet.device.statistics import interleaved, summarize, time_once
from keras_resnet.errors import UserError
from keras_resnet.files import check_writable, read_bytes, write_text
from keras_resnet.lite import runtime
from keras_resnet.lite.accuracy import topk
from keras_resnet.lite.safety import check_model

__all__ = ["benchmark", "run", "Settings"]
SPLITS = ("train", "test")


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

    The package's checks and a first run in another process (keras_resnet.lite.safety) come before LiteRT
    sees the bytes here (`delegate`: the model will run with one, which may supply its custom operators);
    devices with only tflite_runtime lack LiteRT's schema, and there LiteRT's verifier is the only check.
    """
    data = read_bytes(path, "Model file")
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
        raise UserError(f"{path} is compiled for the Edge TPU: run it with edgetpu=True. Received: {path}")
    delegates = make_delegates(settings)
    start = clock()
    try:
        model = runtime.TFLiteModel(
            data, num_threads=threads, experimental_delegates=delegates or None, xnnpack=settings.xnnpack
        )
    except (ValueError, RuntimeError) as err:
        detail = " ".join(str(err).split())[:200]
        raise UserError(
            f"{path} is a damaged TFLite model (corrupt, truncated or made for another runtime); "
            f"{runtime.runtime_version()} says: {detail}"
        ) from None
    load_ns = clock() - start
    name = os.path.splitext(os.path.basename(path))[0]
    return Variant(
        name=name, path=path, data=data, threads=threads, model=model, load_ns=load_ns, edgetpu_compiled=compiled
    )


def sample_input(model: runtime.TFLiteModel, seed: int) -> np.ndarray:
    """A seeded random input over the input type's range (pixels 0-255 for float inputs)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(model.input_dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, model.input_shape, endpoint=True).astype(dtype)
    return rng.uniform(0, 255, model.input_shape).astype(dtype)


# ---------------------------------------------------------------- accuracy


def load_images(settings: Settings, variants: list[Variant]) -> dict:
    """{model path: labelled images from `data` as that model takes them}, read before any timing: each
    input size and channel count once (images of any size and mode are converted)."""
    views = {}
    for v in variants:
        v.model.check_classifier(v.path)
        views[v.path] = v.model.image_input(v.path)
    read = {
        view: sources.load(settings.data, settings.split, limit=settings.limit, size=view[0], channels=view[1])
        for view in dict.fromkeys(views.values())
    }
    return {name: read[view] for name, view in views.items()}


def accuracy(variant: Variant, images, source: str, keep_outputs: bool = False) -> dict:
    """Top-1/top-5 of the model on the images, quantized with the model's own input parameters.

    With `keep_outputs`, every image's label and raw output (as the output tensor holds it: integers for
    an int8 model) are kept too, so runs on two machines can be compared image by image.
    """
    raw = variant.model.run_raw(images.x)
    result = topk(variant.model.float_outputs(raw), images.y)
    result.update(
        {
            "source": source,
            "classes": len(images.classes),
            "outputs": {"labels": images.y.tolist(), "values": raw.tolist()} if keep_outputs else None,
        }
    )
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
        return {
            "name": "edgetpu",
            "library": runtime.edgetpu_library(),
            "version": _dpkg_version("libedgetpu1-std") or _dpkg_version("libedgetpu1-max"),
        }
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
        done = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, timeout=10
        )
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
        "model": v.name,
        "path": v.path,
        "size_bytes": len(v.data),
        "sha256": hashlib.sha256(v.data).hexdigest(),
        **v.model.io_record(),
        "edgetpu_compiled": v.edgetpu_compiled,
        "macs": macs,
        "threads": v.threads,
        "delegate": settings.delegate_label(),
        "xnnpack": settings.xnnpack,
        "load_ms": v.load_ns / 1e6,
        "first_ms": first_ns / 1e6,
        "warmup": settings.warmup,
        "runs": settings.runs,
        **stats,
        "gmacs_per_s": macs / p50_s / 1e9 if macs and p50_s > 0 else None,
        "samples_ms": [t / 1e6 for t in samples_ns],
        "accuracy": None,
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
    warnings += [
        f"{v.name} is not compiled for the Edge TPU: it runs on the CPU"
        for v in variants
        if settings.edgetpu and not v.edgetpu_compiled and v.threads == settings.threads[0]
    ]
    images = load_images(settings, variants) if settings.data else None
    say = progress or (lambda text: None)
    say(
        f"timing {len(variants)} model/thread variant(s): {settings.warmup} warm-up and {settings.runs} timed "
        f"runs each, interleaved"
    )
    rows = measure(variants, settings, clock)
    if images is not None:
        say(f"accuracy on {len(next(iter(images.values())))} images of {settings.data}")
        for v, r in zip(variants, rows):
            r["accuracy"] = accuracy(v, images[v.path], settings.data, settings.outputs)
    system.update(
        thermal_before=thermal_before, thermal_after=sysinfo.thermal(), peak_rss_bytes=sysinfo.peak_rss_bytes()
    )
    for r in rows:
        r["emulated"] = system["emulation"]["emulated"]
    return {
        "schema": results.SCHEMA,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": list(argv) if argv is not None else None,
        "harness": harness_record(),
        "settings": asdict(settings),
        "system": system,
        "warnings": warnings,
        "results": rows,
        "comparison": None,
    }


def harness_record() -> dict:
    """How the numbers were made, so a reader of the JSON need not read this file."""
    return {
        "resnet-tflite": __version__,
        "timer": "time.perf_counter_ns around Interpreter.invoke",
        "percentiles": "linear interpolation (numpy.percentile default)",
        "std": "population (ddof=0)",
        "order": "interleaved round-robin over models and thread counts",
        "gmacs_per_s": "MACs counted from the model's conv and fully-connected ops / p50",
    }


# ---------------------------------------------------------------- the whole benchmark


def benchmark(
    models: str | Sequence[str],
    *,
    num_threads: int | Sequence[int] = 1,
    warmup_runs: int = 5,
    num_runs: int = 50,
    edgetpu: bool = False,
    delegate: str | None = None,
    xnnpack: bool = True,
    data: str | None = None,
    split: str = "test",
    limit: int | None = 500,
    outputs: bool = False,
    pin: Sequence[int] | None = None,
    compare: str | None = None,
    tolerance: float = results.DEFAULT_TOLERANCE,
    json_path: str | None = None,
    csv_path: str | None = None,
    progress: Callable[[str], None] | None = None,
    command: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Benchmark .tflite models on this machine: load time, cold and warm latency, throughput, optional
    accuracy, a record of the system, and optionally the comparison with reference results.

    Several models and thread counts are interleaved round by round (A B A B ...), each model's input set once,
    `Interpreter.invoke` timed with `time.perf_counter_ns`. No TensorFlow: NumPy and a TFLite runtime.

    Args:
        models: Path(s) of the .tflite files.
        num_threads: Interpreter threads, or a list of counts, each measured (interleaved).
        warmup_runs: Untimed runs after the first (cold) one.
        num_runs: Timed runs per model and thread count.
        edgetpu: Run on a Coral Edge TPU (loads libedgetpu); models compiled for it need this.
        delegate: Path of an external delegate library (`external_delegate_path`).
        xnnpack: False: plain CPU kernels, without XNNPACK.
        data: Labelled images SOURCE (`folder:PATH` or `npz:PATH`) for top-1/top-5.
        split: The split of `data`: "train" or "test".
        limit: Images from `data`, class-balanced (None: all).
        outputs: With `data`, keep every image's label and raw output in the result (to compare machines
            image by image).
        pin: Pin the process to these CPUs (Linux).
        compare: A reference result file, or a directory of <machine>.json files, to compare with.
        tolerance: The p50 increase counted as a regression by `compare` (a fraction).
        json_path: Write the result as JSON there (checked writable before anything runs).
        csv_path: Write one CSV row per model and thread count there.
        progress: Called with a line of text as each long step starts.
        command: The command line to record in the result.

    Returns:
        The result (`results.SCHEMA`, what `json_path` receives): schema, created, command, harness,
        settings, system, warnings, results (one row per model and thread count: latency_ms percentiles,
        throughput, load and first-run times, accuracy) and comparison (with `compare`: rows and regressions).

    Raises:
        UserError: A bad argument, a missing or damaged model, a delegate that does not load, unreadable
            images, or an output that cannot be written.
    """
    settings = settings_of(
        models,
        num_threads=num_threads,
        warmup_runs=warmup_runs,
        num_runs=num_runs,
        edgetpu=edgetpu,
        delegate=delegate,
        xnnpack=xnnpack,
        data=data,
        split=split,
        limit=limit,
        outputs=outputs,
        pin=pin,
    )
    for path in (json_path, csv_path):
        if path is not None:
            check_writable(path)
    paths = [os.fspath(models)] if isinstance(models, (str, os.PathLike)) else [os.fspath(m) for m in models]
    result = run(paths, settings, argv=command, progress=progress)
    if compare:
        results.attach_comparison(result, os.fspath(compare), tolerance)
    if json_path is not None:
        write_text(json_path, json.dumps(result, indent=1) + "\n")
    if csv_path is not None:
        write_text(csv_path, results.to_csv(result))
    return result


def _counts(value) -> list[int] | None:
    """An int or a sequence of ints as a list; None for anything else."""
    values = [value] if isinstance(value, int) else list(value) if isinstance(value, (list, tuple)) else None
    if values is None or any(isinstance(v, bool) or not isinstance(v, int) for v in values):
        return None
    return values


def settings_of(
    models, *, num_threads, warmup_runs, num_runs, edgetpu, delegate, xnnpack, data, split, limit, outputs, pin
) -> Settings:
    """`benchmark`'s arguments checked, as the Settings recorded in the result."""
    if not models:
        raise UserError(f"Pass at least one .tflite model. Received: models={models!r}")
    threads = _counts(num_threads)
    if not threads or min(threads) < 1:
        raise UserError(f"Pass num_threads=N of at least 1, or a list of them. Received: num_threads={num_threads!r}")
    if _counts(num_runs) is None or _counts(warmup_runs) is None or num_runs < 1 or warmup_runs < 0:
        raise UserError(
            f"Pass num_runs=N of at least 1 and warmup_runs=N of at least 0. "
            f"Received: num_runs={num_runs!r} and warmup_runs={warmup_runs!r}"
        )
    if edgetpu and delegate:
        raise UserError(
            f"Use edgetpu=True or delegate=PATH, not both. Received: delegate={delegate!r} with edgetpu=True"
        )
    if split not in SPLITS:
        raise UserError(f"Pass split='train' or split='test'. Received: split={split!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise UserError(f"Pass limit=N of at least 1, or None for every image. Received: limit={limit!r}")
    if outputs and not data:
        raise UserError(
            "outputs=True keeps the outputs on the data=SOURCE images: pass data=SOURCE too. Received: outputs=True"
        )
    pinned = None if pin is None else _counts(pin)
    if pin is not None and (not pinned or min(pinned) < 0):
        raise UserError(f"Pass pin= a list of CPU numbers (0 and up). Received: pin={pin!r}")
    return Settings(
        threads=threads,
        warmup=warmup_runs,
        runs=num_runs,
        edgetpu=bool(edgetpu),
        delegate=None if delegate is None else os.fspath(delegate),
        xnnpack=bool(xnnpack),
        data=data,
        split=split,
        limit=limit,
        pin=pinned,
        outputs=bool(outputs),
    )
