"""The command line: `resnet-tflite` (a click group, one module per command), `resnet-train`, and the demo that
runs the whole path. Nothing in the package imports this one."""
