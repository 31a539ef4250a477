"""The examples run as their docstrings say (on a small slice of CIFAR-10 (JPEG) where they train)."""

import json
import shutil
import subprocess
import sys

import pytest

from helpers import ROOT


def run_example(name, *args, timeout=900):
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def small_cifar(cifar_jpg, tmp_path_factory):
    """A user's folder in the documented layout: 40 training and 10 test images of each class."""
    root = tmp_path_factory.mktemp("small-cifar")
    for split, count in (("train", 40), ("test", 10)):
        for class_dir in sorted((cifar_jpg / split).iterdir()):
            target = root / split / class_dir.name
            target.mkdir(parents=True)
            for image in sorted(class_dir.iterdir())[:count]:
                shutil.copy(image, target / image.name)
    return root


def test_quickstart_prints_the_papers_counts():
    result = run_example("quickstart.py")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "params 11,699,112 (trainable 11,689,512)" in result.stdout  # ResNet-18, torchvision's count
    assert "ResNet-20 with shortcut A: 269,722 trainable parameters" in result.stdout  # Table 6: 0.27M
    assert "ResNet-20 with shortcut C: 283,962" in result.stdout


def test_train_and_deploy_goes_from_images_to_every_target(small_cifar, tmp_path):
    out = tmp_path / "run"
    result = run_example(
        "cifar10_train_and_deploy.py",
        "--data",
        f"folder:{small_cifar}",
        "--out",
        out,
        "--model",
        "resnet8",
        "--epochs",
        1,
        "--verify-images",
        100,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["int8"]["images"] == 100
    assert "Edge TPU: 19/19 operations mapped" in result.stdout
    for name in ("last.keras", "resnet8_int8.tflite", "resnet8_model_data.cc", "resnet8_op_resolver.h"):
        assert (out / name).is_file()
