"""Firmware on the other cores: the reference kernels on the Cortex-M4, float models on its FPU
(cortex-m4+fp) and refused without it, the same program on the host, and a board larger than QEMU's built
and sized without a run. The default target (Cortex-M55, CMSIS-NN): test_firmware.py.

Apart from that file, so that the two build their TFLite-Micro libraries in parallel test workers."""

import os
import subprocess

import pytest
from firmware_support import check_instructions, check_outputs, firmware

pytestmark = pytest.mark.usefixtures("firmware_cache")


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
