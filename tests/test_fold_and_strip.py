"""What a microcontroller export leaves out: the input normalisation, folded into the first convolution (exact
but for the first feature map's border), and the strings nobody on a device reads (names, signatures, metadata),
with the same outputs in LiteRT and TFLite-Micro and the class names still found in the sidecar."""

import json

import keras
import numpy as np
import pytest

import keras_resnet as kr
from helpers import run_cli
from keras_resnet.errors import UserError
from keras_resnet.export.fold import fold_normalization, pad_value
from keras_resnet.lite import flatbuffer, metadata
from keras_resnet.lite.runtime import TFLiteModel
from keras_resnet.lite.strip import strip_strings
from keras_resnet.models.specs import PREPROCESSING

PIXELS = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")


def first_conv_output(model, x):
    return keras.Model(model.inputs, model.get_layer("conv1_conv").output).predict(x, verbose=0)


def test_a_zero_mean_normalisation_folds_exactly():
    model = kr.ResNet20(preprocess=((0.0, 0.0, 0.0), (50.0, 60.0, 70.0)))
    folded, into = fold_normalization(model)
    assert into == "conv1_conv" and "preprocess" not in [layer.name for layer in folded.layers]
    np.testing.assert_allclose(folded.predict(PIXELS, verbose=0), model.predict(PIXELS, verbose=0), atol=1e-5)


def test_a_mean_folds_exactly_inside_the_image_and_nearly_at_its_border():
    model = kr.ResNet20(preprocess="cifar10")
    folded, _ = fold_normalization(model)
    before, after = first_conv_output(model, PIXELS), first_conv_output(folded, PIXELS)
    np.testing.assert_allclose(after[:, 1:-1, 1:-1], before[:, 1:-1, 1:-1], atol=1e-4)
    # the border: the original pads with the mean colour (normalised 0), the folded model with one grey level
    mean, std = (np.array(v) for v in PREPROCESSING["cifar10"])
    grey = pad_value(mean, std)
    assert grey == 121 and np.max(np.abs((grey - mean) / std)) < 0.11  # black would be 2 standard deviations
    kernel = model.get_layer("conv1_conv").get_weights()[0]
    outside = np.ones((3, 3), bool)
    outside[1:, 1:] = False  # at (0, 0) the window's top row and left column lie outside the image
    expected = np.einsum("hwcf,hw,c->f", kernel, outside, (grey - mean) / std)
    np.testing.assert_allclose(after[:, 0, 0] - before[:, 0, 0], np.broadcast_to(expected, (4, 16)), atol=1e-4)
    assert not np.allclose(expected, 0)


def test_folding_follows_an_explicit_padding_and_leaves_other_graphs_alone():
    imagenet = kr.ResNet18(preprocess="imagenet", input_shape=(64, 64, 3))
    assert fold_normalization(imagenet)[1] == "conv1_conv"  # ZeroPadding2D, then the 7x7 convolution
    plain = kr.ResNet20()
    assert fold_normalization(plain) == (plain, None)  # no normalisation
    x = keras.Input((8, 8, 3))
    norm = keras.layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 4.0, 4.0], name="preprocess")(x)
    two_readers = keras.Model(x, keras.layers.Concatenate()([keras.layers.Conv2D(2, 3)(norm), norm[:, 1:-1, 1:-1]]))
    assert fold_normalization(two_readers) == (two_readers, None)  # the normalised image is read twice


@pytest.fixture(scope="module")
def converted(trained, cifar_jpg, tmp_path_factory):
    """The briefly trained ResNet-8 as int8, folded and not (the default), and folded and stripped."""
    folder = tmp_path_factory.mktemp("converted")
    common = dict(mode="int8", calib=f"folder:{cifar_jpg}", calib_samples=100, verify=f"folder:{cifar_jpg}", limit=500)
    variants = {"folded": {"fold": True}, "unfolded": {}, "stripped": {"fold": True, "strip": True}}
    return {
        variant: kr.convert(trained, folder / f"{variant}.tflite", **common, **options)
        for variant, options in variants.items()
    }


def test_an_int8_model_reads_raw_pixels_without_sub_and_mul(converted):
    ops = {variant: flatbuffer.read_file(result["out"]).op_names() for variant, result in converted.items()}
    assert "SUB" in ops["unfolded"] and "MUL" in ops["unfolded"]
    assert "SUB" not in ops["folded"] and "MUL" not in ops["folded"]
    assert converted["folded"]["preprocessing"]["folded_into"] == "conv1_conv"
    assert converted["unfolded"]["preprocessing"]["folded_into"] is None
    assert converted["folded"]["bytes"] < converted["unfolded"]["bytes"]
    folded, unfolded = (converted[v]["verification"] for v in ("folded", "unfolded"))
    assert folded["agreement_top1"] >= 0.95  # the folded Keras model and its int8 file agree
    assert abs(folded["tflite"]["top1"] - unfolded["tflite"]["top1"]) <= 0.01  # 500 images


def test_fold_is_for_full_integer_models(tmp_path):
    with pytest.raises(UserError, match="Received: fold=True, mode='fp16'"):
        kr.convert(kr.ResNet8(preprocess="cifar10"), tmp_path / "m.tflite", mode="fp16", fold=True)


def test_a_stripped_model_has_no_strings_and_the_same_outputs(converted):
    stripped = flatbuffer.read_file(converted["stripped"]["out"])
    folded = flatbuffer.read_file(converted["folded"]["out"])
    assert all(not t.name for t in stripped.tensors) and any(t.name for t in folded.tensors)
    assert metadata.read(stripped.data) is None and metadata.read(folded.data) is not None
    assert len(stripped.data) < len(folded.data) - 1000
    assert TFLiteModel(stripped.data).interpreter.get_signature_list() == {}
    x = np.random.default_rng(1).integers(0, 256, (8, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(TFLiteModel(stripped.data).run(x), TFLiteModel(folded.data).run(x))
    # the record stays in the sidecar, where the host-side tools find it
    sidecar = json.loads(open(metadata.sidecar_path(converted["stripped"]["out"])).read())
    assert sidecar["stripped"] and metadata.record_of(converted["stripped"]["out"], stripped.data) == sidecar


def test_stripping_a_third_party_model_keeps_its_outputs():
    """A float model as TensorFlow's converter writes it by default: signatures, names, its own metadata."""
    import tensorflow as tf

    x = keras.Input((16,))
    model = keras.Model(x, keras.layers.Dense(4, activation="softmax")(keras.layers.Dense(8, activation="relu")(x)))
    data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    stripped = strip_strings(data)
    assert TFLiteModel(data).interpreter.get_signature_list() and len(stripped) < len(data)
    inputs = np.random.default_rng(2).normal(size=(3, 16)).astype("float32")
    np.testing.assert_array_equal(TFLiteModel(stripped).run(inputs), TFLiteModel(data).run(inputs))


def test_micro_strips_on_request_and_still_names_the_classes(converted, tmp_path):
    model = converted["folded"]["out"]
    result = run_cli("resnet-tflite", "micro", model, "--out", tmp_path / "s", "--strip", "--json", "--limit", 5)
    assert result.returncode == 0, result.stderr
    stripped = json.loads(result.stdout)
    kept = kr.micro(model, tmp_path / "k")
    assert stripped["stripped"] and not kept["stripped"]
    assert stripped["flash_bytes"] < kept["flash_bytes"] - 1000
    assert stripped["classes"] == kept["classes"] == converted["folded"]["classes"]
    micro_from_stripped_file = kr.micro(converted["stripped"]["out"], tmp_path / "f")
    assert micro_from_stripped_file["classes"][0] == "airplane"  # from the sidecar
