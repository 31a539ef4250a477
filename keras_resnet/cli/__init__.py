"""The command line: `resnet-tflite` (a click group, one module per command, the demo among them;
`resnet-train` is another name for `resnet-tflite train`). Nothing in the package imports this one."""
