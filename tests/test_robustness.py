"""Crashes, full disks, interrupts and files from strangers: nothing partial is left, no code runs."""
import errno
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, run_cli
from keras_resnet import io
from keras_resnet.errors import UserError, one_line


def test_atomic_write_keeps_the_old_file_when_the_disk_fills(tmp_path, monkeypatch):
    path = tmp_path / "model.tflite"
    path.write_bytes(b"old")

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError) as info:
        io.write_bytes(path, b"new" * 1000)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.tflite"]  # the temporary file is gone too
    assert one_line(info.value).startswith("No space left on device")


def test_atomic_write_refuses_missing_and_read_only_directories(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        io.write_text(tmp_path / "missing" / "x.json", "{}")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere; permissions cannot be tested")
        with pytest.raises(UserError, match="not writable"):
            io.write_text(locked / "x.json", "{}")
    finally:
        locked.chmod(0o700)


def test_an_unwritable_output_location_gets_one_clear_line():
    result = run_cli("resnet-tflite", "convert", "resnet8", "--out", "/proc/resnet8.tflite")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Cannot write in /proc" in result.stderr, result.stderr


def make_lambda_model(path, marker):
    """A .keras file whose Lambda layer creates `marker` when its code runs."""
    import keras

    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Lambda(lambda x: (open(marker, "w").close(), x)[1] * 1.0)(inputs)
    keras.Model(inputs, outputs).save(path, zipped=True)
    os.remove(marker)  # building the model ran it once; the test checks loading does not


def test_a_keras_file_with_lambda_code_is_refused_and_never_runs(tmp_path):
    model, marker = tmp_path / "evil.keras", tmp_path / "pwned"
    make_lambda_model(model, str(marker))
    for args in (["info", model], ["convert", model, "--out", tmp_path / "x.tflite"]):
        result = run_cli("resnet-tflite", *args)
        assert result.returncode == 1 and "Lambda" in result.stderr and "Traceback" not in result.stderr
        assert not marker.exists()
    assert not (tmp_path / "x.tflite").exists()


def test_npz_sources_never_unpickle(tmp_path):
    import numpy as np

    from keras_resnet import sources

    path = tmp_path / "evil.npz"
    np.savez(path, x=np.array([object()], dtype=object), y=np.array([0]))
    with pytest.raises(UserError, match="not a readable .npz"):
        sources.load(f"npz:{path}")


@pytest.mark.parametrize("content,message", [
    (b"this is not a zip", "not a valid Keras model file|not a loadable Keras model"),
    (b"", "empty"),
])
def test_a_file_of_the_wrong_kind_is_refused(tmp_path, content, message):
    path = tmp_path / "model.keras"
    path.write_bytes(content)
    result = run_cli("resnet-tflite", "convert", path, "--out", tmp_path / "x.tflite")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert any(m in result.stderr for m in message.split("|")), result.stderr


def test_a_model_whose_input_is_not_an_image_is_refused(tmp_path):
    import keras

    inputs = keras.Input((10,))
    path = tmp_path / "dense.keras"
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(path)
    result = run_cli("resnet-tflite", "convert", path, "--out", tmp_path / "x.tflite", "--int8",
                     "--calib", "folder:.")
    assert result.returncode == 1 and "not images" in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_during_conversion_exits_130_and_leaves_nothing(tmp_path):
    out = tmp_path / "big.tflite"
    code = ("import sys; from keras_resnet.cli import main; "
            f"sys.argv=['resnet-tflite','convert','resnet50','--out',{str(out)!r}]; main()")
    process = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True, cwd=ROOT,
                               env=dict(os.environ, PYTHONUNBUFFERED="1"))
    deadline = time.time() + 300
    for line in process.stderr:  # wait until the conversion itself has started
        if line.startswith("converting") or time.time() > deadline:
            break
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    assert process.wait(timeout=300) == 130, rest
    assert "interrupted" in rest and "Traceback" not in rest
    assert os.listdir(tmp_path) == []
