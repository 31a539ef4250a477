"""The firmware's folder, a project of its own: the model as TFLite-Micro sources (`keras_resnet.lite.micro`),
main.cc and the platform's files (this package's src/), the Makefile and its config.mk, the board's linker
script, the test inputs and run.sh.

main.cc is the one program: the firmware of every target is built from it, and it builds in a user's own
project with the files `resnet-tflite micro` writes. The Makefile (src/Makefile) is the one way it is built:
config.mk gives it the target, the TFLite-Micro tree, the kernels and the compile flags TFLite-Micro's own
Makefile uses for the target (`library.compile_flags`), for the library and the firmware's files alike.

For a Cortex-M target the linker script is Cortex_DFP's for the device with its memory regions, stack and heap
set; its sizes are plain assignments at its top (`__ROM_SIZE = 0x00040000;`), used by MEMORY{}, which `--defsym`
cannot override, so they are rewritten.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass

import numpy as np

from keras_resnet.errors import UserError
from keras_resnet.lite import micro
from keras_resnet.lite.firmware import library, qemu
from keras_resnet.lite.firmware.targets import Target

SOURCES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "src")
COMMON_SOURCES = ("main.cc", "platform.h", "Makefile")
CONFIG = "config.mk"
IMAGES = "images.bin"
IMAGES_SOURCE = "images.c"  # the same inputs compiled into flash, for IO=uart
# The I/O of a Cortex-M firmware and its files: "semihosting" (the default) talks to QEMU's host by semihosting
# calls, "uart" writes to the board's UART and reads its inputs from flash, as a board without a debugger does,
# "stdio" goes through newlib's stdio and librdimon (measured for its cost). The host has one: its C library.
PLATFORMS = {
    "semihosting": ("cortex_m.c", "semihosting.c", "newlib_exit.c"),
    "uart": ("cortex_m.c", "uart.c", "newlib_exit.c", IMAGES_SOURCE),
    "stdio": ("cortex_m.c", "stdio_files.c"),
}
HOST_PLATFORM = {"host": ("host.c", "stdio_files.c")}
IOS = tuple(PLATFORMS)
# newlib-nano; with the stdio platform also librdimon, which takes stdio through semihosting
LIBC = {
    "semihosting": "--specs=nano.specs --specs=nosys.specs",
    "uart": "--specs=nano.specs --specs=nosys.specs",
    "stdio": "--specs=nano.specs --specs=rdimon.specs",
}
ELF = "firmware.elf"
HOST_PROGRAM = "firmware"
MAP = "firmware.map"
RUN = "run.sh"
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
    """The model's sources (`micro.sources`, with the arena the firmware reserves) into `folder`: their names."""
    files = micro.sources(data, model, name, settings, memory.arena, arena_note)
    os.makedirs(folder, exist_ok=True)
    for filename, text in files.items():
        with open(os.path.join(folder, filename), "w") as f:
            f.write(text)
    return sorted(files)


def platforms(target: Target) -> dict[str, tuple[str, ...]]:
    """The target's I/O choices and the files of each."""
    return HOST_PLATFORM if target.host else PLATFORMS


def default_io(target: Target) -> str:
    """The I/O a firmware has unless asked otherwise: semihosting on a Cortex-M, the C library on the host."""
    return next(iter(platforms(target)))


def copy_platform(folder: str, target: Target) -> None:
    """main.cc, platform.h, the Makefile and the files of every I/O the target has, copied into `folder`."""
    names = [
        *COMMON_SOURCES,
        *dict.fromkeys(f for files in platforms(target).values() for f in files if f != IMAGES_SOURCE),
    ]
    for name in names:
        shutil.copy(os.path.join(SOURCES, name), os.path.join(folder, name))


def write_config(
    folder: str, target: Target, kernels: str, tree, kernel_sources: list[str], app_sources: list[str], io: str
) -> None:
    """config.mk: what the Makefile builds in `folder` and how (see src/Makefile)."""
    flags = library.compile_flags(tree, target, kernels)
    variables = [  # the cross compiler wherever it is on the machine that runs make
        "TARGET_TOOLCHAIN_ROOT=$(TOOLCHAIN_ROOT)" if v.startswith("TARGET_TOOLCHAIN_ROOT=") else v
        for v in library.make_variables(target, kernels)
    ]
    includes = " ".join("-I$(TFLM_DIR)" + ("" if i == "." else "/" + i) for i in flags.includes)
    lines = [
        f"# Written by resnet-tflite firmware: {target.name}, {kernels} kernels. The Makefile says what each is for.",
        f"TARGET_ARCH := {target.arch or 'host'}",
        f"KERNELS := {kernels}",
        f"DEFAULT_IO := {io}",
        f"IOS := {' '.join(platforms(target))}",
        f"TFLM_DIR ?= {tree.root}",
        f"TFLM_MAKEFILE := {library.MAKEFILE}",
        f"CXX := {flags.cxx_tool}",
        f"CC := {flags.cc_tool}",
        "TOOLCHAIN_ROOT ?= $(dir $(shell command -v $(CC)))",
        f"TFLM_MAKE_VARIABLES := {' '.join(variables)}",
        f"TFLM_KERNEL_SOURCES := {' '.join(kernel_sources)}",
        "# The flags TFLite-Micro's Makefile compiles its library with for this target (its CXXFLAGS, CCFLAGS,",
        "# INCLUDES and CORE_OPTIMIZATION_LEVEL, as its make printed them): the firmware's files are compiled alike.",
        f"TFLM_CXXFLAGS := {flags.cxx}",
        f"TFLM_CCFLAGS := {flags.cc}",
        f"TFLM_INCLUDES := {includes}",
        f"OPTIMIZATION := {flags.optimization}",
        f"APP_SOURCES := {' '.join(app_sources)}",
        *(f"PLATFORM_SOURCES_{io_name} := {' '.join(files)}" for io_name, files in platforms(target).items()),
    ]
    if target.host:
        lines += [
            f"PROGRAM := {HOST_PROGRAM}",
            "MAP :=",
            "SIZE := size",
            "LINKER_SCRIPT :=",
            "LINK_FLAGS :=",
            "LIBC_host :=",
        ]
    else:
        dfp = f"$(TFLM_DIR)/{library.DOWNLOADS}/cmsis/Cortex_DFP/Device/{target.device}/Source"
        lines += [
            f"STARTUP_SOURCES := {dfp}/startup_{target.device}.c {dfp}/system_{target.device}.c",
            f"PROGRAM := {ELF}",
            f"MAP := {MAP}",
            "SIZE := arm-none-eabi-size",
            f"LINKER_SCRIPT := {LINKER_SCRIPT}",
            "LINK_FLAGS := $(filter -mcpu=% -mfpu=% -mfloat-abi=% -mthumb,$(TFLM_CXXFLAGS)) -nostartfiles "
            "-T $(LINKER_SCRIPT) -Wl,--gc-sections -Wl,-Map=$(MAP)",
            *(f"LIBC_{io_name} := {LIBC[io_name]}" for io_name in PLATFORMS),
        ]
    with open(os.path.join(folder, CONFIG), "w") as f:
        f.write("\n".join(lines) + "\n")


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


def write_images(folder: str, inputs: np.ndarray, target: Target) -> None:
    """The test inputs as the input tensor holds them, back to back: images.bin, which main.cc reads through
    semihosting or the host's files, and for a Cortex-M images.c, the same bytes as an array in flash."""
    data = np.ascontiguousarray(inputs).tobytes()
    with open(os.path.join(folder, IMAGES), "wb") as f:
        f.write(data)
    if target.host:
        return
    rows = (", ".join(f"0x{b:02x}" for b in data[i : i + 16]) for i in range(0, len(data), 16))
    with open(os.path.join(folder, IMAGES_SOURCE), "w") as f:
        f.write(
            f"/* The {len(inputs)} test inputs of images.bin, compiled into flash for IO=uart (uart.c reads them). */\n"
            "#include <stdint.h>\n\n"
            f"__attribute__((aligned(16))) const uint8_t platform_inputs[] = {{\n  " + ",\n  ".join(rows) + "\n};\n"
            f"const uint32_t platform_inputs_bytes = {len(data)}u;\n"
        )


def write_run_script(folder: str, target: Target, program: str) -> None:
    """run.sh: runs the firmware on its test inputs (`./run.sh [IO]`, `make run`), the way the command ran it."""
    cases = "".join(f"{io}) {qemu.shell_command(target, program, io)} ;;\n" for io in platforms(target))
    with open(os.path.join(folder, RUN), "w") as f:
        f.write(
            "#!/bin/sh\n# Runs the firmware on its test inputs: ./run.sh [IO] (make run IO=... calls it).\n"
            'cd "$(dirname "$0")"\n'
            f'case "${{1:-{default_io(target)}}}" in\n{cases}'
            '*) echo "run.sh: no I/O $1 here (one of: ' + " ".join(platforms(target)) + ')" >&2; exit 64 ;;\nesac\n'
        )
    os.chmod(os.path.join(folder, RUN), 0o755)
