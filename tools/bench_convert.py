"""Conversion benchmark: int8 accuracy kept (PTQ and QAT), latency against the plain recipe, conversion time.

    nice -n 10 .venv/bin/python tools/bench_convert.py                   # all three parts, ~15 minutes, 2 cores
    .venv/bin/python tools/bench_convert.py --parts latency --runs 20    # one part, fewer runs

accuracy: the released ResNet-20 (tflite/reference/resnet20_cifar10_jpg.keras, trained by
    tools/train_cifar10.sh) converted to int8 by our converter (300 class-balanced training images for
    calibration) and, separately, after quantization-aware training; Keras and LiteRT evaluated on all 10,000
    CIFAR-10 (JPEG) test images: top-1 of each, the top-1 lost and the agreement.
latency: our int8 ResNet-50 in keras.applications' layout (`variant="v1"`, the graph of
    keras.applications.ResNet50, as tests/test_models.py proves) against keras.applications.ResNet50, and our
    int8 ResNet-20 against the same Keras net, the others converted with the full-integer recipe of
    TensorFlow's documentation (`TFLiteConverter.from_keras_model`, `Optimize.DEFAULT`, a representative
    dataset, `TFLITE_BUILTINS_INT8`, int8 input and output). Our default ResNet-50 (torchvision's v1.5 layout,
    6% more MACs, normalisation in the graph) runs beside them. All run interleaved in one harness run (LiteRT
    + XNNPACK, 1 and 2 threads); the ratio is their p50 over ours. Achieved MACs/s are set against this CPU's
    peak int8 rate.
time: wall time of `resnet-tflite convert resnet50 --int8 --calib-samples 500` as a user runs it.

Writes tflite/reference/conversion.json; docs/results/conversion.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from bench_models import calibration, cifar_folder, measure_ghz, peak_gmacs  # noqa: E402

CACHE = ROOT / ".cache" / "bench-convert"
TRAINED = ROOT / "tflite" / "reference" / "resnet20_cifar10_jpg.keras"
RESULT = ROOT / "tflite" / "reference" / "conversion.json"
PARTS = ("accuracy", "latency", "time")


def documented_recipe(model, images: np.ndarray) -> bytes:
    """Full-integer conversion exactly as TensorFlow's post-training integer quantization guide writes it."""
    import tensorflow as tf

    def representative_dataset():
        for image in images:
            yield [image[None].astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def ours(model, images: np.ndarray) -> bytes:
    from keras_resnet.export.convert import convert_keras, representative_from

    return convert_keras(model, "int8", representative_from(images))


def accuracy(folder: str, qat_images: int, qat_epochs: int) -> dict:
    """PTQ and QAT int8 of the trained ResNet-20 against its Keras model on the whole test split."""
    from keras_resnet import sources
    from keras_resnet.export import convert, model_optimization
    from keras_resnet.models.saving import load_keras_model

    model = load_keras_model(TRAINED)
    source = f"folder:{folder}"
    calib = convert.calibration_data(source, convert.model_input_shape(model), convert.DEFAULT_CALIB_SAMPLES)
    test = sources.load(source, "test")
    rows = {}
    start = time.perf_counter()
    rows["ptq"] = convert.verify(model, ours(model, calib.x), test)
    rows["ptq"]["convert_and_verify_s"] = round(time.perf_counter() - start, 1)
    tuning = sources.load(source, "train", limit=qat_images)
    start = time.perf_counter()
    qat = model_optimization.quantization_aware(model, tuning, qat_epochs, lr=1e-3, verbose=2)
    rows["qat"] = convert.verify(qat, convert.convert_keras(qat, "int8", convert.representative_from(calib.x)), test)
    rows["qat"]["fine_tune_convert_verify_s"] = round(time.perf_counter() - start, 1)
    rows["qat"]["fine_tuning"] = {"images": len(tuning), "epochs": qat_epochs, "lr": 1e-3}
    for row in rows.values():
        row["top1_lost_points"] = round(100 * (row["keras"]["top1"] - row["tflite"]["top1"]), 2)
    # QAT's Keras column is the fine-tuned model; what users compare against is the original float model
    rows["qat"]["top1_lost_vs_original_points"] = round(
        100 * (rows["ptq"]["keras"]["top1"] - rows["qat"]["tflite"]["top1"]), 2
    )
    return {
        "model": str(TRAINED.relative_to(ROOT)),
        "test_images": len(test),
        "calibration": {"source": "CIFAR-10 (JPEG) train split", "samples": len(calib)},
        **rows,
    }


def latency_models(folder: str, samples: int) -> list[str]:
    """The four .tflite files: ours and the documented recipe's, for ResNet-50 (224) and ResNet-20 (32)."""
    import keras

    from keras_resnet import create_model
    from keras_resnet.files import write_bytes

    CACHE.mkdir(parents=True, exist_ok=True)
    builds = {  # the same graph on both sides of each comparison, so the ratio is the converters'
        "resnet50_v1_ours_int8": (lambda: create_model("resnet50", variant="v1"), ours, 224),
        "resnet50_keras_apps_documented_int8": (
            lambda: keras.applications.ResNet50(weights=None),
            documented_recipe,
            224,
        ),
        "resnet20_ours_int8": (lambda: create_model("resnet20", preprocess="cifar10"), ours, 32),
        "resnet20_documented_int8": (lambda: create_model("resnet20", preprocess="cifar10"), documented_recipe, 32),
        # our default ResNet-50 (torchvision's v1.5 layout, normalisation in the graph), for what it costs
        "resnet50_ours_int8": (lambda: create_model("resnet50", preprocess="imagenet"), ours, 224),
    }
    paths = []
    for name, (build, recipe, size) in builds.items():
        path = CACHE / f"{name}.tflite"
        if not path.exists():
            keras.utils.set_random_seed(0)
            write_bytes(path, recipe(build(), calibration(folder, size, samples)))  # no partial cache if killed
            print(f"converted {path.name}", flush=True)
        paths.append(str(path))
    return paths


def latency(folder: str, runs: int, samples: int) -> dict:
    """The 224x224 models interleaved in one harness run, the 32x32 ones in another (10x the runs: they take
    1/70 of the time). Mixed in one run, ResNet-50's 26 MB of weights evict the caches ahead of whichever
    ResNet-20 follows it, which then reads ~10% slower than its identical twin."""
    from keras_resnet.device import command, harness

    paths = latency_models(folder, samples)
    groups = ([p for p in paths if "resnet50" in p], runs), ([p for p in paths if "resnet20" in p], 10 * runs)
    results = [
        harness.run(group, harness.Settings(threads=[1, 2], warmup=5, runs=n), argv=sys.argv) for group, n in groups
    ]
    for result in results:
        print(command.format_table(result), flush=True)
    result = {"system": results[0]["system"], "results": [r for part in results for r in part["results"]]}
    ghz = measure_ghz()
    p50 = {(r["model"], r["threads"]): r["latency_ms"]["p50"] for r in result["results"]}
    ratios = []
    for mine_name, other in (
        ("resnet50_v1_ours_int8", "resnet50_keras_apps_documented_int8"),
        ("resnet20_ours_int8", "resnet20_documented_int8"),
    ):
        for threads in (1, 2):
            mine = p50[(mine_name, threads)]
            ratios.append(
                {
                    "ours": mine_name,
                    "documented": other,
                    "threads": threads,
                    "ours_p50_ms": mine,
                    "documented_p50_ms": p50[(other, threads)],
                    "documented_over_ours": round(p50[(other, threads)] / mine, 3),
                }
            )
    peak = [
        {
            "model": r["model"],
            "threads": r["threads"],
            "gmacs_per_s": r["gmacs_per_s"],
            "fraction_of_peak": round(r["gmacs_per_s"] / peak_gmacs(r["threads"], "int8", ghz, 64, 16), 3),
        }
        for r in result["results"]
    ]
    return {
        "ratios": ratios,
        "peak": {"ghz": round(ghz, 2), "int8_macs_per_cycle_per_core": 64, "rows": peak},
        "system": result["system"],
        "results": [
            {k: r[k] for k in ("model", "threads", "size_bytes", "macs", "latency_ms", "gmacs_per_s")}
            for r in result["results"]
        ],
    }


def conversion_time(folder: str, samples: int) -> dict:
    """`resnet-tflite convert resnet50 --int8` with `samples` calibration images, timed as a user runs it."""
    from keras_resnet.files import atomic_path

    npz = CACHE / f"cifar10-jpg-train-224-{samples}.npz"
    if not npz.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        images = calibration(folder, 224, samples)
        with atomic_path(npz, suffix=".npz") as tmp:
            np.savez(tmp, x=images.astype(np.uint8), y=np.zeros(len(images), np.int64))
    command = [
        sys.executable,
        "-c",
        "from keras_resnet.cli.main import main; main()",
        "convert",
        "resnet50",
        "--preprocess",
        "imagenet",
        "--int8",
        "--calib",
        f"npz:{npz}",
        "--calib-samples",
        str(samples),
        "--out",
        str(CACHE / "resnet50_cli_int8.tflite"),
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    return {
        "command": f"resnet-tflite convert resnet50 --preprocess imagenet --int8 --calib npz:IMAGES_224.npz "
        f"--calib-samples {samples} --out resnet50_int8.tflite",
        "calibration_samples": samples,
        "wall_seconds": round(seconds, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {PARTS}")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per model and thread count")
    parser.add_argument("--qat-images", type=int, default=10000)
    parser.add_argument("--qat-epochs", type=int, default=2)
    args = parser.parse_args()
    parts = args.parts.split(",")
    folder = cifar_folder()
    result = json.loads(RESULT.read_text()) if RESULT.exists() else {}
    command = "nice -n 10 .venv/bin/python tools/bench_convert.py " + " ".join(sys.argv[1:])
    runs = {
        "accuracy": ("accuracy", lambda: accuracy(folder, args.qat_images, args.qat_epochs)),
        "latency": ("latency", lambda: latency(folder, args.runs, samples=100)),
        "time": ("conversion_time", lambda: conversion_time(folder, 500)),
    }
    for part, (key, run) in runs.items():  # each part keeps the command that measured it
        if part in parts:
            result[key] = {**run(), "measured_by": command}
    from keras_resnet.files import write_text

    write_text(RESULT, json.dumps(result, indent=1) + "\n")
    summary = {k: v for k, v in result.items() if k != "latency"}
    if "latency" in result:
        summary["latency"] = {"ratios": result["latency"]["ratios"], "peak": result["latency"]["peak"]}
    print(json.dumps(summary, indent=1))
    print(f"wrote {RESULT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
