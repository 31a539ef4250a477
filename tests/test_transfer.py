"""Transfer learning: a PyTorch checkpoint's backbone under a new head, frozen then fine-tuned, resumable."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_data import small_folder  # noqa: E402
from test_weights import trained_looking  # noqa: E402

from helpers import ROOT, run_cli  # noqa: E402
from keras_resnet.errors import UserError  # noqa: E402
from keras_resnet.models.specs import PREPROCESSING  # noqa: E402
from keras_resnet.training import fit, recipes, rundir  # noqa: E402

CLASSES = ["automobile", "frog", "ship"]


@pytest.fixture()
def checkpoint(tmp_path):
    """A torchvision-format ResNet-18 state dict (random weights, realistic BatchNorm statistics)."""
    net = trained_looking(18)
    path = tmp_path / "resnet18.pth"
    torch.save(net.state_dict(), path)
    return net.state_dict(), path


def test_finetune_trains_the_head_alone_then_everything_and_resumes_between_phases(
    cifar_jpg, tmp_path, monkeypatch, checkpoint
):
    """Killed right after the head-only phase's checkpoint, the resumed run fine-tunes the whole network."""
    state_dict, path = checkpoint
    folder = small_folder(cifar_jpg, tmp_path / "d", per_class=(32, 8), classes=CLASSES)
    out = tmp_path / "run"
    options = dict(weights=str(path), input_size=32, epochs=2, head_epochs=1, batch_size=32, verbose=0)
    end_of_epoch = rundir.RunState.on_epoch_end

    def killed_after_checkpoint(self, epoch, logs=None):
        end_of_epoch(self, epoch, logs)
        raise KeyboardInterrupt

    monkeypatch.setattr(rundir.RunState, "on_epoch_end", killed_after_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        fit.fit("resnet18", f"folder:{folder}", str(out), "finetune", **options)
    monkeypatch.undo()
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    head_only = keras.saving.load_model(out / "last.keras")
    metrics = fit.fit("resnet18", f"folder:{folder}", str(out), "finetune", resume=True, **options)
    final = keras.saving.load_model(out / "last.keras")

    assert state["epoch"] == 1 and state["phase"] == 0
    conv1 = state_dict["conv1.weight"].numpy().transpose(2, 3, 1, 0)
    np.testing.assert_array_equal(head_only.get_layer("conv1_conv").kernel.numpy(), conv1)  # frozen
    np.testing.assert_array_equal(
        head_only.get_layer("conv5_block2_2_bn").moving_mean.numpy(), state_dict["layer4.1.bn2.running_mean"].numpy()
    )  # BatchNorm in inference mode
    assert head_only.get_layer("predictions").kernel.shape == (512, 3)
    assert not np.allclose(final.get_layer("conv1_conv").kernel.numpy(), conv1)  # the whole network trained
    np.testing.assert_array_equal(
        final.get_layer("conv1_bn").moving_variance.numpy(), state_dict["bn1.running_var"].numpy()
    )  # but BatchNorm (frozen_bn)
    config = json.loads((out / "config.json").read_text())
    assert config["phases"] == [
        {"layers": "head", "start": 0, "end": 1, "lr": 0.01},
        {"layers": "all", "start": 1, "end": 2, "lr": 0.001},
    ]
    assert config["weights"] == str(path) and config["preprocess"] == [list(v) for v in PREPROCESSING["imagenet"]]
    history = json.loads((out / "checkpoint" / "state.json").read_text())["history"]
    assert [row["epoch"] for row in history] == [1, 2] and metrics["epochs"] == 2


def test_transfer_learning_example_end_to_end(cifar_jpg, tmp_path, checkpoint):
    """examples/transfer_learning.py on a few hundred CIFAR-10 (JPEG) images standing in for a user's folder."""
    folder = small_folder(cifar_jpg, tmp_path / "d", per_class=(80, 20), classes=CLASSES)
    out = tmp_path / "run"
    command = [
        sys.executable,
        "examples/transfer_learning.py",
        "--weights",
        str(checkpoint[1]),
        "--data",
        f"folder:{folder}",
        "--out",
        str(out),
        "--input-size",
        "32",
        "--epochs",
        "2",
        "--head-epochs",
        "1",
        "--calib-samples",
        "32",
        "--runs",
        "5",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    print(json.dumps(summary, indent=2))
    float32, int8 = summary["tflite"]["float32"], summary["tflite"]["int8"]
    assert float32["images"] == int8["images"] == 60
    assert int8["bytes"] < 0.3 * float32["bytes"] and int8["p50_ms"] > 0
    assert abs(float32["top1"] - int8["top1"]) <= 0.1
    assert "int8:" in result.stdout and summary["train"]["epochs"] == 2


def test_finetune_phases_split_the_epochs_as_the_recipe_table_says():
    plan = recipes.resolve("finetune")
    assert recipes.phases(plan, plan.epochs) == [recipes.Phase("head", 0, 3, 0.01), recipes.Phase("all", 3, 10, 0.001)]
    assert recipes.phases(recipes.resolve("cifar"), 5) == [recipes.Phase("all", 0, 5, 0.1)]
    with pytest.raises(UserError, match="head-only phase .3 epochs. is longer than the run .2 epochs."):
        recipes.phases(recipes.resolve("finetune", epochs=2), 2)


def test_resnet_train_refuses_a_missing_weights_file_in_one_line(tmp_path):
    result = run_cli(
        "resnet-train",
        "resnet18",
        "--weights",
        tmp_path / "missing.pth",
        "--data",
        f"folder:{tmp_path}",
        "--out",
        tmp_path / "run",
        "--recipe",
        "finetune",
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(errors) == 1 and errors[0].startswith("error: Weights file not found"), result.stderr
