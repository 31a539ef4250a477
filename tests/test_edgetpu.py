"""Edge TPU: the preflight on real converted models, the compiler log parser on published output, the driver."""

import dataclasses
import json
import os
import pathlib
import stat
import sys

import numpy as np
import pytest

from helpers import run_cli
from keras_resnet.errors import UserError
from keras_resnet.export import convert
from keras_resnet.lite import edgetpu, edgetpu_compiler, flatbuffer
from keras_resnet.models import specs

LOGS = pathlib.Path(__file__).parent / "data" / "edgetpu_logs"
FAST_REGISTRY = {"resnet8", "resnet20", "plain20", "resnet18"}


def calibration(shape, n=4):
    rng = np.random.default_rng(0)
    return convert.representative_from(rng.integers(0, 256, (n, *shape)).astype(np.float32))


def tiny_model(middle=None, input_shape=(8, 8, 3)):
    """conv -> [middle] -> conv -> global pool -> dense: small enough to convert in seconds."""
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    if middle is not None:
        x = middle(x)
    x = keras.layers.Conv2D(4, 3, padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def int8_bytes(model, shape=(8, 8, 3)):
    return convert.convert_keras(model, "int8", calibration(shape), "int8")


def reasons(report):
    return [reason for row in report["operators"] for reason in row["reasons"]]


# --- preflight ------------------------------------------------------------------------------------------


def registry_params():
    for name in specs.list_models():
        marks = [] if name in FAST_REGISTRY else [pytest.mark.slow]
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", registry_params())
def test_every_registered_int8_model_maps_fully(name):
    """What our converter makes from the registry runs entirely on the Edge TPU (option A included)."""
    from keras_resnet.models.builders import create_model

    spec = specs.get_spec(name)
    size = 32 if spec.family == "cifar" else 64  # the op set does not depend on the input size
    model = create_model(name, input_shape=(size, size, 3), preprocess="cifar10")
    report = edgetpu.preflight(flatbuffer.read(int8_bytes(model, (size, size, 3))))
    assert report["fully_mapped"], report["first_unmappable"]
    assert report["operations_cpu"] == 0 and report["operations_edgetpu"] == report["operations"] > 0
    params = report["parameters"]
    assert params["bytes"] > 0 and params["on_chip_estimate"] + params["off_chip_estimate"] == params["bytes"]
    assert params["on_chip_estimate"] == min(params["bytes"], edgetpu.CACHE_BYTES)  # ResNet-18: 11.7 MB streams


def test_float_model_is_flagged_for_its_float_tensors():
    data = convert.convert_keras(tiny_model(), "float32")
    report = edgetpu.preflight(flatbuffer.read(data))
    assert not report["fully_mapped"]
    assert report["first_unmappable"]["index"] == 0
    assert any("float32 activation" in r and "8-bit quantized" in r for r in report["first_unmappable"]["reasons"])
    assert report["operations_edgetpu"] == 0


def test_dynamic_shape_model_is_flagged():
    """Height and width unknown at conversion (-1 in the shape signature) cannot be compiled. Our converter
    fixes every size; TensorFlow's documented recipe keeps unknown ones unknown."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(tiny_model(input_shape=(None, None, 3)))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = calibration((8, 8, 3))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    report = edgetpu.preflight(flatbuffer.read(converter.convert()))
    assert not report["fully_mapped"]
    assert any("dynamic shape [-1, -1, -1, 3]" in r for r in report["first_unmappable"]["reasons"])


def test_unsupported_op_cuts_the_graph_there():
    """HARD_SWISH is not on Coral's list: mapped before it, the op itself and everything after on the CPU."""
    import keras

    model = tiny_model(middle=keras.layers.Activation("hard_swish"))
    parsed = flatbuffer.read(int8_bytes(model))
    report = edgetpu.preflight(parsed)
    cut = report["first_unmappable"]
    assert cut["op"] == "HARD_SWISH"
    assert cut["reasons"] == ["HARD_SWISH is not an operation the Edge TPU supports"]
    statuses = [row["status"] for row in report["operators"]]
    assert statuses == ["edgetpu"] * cut["index"] + ["cpu"] * (len(statuses) - cut["index"])
    assert all("follows operator" in row["reasons"][0] for row in report["operators"][cut["index"] + 1 :])
    first_conv = parsed.operators[0]
    assert report["parameters"]["bytes"] == sum(parsed.tensors[i].data_bytes for i in first_conv.inputs[1:])


def test_op_constraints_fused_activation_and_batch_padding():
    """Per-op constraints come from the options and constant inputs in the file, not from names."""
    import keras

    pool = keras.layers.MaxPooling2D(2)
    parsed = flatbuffer.read(int8_bytes(tiny_model(middle=pool)))
    op = next(o for o in parsed.operators if o.opcode == "MAX_POOL_2D")
    assert edgetpu.op_problems(parsed, op) == []
    fused = dataclasses.replace(op, options={**op.options, "fusedActivationFunction": 1})
    assert edgetpu.op_problems(parsed, fused) == [
        "has a fused RELU activation; the Edge TPU runs MAX_POOL_2D only without one"
    ]


# --- the reader on damaged files ------------------------------------------------------------------------


def test_reader_refuses_damaged_files_with_a_user_error():
    data = int8_bytes(tiny_model())
    rng = np.random.default_rng(0)
    outcomes = set()
    for i in range(300):
        damaged = bytearray(data[: rng.integers(8, len(data))] if i % 3 == 0 else data)
        for _ in range(0 if i % 3 == 0 else rng.integers(1, 30)):
            damaged[rng.integers(0, len(damaged))] = rng.integers(0, 256)
        try:
            flatbuffer.read(bytes(damaged))
            outcomes.add("read")
        except UserError as err:
            assert "Received:" in str(err)
            outcomes.add("refused")
    assert "refused" in outcomes
    with pytest.raises(UserError, match="no TFL3 identifier"):
        flatbuffer.read(b"PK\x03\x04" + bytes(100))


# --- the compiler's log -----------------------------------------------------------------------------------


def test_log_all_mapped_v16():
    report = edgetpu_compiler.parse_compiler_log((LOGS / "v16_all_mapped.txt").read_text())
    assert report["version"] == "16.0.384591198" and report["compile_ms"] == 542
    assert report["on_chip_bytes"] == 619008 and report["on_chip_remaining_bytes"] == 523776
    assert report["off_chip_bytes"] == round(3.45 * 2**20)
    assert report["subgraphs"] == 1 and report["operations"] == 50
    assert report["operations_edgetpu"] == 50 and report["operations_cpu"] == 0
    assert report["operation_log"] == "quantized_model_edgetpu.log"
    assert report["fully_mapped"] and report["errors"] == []


def test_log_partial_v15():
    report = edgetpu_compiler.parse_compiler_log((LOGS / "v15_partial.txt").read_text())
    assert (report["operations_edgetpu"], report["operations_cpu"], report["subgraphs"]) == (23, 2, 3)
    assert report["off_chip_bytes"] == 0 and report["input_bytes"] == round(1.40 * 2**20)
    assert report["op_counts"] == [{"op": "RESHAPE", "count": 2, "status": "Mapped to Edge TPU"}]
    assert not report["fully_mapped"]


def test_log_file_format_table():
    report = edgetpu_compiler.parse_compiler_log((LOGS / "v16_operation.log").read_text())
    assert report["input_model"] == "model.tflite" and report["output_model"] == "model_edgetpu.tflite"
    assert len(report["op_counts"]) == 10
    assert {"op": "CUSTOM", "count": 1, "status": "Operation is working on an unsupported data type"} in report[
        "op_counts"
    ]
    assert (report["operations_edgetpu"], report["operations_cpu"]) == (192, 1)


def test_log_v2_1_subgraph_rows():
    report = edgetpu_compiler.parse_compiler_log((LOGS / "v2_1_subgraph.txt").read_text())
    assert report["on_chip_remaining_bytes"] == round(7.75 * 1024)
    assert [r["status"] for r in report["op_counts"]].count("More than one subgraph is not supported") == 2
    assert (report["operations_edgetpu"], report["operations_cpu"]) == (83, 10)


def test_log_error_line():
    report = edgetpu_compiler.parse_compiler_log((LOGS / "error_dynamic.txt").read_text())
    assert report["errors"] == [(LOGS / "error_dynamic.txt").read_text().strip()]
    assert not report["fully_mapped"]


# --- the driver, with a stand-in executable (process handling only) ---------------------------------------


def stand_in(tmp_path, body: str) -> pathlib.Path:
    """An executable named edgetpu_compiler in its own folder, running `body` (Python) with argv."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    script = folder / edgetpu_compiler.COMPILER
    script.write_text(f"#!{sys.executable}\nimport os, shutil, sys, time\nargs = sys.argv[1:]\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


SUCCEEDS = f"""
out, model = args[args.index('-o') + 1], args[-1]
stem = os.path.splitext(os.path.basename(model))[0]
shutil.copy(model, os.path.join(out, stem + '_edgetpu.tflite'))
shutil.copy({str(LOGS / "v16_operation.log")!r}, os.path.join(out, stem + '_edgetpu.log'))
print(open({str(LOGS / "v16_all_mapped.txt")!r}).read())
"""


@pytest.fixture(scope="module")
def tiny_tflite(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.tflite"
    path.write_bytes(int8_bytes(tiny_model()))
    return path


def test_driver_moves_outputs_into_place_and_parses(tmp_path, tiny_tflite):
    compiler = stand_in(tmp_path, SUCCEEDS)
    out = tmp_path / "out"
    out.mkdir()
    report = edgetpu_compiler.compile_model(tiny_tflite, out, str(compiler))
    assert sorted(os.listdir(out)) == ["tiny_edgetpu.log", "tiny_edgetpu.tflite"]
    assert (out / "tiny_edgetpu.tflite").read_bytes() == tiny_tflite.read_bytes()
    assert report["output"] == str(out / "tiny_edgetpu.tflite") and report["on_chip_bytes"] == 619008
    assert report["op_counts"][0]["op"] == "STRIDED_SLICE"  # the per-op table came from the .log file


def test_driver_reports_the_compilers_error_and_leaves_nothing(tmp_path, tiny_tflite):
    message = (LOGS / "error_dynamic.txt").read_text()
    compiler = stand_in(tmp_path, f"print({message!r}); sys.exit(1)")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UserError, match="failed \\(exit 1\\): ERROR: Attempting to use a delegate"):
        edgetpu_compiler.compile_model(tiny_tflite, out, str(compiler))
    assert os.listdir(out) == []


def test_driver_stops_a_hanging_compiler(tmp_path, tiny_tflite):
    compiler = stand_in(tmp_path, "time.sleep(60)")
    with pytest.raises(UserError, match="did not finish within 1 s"):
        edgetpu_compiler.compile_model(tiny_tflite, tmp_path, str(compiler), timeout=1)
    assert not (tmp_path / "tiny_edgetpu.tflite").exists()


def test_cli_without_compiler_explains_install_and_still_preflights(tmp_path, tiny_tflite):
    result = run_cli("resnet-tflite", "edgetpu", tiny_tflite, "--out", tmp_path, env={"PATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "edgetpu_compiler is not on PATH" in result.stderr and "apt-get install edgetpu-compiler" in result.stderr
    assert "verdict: fully mapped" in result.stdout
    assert (tmp_path / "tiny_edgetpu_report.json").exists()


def test_cli_compiles_with_the_compiler_on_path(tmp_path, tiny_tflite):
    compiler = stand_in(tmp_path, SUCCEEDS)
    out = tmp_path / "out"
    result = run_cli(
        "resnet-tflite", "edgetpu", tiny_tflite, "--out", out, "--json", env={"PATH": str(compiler.parent)}
    )
    assert result.returncode == 0, result.stderr
    assert (out / "tiny_edgetpu.tflite").exists() and '"on_chip_bytes": 619008' in result.stdout


def test_cli_exit_code_says_not_fully_mapped(tmp_path):
    path = tmp_path / "float.tflite"
    path.write_bytes(convert.convert_keras(tiny_model(), "float32"))
    result = run_cli("resnet-tflite", "edgetpu", path, "--check-only")
    assert result.returncode == 3
    assert "cut at operator 0" in result.stdout and "NOT fully mapped" in result.stdout


def test_cli_damaged_file_is_one_error_line(tmp_path):
    path = tmp_path / "bad.tflite"
    path.write_bytes(b"\x18\x00\x00\x00TFL3" + bytes(40))
    result = run_cli("resnet-tflite", "edgetpu", path, "--check-only")
    assert result.returncode == 1 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_python_edgetpu_returns_what_the_command_prints(tmp_path, tiny_tflite, monkeypatch):
    import keras_resnet as kr

    report = kr.edgetpu(tiny_tflite, tmp_path, check_only=True)
    assert report == json.loads((tmp_path / "tiny_edgetpu_report.json").read_text())
    assert report["fully_mapped"] and "compiler" not in report and report["model"] == str(tiny_tflite)
    result = run_cli("resnet-tflite", "edgetpu", tiny_tflite, "--out", tmp_path, "--check-only", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == report
    # without the compiler: the preflight's verdict, and how to install it
    monkeypatch.setattr(edgetpu_compiler, "find_compiler", lambda: None)
    without = kr.edgetpu(tiny_tflite, tmp_path / "new")
    assert without["compiler"] == {"available": False, "message": edgetpu_compiler.INSTALL_HINT}
    assert (
        without["fully_mapped"] == report["fully_mapped"] and (tmp_path / "new" / "tiny_edgetpu_report.json").exists()
    )
