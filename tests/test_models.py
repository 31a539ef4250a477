"""The builders against the paper, torchvision's counts, keras.applications and LiteRT."""

import keras
import numpy as np
import pytest

import keras_resnet as kr
from keras_resnet.models import specs
from keras_resnet.models.profiler import profile

SLOW = {"resnet101", "resnet152", "resnet1202", "resnet110", "plain34"}


def registry_params(names=None):
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in (names or kr.list_models())]


# torchvision's trainable parameter counts and `_ops` MACs at 224x224 (1000 classes), v1.5 layout.
TORCHVISION = {
    "resnet18": (11_689_512, 1.814e9),
    "resnet34": (21_797_672, 3.664e9),
    "resnet50": (25_557_032, 4.089e9),
    "resnet101": (44_549_160, 7.801e9),
    "resnet152": (60_192_808, 11.514e9),
}
# Paper Table 6 (CIFAR-10, option A): exact counts and the digits the paper prints.
TABLE6 = {
    20: (269_722, "0.27M"),
    32: (464_154, "0.46M"),
    44: (658_586, "0.66M"),
    56: (853_018, "0.85M"),
    110: (1_727_962, "1.7M"),
    1202: (19_421_274, "19.4M"),
}


def paper_digits(count: int, printed: str) -> bool:
    decimals = len(printed.rstrip("M").split(".")[1])
    return f"{count / 1e6:.{decimals}f}M" == printed


@pytest.mark.parametrize("name", registry_params(list(TORCHVISION)))
def test_imagenet_counts_match_torchvision(name):
    params, macs = TORCHVISION[name]
    info = profile(kr.create_model(name))
    assert info["trainable_params"] == params
    assert abs(info["macs"] - macs) / macs < 0.005


@pytest.mark.parametrize("depth", [pytest.param(d, marks=pytest.mark.slow) if d >= 110 else d for d in TABLE6])
def test_cifar_counts_match_paper_table6(depth):
    count, printed = TABLE6[depth]
    model = kr.ResNetCIFAR(depth)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == count
    assert paper_digits(trainable, printed)


def test_resnet20_macs_are_the_papers_41_million():
    info = profile(kr.ResNet20())
    shortcut_macs = 16 * 16 * 16 * 32 + 8 * 8 * 32 * 64  # option A's frozen [I|0] 1x1 selections
    assert info["macs"] - shortcut_macs == 40_551_040  # conv + dense layers: the paper's ~40.6M
    assert profile(kr.create_model("plain20"))["macs"] == 40_551_040


def test_profile_has_the_documented_keys_and_stage_rows():
    info = profile(kr.ResNet50())
    assert {"params", "trainable_params", "macs", "peak_activation_bytes", "stages"} <= set(info)
    rows = {r["stage"]: r for r in info["stages"]}
    assert [rows[f"conv{i}"]["blocks"] for i in (2, 3, 4, 5)] == [3, 4, 6, 3]
    assert rows["conv1"]["output"] == (56, 56, 64)
    assert rows["conv5"]["output"] == (7, 7, 2048)
    assert sum(r["macs"] for r in info["stages"]) == info["macs"]
    # peak at batch 1, float32: in conv2_block1 the projected shortcut, the last conv's output and its
    # BatchNorm output (three 56x56x256 maps) are live together
    assert info["peak_activation_bytes"] == 3 * 56 * 56 * 256 * 4


@pytest.mark.parametrize("name", registry_params())
def test_model_table_matches_built_models(name):
    from tools.make_model_table import table_row

    assert specs.model_table()[name] == table_row(name)


@pytest.mark.parametrize("depth,nearest", [(21, "20 and 26"), (19, "14 and 20"), (4, "smallest valid depth is 8")])
def test_bad_cifar_depth_names_the_nearest_valid_depths(depth, nearest):
    with pytest.raises(ValueError, match=nearest):
        kr.ResNetCIFAR(depth)


def test_unknown_model_suggests_close_names():
    with pytest.raises(ValueError, match="Did you mean .*resnet50"):
        kr.create_model("resnet05")


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"classes": 0}, "classes must be"),
        ({"input_shape": (16, 16, 3)}, "at least 32x32"),
        ({"input_shape": (64, 64)}, "height, width, channels"),
        ({"variant": "v2"}, "variant must be"),
        ({"shortcut": "D"}, "shortcut must be"),
        ({"pooling": "sum", "include_top": False}, "pooling must be"),
        ({"width": 0}, "width must be"),
    ],
)
def test_bad_arguments_are_refused_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kr.ResNet18(**kwargs)


def test_shortcut_options_change_parameters_as_the_paper_says():
    counts = {
        s: sum(int(np.prod(w.shape)) for w in kr.ResNet20(shortcut=s).trainable_weights) for s in ("A", "B", "C", None)
    }
    assert counts["A"] == counts[None]  # option A is parameter-free
    assert counts["A"] < counts["B"] < counts["C"]
    # option B adds two 1x1 projections (16->32, 32->64) with BatchNorm
    assert counts["B"] - counts["A"] == 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64


def test_option_a_is_identity_on_old_channels_and_zero_on_new():
    model = kr.ResNet20()
    layer = model.get_layer("conv3_block1_zeropad")
    assert not layer.trainable and not any("Lambda" in type(each).__name__ for each in model.layers)
    x = np.random.default_rng(0).normal(size=(1, 8, 8, 16)).astype("float32")
    y = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_array_equal(y[..., :16], x[:, ::2, ::2, :])
    assert not y[..., 16:].any()


def test_layer_names_follow_keras_applications():
    names = {each.name for each in kr.ResNet18().layers}
    assert {
        "conv1_conv",
        "conv1_bn",
        "pool1_pool",
        "conv2_block1_1_conv",
        "conv3_block1_0_conv",
        "conv5_block2_out",
        "avg_pool",
        "predictions",
    } <= names
    cifar = {each.name for each in kr.ResNet20().layers}
    assert {"conv1_conv", "conv2_block3_2_bn", "conv3_block1_zeropad", "conv4_block3_out"} <= cifar


def test_v15_pads_strided_convs_symmetrically_and_has_no_bias():
    model = kr.ResNet50()
    conv = model.get_layer("conv3_block1_2_conv")
    assert conv.strides == (2, 2) and conv.padding == "valid" and not conv.use_bias
    assert model.get_layer("conv3_block1_2_pad").padding == ((1, 1), (1, 1))
    assert model.get_layer("conv3_block1_1_conv").strides == (1, 1)
    assert model.get_layer("conv1_bn").epsilon == 1e-5
    v1 = kr.ResNet50(variant="v1")
    assert v1.get_layer("conv3_block1_1_conv").strides == (2, 2) and v1.get_layer("conv1_conv").use_bias


def randomize_batchnorm(model, seed=1):
    """Give BatchNorm non-trivial statistics, so equivalence checks exercise them."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, g.shape),
                    rng.normal(0, 0.1, b.shape),
                    rng.normal(0, 0.1, m.shape),
                    rng.uniform(0.5, 1.5, v.shape),
                ]
            )


PEERS = [
    ("ResNet50", False),
    ("ResNet50", True),
    pytest.param("ResNet101", False, marks=pytest.mark.slow),
    pytest.param("ResNet101", True, marks=pytest.mark.slow),
    pytest.param("ResNet152", False, marks=pytest.mark.slow),
    pytest.param("ResNet152", True, marks=pytest.mark.slow),
]


@pytest.mark.parametrize("name,preact", PEERS)
def test_v1_equals_keras_applications(name, preact):
    shape = (64, 64, 3)
    peer = getattr(keras.applications, name + ("V2" if preact else ""))(weights=None, input_shape=shape)
    randomize_batchnorm(peer)
    ours = getattr(kr, name)(variant="v1", preact=preact, input_shape=shape)
    assert {each.name for each in ours.layers if each.weights} == {each.name for each in peer.layers if each.weights}
    kr.copy_weights(peer, ours)
    x = np.random.default_rng(0).uniform(-2, 2, (2, *shape)).astype("float32")
    diff = np.abs(ours.predict(x, verbose=0) - peer.predict(x, verbose=0)).max()
    assert diff <= 1e-4


def test_loads_legacy_h5_weight_files_of_keras_applications(tmp_path):
    """The .h5 files keras.applications downloads are written by Keras 2's save_weights: same format."""
    import tf_keras

    peer = tf_keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=7)
    path = tmp_path / "resnet50_weights_tf_dim_ordering_tf_kernels.h5"
    peer.save_weights(str(path))
    ours = kr.ResNet50(variant="v1", input_shape=(64, 64, 3), classes=7, weights=str(path))
    x = np.random.default_rng(0).uniform(-2, 2, (1, 64, 64, 3)).astype("float32")
    assert np.abs(ours.predict(x, verbose=0) - peer.predict(x, verbose=0)).max() <= 1e-4


def test_mismatched_weights_file_names_the_first_bad_tensor(tmp_path):
    import tf_keras

    path = tmp_path / "w.h5"
    tf_keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=7).save_weights(str(path))
    with pytest.raises(ValueError, match="'predictions'.*wrong classes"):
        kr.ResNet50(variant="v1", input_shape=(64, 64, 3), classes=5, weights=str(path))
    with pytest.raises(ValueError, match="no weights for layer 'conv1_bn'|holds"):
        kr.ResNet50(variant="v1.5", input_shape=(64, 64, 3), classes=7, weights=str(path))


def test_tf_keras_twin_has_same_names_and_outputs_both_ways():
    model = kr.ResNet20(preact=True, preprocess="cifar10")
    randomize_batchnorm(model)
    twin = kr.to_tf_keras(model)
    assert type(twin).__module__.startswith("tf_keras")
    assert [each.name for each in twin.layers] == [each.name for each in model.layers]
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(twin.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    fresh = kr.ResNet20(preact=True, preprocess="cifar10")
    kr.copy_weights(twin, fresh)
    np.testing.assert_allclose(fresh.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    assert type(kr.ResNet8(framework="tf_keras")).__module__.startswith("tf_keras")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"preact": True},
        {"width": 0.5},
        {"variant": "v1"},
        {"shortcut": "C"},
        {"include_top": False, "pooling": "max"},
        {"preprocess": "cifar10"},
    ],
)
def test_options_build_and_run(kwargs):
    model = kr.ResNet8(**kwargs)
    y = model.predict(np.zeros((1, 32, 32, 3), "float32"), verbose=0)
    assert y.shape == ((1, 64) if "pooling" in kwargs else (1, 10))
    if "width" in kwargs:
        assert model.get_layer("conv4_block1_1_conv").filters == 32


def small_input(name):
    return (32, 32, 3) if specs.REGISTRY[name].family == "cifar" else (64, 64, 3)


@pytest.mark.parametrize("name", registry_params())
def test_every_model_converts_to_float_tflite_with_equal_outputs(name):
    from keras_resnet.export.convert import convert_keras
    from keras_resnet.lite.runtime import TFLiteModel

    model = kr.create_model(name, input_shape=small_input(name))
    randomize_batchnorm(model)
    x = np.random.default_rng(0).uniform(-1, 1, (1, *small_input(name))).astype("float32")
    tflite = TFLiteModel(convert_keras(model))
    np.testing.assert_allclose(tflite.run(x), model.predict(x, verbose=0), atol=1e-4)


@pytest.mark.parametrize("name", ["resnet18", "resnet20"])
def test_classifier_activation_none_gives_logits_through_builders_and_create_model(name):
    builder = getattr(kr, f"ResNet{specs.get_spec(name).depth}")
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    for make in (builder, lambda **kw: kr.create_model(name, **kw)):
        logits = make(classifier_activation=None, input_shape=(32, 32, 3), classes=5)
        probabilities = make(classifier_activation="softmax", input_shape=(32, 32, 3), classes=5)
        probabilities.set_weights(logits.get_weights())
        out, expected = logits.predict(x, verbose=0), probabilities.predict(x, verbose=0)
        assert not np.allclose(out.sum(axis=1), 1.0, atol=1e-3)  # logits, not probabilities
        np.testing.assert_allclose(keras.ops.softmax(out).numpy(), expected, atol=1e-5)
    assert (
        kr.ResNetCIFAR(20, classifier_activation=None).get_layer("predictions").get_config()["activation"] == "linear"
    )


def test_shortcut_none_through_create_model_is_the_plain_net():
    plain = kr.create_model("resnet20", shortcut=None)
    assert not any(layer.__class__.__name__ == "Add" for layer in plain.layers)
    assert profile(plain)["trainable_params"] == profile(kr.create_model("plain20"))["trainable_params"]
    assert any(layer.__class__.__name__ == "Add" for layer in kr.create_model("resnet20").layers)
