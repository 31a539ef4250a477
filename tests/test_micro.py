"""TFLite-Micro export: C array round trip, the measured arena, TFLM vs LiteRT parity, budgets, the CLI."""

import json
import shutil
import subprocess

import numpy as np
import pytest

import keras_resnet as kr
from helpers import ROOT, run_cli
from keras_resnet import sources
from keras_resnet.export import convert
from keras_resnet.lite import flatbuffer, micro, tflm
from keras_resnet.lite.runtime import TFLiteModel

ROUNDTRIP_C = ROOT / "tflite" / "micro" / "roundtrip_test.c"
KIB = 1024


def random_calibration(shape, n=8):
    rng = np.random.default_rng(0)
    return convert.representative_from(rng.integers(0, 256, (n, *shape)).astype(np.float32))


@pytest.fixture(scope="module")
def resnet8_int8():
    """ResNet-8 (default option-A shortcuts) as int8 TFLite bytes."""
    return convert.convert_keras(kr.ResNet8(preprocess="cifar10"), "int8", random_calibration((32, 32, 3)))


def compile_roundtrip(tmp_path, out, name):
    """The host-side C test built with the system compiler against the generated array."""
    data_object = tmp_path / "model_data.o"
    subprocess.run(
        ["cc", "-c", "-Wall", "-Werror", f"-I{out}", str(out / f"{name}_model_data.cc"), "-o", str(data_object)],
        check=True,
        capture_output=True,
        text=True,
    )
    binary = tmp_path / "roundtrip"
    subprocess.run(
        [
            "cc",
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{out}",
            f'-DMODEL_HEADER="{name}_model_data.h"',
            f"-DMODEL_DATA=g_{name}_model_data",
            f"-DMODEL_LEN=g_{name}_model_data_len",
            str(ROUNDTRIP_C),
            str(data_object),
            "-o",
            str(binary),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return binary


@pytest.mark.skipif(shutil.which("cc") is None, reason="no system C compiler")
def test_c_array_round_trips_to_the_exact_bytes(tmp_path, resnet8_int8):
    # set up: export, and a second model file that differs in one byte
    out = tmp_path / "out"
    out.mkdir()
    micro.export(resnet8_int8, out, "resnet8")
    model = tmp_path / "resnet8.tflite"
    model.write_bytes(resnet8_int8)
    changed = bytearray(resnet8_int8)
    changed[len(changed) // 2] ^= 0xFF
    other = tmp_path / "other.tflite"
    other.write_bytes(bytes(changed))
    # invoke: the compiled array against both files
    binary = compile_roundtrip(tmp_path, out, "resnet8")
    same = subprocess.run([str(binary), str(model)], capture_output=True, text=True)
    differs = subprocess.run([str(binary), str(other)], capture_output=True, text=True)
    # validate
    assert same.returncode == 0 and f"{len(resnet8_int8)} bytes equal" in same.stdout
    assert differs.returncode == 1 and f"byte {len(changed) // 2} differs" in differs.stderr
    assert "alignas(16) const unsigned char g_resnet8_model_data[]" in (out / "resnet8_model_data.cc").read_text()


def test_arena_is_the_smallest_that_works_and_monotone(resnet8_int8):
    model = flatbuffer.read(resnet8_int8)
    x = tflm.zeros_input(model)
    measured = tflm.measure_arena(resnet8_int8, model)
    for size in (measured, measured + 1, measured + 4 * KIB, 2 * measured):
        assert tflm.runs_with_arena(resnet8_int8, size, x), size
    for size in (measured - 1, measured - 16, measured // 2, 1024):
        assert not tflm.runs_with_arena(resnet8_int8, size, x), size
    assert micro.recommended_arena(measured) >= measured * (1 + micro.ARENA_MARGIN)


def test_resnet8_int8_fits_256k_flash_and_128k_ram(resnet8_int8):
    """MLPerf Tiny's image-classification size class, with the default option-A shortcuts."""
    result = micro.budget(resnet8_int8)
    assert result["flash_bytes"] <= 256 * KIB
    assert result["arena"]["recommended_bytes"] <= 128 * KIB
    assert result["boards"][0]["fits"]


def test_resolver_and_settings_match_the_model(tmp_path, resnet8_int8):
    report = micro.export(resnet8_int8, tmp_path, "resnet8")
    resolver = (tmp_path / "resnet8_op_resolver.h").read_text()
    ops = flatbuffer.read(resnet8_int8).op_names()
    assert f"constexpr int kOpCount = {len(ops)};" in resolver
    assert resolver.count("TF_LITE_ENSURE_STATUS(resolver.Add") == len(ops) == len(set(ops))
    assert [line.split(".")[1].split("(")[0] for line in resolver.splitlines() if "resolver.Add" in line] == [
        micro.resolver_method(op) for op in ops
    ]
    settings = (tmp_path / "resnet8_model_settings.h").read_text()
    litert = TFLiteModel(resnet8_int8)
    scale, zero_point = litert.input["quantization"]
    assert f"constexpr float kInputScale = {scale!r}f;" in settings
    assert f"constexpr int kInputZeroPoint = {zero_point};" in settings
    assert f"constexpr int kTensorArenaSize = {report['arena']['recommended_bytes']};" in settings
    assert "constexpr int kInputHeight = 32;" in settings and "kNumClasses = 10" in settings


def test_resolver_methods_follow_the_schema_names_as_tflm_spells_them(tflm_tree):
    """Every builtin TFLite-Micro's resolver registers gets the method micro_mutable_op_resolver.h defines
    for it, derived from the schema name alone."""
    import re

    header = (tflm_tree / "tensorflow/lite/micro/micro_mutable_op_resolver.h").read_text()
    method = r"TfLiteStatus (Add\w+)\((?:(?!TfLiteStatus).)*?AddBuiltin\(\s*BuiltinOperator_(\w+)"
    pairs = re.findall(method, header, re.S)
    assert len(pairs) > 90
    assert {op: micro.resolver_method(op) for _, op in pairs} == {op: method for method, op in pairs}


def test_a_custom_operator_is_refused_in_one_line(tmp_path, resnet8_int8):
    from keras_resnet.errors import UserError

    graph = flatbuffer.unpack(resnet8_int8)
    code = graph.operatorCodes[graph.subgraphs[0].operators[0].opcodeIndex]
    code.builtinCode = code.deprecatedBuiltinCode = 32  # BuiltinOperator.CUSTOM
    code.customCode = "MyConv"
    with pytest.raises(UserError, match=r"custom operators.*: MyConv\. "):
        micro.resolver_methods(flatbuffer.read(flatbuffer.pack(graph)))


def test_firmware_refuses_an_operator_the_tflm_tree_has_no_kernel_for(tmp_path):
    from keras_resnet.errors import UserError
    from keras_resnet.lite.firmware import library

    header = tmp_path / library.RESOLVER
    header.parent.mkdir(parents=True)
    header.write_text("return AddBuiltin(BuiltinOperator_CONV_2D, registration, ParseConv2D);\n")
    library.check_kernels(library.Tree(str(tmp_path)), ["CONV_2D"])
    with pytest.raises(UserError, match=r"has no kernel for GELU \(") as error:
        library.check_kernels(library.Tree(str(tmp_path)), ["CONV_2D", "GELU"])
    assert "\n" not in str(error.value)


@pytest.fixture(scope="module")
def cifar_int8(cifar_jpg):
    """ResNet-8 (fixed seed) calibrated on real CIFAR-10 images, with softmax and with logits; test images."""
    import keras

    from keras_resnet.models.builders import create_model

    calib = sources.load(f"folder:{cifar_jpg}", "train", limit=64)
    rep = convert.representative_from(calib.x.astype(np.float32))
    keras.utils.set_random_seed(0)
    with_softmax = convert.convert_keras(create_model("resnet8", preprocess="cifar10"), "int8", rep)
    logits = convert.convert_keras(
        create_model("resnet8", preprocess="cifar10", classifier_activation=None), "int8", rep
    )
    return with_softmax, logits, sources.load(f"folder:{cifar_jpg}", "test", limit=100)


@pytest.mark.parametrize("which", ["logits", "softmax"])
def test_tflm_matches_litert_on_cifar(cifar_int8, which):
    """Against LiteRT's reference kernels: bit-exact on nearly every image, a few LSB at most elsewhere."""
    with_softmax, logits, images = cifar_int8
    data = logits if which == "logits" else with_softmax
    result = micro.parity(data, flatbuffer.read(data), images.x.astype(np.float32), 128 * KIB)
    reference = result["litert_reference_kernels"]
    assert reference["bit_exact_images"] >= 0.95 * result["images"]
    assert reference["max_abs_diff"] <= micro.PARITY_TOLERANCE_LSB
    assert reference["top1_agreement"] == 1.0
    # LiteRT's default (optimised, XNNPACK) kernels round intermediates differently: a few LSB, same answers
    assert result["litert_default"]["top1_agreement"] >= 0.95


def test_cli_micro_writes_sources_and_report(tmp_path, resnet8_int8):
    model = tmp_path / "ResNet-8.tflite"
    model.write_bytes(resnet8_int8)
    result = run_cli("resnet-tflite", "micro", model, "--out", tmp_path / "gen")
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "gen").iterdir())
    assert names == [
        "model.h",
        "resnet_8_micro.json",
        "resnet_8_model_data.cc",
        "resnet_8_model_data.h",
        "resnet_8_model_settings.h",
        "resnet_8_op_resolver.h",
    ]
    report = json.loads((tmp_path / "gen" / "resnet_8_micro.json").read_text())
    assert report["flash_bytes"] == len(resnet8_int8) and f"{report['arena']['measured_bytes']:,}" in result.stdout


def test_cli_micro_refuses_an_operator_tflm_lacks(tmp_path):
    import keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="gelu")(inputs))
    path = tmp_path / "float.tflite"
    path.write_bytes(convert.convert_keras(model, "float32"))
    result = run_cli("resnet-tflite", "micro", path, "--out", tmp_path)
    assert result.returncode == 1 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_python_micro_returns_what_the_command_prints(tmp_path, resnet8_int8):
    from keras_resnet.errors import UserError

    model = tmp_path / "r8.tflite"
    model.write_bytes(resnet8_int8)
    report = kr.micro(model, tmp_path / "gen")
    assert report == json.loads((tmp_path / "gen" / "r8_micro.json").read_text())
    assert report["out"] == str(tmp_path / "gen") and report["flash_bytes"] == len(resnet8_int8)
    result = run_cli("resnet-tflite", "micro", model, "--out", tmp_path / "gen", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == report
    # a bad request names the Python argument; the command spells it as its flag
    with pytest.raises(UserError, match=r"pass name=NAME\. Received: name='9lives'$"):
        kr.micro(model, tmp_path / "other", name="9lives")
    result = run_cli("resnet-tflite", "micro", model, "--out", tmp_path / "other", "--name", "9lives")
    assert result.returncode == 1 and result.stderr.strip().endswith("pass --name NAME. Received: --name 9lives")
    assert not (tmp_path / "other").exists()
