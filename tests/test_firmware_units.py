"""The firmware's pure functions on small literal inputs, without a toolchain: what `arm-none-eabi-size -A`
and the linker's map say, the linker-script rewrite, what the firmware prints, memory sizes as text, and
the requests `keras_resnet.firmware` refuses before it builds anything (in Python and on the command line), and
the instruction counting's arithmetic: ticks to instructions, clocks as text, MACs per operator."""

import os

import numpy as np
import pytest

import keras_resnet as kr
from helpers import run_cli
from keras_resnet.errors import UserError
from keras_resnet.lite import flatbuffer
from keras_resnet.lite.firmware import builder, make, memory, project, qemu, speed, targets, toolchain

KIB = 1024

SIZE_A = """\
firmware.elf  :
section              size         addr
.text                4096            0
.ARM.exidx              8         4096
.data                  32    536870912
.bss                 1024    536870944
.heap                 256    536871968
.stack                512    536872224
.comment               73            0
.ARM.attributes        46            0
Total                6047
"""

MAP = """\
Archive member included to satisfy reference by file (symbol)

/x/libtensorflow-microlite.a(conv.o)  /tmp/fw/obj/main.o (tflite::Register_CONV_2D())

Linker script and memory map

.text           0x00000000      0x1000
 *(.vectors)
 .vectors       0x00000000       0x40 /tmp/fw/obj/startup_ARMCM55.o
 .text.main     0x00000040      0x200 /tmp/fw/obj/main.o
 .rodata.g_resnet8_model_data
                0x00000240      0x800 /tmp/fw/obj/resnet8_model_data.o
 .text._ZN6tflite4ConvEv
                0x00000a40      0x300 /x/libtensorflow-microlite.a(conv.o)
 .text.arm_conv 0x00000d40      0x100 /x/libtensorflow-microlite.a(arm_convolve_s8.o)
 .text.interp   0x00000e40       0x80 /x/libtensorflow-microlite.a(micro_interpreter.o)
 .text.memcpy   0x00000ec0       0x40 /usr/lib/arm-none-eabi/lib/thumb/libc_nano.a(lib_a-memcpy.o)
 .text.udiv     0x00000f00       0x20 /usr/lib/gcc/arm-none-eabi/12/thumb/libgcc.a(_udivsi3.o)
.data           0x20000000       0x20 load address 0x00001000
 .data.x        0x20000000       0x10 /tmp/fw/obj/main.o
.bss            0x20000020      0x400
 .bss.tensor_arena
                0x20000020      0x300 /tmp/fw/obj/main.o
 .bss.counts    0x20000320       0x80 /tmp/fw/obj/main.o
.heap           0x20000420      0x100
.stack          0x20000520      0x200
.comment        0x00000000       0x49
 .comment       0x00000000       0x49 /tmp/fw/obj/main.o
"""

DFP_SCRIPT = """\
/* a Cortex_DFP linker script, cut down */
__ROM_BASE = 0x00000000;
__ROM_SIZE = 0x00040000;
__RAM_BASE = 0x20000000;
__RAM_SIZE = 0x00020000;
__STACK_SIZE = 0x00000400;
__HEAP_SIZE = 0x00000C00;
MEMORY
{
  FLASH (rx)  : ORIGIN = __ROM_BASE, LENGTH = __ROM_SIZE
  RAM   (rwx) : ORIGIN = __RAM_BASE, LENGTH = __RAM_SIZE
}
"""


def test_section_sizes_are_read_from_size_minus_a():
    sections = make.parse_section_sizes(SIZE_A)
    assert sections == {
        ".text": 4096,
        ".ARM.exidx": 8,
        ".data": 32,
        ".bss": 1024,
        ".heap": 256,
        ".stack": 512,
        ".comment": 73,
        ".ARM.attributes": 46,
    }
    # flash: code, exception index and .data's initial values; RAM: .data, .bss, heap and stack
    assert memory.totals(sections) == {"flash_bytes": 4096 + 8 + 32, "ram_bytes": 32 + 1024 + 256 + 512}


def test_the_map_splits_flash_and_ram_by_part_without_losing_a_byte(tmp_path):
    path = tmp_path / "firmware.map"
    path.write_text(MAP)
    split = memory.split(str(path), make.parse_section_sizes(SIZE_A), {"conv.o"})
    assert split["flash"] == {
        "model": 0x800,
        "tflm_kernels": 0x300 + 0x100,
        "application": 0x200 + 0x10,
        "other": 4136 - (0x40 + 0x200 + 0x10 + 0x800 + 0x400 + 0x80 + 0x40 + 0x20),
        "tflm_runtime": 0x80,
        "startup": 0x40,
        "libc": 0x40 + 0x20,
    }
    assert split["ram"] == {
        "arena": 0x300,
        "stack": 0x200,
        "heap": 0x100,
        "application": 0x10 + 0x80,
        "other": 1824 - (0x300 + 0x200 + 0x100 + 0x90),
    }
    assert sum(split["flash"].values()) == 4136 and sum(split["ram"].values()) == 1824


@pytest.mark.parametrize(
    "path, section, part",
    [
        ("/x/libtensorflow-microlite.a(conv.o)", ".text.x", "tflm_kernels"),
        ("/x/libtensorflow-microlite.a(arm_nn_mat_mult_s8.o)", ".text.x", "tflm_kernels"),  # CMSIS-NN's functions
        ("/x/libtensorflow-microlite.a(micro_allocator.o)", ".text.x", "tflm_runtime"),
        ("/usr/lib/arm-none-eabi/lib/libm.a(lib_a-s_floor.o)", ".text.floor", "libc"),
        ("/usr/lib/arm-none-eabi/lib/libstdc++_nano.a(new_op.o)", ".text.new", "libc"),
        ("/tmp/libextra.a(thing.o)", ".text.thing", "libextra"),
        ("/tmp/fw/obj/r8_model_data.o", ".rodata.g_r8_model_data", "model"),
        ("/tmp/fw/obj/main.o", ".bss._ZL12tensor_arena", "arena"),
        ("/tmp/fw/obj/main.o", ".text.main", "application"),
        ("/tmp/fw/obj/system_ARMCM4.o", ".text.SystemInit", "startup"),
    ],
)
def test_origin_of_an_input_section(path, section, part):
    assert memory.origin(path, section, {"conv.o"}) == part


def test_linker_script_gets_the_boards_regions_and_the_measured_stack_and_heap(tmp_path):
    script = tmp_path / "ARMCM33_gcc.ld"
    script.write_text(DFP_SCRIPT)
    sized = project.Memory(flash=512 * KIB, ram=256 * KIB, arena=40000, stack=2 * KIB, heap=0)
    text = project.linker_script(str(script), targets.TARGETS["cortex-m33"], sized)
    lines = text.splitlines()
    assert lines[0] == "/* Cortex_DFP's ARMCM33_gcc.ld, regions and sizes set by resnet-tflite firmware */"
    assert lines[2:8] == [
        "__ROM_BASE = 0x10000000;",
        "__ROM_SIZE = 0x00080000;",
        "__RAM_BASE = 0x38000000;",
        "__RAM_SIZE = 0x00040000;",
        "__STACK_SIZE = 0x00000800;",
        "__HEAP_SIZE = 0x00000000;",
    ]
    assert text.endswith(DFP_SCRIPT[DFP_SCRIPT.index("MEMORY") :])


def test_a_linker_script_of_another_shape_is_refused(tmp_path):
    script = tmp_path / "other.ld"
    script.write_text(DFP_SCRIPT.replace("__HEAP_SIZE = 0x00000C00;\n", ""))
    sized = project.Memory(flash=256 * KIB, ram=128 * KIB, arena=1, stack=KIB, heap=0)
    with pytest.raises(UserError, match=r"it has 0 '__HEAP_SIZE = 0x\.\.\.;' lines, expected one"):
        project.linker_script(str(script), targets.TARGETS["cortex-m55"], sized)


def test_what_the_firmware_prints_is_parsed():
    lines = [
        "resnet8 on cortex-m55",
        "FW_OUT 1 4 5 -128",
        "FW_OUT 0 -3 127 0",
        "FW_ARENA_USED 61504 of 61520",
        "FW_STACK_USED 1104 of 1536",
        "FW_HEAP_USED 0 of 0",
        "done",
    ]
    run = qemu.parse(lines, ["qemu-system-arm"])
    assert run.outputs.tolist() == [[-3, 127, 0], [4, 5, -128]]
    assert (run.arena_used, run.stack_used, run.heap_used, run.command) == (61504, 1104, 0, ["qemu-system-arm"])
    host = qemu.parse(["FW_OUT 0 1 2", "FW_ARENA_USED 100 of 200"], ["./firmware"])
    assert (host.stack_used, host.heap_used) == (-1, -1)  # not measured on the host


def test_float_outputs_are_parsed_from_their_bits_exactly():
    """main.cc prints a float output as each float's 32 bits in hex: the values come back bit for bit."""
    values = np.array([1.0, -0.5, 1e-30, 0.1, np.float32(1) / 3, -0.0], np.float32)
    printed = " ".join(f"{bits:08x}" for bits in values.view(np.uint32))
    assert printed.split()[:3] == ["3f800000", "bf000000", "0da24260"]
    run = qemu.parse([f"FW_OUT_F32 1 {printed}", f"FW_OUT_F32 0 {printed}", "FW_ARENA_USED 100 of 200"], ["x"])
    assert run.outputs.dtype == np.float32 and run.outputs.shape == (2, 6)
    assert run.outputs.view(np.uint32).tolist() == [values.view(np.uint32).tolist()] * 2  # -0.0 stays -0.0
    # ... and main.cc writes them so, for a float32 output tensor
    text = open(os.path.join(project.SOURCES, "main.cc")).read()
    assert '"FW_OUT_F32 "' in text and "output->type == kTfLiteFloat32" in text


def test_float_outputs_are_compared_by_value_and_integer_ones_in_steps():
    host = np.array([[0.125, 0.75, 0.125], [0.5, 0.25, 0.25]], np.float32)  # exact in binary, as are the sums
    reference = {"tflm": host, "litert": host + np.float32(2**-10)}
    same = builder.compare(host.copy(), reference, np.array([1, 0]))
    assert same["tflm_host"] == {
        "max_abs_diff": 0.0,
        "max_abs_diff_relative": 0.0,
        "output_range": 0.625,
        "bit_exact_images": 2,
    }
    assert same["litert"]["top1_agreement"] == 1.0 and same["litert"]["max_abs_diff"] == 2**-10
    assert same["accuracy"]["top1"] == 1.0 and "max_abs_diff_steps" not in same["tflm_host"]
    moved = host.copy()
    moved[1, 0] = 0.125  # image 1: another value and another class
    off = builder.compare(moved, reference, None)
    assert off["tflm_host"]["bit_exact_images"] == 1 and off["litert"]["top1_agreement"] == 0.5
    assert off["tflm_host"]["max_abs_diff"] == 0.375 and off["tflm_host"]["max_abs_diff_relative"] == 0.6
    assert off["accuracy"] is None
    steps = np.array([[3, -128, 5]], np.int64)
    integer = builder.compare(steps, {"tflm": steps, "litert": steps + 2}, None)
    assert integer["tflm_host"] == {"max_abs_diff_steps": 0, "bit_exact_images": 1}  # as before floats ran
    assert integer["litert"] == {"max_abs_diff_steps": 2, "top1_agreement": 1.0}


def test_the_hard_float_targets_are_tflite_micros_own_on_the_soft_float_cores_boards(monkeypatch):
    """cortex-m4+fp and cortex-m7+fp: TFLite-Micro's TARGET_ARCH names, on the device and QEMU board of the
    soft-float core."""
    monkeypatch.setattr(toolchain, "find", lambda program: program)  # no QEMU needed for its command line
    table = targets.TARGETS
    for core in ("cortex-m4", "cortex-m7"):
        soft, hard = table[core], table[f"{core}+fp"]
        assert hard.arch == f"{core}+fp" and hard.fpu and not soft.fpu
        assert (hard.device, hard.board, hard.flash_max, hard.ram_max) == (
            soft.device,
            soft.board,
            soft.flash_max,
            soft.ram_max,
        )
        assert hard.core == soft.core == core and qemu.command(hard, "fw.elf")[3:5] == ["-cpu", core]
        assert hard.hard_float and not soft.hard_float
        assert targets.hard_float_variant(soft) == hard.name
    assert [name for name, t in table.items() if t.hard_float] == [
        "cortex-m4+fp",
        "cortex-m7+fp",
        "cortex-m33",
        "cortex-m55",
        "host",
    ]
    assert targets.hard_float_variant(table["cortex-m33"]) == "cortex-m33"


def test_the_instruction_counts_the_firmware_prints_are_parsed():
    lines = [
        "FW_OUT 0 1 2",
        "FW_INSTR 0 6011182",
        "FW_OP 0 347854",
        "FW_OP 1 5660000",
        "FW_OUT 1 3 4",
        "FW_INSTR 1 6010141",
        "FW_INSTR_TOTAL 12350903",
        "FW_ARENA_USED 100 of 200",
    ]
    run = qemu.parse(lines, ["qemu-system-arm"])
    assert run.instructions == [6011182, 6010141] and run.operators == [347854, 5660000]
    assert run.total_instructions == 12350903 and run.count_error is None
    # the counter went beyond its range during image 1: no count at all rather than a wrapped one
    beyond = lines[:5] + ["FW_ERROR the instruction count went beyond the range of the board's counter"] + lines[6:]
    run = qemu.parse(beyond, ["qemu-system-arm"])
    assert run.instructions == [] and run.total_instructions is None and "beyond the range" in run.count_error
    host = qemu.parse(["FW_OUT 0 1 2", "FW_ARENA_USED 100 of 200"], ["./firmware"])
    assert (host.instructions, host.operators, host.total_instructions) == ([], [], None)


@pytest.mark.parametrize("clock_hz, ticks_per_instruction", [(25_000_000, (16, 5)), (20_000_000, (64, 25))])
def test_counter_ticks_convert_to_instructions_exactly(clock_hz, ticks_per_instruction):
    """QEMU -icount shift=7: 128 ns a instruction, the counter floor(128 ns x clock) ticks: rounding inverts it."""
    numerator, denominator = ticks_per_instruction  # 3.2 and 2.56 ticks per instruction
    for n in [*range(0, 5000), 6_011_182, 1_342_177_279, 2**40 + 12345]:
        assert speed.ticks_to_instructions(n * numerator // denominator, clock_hz) == n
    # ... and the firmware computes the same thing
    source = (project.SOURCES + "/cortex_m.c").replace("\\", "/")
    text = open(source).read()
    assert "(((t) * 5u + 8u) >> 4)" in text and "(((t) * 25u + 32u) >> 6)" in text


@pytest.mark.parametrize(
    "clock, hz",
    [
        ("120MHz", 120e6),
        ("120 MHz", 120e6),
        ("1.2GHz", 1.2e9),
        ("32768Hz", 32768.0),
        ("48M", 48e6),
        (8e6, 8e6),
        (16_000_000, 16e6),
        ("64k", 64e3),
        (None, None),
    ],
)
def test_clocks(clock, hz):
    assert speed.parse_clock(clock) == hz


@pytest.mark.parametrize("clock", ["0", "0MHz", "-5MHz", "fast", "120 MHz/2", "", 0, -1.0, float("nan"), True])
def test_a_clock_that_is_not_a_frequency_names_its_argument(clock):
    with pytest.raises(UserError, match=r"clock takes a frequency above 0.*Received: clock="):
        speed.parse_clock(clock)


def test_time_at_a_clock_is_a_lower_bound_on_single_issue_cores_only():
    cores = ("cortex-m4", "cortex-m4+fp", "cortex-m33", "cortex-m7", "cortex-m7+fp", "cortex-m55")
    assert [speed.time_kind(t) for t in cores] == ["lower bound"] * 3 + ["estimate"] * 3


def _tensor(index, shape, constant=False):
    return flatbuffer.Tensor(
        index=index,
        name=f"t{index}",
        dtype="int8",
        shape=shape,
        shape_signature=shape,
        scale=(0.1,),
        zero_point=(0,),
        buffer=index,
        data_bytes=1 if constant else 0,
    )


def _operator(index, opcode, inputs, outputs):
    return flatbuffer.Operator(index=index, opcode=opcode, custom_code=None, version=1, inputs=inputs, outputs=outputs)


def test_macs_per_operator_come_from_the_tensor_shapes():
    tensors = (
        _tensor(0, (1, 32, 32, 3)),
        _tensor(1, (16, 3, 3, 3), constant=True),  # conv filter [out, h, w, in]
        _tensor(2, (1, 32, 32, 16)),
        _tensor(3, (1, 3, 3, 16), constant=True),  # depthwise [1, h, w, channels]
        _tensor(4, (1, 16, 16, 16)),
        _tensor(5, (1, 16, 16, 16)),
        _tensor(6, (10, 64), constant=True),  # dense [units, features]
        _tensor(7, (1, 10)),
        _tensor(8, (1, 64)),
    )
    operators = (
        _operator(0, "CONV_2D", (0, 1, -1), (2,)),
        _operator(1, "DEPTHWISE_CONV_2D", (2, 3, -1), (4,)),
        _operator(2, "ADD", (4, 4), (5,)),
        _operator(3, "FULLY_CONNECTED", (8, 6, -1), (7,)),
    )
    model = flatbuffer.Model(
        size=0,
        version=3,
        subgraph_count=1,
        tensors=tensors,
        operators=operators,
        inputs=(0,),
        outputs=(7,),
        _data=b"",
        _buffer_spans=(),
    )
    assert speed.operator_macs(model) == [32 * 32 * 16 * 27, 16 * 16 * 16 * 9, 0, 10 * 64]
    report = speed.instructions_report(model, "cortex-m4", [30000, 30010], [20000, 5000, 1000, 900], 61000, 120e6)
    assert [r["instructions_per_mac"] for r in report["operators"]] == [
        round(20000 / 442368, 3),
        round(5000 / 36864, 3),
        None,
        round(900 / 640, 3),
    ]
    assert report["outside_operators"] == 30000 - 26900 and report["clock"]["kind"] == "lower bound"
    assert report["clock"]["ms_per_inference"] == round(30010 / 120e6 * 1e3, 4)  # the median of the images
    assert report["operators"][0]["output"] == "t2" and report["per_inference"] == [30000, 30010]


@pytest.mark.parametrize(
    "lines",
    [
        ["FW_OUT 0 1 2", "FW_OUT 2 1 2", "FW_ARENA_USED 100 of 200"],  # image 1 is missing
        ["FW_OUT 0 1 2"],  # no arena line
        [],
    ],
)
def test_an_incomplete_printout_is_refused(lines):
    with pytest.raises(UserError, match="printed no complete result"):
        qemu.parse(lines, ["qemu-system-arm"])


@pytest.mark.parametrize(
    "size, expected",
    [
        ("262144", 262144),
        ("256K", 256 * KIB),
        ("256kb", 256 * KIB),
        (" 64K ", 64 * KIB),
        ("1M", 1024 * KIB),
        ("2MB", 2048 * KIB),
        ("512B", 512),
        (4096, 4096),
    ],
)
def test_sizes_in_bytes(size, expected):
    assert targets.parse_bytes(size, "flash") == expected


@pytest.mark.parametrize("size", ["lots", "0", "-1K", "1.5M", "K", "", "1G", True, 2.5, None])
def test_a_size_that_is_not_one_names_its_argument(size):
    with pytest.raises(
        UserError,
        match=rf"ram takes a size in bytes, e.g\. 262144, 256K or 1M\. "
        rf"Received: ram={repr(size).replace('.', '[.]')}$",
    ):
        targets.parse_bytes(size, "ram")


def test_sizes_beyond_the_emulated_board_are_refused():
    m55 = targets.TARGETS["cortex-m55"]
    targets.check_fits_board(m55, 512 * KIB, 512 * KIB)  # exactly QEMU's AN547
    with pytest.raises(
        UserError,
        match=r"gives the cortex-m55 512 KB for flash: choose at most 512K\. "
        r"Received: flash=525312 \(513 KB\)",
    ):
        targets.check_fits_board(m55, 513 * KIB, 128 * KIB)
    with pytest.raises(UserError, match=r"2048 KB for RAM.*Received: ram=4194304"):
        targets.check_fits_board(targets.TARGETS["cortex-m33"], 256 * KIB, 4096 * KIB)
    targets.check_fits_board(targets.TARGETS["host"], 1 << 40, 1 << 40)  # the host has no board


def test_the_first_error_lines_of_a_tool():
    output = "cc1plus: note: x\nmain.cc:3:1: error: 'foo' was not declared\nld: region `FLASH' overflowed by 12 bytes\n"
    assert toolchain.first_errors(output) == (
        "main.cc:3:1: error: 'foo' was not declared | ld: region `FLASH' overflowed by 12 bytes"
    )
    assert toolchain.first_errors("one\ntwo\nthree\nfour\n") == "two | three | four"
    assert toolchain.first_errors("") == "(no output)"


# What keras_resnet.firmware refuses before it looks for a tool or a file: (arguments, Python's words, the
# command's options and words). A missing model file shows these checks come first.
BAD_REQUESTS = [
    (
        {"target": "cortex-m99"},
        "Unknown target 'cortex-m99'",
        "Received: target='cortex-m99'",
        ["--target", "cortex-m99"],
        "Invalid value for '--target'",
    ),
    (
        {"name": "9lives"},
        "C name must start with a letter",
        "Received: name='9lives'",
        ["--name", "9lives"],
        "pass --name NAME. Received: --name 9lives",
    ),
    (
        {"flash": "lots"},
        "flash takes a size in bytes",
        "Received: flash='lots'",
        ["--flash", "lots"],
        "takes a size in bytes, e.g. 262144, 256K or 1M. Received: --flash lots",
    ),
    (
        {"ram": "1M"},
        "gives the cortex-m55 512 KB for RAM",
        "Received: ram=1048576 (1024 KB)",
        ["--ram", "1M"],
        "Received: --ram 1048576 (1024 KB)",
    ),
    (
        {"clock": "0MHz"},
        "clock takes a frequency above 0",
        "Received: clock='0MHz'",
        ["--clock", "0MHz"],
        "Received: --clock 0MHz",
    ),
    (
        {"kernels": "fast"},
        "Unknown kernels 'fast'",
        "Received: kernels='fast'",
        ["--kernels", "fast"],
        "Invalid value for '--kernels'",
    ),
]


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=[next(iter(c[0])) for c in BAD_REQUESTS])
def test_bad_requests_name_the_python_argument_and_the_commands_flag(case, tmp_path):
    arguments, problem, received, options, command_words = case
    with pytest.raises(UserError) as err:
        kr.firmware(tmp_path / "missing.tflite", tmp_path / "fw", **arguments)
    assert problem in str(err.value) and str(err.value).endswith(received), str(err.value)
    assert "--" not in str(err.value)
    result = run_cli("resnet-tflite", "firmware", tmp_path / "missing.tflite", "--out", tmp_path / "fw", *options)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode in (1, 2) and len(lines) == 1 and command_words in lines[0], result.stderr
    assert not (tmp_path / "fw").exists()


def test_the_speed_benchmark_sets_int8_against_float32_of_the_same_network_on_the_same_core():
    from helpers import load_tool

    tool = load_tool("firmware_speed")

    def row(model, dtype, target, kernels, instructions, macs=12_500_000):
        return {
            "model": model,
            "dtype": dtype,
            "target": target,
            "kernels": kernels,
            "instructions": instructions,
            "macs": macs,
            "instructions_per_mac": instructions / macs,
            "flash_bytes": 1024,
            "ram_bytes": 1024,
        }

    rows = [
        row("r8_float.tflite", "float32", "cortex-m4+fp", "reference", 120_000_000),
        row("r8_int8.tflite", "int8", "cortex-m4", "cmsis_nn", 30_000_000),
        row("r8_int8.tflite", "int8", "cortex-m4", "reference", 100_000_000),
        row("r8_int8.tflite", "int8", "cortex-m55", "cmsis_nn", 6_000_000),  # another core: no speed-up
        row("r20_int8.tflite", "int8", "cortex-m4", "cmsis_nn", 90_000_000, macs=40_800_000),  # no float ResNet-20
        {"model": "big.tflite", "target": "cortex-m4", "kernels": "cmsis_nn", "error": "does not fit"},
    ]
    tool.add_speed_ups(rows)
    assert [r.get("speed_up") for r in rows] == [None, 4.0, 1.2, None, None, None]
    lines = tool.table(rows).splitlines()
    assert lines[2].split(" | ")[6] == "baseline" and lines[3].split(" | ")[6] == "4.00x"
    assert lines[6].split(" | ")[6] == "" and "does not fit" in lines[7]
    assert tool.speed_up_lines(rows) == [
        "r8_int8.tflite: int8 with CMSIS-NN on cortex-m4 executes 4.00x fewer instructions than float32 on cortex-m4+fp"
    ]
