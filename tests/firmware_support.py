"""What the firmware tests share: the vendored TFLite-Micro tree's place, building a firmware through the
command, and the checks of its outputs, sections and instruction counts."""

import json
import subprocess

from helpers import ROOT, SHARED, run_cli

TARBALL = SHARED / "vendor" / "tflite-micro.tar.gz"
RESNET20 = ROOT / "tflite" / "reference" / "resnet20_cifar10_jpg.keras"
TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-g++", "arm-none-eabi-size", "qemu-system-arm", "make")
KIB = 1024
# Where the sections of the Cortex_DFP linker script live: flash holds code, constants, the copy and zero tables
# and .data's initial values; RAM holds .data, .bss, the heap and the stack.
FLASH_SECTIONS = (".text", ".ARM.exidx", ".copy.table", ".zero.table", ".data")
RAM_SECTIONS = (".data", ".bss", ".heap", ".stack")


def int8_model(keras_model, cifar_jpg, path):
    """`keras_model` converted to int8 at `path`, calibrated on 100 CIFAR-10 (JPEG) training images."""
    from keras_resnet.export.convert import calibration_data, convert_keras, model_input_shape, representative_from

    images = calibration_data(f"folder:{cifar_jpg}", model_input_shape(keras_model), samples=100)
    path.write_bytes(convert_keras(keras_model, "int8", representative_from(images.x)))
    return path


def firmware(model, tflm_tree, out, *options):
    """`resnet-tflite firmware MODEL --out OUT OPTIONS` run; (the finished process, firmware.json or None)."""
    result = run_cli("resnet-tflite", "firmware", model, "--tflm", tflm_tree, "--out", out, *options, timeout=3000)
    report = json.loads((out / "firmware.json").read_text()) if result.returncode == 0 else None
    return result, report


def size_of(elf, *formats) -> list[str]:
    return subprocess.run(
        ["arm-none-eabi-size", *formats, str(elf)], capture_output=True, text=True, check=True
    ).stdout.splitlines()


def sections(elf) -> dict:
    """{section: bytes} as `arm-none-eabi-size -A` prints them."""
    return {f[0]: int(f[1]) for f in (line.split() for line in size_of(elf, "-A")) if len(f) == 3 and f[1].isdigit()}


def check_outputs(report, images):
    outputs = report["outputs"]
    assert outputs["images"] == images
    assert outputs["tflm_host"]["bit_exact_images"] == images and outputs["tflm_host"]["max_abs_diff_steps"] == 0
    assert outputs["litert"]["top1_agreement"] == 1.0, outputs


def check_instructions(report, images, model):
    """Counts for every image and every operator; the operators add up to the inference less the loop between
    their events (TFLite-Micro's loop over the operators and Invoke's entry and exit, which no event covers:
    82 instructions an operator measured, at most speed.LOOP_OVERHEAD_PER_OPERATOR plus a fixed part)."""
    from keras_resnet.lite import flatbuffer
    from keras_resnet.lite.firmware import speed

    counted = report["instructions"]
    assert len(counted["per_inference"]) == images and min(counted["per_inference"]) > 0
    operators = flatbuffer.read_file(model).operators
    assert [r["op"] for r in counted["operators"]] == [op.name for op in operators]
    outside = counted["per_inference"][0] - sum(r["instructions"] for r in counted["operators"])
    assert outside == counted["outside_operators"]
    assert 0 < outside <= speed.LOOP_OVERHEAD_PER_OPERATOR * len(operators) + speed.LOOP_OVERHEAD_FIXED
    assert all(r["instructions"] > 0 for r in counted["operators"])
    assert counted["macs"] == sum(r["macs"] for r in counted["operators"]) > 0
    return counted
