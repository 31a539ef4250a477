"""Malformed .tflite files never crash our readers: saved crashers replayed, and a short fuzz every run.

A crash is any exception but UserError, a hang, or a dead process (a segfault in native code), so both the
replay and the fuzz run the readers in a worker process (tools/fuzz_tflite.py). The pure-Python readers
also run in-process under hypothesis, which shrinks what it finds.
"""

import importlib.util
import re
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import ROOT
from keras_resnet.errors import UserError
from keras_resnet.lite import edgetpu, flatbuffer, metadata, runtime

FUZZ_DATA = ROOT / "tests" / "data" / "fuzz"
TOOL = ROOT / "tools" / "fuzz_tflite.py"


def load_tool():
    spec = importlib.util.spec_from_file_location("fuzz_tflite", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fuzz_tflite = load_tool()


@pytest.fixture(scope="module")
def seeds():
    return fuzz_tflite.load_seeds(fuzz_tflite.SEEDS)


def run_tool(*args, timeout=600):
    return subprocess.run(
        [sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=timeout
    )


def test_every_saved_crasher_is_refused_cleanly():
    # set up
    saved = sorted(FUZZ_DATA.glob("*.tflite"))
    # invoke: each input through every reader, in a worker process that may die
    result = run_tool("--replay", FUZZ_DATA)
    # validate
    verdicts = dict(re.findall(r"^(\S+\.tflite): (.*)$", result.stdout, re.MULTILINE))
    assert sorted(verdicts) == [p.name for p in saved] and len(saved) >= 10
    assert all(v == "ok" for v in verdicts.values()), result.stdout
    assert result.returncode == 0


@settings(
    max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(choice=st.integers(0, 3), rng=st.randoms(use_true_random=False))
def test_pure_python_readers_refuse_damaged_models_with_a_user_error(seeds, choice, rng):
    # set up: a seed model with one to three mutations
    data = fuzz_tflite.mutate(seeds[choice % len(seeds)], rng, seeds)
    # invoke and validate: a result or a UserError, nothing else
    try:
        edgetpu.preflight(flatbuffer.read(data))
    except UserError:
        pass
    try:
        metadata.read(data)
    except UserError:
        pass
    runtime.model_macs(data)  # None for what it cannot read, never an exception


def test_a_short_fuzz_of_every_reader_finds_no_crash(tmp_path):
    result = run_tool("--seconds", 30, "--seed", 7, "--out", tmp_path)
    summary = result.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ cases in \d+ s \([\d.]+ cases/s\)", summary), result.stdout + result.stderr
    assert result.returncode == 0 and "0 distinct crash(es)" in summary, result.stdout
    assert list(tmp_path.iterdir()) == []
