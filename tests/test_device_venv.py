"""The device install works without TensorFlow: tflite/setup_device.sh in a fresh venv, then the harness.

The venv gets NumPy, ai-edge-litert and Pillow from PyPI (pip's cache makes reruns quick) and this package
from a copy of its source, exactly as the documented device install does. Skipped, saying why, when the
package registry cannot be reached.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import OFFLINE_SIGNS, ROOT, copy_source

SETUP = ROOT / "tflite" / "setup_device.sh"


@pytest.fixture(scope="module")
def device_venv(tmp_path_factory):
    """A fresh venv set up by tflite/setup_device.sh with this package's [device] extra."""
    work = tmp_path_factory.mktemp("device")
    source = copy_source(work / "resnet-tflite")
    venv = work / "venv"
    env = dict(os.environ, PYTHON=getattr(sys, "_base_executable", sys.executable), PIP_NO_INPUT="1")
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        ["sh", str(SETUP), str(venv), f"{source}[device]"], capture_output=True, text=True, env=env, timeout=900
    )
    if done.returncode != 0:
        output = done.stdout + done.stderr
        if any(sign in output for sign in OFFLINE_SIGNS):
            pytest.skip(f"package registry unreachable, device install not tested: {output.strip()[-300:]}")
        pytest.fail(f"tflite/setup_device.sh failed:\n{output}")
    assert "harness ready: ai-edge-litert" in done.stdout
    return venv


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """An int8 conv net (16x16x3 -> 10) and 20 labelled images of its size, made with TensorFlow here."""
    import keras

    from keras_resnet.export.convert import convert_keras

    net = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10),
        ]
    )
    x = np.random.default_rng(0).integers(0, 256, (20, 16, 16, 3), dtype=np.uint8)

    def representative():
        for image in x[:4]:
            yield [image[None].astype(np.float32)]

    folder = tmp_path_factory.mktemp("device-model")
    (folder / "tiny_i8.tflite").write_bytes(convert_keras(net, "int8", representative=representative))
    np.savez(folder / "tiny.npz", x=x, y=np.arange(20) % 10)
    return folder


def venv_python(venv, *args, cwd):
    return subprocess.run(
        [str(venv / "bin" / "python"), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )


def test_device_venv_has_no_tensorflow(device_venv, tmp_path):
    for module in ("tensorflow", "keras", "tf_keras", "click", "matplotlib"):
        done = venv_python(device_venv, "-c", f"import {module}", cwd=tmp_path)
        assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr, module
    done = venv_python(device_venv, "-c", "import keras_resnet; print(keras_resnet.__file__)", cwd=tmp_path)
    assert str(device_venv) in done.stdout  # the installed package, not the checkout


def test_harness_runs_without_tensorflow(device_venv, tiny_model, tmp_path):
    out = tmp_path / "result.json"
    done = venv_python(
        device_venv,
        "-m",
        "keras_resnet.bench",
        tiny_model / "tiny_i8.tflite",
        "--runs",
        5,
        "--warmup",
        1,
        "--data",
        f"npz:{tiny_model / 'tiny.npz'}",
        "--json",
        out,
        "--csv",
        tmp_path / "result.csv",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    row = result["results"][0]
    assert result["system"]["runtime"].startswith("ai-edge-litert")
    assert row["runs"] == 5 and row["accuracy"]["images"] == 20 and row["macs"] == 14 * 14 * 4 * 27 + 40
    assert (tmp_path / "result.csv").read_text().startswith("model,threads,delegate,")


def test_device_harness_errors_cleanly(device_venv, tmp_path):
    done = venv_python(device_venv, "-m", "keras_resnet.bench", tmp_path / "missing.tflite", cwd=tmp_path)
    assert done.returncode == 1 and done.stderr.startswith("error: Model file not found")
