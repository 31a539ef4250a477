"""The benchmark harness that runs on a Raspberry Pi or Coral board without TensorFlow: timing and statistics,
results and their comparison, the system record, the command line (`python -m keras_resnet.bench`), and
the report's plots on the workstation.

The functions of the commands are `harness.benchmark` and `report.report` (also `keras_resnet.benchmark` and
`keras_resnet.report`). Submodules are imported on use.
"""

__all__ = ["command", "harness", "report", "results", "statistics", "sysinfo"]
