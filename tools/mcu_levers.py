"""What folding the input normalisation and stripping the strings each buy on a microcontroller, one lever at a
time, for one trained Keras model (default: the reference ResNet-20): int8 top-1 on every test image (LiteRT),
the .tflite's bytes, and the whole firmware's flash, RAM and instructions per inference on the emulated
Cortex-M4 with CMSIS-NN.

    .venv/bin/python tools/mcu_levers.py --data folder:cifar10-jpg [--model FILE.keras] [--tflm $TFLM_DIR]

Instructions are executed instructions in QEMU (`-icount shift=7`), not cycles.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from firmware_speed import measure

REFERENCE = os.path.join(os.path.dirname(__file__), "..", "tflite", "reference", "resnet20_cifar10_jpg.keras")
LEVERS = {  # name: keras_resnet.convert options, each adding one lever to the row before it
    "int8": {},
    "+ folded normalisation": {"fold": True},
    "+ stripped strings": {"fold": True, "strip": True},
}
TARGET, KERNELS = "cortex-m4", "cmsis_nn"


def lever_rows(model: str, data: str, tflm: str | None, work: str) -> list[dict]:
    """One row per lever: top-1, file bytes, and the firmware's flash, RAM and instructions."""
    import keras_resnet as kr
    from keras_resnet.lite import flatbuffer

    rows = []
    for name, options in LEVERS.items():
        path = os.path.join(work, f"lever{len(rows)}.tflite")
        converted = kr.convert(model, path, mode="int8", calib=data, **options)
        fw = measure(path, TARGET, KERNELS, tflm, work)
        rows.append(
            {
                "lever": name,
                "top1": kr.evaluate(path, data)["top1"],
                "normalisation_ops": [op for op in flatbuffer.read_file(path).op_names() if op in ("SUB", "MUL")],
                "model_bytes": converted["bytes"],
                **{k: fw.get(k) for k in ("flash_bytes", "ram_bytes", "instructions", "error")},
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| lever | SUB, MUL | int8 top-1 | .tflite | firmware flash | firmware RAM | instructions (M4) |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        if r["error"]:
            lines.append(f"| {r['lever']} | {len(r['normalisation_ops'])} | {r['top1']:.2%} | {r['error']} | | | |")
            continue
        lines.append(
            f"| {r['lever']} | {len(r['normalisation_ops'])} | {r['top1']:.2%} | {r['model_bytes']:,} B | "
            f"{r['flash_bytes']:,} B | {r['ram_bytes']:,} B | {r['instructions'] / 1e6:.3f} M |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="calibration and test data SOURCE")
    parser.add_argument("--model", default=REFERENCE, help="trained Keras model (default: the reference ResNet-20)")
    parser.add_argument("--tflm", help="TFLite-Micro tree (default $TFLM_DIR)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mcu-levers-") as work:
        print(table(lever_rows(args.model, args.data, args.tflm, work)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
