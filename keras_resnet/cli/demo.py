"""`resnet-tflite demo`: the whole path on bundled data, as `make demo` runs it: data, training, int8, Edge TPU,
TFLite-Micro, benchmark.

    resnet-tflite demo                    # about 5 minutes on 2 CPU cores; writes demo-output/
    resnet-tflite demo --quick            # a tiny budget (a minute or two), as the tests run it

(`python -m keras_resnet.cli.demo` is the same command.) The data is scikit-learn's handwritten digits (1,797
8x8 images, bundled with the package, so nothing is downloaded), scaled to the CIFAR input of 32x32 RGB.
Every step runs the real command line in this process, printed first, so each can be copied and rerun by hand
on other data:

1. `resnet-tflite train`   a CIFAR ResNet, with progress, into a crash-safe run directory
2. `resnet-tflite convert` float32, and full-integer int8 calibrated on training images and verified on test
3. `resnet-tflite edgetpu` the Edge TPU preflight (and the compiler, when it is installed)
4. `resnet-tflite micro`   C sources for TFLite-Micro with the measured tensor arena, and TFLM vs LiteRT parity
5. `resnet-tflite bench`   float32 against int8 in LiteRT: latency, throughput and accuracy on the test split
6. `resnet-tflite report`  the benchmark table and plots

and `report.md` gathers the results with the training curves and the plots.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import time
from dataclasses import dataclass

import click
import numpy as np

from keras_resnet.cli.options import CONTEXT, OneLineCommand, command_errors
from keras_resnet.errors import UserError
from keras_resnet.files import atomic_path, write_text

MARKER = ".resnet-tflite-demo"  # marks a folder the demo made, which a rerun may replace
SIZE = 32


@dataclass(frozen=True)
class Budget:
    """How much work each step does: the full demo, or the quick one the tests run."""

    model: str
    epochs: int
    train_images: int | None  # None: every training image
    calib_samples: int
    bench_runs: int


FULL = Budget(model="resnet20", epochs=30, train_images=None, calib_samples=300, bench_runs=200)
QUICK = Budget(model="resnet8", epochs=2, train_images=400, calib_samples=50, bench_runs=20)


def digits_npz(path: str, train_images: int | None) -> dict:
    """scikit-learn's digits as an npz source: 32x32 RGB uint8, a fixed stratified 80/20 split, class names."""
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    pixels = (digits.images * (255.0 / 16.0)).round().astype(np.uint8)  # 0-16 grey levels to 0-255
    big = np.stack([np.asarray(Image.fromarray(im).resize((SIZE, SIZE), Image.BILINEAR)) for im in pixels])
    rgb = np.repeat(big[..., None], 3, axis=-1)
    x_train, x_test, y_train, y_test = train_test_split(
        rgb, digits.target, test_size=0.2, random_state=0, stratify=digits.target
    )
    if train_images is not None:
        x_train, y_train = x_train[:train_images], y_train[:train_images]
    arrays = {
        "x_train": x_train,
        "y_train": y_train,
        "x_test": x_test,
        "y_test": y_test,
        "classes": np.array([str(d) for d in range(10)]),
    }
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    return {"train": len(y_train), "test": len(y_test)}


def run(command: list[str], accept=(0,)) -> int:
    """Run one `resnet-tflite` command line in this process, printed first as a shell line."""
    from keras_resnet.cli.main import main

    print(f"\n$ {shlex.join(command)}", flush=True)
    try:
        main.main(command[1:], prog_name=command[0], standalone_mode=False)
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    if code not in accept:
        raise UserError(f"`{shlex.join(command)}` failed (exit {code}); see its message above.")
    return code


def prepare(out: str) -> None:
    """An empty `out`: created, or emptied when an earlier demo made it; any other folder is left alone."""
    if os.path.isdir(out) and os.listdir(out):
        if not os.path.exists(os.path.join(out, MARKER)):
            raise UserError(f"{out} exists and was not made by the demo: pass another out. Received: out={out!r}")
        shutil.rmtree(out)
    os.makedirs(out, exist_ok=True)
    write_text(os.path.join(out, MARKER), "made by resnet-tflite demo; rerunning replaces it\n")


def folders(out: str) -> dict[str, str]:
    """The demo's output folders by step, created."""
    paths = {name: os.path.join(out, name) for name in ("data", "train", "models", "edgetpu", "micro", "bench")}
    for folder in paths.values():
        os.makedirs(folder, exist_ok=True)
    return paths


def steps(p: dict[str, str], budget: Budget) -> dict[str, int]:
    """Every step of the path, as commands; returns the exit code of each (edgetpu's 3: not fully mapped)."""
    data = "npz:" + os.path.join(p["data"], "digits.npz")
    model = os.path.join(p["train"], "last.keras")
    f32, int8 = (os.path.join(p["models"], f"{budget.model}_{mode}.tflite") for mode in ("float32", "int8"))
    codes = {}
    codes["train"] = run(
        [
            "resnet-tflite",
            "train",
            budget.model,
            "--data",
            data,
            "--out",
            p["train"],
            "--epochs",
            str(budget.epochs),
            "--schedule",
            "onecycle",
            "--lr",
            "0.1",
            "--batch-size",
            "64",
            "--augment",
            "none",
        ]
    )
    codes["convert float32"] = run(["resnet-tflite", "convert", model, "--out", f32, "--verify", data])
    codes["convert int8"] = run(
        [
            "resnet-tflite",
            "convert",
            model,
            "--out",
            int8,
            "--int8",
            "--calib",
            data,
            "--calib-samples",
            str(budget.calib_samples),
            "--verify",
            data,
        ]
    )
    codes["edgetpu"] = run(["resnet-tflite", "edgetpu", int8, "--out", p["edgetpu"]], accept=(0, 3))
    codes["micro"] = run(
        ["resnet-tflite", "micro", int8, "--out", p["micro"], "--name", budget.model, "--parity", data]
    )
    codes["bench"] = run(
        [
            "resnet-tflite",
            "bench",
            f32,
            int8,
            "--runs",
            str(budget.bench_runs),
            "--data",
            data,
            "--json",
            os.path.join(p["bench"], "bench.json"),
            "--csv",
            os.path.join(p["bench"], "bench.csv"),
        ]
    )
    codes["report"] = run(["resnet-tflite", "report", os.path.join(p["bench"], "bench.json"), "--out", p["bench"]])
    return codes


def _read(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def report(out: str, budget: Budget, images: dict, seconds: float) -> str:
    """report.md: what ran, the numbers each step measured, the curves and the plots, linked by relative path."""
    model = budget.model
    lines = [
        f"# resnet-tflite demo: {model} on scikit-learn's digits",
        "",
        f"{images['train']} training and {images['test']} test images (8x8 digits scaled to 32x32 RGB); "
        f"the whole path took {seconds / 60:.1f} minutes. Every command is printed in the demo's output.",
        "",
    ]
    for section in (_training, _conversion, _edgetpu, _micro, _benchmark):
        lines += section(out, model) + [""]
    return "\n".join(lines)


def _training(out: str, model: str) -> list[str]:
    metrics = _read(os.path.join(out, "train", "metrics.json"))
    config = _read(os.path.join(out, "train", "config.json"))
    return [
        "## Training",
        "",
        f"{config['epochs']} epochs ({config['mixed_precision']}) in {metrics['train_seconds']:.0f} s: "
        f"test top-1 **{metrics['last']['top1']:.4f}**, top-5 {metrics['last']['top5']:.4f}.",
        "",
        "![training curves](train/curves.png)",
    ]


def _conversion(out: str, model: str) -> list[str]:
    lines = [
        "## Conversion (Keras vs LiteRT on the test split)",
        "",
        "| model | file | Keras top-1 | TFLite top-1 | top-1 agreement | max abs output error |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for mode in ("float32", "int8"):
        v = _read(os.path.join(out, "models", f"{model}_{mode}.eval.json"))["verification"]
        size = os.path.getsize(os.path.join(out, "models", f"{model}_{mode}.tflite"))
        lines.append(
            f"| {model}_{mode} | {size / 1024:,.0f} KiB | {v['keras']['top1']:.4f} "
            f"| {v['tflite']['top1']:.4f} | {v['agreement_top1']:.4f} | {v['max_abs_output_error']:.2g} |"
        )
    inp = _read(os.path.join(out, "models", f"{model}_int8.json"))["input"]
    return lines + [
        "",
        f"The int8 model takes raw pixels as {inp['dtype']} with scale {inp['scale']:.6g} and zero "
        f"point {inp['zero_point']}; class names and preprocessing are embedded in it and in "
        f"`models/{model}_int8.json`.",
    ]


def _edgetpu(out: str, model: str) -> list[str]:
    tpu = _read(os.path.join(out, "edgetpu", f"{model}_int8_edgetpu_report.json"))
    pre = tpu["preflight"]
    compiled = (
        "Compiled with edgetpu_compiler."
        if "output" in tpu.get("compiler", {})
        else "The compiler is not installed here (x86-64 Debian/Ubuntu only), so only the preflight ran."
    )
    return [
        "## Edge TPU",
        "",
        f"Preflight: {pre['operations_edgetpu']} of {pre['operations']} operations map to the Edge TPU "
        f"({'fully mapped' if tpu['fully_mapped'] else 'not fully mapped'}); about "
        f"{pre['parameters']['on_chip_estimate']:,} bytes of parameters fit the on-chip cache. {compiled}",
    ]


def _micro(out: str, model: str) -> list[str]:
    micro = _read(os.path.join(out, "micro", f"{model}_micro.json"))
    parity = micro["parity"]
    return [
        "## TFLite-Micro",
        "",
        f"Flash (model) {micro['flash_bytes']:,} bytes, tensor arena {micro['arena']['measured_bytes']:,} bytes "
        f"measured ({micro['arena']['recommended_bytes']:,} reserved). TFLM vs LiteRT on {parity['images']} test "
        f"images: top-1 agreement {parity['litert_default']['top1_agreement']:.3f}, largest difference "
        f"{parity['litert_reference_kernels']['max_abs_diff']:g} LSB against LiteRT's reference kernels. "
        f"Sources in `micro/`.",
        "",
        "| board | fits |",
        "|---|---|",
        *[f"| {b['board']} | {'yes' if b['fits'] else 'no'} |" for b in micro["boards"]],
    ]


def _benchmark(out: str, model: str) -> list[str]:
    rows = _read(os.path.join(out, "bench", "bench.json"))["results"]
    return [
        "## Benchmark (LiteRT, XNNPACK, this machine)",
        "",
        "| model | p50 ms | img/s | top-1 |",
        "|---|--:|--:|--:|",
        *[
            f"| {r['model']} | {r['latency_ms']['p50']:.3f} | {r['throughput_ips']:,.0f} "
            f"| {r['accuracy']['top1']:.4f} |"
            for r in rows
        ],
        "",
        "Full table: `bench/report.md`.",
        "",
        "![latency](bench/latency.png)",
        "",
        "![accuracy versus latency](bench/accuracy_latency.png)",
    ]


def run_demo(out: str | os.PathLike = "demo-output", quick: bool = False) -> dict:
    """Run the whole path on scikit-learn's digits into `out`, printing every command and its output.

    Args:
        out: The output folder; created, or replaced when an earlier demo made it.
        quick: A tiny budget (ResNet-8, 2 epochs, 400 training images), as the tests run it; else ResNet-20
            for 30 epochs on every training image (about 5 minutes on 2 CPU cores).

    Returns:
        `{"out", "model", "images" ({"train", "test"}), "exit_codes" (per step; the Edge TPU step's 3 means
        not fully mapped), "seconds", "report" (the path of report.md)}`.

    Raises:
        UserError: `out` is a folder the demo did not make, or a step failed (its own message is printed
            above).
    """
    out = os.fspath(out)
    budget = QUICK if quick else FULL
    start = time.perf_counter()
    prepare(out)
    paths = folders(out)
    images = digits_npz(os.path.join(paths["data"], "digits.npz"), budget.train_images)
    print(f"data: scikit-learn digits, {images['train']} train / {images['test']} test images at 32x32", flush=True)
    codes = steps(paths, budget)
    text = report(out, budget, images, time.perf_counter() - start)
    report_path = os.path.join(out, "report.md")
    write_text(report_path, text)
    return {
        "out": out,
        "model": budget.model,
        "images": images,
        "exit_codes": codes,
        "seconds": time.perf_counter() - start,
        "report": report_path,
    }


@click.command(cls=OneLineCommand, context_settings=CONTEXT)
@click.option(
    "--out",
    default="demo-output",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Output folder (replaced when an earlier demo made it; any other folder is refused).",
)
@click.option("--quick", is_flag=True, help="A tiny budget: ResNet-8, 2 epochs, 400 training images.")
@command_errors
def demo(out, quick):
    """The whole path on bundled data (scikit-learn's digits): training, int8 conversion, Edge TPU, TFLite-Micro,
    benchmark and report, each step printed as the command that runs it."""
    done = run_demo(out, quick=quick)
    out, model = done["out"], done["model"]
    print(
        f"\nDone in {done['seconds'] / 60:.1f} minutes. Everything is in {out}/:\n"
        f"  report.md        the results, curves and plots\n"
        f"  train/           run directory (last.keras, metrics.json, curves.png, history.csv)\n"
        f"  models/          {model}_float32.tflite and {model}_int8.tflite (+ .json, .eval.json)\n"
        f"  edgetpu/ micro/  Edge TPU report; TFLite-Micro C sources and arena\n"
        f"  bench/           bench.json, bench.csv, report.md, latency.png, accuracy_latency.png",
        flush=True,
    )


def main() -> None:
    """`python -m keras_resnet.cli.demo`: the `resnet-tflite demo` command."""
    demo.main(prog_name="python -m keras_resnet.cli.demo")


if __name__ == "__main__":
    main()
