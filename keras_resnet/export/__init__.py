"""Keras to TFLite on the workstation: conversion in every mode, verification against Keras, quantization-aware
training and magnitude pruning (TensorFlow Model Optimization)."""
