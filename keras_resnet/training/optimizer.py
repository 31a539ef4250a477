"""The optimizer and learning-rate schedules of the recipes: SGD with PyTorch's exact update, step/cosine/one-cycle.

Both are registered Keras serializables, so a checkpointed training model restores with its optimizer state.
"""

from __future__ import annotations

import math

import keras

from keras_resnet.training import recipes


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
        return {
            "kind": self.kind,
            "lr": self.lr,
            "total_steps": self.total_steps,
            "boundaries": list(self.boundaries),
            "decay": self.decay,
            "warmup_steps": self.warmup_steps,
            "warmup_lr": self.warmup_lr,
        }


def compile_model(model: keras.Model, recipe: recipes.Recipe, total_steps: int) -> None:
    """Compile for training: TorchSGD on the recipe's schedule, cross-entropy, top-1 and top-5."""
    schedule = Schedule(
        recipe.schedule, recipe.lr, total_steps, recipe.boundaries, recipe.decay, recipe.warmup_steps, recipe.warmup_lr
    )
    optimizer = TorchSGD(schedule, recipe.momentum, recipe.nesterov, recipe.weight_decay)
    model.compile(
        optimizer,
        "sparse_categorical_crossentropy",
        metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5")],
    )
