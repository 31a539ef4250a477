"""Firmware that is really built and run: a bare-metal Cortex-M program (CMSIS startup, TFLite-Micro with CMSIS-NN
or reference kernels, the model, newlib) linked into a board's flash and RAM and run in QEMU, or the same
program built for the host. `firmware` does the whole path; `resnet-tflite firmware` is its command.
No TensorFlow: the toolchain is Debian's arm-none-eabi-gcc, the runtime TFLite-Micro's own Makefile."""

from keras_resnet.lite.firmware.builder import Request, build, firmware
from keras_resnet.lite.firmware.targets import DEFAULT_TARGET, KERNELS, TARGETS, parse_bytes

__all__ = ["firmware", "build", "Request", "parse_bytes", "DEFAULT_TARGET", "KERNELS", "TARGETS"]
