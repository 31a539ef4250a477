"""Channel pruning: exact surgery, widths and counts by arithmetic, budgets, refusals, the CLI end to end."""

import json

import keras
import numpy as np
import pytest

import keras_resnet as kr
from helpers import kill_after_epoch, run_cli
from keras_resnet import sources
from keras_resnet.errors import UserError
from keras_resnet.models import channel_pruning
from keras_resnet.models.profiler import profile

# ResNet-20 (paper Table 6: 269,722 trainable parameters), prunable convs halved: per block
# 9*cin*r (conv 1's removed filters) + 2*r (their gamma, beta) + 9*r*c (conv 2's removed inputs), r = c/2.
R20_REMOVED = sum(
    9 * cin * (c // 2) + 2 * (c // 2) + 9 * (c // 2) * c
    for c, cins in ((16, (16, 16, 16)), (32, (16, 32, 32)), (64, (32, 64, 64)))
    for cin in cins
)


def zero_filters(model, fraction=0.5, seed=0):
    """Zero `fraction` of every prunable conv's filters AND their BatchNorm gamma and beta; give every
    BatchNorm random statistics. Returns {conv name: indices of the filters left intact}."""
    rng = np.random.default_rng(seed)
    arch = channel_pruning.describe(model)
    intact = {}
    for s, b in arch.blocks():
        for name in arch.conv_names(s, b)[:-1]:
            conv, bn = model.get_layer(name), model.get_layer(name.replace("_conv", "_bn"))
            dropped = rng.permutation(conv.filters)[: round(conv.filters * fraction)]
            kernel = np.asarray(conv.kernel)
            kernel[..., dropped] = 0
            conv.kernel.assign(kernel)
            for weight in (bn.gamma, bn.beta):
                value = np.asarray(weight)
                value[dropped] = 0
                weight.assign(value)
            intact[name] = np.setdiff1d(np.arange(conv.filters), dropped)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 1, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2, n).astype("float32"))
    return intact


def images(model, n=4):
    return np.random.default_rng(1).uniform(0, 255, (n, *model.input_shape[1:])).astype("float32")


@pytest.mark.parametrize(
    "make",
    [
        lambda: kr.ResNet20(preprocess="cifar10", classifier_activation=None),
        lambda: kr.ResNet8(preact=True, variant="v1", shortcut="C", width=0.5, classifier_activation=None),
        lambda: kr.ResNet50(input_shape=(32, 32, 3), classes=5, preprocess="imagenet", classifier_activation=None),
    ],
    ids=["resnet20", "resnet8-preact-v1-C-w0.5", "resnet50-bottleneck"],
)
def test_surgery_is_exact_when_the_pruned_filters_are_zero(make):
    # A zeroed filter alone is not enough: its BatchNorm still outputs beta - gamma * mean / std, a
    # constant that ReLU may pass and the next (zero-padded) conv turns into a border-dependent signal.
    # With gamma = beta = 0 as well, the channel is exactly 0 after BatchNorm and ReLU, so removing it,
    # and the next conv's weights that read it, changes nothing.
    model = make()
    intact = zero_filters(model)
    x = images(model)

    result = channel_pruning.prune(model, (0.5,))

    assert {name: list(index) for name, index in result.keep.items()} == {
        name: list(index) for name, index in intact.items()
    }
    expected, got = model.predict(x, verbose=0), result.model.predict(x, verbose=0)  # logits
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_surgery_is_not_exact_when_the_batchnorm_of_a_zeroed_filter_is_left():
    model = kr.ResNet20(preprocess="cifar10", classifier_activation=None)
    zero_filters(model)
    for layer in model.layers:  # pruned channels now leave BatchNorm as relu(beta - gamma * mean / std)
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.beta.assign(np.full(layer.beta.shape, 0.5, "float32"))
    x = images(model)

    result = channel_pruning.prune(model, (0.5,))

    expected = model.predict(x, verbose=0)
    assert np.abs(result.model.predict(x, verbose=0) - expected).max() > 1e-2 * np.abs(expected).max()


def test_widths_names_and_counts_follow_the_arithmetic():
    model = kr.ResNet20(preprocess="cifar10")

    result = channel_pruning.prune(model, (0.5,))

    pruned = result.model
    assert [layer.name for layer in pruned.layers] == [layer.name for layer in model.layers]
    assert pruned.get_layer("conv2_block1_1_conv").kernel.shape == (3, 3, 16, 8)
    assert pruned.get_layer("conv2_block1_1_bn").gamma.shape == (8,)
    assert pruned.get_layer("conv2_block1_2_conv").kernel.shape == (3, 3, 8, 16)
    assert pruned.get_layer("conv4_block3_2_conv").kernel.shape == (3, 3, 32, 64)
    assert result.inner_widths == (((8,),) * 3, ((16,),) * 3, ((32,),) * 3)
    counts = profile(pruned)
    assert counts["trainable_params"] == 269_722 - R20_REMOVED == 135_754
    moving_statistics = 2 * (3 * 8 + 3 * 16 + 3 * 32)  # BatchNorm mean and variance of removed channels
    assert counts["params"] == result.report["params"]["after"] == 273_658 - R20_REMOVED - moving_statistics
    arch = channel_pruning.describe(model)
    assert counts["macs"] == channel_pruning.macs_after(model, arch, result.inner_widths) == 20_759_168
    assert counts["macs"] / profile(model)["macs"] <= 0.6


def test_bottleneck_prunes_its_first_two_convs_per_stage():
    model = kr.ResNet50(include_top=False, pooling="avg", input_shape=(32, 32, 3))

    result = channel_pruning.prune(model, (0.25, 0.5, 0.5, 0.75))

    widths = [stage[0] for stage in result.inner_widths]
    assert widths == [(48, 48), (64, 64), (128, 128), (128, 128)]
    block = result.model.get_layer("conv5_block2_3_conv")
    assert block.kernel.shape == (1, 1, 128, 2048)  # the last conv keeps the width of its shortcut
    assert result.model.output_shape == model.output_shape == (None, 2048)
    arch = channel_pruning.describe(model)
    assert profile(result.model)["macs"] == channel_pruning.macs_after(model, arch, result.inner_widths)


def test_a_mac_budget_is_met_by_the_smallest_common_ratio():
    model = kr.ResNet20()
    arch = channel_pruning.describe(model)
    total = profile(model)["macs"]

    ratio = channel_pruning.ratio_for_macs(model, arch, 0.6)

    def macs(r):
        return channel_pruning.macs_after(model, arch, channel_pruning.plan(arch, (r,) * 3), total)

    assert macs(ratio) <= 0.6 * total < macs(ratio - 1e-5)
    assert profile(channel_pruning.prune(model, macs=0.6).model)["macs"] == macs(ratio)


@pytest.mark.parametrize(
    "call,message",
    [
        (
            lambda m: channel_pruning.prune(m, (0.97,)),
            "would leave conv2_block1_1_conv with none of its 16: use a ratio below 0.9688",
        ),
        (lambda m: channel_pruning.prune(m, macs=0.01), "macs=0.01 cannot be met"),
        (lambda m: channel_pruning.prune(m, (0.5, 0.5)), "has 3 stages: give one ratio or 3"),
        (lambda m: channel_pruning.prune(m, (0.5,), macs=0.5), "exactly one"),
        (lambda m: channel_pruning.prune(m, (0.5,), criterion="l2"), "criterion must be one of"),
    ],
)
def test_impossible_pruning_is_refused_in_one_line(call, message):
    model = kr.ResNet20()

    with pytest.raises(UserError) as err:
        call(model)

    assert message in str(err.value) and "\n" not in str(err.value)


def test_each_criterion_keeps_its_largest_filters():
    model = kr.ResNet8()
    model.get_layer("conv2_block1_1_bn").gamma.assign(np.arange(16, dtype="float32") - 7.5)  # |gamma|: ends
    conv = model.get_layer("conv2_block1_1_conv")
    conv.kernel.assign(np.ones(conv.kernel.shape, "float32") * (np.arange(16, dtype="float32") - 3.7) ** 2)

    by_gamma = channel_pruning.prune(model, (0.5,), criterion="bn")
    by_l1 = channel_pruning.prune(model, (0.5,), criterion="l1")

    assert list(by_gamma.keep["conv2_block1_1_conv"]) == [0, 1, 2, 3, 12, 13, 14, 15]
    assert list(by_l1.keep["conv2_block1_1_conv"]) == [8, 9, 10, 11, 12, 13, 14, 15]  # (i - 3.7)^2 largest


def test_inner_widths_are_validated_by_the_builder():
    with pytest.raises(ValueError, match="per block .3-3-3 blocks., 1 whole number"):
        kr.ResNet20(inner_widths=[[(8,)] * 3, [(16,)] * 3])
    with pytest.raises(ValueError, match="2 whole number"):
        kr.ResNet50(inner_widths=[[(8,)] * 3, [(8,)] * 4, [(8,)] * 6, [(8,)] * 3])


@pytest.mark.parametrize(
    "args,message",
    [
        (["--out", "p.keras"], "Give --channels RATIO or --macs FRACTION"),
        (["--out", "p.keras", "--channels", "0.5", "--macs", "0.5"], "Give --channels RATIO or --macs FRACTION"),
        (
            ["--out", "p.keras", "--channels", "half", "--epochs", "0"],
            "Pass --channels RATIO, a fraction of filters to remove",
        ),
        (["--out", "p.keras", "--channels", "1", "--epochs", "0"], "in [0, 1). Received: --channels 1"),
        (["--out", "p.keras", "--macs", "1.5", "--epochs", "0"], "Pass --macs FRACTION, the fraction of MACs to keep"),
        (["--out", "p.keras", "--macs", "abc"], "'abc' is not a valid float"),
        (["--out", "p.tflite", "--channels", "0.5"], "must name a .keras file, e.g. pruned.keras. Received: --out "),
        (["--out", "p.keras", "--channels", "0.5"], "Fine-tuning needs --data SOURCE"),
        (["--out", "p.keras", "--channels", "0.5", "--epochs", "0", "--bogus"], "No such option '--bogus'"),
    ],
)
def test_cli_refuses_bad_input_in_one_line(tmp_path, args, message):
    result = run_cli("resnet-tflite", "prune", tmp_path / "missing.keras", *args)

    assert result.returncode in (1, 2) and result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr


def test_cli_refuses_a_model_that_is_not_one_of_ours(tmp_path):
    inputs = keras.Input((32, 32, 3))
    path = tmp_path / "other.keras"
    keras.Model(inputs, keras.layers.Conv2D(4, 3, name="conv1_conv")(inputs), name="other").save(path)

    result = run_cli(
        "resnet-tflite", "prune", path, "--channels", "0.5", "--epochs", "0", "--out", tmp_path / "p.keras"
    )

    assert result.returncode == 1 and "Traceback" not in result.stderr  # TensorFlow logs its start-up above
    last_line = result.stderr.splitlines()[-1]
    assert last_line.startswith("error: other has no conv1_conv / conv2_block1_1_conv layers: only ResNets")
    assert not (tmp_path / "p.keras").exists()


@pytest.fixture(scope="module")
def small_cifar(cifar_jpg, tmp_path_factory):
    """200 training and 100 test CIFAR-10 (JPEG) images as an npz source."""
    train = sources.load(f"folder:{cifar_jpg}", "train", limit=200)
    test = sources.load(f"folder:{cifar_jpg}", "test", limit=100)
    path = tmp_path_factory.mktemp("data") / "small.npz"
    np.savez(path, x_train=train.x, y_train=train.y, x_test=test.x, y_test=test.y, classes=np.array(train.classes))
    return f"npz:{path}"


def test_cli_prunes_fine_tunes_and_the_result_deploys(tmp_path, small_cifar):
    original = tmp_path / "resnet8.keras"
    kr.ResNet8(preprocess="cifar10").save(original)
    pruned = tmp_path / "pruned.keras"

    result = run_cli(
        "resnet-tflite",
        "prune",
        original,
        "--channels",
        "0.5",
        "--data",
        small_cifar,
        "--epochs",
        "1",
        "--batch-size",
        "50",
        "--run-dir",
        tmp_path / "run",
        "--out",
        pruned,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["inner_widths"]["after"] == [[[8]], [[16]], [[32]]]
    assert report["fine_tuning"]["metrics"]["epochs"] == 1
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == report["fine_tuning"]["metrics"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["recipe"]["head_epochs"] == 0
    model = keras.saving.load_model(pruned)
    assert model.name == "resnet8_pruned" and model.get_layer("conv4_block1_1_conv").filters == 32
    assert profile(model)["macs"] == report["macs"]["after"]
    tflite = tmp_path / "pruned_int8.tflite"
    steps = [
        ("convert", pruned, "--int8", "--calib", small_cifar, "--calib-samples", "20", "--out", tflite),
        ("edgetpu", tflite, "--check-only", "--out", tmp_path / "edgetpu"),
        ("micro", tflite, "--out", tmp_path / "micro"),
    ]
    for step in steps:
        done = run_cli("resnet-tflite", *step)
        assert done.returncode == 0, (step[0], done.stderr)
    assert (tmp_path / "micro" / "pruned_int8_model_data.cc").exists()


def test_a_killed_fine_tuning_resumes(tmp_path, small_cifar):
    """SIGKILL mid fine-tuning, then the same command with --resume: every epoch once, the model written."""
    original = tmp_path / "resnet8.keras"
    kr.ResNet8(preprocess="cifar10").save(original)
    run, pruned = tmp_path / "run", tmp_path / "pruned.keras"
    args = [
        "prune",
        original,
        "--channels",
        "0.5",
        "--data",
        small_cifar,
        "--epochs",
        "4",
        "--batch-size",
        "50",
        "--run-dir",
        run,
        "--out",
        pruned,
    ]
    killed_at = kill_after_epoch(run, 1, "resnet-tflite", *args)
    assert 1 <= killed_at < 4 and not pruned.exists(), "the run must be killed mid-way"
    assert "pass --resume to continue it" in run_cli("resnet-tflite", *args).stderr

    result = run_cli("resnet-tflite", *args, "--resume")

    assert result.returncode == 0, result.stderr[-2000:]
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert [row["epoch"] for row in state["history"]] == [1, 2, 3, 4]
    assert json.loads(result.stdout)["fine_tuning"]["metrics"]["epochs"] == 4
    assert keras.saving.load_model(pruned).get_layer("conv4_block1_1_conv").filters == 32


def test_prune_from_python_writes_the_narrower_model_and_returns_its_report(tmp_path):
    net = kr.ResNet8(width=0.5, classes=4)
    out = tmp_path / "pruned.keras"

    report = kr.prune(net, out, channels=0.5, epochs=0)

    assert report["out"] == str(out) and "fine_tuning" not in report
    assert report["inner_widths"]["after"] == (((4,),), ((8,),), ((16,),))  # ResNet-8 at width 0.5: 8, 16, 32
    model = keras.saving.load_model(out)
    assert model.name == net.name + "_pruned" and model.get_layer("conv4_block1_1_conv").filters == 16
    assert profile(model)["macs"] == report["macs"]["after"] < report["macs"]["before"]


def test_prune_from_python_names_its_arguments(tmp_path):
    with pytest.raises(UserError, match=r"Fine-tuning needs data=SOURCE; pass epochs=0 .* Received: data=None"):
        kr.prune("resnet8", tmp_path / "p.keras", channels=0.5)
    with pytest.raises(UserError, match=r"Received: channels=None, macs=None"):
        kr.prune("resnet8", tmp_path / "p.keras", epochs=0)
    with pytest.raises(UserError, match=r"Unknown training option\(s\) \['learning_rate'\]"):
        kr.prune("resnet8", tmp_path / "p.keras", channels=0.5, epochs=0, learning_rate=0.1)
