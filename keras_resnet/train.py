"""Training: the paper's recipes, mixed precision, tf.distribute, crash-safe resume and a complete run dir.

`fit(model, data, out, recipe=...)` trains a registered model (or a `.keras` file) on a data source and
leaves in `out`: `best.keras` and `last.keras` (float32, taking raw pixels), `history.csv`, `config.json`,
`metrics.json` (top-1/top-5 of both models on the evaluation split), `classes.txt`, `curves.png`,
TensorBoard logs in `logs/` (when tensorboard is installed) and `checkpoint/` for `resume=True`.

Crash safety: after every epoch the training model's weights with the optimizer state (so the iteration
count, hence the LR schedule position) go to a new file, then `checkpoint/state.json` (epoch, history,
best) is replaced atomically to point at it. A run killed at any moment, even by SIGKILL, resumes from the
last completed epoch; the input pipeline's randomness is a function of (seed, epoch), so the resumed run
sees the same images and crops. Keras' `BackupAndRestore` is not used: it writes weights and epoch in two
non-atomic steps (a kill between them resumes with the wrong epoch), every worker writes the same files,
and it restores only inside `fit`, after the input pipeline (which must start at the resumed epoch) exists.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time
from dataclasses import asdict, replace

import keras
import numpy as np
import tensorflow as tf

from keras_resnet import data, recipes, sources
from keras_resnet.errors import UserError
from keras_resnet.io import atomic_path, load_keras_model, readable_file, write_text

POLICIES = {"off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
STRATEGIES = ("auto", "mirrored", "multiworker")
CLASSIFIER = "predictions"
FLOAT32_LAYERS = ("preprocess", CLASSIFIER)  # kept in float32 under mixed precision (input, softmax)
EVAL_BATCH = 256


# --- hardware ------------------------------------------------------------------------------------------

def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def choose_policy(mode: str = "auto") -> str:
    """The Keras dtype policy for `mode` (auto|off|bf16|fp16).

    auto: mixed_bfloat16 on GPUs of compute capability >= 8.0 and on CPUs with native bfloat16
    (AVX512_BF16 or AMX: measured 1.5-2.5x faster than float32 for ResNet-20 on an AVX512_BF16 CPU),
    mixed_float16 on older GPUs of capability >= 7.0, float32 otherwise.
    """
    if mode in POLICIES:
        return POLICIES[mode]
    if mode != "auto":
        raise UserError(f"mixed precision must be auto, off, bf16 or fp16. Received: {mode!r}")
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = min(tf.config.experimental.get_device_details(g).get("compute_capability", (0, 0))
                         for g in gpus)
        return "mixed_bfloat16" if capability >= (8, 0) else "mixed_float16" if capability >= (7, 0) else "float32"
    return "mixed_bfloat16" if cpu_flags() & {"avx512_bf16", "amx_bf16"} else "float32"


def choose_strategy(mode: str = "auto") -> tf.distribute.Strategy:
    """auto: multi-worker when TF_CONFIG names several tasks, mirrored on several GPUs, else the default."""
    if mode not in STRATEGIES:
        raise UserError(f"strategy must be one of {STRATEGIES}. Received: {mode!r}")
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    tasks = sum(len(v) for v in cluster.values())
    if mode == "multiworker" or (mode == "auto" and tasks > 1):
        if not tasks:
            raise UserError("--strategy multiworker needs TF_CONFIG (cluster and task) in the environment. "
                            "Received: TF_CONFIG unset")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if mode == "mirrored" or len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run dir: the chief, or worker 0 of a cluster without one."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "chief" or (not has_chief and resolver.task_type == "worker"
                                             and resolver.task_id == 0)


# --- optimizer and schedule ----------------------------------------------------------------------------

@keras.saving.register_keras_serializable(package="keras_resnet")
class TorchSGD(keras.optimizers.SGD):
    """SGD with exactly PyTorch's update (`torch.optim.SGD`, dampening 0).

    g = grad + wd * w (coupled weight decay, on every trainable weight, through momentum);
    v = momentum * v + g; w -= lr * v (or lr * (g + momentum * v) with Nesterov). Keras' own SGD folds
    the lr into the velocity (differs after each lr drop) and its `weight_decay` is decoupled.
    """

    def __init__(self, learning_rate=0.1, momentum=0.9, nesterov=False, torch_weight_decay=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov, **kwargs)
        self.torch_weight_decay = torch_weight_decay

    def update_step(self, gradient, variable, learning_rate):
        lr = keras.ops.cast(learning_rate, variable.dtype)
        g = keras.ops.cast(gradient, variable.dtype)
        if self.torch_weight_decay:
            g = g + self.torch_weight_decay * variable
        if not self.momentum:
            self.assign_sub(variable, lr * g)
            return
        v = self.momentums[self._get_variable_index(variable)]
        self.assign(v, self.momentum * v + g)
        self.assign_sub(variable, lr * (g + self.momentum * v if self.nesterov else v))

    def get_config(self):
        return {**super().get_config(), "torch_weight_decay": self.torch_weight_decay}


@keras.saving.register_keras_serializable(package="keras_resnet")
class Schedule(keras.optimizers.schedules.LearningRateSchedule):
    """The learning rate at an iteration: "step" (x decay at each boundary, constant warm-up as in the
    paper), "cosine" (linear warm-up, cosine to 0) or "onecycle" (linear rise over warm-up or the first
    15%, then linear to 0: the short-budget schedule)."""

    def __init__(self, kind, lr, total_steps, boundaries=(), decay=0.1, warmup_steps=0, warmup_lr=0.01):
        self.kind, self.lr, self.total_steps = kind, float(lr), int(total_steps)
        self.boundaries, self.decay = tuple(boundaries), float(decay)
        self.warmup_steps, self.warmup_lr = int(warmup_steps), float(warmup_lr)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        if self.kind == "step":
            drops = sum(keras.ops.cast(step >= b * self.total_steps, "float32") for b in self.boundaries)
            lr = self.lr * keras.ops.power(self.decay, drops)
            return keras.ops.where(step < self.warmup_steps, self.warmup_lr, lr)
        rise = self.warmup_steps or (round(0.15 * self.total_steps) if self.kind == "onecycle" else 0)
        warm = self.warmup_lr + (self.lr - self.warmup_lr) * step / max(rise, 1)
        progress = keras.ops.clip((step - rise) / max(self.total_steps - rise, 1), 0.0, 1.0)
        if self.kind == "cosine":
            after = 0.5 * self.lr * (1 + keras.ops.cos(math.pi * progress))
        else:
            after = self.lr * (1 - progress)
        return keras.ops.where(step < rise, warm, after)

    def get_config(self):
        return {"kind": self.kind, "lr": self.lr, "total_steps": self.total_steps,
                "boundaries": list(self.boundaries), "decay": self.decay,
                "warmup_steps": self.warmup_steps, "warmup_lr": self.warmup_lr}


def compile_model(model: keras.Model, recipe: recipes.Recipe, total_steps: int) -> None:
    """Compile for training: TorchSGD on the recipe's schedule, cross-entropy, top-1 and top-5."""
    schedule = Schedule(recipe.schedule, recipe.lr, total_steps, recipe.boundaries, recipe.decay,
                        recipe.warmup_steps, recipe.warmup_lr)
    optimizer = TorchSGD(schedule, recipe.momentum, recipe.nesterov, recipe.weight_decay)
    model.compile(optimizer, "sparse_categorical_crossentropy",
                  metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5")])


# --- models --------------------------------------------------------------------------------------------

def float_model(model: str, classes: int, size: int, preprocess, options: dict, weights: str | None = None,
                unsafe_load: bool = False) -> keras.Model:
    """The float32 model of a run: a registered name built fresh, a registered name with `weights` (transfer
    learning: the file's backbone under a new classifier), or a `.keras` file (fine-tuning) whose classifier
    is replaced when the class count differs."""
    from keras_resnet.models import create_model

    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        if model.endswith(".keras"):
            net = load_keras_model(model, unsafe=unsafe_load)
            return net if net.output_shape[-1] == classes else with_classifier(net, classes)
        if weights:
            backbone = create_model(model, include_top=False, pooling="avg", weights=weights,
                                    input_shape=(size, size, 3), preprocess=preprocess, **options)
            return with_classifier(backbone, classes)
        return create_model(model, input_shape=(size, size, 3), classes=classes, preprocess=preprocess, **options)
    finally:
        keras.config.set_dtype_policy(policy)


def with_classifier(net: keras.Model, classes: int) -> keras.Model:
    """`net` up to its global average pool, under a new softmax classifier of `classes` outputs."""
    features = net.get_layer("avg_pool").output
    head = keras.layers.Dense(classes, activation="softmax", name=CLASSIFIER)(features)
    return keras.Model(net.inputs, head, name=net.name)


def train_layers(net: keras.Model, layers: str, trainable: dict[str, bool], frozen_bn: bool = False) -> None:
    """Make the classifier alone trainable ("head"), or every layer that was (`trainable`: the flags as
    built, which keep option-A shortcuts frozen) but BatchNorm with `frozen_bn`. A frozen BatchNorm runs in
    inference mode: it normalises with its moving statistics and does not update them."""
    for layer in net.layers:
        chosen = layers == "all" and not (frozen_bn and isinstance(layer, keras.layers.BatchNormalization))
        layer.trainable = trainable[layer.name] and (chosen or layer.name == CLASSIFIER)


def training_twin(model: keras.Model, policy: str, sync_batchnorm: bool = False) -> keras.Model:
    """A copy of `model` whose layers compute in `policy` (but for the input normalisation and the
    classifier, kept in float32), with the same weights; built in the current distribution scope.

    `sync_batchnorm`: BatchNorm statistics over the global batch (all workers), so that the moving
    averages, which are not gradients and are never all-reduced, stay identical on every worker.
    """
    def clone(layer):
        config = layer.get_config()
        if layer.name not in FLOAT32_LAYERS and "dtype" in config and not isinstance(layer, keras.layers.InputLayer):
            config["dtype"] = policy
        if sync_batchnorm and isinstance(layer, keras.layers.BatchNormalization):
            config["synchronized"] = True
        return layer.__class__.from_config(config)

    twin = keras.models.clone_model(model, clone_function=clone)
    twin.set_weights(model.get_weights())
    return twin


class MultiWorkerNet(keras.Model):
    """A functional model whose step logs are rank-1, for MultiWorkerMirroredStrategy under Keras 3.

    Keras 3.15 averages per-replica logs across workers with `strategy.reduce("MEAN", v, axis=0)`, which
    fails on scalars (keras-team/keras#20585); logs of shape [1] reduce to the right global mean, and its
    symbolic pre-build (whose reduce of a data batch fails too) is skipped: this model is already built.
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        return

    def train_step(self, data):
        return {k: keras.ops.reshape(v, [1]) for k, v in super().train_step(data).items()}

    def test_step(self, data):
        return {k: keras.ops.reshape(v, [1]) for k, v in super().test_step(data).items()}


def model_size(model: str, input_size: int | None, unsafe_load: bool = False) -> tuple[int, str]:
    """(input side, family) of a registered name or `.keras` file."""
    if model.endswith(".keras"):
        shape = load_keras_model(model, unsafe=unsafe_load).input_shape
        return input_size or shape[1], "cifar" if (input_size or shape[1]) <= 64 else "imagenet"
    from keras_resnet.specs import get_spec

    spec = get_spec(model)
    return input_size or spec.input_size, spec.family


# --- the run dir ---------------------------------------------------------------------------------------

def _write_json(path: str, value) -> None:
    write_text(path, json.dumps(value, indent=2) + "\n")


def save_model(model: keras.Model, path: str) -> None:
    """Save a `.keras` file atomically."""
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)


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
    """After each epoch: export last (and best) model, checkpoint atomically, write history and curves."""

    def __init__(self, out: str, export: keras.Model, state: dict, chief: bool, monitor: str):
        super().__init__()
        self.out, self.export, self.state, self.chief, self.monitor = out, export, state, chief, monitor
        self.checkpoint = os.path.join(out, "checkpoint")
        self.began = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.began = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: float(np.mean(v)) for k, v in (logs or {}).items()},
               "lr": float(self.model.optimizer.learning_rate),
               "seconds": round(time.perf_counter() - self.began, 2)}
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
        _write_json(os.path.join(self.checkpoint, "state.json"), {**self.state, "weights": name})
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


def run_phases(phases: list, current: int, state: dict, enter, run) -> None:
    """Train phase after phase from `current` (the one the checkpoint was written in): each later phase
    first gets its layers and optimizer (`enter`); the phase index goes into the state that checkpoints
    record, and `run` trains the phase's remaining epochs."""
    for index in range(current, len(phases)):
        if index != current:
            enter(phases[index])
        state["phase"] = index
        if state["epoch"] < phases[index].end:
            run(phases[index])


# --- fit -----------------------------------------------------------------------------------------------

def _start(out: str, resume: bool, request: dict) -> dict:
    """The run's config: `request` for a new run dir, the saved one when resuming (after checking that
    nothing asked for now contradicts it)."""
    config_path = os.path.join(out, "config.json")
    if not resume:
        if os.path.exists(config_path):
            raise UserError(f"{out} already holds a run: pass --resume to continue it, or choose another "
                            f"--out. Received: --out {out}")
        return request
    if not os.path.exists(config_path):
        raise UserError(f"Nothing to resume in {out} (no config.json). Received: --out {out} --resume")
    with open(config_path) as f:
        saved = json.load(f)
    for key in ("model", "weights", "data"):
        if request[key] != saved.get(key):
            raise UserError(f"{out} was started with {key}={saved.get(key)!r}; resume it with the same. "
                            f"Received: {key}={request[key]!r}")
    return saved


def _listings(config: dict, size: int | None):
    """(train, validation, evaluation) listings; validation is the held-out part of train, or test."""
    train = data.list_split(config["data"], "train", size)
    test = data.list_split(config["data"], "test", size)
    if train.classes != test.classes:
        raise UserError(f"{config['data']}: train and test splits name different classes "
                        f"({train.classes[:5]}... vs {test.classes[:5]}...). Received: {config['data']}")
    holdout = config["recipe"]["holdout"]
    if holdout:
        train, val = data.holdout(train, holdout, config["recipe"]["seed"])
        return train, val, test
    return train, test, test


def fit(model: str, data_source: str, out: str, recipe: str = "cifar", *, resume: bool = False,
        mixed_precision: str = "auto", strategy: str = "auto", input_size: int | None = None,
        model_options: dict | None = None, weights: str | None = None, verbose: int | None = None,
        unsafe_load: bool = False,
        **hyper) -> dict:
    """Train `model` (a registered name or a `.keras` file) on `data_source` into run dir `out`.

    `weights`: a weights file for a registered name (`keras_resnet.weights`: torchvision/timm checkpoints,
    Keras files); its backbone gets a new classifier for the data's classes, and the inputs are normalised
    as for ImageNet. With `head_epochs` (the finetune recipe: 3 of 10), training starts with the backbone
    frozen; the checkpoint records the phase, so a resumed run continues in the right one.

    `hyper` overrides any field of `keras_resnet.recipes.Recipe` (epochs, steps, batch_size, lr,
    schedule, weight_decay, momentum, warmup_steps, holdout, seed, ...). Returns the metrics written to
    `metrics.json`. `unsafe_load` allows Lambda layers in a `.keras` model (their code runs).
    """
    distribution = choose_strategy(strategy)  # first: MultiWorkerMirroredStrategy must precede other ops
    chief = is_chief(distribution)
    options = {k: v for k, v in (model_options or {}).items() if v is not None}
    if weights and model.endswith(".keras"):
        raise UserError(f"--weights is for a registered model name; {model} carries its own weights. "
                        f"Received: --weights {weights}")
    if weights:
        readable_file(weights, "Weights file")  # now, not after the data is listed
    size, family = model_size(model, input_size, unsafe_load)
    depth = None if model.endswith(".keras") else _depth(model)
    plan = recipes.resolve(recipe, depth, **hyper)
    augment = plan.augment or ("cifar" if family == "cifar" else "imagenet")
    request = {"model": model, "weights": weights, "data": str(sources.parse(data_source)),
               "recipe_name": recipe, "recipe": asdict(plan), "augment": augment, "input_size": size,
               "model_options": options}
    config = _start(out, resume, request)
    plan = recipes.Recipe(**{**config["recipe"], "boundaries": tuple(config["recipe"]["boundaries"])})
    train, val, test = _listings(config, size if augment == "cifar" else None)
    steps_per_epoch = len(train) // plan.batch_size
    if steps_per_epoch < 1:
        raise UserError(f"{len(train)} training images make no full batch of {plan.batch_size}: lower "
                        f"--batch-size. Received: batch_size={plan.batch_size}")
    epochs = recipes.epochs_for(plan, steps_per_epoch)
    phases = recipes.phases(plan, epochs)
    preprocess = config.get("preprocess") or _preprocess(train, config.get("weights"))
    policy = choose_policy(mixed_precision)
    config.update({
        "preprocess": preprocess, "classes": len(train.classes), "mixed_precision": policy,
        "strategy": type(distribution).__name__, "replicas": distribution.num_replicas_in_sync,
        "epochs": epochs, "steps_per_epoch": steps_per_epoch, "total_steps": epochs * steps_per_epoch,
        "phases": [asdict(p) for p in phases],
        "train_images": len(train), "val_images": len(val), "eval_images": len(test),
        "val_split": "holdout" if plan.holdout else "test",
        "skipped_images": len(train.skipped) + len(test.skipped),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
    })

    keras.utils.set_random_seed(plan.seed)
    export = float_model(model, len(train.classes), size, tuple(map(tuple, preprocess)), options,
                         config.get("weights"), unsafe_load)
    with distribution.scope():
        multiworker = isinstance(distribution, tf.distribute.MultiWorkerMirroredStrategy)
        net = training_twin(export, policy, sync_batchnorm=multiworker)
        if multiworker:
            net = MultiWorkerNet(net.inputs, net.outputs, name=net.name)
    trainable = {layer.name: layer.trainable for layer in net.layers}

    def enter(phase: recipes.Phase) -> None:
        """Freeze or unfreeze for `phase`, with a new optimizer on the phase's own schedule."""
        with distribution.scope():
            train_layers(net, phase.layers, trainable, plan.frozen_bn)
            compile_model(net, replace(plan, lr=phase.lr), (phase.end - phase.start) * steps_per_epoch)

    state = read_state(out) if resume else None
    current = state.get("phase", 0) if state else 0  # the phase whose optimizer state the checkpoint holds
    enter(phases[current])
    if state:
        restore(net, out, state)
        data.say(f"Resuming {out} after epoch {state['epoch']} of {epochs} "
                 f"(iteration {int(net.optimizer.iterations.numpy())} of its phase).")
    state = state or {"epoch": 0, "history": [], "best": {"value": -1.0, "epoch": 0}}
    if chief:  # the run dir is made only now, when nothing in the request was refused
        os.makedirs(out, exist_ok=True)
        _write_json(os.path.join(out, "config.json"), config)
        write_text(os.path.join(out, "classes.txt"), "\n".join(train.classes) + "\n")

    def make_train(context=None):
        return data.train_dataset(train, augment, size, plan.batch_size, plan.seed, state["epoch"], context)

    val_ds = data.eval_dataset(val, augment, size, EVAL_BATCH)
    callbacks = [RunState(out, export, state, chief, "val_accuracy")] + _tensorboard(out, chief)

    def run(phase: recipes.Phase) -> None:
        # A new pipeline per phase, from the phase's first epoch: the images and crops of an unbroken run.
        train_ds = distribution.distribute_datasets_from_function(make_train) if multiworker else make_train()
        data.say(f"Training {'the classifier of ' if phase.layers == 'head' else ''}{export.name}: epochs "
                 f"{state['epoch'] + 1}-{phase.end} of {epochs}, {steps_per_epoch} steps each, peak lr {phase.lr} "
                 f"({config['mixed_precision']}, {config['replicas']} replica(s)) ...")
        with distribution.scope():
            net.fit(train_ds, epochs=phase.end, initial_epoch=state["epoch"], steps_per_epoch=steps_per_epoch,
                    validation_data=val_ds, callbacks=callbacks, shuffle=False,
                    verbose=verbose if verbose is not None else (1 if sys.stdout.isatty() else 2))

    run_phases(phases, current, state, enter, run)
    export.set_weights(net.get_weights())
    if not chief:
        worker = distribution.cluster_resolver.task_id
        os.makedirs(os.path.join(out, f"worker-{worker}"), exist_ok=True)
        save_model(export, os.path.join(out, f"worker-{worker}", "last.keras"))
        return {}
    return _finish(out, export, test, augment, size, state)


def _depth(model: str) -> int:
    from keras_resnet.specs import get_spec

    return get_spec(model).depth


def _preprocess(train: data.Listing, weights: str | None = None):
    """Per-channel (mean, std) of the training images; ImageNet's for streamed tfds data and for pretrained
    weights (torchvision's and timm's ImageNet models were trained on inputs normalised that way)."""
    if train.stream is not None or weights:
        from keras_resnet.specs import PREPROCESSING

        return [list(v) for v in PREPROCESSING["imagenet"]]
    data.say("Measuring per-channel mean and std of the training images ...")
    return [list(v) for v in data.channel_stats(train)]


def _tensorboard(out: str, chief: bool) -> list:
    """The TensorBoard callback when the tensorboard package is installed (tf.summary needs it)."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        data.say("note: tensorboard is not installed, so no TensorBoard logs (pip install tensorboard).")
        return []
    return [keras.callbacks.TensorBoard(os.path.join(out, "logs"))] if chief else []


def evaluate(model: keras.Model, ds: tf.data.Dataset) -> dict:
    """Top-1 and top-5 accuracy (and loss) of a float32 model on a dataset, outside any distribution."""
    model.compile(loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5")])
    loss, top1, top5 = model.evaluate(ds, verbose=0)
    return {"top1": round(top1, 5), "top5": round(top5, 5), "loss": round(loss, 5)}


def _finish(out, export, test, augment, size, state) -> dict:
    """Evaluate the last and best models on the evaluation split; write metrics.json and the history."""
    data.say(f"Evaluating on {len(test)} test images ...")
    ds = data.eval_dataset(test, augment, size, EVAL_BATCH)
    metrics = {"eval_images": len(test), "epochs": state["epoch"],
               "train_seconds": round(sum(row["seconds"] for row in state["history"]), 1),
               "last": evaluate(export, ds)}
    best_path = os.path.join(out, "best.keras")
    if os.path.exists(best_path):
        metrics["best"] = {"epoch": state["best"]["epoch"], **evaluate(load_keras_model(best_path), ds)}
    _write_json(os.path.join(out, "metrics.json"), metrics)
    if state["history"]:
        write_history(out, state["history"])
    return metrics
