"""Shared fixtures: quiet TensorFlow, the CIFAR-10 (JPEG) images from ../shared, small helpers."""
import os
import pathlib
import subprocess
import sys
import tarfile

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = pathlib.Path(os.environ.get("RESNET_SHARED", ROOT.parent / "shared"))
CIFAR_TAR = SHARED / "data" / "cifar10-jpg.tar.gz"
CACHE = ROOT / ".cache"


@pytest.fixture(scope="session")
def cifar_jpg() -> pathlib.Path:
    """The CIFAR-10 (JPEG) tree (train/<class>, test/<class>), extracted once into .cache/."""
    if not CIFAR_TAR.exists():
        pytest.skip(f"CIFAR-10 (JPEG) archive not found at {CIFAR_TAR}")
    target = CACHE / "cifar10-jpg"
    done = target / ".complete"
    if not done.exists():
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(CIFAR_TAR) as tar:
            tar.extractall(target, filter="data")
        done.touch()
    # the archive may hold a top folder; find the one with train/ and test/
    for candidate in [target, *target.iterdir()]:
        if (candidate / "train").is_dir() and (candidate / "test").is_dir():
            return candidate
    raise RuntimeError(f"no train/ and test/ folders in {CIFAR_TAR}")


def run_cli(*args, input=None, env=None, timeout=600, prelude=""):
    """Run a console command of this package in a subprocess; returns CompletedProcess (text).

    `prelude`: Python run first in that process, e.g. to simulate a full disk."""
    command, *rest = args
    module = {"resnet-tflite": "keras_resnet.cli:main", "resnet-train": "keras_resnet.cli:train_main"}[command]
    mod, func = module.split(":")
    code = f"{prelude}\nimport sys; from {mod} import {func}; sys.argv[0] = {command!r}; {func}()"
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-c", code, *map(str, rest)], capture_output=True, text=True,
                          input=input, env=full_env, timeout=timeout, cwd=ROOT)
