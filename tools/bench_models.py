"""Reference benchmark of this machine: float32 and int8 ResNet-8/20/56 (32x32) and ResNet-18/50 (224x224).

    nice -n 10 .venv/bin/python tools/bench_models.py            # all of it, about 10 minutes on 2 cores
    .venv/bin/python tools/bench_models.py --cifar-runs 50 --imagenet-runs 5   # a quick look

Builds each model (random weights: latency does not depend on them; ResNet-20 is the trained release model
tflite/reference/resnet20_cifar10_jpg.keras), converts it to float32 and to int8 (calibrated on CIFAR-10
(JPEG) training images, upsampled for the 224x224 models) into .cache/bench-models/, then runs the harness
with 1 and 2 threads, models interleaved: the 32x32 models on 500 CIFAR-10 (JPEG) test images for
top-1/top-5 (chance level for the untrained ResNet-8 and -56: their column proves the accuracy path, not the
networks), the 224x224 ones for latency only. Writes tflite/reference/<machine>.json (the results
plus the achieved fraction of the CPU's peak MACs/s, the clock for which is measured on a dependent-add chain
unless --ghz gives it), tflite/reference/<machine>.md and the plots
docs/img/bench_latency.png and docs/img/bench_accuracy_latency.png.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import sys
import tempfile

import numpy as np

from keras_resnet.errors import cli_errors

ROOT = pathlib.Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench-models"
CIFAR_TAR = ROOT.parent / "shared" / "data" / "cifar10-jpg.tar.gz"
CIFAR_MODELS = ("resnet8", "resnet20", "resnet56")
IMAGENET_MODELS = ("resnet18", "resnet50")
MODES = ("int8", "float32")
TRAINED = {"resnet20": ROOT / "tflite" / "reference" / "resnet20_cifar10_jpg.keras"}
NOTE = (
    "Measured on a shared 2-core KVM virtual machine (AMD EPYC, AVX-512 VNNI): expect noise of several "
    "percent, more with 2 threads. ResNet-20 is the trained release model (CIFAR-10 (JPEG)); the other "
    "models have random weights, so their top-1 is chance."
)


def cifar_folder() -> str:
    """The CIFAR-10 (JPEG) tree, extracted once into .cache/ (the tests' fixture uses the same place)."""
    import tarfile

    target = ROOT / ".cache" / "cifar10-jpg"
    if not (target / ".complete").exists():
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(CIFAR_TAR) as tar:
            tar.extractall(target, filter="data")
        (target / ".complete").touch()
    return next(str(c) for c in [target, *target.iterdir()] if (c / "train").is_dir())


def calibration(folder: str, size: int, samples: int) -> np.ndarray:
    """CIFAR-10 (JPEG) training images resized to `size` (the 224x224 models have no ImageNet here)."""
    from keras_resnet import sources

    return sources.load(f"folder:{folder}", "train", limit=samples, size=(size, size)).x.astype(np.float32)


def convert(name: str, mode: str, folder: str, samples: int) -> pathlib.Path:
    """The cached .tflite of a registered model in one mode, converted on first use."""
    path = CACHE / f"{name}_{mode}.tflite"
    if path.exists():
        return path
    from keras_resnet import create_model
    from keras_resnet.export.convert import convert_keras, representative_from
    from keras_resnet.files import write_bytes
    from keras_resnet.models import specs

    size = specs.get_spec(name).input_size
    if name in TRAINED:
        from keras_resnet.models.saving import load_keras_model

        model = load_keras_model(TRAINED[name])
    else:
        model = create_model(name, input_shape=(size, size, 3), preprocess="cifar10" if size == 32 else "imagenet")
    rep = representative_from(calibration(folder, size, samples)) if mode == "int8" else None
    CACHE.mkdir(parents=True, exist_ok=True)
    write_bytes(path, convert_keras(model, mode, representative=rep))  # a killed run leaves no partial cache
    print(f"converted {path.name}", flush=True)
    return path


CLOCK_PROBE = r"""
#include <stdio.h>
#include <time.h>
int main(void) {  /* 10 dependent adds per iteration: one cycle each, so adds per second = the clock */
  struct timespec a, b; unsigned long x = 0; long n = 100000000;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++)
    __asm__ volatile("add $1,%0\n\tadd $1,%0\n\tadd $1,%0\n\tadd $1,%0\n\tadd $1,%0\n\t"
                     "add $1,%0\n\tadd $1,%0\n\tadd $1,%0\n\tadd $1,%0\n\tadd $1,%0" : "+r"(x));
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%f\n", 10.0 * n / ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9) / 1e9);
  return x == 0;
}
"""


def measure_ghz(repeats: int = 5) -> float:
    """The core clock under load (GHz), timed on a chain of dependent adds; x86-64 with a C compiler only.

    A VM's /proc/cpuinfo shows the nominal clock, not the boost clock the cores actually run at, and a
    peak computed from the nominal one can be beaten. The fastest of `repeats` runs is the least disturbed.
    """
    import platform
    import subprocess

    if platform.machine() != "x86_64" or shutil.which("cc") is None:
        raise SystemExit("cannot measure the clock here (needs x86-64 and cc): pass --ghz")
    with tempfile.TemporaryDirectory() as tmp:
        source, binary = os.path.join(tmp, "clock.c"), os.path.join(tmp, "clock")
        pathlib.Path(source).write_text(CLOCK_PROBE)
        subprocess.run(["cc", "-O1", source, "-o", binary], check=True)
        return max(
            float(subprocess.run([binary], capture_output=True, text=True, check=True).stdout) for _ in range(repeats)
        )


def peak_gmacs(threads: int, dtype: str, ghz: float, int8_per_cycle: int, fp32_per_cycle: int) -> float:
    """The CPU's peak multiply-accumulates per second (G) on `threads` cores for int8 or float32 inputs."""
    return threads * ghz * (int8_per_cycle if dtype == "int8" else fp32_per_cycle)


def peak_table(runs: list[dict], args) -> dict:
    """Achieved GMAC/s against the peak, per row, with the assumptions behind the peak."""
    rows = []
    for result in runs:
        for r in result["results"]:
            peak = peak_gmacs(
                r["threads"], r["input"]["dtype"], args.ghz, args.int8_macs_per_cycle, args.fp32_macs_per_cycle
            )
            rows.append(
                {
                    "model": r["model"],
                    "threads": r["threads"],
                    "gmacs_per_s": r["gmacs_per_s"],
                    "peak_gmacs_per_s": peak,
                    "fraction_of_peak": r["gmacs_per_s"] / peak,
                }
            )
    return {
        "assumptions": {
            "ghz": args.ghz,
            "ghz_source": args.ghz_source,
            "int8_macs_per_cycle_per_core": args.int8_macs_per_cycle,
            "fp32_macs_per_cycle_per_core": args.fp32_macs_per_cycle,
            "why": "Zen 4: two 256-bit FMA pipes (16 fp32 FMA/cycle) and VPDPBUSD (64 int8 "
            "MACs/cycle) per core; peak = threads x clock x MACs/cycle",
        },
        "rows": rows,
    }


def write_plots(reference: pathlib.Path, machine: str) -> None:
    """The Markdown table beside the reference file and the two plots under docs/img/."""
    from keras_resnet.device.report import ACCURACY_PNG, LATENCY_PNG, MARKDOWN, write_report

    plots = {LATENCY_PNG: "bench_latency.png", ACCURACY_PNG: "bench_accuracy_latency.png"}
    with tempfile.TemporaryDirectory() as tmp:
        write_report([str(reference)], tmp)
        text = pathlib.Path(tmp, MARKDOWN).read_text()
        for written, name in plots.items():  # the table links its plots where they are kept
            shutil.copy(os.path.join(tmp, written), ROOT / "docs" / "img" / name)
            text = text.replace(f"]({written})", f"](../../docs/img/{name})")
        reference.with_suffix(".md").write_text(text)
    print(f"wrote {reference.with_suffix('.md')} and docs/img/bench_*.png for {machine}")


@cli_errors
def main(argv=None) -> int:
    from keras_resnet.device import command, harness, results, sysinfo

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cifar-runs", type=int, default=200)
    parser.add_argument("--imagenet-runs", type=int, default=20)
    parser.add_argument("--calib-samples", type=int, default=64)
    parser.add_argument("--ghz", type=float, help="clock used for the peak (default: measured, x86-64)")
    parser.add_argument("--int8-macs-per-cycle", type=int, default=64)
    parser.add_argument("--fp32-macs-per-cycle", type=int, default=16)
    args = parser.parse_args(argv)
    results.refuse_emulated([sysinfo.collect()], "tools/bench_models.py writes tflite/reference/")
    args.ghz_source = "given" if args.ghz else "measured: dependent-add chain, fastest of 5"
    args.ghz = args.ghz or measure_ghz()
    print(f"clock for the peak: {args.ghz:.2f} GHz ({args.ghz_source})", flush=True)

    folder = cifar_folder()
    cifar = [str(convert(n, m, folder, args.calib_samples)) for n in CIFAR_MODELS for m in MODES]
    imagenet = [str(convert(n, m, folder, args.calib_samples // 4)) for n in IMAGENET_MODELS for m in MODES]
    runs = [
        harness.run(
            cifar,
            harness.Settings(threads=[1, 2], warmup=20, runs=args.cifar_runs, data=f"folder:{folder}", limit=500),
            argv=sys.argv,
        ),
        harness.run(imagenet, harness.Settings(threads=[1, 2], warmup=3, runs=args.imagenet_runs), argv=sys.argv),
    ]
    for result in runs:
        print(command.format_table(result), flush=True)
    machine = results.machine_id(runs[0]["system"])
    reference = ROOT / "tflite" / "reference" / f"{machine}.json"
    document = {
        "schema": results.REFERENCE_SCHEMA,
        "machine": machine,
        "note": NOTE,
        "command": "nice -n 10 .venv/bin/python tools/bench_models.py " + " ".join(argv or sys.argv[1:]),
        "peak": peak_table(runs, args),
        "runs": runs,
    }
    from keras_resnet.files import write_text

    write_text(reference, json.dumps(document, indent=1) + "\n")
    print(f"wrote {reference}")
    write_plots(reference, machine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
