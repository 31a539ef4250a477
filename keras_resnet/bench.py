"""`python -m keras_resnet.bench`: the benchmark harness on a device (NumPy and LiteRT only, no TensorFlow).

The harness lives in `keras_resnet.device`; this module is the name devices, their docs and
`tflite/setup_device.sh` run it by.
"""

import sys

from keras_resnet.device.command import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m keras_resnet.bench"))
