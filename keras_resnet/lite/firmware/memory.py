"""Where a firmware's flash and RAM go, from the linked ELF (`arm-none-eabi-size -A`) and the linker's map.

Flash holds the code and constants (.text with the read-only data, the exception index, the copy and zero tables)
and the initial values of .data; RAM holds .data, .bss (the tensor arena among it), the heap and the stack. Each is
split by where its bytes come from: the model array, TFLite-Micro's runtime and its kernels (CMSIS-NN's functions
among them), the C library (newlib-nano, libm, librdimon, libgcc, libstdc++), the startup, the application and the
test inputs compiled in (with the UART), and in RAM the arena, the stack and the heap. The split is read from the
map; whatever the map attributes to no file (alignment padding) is "other", so each split adds up to the total.
"""

from __future__ import annotations

import os
import re
from collections import Counter

FLASH_SECTIONS = (".text", ".ARM.extab", ".ARM.exidx", ".copy.table", ".zero.table", ".data")
RAM_SECTIONS = (".data", ".bss", ".heap", ".stack")
LIBC = ("libc", "libm", "librdimon", "libg", "libgcc", "libstdc++", "libsupc++", "libnosys")
_INPUT = re.compile(r"^ (\S+)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
_OUTPUT = re.compile(r"^(\.[\w.]+)(?:\s+0x([0-9a-f]+)\s+0x([0-9a-f]+))?")


def totals(sections: dict[str, int]) -> dict[str, int]:
    """Flash and RAM bytes of the ELF's sections (as `section_sizes` read them)."""
    return {
        "flash_bytes": sum(sections.get(s, 0) for s in FLASH_SECTIONS),
        "ram_bytes": sum(sections.get(s, 0) for s in RAM_SECTIONS),
    }


def origin(path: str, section: str, kernel_objects: set[str]) -> str:
    """Which part of the firmware an input section of the map comes from."""
    member = re.search(r"([^/]+)\.a\(([^)]+)\)$", path)
    if member:
        archive, obj = member.groups()
        if archive == "libtensorflow-microlite":
            return "tflm_kernels" if obj in kernel_objects or obj.startswith("arm_") else "tflm_runtime"
        return "libc" if archive.startswith(LIBC) else archive
    name = os.path.basename(path)
    if name.endswith("_model_data.o"):
        return "model"
    if name == "images.o":  # the test inputs compiled into flash (io="uart")
        return "inputs"
    if name == "micro_interpreter_graph.o":  # TFLite-Micro's own, compiled with its operator events kept
        return "tflm_runtime"
    if name == "main.o" and "tensor_arena" in section:
        return "arena"
    return "startup" if name.startswith(("startup_", "system_")) else "application"


def split(map_file: str, sections: dict[str, int], kernel_objects: set[str]) -> dict:
    """{"flash": {part: bytes}, "ram": {part: bytes}}: the map's attribution, "other" making up the totals."""
    with open(map_file, errors="replace") as f:
        text = f.read()
    text = text[text.find("Linker script and memory map") :]
    flash, ram = Counter(), Counter()
    output, pending = None, None
    for line in text.splitlines():
        top = _OUTPUT.match(line)
        if top:
            output = top.group(1)
            if output in (".heap", ".stack") and top.group(3):
                ram[output[1:]] += int(top.group(3), 16)
            continue
        if re.match(r"^ (\.\S+)\s*$", line):  # an input section name too long for one line: its numbers follow
            pending = line.strip()
            continue
        entry = _INPUT.match(line)
        name = entry.group(1) if entry and entry.group(1) else pending
        pending = None
        if (
            not entry
            or output not in FLASH_SECTIONS + RAM_SECTIONS
            or output in (".heap", ".stack")
            or not name
            or name.startswith("*")
            or entry.group(4).startswith(("load address", "size before"))
        ):
            continue
        size, part = int(entry.group(3), 16), origin(entry.group(4), name, kernel_objects)
        if output in FLASH_SECTIONS:
            flash[part] += size
        if output in RAM_SECTIONS:
            ram[part] += size
    total = totals(sections)
    flash["other"] += total["flash_bytes"] - sum(flash.values())
    ram["other"] += total["ram_bytes"] - sum(ram.values())
    return {"flash": dict(flash.most_common()), "ram": dict(ram.most_common())}
