"""The whole firmware path for one model and target: check, reference outputs on the host, library, a probe
build that measures, the final build sized from it, the run, the comparison, the sizes, the folder.

The probe links into the emulated board's whole memory with a generous arena, stack and heap, runs the test
images and reports what they took on the target itself: `arena_used_bytes()` (32-bit pointers, the
kernels' own scratch buffers: CMSIS-NN's on a Cortex-M), the stack's high-water mark (the stack is painted
at start-up) and the heap the C library took. The final firmware reserves exactly that, with a margin (the
arena: 16 bytes over what TFLite-Micro reports, which undercounts its tail alignment by up to 12; the stack
and heap: a quarter), and is linked into the board's flash and RAM as given, so a model that does not fit
fails at link time, as it would for the board itself. Everything is built in a hidden folder beside the
output and moved into place at the end: a failed or interrupted build leaves no partial folder.

Without a run (for a board larger than the emulated one), the firmware is built and sized only: its arena is
the host's measurement plus `micro.ARENA_MARGIN` and its stack `UNMEASURED_STACK`, neither measured.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from keras_resnet import sources
from keras_resnet.errors import UserError, say
from keras_resnet.files import write_json
from keras_resnet.lite import flatbuffer, micro, tflm
from keras_resnet.lite.accuracy import top1, topk
from keras_resnet.lite.firmware import library, make, memory, project, qemu, speed, toolchain
from keras_resnet.lite.firmware.targets import (
    DEFAULT_FLASH,
    DEFAULT_RAM,
    DEFAULT_TARGET,
    KERNELS,
    KIB,
    Target,
    check_fits_board,
    hard_float_variant,
    parse_bytes,
)
from keras_resnet.lite.firmware.targets import (
    target as find_target,
)
from keras_resnet.lite.runtime import TFLiteModel
from keras_resnet.lite.safety import check_model
from keras_resnet.lite.strip import stripped

__all__ = ["firmware", "build", "Request", "REPORT"]

PROBE_STACK, PROBE_HEAP = 16 * KIB, 8 * KIB
MARGIN = 0.25  # on the measured stack and heap
REPORT = "firmware.json"
RANDOM_IMAGES = 10  # without data: seeded random inputs, enough to compare outputs
UNMEASURED_STACK = 2 * KIB  # without a run: above what every ResNet of the package measured (at most 1.2 KB)


@dataclass(frozen=True)
class Request:
    """What a firmware build is asked for (the arguments of `firmware`, sizes in bytes)."""

    model: str
    target: str
    out: str
    kernels: str = "cmsis_nn"
    flash: int = 256 * KIB
    ram: int = 128 * KIB
    tflm: str | None = None
    data: str | None = None
    limit: int = 20
    arena: int | None = None  # bytes; None: measured on the target
    name: str | None = None
    timeout: float = qemu.RUN_TIMEOUT_S
    run: bool = True  # False: build and size only, for a board QEMU does not hold
    io: str = "semihosting"  # project.IOS: how the firmware talks and takes its inputs on a Cortex-M
    # What tools/firmware_sizes.py adds to measure the C library's cost (with io="stdio"): extra link flags
    link_flags: tuple[str, ...] = ()
    clock: float | None = None  # Hz: the time the instruction count implies at this clock
    strip: bool = False  # the model without names, signatures and metadata (`keras_resnet.lite.strip`)


@dataclass(frozen=True)
class Job:
    """A firmware being made: the request, how it is built, the model, its test inputs and host reference."""

    request: Request
    build: make.Build
    data: bytes
    model: flatbuffer.Model
    classes: list[str]
    name: str
    inputs: np.ndarray
    reference: dict


def firmware(
    model,
    out,
    *,
    target: str = DEFAULT_TARGET,
    kernels: str = KERNELS[0],
    flash: int | str = DEFAULT_FLASH,
    ram: int | str = DEFAULT_RAM,
    tflm=None,
    data: str | None = None,
    limit: int = 20,
    arena: int | None = None,
    name: str | None = None,
    timeout: float = qemu.RUN_TIMEOUT_S,
    run: bool = True,
    clock: float | str | None = None,
    strip: bool = False,
    io: str = "semihosting",
) -> dict[str, Any]:
    """Build a .tflite file into a bare-metal Cortex-M firmware (or the same program for the host), run it in
    QEMU on test images, compare every output with TFLite-Micro and LiteRT on this machine, and measure its
    flash and RAM from the linked ELF.

    The folder is a project: its Makefile builds the firmware (`make -C OUT`, `make run`, `make size`) with the
    compile flags TFLite-Micro's own Makefile uses for the target, and this function builds through it.
    TFLite-Micro's library is built by its own Makefile from `tflm` with Debian's arm-none-eabi toolchain
    (a few minutes once per target and kernels, then cached). A first build measures what the model takes on
    the target; the final one reserves that and is linked into `flash` and `ram`, so a model that does not fit
    fails at link time. Everything is built beside `out` and moved into place at the end.

    Args:
        model: Path of the .tflite file, with static shapes (an input batch left open is taken as 1): a
            full-integer (int8) model, or a float32 one (as TFLite's converter writes by default) for a target
            with an FPU (see `target`).
        out: Folder for the firmware, its sources, Makefile, map, run.sh and firmware.json: new, empty, or an earlier
            firmware's (replaced whole, never left half).
        target: The core (`targets.TARGETS`: cortex-m4, cortex-m4+fp, cortex-m7, cortex-m7+fp, cortex-m33,
            cortex-m55), each run on the QEMU board that has it, or "host". Float models run on the hard-float
            ones (TFLite-Micro's `+fp` names, the M33 and M55, the host); plain cortex-m4 and cortex-m7 are
            soft-float and refuse them.
        kernels: TFLite-Micro's kernels: "cmsis_nn" (Arm's CMSIS-NN) or "reference".
        flash: The board's flash, in bytes or as text like "256K" or "1M".
        ram: The board's RAM, likewise.
        tflm: The TFLite-Micro source tree (with its downloads); default: $TFLM_DIR.
        data: Test images SOURCE (`folder:PATH`, `npz:PATH` or `tfds:NAME[:SPLIT]`; its test split,
            class-balanced); default: seeded random inputs.
        limit: Test images taken from `data`.
        arena: Tensor arena bytes; default: what the model takes on the target, measured.
        name: C name of the model (default: the file name as a C name).
        timeout: Seconds a run may take in QEMU before it counts as a hang.
        run: False: build and size only, for a board larger than QEMU's (the arena is the host's
            measurement plus a margin, the stack 2 KB, neither measured).
        clock: A core clock, in Hz or as text like "120MHz": the report then gives the time per inference the
            instruction count implies at it, a lower bound on the single-issue Cortex-M4 and M33, an estimate
            on the M7 (dual issue) and M55 (MVE beats). Default: no time.
        strip: Build the model in without what a microcontroller never reads (`keras_resnet.lite.strip`:
            tensor names, signatures, metadata): less flash, the same outputs.
        io: How a Cortex-M firmware prints and takes its test inputs: "semihosting" (QEMU's host: its files and
            console), "uart" (the board's UART, as a serial console, with the inputs compiled into flash: what
            a board without a debugger does) or "stdio" (newlib's stdio through semihosting). The folder's
            Makefile builds any of them (`make IO=uart`).

    Returns:
        The report written to OUT/firmware.json: model, target, board, kernels, io, inputs, tflm (tree and
        library), memory (the board's sizes, the firmware's flash and RAM bytes, its sections and their split
        by part), arena, stack and heap (used on the target and reserved), outputs (the comparison with the
        host's TFLite-Micro and LiteRT, in output steps for an integer output, as values for a float one, and
        accuracy with labels; None without a run), instructions (on a
        Cortex-M run: every image's executed instructions, each operator's with its MACs and instructions per
        MAC, the time at `clock`; None on the host or without a run), run and files. The folder also holds
        instructions.png (instructions per operator) and instructions_node_data.json (the same as Model
        Explorer node data).

    Raises:
        UserError: A bad argument, a model a microcontroller cannot run, a missing tool or TFLite-Micro tree,
            a firmware that does not fit the board, or a run that fails or does not finish.
        FileNotFoundError: `model` does not exist.
    """
    request = Request(
        model=os.fspath(model),
        target=target,
        out=os.fspath(out),
        kernels=kernels,
        flash=parse_bytes(flash, "flash"),
        ram=parse_bytes(ram, "ram"),
        tflm=None if tflm is None else os.fspath(tflm),
        data=data,
        limit=limit,
        arena=arena,
        name=name,
        timeout=timeout,
        run=run,
        clock=speed.parse_clock(clock),
        strip=strip,
        io=io,
    )
    return build(request)


def _check_request(request: Request) -> None:
    """The arguments that need no tool and no file, checked before anything else."""
    if request.kernels not in KERNELS:
        raise UserError(
            f"Unknown kernels {request.kernels!r}: TFLite-Micro's kernels are {', '.join(KERNELS)}. "
            f"Received: kernels={request.kernels!r}"
        )
    if isinstance(request.limit, bool) or not isinstance(request.limit, int) or request.limit < 1:
        raise UserError(f"limit is the number of test images: at least 1. Received: limit={request.limit!r}")
    if request.arena is not None and (
        isinstance(request.arena, bool) or not isinstance(request.arena, int) or request.arena < 1
    ):
        raise UserError(
            f"arena is the tensor arena's size in bytes, at least 1 (or None: measured). "
            f"Received: arena={request.arena!r}"
        )
    if not request.timeout > 0:
        raise UserError(f"timeout is in seconds and must be above 0. Received: timeout={request.timeout!r}")
    if request.io not in project.IOS:
        raise UserError(
            f"Unknown io {request.io!r}: a firmware's I/O is one of {', '.join(project.IOS)}. "
            f"Received: io={request.io!r}"
        )
    if request.io != "semihosting" and request.target == "host":
        raise UserError(
            f"The host's firmware does its I/O with the C library: io is for Cortex-M targets. "
            f"Received: io={request.io!r}"
        )


def _check_inputs_fit(inputs: np.ndarray, target: Target, request: Request) -> None:
    """With the UART the test inputs are compiled into flash: refuse, before building, inputs that alone fill it."""
    if request.io == "uart" and not target.host and inputs.nbytes >= request.flash:
        raise UserError(
            f"The {len(inputs)} test inputs take {inputs.nbytes:,} bytes, compiled into flash with io='uart', and the "
            f"board's flash is {request.flash:,}: pass a smaller limit, or io='semihosting', which reads them from the "
            f"host. Received: limit={request.limit}, flash={request.flash}"
        )


def build(request: Request) -> dict:
    """Build, run and measure the firmware a `Request` describes (`firmware` makes one from its arguments);
    returns the report written to OUT/firmware.json."""
    target = find_target(request.target)
    _check_request(request)
    c_name = micro.default_c_name(request.model, request.name)
    if request.run:
        check_fits_board(target, request.flash, request.ram)
    out = _check_out(request.out)
    _check_tools(target, request.run)
    data, model = checked_model(request.model, target)
    classes = micro.class_names(request.model, data, model)
    if request.strip:
        model = stripped(model)
        data = model.data
    tree = library.tree(request.tflm)
    library.check_kernels(tree, model.op_names())
    inputs, labels, source = test_inputs(model, request)
    _check_inputs_fit(inputs, target, request)
    library_path, kernel_sources = make.cached_library(tree, target, request.kernels, model.op_names())
    lib = make.Build(target, request.kernels, tree, library_path, kernel_sources, request.io, request.link_flags)
    job = Job(
        request=request,
        build=lib,
        data=data,
        model=model,
        classes=classes,
        name=c_name,
        inputs=inputs,
        reference=host_reference(data, model, inputs),
    )
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.", dir=os.path.dirname(out))
    try:
        if request.run:
            probe = _probe(job)
            sized, program, final = _final(job, probe, staging)
        else:
            probe = final = None
            sized = project.Memory(
                request.flash,
                request.ram,
                request.arena or micro.recommended_arena(job.reference["arena_bytes"]),
                UNMEASURED_STACK,
                0,
            )
            program = _build(job, sized, staging, "Measured on the host plus a margin (not run on the target).")
        report = _report(job, program, staging, sized, probe, final, labels, source)
        write_json(os.path.join(staging, REPORT), report)
        _move_into_place(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _check_tools(target: Target, run: bool) -> None:
    """Every program the build needs, before anything is built: one line naming a missing one's package."""
    if target.host:
        for program in ("make", "g++"):
            toolchain.find(program)
        return
    for program in ("make", "arm-none-eabi-gcc", "arm-none-eabi-g++", "arm-none-eabi-size") + (
        ("qemu-system-arm",) if run else ()
    ):
        toolchain.find(program)
    toolchain.check_cross_libraries()


def _check_out(out: str) -> str:
    """The output folder: new, empty, or an earlier firmware's (replaced whole); anything else is refused."""
    out = os.path.abspath(out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"{out} is a file: out names the folder to write the firmware into. Received: out={out!r}")
    if os.path.isdir(out) and os.listdir(out) and not os.path.exists(os.path.join(out, REPORT)):
        raise UserError(
            f"{out} is not empty and holds no earlier firmware: choose a new folder for out. Received: out={out!r}"
        )
    parent = os.path.dirname(out)
    if not os.path.isdir(parent):
        raise UserError(f"Output directory {parent} does not exist; create it first. Received: out={out!r}")
    return out


def checked_model(path: str, target: Target) -> tuple[bytes, flatbuffer.Model]:
    """The model's bytes and graph once the safety gate passed it. A dynamic-shape model is refused (a
    microcontroller build needs static shapes), and so is a float model for a soft-float target (its floats
    would run in software emulation on a core whose FPU the build leaves off)."""
    model = flatbuffer.read_file(path)
    floats = [t.name for t in model.tensors if not t.is_constant and t.dtype.startswith("float")]
    if floats and not target.hard_float:
        raise UserError(
            f"{path} computes in floating point (tensor {floats[0]!r} is float) and {target.name} is built "
            f"soft-float, its FPU unused: build it for {hard_float_variant(target)}, which computes on the FPU, "
            f"or convert the model to int8. Received: target={target.name!r}"
        )
    dynamic = [t.name for t in model.tensors if t.is_dynamic]
    if dynamic:
        raise UserError(
            f"{path} has tensors whose shape is known only at run time beyond the batch ({dynamic[0]!r}): "
            f"firmware needs static shapes; convert it for one input size (resnet-tflite convert --input-size). "
            f"Received: model={path!r}"
        )
    micro.resolver_methods(model)  # an operator TFLite-Micro lacks is refused now, not at the link
    tflm.check_activations(model)
    check_model(model.data, path, micro=True)
    return model.data, model


def test_inputs(model: flatbuffer.Model, request: Request) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(inputs as the input tensor holds them, labels or None, what they are): class-balanced images of
    the data SOURCE's test split at the model's size, or seeded random inputs."""
    from keras_resnet.lite.runtime import image_input

    tensor = model.tensors[model.inputs[0]]
    if request.data is None:
        rng = np.random.default_rng(0)
        pixels = rng.uniform(0, 255, (RANDOM_IMAGES, *tensor.shape[1:])).astype(np.float32)
        return tflm.quantized_inputs(model, pixels), None, f"{RANDOM_IMAGES} seeded random images"
    size, channels = image_input(tensor.shape, request.model)
    images = sources.load(request.data, "test", limit=request.limit, size=size, channels=channels)
    return (
        tflm.quantized_inputs(model, images.x.astype(np.float32)),
        images.y,
        f"{len(images)} images of {request.data}",
    )


def host_reference(data: bytes, model: flatbuffer.Model, inputs: np.ndarray) -> dict:
    """The outputs of the host's TFLite-Micro and of LiteRT on the same inputs, and the host's arena."""
    arena = tflm.measure_arena(data, model)
    return {
        "arena_bytes": arena,
        "tflm": _comparable(tflm.outputs(data, 2 * arena, inputs)),
        "litert": _comparable(TFLiteModel(data).raw_outputs(inputs)),
    }


def _comparable(outputs: np.ndarray) -> np.ndarray:
    """Raw outputs to subtract: integers widened (their differences are in output steps), floats as they are."""
    return outputs if np.issubdtype(outputs.dtype, np.floating) else outputs.astype(np.int64)


def _probe_arena(job: Job) -> int:
    """The probe's arena: the host's measurement and a quarter more (64-bit pointers take more), 16 KB at least."""
    return micro.round_up(max(int(job.reference["arena_bytes"] * 1.25), 16 * KIB), 16)


def _probe(job: Job) -> qemu.Run:
    """The probe: the board's whole memory and a generous arena, stack and heap; what the run took."""
    target = job.build.target
    sized = project.Memory(target.flash_max, target.ram_max, _probe_arena(job), PROBE_STACK, PROBE_HEAP)
    say(f"Measuring the firmware on {target.name}: a first build with room to spare ...")
    with tempfile.TemporaryDirectory(prefix=".probe-", dir=os.path.dirname(os.path.abspath(job.request.out))) as folder:
        return _run(
            job, _build(job, sized, folder, "Sized for a measuring run by resnet-tflite firmware."), folder, sized, None
        )


def _final(job: Job, probe: qemu.Run, folder: str) -> tuple[project.Memory, str, qemu.Run]:
    """The final firmware built into `folder` and run: its memory, program and run.

    `arena_used_bytes()` is what the tensors hold once allocated; allocating them may take more for a moment
    (the memory planner's scratch, beyond the activations of a tiny model): an arena of exactly that which
    fails to allocate grows by a quarter, up to the probe's, which allocated. So does one in which the run
    faults: TFLite-Micro's memory planner can write past an arena a few bytes short of what it needs (a
    two-layer fully-connected int8 model of 64 inputs faults at 1,316 bytes and runs at 1,600) instead of
    failing to allocate."""
    sized, most = _final_memory(probe, job.request), _probe_arena(job)
    note = "Given to resnet-tflite firmware (arena)." if job.request.arena is not None else None
    while True:
        program = _build(job, sized, folder, note or "Measured on the target by resnet-tflite firmware.")
        try:
            return sized, program, _run(job, program, folder, sized, probe)
        except UserError as err:
            short = qemu.EXIT_CODES[2] in str(err) or qemu.EXIT_CODES[70] in str(err)
            if note or not short or sized.arena >= most:
                raise
            grown = min(micro.round_up(int(sized.arena * 1.25), 16), most)
            say(f"The tensors did not allocate or run in an arena of {sized.arena:,} bytes: {grown:,} ...")
            sized = replace(sized, arena=grown)


def _final_memory(probe: qemu.Run, request: Request) -> project.Memory:
    """The final firmware's memory: the board's regions, the arena, stack and heap the probe measured."""
    arena = request.arena if request.arena is not None else micro.round_up(probe.arena_used + 16, 16)
    stack = max(_with_margin(probe.stack_used), KIB)
    heap = _with_margin(probe.heap_used)  # none, where nothing takes from the heap
    return project.Memory(request.flash, request.ram, arena, stack, heap)


def _with_margin(measured: int) -> int:
    return micro.round_up(int(max(measured, 0) * (1 + MARGIN)), 256)


def _build(job: Job, sized: project.Memory, folder: str, arena_note: str) -> str:
    """Write the sources and test images into `folder` and build the firmware: the program's path."""
    target = job.build.target
    settings = {
        **TFLiteModel(job.data).io_record(),
        "classes": job.classes,
        "arena": {"measured_bytes": job.reference["arena_bytes"]},
    }
    written = project.write_sources(folder, job.data, job.model, job.name, settings, arena_note, sized)
    written += project.write_profiled_graph(folder, job.build.tree.root)
    project.copy_platform(folder, target)
    project.write_images(folder, job.inputs, target)
    if not target.host:
        with open(os.path.join(folder, project.LINKER_SCRIPT), "w") as f:
            f.write(project.linker_script(job.build.dfp("Config", f"{target.device}_gcc.ld"), target, sized))
    app_sources = ["main.cc", *(name for name in written if name.endswith(".cc"))]
    project.write_config(
        folder, target, job.build.kernels, job.build.tree, list(job.build.kernel_sources), app_sources, job.build.io
    )
    project.write_run_script(folder, target, f"./{project.HOST_PROGRAM}" if target.host else project.ELF)
    say(f"Building the firmware for {target.name} ({job.build.kernels} kernels, make -C {folder}) ...")
    return make.program(job.build, folder)


def _run(job: Job, program: str, folder: str, sized: project.Memory, probe: qemu.Run | None) -> qemu.Run:
    """Run the firmware on the test inputs; an arena below the probe's measurement is said to be so."""
    target = job.build.target
    say(f"Running it on {len(job.inputs)} inputs {'in QEMU (' + target.board + ')' if not target.host else 'here'} ...")
    try:
        return qemu.run(target, folder, job.build.io, job.request.timeout)
    except UserError as err:
        if probe is not None and sized.arena < probe.arena_used and "arena" in str(err):
            raise UserError(
                f"The tensor arena of {sized.arena:,} bytes is too small for this model on {target.name}: "
                f"it needs {probe.arena_used:,} (measured on the target): pass a larger arena, or None to "
                f"measure it. Received: arena={sized.arena}"
            ) from None
        raise


def compare(outputs: np.ndarray, reference: dict, labels: np.ndarray | None) -> dict:
    """The firmware's raw outputs against the host's TFLite-Micro and LiteRT, and labels. Integer outputs
    differ in output steps; float outputs by their values (`_float_differences`)."""
    host, litert = np.abs(outputs - reference["tflm"]), np.abs(outputs - reference["litert"])
    floats = np.issubdtype(outputs.dtype, np.floating)
    compared = _float_differences(host, litert, reference["tflm"]) if floats else _step_differences(host, litert)
    compared["litert"]["top1_agreement"] = float(np.mean(top1(outputs) == top1(reference["litert"])))
    return {
        "images": int(len(outputs)),
        **compared,
        "accuracy": topk(outputs, labels) if labels is not None else None,
    }


def _step_differences(host: np.ndarray, litert: np.ndarray) -> dict:
    return {
        "tflm_host": {"max_abs_diff_steps": int(host.max()), "bit_exact_images": int(np.sum(host.max(1) == 0))},
        "litert": {"max_abs_diff_steps": int(litert.max())},
    }


def _float_differences(host: np.ndarray, litert: np.ndarray, tflm_outputs: np.ndarray) -> dict:
    """Float outputs are not bit-exact across FPUs (another order of the sums, fused multiply-adds, another
    expf): their largest difference, also relative to the range the host's outputs span."""
    span = float(tflm_outputs.max() - tflm_outputs.min())
    return {
        "tflm_host": {
            "max_abs_diff": float(host.max()),
            "max_abs_diff_relative": float(host.max()) / span if span > 0 else None,
            "output_range": span,
            "bit_exact_images": int(np.sum(host.max(1) == 0)),
        },
        "litert": {"max_abs_diff": float(litert.max())},
    }


def _report(
    job: Job,
    program: str,
    folder: str,
    sized: project.Memory,
    probe: qemu.Run | None,
    final: qemu.Run | None,
    labels,
    source: str,
) -> dict:
    request, lib, target = job.request, job.build, job.build.target
    sizes = {}
    if not target.host:
        sections = make.section_sizes(program)
        split = memory.split(os.path.join(folder, project.MAP), sections, make.kernel_objects(lib.library))
        sizes = {**memory.totals(sections), "sections": sections, "split": split}
    shutil.rmtree(os.path.join(folder, "build"), ignore_errors=True)  # intermediate objects: `make` makes them again
    instructions = None
    if final is not None:
        instructions = speed.instructions_report(
            job.model,
            target.name,
            final.instructions,
            final.operators,
            final.total_instructions,
            request.clock,
            final.count_error,
        )
        title = speed.picture_title(request.model, target.name, request.kernels)
        speed.write_picture(instructions, os.path.join(folder, speed.PICTURE), title)
        speed.write_node_data(instructions, os.path.join(folder, speed.NODE_DATA))
    return {
        "model": os.path.abspath(request.model),
        "target": target.name,
        "board": target.board,
        "kernels": request.kernels,
        "io": lib.io,
        "inputs": source,
        "tflm": {"tree": lib.tree.root, "identity": lib.tree.identity(), "library": lib.library},
        "memory": {"flash_board_bytes": request.flash, "ram_board_bytes": request.ram, **sizes},
        "arena": {
            "host_bytes": job.reference["arena_bytes"],
            "target_used_bytes": probe and probe.arena_used,
            "reserved_bytes": sized.arena,
        },
        "stack": {"used_bytes": probe and probe.stack_used, "reserved_bytes": sized.stack},
        "heap": {"used_bytes": probe and probe.heap_used, "reserved_bytes": sized.heap},
        "outputs": compare(final.outputs, job.reference, labels) if final else None,
        "instructions": instructions,
        "run": "./run.sh",
        "files": sorted(os.listdir(folder)) + [REPORT],
    }


def _move_into_place(staging: str, out: str) -> None:
    """Rename the finished folder to `out`, replacing an earlier firmware's folder whole."""
    if not os.path.exists(out):
        os.rename(staging, out)
        return
    old = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.old.", dir=os.path.dirname(out))
    os.rename(out, os.path.join(old, "firmware"))
    os.rename(staging, out)
    shutil.rmtree(old, ignore_errors=True)
