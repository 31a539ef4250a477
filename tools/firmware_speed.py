"""Instructions per inference of int8 models on every emulated Cortex-M, with CMSIS-NN and with the reference
kernels, side by side with instructions per MAC and the whole firmware's flash and RAM.

Every firmware is built and run by `keras_resnet.firmware` (QEMU under `-icount shift=7`: executed
instructions, exact; not cycles), on seeded random inputs (the count barely depends on the data: a few
hundredths of a percent between images). Give the .tflite files on the command line: ours (e.g. the int8
ResNet-8 and ResNet-20 of `resnet-tflite convert`) and anyone else's.

    .venv/bin/python tools/firmware_speed.py r8_int8.tflite r20_int8.tflite --tflm $TFLM_DIR \\
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
from keras_resnet.lite.firmware import firmware
from keras_resnet.lite.firmware.targets import KERNELS, TARGETS

CORES = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")


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
    return {
        "model": os.path.basename(model),
        "target": target,
        "kernels": kernels,
        "instructions": counted.get("median"),
        "macs": counted.get("macs"),
        "instructions_per_mac": counted.get("instructions_per_mac"),
        "flash_bytes": report["memory"]["flash_bytes"],
        "ram_bytes": report["memory"]["ram_bytes"],
        "costliest": [
            (r["op"], r["instructions"]) for r in sorted(counted.get("operators", []), key=lambda r: -r["instructions"])
        ][:3],
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| model | core | kernels | instructions per inference | per MAC | flash | RAM |",
        "|---|---|---|--:|--:|--:|--:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {os.path.basename(r['model'])} | {r['target']} | {r['kernels']} | {r['error']} | | | |")
            continue
        lines.append(
            f"| {r['model']} | {r['target']} | {r['kernels']} | {r['instructions'] / 1e6:.2f} M | "
            f"{r['instructions_per_mac']:.2f} | {r['flash_bytes'] / 1024:.1f} KB | {r['ram_bytes'] / 1024:.1f} KB |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help=".tflite files (int8)")
    parser.add_argument("--tflm", help="TFLite-Micro tree (default $TFLM_DIR)")
    parser.add_argument("--targets", default=",".join(CORES))
    parser.add_argument("--kernels", default=",".join(KERNELS))
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="firmware-speed-") as work:
        for model in args.models:
            for target in args.targets.split(","):
                for kernels in args.kernels.split(","):
                    rows.append(measure(model, target, kernels, args.tflm, work))
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(table(rows))
    print("\nExecuted instructions in QEMU (-icount shift=7), not cycles: a lower bound on cycles on the single-issue")
    print("cortex-m4 and cortex-m33; the cortex-m7 (dual issue) and cortex-m55 (MVE beats) can take fewer cycles.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
