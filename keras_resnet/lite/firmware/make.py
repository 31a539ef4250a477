"""Building with the firmware folder's Makefile (src/Makefile and its config.mk, `project`): TFLite-Micro's library,
built once per target, kernels and tree by the Makefile's library rule into a cache, and the firmware itself.
There is one way to build: the command runs the same `make` a user runs in the folder.

The library holds TFLite-Micro's runtime and the kernels of the model's operators and of `library.COMMON_OPS`
(from TFLite-Micro's Makefile's own specialised list: the CMSIS-NN versions with `OPTIMIZED_KERNEL_DIR=cmsis_nn`):
each TFLite-Micro C++ file takes 4-5 CPU-seconds to compile, so building only those kernels takes a fraction of
the time of all 158, and the linker would drop the others anyway. It is cached per target, kernels, build type,
kernel files and tree (its git commit, or a signature of its files), and the second firmware for a target takes
seconds. `BUILD_TYPE=release` strips TFLite-Micro's error strings (23 KB of flash).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass

from keras_resnet.errors import UserError, say
from keras_resnet.files import write_json
from keras_resnet.lite.firmware import library, project, toolchain
from keras_resnet.lite.firmware.library import Tree
from keras_resnet.lite.firmware.targets import Target

FLAGS_VERSION = 2  # bump when the way the library is built changes
BUILD_TIMEOUT_S = 3600
COMPILE_TIMEOUT_S = 900
BUILD_RECORD = "build.json"  # beside each cached library: what it was built from
LIBRARY = "libtensorflow-microlite.a"


@dataclass(frozen=True)
class Build:
    """How a firmware is built: the target, kernels, the TFLite-Micro tree and library, the model's kernel
    sources, the I/O and what to link besides."""

    target: Target
    kernels: str
    tree: Tree
    library: str
    kernel_sources: tuple[str, ...]
    io: str = "semihosting"  # project.IOS; a host target's is "host"
    extra_link_flags: tuple[str, ...] = ()  # e.g. ("-u", "printf") to measure what linking printf costs

    def __post_init__(self):
        if self.target.host:
            object.__setattr__(self, "io", "host")

    def dfp(self, *parts: str) -> str:
        return os.path.join(self.tree.downloads, "cmsis", "Cortex_DFP", "Device", self.target.device, *parts)


def make(folder: str, *arguments: str, what: str, timeout: float = COMPILE_TIMEOUT_S) -> str:
    """`make -C folder ARGUMENTS` with every core; its output, or a UserError with its first error lines."""
    return toolchain.run(
        [toolchain.find("make"), "-C", folder, f"-j{os.cpu_count() or 1}", *arguments],
        what,
        env=library.environment(),
        timeout=timeout,
    )


def cached_library(tree: Tree, target: Target, kernels: str, ops: list[str]) -> tuple[str, tuple[str, ...]]:
    """(libtensorflow-microlite.a for the target, kernels and the model's operators, its kernel sources), built
    once by the Makefile's library rule and kept in `library.cache_root()`."""
    sources = tuple(library.kernel_sources(tree, target, kernels, ops))
    key = json.dumps([FLAGS_VERSION, tree.identity(), target.arch or "host", kernels, library.BUILD_TYPE, sources])
    folder = os.path.join(library.cache_root(), "tflm", hashlib.sha256(key.encode()).hexdigest()[:20])
    path = os.path.join(folder, LIBRARY)
    if os.path.isfile(path):
        return path, sources
    os.makedirs(os.path.dirname(folder), exist_ok=True)
    say(
        f"Building TFLite-Micro's library for {target.name} with {kernels} kernels ({len(sources)} kernel files; "
        f"a few minutes, once: it is cached in {folder}) ..."
    )
    with tempfile.TemporaryDirectory(prefix=".building-", dir=os.path.dirname(folder)) as work:
        project.copy_platform(work, target)
        project.write_config(work, target, kernels, tree, list(sources), [], project.default_io(target))
        staged = os.path.join(work, "done")
        make(
            work,
            f"TFLM_LIB={os.path.join(staged, LIBRARY)}",
            os.path.join(staged, LIBRARY),
            what=f"Building TFLite-Micro's library for {target.name}",
            timeout=BUILD_TIMEOUT_S,
        )
        shutil.rmtree(os.path.join(staged, "gen"), ignore_errors=True)
        objects = sorted(os.path.basename(s).rsplit(".", 1)[0] + ".o" for s in sources)
        write_json(os.path.join(staged, BUILD_RECORD), {"key": json.loads(key), "kernel_objects": objects})
        try:
            os.rename(staged, folder)  # atomic: a killed build leaves no half library in the cache
        except OSError:
            if not os.path.isfile(path):  # another build of the same library finished first: use that
                raise
    return path, sources


def kernel_objects(library_path: str) -> set[str]:
    """The names of the kernels' object files in a cached library (the rest is TFLite-Micro's runtime)."""
    with open(os.path.join(os.path.dirname(library_path), BUILD_RECORD)) as f:
        return set(json.load(f)["kernel_objects"])


def program(build: Build, folder: str) -> str:
    """Build the firmware in `folder` (written by `project`) with its Makefile and the cached library: the ELF,
    or the host program."""
    arguments = [f"TFLM_LIB={build.library}", f"IO={build.io}"]
    if build.extra_link_flags:
        arguments.append(f"EXTRA_LDFLAGS={' '.join(build.extra_link_flags)}")
    try:
        make(folder, *arguments, what=f"Building the firmware for {build.target.name}")
    except UserError as err:
        raise _does_not_fit(err) or err from None
    return os.path.join(folder, project.HOST_PROGRAM if build.target.host else project.ELF)


class DoesNotFit(UserError):
    """The firmware is larger than the board's flash or RAM: the linker said so."""


def _does_not_fit(err: UserError) -> DoesNotFit | None:
    overflow = re.search(r"region `?(\w+)'? overflowed by (\d+) bytes", str(err))
    if overflow:
        region, excess = overflow.groups()
        return DoesNotFit(
            f"The firmware does not fit the board: its {region} region overflowed by {int(excess):,} bytes (the "
            f"linker's words). Pass the board's real sizes as flash=SIZE and ram=SIZE, or use a smaller model. "
            f"Received: {err}"
        )
    if "overflowed with stack" in str(err):
        return DoesNotFit(
            f"The firmware does not fit the board: RAM overflowed with the stack (the linker's words). Pass "
            f"ram=SIZE, the board's real size, or use a smaller model. Received: {err}"
        )
    return None


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
