"""TFLite-Micro's library for a target, built by TFLite-Micro's own Makefile from the user's tree, and cached.

The library holds TFLite-Micro's runtime and the kernels of the model's operators
(`MICROLITE_CC_KERNEL_SRCS`, from the Makefile's own specialised list: the CMSIS-NN versions with
`OPTIMIZED_KERNEL_DIR=cmsis_nn`): each TFLite-Micro C++ file takes 4-5 CPU-seconds to compile whatever the
optimisation (the flatbuffer schema header alone takes 3), so the 11 kernel files of a ResNet build in about
a quarter of the time of all 158, and the linker would drop the others anyway. Every ResNet of this package
uses the same operators, so one library serves them all; it is cached per target, kernels, build type,
kernel files and TFLite-Micro tree (its git commit, or a signature of its files), and the second firmware
for a target takes seconds. `BUILD_TYPE=release` strips TFLite-Micro's error strings (23 KB of flash).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass

from keras_resnet.errors import UserError
from keras_resnet.lite.firmware import toolchain
from keras_resnet.lite.firmware.targets import Target

TREE_ENV = "TFLM_DIR"  # the default tree (argument tflm)
CACHE_ENV = "RESNET_TFLITE_CACHE"
MAKEFILE = "tensorflow/lite/micro/tools/make/Makefile"
RESOLVER = "tensorflow/lite/micro/micro_mutable_op_resolver.h"
DOWNLOADS = "tensorflow/lite/micro/tools/make/downloads"
NEEDED_DOWNLOADS = ("flatbuffers", "gemmlowp", "ruy", "cmsis/Cortex_DFP", "cmsis/CMSIS/Core/Include", "cmsis_nn")
BUILD_TYPE = "release"
# Kernels every library holds besides the model's own: those of the usual int8 vision, audio and dense models (with
# SHAPE, STRIDED_SLICE and PACK, which Keras' Flatten becomes when the batch is left open), so that such models
# share one cached library per target (the linker keeps only the kernels a model registers).
COMMON_OPS = (
    "ADD", "AVERAGE_POOL_2D", "CONV_2D", "DEPTHWISE_CONV_2D", "DEQUANTIZE", "FULLY_CONNECTED", "MAX_POOL_2D",
    "MEAN", "MUL", "PACK", "PAD", "PADV2", "QUANTIZE", "RESHAPE", "SHAPE", "SOFTMAX", "STRIDED_SLICE", "SUB",
)  # fmt: skip


@dataclass(frozen=True)
class Tree:
    """A TFLite-Micro source tree with its third-party downloads in place."""

    root: str

    @property
    def downloads(self) -> str:
        return os.path.join(self.root, DOWNLOADS)

    def includes(self) -> list[str]:
        """The include folders the firmware's own C++ files need (as the library's Makefile uses them)."""
        return [self.root] + [os.path.join(self.downloads, d) for d in ("flatbuffers/include", "gemmlowp", "ruy")]

    def identity(self) -> str:
        """Its git commit, or (a tree unpacked from an archive) a signature of its source files' sizes."""
        return _identity(self.root)


@functools.cache
def _identity(root: str) -> str:
    if os.path.exists(os.path.join(root, ".git")):
        done = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True)
        if done.returncode == 0:
            return done.stdout.strip()
    digest = hashlib.sha256()
    for top in ("tensorflow/lite", f"{DOWNLOADS}/cmsis_nn"):
        for folder, dirs, names in os.walk(os.path.join(root, top)):
            dirs[:] = sorted(d for d in dirs if d not in ("downloads", "gen"))
            for name in sorted(names):
                path = os.path.join(folder, name)
                digest.update(f"{os.path.relpath(path, root)} {os.lstat(path).st_size}\n".encode())
    return "files-" + digest.hexdigest()[:16]


def tree(path: str | None) -> Tree:
    """The TFLite-Micro tree at `path` (default: $TFLM_DIR), checked: a clear error for anything else."""
    path = path or os.environ.get(TREE_ENV)
    if not path:
        raise UserError(
            f"Give the TFLite-Micro source tree to build against: pass tflm=DIR (a checkout of "
            f"github.com/tensorflow/tflite-micro with its downloads), or set {TREE_ENV}. "
            f"Received: tflm=None"
        )
    root = os.path.abspath(path)
    if not os.path.isfile(os.path.join(root, MAKEFILE)):
        raise UserError(
            f"{root} is not a TFLite-Micro tree (no {MAKEFILE}): pass the top folder of a "
            f"tflite-micro checkout. Received: tflm={path!r}"
        )
    missing = [d for d in NEEDED_DOWNLOADS if not os.path.isdir(os.path.join(root, DOWNLOADS, d))]
    if missing:
        raise UserError(
            f"{root} lacks the third-party code its Makefile downloads ({', '.join(missing)} under "
            f"{DOWNLOADS}): run `make -f {MAKEFILE} third_party_downloads` there once (needs network). "
            f"Received: tflm={path!r}"
        )
    return Tree(root)


def resolvable_builtins(tr: Tree) -> set[str]:
    """The builtins the tree's MicroMutableOpResolver registers (`AddBuiltin(BuiltinOperator_<OP>, ...)`)."""
    return set(re.findall(r"AddBuiltin\(\s*BuiltinOperator_(\w+)", _read(tr, RESOLVER)))


def check_kernels(tr: Tree, ops: list[str]) -> None:
    """Refuse, before anything compiles, a model with an operator the tree has no kernel for."""
    missing = [op for op in ops if op not in resolvable_builtins(tr)]
    if missing:
        raise UserError(
            f"The TFLite-Micro tree at {tr.root} has no kernel for {', '.join(missing)} (its {RESOLVER} "
            f"registers no such builtin): use a tree that has one, or a model without it. Received: {missing}"
        )


def cache_root() -> str:
    """Where built libraries are kept: $RESNET_TFLITE_CACHE, else $XDG_CACHE_HOME/resnet-tflite, ~/.cache/..."""
    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "resnet-tflite"
    )
    return os.path.abspath(base)


def make_variables(target: Target, kernels: str) -> list[str]:
    """The variables TFLite-Micro's Makefile takes for the target and kernels (Debian's toolchain, not a
    download; `BUILD_TYPE=release`: no error strings)."""
    variables = [f"BUILD_TYPE={BUILD_TYPE}"]
    if not target.host:
        gcc = toolchain.find("arm-none-eabi-gcc")
        variables += [
            "TARGET=cortex_m_generic",
            f"TARGET_ARCH={target.arch}",
            f"TARGET_TOOLCHAIN_ROOT={os.path.dirname(gcc)}/",
        ]
    if kernels == "cmsis_nn":
        variables.append("OPTIMIZED_KERNEL_DIR=cmsis_nn")
    return variables


def _make(tr: Tree, target: Target, kernels: str) -> list[str]:
    """TFLite-Micro's make command line for the target and kernels."""
    return [toolchain.find("make"), "-f", MAKEFILE, *make_variables(target, kernels)]


@dataclass(frozen=True)
class Flags:
    """How TFLite-Micro's Makefile compiles for a target: its flags for C++ and C, the include folders (relative
    to the tree), the optimisation of its runtime, and the compilers."""

    cxx: str
    cc: str
    includes: list[str]
    optimization: str
    cxx_tool: str
    cc_tool: str


FLAG_VARIABLES = {"cxx": "CXXFLAGS", "cc": "CCFLAGS", "includes": "INCLUDES", "optimization": "CORE_OPTIMIZATION_LEVEL"}


@functools.cache
def compile_flags(tr: Tree, target: Target, kernels: str) -> Flags:
    """The flags TFLite-Micro's Makefile compiles the library with for the target and kernels, asked from its
    make (each variable printed as make holds it, quotes and all), to compile the firmware's own files alike.
    The include folders it generates (gen/) are left out: the library is built, nothing else needs them."""
    printed = toolchain.run(
        _make(tr, target, kernels) + ["--no-print-directory", "-s", "--eval", _PRINT_RULE, "resnet_tflite_print_flags"],
        "TFLite-Micro's Makefile",
        cwd=tr.root,
        env=environment(),
    )
    values = dict(line.split(" ", 1) for line in printed.splitlines() if line.startswith("RESNET_TFLITE_"))
    found = {key: values.get(f"RESNET_TFLITE_{variable}", "").strip() for key, variable in FLAG_VARIABLES.items()}
    if not found["cxx"] or "CXX" not in "".join(values):
        raise UserError(
            f"TFLite-Micro's Makefile printed no compile flags for {target.name}. Received: {printed[-300:]!r}"
        )
    includes = [flag.removeprefix("-I") for flag in found["includes"].split()]
    return Flags(
        cxx=found["cxx"],
        cc=found["cc"],
        includes=list(dict.fromkeys(i for i in includes if not i.startswith("gen/"))),
        optimization=found["optimization"],
        cxx_tool=os.path.basename(values["RESNET_TFLITE_CXX"].strip()),
        cc_tool=os.path.basename(values["RESNET_TFLITE_CC"].strip()),
    )


_PRINT_RULE = "resnet_tflite_print_flags: ; " + "".join(
    f"$(info RESNET_TFLITE_{variable} $({variable}))" for variable in [*FLAG_VARIABLES.values(), "CXX", "CC"]
)


def environment() -> dict:
    """The Makefile runs python3 on generator scripts that need NumPy and Pillow: this Python first on PATH."""
    return dict(os.environ, PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))


def kernel_sources(tr: Tree, target: Target, kernels: str, ops: list[str]) -> list[str]:
    """The Makefile's kernel sources that define the model's operators and the `COMMON_OPS`
    (`Register_<OP>()`), with the `*_common.cc` beside each and kernel_util.cc; all of them when one operator is
    not found."""
    listed = toolchain.run(
        _make(tr, target, kernels) + ["list_library_sources"],
        "TFLite-Micro's Makefile",
        cwd=tr.root,
        env=environment(),
    ).split()
    every = [s for s in listed if "/kernels/" in s]
    chosen = set()
    for op in sorted(set(ops) | set(COMMON_OPS)):
        definition = re.compile(rf"TFLMRegistration\s+Register_{op}(_INT8)?\s*\(\s*\)\s*\{{")
        found = [s for s in every if definition.search(_read(tr, s))]
        if not found:
            return every
        chosen.update(found)
    stems = {os.path.basename(s).rsplit(".", 1)[0] for s in chosen}
    chosen.update(s for s in every if os.path.basename(s) in {f"{stem}_common.cc" for stem in stems})
    chosen.update(s for s in every if s.endswith("micro/kernels/kernel_util.cc"))
    return sorted(chosen)


def _read(tr: Tree, source: str) -> str:
    with open(os.path.join(tr.root, source), errors="replace") as f:
        return f.read()
