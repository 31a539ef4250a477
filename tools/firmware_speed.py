"""Instructions per inference of int8 models on every emulated Cortex-M, with CMSIS-NN and with the reference
kernels, side by side with instructions per MAC and the whole firmware's flash and RAM; and of float32 models
on the Cortex-M4 with its FPU, the baseline that quantization speeds up.

Every firmware is built and run by `keras_resnet.firmware` (QEMU under `-icount shift=7`: executed
instructions, exact; not cycles), on seeded random inputs (the count barely depends on the data: a few
hundredths of a percent between images). It makes ours, ResNet-8 and ResNet-20 as int8 and float32 files
(Keras' seeded initial weights, the CIFAR-10 normalisation in the graph, calibrated on `--data` or on seeded
random pixels: counts and sizes do not depend on the weights), unless `--no-ours`; give anyone else's .tflite
files on the command line. An int8 file is built for every core and kernel set asked for; a float32 file
(`resnet-tflite convert` without a mode) once, for cortex-m4+fp with TFLite-Micro's float kernels (the
reference ones: CMSIS-NN has none), and each int8 row on that core gets its speed-up over the float32 file of
the same network (the one with the same MACs).

    .venv/bin/python tools/firmware_speed.py [their.tflite ...] --tflm $TFLM_DIR [--no-ours] [--data SOURCE] \\
        [--targets cortex-m4,cortex-m7,cortex-m33,cortex-m55] [--kernels cmsis_nn,reference] [--json out.json]

Each TFLite-Micro library is built once per target and kernels (minutes) and cached; each firmware then
takes about a minute (a measuring build and run, the final build and run). Flash and RAM are for the board's
default 256 KB / 128 KB when the model fits, else for the emulated board's whole memory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from keras_resnet.errors import UserError
from keras_resnet.lite import flatbuffer
from keras_resnet.lite.firmware import firmware
from keras_resnet.lite.firmware.targets import KERNELS, TARGETS

CORES = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")
OURS = ("resnet8", "resnet20")
FLOAT_TARGET = "cortex-m4+fp"  # the baseline: the same core as cortex-m4, its FPU used
FLOAT_KERNELS = "reference"  # TFLite-Micro's float kernels, whichever kernel set is built


def dtype(model: str) -> str:
    """ "float32" for a model that computes in floating point, else "int8"."""
    tensors = flatbuffer.read_file(model).tensors
    return "float32" if any(t.dtype.startswith("float") for t in tensors if not t.is_constant) else "int8"


def our_models(folder: str, data: str | None) -> list[str]:
    """Our ResNet-8 and ResNet-20 as float32 and int8 .tflite files in `folder` (seeded initial weights)."""
    import keras
    import numpy as np

    from keras_resnet.export.convert import calibration_data, convert_keras, model_input_shape, representative_from
    from keras_resnet.models.builders import create_model

    paths = []
    for name in OURS:
        keras.utils.set_random_seed(0)
        model = create_model(name, preprocess="cifar10")
        shape = model_input_shape(model)
        pixels = (
            calibration_data(data, shape, samples=100).x
            if data
            else np.random.default_rng(0).uniform(0, 255, (100, *shape)).astype(np.float32)
        )
        for mode, calibration in (("float32", None), ("int8", representative_from(pixels))):
            paths.append(os.path.join(folder, f"{name}_{mode}.tflite"))
            with open(paths[-1], "wb") as f:
                f.write(convert_keras(model, mode, calibration))
    return paths


def builds(models: list[str], targets: list[str], kernels: list[str]) -> list[tuple[str, str, str]]:
    """(model, target, kernels) of every firmware: an int8 model on each target and kernel set, a float32 one
    on the FPU of the baseline core."""
    return [
        (model, target, kernel)
        for model in models
        for target, kernel in (
            [(FLOAT_TARGET, FLOAT_KERNELS)] if dtype(model) == "float32" else [(t, k) for t in targets for k in kernels]
        )
    ]


def measure(model: str, target: str, kernels: str, tflm: str | None, work: str) -> dict:
    """One firmware: its instruction count and sizes, or why it was not measured."""
    out = os.path.join(work, f"{os.path.basename(model)}-{target}-{kernels}")
    t = TARGETS[target]
    for flash, ram in (("256K", "128K"), (t.flash_max, t.ram_max)):
        try:
            report = firmware(model, out, target=target, kernels=kernels, flash=flash, ram=ram, tflm=tflm, limit=3)
            break
        except UserError as err:
            if "does not fit the board" not in str(err):
                return {"model": model, "target": target, "kernels": kernels, "error": str(err)}
    else:
        return {"model": model, "target": target, "kernels": kernels, "error": "does not fit the emulated board"}
    counted = report["instructions"] or {}
    compared = report["outputs"] or {}
    return {
        "model": os.path.basename(model),
        "dtype": dtype(model),
        "target": target,
        "kernels": kernels,
        "instructions": counted.get("median"),
        "macs": counted.get("macs"),
        "instructions_per_mac": counted.get("instructions_per_mac"),
        "flash_bytes": report["memory"]["flash_bytes"],
        "ram_bytes": report["memory"]["ram_bytes"],
        "images": compared.get("images"),
        "bit_exact_images": compared.get("tflm_host", {}).get("bit_exact_images"),
        "costliest": [
            (r["op"], r["instructions"]) for r in sorted(counted.get("operators", []), key=lambda r: -r["instructions"])
        ][:3],
    }


def add_speed_ups(rows: list[dict]) -> None:
    """Each int8 row's `speed_up`: the float32 row's instructions over its own, where a float32 file of the same
    network (the same MACs) ran on the same core."""
    measured = [r for r in rows if "error" not in r and r["instructions"]]
    baselines = {(r["macs"], TARGETS[r["target"]].core): r for r in measured if r["dtype"] == "float32"}
    for r in measured:
        baseline = baselines.get((r["macs"], TARGETS[r["target"]].core))
        if r["dtype"] != "float32" and baseline is not None:
            r["speed_up"] = round(baseline["instructions"] / r["instructions"], 2)


def table(rows: list[dict]) -> str:
    """The rows in Markdown; "vs float32" is the speed-up over the float32 baseline (its instructions over the
    row's), for int8 rows on the baseline's core."""
    lines = [
        "| model | type | core | kernels | instructions per inference | per MAC | vs float32 | flash | RAM |",
        "|---|---|---|---|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(
                f"| {os.path.basename(r['model'])} | | {r['target']} | {r['kernels']} | {r['error']} | | | | |"
            )
            continue
        versus = f"{r['speed_up']:.2f}x" if "speed_up" in r else "baseline" if r["dtype"] == "float32" else ""
        lines.append(
            f"| {r['model']} | {r['dtype']} | {r['target']} | {r['kernels']} | {r['instructions'] / 1e6:.2f} M | "
            f"{r['instructions_per_mac']:.2f} | {versus} | {r['flash_bytes'] / 1024:.1f} KB | "
            f"{r['ram_bytes'] / 1024:.1f} KB |"
        )
    return "\n".join(lines)


def speed_up_lines(rows: list[dict]) -> list[str]:
    """One line per int8 CMSIS-NN row with a float32 baseline: how many times fewer instructions it executes."""
    return [
        f"{r['model']}: int8 with CMSIS-NN on {r['target']} executes {r['speed_up']:.2f}x fewer instructions than "
        f"float32 on {FLOAT_TARGET}"
        for r in rows
        if "speed_up" in r and r["kernels"] == "cmsis_nn"
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", help="other .tflite files (int8, or float32 for the FPU baseline)")
    parser.add_argument("--no-ours", action="store_true", help="without our ResNet-8 and ResNet-20")
    parser.add_argument("--data", help="calibration images SOURCE for ours (default: seeded random pixels)")
    parser.add_argument("--tflm", help="TFLite-Micro tree (default $TFLM_DIR)")
    parser.add_argument("--targets", default=",".join(CORES), help="cores for the int8 files")
    parser.add_argument("--kernels", default=",".join(KERNELS), help="kernel sets for the int8 files")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="firmware-speed-") as work:
        models = ([] if args.no_ours else our_models(work, args.data)) + args.models
        if not models:
            parser.error("no model: give .tflite files, or leave out --no-ours")
        for model, target, kernels in builds(models, args.targets.split(","), args.kernels.split(",")):
            rows.append(measure(model, target, kernels, args.tflm, work))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    add_speed_ups(rows)
    print(table(rows))
    print("\n".join(["", *speed_up_lines(rows)]))
    print("\nExecuted instructions in QEMU (-icount shift=7), not cycles: a lower bound on cycles on the single-issue")
    print("cortex-m4 and cortex-m33; the cortex-m7 (dual issue) and cortex-m55 (MVE beats) can take fewer cycles.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
