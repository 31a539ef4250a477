"""`resnet-tflite firmware`: a bare-metal Cortex-M firmware (or the same program for the host) built from a
.tflite file, run on test images in QEMU, compared with the host and measured. No TensorFlow."""

from __future__ import annotations

import json
import os

import click

from keras_resnet.cli.options import (
    CONTEXT,
    c_name_option,
    command_errors,
    data_option,
    json_option,
    limit_option,
    strip_option,
)
from keras_resnet.lite.firmware.library import TREE_ENV
from keras_resnet.lite.firmware.project import IOS
from keras_resnet.lite.firmware.qemu import RUN_TIMEOUT_S
from keras_resnet.lite.firmware.targets import DEFAULT_FLASH, DEFAULT_RAM, DEFAULT_TARGET, KERNELS, KIB, TARGETS

PARTS = {
    "model": "model",
    "tflm_kernels": "TFLite-Micro kernels",
    "tflm_runtime": "TFLite-Micro runtime",
    "libc": "C library",
    "startup": "startup",
    "application": "application",
    "inputs": "test inputs",
    "arena": "tensor arena",
    "stack": "stack",
    "heap": "heap",
    "other": "other",
}


def _split(part: dict) -> str:
    return ", ".join(f"{PARTS.get(k, k)} {v:,}" for k, v in part.items() if v)


def _instructions(report: dict, profile: bool) -> list[str]:
    """The instruction count per inference, a time at the clock with what it is, the costliest operators."""
    counted = report.get("instructions")
    if not counted:
        return []
    if not counted["per_inference"]:
        return [f"instructions: not counted ({counted.get('note')})"]
    counts = counted["per_inference"]
    spread = (
        f" (from {min(counts):,} to {max(counts):,} over {len(counts)} images)" if min(counts) != max(counts) else ""
    )
    per_mac = f", {counted['instructions_per_mac']:.2f} per MAC" if counted["instructions_per_mac"] else ""
    lines = [f"instructions per inference: {counted['median']:,}{spread}{per_mac} (executed instructions, not cycles)"]
    if counted.get("clock"):
        c = counted["clock"]
        lines.append(f"at {c['hz'] / 1e6:g} MHz: {c['ms_per_inference']:.3f} ms per inference ({c['kind']})")
    rows = counted["operators"]
    if rows:
        shown = rows if profile else sorted(rows, key=lambda r: -r["instructions"])[:5]
        first = counts[0]
        lines.append("operators (one inference):" if profile else "costliest operators (one inference):")
        for r in shown:
            per = f"{r['instructions_per_mac']:7.2f}/MAC" if r["instructions_per_mac"] else " " * 11
            lines.append(
                f"  {r['index']:3d} {r['op']:<20} {r['instructions']:>12,} {100 * r['instructions'] / first:5.1f}%"
                f" {per}  {r['macs']:>11,} MACs"
            )
    return lines


def _summary(report: dict, out: str, profile: bool = False) -> str:
    where = f"QEMU {report['board']}" if report["board"] else "this machine"
    lines = [
        f"firmware for {report['target']} ({where}), {report['kernels']} kernels, {report['io']} I/O: {out} "
        f"(make -C {out} builds it again, make -C {out} run runs it)"
    ]
    mem = report["memory"]
    if "flash_bytes" in mem:
        lines += [
            f"flash {mem['flash_bytes']:,} of {mem['flash_board_bytes']:,} bytes: {_split(mem['split']['flash'])}",
            f"RAM {mem['ram_bytes']:,} of {mem['ram_board_bytes']:,} bytes: {_split(mem['split']['ram'])}",
        ]
    arena, stack = report["arena"], report["stack"]
    if report["outputs"] is None:
        lines.append(
            f"not run: tensor arena {arena['reserved_bytes']:,} bytes reserved ({arena['host_bytes']:,} "
            f"measured on this host), stack {stack['reserved_bytes']:,} (not measured)"
        )
        return "\n".join(lines)
    lines.append(
        f"tensor arena: {arena['target_used_bytes']:,} bytes used on the target, {arena['host_bytes']:,} "
        f"on the 64-bit host; {arena['reserved_bytes']:,} reserved"
        + (
            f"; stack {stack['used_bytes']:,} bytes used, {stack['reserved_bytes']:,} reserved"
            if stack["used_bytes"] >= 0
            else ""
        )
    )
    o = report["outputs"]
    accuracy = f"; top-1 {o['accuracy']['top1']:.3f}" if o["accuracy"] else ""
    lines.append(
        f"{report['inputs']}: outputs equal TFLite-Micro on this host on {o['tflm_host']['bit_exact_images']} "
        f"of {o['images']} (largest difference {_difference(o['tflm_host'])}); against "
        f"LiteRT top-1 agreement {o['litert']['top1_agreement']:.3f}, largest difference "
        f"{_difference(o['litert'])}{accuracy}"
    )
    return "\n".join(lines + _instructions(report, profile))


def _difference(compared: dict) -> str:
    """The largest difference: in output steps for integer outputs, as a value for float ones."""
    if "max_abs_diff_steps" in compared:
        return f"{compared['max_abs_diff_steps']} steps"
    return f"{compared['max_abs_diff']:.3g}"


@click.command(context_settings=CONTEXT)
@click.argument("model", metavar="FILE.tflite")
@click.option(
    "--target",
    type=click.Choice(sorted(TARGETS)),
    default=DEFAULT_TARGET,
    show_default=True,
    help="The core (each runs on the QEMU board that has it), or host. Float models need a core's FPU: "
    "cortex-m4+fp, cortex-m7+fp (the plain cortex-m4 and cortex-m7 are soft-float), cortex-m33, cortex-m55.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for the firmware, its sources, map and firmware.json (replaced whole, never left half).",
)
@click.option(
    "--kernels",
    type=click.Choice(KERNELS),
    default=KERNELS[0],
    show_default=True,
    help="TFLite-Micro's kernels: Arm's CMSIS-NN or the portable reference ones.",
)
@click.option(
    "--flash",
    default=f"{DEFAULT_FLASH // KIB}K",
    show_default=True,
    help="The board's flash: the link fails when the firmware does not fit.",
)
@click.option("--ram", default=f"{DEFAULT_RAM // KIB}K", show_default=True, help="The board's RAM, likewise.")
@click.option(
    "--tflm",
    type=click.Path(file_okay=False),
    help=f"The TFLite-Micro source tree (with its downloads) to build against; default ${TREE_ENV}.",
)
@data_option("Test images (the test split, class-balanced); default: seeded random inputs")
@limit_option(default=20, show_default=True)
@click.option("--arena", type=click.IntRange(min=1), help="Tensor arena bytes (default: measured on the target).")
@c_name_option()
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=RUN_TIMEOUT_S,
    show_default=True,
    help="Seconds a run may take in QEMU before it counts as a hang.",
)
@click.option(
    "--no-run",
    "no_run",
    is_flag=True,
    help="Build and size the firmware only, for a board larger than "
    "QEMU's: the arena is then the host's measurement plus 10%, the stack 2 KB, neither measured.",
)
@click.option(
    "--clock",
    help="A core clock such as 120MHz: also print the time per inference the instruction count implies at it "
    "(a lower bound on cortex-m4 and cortex-m33, an estimate on cortex-m7 and cortex-m55, with an FPU or not).",
)
@click.option("--profile", is_flag=True, help="Print every operator's instructions, not only the five costliest.")
@click.option(
    "--io",
    type=click.Choice(IOS),
    default=IOS[0],
    show_default=True,
    help="How a Cortex-M firmware prints and takes its inputs: semihosting (QEMU's host), uart (the board's "
    "serial port, inputs compiled into flash, as on a board without a debugger), stdio (newlib's, via semihosting).",
)
@strip_option()
@json_option()
@command_errors
def firmware(
    model,
    target,
    out,
    kernels,
    flash,
    ram,
    tflm,
    data,
    limit,
    arena,
    name,
    timeout,
    no_run,
    clock,
    profile,
    io,
    strip,
    as_json,
):
    """Build FILE.tflite into a firmware for a Cortex-M board (TFLite-Micro's Makefile, Debian's arm-none-eabi
    toolchain, CMSIS startup and linker script), run it in QEMU on test images, compare every output with
    TFLite-Micro and LiteRT on this machine, and measure its flash and RAM from the linked ELF.

    Example: resnet-tflite firmware r8_int8.tflite --target cortex-m55 --data folder:cifar10-jpg --out fw/

    OUT is a project: `make -C fw` builds it again (after an edit of main.cc, only what changed), `make -C fw run`
    runs it in QEMU, `make -C fw size` sizes it.

    The Python function is keras_resnet.firmware.
    """
    from keras_resnet.lite.firmware import firmware as build_firmware

    report = build_firmware(
        model,
        out,
        target=target,
        kernels=kernels,
        flash=flash,
        ram=ram,
        tflm=tflm,
        data=data,
        limit=limit,
        arena=arena,
        name=name,
        timeout=timeout,
        run=not no_run,
        clock=clock,
        strip=strip,
        io=io,
    )
    click.echo(json.dumps(report, indent=2) if as_json else _summary(report, os.path.abspath(out), profile))
