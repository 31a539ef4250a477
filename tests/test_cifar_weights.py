"""weights="cifar10": akamaster/pytorch_resnet_cifar10's checkpoints in our option-A CIFAR nets, equal to PyTorch.

`AkamasterResNet` re-implements that repository's `resnet.py` in plain torch.nn from its description, not from
our loader: `conv1`/`bn1`, `layer1-3` of BasicBlocks (`conv1`/`bn1`/`conv2`/`bn2`, a parameter-free option-A
shortcut `F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4))`), a global average pool and
`linear`. Checkpoints are saved as its trainer saves them: `{"state_dict": ..., "best_prec1": ...}` of a
`DataParallel` model (`module.` keys), and it trained on ToTensor() pixels normalised by ImageNet's mean and
std. The real files (`../shared/weights/cifar10/`) load into it with `strict=True`, so its layout is theirs.
"""

import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from test_weights import max_diff  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import keras_resnet as kr  # noqa: E402
from helpers import SHARED, publish, run_cli  # noqa: E402
from keras_resnet import sources  # noqa: E402
from keras_resnet.models import channel_pruning, pretrained  # noqa: E402
from keras_resnet.models.saving import load_keras_model  # noqa: E402

WEIGHTS = SHARED / "weights" / "cifar10"
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # its trainer's transforms.Normalize
REAL = {20: "resnet20-12fca82f.th", 32: "resnet32-d509ac18.th", 44: "resnet44-014dd654.th", 56: "resnet56-4bfd9763.th"}


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pad = planes // 4 if stride != 1 or in_planes != planes else None  # option A, no parameters

    def shortcut(self, x):
        if self.pad is None:
            return x
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad), "constant", 0)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class AkamasterResNet(nn.Module):
    def __init__(self, depth, num_classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        in_planes = 16
        for i, planes in enumerate((16, 32, 64), start=1):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(in_planes, planes, 2 if i > 1 and b == 0 else 1))
                in_planes = planes
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
        self.linear = nn.Linear(64, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, out.size()[3])
        return self.linear(out.view(out.size(0), -1))


def normalised(pixels):
    """What its trainer feeds the net: ToTensor() (0-1, NCHW) then Normalize(ImageNet mean, std)."""
    x = torch.from_numpy(pixels.astype(np.float32).transpose(0, 3, 1, 2) / 255.0)
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def torch_logits(net, pixels):
    with torch.no_grad():
        return net(normalised(pixels)).numpy()


def random_pixels(count=4, seed=1):
    return np.random.default_rng(seed).uniform(0, 255, (count, 32, 32, 3)).astype(np.float32)


def trained_looking(depth, seed=0):
    """An AkamasterResNet in eval mode with random weights and BatchNorm statistics of real-looking inputs."""
    torch.manual_seed(seed)
    net = AkamasterResNet(depth)
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight)  # its _weights_init
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.normal_(module.bias, 0.0, 0.2)
            module.momentum = None  # cumulative: the running statistics become the batch's
    net.train()
    with torch.no_grad():
        net(normalised(random_pixels(16, seed=7)))
    return net.eval()


def save_as_akamaster(net, path):
    """torch.save of its trainer: the DataParallel state dict (`module.` keys; its files hold no
    num_batches_tracked) with the best precision."""
    state = {f"module.{k}": v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save({"state_dict": state, "best_prec1": 91.25}, path)


def first_channel_identity(model):
    """Rewrite `model`'s option-A kernels as the builder makes them, [I | 0]: the identity in the first channels."""
    fresh = kr.create_model(model.name)
    for layer in model.layers:
        if layer.name.endswith("_zeropad"):
            layer.kernel.assign(fresh.get_layer(layer.name).kernel)


# --- generated checkpoints ----------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [20, 56])
def test_akamaster_checkpoint_gives_pytorch_outputs_and_the_first_channel_placement_does_not(
    depth, tmp_path, monkeypatch
):
    net = trained_looking(depth)
    path = tmp_path / f"resnet{depth}.th"
    save_as_akamaster(net, path)
    publish(monkeypatch, path.read_bytes(), "cifar10", f"resnet{depth}", keras_home=tmp_path / "keras")
    pixels = random_pixels()

    ours = kr.create_model(f"resnet{depth}", weights="cifar10", classifier_activation=None)
    expected = torch_logits(net, pixels)
    right = max_diff(ours.predict(pixels, verbose=0), expected)
    first_channel_identity(ours)
    wrong = max_diff(ours.predict(pixels, verbose=0), expected)

    assert np.std(expected) > 0.5  # not a comparison between near-constant outputs
    assert right <= 1e-4
    assert wrong > 100 * 1e-4, wrong  # the builder's own placement fails the same comparison


def test_a_th_file_loads_by_path_and_the_placement_survives_saving_and_pruning(tmp_path):
    net = trained_looking(20)
    path = tmp_path / "resnet20-any.th"
    save_as_akamaster(net, path)
    pixels = random_pixels()

    ours = kr.ResNet20(weights=str(path), preprocess="imagenet", classifier_activation=None)
    saved = tmp_path / "r20.keras"
    ours.save(saved)
    reloaded = load_keras_model(str(saved))
    untouched = channel_pruning.prune(reloaded, (0.0,)).model  # rebuilt, every weight copied by name

    expected = torch_logits(net, pixels)
    assert max_diff(reloaded.predict(pixels, verbose=0), expected) <= 1e-4
    assert max_diff(untouched.predict(pixels, verbose=0), expected) <= 1e-4


# --- the published files ------------------------------------------------------------------------------------


@pytest.fixture()
def real_cache(tmp_path, monkeypatch):
    """A KERAS_HOME whose models/ holds the four real files under their published names, no network."""
    if not all((WEIGHTS / name).exists() for name in REAL.values()):
        pytest.skip(f"akamaster's checkpoints are not at {WEIGHTS}")
    (tmp_path / "models").mkdir()
    for name in REAL.values():
        shutil.copy(WEIGHTS / name, tmp_path / "models" / name)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv(pretrained.MIRROR, "http://127.0.0.1:9/nothing-listens-here")
    return tmp_path


@pytest.fixture(scope="module")
def jpeg_images(cifar_jpg):
    """200 class-balanced CIFAR-10 (JPEG) test images."""
    return sources.load(f"folder:{cifar_jpg}", "test", limit=200)


@pytest.mark.parametrize("depth", sorted(REAL))
def test_each_published_file_loads_from_the_cache_and_equals_pytorch_on_real_images(depth, real_cache, jpeg_images):
    state = torch.load(WEIGHTS / REAL[depth], map_location="cpu", weights_only=True)["state_dict"]
    net = AkamasterResNet(depth)
    net.load_state_dict({k.removeprefix("module."): v for k, v in state.items()}, strict=True)  # their layout
    net.eval()

    ours = kr.create_model(f"resnet{depth}", weights="cifar10", classifier_activation=None)
    logits = ours.predict(jpeg_images.x.astype(np.float32), verbose=0)
    expected = torch_logits(net, jpeg_images.x)

    assert max_diff(logits, expected) <= 1e-4  # logits reach ~35: float32 rounding leaves ~2e-5
    assert np.array_equal(logits.argmax(1), expected.argmax(1))
    assert np.mean(logits.argmax(1) == jpeg_images.y) > 0.75  # trained weights, on CIFAR-10 (JPEG)


def test_convert_and_prune_take_the_published_name(real_cache, tmp_path, cifar_jpg):
    """The commands with --weights cifar10 from the cache: int8 TFLite keeps the accuracy, pruning the placement."""
    env = {"KERAS_HOME": str(real_cache), pretrained.MIRROR: "http://127.0.0.1:9/nothing-listens-here"}
    data = f"folder:{cifar_jpg}"
    converted = run_cli(
        "resnet-tflite",
        "convert",
        "resnet20",
        "--weights",
        "cifar10",
        "--int8",
        "--calib",
        data,
        "--calib-samples",
        "100",
        "--verify",
        data,
        "--limit",
        "200",
        "--out",
        tmp_path / "r20.tflite",
        env=env,
    )
    pruned = run_cli(
        "resnet-tflite",
        "prune",
        "resnet20",
        "--weights",
        "cifar10",
        "--channels",
        "0.25",
        "--epochs",
        "0",
        "--out",
        tmp_path / "r20p.keras",
        env=env,
    )

    assert converted.returncode == 0, converted.stderr[-2000:]
    keras_top1, tflite_top1 = (float(v) for v in converted.stdout.split("top-1 keras ")[1].split()[0:3:2])
    assert keras_top1 > 0.75 and abs(keras_top1 - tflite_top1) <= 0.03, converted.stdout
    assert pruned.returncode == 0, pruned.stderr[-2000:]
    kernel = np.asarray(load_keras_model(str(tmp_path / "r20p.keras")).get_layer("conv3_block1_zeropad").kernel)
    assert kernel[0, 0, 0, 8] == 1 and kernel[0, 0, 15, 23] == 1 and kernel.sum() == 16  # centred, as theirs
