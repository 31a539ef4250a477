"""Whole-firmware flash and RAM of int8 ResNets on every Cortex-M target and kernel set, with the split.

    .venv/bin/python tools/firmware_sizes.py --tflm .cache/tflite-micro     # ~30 minutes the first time

For ResNet-8 and ResNet-20 (random weights, calibrated on CIFAR-10 (JPEG) training images: sizes do not
depend on the weights) it builds `resnet-tflite firmware` for cortex-m4, m7, m33 and m55 with CMSIS-NN and
with the reference kernels, each in its QEMU board's whole memory (so that both models run everywhere),
runs it on 10 test images and prints, in Markdown: flash and RAM of the linked ELF split by origin, the
arena used on the target against the 64-bit host's, and the stack measured. Then, for ResNet-8 on the
cortex-m55 with CMSIS-NN, what the C library costs: the firmware's own semihosting I/O against newlib's
stdio (librdimon), with printf linked in, and with printf's float formatting. Libraries are built once per
target and kernels (TFLite-Micro's Makefile) and cached. Emulation gives no timing: none is printed.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from bench_models import cifar_folder  # noqa: E402

TARGETS = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")
KERNELS = ("cmsis_nn", "reference")
MODELS = ("resnet8", "resnet20")
VARIANTS = (
    ("semihosting calls (the default)", "semihosting", ()),
    ("newlib stdio (librdimon)", "stdio", ()),
    ("newlib stdio + printf", "stdio", ("-u", "printf")),
    ("newlib stdio + printf with %f", "stdio", ("-u", "printf", "-u", "_printf_float")),
)


def int8_model(name: str, folder: pathlib.Path, data: str) -> pathlib.Path:
    """The registered model with the CIFAR-10 normalisation in its graph, as int8, written to `folder`."""
    from keras_resnet.export.convert import calibration_data, convert_keras, model_input_shape, representative_from
    from keras_resnet.models.builders import create_model

    model = create_model(name, preprocess="cifar10")
    images = calibration_data(data, model_input_shape(model), samples=100)
    path = folder / f"{name}.tflite"
    path.write_bytes(convert_keras(model, "int8", representative_from(images.x)))
    return path


def firmware(
    model: pathlib.Path,
    target: str,
    kernels: str,
    tflm: str,
    data: str | None,
    out: pathlib.Path,
    run: bool = True,
    flash: int | None = None,
    ram: int | None = None,
    **variant,
) -> dict:
    """The firmware report of `model` on `target`, in the emulated board's whole memory unless sizes are given."""
    from keras_resnet.lite.firmware.builder import Request, build
    from keras_resnet.lite.firmware.targets import target as find

    board = find(target)
    return build(
        Request(
            str(model),
            target,
            str(out),
            kernels,
            flash or board.flash_max,
            ram or board.ram_max,
            tflm,
            data,
            10,
            run=run,
            **variant,
        )
    )


FLASH_PARTS = ("model", "tflm_kernels", "tflm_runtime", "libc", "startup", "application")


def parts(split: dict, keys) -> str:
    return " / ".join(f"{split.get(k, 0):,}" for k in keys)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tflm", required=True, help="the TFLite-Micro tree (with its downloads)")
    parser.add_argument("--data", default=f"folder:{cifar_folder()}")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        models = {name: int8_model(name, scratch, args.data) for name in MODELS}
        print(
            "| model | target | kernels | flash | model / TFLM kernels / TFLM runtime / libc / startup / application "
            "| RAM | arena / stack / heap / other | arena used on target / on the host | stack used |"
        )
        print("|---|---|---|--:|---|--:|---|--:|--:|")
        for name, path in models.items():
            for target in TARGETS:
                for kernels in KERNELS:
                    r = firmware(path, target, kernels, args.tflm, args.data, scratch / f"{name}-{target}-{kernels}")
                    m, ram = r["memory"], r["memory"]["split"]["ram"]
                    print(
                        f"| {name} | {target} | {kernels} | {m['flash_bytes']:,} "
                        f"| {parts(m['split']['flash'], FLASH_PARTS)} "
                        f"| {m['ram_bytes']:,} | {ram['arena']:,} / {ram['stack']:,} / {ram.get('heap', 0):,} / "
                        f"{m['ram_bytes'] - ram['arena'] - ram['stack'] - ram.get('heap', 0):,} "
                        f"| {r['arena']['target_used_bytes']:,} / {r['arena']['host_bytes']:,} "
                        f"| {r['stack']['used_bytes']:,} |",
                        flush=True,
                    )
        print("\n| resnet8, cortex-m55, CMSIS-NN: I/O | flash | C library in flash | RAM | heap used |")
        print("|---|--:|--:|--:|--:|")
        for label, platform, flags in VARIANTS:
            r = firmware(
                models["resnet8"],
                "cortex-m55",
                "cmsis_nn",
                args.tflm,
                args.data,
                scratch / f"io-{platform}-{len(flags)}",
                io=platform,
                link_flags=flags,
            )
            m = r["memory"]
            print(
                f"| {label} | {m['flash_bytes']:,} | {m['split']['flash'].get('libc', 0):,} | {m['ram_bytes']:,} "
                f"| {r['heap']['used_bytes']:,} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
