"""What machine a benchmark ran on: board, CPU, OS, governor, temperature, throttling, emulation, memory.

Standard library only, so the device harness can record it on a Raspberry Pi or Coral board. Every probe
degrades to None plus a note saying which source was absent (a VM has no thermal zones, a container may
have no /sys, only a Pi has `vcgencmd`), so a record is complete on any machine and honest about gaps.
Paths are read under `root` (default "/") so tests can point the probes at a fake tree.
"""

from __future__ import annotations

import glob
import os
import platform
import shutil
import subprocess

from keras_resnet.errors import UserError

X86_VENDORS = ("GenuineIntel", "AuthenticAMD", "HygonGenuine")
ARM_MACHINES = ("aarch64", "arm64", "armv7l", "armv6l", "armv8l")
X86_MACHINES = ("x86_64", "AMD64", "i686", "i386")
# Raspberry Pi `vcgencmd get_throttled` bits (documented by Raspberry Pi): now (0-3) and since boot (16-19).
THROTTLE_BITS = {
    0: "under-voltage",
    1: "arm-frequency-capped",
    2: "throttled",
    3: "soft-temperature-limit",
    16: "under-voltage-occurred",
    17: "arm-frequency-capping-occurred",
    18: "throttling-occurred",
    19: "soft-temperature-limit-occurred",
}


def _read(root: str, path: str) -> str | None:
    """Text of `root/path` stripped of NULs and whitespace, or None when it is absent or unreadable."""
    try:
        with open(os.path.join(root, path.lstrip("/")), "rb") as f:
            return f.read().replace(b"\0", b"").decode(errors="replace").strip()
    except OSError:
        return None


def _cpuinfo(root: str) -> dict:
    """The first value of each key in /proc/cpuinfo (`model name`, `vendor_id`, `Model`, `Hardware`...)."""
    fields = {}
    for line in (_read(root, "/proc/cpuinfo") or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    return fields


def cpu_flags(root: str = "/") -> set[str]:
    """The CPU's feature flags (`flags` in Linux's /proc/cpuinfo; empty where there is none, e.g. on ARM)."""
    return set(_cpuinfo(root).get("flags", "").split())


def board(root: str = "/") -> dict:
    """The board from the device tree (Raspberry Pi, Coral Dev Board, Jetson...), read on any architecture."""
    model = _read(root, "/proc/device-tree/model")
    if model:
        return {"model": model, "source": "/proc/device-tree/model"}
    vendor = _read(root, "/sys/class/dmi/id/sys_vendor")
    product = _read(root, "/sys/class/dmi/id/product_name")
    if product:
        return {"model": " ".join(x for x in (vendor, product) if x), "source": "/sys/class/dmi/id"}
    return {"model": None, "source": None, "note": "no /proc/device-tree/model and no DMI product name"}


def cpu(root: str = "/") -> dict:
    """CPU model, vendor, logical cores and the cores this process may run on."""
    info = _cpuinfo(root)
    model = info.get("model name") or info.get("Model") or info.get("Hardware") or platform.processor() or None
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "model": model,
        "vendor": info.get("vendor_id") or info.get("CPU implementer"),
        "cores": os.cpu_count(),
        "affinity": affinity,
        "flags_hypervisor": "hypervisor" in cpu_flags(root),
    }


def os_info(root: str = "/") -> dict:
    """Operating system, kernel, architecture and Python (the OS's PRETTY_NAME when /etc/os-release exists)."""
    pretty = None
    for line in (_read(root, "/etc/os-release") or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            pretty = line.partition("=")[2].strip('"')
    return {
        "system": platform.system(),
        "release": platform.release(),
        "distribution": pretty,
        "machine": platform.machine(),
        "python": platform.python_version(),
    }


def governors(root: str = "/") -> dict:
    """The cpufreq governor of each CPU, and a warning unless all are `performance`."""
    paths = sorted(glob.glob(os.path.join(root, "sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor")))
    values = {os.path.basename(os.path.dirname(os.path.dirname(p))): _read("/", p) for p in paths}
    if not values:
        return {
            "governors": None,
            "warning": None,
            "note": "no cpufreq scaling_governor (a VM, a container without /sys, or a fixed clock)",
        }
    slow = sorted({v for v in values.values() if v != "performance"})
    warning = (
        f"CPU governor is {', '.join(slow)}, not performance: the clock may change during the run. "
        f"Set it with: echo performance | sudo tee /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor"
        if slow
        else None
    )
    return {"governors": values, "warning": warning}


def _vcgencmd(*args) -> str | None:
    """Output of Raspberry Pi's `vcgencmd ARGS`, or None when the tool is absent or fails."""
    if shutil.which("vcgencmd") is None:
        return None
    try:
        done = subprocess.run(["vcgencmd", *args], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def decode_throttled(value: int) -> list[str]:
    """Names of the set bits of `vcgencmd get_throttled` (e.g. 0x50000 -> two 'occurred' flags)."""
    return [name for bit, name in THROTTLE_BITS.items() if value >> bit & 1]


def thermal(root: str = "/") -> dict:
    """Temperatures (degrees C) and throttling flags: `vcgencmd` on a Pi, thermal zones otherwise."""
    temp = _vcgencmd("measure_temp")  # "temp=48.3'C"
    if temp and "=" in temp:
        throttled = _vcgencmd("get_throttled")  # "throttled=0x0"
        value = int(throttled.partition("=")[2], 16) if throttled and "=" in throttled else None
        return {
            "source": "vcgencmd",
            "celsius": {"soc": float(temp.partition("=")[2].rstrip("'C"))},
            "throttled": value,
            "throttled_flags": decode_throttled(value) if value is not None else None,
        }
    zones = {}
    for zone in sorted(glob.glob(os.path.join(root, "sys/class/thermal/thermal_zone*"))):
        milli = _read("/", os.path.join(zone, "temp"))
        if milli and milli.lstrip("-").isdigit():
            name = _read("/", os.path.join(zone, "type")) or os.path.basename(zone)
            zones[f"{os.path.basename(zone)}:{name}"] = int(milli) / 1000
    if zones:
        return {
            "source": "thermal_zones",
            "celsius": zones,
            "throttled": None,
            "throttled_flags": None,
            "note": "no vcgencmd: throttling flags are known only on a Raspberry Pi",
        }
    return {
        "source": None,
        "celsius": None,
        "throttled": None,
        "throttled_flags": None,
        "note": "no vcgencmd and no readable /sys/class/thermal zones: temperature unknown",
    }


def emulation(root: str = "/", machine: str | None = None) -> dict:
    """Whether this process runs under qemu user-mode emulation, with the evidence found.

    Under qemu-user the kernel, /proc and /sys are the host's: an ARM Python sees an x86 /proc/cpuinfo
    (newer qemu fakes that file, but not the kernel's own /proc/sys/kernel/arch), and the host registers
    a qemu binfmt handler for this architecture (visible only where binfmt_misc is mounted). Timings
    measured so are not device figures, and the result must say so.
    """
    machine = machine or platform.machine()
    evidence = []
    vendor = _cpuinfo(root).get("vendor_id", "")
    if machine in ARM_MACHINES and vendor in X86_VENDORS:
        evidence.append(f"{machine} Python on an {vendor} /proc/cpuinfo")
    kernel = _read(root, "/proc/sys/kernel/arch")
    if machine in ARM_MACHINES and kernel in X86_MACHINES:
        evidence.append(f"{machine} Python on an {kernel} kernel (/proc/sys/kernel/arch)")
    handler = os.path.join(root, f"proc/sys/fs/binfmt_misc/qemu-{machine}")
    if machine not in X86_MACHINES and (_read("/", handler) or "").startswith("enabled"):
        evidence.append(f"binfmt handler qemu-{machine} is enabled")
    if os.environ.get("QEMU_LD_PREFIX") or os.environ.get("QEMU_CPU"):
        evidence.append("QEMU_* environment variables are set")
    return {"emulated": bool(evidence), "evidence": evidence}


def peak_rss_bytes() -> int | None:
    """Peak resident memory of this process so far (None where `resource` does not exist, e.g. Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if platform.system() == "Darwin" else peak * 1024)  # macOS: bytes, Linux: KiB


def pin_cpus(cpus: list[int]) -> list[int]:
    """Restrict this process to `cpus` (Linux), returning the affinity now in force."""
    if not hasattr(os, "sched_setaffinity"):
        raise UserError(f"CPU pinning needs Linux (sched_setaffinity): pass pin=None here. Received: pin={cpus}")
    try:
        os.sched_setaffinity(0, cpus)
    except (OSError, ValueError) as err:
        raise UserError(
            f"Cannot pin to CPUs {cpus} ({err}); this machine has CPUs "
            f"{sorted(os.sched_getaffinity(0))}. Received: pin={cpus}"
        ) from None
    return sorted(os.sched_getaffinity(0))


def collect(root: str = "/") -> dict:
    """The full system record taken once per run (temperature is taken again at the end by the caller)."""
    record = {
        "board": board(root),
        "cpu": cpu(root),
        "os": os_info(root),
        "cpufreq": governors(root),
        "emulation": emulation(root),
    }
    record["virtualized"] = record["cpu"]["flags_hypervisor"] or record["emulation"]["emulated"]
    return record
