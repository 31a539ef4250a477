"""Models this package did not make, with operators its ResNets never use, through `resnet-tflite firmware` and
`resnet-tflite micro`: a MobileNet-style image classifier (depthwise-separable convolutions, average pooling,
a reshape), a fully-connected classifier of 8x8 digit images and a keyword-spotting DS-CNN on 49x10 MFCC-like
features. Each is built here from Keras' seeded initial weights and converted as TensorFlow's converter writes a
full-integer model by default: int8 in and out, builtins only, calibrated on seeded random inputs, the batch
left open (-1). On the Cortex-M55 with CMSIS-NN each must run bit-exact against the host's TFLite-Micro, agree
with LiteRT and have its instructions counted, and all three should link one TFLite-Micro library per target.

Needs Debian's toolchain (`make firmware-tools`) and ../shared/vendor/tflite-micro.tar.gz, as test_firmware.py
does; skipped, saying which is missing, without them."""

import json

import numpy as np
import pytest
from firmware_support import check_instructions, check_outputs, firmware

from helpers import run_cli

pytestmark = pytest.mark.usefixtures("firmware_cache")

CALIBRATION_INPUTS = 32
FIRMWARE_INPUTS = 10  # the seeded random inputs `firmware` runs without --data
# The operators of each model, in order of first use, as TensorFlow's converter writes them. With the batch left
# open, Keras' Flatten becomes SHAPE, STRIDED_SLICE and PACK (the batch read at run time) and RESHAPE.
FLATTEN = ["SHAPE", "STRIDED_SLICE", "PACK", "RESHAPE"]
OPERATORS = {
    "mobilenet": ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", *FLATTEN, "FULLY_CONNECTED", "SOFTMAX"],
    "dense": ["FULLY_CONNECTED", "SOFTMAX"],
    "ds_cnn": ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", *FLATTEN, "FULLY_CONNECTED", "SOFTMAX"],
}
MODELS = tuple(OPERATORS)
# Their MicroMutableOpResolver methods, as tensorflow/lite/micro/micro_mutable_op_resolver.h names them.
RESOLVER_METHODS = {
    "AVERAGE_POOL_2D": "AddAveragePool2D",
    "CONV_2D": "AddConv2D",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "FULLY_CONNECTED": "AddFullyConnected",
    "PACK": "AddPack",
    "RESHAPE": "AddReshape",
    "SHAPE": "AddShape",
    "SOFTMAX": "AddSoftmax",
    "STRIDED_SLICE": "AddStridedSlice",
}


def int8_open_batch(net, path, seed):
    """`net` as TensorFlow's converter writes a full-integer model by default (int8 input and output, builtins
    only, the batch left open), calibrated on seeded random inputs in 0-255, the range `firmware` feeds."""
    import tensorflow as tf

    shape = tuple(net.inputs[0].shape[1:])
    samples = np.random.default_rng(seed).uniform(0, 255, (CALIBRATION_INPUTS, 1, *shape)).astype("float32")
    converter = tf.lite.TFLiteConverter.from_keras_model(net)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([sample] for sample in samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    path.write_bytes(converter.convert())
    return path


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    """A MobileNet-style classifier of 32x32 RGB images: a strided convolution, two depthwise-separable blocks
    (depthwise 3x3 then pointwise 1x1, batch-normalised, ReLU6), average pooling to 1x1, flatten, dense,
    softmax over 10 classes."""
    import keras

    layers = keras.layers
    keras.utils.set_random_seed(1)
    inputs = keras.Input((32, 32, 3))
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = layers.ReLU(6.0)(layers.BatchNormalization()(x))
    for filters, stride in ((16, 1), (16, 2)):
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
        x = layers.ReLU(6.0)(layers.BatchNormalization()(x))
        x = layers.Conv2D(filters, 1, use_bias=False)(x)
        x = layers.ReLU(6.0)(layers.BatchNormalization()(x))
    x = layers.AveragePooling2D(8)(x)
    x = layers.Flatten()(x)
    outputs = layers.Softmax()(layers.Dense(10)(x))
    net = keras.Model(inputs, outputs, name="mobilenet_tiny")
    return int8_open_batch(net, tmp_path_factory.mktemp("mobilenet") / "mobilenet_tiny.tflite", seed=1)


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    """A fully-connected classifier of 8x8 digit images flattened to 64 features: dense 32 with ReLU, dense 10,
    softmax."""
    import keras

    layers = keras.layers
    keras.utils.set_random_seed(2)
    inputs = keras.Input((64,))
    x = layers.Dense(32, activation="relu")(inputs)
    small = keras.initializers.RandomNormal(stddev=0.003)  # logits of a few units: a softmax not saturated
    outputs = layers.Softmax()(layers.Dense(10, kernel_initializer=small)(x))
    net = keras.Model(inputs, outputs, name="dense_digits")
    return int8_open_batch(net, tmp_path_factory.mktemp("dense") / "dense_digits.tflite", seed=2)


@pytest.fixture(scope="module")
def ds_cnn(tmp_path_factory):
    """A keyword-spotting DS-CNN (as in MLPerf Tiny) at a tenth of its width, on 49 frames of 10 MFCC-like
    features: a 10x4 convolution of stride 2, two depthwise-separable blocks, average pooling over the whole
    map, flatten, dense, softmax over 12 keywords."""
    import keras

    layers = keras.layers
    keras.utils.set_random_seed(3)
    inputs = keras.Input((49, 10, 1))
    x = layers.Conv2D(8, (10, 4), strides=2, padding="same", use_bias=False)(inputs)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for _ in range(2):
        x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.Conv2D(8, 1, use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.AveragePooling2D((25, 5))(x)
    x = layers.Flatten()(x)
    outputs = layers.Softmax()(layers.Dense(12)(x))
    net = keras.Model(inputs, outputs, name="ds_cnn_kws")
    return int8_open_batch(net, tmp_path_factory.mktemp("ds_cnn") / "ds_cnn_kws.tflite", seed=3)


def check_converted(model, name):
    """The file is what the converter writes by default: int8 in and out, the batch open, the expected
    operators."""
    from keras_resnet.lite import flatbuffer

    graph = flatbuffer.read_file(model)
    inputs, outputs = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    assert inputs.shape_signature[0] == -1 and inputs.shape[0] == 1 and -1 not in inputs.shape_signature[1:]
    assert inputs.dtype == outputs.dtype == "int8"
    assert graph.op_names() == OPERATORS[name]
    return graph


@pytest.mark.parametrize("name", MODELS)
def test_a_foreign_model_runs_bit_exact_on_cortex_m55_with_cmsis_nn(name, request, tflm_tree, tmp_path):
    """Built for the default target (Cortex-M55, CMSIS-NN), run in QEMU on the seeded random inputs, bit-exact
    against the host's TFLite-Micro, the same class as LiteRT on every input, every operator's instructions
    counted, the model's bytes in flash. The dense model's final arena (what the probe measured, 1,316 bytes) is
    one in which TFLite-Micro's memory planner writes past the arena and the run faults: the build grows it."""
    model = request.getfixturevalue(name)
    graph = check_converted(model, name)
    result, report = firmware(model, tflm_tree, tmp_path / "fw")
    assert result.returncode == 0, result.stderr
    assert report["target"] == "cortex-m55" and report["kernels"] == "cmsis_nn"
    assert report["inputs"] == f"{FIRMWARE_INPUTS} seeded random images"
    check_outputs(report, FIRMWARE_INPUTS)
    # LiteRT's default kernels (XNNPACK) round some intermediates their own way: a step at most here (the
    # DS-CNN's; the others match LiteRT bit for bit), never the class
    assert report["outputs"]["litert"]["max_abs_diff_steps"] <= 1, report["outputs"]
    counted = check_instructions(report, FIRMWARE_INPUTS, model)
    assert len(counted["operators"]) == len(graph.operators)
    assert report["memory"]["split"]["flash"]["model"] == model.stat().st_size
    assert 0 < report["arena"]["target_used_bytes"] <= report["arena"]["reserved_bytes"]


def test_the_three_models_share_one_library(mobilenet, dense, ds_cnn, tflm_tree, tmp_path):
    """One TFLite-Micro library per target serves every model of the usual vision, audio and dense kinds,
    whatever operators each uses: the three firmwares, built and sized without a run, link the same cached
    library."""
    libraries = {}
    for model in (mobilenet, dense, ds_cnn):
        result, report = firmware(model, tflm_tree, tmp_path / model.stem, "--no-run")
        if result.returncode != 0:
            pytest.fail(f"{model.name}: {result.stderr}")  # not the failure this test expects
        libraries[model.name] = report["tflm"]["library"]
    assert len(set(libraries.values())) == 1, libraries


@pytest.mark.parametrize("name", MODELS)
def test_micro_exports_a_foreign_model(name, request, tmp_path):
    """`resnet-tflite micro` writes the C array, a resolver of exactly the model's operators and the settings
    of its input, whatever its shape (an image, MFCC frames, a vector of features)."""
    model = request.getfixturevalue(name)
    graph = check_converted(model, name)
    stem = model.stem
    result = run_cli("resnet-tflite", "micro", model, "--out", tmp_path / "gen")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "gen").iterdir()) == sorted(
        [
            "model.h",
            f"{stem}_micro.json",
            f"{stem}_model_data.cc",
            f"{stem}_model_data.h",
            f"{stem}_model_settings.h",
            f"{stem}_op_resolver.h",
        ]
    )
    report = json.loads((tmp_path / "gen" / f"{stem}_micro.json").read_text())
    assert report["operators"] == OPERATORS[name] == graph.op_names()
    assert report["flash_bytes"] == model.stat().st_size and report["arena"]["measured_bytes"] > 0
    resolver = (tmp_path / "gen" / f"{stem}_op_resolver.h").read_text()
    assert f"constexpr int kOpCount = {len(OPERATORS[name])};" in resolver
    assert [line.split(".")[1].split("(")[0] for line in resolver.splitlines() if "resolver.Add" in line] == [
        RESOLVER_METHODS[op] for op in OPERATORS[name]
    ]
    shape = graph.tensors[graph.inputs[0]].shape
    settings = (tmp_path / "gen" / f"{stem}_model_settings.h").read_text()
    assert f"constexpr int kInputSize = {int(np.prod(shape[1:]))};" in settings
    assert f"constexpr int kNumClasses = {graph.tensors[graph.outputs[0]].shape[-1]};" in settings
    data = (tmp_path / "gen" / f"{stem}_model_data.cc").read_text()
    assert f"g_{stem}_model_data_len = {model.stat().st_size};" in data


@pytest.mark.slow  # the host build is tested in test_firmware_cores.py; this one adds a model
def test_a_foreign_model_runs_the_same_program_on_the_host(ds_cnn, tflm_tree, tmp_path):
    """The DS-CNN as the same program built for this machine: bit-exact against the host's TFLite-Micro."""
    result, report = firmware(ds_cnn, tflm_tree, tmp_path / "fw", "--target", "host")
    assert result.returncode == 0, result.stderr
    check_outputs(report, FIRMWARE_INPUTS)
    assert report["target"] == "host" and report["instructions"] is None
    assert (tmp_path / "fw" / "firmware").exists()
