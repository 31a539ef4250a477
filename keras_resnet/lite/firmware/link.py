"""Compiling and linking the firmware: Debian's arm-none-eabi-gcc with the flags of the library's target (one
ABI), newlib-nano with librdimon for semihosting, the board's linker script; or the system compiler for the
host. The firmware's own files are built as the library was (`BUILD_TYPE=release`: no error strings)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from keras_resnet.errors import UserError
from keras_resnet.lite.firmware import toolchain
from keras_resnet.lite.firmware.library import Tree
from keras_resnet.lite.firmware.project import LINKER_SCRIPT
from keras_resnet.lite.firmware.targets import Target

DEFINES = ("-DTF_LITE_STATIC_MEMORY", "-DNDEBUG", "-DTF_LITE_STRIP_ERROR_STRINGS")  # as the library is built
CXX_FLAGS = ("-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics", "-fno-use-cxa-atexit")
SIZE_FLAGS = ("-Os", "-ffunction-sections", "-fdata-sections", "-fno-unwind-tables", "-fno-asynchronous-unwind-tables")
# newlib-nano; with the stdio platform also librdimon, which takes stdio through semihosting
LIBC = {
    "semihosting": ("--specs=nano.specs", "--specs=nosys.specs"),
    "stdio": ("--specs=nano.specs", "--specs=rdimon.specs"),
}
ELF = "firmware.elf"
HOST_PROGRAM = "firmware"
MAP = "firmware.map"
COMPILE_TIMEOUT_S = 600


@dataclass(frozen=True)
class Build:
    """How a firmware is built: the target, kernels, the TFLite-Micro tree and library, what to link besides."""

    target: Target
    kernels: str
    tree: Tree
    library: str
    platform: str = "semihosting"  # project.PLATFORMS; a host target is always "host"
    extra_link_flags: tuple[str, ...] = ()  # e.g. ("-u", "printf") to measure what linking printf costs

    def __post_init__(self):
        if self.target.host:
            object.__setattr__(self, "platform", "host")

    def dfp(self, *parts: str) -> str:
        return os.path.join(self.tree.downloads, "cmsis", "Cortex_DFP", "Device", self.target.device, *parts)

    def defines(self) -> list[str]:
        device = [] if self.target.host else [f"-D{self.target.device}"]
        return [*DEFINES, *device, *(["-DCMSIS_NN"] if self.kernels == "cmsis_nn" else [])]

    def includes(self, folder: str) -> list[str]:
        cmsis = (
            []
            if self.target.host
            else [os.path.join(self.tree.downloads, "cmsis", "CMSIS", "Core", "Include"), self.dfp("Include")]
        )
        return [f"-I{d}" for d in (folder, *cmsis, *self.tree.includes())]


def program(build: Build, folder: str, sources: list[str]) -> str:
    """Compile `sources` (in `folder`) and link them with the library: the ELF, or the host program."""
    if build.target.host:
        return _host_program(build, folder, sources)
    gcc, gxx = toolchain.find("arm-none-eabi-gcc"), toolchain.find("arm-none-eabi-g++")
    common = [*build.target.cpu_flags, "-mthumb", *SIZE_FLAGS, *build.defines(), *build.includes(folder)]
    startup = [
        build.dfp("Source", f"startup_{build.target.device}.c"),
        build.dfp("Source", f"system_{build.target.device}.c"),
    ]
    objects = []
    for source in [*startup, *(os.path.join(folder, s) for s in sources)]:
        cxx = source.endswith(".cc")
        obj = os.path.join(folder, "obj", os.path.basename(source).rsplit(".", 1)[0] + ".o")
        os.makedirs(os.path.dirname(obj), exist_ok=True)
        toolchain.run(
            [gxx if cxx else gcc, *common, *(CXX_FLAGS if cxx else ()), "-c", source, "-o", obj],
            f"Compiling {os.path.basename(source)}",
            timeout=COMPILE_TIMEOUT_S,
        )
        objects.append(obj)
    elf = os.path.join(folder, ELF)
    link = [
        gxx,
        *build.target.cpu_flags,
        "-mthumb",
        "-nostartfiles",
        *LIBC[build.platform],
        "-T",
        os.path.join(folder, LINKER_SCRIPT),
        "-Wl,--gc-sections",
        f"-Wl,-Map={os.path.join(folder, MAP)}",
        *build.extra_link_flags,
        *objects,
        build.library,
        "-lm",
        "-o",
        elf,
    ]
    _link(link, build)
    return elf


def _host_program(build: Build, folder: str, sources: list[str]) -> str:
    gxx = toolchain.find("g++")
    binary = os.path.join(folder, HOST_PROGRAM)
    flags = ["-O2", *build.defines(), *build.includes(folder)]
    files = [os.path.join(folder, s) for s in sources]
    cxx = [f for f in files if f.endswith(".cc")]
    c = [f for f in files if f.endswith(".c")]
    _link([gxx, *flags, *CXX_FLAGS, *cxx, "-x", "c", *c, "-x", "none", build.library, "-lm", "-o", binary], build)
    return binary


class DoesNotFit(UserError):
    """The firmware is larger than the board's flash or RAM: the linker said so."""


def _link(command: list[str], build: Build) -> None:
    try:
        toolchain.run(command, f"Linking the firmware for {build.target.name}", timeout=COMPILE_TIMEOUT_S)
    except UserError as err:
        overflow = re.search(r"region `?(\w+)'? overflowed by (\d+) bytes", str(err))
        if overflow:
            region, excess = overflow.groups()
            raise DoesNotFit(
                f"The firmware does not fit the board: its {region} region overflowed by "
                f"{int(excess):,} bytes (the linker's words). Pass the board's real sizes as flash=SIZE "
                f"and ram=SIZE, or use a smaller model. Received: {err}"
            ) from None
        if "overflowed with stack" in str(err):
            raise DoesNotFit(
                f"The firmware does not fit the board: RAM overflowed with the stack (the linker's "
                f"words). Pass ram=SIZE, the board's real size, or use a smaller model. Received: {err}"
            ) from None
        raise


def section_sizes(elf: str) -> dict[str, int]:
    """{section: bytes} as `arm-none-eabi-size -A` reports the ELF."""
    return parse_section_sizes(toolchain.run([toolchain.find("arm-none-eabi-size"), "-A", elf], "arm-none-eabi-size"))


def parse_section_sizes(output: str) -> dict[str, int]:
    """{section: bytes} from what `arm-none-eabi-size -A` printed (sections only, not the Total line)."""
    sizes = {}
    for line in output.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0].startswith(".") and fields[1].isdigit():
            sizes[fields[0]] = int(fields[1])
    return sizes
