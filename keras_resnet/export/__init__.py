"""Keras to TFLite on the workstation: conversion in every mode, verification against Keras, quantization-aware
training and magnitude pruning (TensorFlow Model Optimization).

`pipeline.convert` (a finished .tflite file with its metadata, from a model object, file or name; also
`keras_resnet.convert`) and `pipeline.evaluate` (a .tflite file's accuracy; `keras_resnet.evaluate`) are what
the commands call; `convert` and `model_optimization` are the steps they are made of.
"""

__all__ = ["convert", "model_optimization", "pipeline"]
