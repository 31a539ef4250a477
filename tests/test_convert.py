"""Conversion: int8 that keeps its accuracy, its metadata, verification, eval, QAT, pruning, damaged files."""

import json
import os

import numpy as np
import pytest

import keras_resnet as kr
from helpers import run_cli
from keras_resnet.export import convert
from keras_resnet.lite import metadata
from keras_resnet.lite.runtime import TFLiteModel
from keras_resnet.models import specs


def op_names_and_dtypes(tflite_bytes):
    """Builtin op names and the dtypes of every tensor, as the interpreter sees them (no delegate)."""
    model = TFLiteModel(tflite_bytes, xnnpack=False)
    ops = {op["op_name"] for op in model.interpreter._get_ops_details()}
    dtypes = {np.dtype(t["dtype"]).name for t in model.interpreter.get_tensor_details()}
    return ops, dtypes


def random_calibration(shape, n=8):
    rng = np.random.default_rng(0)
    return convert.representative_from(rng.integers(0, 256, (n, *shape)).astype(np.float32))


@pytest.mark.parametrize("io,dtype", [("int8", "int8"), ("uint8", "uint8"), ("float", "float32")])
def test_int8_models_have_the_asked_io_and_only_int8_builtins(io, dtype):
    model = kr.ResNet8(preprocess="cifar10")
    tflite = convert.convert_keras(model, "int8", random_calibration((32, 32, 3)), io)
    record = TFLiteModel(tflite).io_record()
    assert record["input"]["dtype"] == dtype and record["output"]["dtype"] == dtype
    if io != "float":
        assert record["input"]["scale"] > 0 and record["output"]["scale"] > 0
    ops, dtypes = op_names_and_dtypes(tflite)
    boundary = {"QUANTIZE", "DEQUANTIZE"} if io == "float" else {"QUANTIZE"}  # float io converts at the edges
    assert not any(
        op.startswith("Flex") or op == "CUSTOM" or (op.endswith("QUANTIZE") and op not in boundary) for op in ops
    )
    assert dtypes <= {"int8", "int32"} | ({"uint8"} if io == "uint8" else set()) | (
        {"float32"} if io == "float" else set()
    )


def test_raw_pixel_input_quantization_is_identity_like():
    """Preprocessing is in the graph: a uint8 model's input is the pixel itself (scale 1, zero point 0)."""
    tflite = convert.convert_keras(
        kr.ResNet8(preprocess="cifar10"), "int8", random_calibration((32, 32, 3), 32), "uint8"
    )
    record = TFLiteModel(tflite).io_record()["input"]
    assert abs(record["scale"] - 1.0) < 0.01 and record["zero_point"] == 0


def test_convert_cli_writes_model_metadata_and_verification(trained, cifar_jpg, tmp_path):
    out = tmp_path / "model.tflite"
    result = run_cli(
        "resnet-tflite",
        "convert",
        trained,
        "--out",
        out,
        "--int8",
        "--calib",
        f"folder:{cifar_jpg}",
        "--calib-samples",
        200,
        "--verify",
        f"folder:{cifar_jpg}",
        "--limit",
        1000,
    )
    assert result.returncode == 0, result.stderr
    tflite = out.read_bytes()
    embedded = metadata.read(tflite)
    sidecar = json.loads((tmp_path / "model.json").read_text())
    assert embedded == sidecar
    assert sidecar["classes"][0] == "airplane" and len(sidecar["classes"]) == 10
    assert sidecar["preprocessing"]["in_graph"] and sidecar["preprocessing"]["mean"][0] == pytest.approx(125.31)
    assert sidecar["input"]["dtype"] == "int8" and sidecar["calibration"]["samples"] == 200
    report = json.loads((tmp_path / "model.eval.json").read_text())["verification"]
    assert report["keras"]["top1"] > 0.3  # well above chance (0.1): the model learned
    assert report["agreement_top1"] >= 0.95
    assert abs(report["keras"]["top1"] - report["tflite"]["top1"]) <= 0.02
    # eval on the converted file agrees with the verification's TFLite figure
    result = run_cli("resnet-tflite", "eval", out, "--data", f"folder:{cifar_jpg}", "--limit", 1000)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "model.eval.json").read_text())["top1"] == pytest.approx(report["tflite"]["top1"])
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary files left


@pytest.mark.parametrize("mode", ["fp16", "dynamic", "int16x8"])
def test_other_modes_stay_close_to_keras(mode):
    model = kr.ResNet8(preprocess="cifar10")
    x = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3)).astype(np.float32)
    tflite = convert.convert_keras(model, mode, convert.representative_from(x) if mode == "int16x8" else None)
    out = TFLiteModel(tflite).run(x)
    np.testing.assert_allclose(out, model.predict(x, verbose=0), atol=0.02)


def test_qat_fine_tunes_and_converts_to_an_accurate_int8_model(trained, cifar_jpg, tmp_path):
    out = tmp_path / "qat.tflite"
    result = run_cli(
        "resnet-tflite",
        "convert",
        trained,
        "--out",
        out,
        "--int8",
        "--qat",
        "--data",
        f"folder:{cifar_jpg}",
        "--train-samples",
        1000,
        "--calib",
        f"folder:{cifar_jpg}",
        "--calib-samples",
        100,
        "--verify",
        f"folder:{cifar_jpg}",
        "--limit",
        500,
    )
    assert result.returncode == 0, result.stderr
    ops, _ = op_names_and_dtypes(out.read_bytes())
    assert "CONV_2D" in ops and not any(op.startswith("Flex") for op in ops)
    report = json.loads((tmp_path / "qat.eval.json").read_text())["verification"]
    assert report["tflite"]["top1"] > 0.3 and report["agreement_top1"] >= 0.8


def test_pruning_reaches_its_sparsity_and_compresses(trained, cifar_jpg, tmp_path):
    plain = tmp_path / "plain.tflite"
    run_cli("resnet-tflite", "convert", trained, "--out", plain)
    out = tmp_path / "pruned.tflite"
    result = run_cli(
        "resnet-tflite",
        "convert",
        trained,
        "--out",
        out,
        "--magnitude-prune",
        0.6,
        "--data",
        f"folder:{cifar_jpg}",
        "--train-samples",
        1000,
        "--epochs",
        2,
        "--verify",
        f"folder:{cifar_jpg}",
        "--limit",
        300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "pruned.eval.json").read_text())
    assert 0.55 <= report["sparsity"] <= 0.65
    import gzip

    assert report["gzip_bytes"] < 0.75 * len(gzip.compress(plain.read_bytes(), 9))
    assert report["verification"]["tflite"]["top1"] > 0.2


def registry_walk():
    slow = {"resnet34", "resnet50", "resnet101", "resnet152", "resnet110", "resnet1202", "plain34"}
    return [pytest.param(n, marks=pytest.mark.slow) if n in slow else n for n in specs.list_models()]


@pytest.mark.parametrize("name", registry_walk())
def test_every_registered_model_converts_to_int8_builtins(name):
    shape = (32, 32, 3) if specs.REGISTRY[name].family == "cifar" else (64, 64, 3)
    tflite = convert.convert_keras(kr.create_model(name, input_shape=shape), "int8", random_calibration(shape, 4))
    ops, dtypes = op_names_and_dtypes(tflite)
    assert dtypes <= {"int8", "int32"}, dtypes
    assert not any(op.startswith("Flex") or op in ("CUSTOM", "DEQUANTIZE") for op in ops)


@pytest.mark.parametrize("content", [b"", b"TFL3" * 3, b"\x00\x00\x00\x00TFL3" + bytes(range(256)) * 4])
def test_eval_refuses_empty_truncated_and_corrupt_files(content, tmp_path, cifar_jpg):
    path = tmp_path / "bad.tflite"
    path.write_bytes(content)
    result = run_cli("resnet-tflite", "eval", path, "--data", f"folder:{cifar_jpg}", "--limit", 10)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error:") and len(result.stderr.strip().splitlines()) == 1, result.stderr


def flatten_classifier(framework):
    """An image classifier of the kind people publish: conv, pool, Flatten, Dense (Keras 3 or Keras 2)."""
    api = __import__(framework)
    layers = api.layers
    api.utils.set_random_seed(0)
    return api.Sequential(
        [
            api.Input((16, 16, 3)),
            layers.Rescaling(1 / 255),
            layers.Conv2D(8, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )


DYNAMIC_SHAPE_OPS = {"SHAPE", "STRIDED_SLICE", "PACK"}


@pytest.mark.parametrize("saved_as", ["keras2.h5", "keras3.keras"])
def test_a_flatten_classifier_converts_to_static_operators_only(saved_as, tmp_path):
    # set up: the model saved as its authors would, labelled images
    from keras_resnet.lite import edgetpu, flatbuffer

    net = flatten_classifier("tf_keras" if saved_as.endswith(".h5") else "keras")
    path = tmp_path / saved_as
    net.save(path)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "images.npz", x=rng.integers(0, 256, (60, 16, 16, 3), dtype=np.uint8), y=np.arange(60) % 10)
    out = tmp_path / "model.tflite"
    # invoke
    result = run_cli(
        "resnet-tflite",
        "convert",
        path,
        "--out",
        out,
        "--int8",
        "--calib",
        f"npz:{tmp_path / 'images.npz'}",
        "--verify",
        f"npz:{tmp_path / 'images.npz'}",
    )
    # validate
    assert result.returncode == 0, result.stderr
    model = flatbuffer.read(out.read_bytes())
    assert model.op_names() == ["CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    assert model.tensors[model.inputs[0]].shape_signature == (1, 16, 16, 3)
    assert edgetpu.preflight(model)["fully_mapped"]
    verification = json.loads((tmp_path / "model.eval.json").read_text())["verification"]
    assert verification["agreement_top1"] >= 0.9 and verification["max_abs_output_error"] <= 0.05, verification


def test_the_documented_recipe_leaves_the_batch_dynamic_on_the_same_model():
    """What the test above guards against: TFLiteConverter.from_keras_model (TF 2.21, Keras 3) on that model."""
    import tensorflow as tf

    from keras_resnet.lite import flatbuffer

    converter = tf.lite.TFLiteConverter.from_keras_model(flatten_classifier("keras"))
    assert DYNAMIC_SHAPE_OPS <= set(flatbuffer.read(converter.convert()).op_names())


@pytest.fixture
def tiny(tmp_path):
    """A small ResNet-8 saved as a .keras file, and an npz source of 16x16 images with three named classes."""
    kr_model = kr.ResNet8(input_shape=(16, 16, 3), classes=3, width=0.25, preprocess="cifar10")
    path = tmp_path / "tiny.keras"
    kr_model.save(path)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (24, 16, 16, 3), dtype=np.uint8), np.arange(24) % 3
    np.savez(
        tmp_path / "images.npz",
        x_train=x,
        y_train=y,
        x_test=x[:9],
        y_test=y[:9],
        classes=np.array(["cat", "dog", "frog"]),
    )
    return kr_model, path, f"npz:{tmp_path / 'images.npz'}"


def test_convert_from_python_carries_class_names_and_returns_what_the_command_prints(tiny, tmp_path):
    net, path, data = tiny
    (tmp_path / "py").mkdir()
    (tmp_path / "cli").mkdir()
    request = {"mode": "int8", "calib": data, "calib_samples": 12, "verify": data, "limit": 9}

    result = kr.convert(net, tmp_path / "py" / "tiny.tflite", **request)

    tflite = (tmp_path / "py" / "tiny.tflite").read_bytes()
    embedded = metadata.read(tflite)
    assert embedded["classes"] == ["cat", "dog", "frog"] and embedded["input"]["dtype"] == "int8"
    assert embedded == json.loads((tmp_path / "py" / "tiny.json").read_text())
    assert result["bytes"] == len(tflite) and result["out"] == str(tmp_path / "py" / "tiny.tflite")
    assert {key: result[key] for key in embedded} == embedded  # the record, plus the report
    assert result["verification"]["tflite"]["images"] == 9
    assert result["eval_report"] == str(tmp_path / "py" / "tiny.eval.json")
    done = run_cli(
        "resnet-tflite",
        "convert",
        path,
        "--out",
        tmp_path / "cli" / "tiny.tflite",
        "--int8",
        "--calib",
        data,
        "--calib-samples",
        12,
        "--verify",
        data,
        "--limit",
        9,
        "--json",
    )
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    paths = {"out", "sidecar", "eval_report", "latency_p50_ms_1thread"}  # where it was written, a timing
    assert set(printed) == set(result)
    assert {k: v for k, v in printed.items() if k not in paths | {"converter"}} == {
        k: v for k, v in result.items() if k not in paths | {"converter"}
    }
    evaluated = kr.evaluate(tmp_path / "py" / "tiny.tflite", data, limit=9)
    assert evaluated["top1"] == pytest.approx(result["verification"]["tflite"]["top1"]) and evaluated["images"] == 9


def test_a_bad_request_names_the_python_argument_and_the_command_its_flag(tmp_path):
    with pytest.raises(ValueError) as err:
        kr.convert("resnet8", tmp_path / "x.tflite", mode="int8")
    assert "pass calib=SOURCE" in str(err.value) and str(err.value).endswith("Received: calib=None")
    assert not (tmp_path / "x.tflite").exists()
    done = run_cli("resnet-tflite", "convert", "resnet8", "--out", tmp_path / "x.tflite", "--int8")
    assert done.returncode == 1 and done.stderr.startswith(
        "error: --int8 needs calibration images: pass --calib SOURCE"
    )
    assert done.stderr.strip().endswith("Received: --calib None") and "calib=" not in done.stderr
    with pytest.raises(ValueError, match=r"Received: magnitude_prune=1.5"):
        kr.convert("resnet8", tmp_path / "x.tflite", magnitude_prune=1.5, data="npz:x.npz")
    with pytest.raises(ValueError, match=r"add mode='int8'\. Received: mode='float32' with qat=True"):
        kr.convert("resnet8", tmp_path / "x.tflite", qat=True, data="npz:x.npz")
