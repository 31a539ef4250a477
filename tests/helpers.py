"""What the tests share by name (`from helpers import ...`): the checkout's paths, the console commands run in
a subprocess, a crash in the middle of training, a copy of the sources, the scripts of tools/ as modules and
a published weights file made up for one test. Fixtures live in conftest.py."""

import importlib.util
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = pathlib.Path(os.environ.get("RESNET_SHARED", ROOT.parent / "shared"))
CIFAR_TAR = SHARED / "data" / "cifar10-jpg.tar.gz"
CACHE = ROOT / ".cache"
# What pip prints when the package registry cannot be reached (tests that install then skip, saying why).
OFFLINE_SIGNS = (
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "No matching distribution found",
    "Could not fetch URL",
    "ConnectTimeout",
    "ProxyError",
)
# The console commands of this package ([project.scripts] of pyproject.toml): name -> "module:function".
CONSOLE_COMMANDS = {"resnet-tflite": "keras_resnet.cli.main:main", "resnet-train": "keras_resnet.cli.train:main"}


def cli_argv(command: str, *args, prelude: str = "") -> list[str]:
    """The argv that runs console command `command` of this package with this Python."""
    mod, func = CONSOLE_COMMANDS[command].split(":")
    code = f"{prelude}\nimport sys; from {mod} import {func}; sys.argv[0] = {command!r}; {func}()"
    return [sys.executable, "-c", code, *map(str, args)]


def run_cli(*args, input=None, env=None, timeout=600, prelude=""):
    """Run a console command of this package in a subprocess; returns CompletedProcess (text).

    `prelude`: Python run first in that process, e.g. to simulate a full disk."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        cli_argv(*args, prelude=prelude),
        capture_output=True,
        text=True,
        input=input,
        env=full_env,
        timeout=timeout,
        cwd=ROOT,
    )


def kill_after_epoch(run_dir: pathlib.Path, epoch: int, *args, timeout=240) -> int:
    """Start console command `args`, SIGKILL it once run dir `run_dir` has checkpointed `epoch` epochs;
    returns the epoch its checkpoint holds (a crash at an arbitrary moment, for resume tests)."""
    process = subprocess.Popen(cli_argv(*args), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = run_dir / "checkpoint" / "state.json"
    deadline = time.time() + timeout
    while time.time() < deadline and not (state.exists() and json.loads(state.read_text())["epoch"] >= epoch):
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return json.loads(state.read_text())["epoch"]


def copy_source(target: pathlib.Path) -> pathlib.Path:
    """The files a source install needs, copied so that building leaves the checkout untouched."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, target / name)
    shutil.copytree(
        ROOT / "keras_resnet", target / "keras_resnet", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    return target


def load_tool(name: str):
    """A script of tools/ imported as a module (tools/ is not a package; its scripts import each other, as
    Python lets a script import the modules beside it)."""
    if str(ROOT / "tools") not in sys.path:
        sys.path.append(str(ROOT / "tools"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as an import would: dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def publish(monkeypatch, content: bytes, weights: str, model: str, keras_home=None, **options):
    """Make `content` the published file that `weights` names for `model` built with `options`, for one test:
    its table entry gets the hash of `content` (of the entry's kind); with `keras_home`, KERAS_HOME points
    there and the file is already in its cache. Returns the entry."""
    import dataclasses
    import hashlib

    from keras_resnet.models import pretrained, specs

    entry = pretrained.resolve(weights, specs.get_spec(model), options)
    digest = hashlib.new("md5" if entry.hash_kind == "md5" else "sha256", content).hexdigest()
    mine = dataclasses.replace(entry, file_hash=digest[:8] if entry.hash_kind == "sha256-prefix" else digest)
    monkeypatch.setattr(pretrained, "PUBLISHED", tuple(mine if e == entry else e for e in pretrained.PUBLISHED))
    if keras_home is not None:
        monkeypatch.setenv("KERAS_HOME", str(keras_home))
        (keras_home / "models").mkdir(parents=True, exist_ok=True)
        (keras_home / "models" / entry.file_name).write_bytes(content)
    return mine


def bench_result(values, sha="abc") -> dict:
    """A benchmark result of one model whose per-image outputs were kept (`bench --outputs`): what
    `compare-outputs` compares."""
    return {
        "schema": "resnet-tflite-bench/1",
        "results": [
            {
                "model": "m",
                "threads": 1,
                "delegate": "xnnpack",
                "sha256": sha,
                "output": {"dtype": "int8", "scale": 0.5, "zero_point": 0},
                "accuracy": {"top1": 0.5, "outputs": {"labels": [0, 1, 2, 1], "values": values}},
            }
        ],
    }
