"""The targets firmware is built for: each Cortex-M core on the QEMU board that has it, and the host.

A target's name is TFLite-Micro's `TARGET_ARCH` for its `cortex_m_generic` target, whose makefile gives the compile
flags (asked from it: `library.compile_flags`): plain cortex-m4 and cortex-m7 are soft-float there (`+nofp`: the
FPU unused), cortex-m4+fp, cortex-m7+fp, cortex-m33 and cortex-m55 hard-float (the core's own FPU, single
precision on the M4, double on the M7). Only a hard-float target runs a float model: CMSIS's SystemInit turns the
FPU on at start-up when the compiler uses it. Each `+fp` target runs on its core's board. Memory bases are where
QEMU 7.2's boards keep code and data (`info mtree`): the MPS3 AN547 boots the M55 from its 512 KB ITCM and has a 512 KB
DTCM; the AN505 runs the M33 in the secure world, so code and RAM use the secure aliases (its SRAM at
0x20000000 holds only 32 KB).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from keras_resnet.errors import UserError

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Target:
    """One core: how to compile for it (TFLite-Micro's TARGET_ARCH, the CMSIS device) and where it
    runs (the QEMU board, its memory). `arch` None is the host."""

    name: str
    arch: str | None
    fpu: bool  # built hard-float: floats computed on the FPU
    device: str | None  # Cortex_DFP's Device/<device> and the -D<device> define
    board: str | None  # qemu-system-arm -M
    flash_base: int = 0
    ram_base: int = 0
    flash_max: int = 0  # what the emulated board holds
    ram_max: int = 0

    @property
    def host(self) -> bool:
        return self.arch is None

    @property
    def core(self) -> str:
        """The core without TFLite-Micro's FPU suffix: QEMU's -cpu name ("cortex-m4" for "cortex-m4+fp")."""
        return self.name.split("+")[0]

    @property
    def hard_float(self) -> bool:
        """Whether it computes floats on an FPU (the host too): float models are built only for these."""
        return self.host or self.fpu


def _with_fpu(soft: Target) -> Target:
    """The hard-float variant of a soft-float target: TFLite-Micro's `<core>+fp` TARGET_ARCH, the same board."""
    return replace(soft, name=f"{soft.name}+fp", arch=f"{soft.arch}+fp", fpu=True)


_M4, _M7 = (
    Target(
        "cortex-m4",
        "cortex-m4",
        False,
        "ARMCM4",
        "mps2-an386",
        0x00000000,
        0x20000000,
        4 * MIB,
        4 * MIB,
    ),
    Target(
        "cortex-m7",
        "cortex-m7",
        False,
        "ARMCM7",
        "mps2-an500",
        0x00000000,
        0x20000000,
        4 * MIB,
        4 * MIB,
    ),
)
TARGETS = {
    t.name: t
    for t in (
        _M4,
        _with_fpu(_M4),
        _M7,
        _with_fpu(_M7),
        Target(
            "cortex-m33",
            "cortex-m33",
            True,
            "ARMCM33",
            "mps2-an505",
            0x10000000,
            0x38000000,
            4 * MIB,
            2 * MIB,
        ),
        Target(
            "cortex-m55",
            "cortex-m55",
            True,
            "ARMCM55",
            "mps3-an547",
            0x00000000,
            0x20000000,
            512 * KIB,
            512 * KIB,
        ),
        Target("host", None, True, None, None),
    )
}
KERNELS = ("cmsis_nn", "reference")
DEFAULT_TARGET = "cortex-m55"
DEFAULT_FLASH = 256 * KIB  # the MLPerf Tiny class of board
DEFAULT_RAM = 128 * KIB


def target(name: str) -> Target:
    if name not in TARGETS:
        raise UserError(f"Unknown target {name!r}: the targets are {', '.join(TARGETS)}. Received: target={name!r}")
    return TARGETS[name]


def hard_float_variant(t: Target) -> str | None:
    """The name of the hard-float target on the same core and board (cortex-m4+fp for cortex-m4), or None."""
    return next((name for name, other in TARGETS.items() if other.core == t.core and other.hard_float), None)


def parse_bytes(size: int | str, name: str = "size") -> int:
    """A memory size in bytes: an int, or text such as 262144, 256K, 256KB, 1M or 1MB (K: 1024 bytes).

    Args:
        size: The size, as a number of bytes or as text.
        name: The argument it was given as, named by the error.

    Returns:
        The size in bytes.

    Raises:
        UserError: `size` is no positive size.
    """
    if isinstance(size, bool) or not isinstance(size, (int, str)):
        raise UserError(f"{name} takes a size in bytes, e.g. 262144, 256K or 1M. Received: {name}={size!r}")
    value = str(size).strip().upper().removesuffix("B")
    scale = {"K": KIB, "M": MIB}.get(value[-1:], 1)
    number = value[:-1] if value[-1:] in ("K", "M") else value
    if not number.isdigit() or int(number) < 1:
        raise UserError(f"{name} takes a size in bytes, e.g. 262144, 256K or 1M. Received: {name}={size!r}")
    return int(number) * scale


def check_fits_board(t: Target, flash: int, ram: int) -> None:
    """Refuse memory sizes larger than the emulated board holds (the link would succeed, QEMU would fault)."""
    for what, size, most in (("flash", flash, t.flash_max), ("RAM", ram, t.ram_max)):
        if not t.host and size > most:
            raise UserError(
                f"QEMU's {t.board} gives the {t.name} {most // KIB} KB for {what}: choose at most "
                f"{most // KIB}K. Received: {what.lower()}={size} ({size // KIB} KB)"
            )
