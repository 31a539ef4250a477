"""Training on the workstation: the recipes, tf.data pipelines, optimizer and schedules, the run directory
and `fit`, which checks a whole request before TensorFlow starts."""
