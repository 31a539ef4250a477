"""The firmware's source folder: the model as TFLite-Micro sources (`keras_resnet.lite.micro`), main.cc and its
platform files (this package's src/), the board's linker script, the test images.

main.cc is the one program: the firmware of every target is built from it, and it builds in a user's own
project with the files `resnet-tflite micro` writes. For a Cortex-M target the linker script is Cortex_DFP's
for the device with its memory regions, stack and heap set; its sizes are plain assignments at its top
(`__ROM_SIZE = 0x00040000;`), used by MEMORY{}, which `--defsym` cannot override, so they are rewritten.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass

import numpy as np

from keras_resnet.errors import UserError
from keras_resnet.lite import micro
from keras_resnet.lite.firmware.targets import Target

SOURCES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "src")
COMMON_SOURCES = ("main.cc", "platform.h")
# A platform's files (src/): "semihosting" (the default on Cortex-M) talks to QEMU by semihosting calls,
# "stdio" through newlib's stdio and librdimon (measured for its cost), "host" with the host's C library.
PLATFORMS = {
    "semihosting": ("cortex_m.c", "semihost.h", "semihosting.c"),
    "stdio": ("cortex_m.c", "semihost.h", "stdio_files.c"),
    "host": ("host.c", "stdio_files.c"),
}
IMAGES = "images.bin"
# TFLite-Micro's interpreter loop, compiled into the firmware in place of the library's copy so that its operator
# events reach the profiler in a build without error strings (BUILD_TYPE=release makes ScopedMicroProfiler a
# no-op there); everything else in the file is the tree's own.
PROFILED_GRAPH = "micro_interpreter_graph.cc"
GRAPH_SOURCE = "tensorflow/lite/micro/" + PROFILED_GRAPH
_SCOPED_PROFILER = re.compile(
    r"#if !defined\(TF_LITE_STRIP_ERROR_STRINGS\)\s*"
    r"ScopedMicroProfiler scoped_profiler\(\s*OpNameFromRegistration\(registration\),\s*"
    r"(reinterpret_cast<MicroProfilerInterface\*>\(context_->profiler\))\);\s*#endif"
)
_OPERATOR_EVENT = """
// resnet-tflite: ScopedMicroProfiler's operator events, kept in a build without error strings (no tag: the
// firmware's profiler knows each operator by its index).
class OperatorEvent {
 public:
  explicit OperatorEvent(MicroProfilerInterface* profiler) : profiler_(profiler) {
    if (profiler_ != nullptr) handle_ = profiler_->BeginEvent(nullptr);
  }
  ~OperatorEvent() {
    if (profiler_ != nullptr) profiler_->EndEvent(handle_);
  }

 private:
  MicroProfilerInterface* profiler_;
  uint32_t handle_ = 0;
};
"""
LINKER_SCRIPT = "firmware.ld"
LINKER_SYMBOLS = ("__ROM_BASE", "__ROM_SIZE", "__RAM_BASE", "__RAM_SIZE", "__STACK_SIZE", "__HEAP_SIZE")


@dataclass(frozen=True)
class Memory:
    """What the link lays out: the board's flash and RAM regions, and the parts of RAM reserved by size."""

    flash: int
    ram: int
    arena: int
    stack: int
    heap: int


def write_sources(
    folder: str, data: bytes, model, name: str, settings: dict, arena_note: str, memory: Memory
) -> list[str]:
    """The model's sources (array, resolver, settings with the arena, model.h) and main.cc's, into `folder`."""
    files = {
        **micro.model_data_sources(data, name),
        f"{name}_op_resolver.h": micro.resolver_header(model, name),
        "model.h": micro.model_header(name),
        f"{name}_model_settings.h": micro.settings_header(settings, name, memory.arena, arena_note),
    }
    os.makedirs(folder, exist_ok=True)
    for filename, text in files.items():
        with open(os.path.join(folder, filename), "w") as f:
            f.write(text)
    return sorted(files)


def copy_platform(folder: str, platform: str) -> list[str]:
    """main.cc, platform.h and the platform's files, copied into `folder`."""
    names = [*COMMON_SOURCES, *PLATFORMS[platform]]
    for name in names:
        shutil.copy(os.path.join(SOURCES, name), os.path.join(folder, name))
    return names


def profiled_graph(tree_root: str) -> str | None:
    """The tree's micro_interpreter_graph.cc with its operator events kept in a release build, or None when the
    tree's file is not of the shape this was made for (the firmware then counts whole inferences only)."""
    path = os.path.join(tree_root, GRAPH_SOURCE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        text = f.read()
    text, found = _SCOPED_PROFILER.subn(r"    OperatorEvent scoped_profiler(\1);", text)
    if found != 1 or "namespace tflite {" not in text:
        return None
    return text.replace("namespace tflite {", "namespace tflite {\n" + _OPERATOR_EVENT, 1)


def write_profiled_graph(folder: str, tree_root: str) -> list[str]:
    """profiled_graph's file written into `folder`: its name in a list, or an empty list."""
    text = profiled_graph(tree_root)
    if text is None:
        return []
    with open(os.path.join(folder, PROFILED_GRAPH), "w") as f:
        f.write(f"// {GRAPH_SOURCE} of the TFLite-Micro tree, operator events kept by resnet-tflite firmware\n" + text)
    return [PROFILED_GRAPH]


def linker_script(dfp_script: str, target: Target, memory: Memory) -> str:
    """Cortex_DFP's GNU linker script for the device, with the board's regions and the stack and heap sizes."""
    with open(dfp_script) as f:
        text = f.read()
    values = (target.flash_base, memory.flash, target.ram_base, memory.ram, memory.stack, memory.heap)
    for symbol, value in zip(LINKER_SYMBOLS, values):
        text, found = re.subn(rf"^{symbol}\s*=\s*0x[0-9A-Fa-f]+;", f"{symbol} = 0x{value:08X};", text, flags=re.M)
        if found != 1:
            raise UserError(
                f"{dfp_script} is not the Cortex_DFP linker script this was made for: it has {found} "
                f"'{symbol} = 0x...;' lines, expected one. Received: {dfp_script}"
            )
    return (
        f"/* Cortex_DFP's {os.path.basename(dfp_script)}, regions and sizes set by resnet-tflite firmware */\n" + text
    )


def write_images(folder: str, inputs: np.ndarray) -> str:
    """The test images as the input tensor holds them, back to back: what main.cc reads through the platform."""
    path = os.path.join(folder, IMAGES)
    np.ascontiguousarray(inputs).tofile(path)
    return path
