"""Crashes, full disks, interrupts and files from strangers: nothing partial is left, no code runs; the user's
mistakes are one line that names the flags, our bugs keep their traceback."""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import ROOT, cli_argv, run_cli
from keras_resnet import files
from keras_resnet.errors import INTERRUPTED, UserError, check_interrupt, cli_errors, one_line, spell_arguments
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


# --- the user's mistakes in one line, our bugs with their traceback ----------------------------------------


@pytest.mark.parametrize(
    ("text", "flags", "expected"),
    [
        (
            "No space for it. Received: out='/tmp/my models/x.tflite'",
            {"out": "--out"},
            "No space for it. Received: --out /tmp/my models/x.tflite",
        ),
        ('Received: name="a b"', {"name": "--name"}, "Received: --name a b"),
        (
            "int8 needs calibration: pass calib=SOURCE. Received: int8=True",
            {"int8": "--int8", "calib": "--calib"},
            "int8 needs calibration: pass --calib SOURCE. Received: --int8",
        ),
        ("Unknown model. Received: model='resnet99'", {"model": "MODEL"}, "Unknown model. Received: MODEL resnet99"),
        ("Received: calib_samples=0, samples=3", {"samples": "--samples"}, "Received: calib_samples=0, --samples 3"),
        ("Received: runs=0", {}, "Received: runs=0"),
        ("Received: int8=False", {"int8": "--int8"}, "Received: --int8 False"),
    ],
    ids=[
        "quoted-string",
        "double-quoted",
        "true-flag",
        "argument-metavar",
        "whole-names-only",
        "unmapped",
        "false-is-a-value",
    ],
)
def test_spell_arguments_writes_python_arguments_as_the_command_line_spells_them(text, flags, expected):
    assert spell_arguments(text, flags) == expected


COMMAND = """import click
from keras_resnet.cli.options import OneLineCommand, command_errors
from keras_resnet.errors import UserError

@click.command(cls=OneLineCommand)
@click.argument("model")
@click.option("--name")
@click.option("--fail", type=click.Choice(["bug", "key", "user", "missing", "value"]))
@command_errors
def command(model, name, fail):
    if fail == "bug":
        1 / 0
    if fail == "key":
        {}["weights"]
    if fail == "user":
        raise UserError(f"No model is called {name}: pass name='resnet20'. Received: name={name!r}, model={model!r}")
    if fail == "missing":
        open("/nonexistent/results.json")
    if fail == "value":
        raise ValueError(f"Received: name={name!r}")
    print("done")

command()
"""


def run_command(*args, debug=False):
    """The click command above, built with `command_errors`, in a subprocess: (exit code, stdout, stderr)."""
    env = {key: value for key, value in os.environ.items() if key != "RESNET_TFLITE_DEBUG"}
    if debug:
        env["RESNET_TFLITE_DEBUG"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", COMMAND, "resnet8", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


def test_a_user_error_is_one_line_naming_the_flags_and_arguments_of_the_command():
    code, stdout, stderr = run_command("--name", "x", "--fail", "user")
    assert code == 1 and stdout == ""
    assert stderr == "error: No model is called x: pass --name resnet20. Received: --name x, MODEL resnet8\n"


@pytest.mark.parametrize(
    ("fail", "exception"),
    [("bug", "ZeroDivisionError"), ("key", "KeyError: 'weights'"), ("value", "ValueError: Received: name='x'")],
)
def test_a_bug_keeps_its_traceback_and_fails(fail, exception):
    code, stdout, stderr = run_command("--name", "x", "--fail", fail)
    assert code != 0 and stdout == ""
    assert "Traceback (most recent call last)" in stderr and stderr.strip().splitlines()[-1].startswith(exception)
    assert "error:" not in stderr  # not dressed up as the user's mistake


def test_a_missing_file_is_one_line():
    code, _, stderr = run_command("--fail", "missing")
    assert code == 1 and len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert stderr.startswith("error: No such file or directory: /nonexistent/results.json")


def test_debug_keeps_the_traceback_of_a_user_error():
    code, _, stderr = run_command("--name", "x", "--fail", "user", debug=True)
    assert code != 0 and "Traceback (most recent call last)" in stderr
    assert "keras_resnet.errors.UserError: No model is called x" in stderr


def test_a_command_that_succeeds_says_nothing_on_stderr():
    assert run_command("--name", "x") == (0, "done\n", "")


def test_the_package_commands_spell_their_flags_in_errors(tmp_path):
    result = run_cli("resnet-tflite", "compare-outputs", tmp_path / "missing.json", tmp_path / "other.json")
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: Results file not found") and "Traceback" not in result.stderr
    result = run_cli("resnet-tflite", "weights", "convert", tmp_path / "x.pth", "--out", tmp_path / "x.h5")
    assert result.returncode == 1 and result.stderr.strip().endswith(f"Received: --out {tmp_path / 'x.h5'}")


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
    command = argv[0]
    process = subprocess.Popen(
        cli_argv(*argv),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=cwd,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
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


def surfacing_as_another_error():
    """As in C code that meets the KeyboardInterrupt where it expects none (CPython's list code in TensorFlow's
    tracing raised "SystemError: bad argument to internal function")."""
    try:
        signal.raise_signal(signal.SIGINT)
    except KeyboardInterrupt:
        raise SystemError("bad argument to internal function") from None


@pytest.mark.parametrize(
    "swallow",
    [SwallowsCtrlC, swallowed_in_a_library, surfacing_as_another_error],
    ids=["in-a-destructor", "caught-by-a-library", "as-another-error"],
)
def test_a_swallowed_ctrl_c_still_ends_the_command_with_130(swallow, capsys):
    steps = []

    @cli_errors
    def command():
        swallow()
        steps.append("went on")  # what a library does after swallowing it: the command may not report success

    with pytest.raises(SystemExit) as exit_:
        command()
    assert exit_.value.code == 130 and steps == ([] if swallow is surfacing_as_another_error else ["went on"])
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
    code, stderr = interrupt(
        ["resnet-tflite", "convert", "resnet50", "--out", tmp_path / "big.tflite"], "converting", 3
    )
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
    code, stderr = interrupt(
        ["resnet-tflite", "bench", model, "--runs", 10**6, "--json", tmp_path / "r.json"], "timing", 2
    )
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
    code, stderr = interrupt(
        [
            "resnet-train",
            "resnet8",
            "--data",
            f"folder:{folder}",
            "--out",
            out,
            "--epochs",
            50,
            "--width",
            0.5,
            "--batch-size",
            32,
        ],
        "Training",
        5,
    )
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
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target), str(size)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
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
