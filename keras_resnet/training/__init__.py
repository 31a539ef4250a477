"""Training on the workstation: the recipes, tf.data pipelines, optimizer and schedules, the run directory
and `fit`, which checks a whole request before TensorFlow starts; `prune.prune` (`keras_resnet.prune`),
channel pruning with its fine-tuning."""

__all__ = ["data", "datasets", "fit", "hardware", "networks", "optimizer", "prune", "recipes", "rundir", "session"]
