"""Shared fixtures: quiet TensorFlow, the CIFAR-10 (JPEG) images from ../shared, a briefly trained net.
Helpers that tests import by name are in helpers.py."""

import os
import pathlib
import tarfile

import pytest
from filelock import FileLock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

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
