"""Shared fixtures: quiet TensorFlow, the CIFAR-10 (JPEG) images from ../shared, a briefly trained net, and for
the firmware tests the TFLite-Micro tree, its library cache and two int8 models.
Helpers that tests import by name are in helpers.py."""

import os
import pathlib
import shutil
import tarfile

import pytest
from filelock import FileLock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from firmware_support import RESNET20, TARBALL, TOOLS, int8_model  # noqa: E402

from helpers import CACHE, CIFAR_TAR  # noqa: E402


@pytest.fixture(scope="session")
def cifar_jpg() -> pathlib.Path:
    """The CIFAR-10 (JPEG) tree (train/<class>, test/<class>), extracted once into .cache/."""
    if not CIFAR_TAR.exists():
        pytest.skip(f"CIFAR-10 (JPEG) archive not found at {CIFAR_TAR}")
    target = CACHE / "cifar10-jpg"
    done = target / ".complete"
    target.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{target}.lock"):  # the test workers share it: one extracts, the others wait
        if not done.exists():
            with tarfile.open(CIFAR_TAR) as tar:
                tar.extractall(target, filter="data")
            done.touch()
    # the archive may hold a top folder; find the one with train/ and test/
    for candidate in [target, *target.iterdir()]:
        if (candidate / "train").is_dir() and (candidate / "test").is_dir():
            return candidate
    raise RuntimeError(f"no train/ and test/ folders in {CIFAR_TAR}")


@pytest.fixture(scope="session")
def trained(tmp_path_factory, cifar_jpg):
    """A small CIFAR net trained briefly on real images, so its predictions mean something."""
    import keras

    import keras_resnet as kr
    from keras_resnet import sources

    model = kr.ResNet8(preprocess="cifar10", width=0.5)
    data = sources.load(f"folder:{cifar_jpg}", "train", limit=5000)
    model.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(data.x.astype("float32"), data.y, batch_size=64, epochs=5, verbose=0)
    path = tmp_path_factory.mktemp("trained") / "resnet8.keras"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def tflm_tree():
    """The vendored TFLite-Micro tree, extracted once into .cache/, and the toolchain present."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: run `make firmware-tools` (Debian packages, as root)")
    if not TARBALL.exists():
        pytest.skip(f"the vendored TFLite-Micro tree is not at {TARBALL}")
    tree = CACHE / "tflite-micro"
    CACHE.mkdir(exist_ok=True)
    with FileLock(f"{tree}.lock"):  # the test workers share it: one extracts, the others wait
        if not (tree / ".complete").exists():
            shutil.rmtree(tree, ignore_errors=True)
            tree.mkdir(parents=True)
            with tarfile.open(TARBALL) as archive:
                archive.extractall(tree, filter="tar")
            (tree / ".complete").touch()
    return next(p for p in tree.iterdir() if p.is_dir())


@pytest.fixture
def firmware_cache(monkeypatch):
    """Built TFLite-Micro libraries kept in .cache/firmware across runs and shared by the test workers."""
    monkeypatch.setenv("RESNET_TFLITE_CACHE", str(CACHE / "firmware"))


@pytest.fixture(scope="session")
def resnet8(tmp_path_factory, cifar_jpg):
    """A full-width int8 ResNet-8 trained for two epochs on 2,000 CIFAR-10 (JPEG) images (seeded)."""
    import keras

    import keras_resnet as kr
    from keras_resnet import sources

    keras.utils.set_random_seed(0)
    net = kr.ResNet8(preprocess="cifar10")
    data = sources.load(f"folder:{cifar_jpg}", "train", limit=2000)
    net.compile(keras.optimizers.SGD(0.05, momentum=0.9), "sparse_categorical_crossentropy")
    net.fit(data.x.astype("float32"), data.y, batch_size=64, epochs=2, verbose=0)
    return int8_model(net, cifar_jpg, tmp_path_factory.mktemp("resnet8") / "resnet8.tflite")


@pytest.fixture(scope="session")
def resnet20(tmp_path_factory, cifar_jpg):
    """The trained reference ResNet-20 of tflite/reference/ as int8."""
    from keras_resnet.models.saving import load_keras_model

    return int8_model(load_keras_model(RESNET20), cifar_jpg, tmp_path_factory.mktemp("resnet20") / "resnet20.tflite")
