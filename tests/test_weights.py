"""PyTorch and safetensors checkpoints: numerical equality with PyTorch itself, clear mismatches, no code runs.

torchvision cannot be installed beside the CPU build of torch used here (its compiled operators fail to load),
so `TorchResNet` below re-implements torchvision's ResNet (`torchvision/models/resnet.py`: BasicBlock and
Bottleneck with the stride on the 3x3, `downsample.0/1`, `fc`) in plain torch.nn; its state-dict names and
parameter counts are asserted equal to torchvision's, so the checkpoints it writes are torchvision's format.
timm's ResNet-18..152 use the same names (`timm/models/resnet.py`), so one format covers both.
"""

import pickle

import keras
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import keras_resnet as kr  # noqa: E402
from helpers import run_cli  # noqa: E402
from keras_resnet.models.weights import UnsafeWeights, WeightsMismatch, load_checkpoint, read_checkpoint  # noqa: E402

SIZE = 64  # small inputs keep the tests fast; the weights do not depend on the input size
LAYERS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


# --- torchvision's ResNet in plain torch.nn ----------------------------------------------------------------


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)  # v1.5: the stride on the 3x3
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class TorchResNet(nn.Module):
    def __init__(self, depth, num_classes=1000):
        super().__init__()
        kind, blocks = LAYERS[depth]
        block = BasicBlock if kind == "basic" else Bottleneck
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        for i, (planes, count) in enumerate(zip((64, 128, 256, 512), blocks), start=1):
            setattr(self, f"layer{i}", self._make_layer(block, planes, count, 1 if i == 1 else 2))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * block.expansion, num_classes)

    def _make_layer(self, block, planes, count, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, count)]
        return nn.Sequential(*layers)

    def features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x):
        return self.fc(self.features(x))


def trained_looking(depth, num_classes=1000, seed=0):
    """A TorchResNet in eval mode with random weights and non-trivial BatchNorm statistics.

    Convs get torchvision's He initialisation, BatchNorm random affine parameters; the running statistics
    are the cumulative statistics of a random batch, so activations keep a sensible scale in eval mode.
    """
    torch.manual_seed(seed)
    net = TorchResNet(depth, num_classes)
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.normal_(module.bias, 0.0, 0.2)
            module.momentum = None  # cumulative average: the running stats become the batch's statistics
    net.train()
    with torch.no_grad():
        net(torch.randn(8, 3, SIZE, SIZE))  # the distribution of `image_batch`
    return net.eval()


def image_batch(seed=1):
    """(NCHW for torch, NHWC for Keras) views of the same random images."""
    x = np.random.default_rng(seed).normal(size=(2, 3, SIZE, SIZE)).astype(np.float32)
    return torch.from_numpy(x), x.transpose(0, 2, 3, 1)


def torch_outputs(net, x, features=False):
    with torch.no_grad():
        return (net.features(x) if features else net(x)).numpy()


def max_diff(a, b):
    return float(np.max(np.abs(a - b)))


# --- the re-implementation is torchvision's ----------------------------------------------------------------


@pytest.mark.parametrize("depth,count", [(18, 11_689_512), (50, 25_557_032)])
def test_reference_has_torchvision_names_and_parameter_counts(depth, count):
    net = TorchResNet(depth)
    keys = list(net.state_dict())
    assert sum(p.numel() for p in net.parameters()) == count
    assert keys[:6] == [
        "conv1.weight",
        "bn1.weight",
        "bn1.bias",
        "bn1.running_mean",
        "bn1.running_var",
        "bn1.num_batches_tracked",
    ]
    assert "layer2.0.downsample.0.weight" in keys and "layer2.0.downsample.1.running_var" in keys
    assert keys[-2:] == ["fc.weight", "fc.bias"]
    assert ("layer4.2.conv3.weight" in keys) == (depth == 50)


# --- numerical proof --------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [18, 50, *(pytest.param(d, marks=pytest.mark.slow) for d in (34, 101, 152))])
def test_torchvision_pth_gives_pytorch_outputs(depth, tmp_path):
    """A .pth state dict loaded by ResNet{depth}(weights=...) computes what PyTorch computes.

    Within 1e-4, or within twice PyTorch's own float32 error (against float64) where that is larger: in
    ResNet-101 and 152 with these random weights, float32 rounding alone moves the logits by ~1e-3.
    """
    net = trained_looking(depth)
    path = tmp_path / f"resnet{depth}.pth"
    torch.save(net.state_dict(), path)
    x_torch, x_keras = image_batch()
    ours = getattr(kr, f"ResNet{depth}")(input_shape=(SIZE, SIZE, 3), classifier_activation=None, weights=str(path))
    expected = torch_outputs(net, x_torch)
    exact = torch_outputs(net.double(), x_torch.double())
    assert np.std(expected) > 0.1  # the comparison is not between near-zero outputs
    assert max_diff(ours.predict(x_keras, verbose=0), expected) <= max(1e-4, 2 * max_diff(expected, exact))


def _save_safetensors(net, path):
    from safetensors.torch import save_file

    save_file(net.state_dict(), str(path))


def _save_legacy_pth(net, path):
    torch.save(net.state_dict(), path, _use_new_zipfile_serialization=False)


def _save_training_checkpoint(net, path):
    """What training scripts write: the state dict of a DataParallel model inside a dict with metadata."""
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    torch.save({"epoch": 90, "arch": "resnet18", "state_dict": state}, path)


@pytest.mark.parametrize(
    "save,suffix",
    [(_save_safetensors, ".safetensors"), (_save_legacy_pth, ".pt"), (_save_training_checkpoint, ".pth.tar")],
)
def test_every_checkpoint_format_gives_pytorch_outputs(save, suffix, tmp_path):
    """ResNet-18 from each format, with its classifier and without (include_top=False skips `fc`)."""
    net = trained_looking(18, num_classes=10)
    path = tmp_path / f"resnet18{suffix}"
    save(net, path)
    x_torch, x_keras = image_batch()
    full = kr.ResNet18(input_shape=(SIZE, SIZE, 3), classes=10, classifier_activation=None, weights=str(path))
    topless = kr.ResNet18(input_shape=(SIZE, SIZE, 3), include_top=False, pooling="avg", weights=str(path))
    assert max_diff(full.predict(x_keras, verbose=0), torch_outputs(net, x_torch)) <= 1e-4
    features = torch_outputs(net, x_torch, features=True)
    # Pooled features reach ~5, where float32 itself is off by ~2e-4 in ResNet-50 (PyTorch float32 vs
    # float64, measured): the same bound, relative to the largest value.
    assert max_diff(topless.predict(x_keras, verbose=0), features) <= 1e-4 * np.abs(features).max()


def test_report_names_every_tensor_once(tmp_path):
    net = trained_looking(18, num_classes=10)
    path = tmp_path / "r18.safetensors"
    _save_safetensors(net, path)
    report = load_checkpoint(kr.ResNet18(input_shape=(SIZE, SIZE, 3), classes=10), path)
    expected = [k for k in net.state_dict() if not k.endswith("num_batches_tracked")]
    assert sorted(m.source for m in report) == sorted(expected)
    mapped = {m.source: m for m in report}
    assert mapped["conv1.weight"].source_shape == (64, 3, 7, 7) and mapped["conv1.weight"].shape == (7, 7, 3, 64)
    assert mapped["fc.weight"].target == "predictions/kernel" and mapped["fc.weight"].shape == (512, 10)
    assert mapped["layer2.0.downsample.1.running_var"].target == "conv3_block1_0_bn/moving_variance"


# --- mismatches name the first tensor that does not fit ----------------------------------------------------


@pytest.fixture(scope="module")
def resnet18_pth(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "resnet18.pth"
    torch.save(TorchResNet(18).state_dict(), path)
    return path


def test_a_shallower_model_refuses_a_deeper_checkpoint(tmp_path):
    path = tmp_path / "resnet34.pth"
    torch.save(TorchResNet(34).state_dict(), path)
    with pytest.raises(WeightsMismatch, match=r"no place for, the first 'layer1\.2\.conv1\.weight'"):
        kr.ResNet18(input_shape=(SIZE, SIZE, 3), weights=str(path))


def test_a_deeper_model_names_the_missing_tensor(resnet18_pth):
    with pytest.raises(WeightsMismatch, match=r"no tensor 'layer1\.2\.conv1\.weight' for conv2_block3_1_conv/kernel"):
        kr.ResNet34(input_shape=(SIZE, SIZE, 3), weights=str(resnet18_pth))


def test_other_block_kind_names_the_first_bad_shape(resnet18_pth):
    with pytest.raises(WeightsMismatch, match=r"'layer1\.0\.conv1\.weight' of shape \(64, 64, 3, 3\) does not fit"):
        kr.ResNet50(input_shape=(SIZE, SIZE, 3), weights=str(resnet18_pth))


def test_wrong_classes_suggest_include_top_false(resnet18_pth):
    with pytest.raises(WeightsMismatch, match=r"'fc\.weight' of shape \(1000, 512\).*include_top=False"):
        kr.ResNet18(input_shape=(SIZE, SIZE, 3), classes=5, weights=str(resnet18_pth))


def test_v1_layout_is_refused_with_the_layout_to_use(resnet18_pth):
    with pytest.raises(WeightsMismatch, match="variant='v1.5'"):
        kr.ResNet18(input_shape=(SIZE, SIZE, 3), variant="v1", weights=str(resnet18_pth))


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_truncated_files_are_named_as_such(suffix, resnet18_pth, tmp_path):
    whole = tmp_path / f"whole{suffix}"
    if suffix == ".safetensors":
        _save_safetensors(TorchResNet(18), whole)
    else:
        whole.write_bytes(resnet18_pth.read_bytes())
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(WeightsMismatch, match="truncated or corrupt"):
        read_checkpoint(cut)


# --- files from strangers cannot run code -----------------------------------------------------------------


class Payload:
    """Unpickling this object calls open(marker, "w"): the file appears if the code runs."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_a_pickle_payload_is_refused_and_never_runs(writer, tmp_path):
    marker, path = tmp_path / "pwned", tmp_path / "evil.pth"
    payload = {"conv1.weight": torch.zeros(1), "x": Payload(marker)}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(payload, f)
    with pytest.raises(UnsafeWeights, match="could run code"):
        read_checkpoint(path)
    result = run_cli("resnet-tflite", "weights", "convert", path, "--out", tmp_path / "w.weights.h5", timeout=300)
    assert result.returncode == 1 and result.stderr.startswith("error: Refusing")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not marker.exists()


# --- the converter ----------------------------------------------------------------------------------------


def test_converter_writes_a_keras_weights_file_with_a_full_report(tmp_path):
    net = trained_looking(18, num_classes=10)
    checkpoint, out = tmp_path / "resnet18.pth", tmp_path / "resnet18.weights.h5"
    torch.save(net.state_dict(), checkpoint)
    result = run_cli("resnet-tflite", "weights", "convert", checkpoint, "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    for key, value in net.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            assert f"{key} " in result.stdout and str(tuple(value.shape)) in result.stdout, key
    assert "102 tensors mapped" in result.stdout and "skipped 20 tensor(s)" in result.stdout
    x_torch, x_keras = image_batch()
    ours = kr.ResNet18(input_shape=(SIZE, SIZE, 3), classes=10, classifier_activation=None, weights=str(out))
    assert max_diff(ours.predict(x_keras, verbose=0), torch_outputs(net, x_torch)) <= 1e-4


def test_keras_weights_file_loads_without_its_top_and_refuses_another_depth(tmp_path):
    rng = np.random.default_rng(0)
    full = kr.ResNet18(input_shape=(SIZE, SIZE, 3), classes=10)
    full.set_weights(
        [rng.normal(0, 0.05, w.shape).astype(np.float32) + (w.name == "moving_variance") for w in full.weights]
    )
    path = tmp_path / "resnet18.weights.h5"
    full.save_weights(path)
    topless = kr.ResNet18(input_shape=(SIZE, SIZE, 3), include_top=False, pooling="avg", weights=str(path))
    _, x = image_batch()
    expected = keras.Model(full.inputs, full.get_layer("avg_pool").output).predict(x, verbose=0)
    np.testing.assert_array_equal(topless.predict(x, verbose=0), expected)
    with pytest.raises(WeightsMismatch, match="holds 102 weight tensors but resnet34 has"):
        kr.ResNet34(input_shape=(SIZE, SIZE, 3), classes=10, weights=str(path))
