"""Crashes, full disks, interrupts and files from strangers: nothing partial is left, no code runs."""
import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import ROOT, run_cli
from keras_resnet import files
from keras_resnet.errors import INTERRUPTED, UserError, check_interrupt, cli_errors, one_line
from keras_resnet.models.saving import load_keras_model


def test_atomic_write_keeps_the_old_file_when_the_disk_fills(tmp_path, monkeypatch):
    path = tmp_path / "model.tflite"
    path.write_bytes(b"old")

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError) as info:
        files.write_bytes(path, b"new" * 1000)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.tflite"]  # the temporary file is gone too
    assert one_line(info.value).startswith("No space left on device")


def test_atomic_write_refuses_missing_and_read_only_directories(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="does not exist"):
        files.write_text(tmp_path / "missing" / "x.json", "{}")
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access  # root may write anywhere, so the permission is taken away where io asks for it
    monkeypatch.setattr(os, "access", lambda p, mode: os.fspath(p) != str(locked) and real_access(p, mode))
    with pytest.raises(UserError, match="not writable"):
        files.write_text(locked / "x.json", "{}")
    assert os.listdir(locked) == []


def make_lambda_model(path, marker):
    """A model file (.keras, or legacy .h5) whose Lambda layer creates `marker` when its code runs."""
    import keras

    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Lambda(lambda x: (open(marker, "w").close(), x)[1] * 1.0)(inputs)
    keras.Model(inputs, outputs).save(path)
    os.remove(marker)  # building the model ran it once; the test checks loading does not


def test_a_keras_file_with_lambda_code_is_refused_and_never_runs(tmp_path):
    model, marker = tmp_path / "evil.keras", tmp_path / "pwned"
    make_lambda_model(model, str(marker))
    for args in (["info", model], ["convert", model, "--out", tmp_path / "x.tflite"]):
        result = run_cli("resnet-tflite", *args)
        assert result.returncode == 1 and "Lambda" in result.stderr and "Traceback" not in result.stderr
        assert not marker.exists()
    assert not (tmp_path / "x.tflite").exists()


def test_a_legacy_h5_model_with_lambda_code_is_refused_and_never_runs(tmp_path):
    model, marker = tmp_path / "evil.h5", tmp_path / "pwned"
    make_lambda_model(model, str(marker))
    with pytest.raises(UserError, match="contains a Lambda layer"):
        load_keras_model(model)
    assert not marker.exists()


def test_npz_sources_never_unpickle(tmp_path):
    import numpy as np

    from keras_resnet import sources

    path = tmp_path / "evil.npz"
    np.savez(path, x=np.array([object()], dtype=object), y=np.array([0]))
    with pytest.raises(UserError, match="not a readable .npz"):
        sources.load(f"npz:{path}")


def interrupt(argv, started: str, delay: float, cwd=ROOT):
    """Run a command, wait for a progress line starting with `started`, wait `delay` s more, press Ctrl-C
    (SIGINT); returns (exit code, what it printed on stderr after that line)."""
    command, *rest = argv
    module = {"resnet-tflite": "keras_resnet.cli.main", "resnet-train": "keras_resnet.cli.train"}[command]
    code = f"import sys; from {module} import main; sys.argv[0] = {command!r}; main()"
    process = subprocess.Popen([sys.executable, "-c", code, *map(str, rest)], stderr=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, text=True, cwd=cwd,
                               env=dict(os.environ, PYTHONUNBUFFERED="1"))
    seen = []
    for line in process.stderr:
        seen.append(line)
        if line.startswith(started):
            break
    else:
        process.wait()
        pytest.fail(f"{command} ended before printing {started!r}:\n{''.join(seen)}")
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    return process.wait(timeout=300), rest


def temporary_files(folder) -> list[str]:
    return [os.path.join(d, f) for d, _, files in os.walk(folder) for f in files if f.startswith(".")]


class SwallowsCtrlC:
    """Ctrl-C pressed while Python runs a `__del__`, where it cannot propagate (as in TensorFlow's clean-up)."""

    def __del__(self):
        signal.raise_signal(signal.SIGINT)


def swallowed_in_a_library():
    try:
        signal.raise_signal(signal.SIGINT)
    except KeyboardInterrupt:
        pass


@pytest.mark.parametrize("swallow", [SwallowsCtrlC, swallowed_in_a_library],
                         ids=["in-a-destructor", "caught-by-a-library"])
def test_a_swallowed_ctrl_c_still_ends_the_command_with_130(swallow, capsys):
    steps = []

    @cli_errors
    def command():
        swallow()
        steps.append("went on")  # what a library does after swallowing it: the command may not report success

    with pytest.raises(SystemExit) as exit_:
        command()
    assert exit_.value.code == 130 and steps == ["went on"]
    err = capsys.readouterr().err
    assert err.strip() == INTERRUPTED, err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    try:
        check_interrupt()  # forgotten once the command ended: training called from Python later is not stopped
    except KeyboardInterrupt:
        pytest.fail("the Ctrl-C of a command that ended is still pending")


def test_training_stops_at_the_next_batch_after_a_swallowed_ctrl_c(tmp_path):
    import keras

    from keras_resnet.training.rundir import RunState

    state = RunState(str(tmp_path), keras.Sequential(), {}, True, "val_accuracy")
    batches = []

    @cli_errors
    def command():
        swallowed_in_a_library()
        for batch in range(3):
            batches.append(batch)
            state.on_train_batch_end(batch)

    with pytest.raises(SystemExit) as exit_:
        command()
    assert exit_.value.code == 130 and batches == [0]


def test_ctrl_c_during_conversion_exits_130_and_leaves_nothing(tmp_path):
    code, stderr = interrupt(["resnet-tflite", "convert", "resnet50", "--out", tmp_path / "big.tflite"],
                             "converting", 3)
    assert code == 130 and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == INTERRUPTED
    assert os.listdir(tmp_path) == []


def test_ctrl_c_during_a_benchmark_exits_130_and_writes_no_result(tmp_path):
    # set up: a model that runs for minutes at a million runs
    import keras

    from keras_resnet.export.convert import convert_keras

    net = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(8, 3), keras.layers.GlobalAveragePooling2D()])
    model = tmp_path / "tiny.tflite"
    model.write_bytes(convert_keras(net, "float32"))
    # invoke
    code, stderr = interrupt(["resnet-tflite", "bench", model, "--runs", 10**6, "--json", tmp_path / "r.json"],
                             "timing", 2)
    # validate
    assert code == 130 and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == INTERRUPTED
    assert sorted(os.listdir(tmp_path)) == ["tiny.tflite"]


def test_ctrl_c_during_training_exits_130_and_leaves_only_whole_files(cifar_jpg, tmp_path):
    # set up
    from test_data import small_folder

    folder = small_folder(cifar_jpg, tmp_path / "d", per_class=(40, 5))
    out = tmp_path / "run"
    # invoke: interrupted in its first epochs
    code, stderr = interrupt(["resnet-train", "resnet8", "--data", f"folder:{folder}", "--out", out,
                              "--epochs", 50, "--width", 0.5, "--batch-size", 32], "Training", 5)
    # validate: what is there is whole, and the run can be resumed
    assert code == 130 and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == INTERRUPTED
    assert temporary_files(out) == []
    assert json.loads((out / "config.json").read_text())["epochs"] == 50
    state = out / "checkpoint" / "state.json"
    assert not state.exists() or json.loads(state.read_text())["epoch"] < 50


WRITER = """import sys
from keras_resnet import files
path, size = sys.argv[1], int(sys.argv[2])
print("ready", flush=True)
for i in range(10**6):
    files.write_bytes(path, bytes([65 + i % 2]) * size)
"""


def test_a_writer_killed_at_any_moment_leaves_the_old_file_or_the_new_one(tmp_path):
    """SIGKILL (no clean-up possible) while 8 MB files are written over each other, ten times."""
    target, size = tmp_path / "model.tflite", 8 * 2**20
    killed_mid_write = 0
    for round_ in range(10):
        # set up: a writer rewriting the same file without pause
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(size)], cwd=ROOT,
                                  stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline() == "ready\n"
        # invoke: kill it without warning
        time.sleep(0.05 + 0.07 * round_)
        writer.kill()
        writer.wait()
        # validate: the file is one whole version; a kill during a write leaves only a hidden temporary file
        if target.exists():
            data = target.read_bytes()
            assert len(data) == size and data in (b"A" * size, b"B" * size)
        leftovers = temporary_files(tmp_path)
        killed_mid_write += bool(leftovers)
        for path in leftovers:
            os.remove(path)
    assert killed_mid_write > 0, "no kill landed during a write; the test proved nothing"
