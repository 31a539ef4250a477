"""The run directory: its config, the checkpoint that makes a run resumable, the exported models and curves.

Crash safety: after every epoch the training model's weights with the optimizer state (so the iteration
count, hence the LR schedule position) go to a new file, then `checkpoint/state.json` (epoch, history,
best) is replaced atomically to point at it. A run killed at any moment, even by SIGKILL, resumes from the
last completed epoch. Keras' `BackupAndRestore` is not used: it writes weights and epoch in two non-atomic
steps (a kill between them resumes with the wrong epoch), every worker writes the same files, and it
restores only inside `fit`, after the input pipeline (which must start at the resumed epoch) exists.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time

import keras
import numpy as np

from keras_resnet.errors import check_interrupt
from keras_resnet.files import atomic_path, write_json, write_text
from keras_resnet.models.saving import save_model


def write_history(out: str, history: list[dict]) -> None:
    """history.csv and curves.png, regenerated from the checkpointed history (so never out of step)."""
    keys = ["epoch"] + sorted({k for row in history for k in row} - {"epoch"})
    text = io.StringIO()
    writer = csv.DictWriter(text, keys)
    writer.writeheader()
    writer.writerows(history)
    write_text(os.path.join(out, "history.csv"), text.getvalue())
    plot_curves(history, os.path.join(out, "curves.png"))


def plot_curves(history: list[dict], path: str) -> None:
    """Loss, accuracy and learning rate per epoch, training and validation, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, key in zip(axes, ("loss", "accuracy", "lr")):
        for prefix, style in (("", "-"), ("val_", "--")):
            if prefix + key in history[0]:
                ax.plot(epochs, [row[prefix + key] for row in history], style, label=(prefix or "train_") + key)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)


class RunState(keras.callbacks.Callback):
    """After each epoch: export last (and best) model, checkpoint atomically, write history and curves.
    After each batch: stop on a Ctrl-C even where it was swallowed (`errors.check_interrupt`)."""

    def __init__(self, out: str, export: keras.Model, state: dict, chief: bool, monitor: str):
        super().__init__()
        self.out, self.export, self.state, self.chief, self.monitor = out, export, state, chief, monitor
        self.checkpoint = os.path.join(out, "checkpoint")
        self.began = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.began = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        check_interrupt()  # a Ctrl-C that TensorFlow's clean-up code swallowed still stops the run

    def on_epoch_end(self, epoch, logs=None):
        row = {
            "epoch": epoch + 1,
            **{k: float(np.mean(v)) for k, v in (logs or {}).items()},
            "lr": float(self.model.optimizer.learning_rate),
            "seconds": round(time.perf_counter() - self.began, 2),
        }
        self.state["history"].append(row)
        self.state["epoch"] = epoch + 1
        improved = row.get(self.monitor, -1.0) > self.state["best"]["value"]
        if improved:
            self.state["best"] = {"value": row.get(self.monitor, -1.0), "epoch": epoch + 1}
        self.export.set_weights(self.model.get_weights())
        if not self.chief:
            self._save_weights_elsewhere()  # saving runs collective ops: every worker must take part
            return
        save_model(self.export, os.path.join(self.out, "last.keras"))
        if improved:
            save_model(self.export, os.path.join(self.out, "best.keras"))
        self._checkpoint()
        write_history(self.out, self.state["history"])

    def _checkpoint(self):
        """New weights file, then state.json replaced atomically to name it, then older files removed."""
        os.makedirs(self.checkpoint, exist_ok=True)
        name = f"epoch-{self.state['epoch']:05d}.weights.h5"
        with atomic_path(os.path.join(self.checkpoint, name), suffix=".weights.h5") as tmp:
            self.model.save_weights(tmp)
        write_json(os.path.join(self.checkpoint, "state.json"), {**self.state, "weights": name})
        for old in os.listdir(self.checkpoint):
            if old.endswith(".weights.h5") and old != name:
                os.unlink(os.path.join(self.checkpoint, old))

    def _save_weights_elsewhere(self):
        import tempfile

        with tempfile.TemporaryDirectory() as scratch:
            self.model.save_weights(os.path.join(scratch, "worker.weights.h5"))


def read_state(out: str) -> dict | None:
    """The checkpointed state of a run dir, or None before its first completed epoch."""
    path = os.path.join(out, "checkpoint", "state.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def restore(model: keras.Model, out: str, state: dict) -> None:
    """Load weights and optimizer state (iterations, momenta) of the last completed epoch."""
    model.optimizer.build(model.trainable_variables)
    model.load_weights(os.path.join(out, "checkpoint", state["weights"]))
