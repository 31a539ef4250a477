"""A training run in TensorFlow, once `keras_resnet.training.fit` has accepted the request and listed the data.

The run trains a copy of the exported float32 model (in the mixed-precision policy, under the tf.distribute
strategy) phase by phase (`recipes.phases`: the classifier alone, then every layer), each phase with its
own optimizer and schedule. The input pipeline's randomness is a function of (seed, epoch), so a resumed
run sees the same images and crops as an unbroken one.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

import keras
import tensorflow as tf

from keras_resnet.errors import UserError, say
from keras_resnet.files import write_json, write_text
from keras_resnet.models.saving import load_keras_model, save_model
from keras_resnet.models.specs import PREPROCESSING
from keras_resnet.training import data, recipes
from keras_resnet.training.distill import Distillation
from keras_resnet.training.hardware import choose_policy, choose_strategy, is_chief
from keras_resnet.training.networks import (
    DistillingNet,
    MultiWorkerDistillingNet,
    MultiWorkerNet,
    float_model,
    model_size,
    teacher_model,
    train_layers,
    training_copy,
)
from keras_resnet.training.optimizer import compile_model
from keras_resnet.training.rundir import RunState, read_state, restore, write_history

if TYPE_CHECKING:  # the run comes from training.fit, which imports this module only to start it
    from keras_resnet.training.fit import Run

EVAL_BATCH = 256


@dataclass
class Session:
    """What the phases of a run share: the strategy, the exported model and the copy being trained, the
    data and its pipelines' settings, the checkpointed state."""

    run: Run
    recipe: recipes.Recipe
    distribution: tf.distribute.Strategy
    chief: bool
    export: keras.Model
    net: keras.Model
    train: data.Listing
    size: int
    steps_per_epoch: int
    epochs: int
    state: dict
    callbacks: list
    val_ds: tf.data.Dataset
    verbose: int | None

    @property
    def multiworker(self) -> bool:
        return isinstance(self.distribution, tf.distribute.MultiWorkerMirroredStrategy)

    def enter(self, phase: recipes.Phase, trainable: dict[str, bool]) -> None:
        """Freeze or unfreeze for `phase`, with a new optimizer on the phase's own schedule."""
        with self.distribution.scope():
            train_layers(self.net, phase.layers, trainable, self.recipe.frozen_bn)
            compile_model(self.net, replace(self.recipe, lr=phase.lr), (phase.end - phase.start) * self.steps_per_epoch)

    def pipeline(self, context=None) -> tf.data.Dataset:
        """The training batches from the state's epoch on: a new pipeline per phase, as an unbroken run's."""
        return data.train_dataset(
            self.train,
            self.run.config["augment"],
            self.size,
            self.recipe.batch_size,
            self.recipe.seed,
            self.state["epoch"],
            context,
        )

    def fit(self, phase: recipes.Phase) -> None:
        """Train the remaining epochs of `phase`."""
        train_ds = (
            self.distribution.distribute_datasets_from_function(self.pipeline) if self.multiworker else self.pipeline()
        )
        config = self.run.config
        say(
            f"Training {'the classifier of ' if phase.layers == 'head' else ''}{self.export.name}: epochs "
            f"{self.state['epoch'] + 1}-{phase.end} of {self.epochs}, {self.steps_per_epoch} steps each, peak lr "
            f"{phase.lr} ({config['mixed_precision']}, {config['replicas']} replica(s)) ..."
        )
        verbose = self.verbose if self.verbose is not None else (1 if sys.stdout.isatty() else 2)
        with self.distribution.scope():
            self.net.fit(
                train_ds,
                epochs=phase.end,
                initial_epoch=self.state["epoch"],
                steps_per_epoch=self.steps_per_epoch,
                validation_data=self.val_ds,
                callbacks=self.callbacks,
                shuffle=False,
                verbose=verbose,
            )


def train(run: Run, mixed_precision: str, strategy: str, unsafe_load: bool, verbose: int | None) -> dict:
    """Train `run` to its last epoch (or on from its checkpoint); the metrics written to metrics.json."""
    distribution = choose_strategy(strategy)  # first: MultiWorkerMirroredStrategy must precede other ops
    config = run.config
    size = _resolve_input(config, unsafe_load)
    settings = recipes.Recipe(**{**config["recipe"], "boundaries": tuple(config["recipe"]["boundaries"])})
    train_split, val, test = _listings(run, size)
    steps_per_epoch = len(train_split) // settings.batch_size
    if steps_per_epoch < 1:
        raise UserError(
            f"{len(train_split)} training images make no full batch of {settings.batch_size}: lower "
            f"batch_size. Received: batch_size={settings.batch_size}"
        )
    epochs = recipes.epochs_for(settings, steps_per_epoch)
    phases = recipes.phases(settings, epochs)
    _describe(
        config,
        train_split,
        val,
        test,
        distribution,
        choose_policy(mixed_precision),
        settings,
        epochs,
        steps_per_epoch,
        phases,
    )
    keras.utils.set_random_seed(settings.seed)
    export = float_model(
        config["model"],
        len(train_split.classes),
        size,
        tuple(map(tuple, config["preprocess"])),
        config["model_options"],
        config.get("weights"),
        unsafe_load,
    )
    distillation = Distillation(**config["distill"]) if config.get("distill") else None
    teacher = teacher_model(distillation, len(train_split.classes), size, unsafe_load) if distillation else None
    net = _training_net(export, distribution, config["mixed_precision"], teacher, distillation)
    trainable = {layer.name: layer.trainable for layer in net.layers}
    state = read_state(run.out) if run.resume else None
    chief = is_chief(distribution)
    session = Session(
        run=run,
        recipe=settings,
        distribution=distribution,
        chief=chief,
        export=export,
        net=net,
        train=train_split,
        size=size,
        steps_per_epoch=steps_per_epoch,
        epochs=epochs,
        state=state or {"epoch": 0, "history": [], "best": {"value": -1.0, "epoch": 0}},
        callbacks=[],
        val_ds=data.eval_dataset(val, config["augment"], size, EVAL_BATCH),
        verbose=verbose,
    )
    current = state.get("phase", 0) if state else 0  # the phase whose optimizer state the checkpoint holds
    session.enter(phases[current], trainable)
    if state:
        with distribution.scope():  # the optimizer's slots are built here, as the strategy places them
            restore(net, run.out, state)
        say(
            f"Resuming {run.out} after epoch {state['epoch']} of {epochs} "
            f"(iteration {int(net.optimizer.iterations.numpy())} of its phase)."
        )
    if chief:  # the run dir is made only now, when nothing in the request was refused
        os.makedirs(run.out, exist_ok=True)
        write_json(os.path.join(run.out, "config.json"), config)
        write_text(os.path.join(run.out, "classes.txt"), "\n".join(train_split.classes) + "\n")
    session.callbacks = [RunState(run.out, export, session.state, chief, "val_accuracy")] + _tensorboard(run.out, chief)
    run_phases(session, phases, current, trainable)
    export.set_weights(net.get_weights())
    if not chief:
        worker_dir = os.path.join(run.out, f"worker-{distribution.cluster_resolver.task_id}")
        os.makedirs(worker_dir, exist_ok=True)
        save_model(export, os.path.join(worker_dir, "last.keras"))
        return {}
    return _finish(run.out, export, test, config["augment"], size, session.state)


def run_phases(session: Session, phases: list, current: int, trainable: dict[str, bool]) -> None:
    """Train phase after phase from `current` (the one the checkpoint was written in): each later phase
    first gets its layers and optimizer; the phase index goes into the state that checkpoints record."""
    for index in range(current, len(phases)):
        if index != current:
            session.enter(phases[index], trainable)
        session.state["phase"] = index
        if session.state["epoch"] < phases[index].end:
            session.fit(phases[index])


def _resolve_input(config: dict, unsafe_load: bool) -> int:
    """The run's input side, and its augmentation by model family when the recipe leaves it open; recorded."""
    size, family = model_size(config["model"], config["input_size"], unsafe_load)
    config["input_size"] = size
    config["augment"] = config["augment"] or ("cifar" if family == "cifar" else "imagenet")
    return size


def _listings(run: Run, size: int):
    """(train, validation, evaluation) as the pipelines read them; validation is held out of train, or test."""
    config = run.config
    in_memory = size if config["augment"] == "cifar" else None  # small images: decoded once, into memory
    train_split = data.listing_for(run.train, config["data"], "train", in_memory)
    test = data.listing_for(run.test, config["data"], "test", in_memory)
    holdout = config["recipe"]["holdout"]
    if holdout:
        train_split, val = data.holdout(train_split, holdout, config["recipe"]["seed"])
        return train_split, val, test
    return train_split, test, test


def _describe(config, train_split, val, test, distribution, policy, settings, epochs, steps_per_epoch, phases):
    """Record in the config what the run is: its data, normalisation, precision, strategy and schedule."""
    config.update(
        {
            "preprocess": config.get("preprocess") or _preprocess(train_split, config.get("weights")),
            "classes": len(train_split.classes),
            "mixed_precision": policy,
            "strategy": type(distribution).__name__,
            "replicas": distribution.num_replicas_in_sync,
            "epochs": epochs,
            "steps_per_epoch": steps_per_epoch,
            "total_steps": epochs * steps_per_epoch,
            "phases": [asdict(p) for p in phases],
            "train_images": len(train_split),
            "val_images": len(val),
            "eval_images": len(test),
            "val_split": "holdout" if settings.holdout else "test",
            "skipped_images": len(train_split.skipped) + len(test.skipped),
            "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        }
    )


def _training_net(
    export: keras.Model, distribution, policy: str, teacher: keras.Model | None, distillation: Distillation | None
) -> keras.Model:
    """The copy of `export` that trains, built in the strategy's scope (multi-worker: synchronised BatchNorm),
    and, distilling, the teacher's copy in the same policy beside it."""
    with distribution.scope():
        multiworker = isinstance(distribution, tf.distribute.MultiWorkerMirroredStrategy)
        net = training_copy(export, policy, sync_batchnorm=multiworker)
        if teacher is None:
            return MultiWorkerNet(net.inputs, net.outputs, name=net.name) if multiworker else net
        student = (MultiWorkerDistillingNet if multiworker else DistillingNet)(net.inputs, net.outputs, name=net.name)
        student.set_teacher(training_copy(teacher, policy), distillation.temperature, distillation.alpha)
        return student


def _preprocess(train: data.Listing, weights: str | None = None):
    """Per-channel (mean, std) of the training images; ImageNet's for streamed tfds data and for pretrained
    weights (torchvision's and timm's ImageNet models were trained on inputs normalised that way)."""
    if train.stream is not None or weights:
        return [list(v) for v in PREPROCESSING["imagenet"]]
    say("Measuring per-channel mean and std of the training images ...")
    return [list(v) for v in data.channel_stats(train)]


def _tensorboard(out: str, chief: bool) -> list:
    """The TensorBoard callback when the tensorboard package is installed (tf.summary needs it)."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        say("note: tensorboard is not installed, so no TensorBoard logs (pip install tensorboard).")
        return []
    return [keras.callbacks.TensorBoard(os.path.join(out, "logs"))] if chief else []


def evaluate(model: keras.Model, ds: tf.data.Dataset) -> dict:
    """Top-1 and top-5 accuracy (and loss) of a float32 model on a dataset, outside any distribution."""
    model.compile(
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5")],
    )
    loss, top1, top5 = model.evaluate(ds, verbose=0)
    return {"top1": round(top1, 5), "top5": round(top5, 5), "loss": round(loss, 5)}


def _finish(out, export, test, augment, size, state) -> dict:
    """Evaluate the last and best models on the evaluation split; write metrics.json and the history."""
    say(f"Evaluating on {len(test)} test images ...")
    ds = data.eval_dataset(test, augment, size, EVAL_BATCH)
    metrics = {
        "eval_images": len(test),
        "epochs": state["epoch"],
        "train_seconds": round(sum(row["seconds"] for row in state["history"]), 1),
        "last": evaluate(export, ds),
    }
    best_path = os.path.join(out, "best.keras")
    if os.path.exists(best_path):
        metrics["best"] = {"epoch": state["best"]["epoch"], **evaluate(load_keras_model(best_path), ds)}
    write_json(os.path.join(out, "metrics.json"), metrics)
    if state["history"]:
        write_history(out, state["history"])
    return metrics
