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
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

from keras_resnet.errors import UserError, say
from keras_resnet.files import write_json
from keras_resnet.lite.firmware import toolchain
from keras_resnet.lite.firmware.targets import Target

TREE_ENV = "TFLM_DIR"  # the default tree (argument tflm)
CACHE_ENV = "RESNET_TFLITE_CACHE"
MAKEFILE = "tensorflow/lite/micro/tools/make/Makefile"
DOWNLOADS = "tensorflow/lite/micro/tools/make/downloads"
NEEDED_DOWNLOADS = ("flatbuffers", "gemmlowp", "ruy", "cmsis/Cortex_DFP", "cmsis/CMSIS/Core/Include", "cmsis_nn")
BUILD_TYPE = "release"
FLAGS_VERSION = 1  # bump when the way the library is built changes
BUILD_TIMEOUT_S = 3600
BUILD_RECORD = "build.json"  # beside each cached library: what it was built from


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


def cache_root() -> str:
    """Where built libraries are kept: $RESNET_TFLITE_CACHE, else $XDG_CACHE_HOME/resnet-tflite, ~/.cache/..."""
    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "resnet-tflite"
    )
    return os.path.abspath(base)


def _make(tr: Tree, target: Target, kernels: str) -> list[str]:
    """TFLite-Micro's make command line for the target and kernels (Debian's toolchain, not a download)."""
    command = [toolchain.find("make"), "-f", MAKEFILE, f"BUILD_TYPE={BUILD_TYPE}"]
    if not target.host:
        gcc = toolchain.find("arm-none-eabi-gcc")
        command += [
            "TARGET=cortex_m_generic",
            f"TARGET_ARCH={target.arch}",
            f"TARGET_TOOLCHAIN_ROOT={os.path.dirname(gcc)}/",
        ]
    if kernels == "cmsis_nn":
        command.append("OPTIMIZED_KERNEL_DIR=cmsis_nn")
    return command


def _environment() -> dict:
    """The Makefile runs python3 on generator scripts that need NumPy and Pillow: this Python first on PATH."""
    return dict(os.environ, PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))


def kernel_sources(tr: Tree, target: Target, kernels: str, ops: list[str]) -> list[str]:
    """The Makefile's kernel sources that define the model's operators (`Register_<OP>()`), with the
    `*_common.cc` beside each and kernel_util.cc; all of them when one operator is not found."""
    listed = toolchain.run(
        _make(tr, target, kernels) + ["list_library_sources"],
        "TFLite-Micro's Makefile",
        cwd=tr.root,
        env=_environment(),
    ).split()
    every = [s for s in listed if "/kernels/" in s]
    chosen = set()
    for op in ops:
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


def library(tr: Tree, target: Target, kernels: str, ops: list[str]) -> str:
    """The path of libtensorflow-microlite.a for the target, kernels and the model's operators, built once."""
    sources = kernel_sources(tr, target, kernels, ops)
    key = json.dumps([FLAGS_VERSION, tr.identity(), target.arch or "host", kernels, BUILD_TYPE, sources])
    folder = os.path.join(cache_root(), "tflm", hashlib.sha256(key.encode()).hexdigest()[:20])
    path = os.path.join(folder, "libtensorflow-microlite.a")
    if os.path.isfile(path):
        return path
    os.makedirs(os.path.dirname(folder), exist_ok=True)
    say(
        f"Building TFLite-Micro's library for {target.name} with {kernels} kernels ({len(sources)} kernel files; "
        f"a few minutes, once: it is cached in {folder}) ..."
    )
    with tempfile.TemporaryDirectory(prefix=".building-", dir=os.path.dirname(folder)) as work:
        toolchain.run(
            _make(tr, target, kernels)
            + [
                f"BASE_GENDIR={work}",
                f"MICROLITE_CC_KERNEL_SRCS={' '.join(sources)}",
                f"-j{os.cpu_count() or 1}",
                "microlite",
            ],
            f"Building TFLite-Micro's library for {target.name}",
            cwd=tr.root,
            env=_environment(),
            timeout=BUILD_TIMEOUT_S,
        )
        built = glob.glob(os.path.join(work, "*", "lib", "libtensorflow-microlite.a"))
        if len(built) != 1:
            raise UserError(f"TFLite-Micro's Makefile built no single library under {work}: found {built}")
        staged = os.path.join(work, "done")
        os.makedirs(staged)
        shutil.move(built[0], os.path.join(staged, "libtensorflow-microlite.a"))
        objects = sorted(os.path.basename(s).rsplit(".", 1)[0] + ".o" for s in sources)
        write_json(
            os.path.join(staged, BUILD_RECORD),
            {"key": json.loads(key), "make": _make(tr, target, kernels), "kernel_objects": objects},
        )
        try:
            os.rename(staged, folder)  # atomic: a killed build leaves no half library in the cache
        except OSError:
            if not os.path.isfile(path):  # another build of the same library finished first: use that
                raise
    return path


def kernel_objects(library_path: str) -> set[str]:
    """The names of the kernels' object files in a cached library (the rest is TFLite-Micro's runtime)."""
    with open(os.path.join(os.path.dirname(library_path), BUILD_RECORD)) as f:
        return set(json.load(f)["kernel_objects"])
