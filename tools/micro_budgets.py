"""Where each registered CIFAR net stands against common microcontroller boards: its whole int8 firmware.

    .venv/bin/python tools/micro_budgets.py --tflm .cache/tflite-micro    # a Markdown table, ~10 minutes

Each CIFAR net (random weights, calibrated on CIFAR-10 (JPEG): sizes do not depend on the weights) is
converted to int8 and built by `resnet-tflite firmware` for the default target and kernels, cortex-m55 with
CMSIS-NN: the TFLite-Micro runtime and kernels, the model, the tensor arena, stack, heap and C library, as
the linked ELF holds them. A firmware that fits the 512 KB of code QEMU's MPS3 AN547 holds is run there, on
10 test images, and its arena and stack are measured on the target; a larger one is built and sized
without a run (`--no-run`: the arena is the host's measurement plus 10%, the stack 2 KB). Each is set
against `keras_resnet.lite.micro.BOARDS`. ResNet-1202 is left out: its 19.4M int8 weights alone exceed
every board listed.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from bench_models import cifar_folder  # noqa: E402
from firmware_sizes import firmware, int8_model  # noqa: E402

TARGET, KERNELS = "cortex-m55", "cmsis_nn"
QEMU_CODE = 512 * 1024  # the AN547's ITCM
FIRMWARE_WITHOUT_MODEL = 64 * 1024  # more than everything but the model takes (measured: under 60 KB)


def main():
    from keras_resnet.lite import micro
    from keras_resnet.models import specs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tflm", required=True, help="the TFLite-Micro tree (with its downloads)")
    parser.add_argument("--data", default=f"folder:{cifar_folder()}")
    args = parser.parse_args()
    boards = [label.split(" (")[0] for label, *_ in micro.BOARDS]
    print("| model | flash (firmware) | RAM (firmware) | arena | " + " | ".join(boards) + " |")
    print("|---|--:|--:|---|" + "---|" * len(boards))
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        for name in specs.list_models():
            if specs.REGISTRY[name].family != "cifar" or name == "resnet1202":
                continue
            path = int8_model(name, scratch, args.data)
            run = path.stat().st_size + FIRMWARE_WITHOUT_MODEL <= QEMU_CODE
            r = firmware(
                path,
                TARGET,
                KERNELS,
                args.tflm,
                args.data,
                scratch / name,
                run=run,
                **({} if run else {"flash": 4 * 1024 * 1024, "ram": 1024 * 1024}),
            )
            flash, ram = r["memory"]["flash_bytes"], r["memory"]["ram_bytes"]
            arena = (
                f"{r['arena']['target_used_bytes']:,} on the target"
                if run
                else f"{r['arena']['reserved_bytes']:,} (host + 10%, not run)"
            )
            fits = " | ".join("fits" if flash <= f and ram <= m else "no" for _, f, m in micro.BOARDS)
            print(f"| {name} | {flash:,} | {ram:,} | {arena} | {fits} |", flush=True)


if __name__ == "__main__":
    main()
