"""The benchmark harness that runs on a Raspberry Pi or Coral board without TensorFlow: timing and statistics,
results and their comparison, the system record, the command line (`python -m keras_resnet.bench`), and
the report's plots on the workstation."""
