"""Training: PyTorch-exact SGD, schedules, a short run that learns, kill -9 and resume, multi-worker."""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
from test_data import small_folder

from helpers import ROOT, kill_after_epoch, run_cli
from keras_resnet.training.fit import fit
from keras_resnet.training.optimizer import Schedule, TorchSGD

TINY = ["--width", "0.5", "--batch-size", "32"]


def test_torch_sgd_matches_pytorch_update():
    """Two steps of torch.optim.SGD(lr, momentum=0.9, weight_decay=1e-4), written out by hand."""
    w0, grads, lr, wd, mu = np.array([1.0, -2.0]), [np.array([0.5, 0.1]), np.array([-0.3, 0.2])], 0.1, 1e-4, 0.9
    w, v = w0.copy(), np.zeros(2)
    for g in grads:
        v = mu * v + (g + wd * w)
        w = w - lr * v
    var = keras.Variable(w0.astype("float32"))
    optimizer = TorchSGD(lr, mu, torch_weight_decay=wd)
    for g in grads:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g.astype("float32")), var)])
    np.testing.assert_allclose(var.numpy(), w, rtol=1e-6)


def test_schedules():
    step = Schedule("step", 0.1, 64000, (0.5, 0.75), warmup_steps=400, warmup_lr=0.01)
    assert [round(float(step(s)), 6) for s in (0, 399, 400, 31999, 32000, 48000, 63999)] == [
        0.01,
        0.01,
        0.1,
        0.1,
        0.01,
        0.001,
        0.001,
    ]
    cycle = Schedule("onecycle", 0.2, 1000, warmup_lr=0.02)
    assert float(cycle(0)) == pytest.approx(0.02) and float(cycle(150)) == pytest.approx(0.2)
    assert float(cycle(1000)) == pytest.approx(0.0, abs=1e-7) and float(cycle(575)) == pytest.approx(0.1)
    cosine = Schedule("cosine", 0.1, 100)
    assert float(cosine(50)) == pytest.approx(0.05) and float(cosine(100)) == pytest.approx(0.0, abs=1e-7)


def test_short_run_learns(cifar_jpg, tmp_path):
    """ResNet-8 (width 0.5) on 3 real CIFAR-10 classes, 900 images: far above 33% chance in 4 epochs."""
    folder = small_folder(cifar_jpg, tmp_path / "d", per_class=(300, 100), classes=["automobile", "frog", "ship"])
    out = tmp_path / "run"
    metrics = fit(
        "resnet8",
        f"folder:{folder}",
        str(out),
        epochs=4,
        batch_size=32,
        lr=0.05,
        schedule="onecycle",
        model_options={"width": 0.5},
        verbose=0,
    )
    history = [json.loads(json.dumps(r)) for r in json.load(open(out / "checkpoint" / "state.json"))["history"]]
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]
    assert metrics["last"]["top1"] > 0.6 and metrics["best"]["top1"] >= metrics["last"]["top1"] - 1e-9
    for name in ("best.keras", "last.keras", "history.csv", "config.json", "metrics.json", "classes.txt", "curves.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "classes.txt").read_text().split() == ["automobile", "frog", "ship"]
    assert any((out / "logs" / "train").glob("events.out.tfevents.*"))  # TensorBoard
    config = json.loads((out / "config.json").read_text())
    assert config["recipe"]["weight_decay"] == 1e-4 and config["epochs"] == 4 and config["classes"] == 3
    model = keras.saving.load_model(out / "last.keras")  # float32, takes raw pixels
    assert model.dtype_policy.name == "float32" and model.get_layer("preprocess") is not None


def test_kill_and_resume(cifar_jpg, tmp_path):
    """SIGKILL mid-run, then --resume: same epoch count, the LR schedule continues where it was."""
    folder = small_folder(cifar_jpg, tmp_path / "d", per_class=(40, 5))
    out = tmp_path / "run"
    args = ["resnet8", "--data", f"folder:{folder}", "--out", out, "--epochs", "6", "--schedule", "cosine", *TINY]
    killed_at = kill_after_epoch(out, 2, "resnet-train", *args)
    assert 2 <= killed_at < 6, "the run must be killed mid-way"
    assert "already holds a run" in run_cli("resnet-train", *args).stderr
    result = run_cli("resnet-train", *args, "--resume")
    assert result.returncode == 0, result.stderr[-2000:]
    history = json.loads((out / "checkpoint" / "state.json").read_text())["history"]
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5, 6]
    steps = json.loads((out / "config.json").read_text())["steps_per_epoch"]
    schedule = Schedule("cosine", 0.1, 6 * steps)
    for row in history:  # the lr logged after each epoch is the schedule's at that iteration
        assert row["lr"] == pytest.approx(float(schedule(row["epoch"] * steps)), abs=1e-6)
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 6


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multiworker_on_loopback(cifar_jpg, tmp_path):
    """Two worker processes on 127.0.0.1 train together; both end with identical weights."""
    folder = small_folder(cifar_jpg, tmp_path / "d", per_class=(20, 5))
    out = tmp_path / "run"
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    code = "import sys; from keras_resnet.cli.train import main; sys.argv[0] = 'resnet-train'; main()"
    args = ["resnet8", "--data", f"folder:{folder}", "--out", out, "--epochs", "2", "--strategy", "multiworker", *TINY]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", code, *map(str, args)],
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})),
        )
        for i in range(2)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert (
        config["replicas"] == 2 and config["strategy"] == "CollectiveAllReduceStrategy"
    )  # MultiWorkerMirroredStrategy
    chief = keras.saving.load_model(out / "last.keras").get_weights()
    other = keras.saving.load_model(out / "worker-1" / "last.keras").get_weights()
    assert len(chief) == len(other)
    for a, b in zip(chief, other):
        np.testing.assert_array_equal(a, b)
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 2


def test_a_legacy_h5_model_trains_like_a_keras_file(cifar_jpg, tmp_path):
    """`resnet-train model.h5` fine-tunes the file's model (the name ends in .h5: a file, not a registered name)."""
    import keras_resnet as kr

    folder = small_folder(cifar_jpg, tmp_path / "d", per_class=(32, 8), classes=["automobile", "frog"])
    model = tmp_path / "model.h5"
    kr.ResNet8(width=0.25, classes=2, preprocess="cifar10").save(model)
    result = run_cli(
        "resnet-train",
        model,
        "--data",
        f"folder:{folder}",
        "--out",
        tmp_path / "run",
        "--epochs",
        1,
        "--batch-size",
        16,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"] == str(model)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"] == 1
