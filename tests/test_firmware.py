"""Firmware on the Cortex-M55 with CMSIS-NN, the default target: bit-exact outputs against the host's
TFLite-Micro and LiteRT, the memory budget, exact instruction counts, a model that does not fit, and every bad
request in one line. The other cores and the host: test_firmware_cores.py; the fixtures: conftest.py.

Needs Debian's toolchain (`make firmware-tools`; CI runs it) and ../shared/vendor/tflite-micro.tar.gz;
skipped, saying which is missing, without them. Libraries are cached in .cache/firmware across runs."""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
from firmware_support import (
    FLASH_SECTIONS,
    KIB,
    RAM_SECTIONS,
    check_instructions,
    check_outputs,
    firmware,
    sections,
    size_of,
)

from helpers import run_cli

pytestmark = pytest.mark.usefixtures("firmware_cache")


def test_resnet8_on_cortex_m55_with_cmsis_nn_is_bit_exact_and_fits_the_budget(resnet8, tflm_tree, cifar_jpg, tmp_path):
    # invoke
    result, report = firmware(
        resnet8, tflm_tree, tmp_path / "fw", "--target", "cortex-m55", "--data", f"folder:{cifar_jpg}", "--limit", 20
    )
    # validate: the firmware's outputs, bit for bit
    assert result.returncode == 0, result.stderr
    check_outputs(report, 20)
    # ... its size, as the ELF itself says, split without a byte lost
    memory, elf = report["memory"], tmp_path / "fw" / "firmware.elf"
    listed = sections(elf)
    assert memory["flash_bytes"] == sum(listed.get(s, 0) for s in FLASH_SECTIONS)
    assert memory["ram_bytes"] == sum(listed.get(s, 0) for s in RAM_SECTIONS)
    text, data, bss = map(int, size_of(elf, "-B")[1].split()[:3])  # Berkeley counts the copy table as data
    assert memory["flash_bytes"] == text + data and memory["ram_bytes"] == data + bss - listed[".copy.table"]
    assert sum(memory["split"]["flash"].values()) == memory["flash_bytes"]
    assert sum(memory["split"]["ram"].values()) == memory["ram_bytes"]
    assert memory["split"]["flash"]["model"] == os.path.getsize(resnet8)
    assert memory["split"]["ram"]["arena"] == report["arena"]["reserved_bytes"] >= report["arena"]["target_used_bytes"]
    assert memory["flash_bytes"] <= 160 * KIB and memory["ram_bytes"] <= 72 * KIB  # the budget the size aims at
    # ... and the arena and stack measured on the target
    assert 0 < report["stack"]["used_bytes"] <= report["stack"]["reserved_bytes"]
    assert report["arena"]["host_bytes"] > 0 and report["arena"]["target_used_bytes"] > 0
    # ... and the instructions of every image and operator
    check_instructions(report, 20, resnet8)


@pytest.fixture(scope="module")
def untrained_resnet8(tmp_path_factory):
    """ResNet-8 with Keras' seeded initial weights, calibrated on seeded random images: the same file every
    time, so its instruction counts can be held to recorded values."""
    import keras

    import keras_resnet as kr
    from keras_resnet.export.convert import convert_keras, representative_from

    keras.utils.set_random_seed(0)
    net = kr.ResNet8(preprocess="cifar10")
    images = np.random.default_rng(0).uniform(0, 255, (20, 32, 32, 3)).astype("float32")
    path = tmp_path_factory.mktemp("untrained") / "r8.tflite"
    path.write_bytes(convert_keras(net, "int8", representative_from(images)))
    return path


def images_in(folder, count, image_bytes):
    data = (folder / "all_images.bin").read_bytes()
    (folder / "images.bin").write_bytes(data[: count * image_bytes])


def counts_printed(folder) -> dict:
    """FW_INSTR and FW_INSTR_TOTAL of a run of the folder's run.sh (QEMU with -icount, as the build ran it)."""
    done = subprocess.run([str(folder / "run.sh")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    fields = [line.split() for line in done.stdout.splitlines()]
    return {
        "per_inference": [int(f[2]) for f in fields if f[0] == "FW_INSTR"],
        "operators": [int(f[2]) for f in fields if f[0] == "FW_OP"],
        "total": next(int(f[1]) for f in fields if f[0] == "FW_INSTR_TOTAL"),
    }


# Recorded: ResNet-8 (untrained_resnet8) on the Cortex-M55 with CMSIS-NN, first seeded random image, QEMU 7.2
RESNET8_M55_CMSIS_NN_INSTRUCTIONS = 6_010_383


def test_instruction_counts_are_exact_reproducible_and_agree_with_the_run_length(
    untrained_resnet8, tflm_tree, tmp_path
):
    out = tmp_path / "fw"
    result, report = firmware(untrained_resnet8, tflm_tree, out, "--target", "cortex-m55", "--clock", "160MHz")
    assert result.returncode == 0, result.stderr
    counted = check_instructions(report, 10, untrained_resnet8)
    # held to the value recorded for this model: a change to the firmware, kernels or flags shows here
    assert counted["per_inference"][0] == RESNET8_M55_CMSIS_NN_INSTRUCTIONS
    assert counted["clock"] == {
        "hz": 160e6,
        "ms_per_inference": round(counted["median"] / 160e6 * 1e3, 4),
        "kind": "estimate",  # the M55's MVE instructions take beats: no bound
    }
    assert f"instructions per inference: {counted['median']:,}" in result.stdout
    assert "ms per inference (estimate)" in result.stdout and "cycles" not in result.stdout.replace("not cycles", "")
    listed = result.stdout.split("costliest operators (one inference):\n")[1].splitlines()
    costliest = sorted(counted["operators"], key=lambda r: -r["instructions"])[:5]
    assert [int(line.split()[0]) for line in listed] == [r["index"] for r in costliest]
    # the same firmware run again counts the same, image for image and operator for operator
    again = counts_printed(out)
    assert again["per_inference"] == counted["per_inference"]
    assert again["operators"] == [r["instructions"] for r in counted["operators"]]
    assert again["total"] == counted["total_run"]
    # an independent check: the whole run's length (the counter read at exit, start-up included) grows by one
    # inference per image; what else an image costs outside Invoke (reading it by semihosting, printing its
    # outputs and count) is under 10,000 instructions (3,497 measured)
    image_bytes = (out / "images.bin").stat().st_size // 10
    (out / "all_images.bin").write_bytes((out / "images.bin").read_bytes())
    images_in(out, 1, image_bytes)
    one = counts_printed(out)
    images_in(out, 2, image_bytes)
    two = counts_printed(out)
    assert one["per_inference"][0] == two["per_inference"][0] == counted["per_inference"][0]
    assert 0 < (two["total"] - one["total"]) - two["per_inference"][1] < 10_000
    # where the instructions go: a picture, and the figures as Model Explorer node data keyed by tensor name
    assert (out / "instructions.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    node_data = json.loads((out / "instructions_node_data.json").read_text())
    assert node_data["results"] == {r["output"]: {"value": r["instructions"]} for r in counted["operators"]}


def test_the_trained_resnet20_on_a_board_it_fits_and_not_on_one_it_does_not(resnet20, tflm_tree, cifar_jpg, tmp_path):
    data = ("--data", f"folder:{cifar_jpg}", "--limit", 20)
    result, report = firmware(
        resnet20, tflm_tree, tmp_path / "fits", "--target", "cortex-m55", "--flash", "512K", "--ram", "256K", *data
    )
    assert result.returncode == 0, result.stderr
    check_outputs(report, 20)
    assert report["outputs"]["accuracy"]["top1"] >= 0.7  # 88% on all 10,000 test images
    small, _ = firmware(resnet20, tflm_tree, tmp_path / "small", "--target", "cortex-m55", *data)
    lines = [line for line in small.stderr.splitlines() if line.startswith("error:")]
    assert small.returncode == 1 and len(lines) == 1, small.stderr
    assert "does not fit the board" in lines[0] and "FLASH region overflowed by" in lines[0]
    assert not (tmp_path / "small").exists() and not list(tmp_path.glob(".small*"))


def test_a_stripped_model_runs_bit_exact_in_less_flash(resnet8, tflm_tree, cifar_jpg, tmp_path):
    from keras_resnet.lite.strip import strip_strings

    data = ("--data", f"folder:{cifar_jpg}", "--limit", 5)
    result, report = firmware(resnet8, tflm_tree, tmp_path / "fw", "--target", "cortex-m55", "--strip", *data)
    assert result.returncode == 0, result.stderr
    check_outputs(report, 5)  # against the host's TFLite-Micro and LiteRT running the file as it is
    model_flash = report["memory"]["split"]["flash"]["model"]
    assert model_flash == len(strip_strings(resnet8.read_bytes())) < os.path.getsize(resnet8)


def test_an_arena_below_the_measured_one_fails_cleanly(resnet8, tflm_tree, tmp_path):
    result, _ = firmware(resnet8, tflm_tree, tmp_path / "fw", "--target", "cortex-m55", "--arena", 30000)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "tensor arena of 30,000 bytes is too small" in lines[0] and "measured on the target" in lines[0]
    assert not (tmp_path / "fw").exists()


def test_a_run_that_does_not_finish_is_stopped(resnet8, tflm_tree, tmp_path):
    result, _ = firmware(resnet8, tflm_tree, tmp_path / "fw", "--target", "cortex-m55", "--timeout", "0.01")
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert "did not finish on QEMU's mps3-an547 within 0.01 s" in lines[0] and not (tmp_path / "fw").exists()


@pytest.fixture(scope="module")
def wrong_models(tmp_path_factory):
    """A float32 model and an int8 one whose image size is known only at run time."""
    import keras
    import tensorflow as tf

    from keras_resnet.export.convert import convert_keras

    folder = tmp_path_factory.mktemp("wrong")
    layers = keras.layers
    net = keras.Sequential(
        [keras.Input((None, None, 3)), layers.Conv2D(4, 3), layers.GlobalAveragePooling2D(), layers.Dense(3)]
    )
    (folder / "float.tflite").write_bytes(convert_keras(net, "float32", input_size=8))
    converter = tf.lite.TFLiteConverter.from_keras_model(net)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([np.full((1, 8, 8, 3), v, np.float32)] for v in range(4))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    (folder / "dynamic.tflite").write_bytes(converter.convert())
    (folder / "full").mkdir()
    (folder / "full" / "notes.txt").write_text("not a firmware")
    return folder


def test_a_model_whose_batch_is_left_open_runs_as_batch_one(tflm_tree, tmp_path):
    """ResNet-8 as TensorFlow's converter writes it by default, the batch left open (shape_signature [-1, 32, 32,
    3]); TFLite-Micro runs such a model with the batch of its shape, 1, and so does the firmware. (Its operators
    are those of this package's conversion, so it shares their TFLite-Micro library.)"""
    import keras
    import tensorflow as tf

    import keras_resnet as kr
    from keras_resnet.lite import flatbuffer

    keras.utils.set_random_seed(0)
    pixels = np.random.default_rng(0).uniform(0, 255, (8, 1, 32, 32, 3)).astype("float32")
    converter = tf.lite.TFLiteConverter.from_keras_model(kr.ResNet8(preprocess="cifar10"))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image] for image in pixels)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    model = tmp_path / "open_batch.tflite"
    model.write_bytes(converter.convert())
    graph = flatbuffer.read_file(model)
    assert graph.tensors[graph.inputs[0]].shape_signature == (-1, 32, 32, 3)
    result, report = firmware(model, tflm_tree, tmp_path / "fw", "--target", "cortex-m55")
    assert result.returncode == 0, result.stderr
    check_outputs(report, report["outputs"]["images"])


# (id, options after the model, problem, what to do); every row: exit 1 (2 for click's usage errors), one line
BAD_FIRMWARE = [
    (
        "float-model-without-fpu",
        ["{float}", "--target", "cortex-m7"],
        "computes in floating point",
        "build it for cortex-m7+fp",
        1,
    ),
    ("dynamic-shapes", ["{dynamic}", "--target", "cortex-m55"], "known only at run time", "static shapes", 1),
    ("unknown-target", ["{model}", "--target", "cortex-m99"], "Invalid value for '--target'", "see --help", 2),
    (
        "not-a-tflm-tree",
        ["{model}", "--target", "cortex-m55", "--tflm", "{tmp}"],
        "is not a TFLite-Micro tree",
        "pass the top folder of a tflite-micro checkout",
        1,
    ),
    (
        "flash-beyond-the-board",
        ["{model}", "--target", "cortex-m55", "--flash", "1M"],
        "gives the cortex-m55 512 KB for flash",
        "choose at most 512K",
        1,
    ),
    (
        "flash-not-a-size",
        ["{model}", "--target", "cortex-m4", "--flash", "lots"],
        "takes a size in bytes",
        "e.g. 262144, 256K or 1M",
        1,
    ),
    (
        "out-holds-other-files",
        ["{model}", "--target", "cortex-m55", "--out", "{full}"],
        "is not empty",
        "choose a new folder",
        1,
    ),
]


@pytest.mark.parametrize("case", BAD_FIRMWARE, ids=[c[0] for c in BAD_FIRMWARE])
def test_bad_firmware_requests_are_one_line(case, resnet8, wrong_models, tflm_tree, tmp_path):
    name, options, problem, remedy, code = case
    names = {
        "float": wrong_models / "float.tflite",
        "dynamic": wrong_models / "dynamic.tflite",
        "model": resnet8,
        "tmp": tmp_path,
        "full": wrong_models / "full",
    }
    argv = [o.format(**names) for o in options]
    argv += [] if "--out" in argv else ["--out", str(tmp_path / "fw")]
    argv += [] if "--tflm" in argv else ["--tflm", str(tflm_tree)]
    result = run_cli("resnet-tflite", "firmware", *argv, timeout=600)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == code and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert problem in lines[0] and remedy in lines[0], lines[0]
    assert not (tmp_path / "fw").exists()


def test_a_missing_tool_is_named_with_its_package(resnet8, tmp_path):
    """Without the cross compiler on PATH: one line naming Debian's package, before anything is built."""
    python_only = tmp_path / "bin"
    python_only.mkdir()
    for tool in ("make", "qemu-system-arm"):
        if shutil.which(tool):
            (python_only / tool).symlink_to(shutil.which(tool))
    result = run_cli(
        "resnet-tflite",
        "firmware",
        resnet8,
        "--target",
        "cortex-m55",
        "--out",
        tmp_path / "fw",
        env={"PATH": str(python_only)},
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: arm-none-eabi-gcc is not installed: it comes with Debian's gcc-arm-none-eabi (sudo apt-get install "
        "gcc-arm-none-eabi, or `make firmware-tools` in this checkout). Received: no arm-none-eabi-gcc on PATH"
    )
