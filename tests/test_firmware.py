"""Firmware that is built and run: TFLite-Micro's library from the vendored tree, bare-metal ELFs for Cortex-M
cores run in QEMU, the same program on the host, every output against the host's TFLite-Micro and LiteRT.

Needs Debian's toolchain (`make firmware-tools`; CI runs it) and ../shared/vendor/tflite-micro.tar.gz;
skipped, saying which is missing, without them. Libraries are cached in .cache/firmware across runs."""

import json
import os
import shutil
import subprocess
import tarfile

import numpy as np
import pytest
from filelock import FileLock

from helpers import CACHE, ROOT, SHARED, run_cli

TARBALL = SHARED / "vendor" / "tflite-micro.tar.gz"
RESNET20 = ROOT / "tflite" / "reference" / "resnet20_cifar10_jpg.keras"
TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-g++", "arm-none-eabi-size", "qemu-system-arm", "make")
KIB = 1024
# Where the sections of the Cortex_DFP linker script live: flash holds code, constants, the copy and zero tables
# and .data's initial values; RAM holds .data, .bss, the heap and the stack.
FLASH_SECTIONS = (".text", ".ARM.exidx", ".copy.table", ".zero.table", ".data")
RAM_SECTIONS = (".data", ".bss", ".heap", ".stack")


@pytest.fixture(scope="session")
def tflm_tree():
    """The vendored TFLite-Micro tree, extracted once into .cache/, and the toolchain present."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: run `make firmware-tools` (Debian packages, as root)")
    if not TARBALL.exists():
        pytest.skip(f"the vendored TFLite-Micro tree is not at {TARBALL}")
    tree = CACHE / "tflite-micro"
    CACHE.mkdir(exist_ok=True)
    with FileLock(f"{tree}.lock"):  # the test workers share it: one extracts, the others wait
        if not (tree / ".complete").exists():
            shutil.rmtree(tree, ignore_errors=True)
            tree.mkdir(parents=True)
            with tarfile.open(TARBALL) as archive:
                archive.extractall(tree, filter="tar")
            (tree / ".complete").touch()
    return next(p for p in tree.iterdir() if p.is_dir())


@pytest.fixture(autouse=True)
def library_cache(monkeypatch):
    monkeypatch.setenv("RESNET_TFLITE_CACHE", str(CACHE / "firmware"))


def int8_model(keras_model, cifar_jpg, path):
    from keras_resnet.export.convert import calibration_data, convert_keras, model_input_shape, representative_from

    images = calibration_data(f"folder:{cifar_jpg}", model_input_shape(keras_model), samples=100)
    path.write_bytes(convert_keras(keras_model, "int8", representative_from(images.x)))
    return path


@pytest.fixture(scope="module")
def resnet8(tmp_path_factory, cifar_jpg):
    """A full-width int8 ResNet-8 trained for two epochs on 2,000 CIFAR-10 (JPEG) images (seeded)."""
    import keras

    import keras_resnet as kr
    from keras_resnet import sources

    keras.utils.set_random_seed(0)
    net = kr.ResNet8(preprocess="cifar10")
    data = sources.load(f"folder:{cifar_jpg}", "train", limit=2000)
    net.compile(keras.optimizers.SGD(0.05, momentum=0.9), "sparse_categorical_crossentropy")
    net.fit(data.x.astype("float32"), data.y, batch_size=64, epochs=2, verbose=0)
    return int8_model(net, cifar_jpg, tmp_path_factory.mktemp("resnet8") / "resnet8.tflite")


@pytest.fixture(scope="module")
def resnet20(tmp_path_factory, cifar_jpg):
    """The trained reference ResNet-20 of tflite/reference/ as int8."""
    from keras_resnet.models.saving import load_keras_model

    return int8_model(load_keras_model(RESNET20), cifar_jpg, tmp_path_factory.mktemp("resnet20") / "resnet20.tflite")


def firmware(model, tflm_tree, out, *options):
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


def test_reference_kernels_on_cortex_m4(resnet8, tflm_tree, cifar_jpg, tmp_path):
    result, report = firmware(
        resnet8,
        tflm_tree,
        tmp_path / "fw",
        "--target",
        "cortex-m4",
        "--kernels",
        "reference",
        "--data",
        f"folder:{cifar_jpg}",
        "--limit",
        20,
    )
    assert result.returncode == 0, result.stderr
    check_outputs(report, 20)
    assert report["board"] == "mps2-an386" and report["kernels"] == "reference"
    counted = check_instructions(report, 20, resnet8)
    assert "clock" not in counted and counted["instructions_per_mac"] > 1


@pytest.fixture(scope="module")
def float_resnet8(tmp_path_factory):
    """A half-width ResNet-8 with Keras' seeded initial weights, converted float32 (TFLite's default): the
    normalisation in its graph, so that it takes the raw pixels as float32."""
    import keras

    import keras_resnet as kr
    from keras_resnet.export.convert import convert_keras

    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("float") / "r8_float.tflite"
    path.write_bytes(convert_keras(kr.ResNet8(preprocess="cifar10", width=0.5), "float32"))
    return path


def test_a_float_model_runs_on_the_cortex_m4_fpu_and_is_refused_without_it(
    float_resnet8, resnet8, tflm_tree, cifar_jpg, tmp_path
):
    data = ("--data", f"folder:{cifar_jpg}", "--limit", 4, "--kernels", "reference")
    result, report = firmware(float_resnet8, tflm_tree, tmp_path / "fw", "--target", "cortex-m4+fp", *data)
    assert result.returncode == 0, result.stderr
    assert report["target"] == "cortex-m4+fp" and report["board"] == "mps2-an386"
    # the float outputs: within a hair of the host's TFLite-Micro (another FPU, other roundings), the same class
    # as LiteRT's on every image
    outputs = report["outputs"]
    assert outputs["images"] == 4 and "max_abs_diff_steps" not in outputs["tflm_host"]
    assert outputs["tflm_host"]["max_abs_diff_relative"] < 1e-4 and outputs["tflm_host"]["output_range"] > 0
    assert outputs["litert"]["top1_agreement"] == 1.0, outputs
    assert "largest difference" in result.stdout and "steps" not in result.stdout
    # ... computed on the FPU: a hard-float ELF, single precision, its arguments in VFP registers
    attributes = subprocess.run(
        ["arm-none-eabi-readelf", "-A", str(tmp_path / "fw" / "firmware.elf")], capture_output=True, text=True
    ).stdout
    assert "Tag_ABI_VFP_args: VFP registers" in attributes and "Tag_FP_arch: VFPv4-D16" in attributes
    # ... and counted as an int8 model is
    check_instructions(report, 4, float_resnet8)
    # an int8 model runs on the hard-float target too, bit for bit
    result, report = firmware(resnet8, tflm_tree, tmp_path / "int8", "--target", "cortex-m4+fp", *data)
    assert result.returncode == 0, result.stderr
    check_outputs(report, 4)
    # the soft-float cortex-m4 refuses the float model in one line, naming the target that runs it
    refused, _ = firmware(float_resnet8, tflm_tree, tmp_path / "soft", "--target", "cortex-m4", *data)
    lines = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert refused.returncode == 1 and len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert "computes in floating point" in lines[0] and "build it for cortex-m4+fp" in lines[0]
    assert lines[0].endswith("Received: --target cortex-m4") and not (tmp_path / "soft").exists()


def test_the_same_program_on_the_host(resnet8, tflm_tree, cifar_jpg, tmp_path):
    result, report = firmware(
        resnet8, tflm_tree, tmp_path / "fw", "--target", "host", "--data", f"folder:{cifar_jpg}", "--limit", 20
    )
    assert result.returncode == 0, result.stderr
    check_outputs(report, 20)
    assert (tmp_path / "fw" / "firmware").exists() and report["stack"]["used_bytes"] == -1
    assert report["instructions"] is None and not (tmp_path / "fw" / "instructions.png").exists()  # not counted
    rerun = subprocess.run([str(tmp_path / "fw" / "run.sh")], capture_output=True, text=True)
    assert rerun.returncode == 0 and rerun.stdout.count("FW_OUT") == 20


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
    """A float32 model and an int8 one whose shapes are known only at run time (TF's documented recipe)."""
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


def test_a_firmware_for_a_board_larger_than_qemus_is_built_and_sized_without_a_run(resnet20, tflm_tree, tmp_path):
    result, report = firmware(
        resnet20,
        tflm_tree,
        tmp_path / "fw",
        "--target",
        "cortex-m4",
        "--kernels",
        "reference",
        "--flash",
        "8M",
        "--ram",
        "1M",
        "--no-run",
    )  # QEMU's board has 4 MB
    assert result.returncode == 0, result.stderr
    assert report["outputs"] is None and report["arena"]["target_used_bytes"] is None
    assert report["memory"]["split"]["flash"]["model"] == os.path.getsize(resnet20)
    assert (
        report["memory"]["split"]["ram"]["arena"] == report["arena"]["reserved_bytes"] > report["arena"]["host_bytes"]
    )
