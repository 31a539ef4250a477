"""The firmware folder is a project: `make` builds it again from a fresh copy (the same ELF, the same outputs),
rebuilds only what an edit changed, compiles with the flags TFLite-Micro's own Makefile uses for the library,
and prints through the board's UART with its inputs in flash (`--io uart`) as on a board without a debugger."""

import json
import re
import shlex
import shutil
import subprocess

import pytest
from firmware_support import check_outputs, firmware, sections

from helpers import CACHE, run_cli

pytestmark = pytest.mark.usefixtures("firmware_cache")


@pytest.fixture(scope="module")
def built(resnet8, tflm_tree, tmp_path_factory, cifar_jpg):
    """ResNet-8 on the Cortex-M55 (CMSIS-NN), 5 test images, built by the command: (folder, report)."""
    out = tmp_path_factory.mktemp("project") / "fw"
    with pytest.MonkeyPatch.context() as patch:  # the firmware_cache fixture's, for the module
        patch.setenv("RESNET_TFLITE_CACHE", str(CACHE / "firmware"))
        result, report = firmware(resnet8, tflm_tree, out, "--data", f"folder:{cifar_jpg}", "--limit", 5)
    assert result.returncode == 0, result.stderr
    return out, report


def make(folder, *arguments):
    """`make -C folder ARGUMENTS`, with a python3 that has NumPy and Pillow first on PATH, as TFLite-Micro's
    Makefile needs."""
    from keras_resnet.lite.firmware.library import environment

    done = subprocess.run(
        ["make", "-C", str(folder), *arguments], capture_output=True, text=True, timeout=1200, env=environment()
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def outputs(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("FW_OUT", "FW_INSTR", "FW_OP"))]


def test_make_on_a_fresh_copy_builds_the_same_firmware_and_runs_it(built, tmp_path):
    folder, report = built
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    library = f"TFLM_LIB={report['tflm']['library']}"
    make(copy, "clean")
    assert not (copy / "firmware.elf").exists()
    make(copy, library)
    assert sections(copy / "firmware.elf") == sections(folder / "firmware.elf")
    ran = outputs(make(copy, library, "run"))
    assert ran == outputs(subprocess.run(["./run.sh"], cwd=folder, capture_output=True, text=True).stdout)
    assert sum(line.startswith("FW_OUT ") for line in ran) == report["outputs"]["images"] == 5
    assert "\n.text" in make(copy, library, "size")


def test_after_an_edit_of_main_cc_make_rebuilds_only_main_cc(built, tmp_path):
    folder, report = built
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    library = f"TFLM_LIB={report['tflm']['library']}"
    make(copy, library)
    assert "-c " not in make(copy, library)  # built: nothing to do
    with open(copy / "main.cc", "a") as f:
        f.write("// an edit\n")
    compiled = re.findall(r" -c (\S+)", make(copy, library))
    assert compiled == ["main.cc"]


def _compile_flags(line: str) -> set[str]:
    """A compile command's flags that decide the code: no include folders, files, outputs or dependency files."""
    words = shlex.split(line)[1:]
    kept, skip = set(), False
    for word in words:
        if skip:
            skip = False
        elif word in ("-o", "-c"):
            skip = word == "-o"
        elif not word.startswith(("-I", "-M")) and not word.endswith((".cc", ".c")):
            kept.add(word)
    return kept


def test_the_firmware_is_compiled_with_the_flags_tflite_micro_builds_its_library_with(built, tmp_path):
    """Dry runs of both builds: main.cc's command line and TFLite-Micro's for a runtime file of its library
    (same optimisation level) carry the same flags."""
    folder, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (main_line,) = [line for line in make(copy, "-n", "-B", "build/main.o").splitlines() if " -c main.cc" in line]
    library = tmp_path / "lib" / "libtensorflow-microlite.a"
    dry = make(copy, "-n", f"TFLM_LIB={library}", str(library))
    (runtime_line,) = [line for line in dry.splitlines() if re.search(r" -c \S*/micro_interpreter\.cc ", line)]
    app, tflm = _compile_flags(main_line), _compile_flags(runtime_line)
    assert app == tflm, app ^ tflm
    for flag in ("-mcpu=cortex-m55", "-funsigned-char", "-mlittle-endian", "-fomit-frame-pointer", "-DCPU_M55=1"):
        assert flag in app  # what TFLite-Micro's cortex_m_generic makefile adds for the M55


def test_an_io_the_folder_does_not_have_is_one_line_from_make(built):
    folder, _ = built
    done = subprocess.run(["make", "-C", str(folder), "IO=spi"], capture_output=True, text=True)
    assert (
        done.returncode != 0
        and "IO=spi is no I/O of this firmware: choose one of semihosting uart stdio" in done.stderr
    )


@pytest.mark.parametrize(("target", "kernels"), [("cortex-m55", "cmsis_nn"), ("cortex-m4", "reference")])
def test_uart_io_prints_on_the_boards_serial_port_with_the_inputs_in_flash(
    target, kernels, resnet8, tflm_tree, cifar_jpg, tmp_path
):
    data = ("--data", f"folder:{cifar_jpg}", "--limit", 5)
    result, report = firmware(
        resnet8, tflm_tree, tmp_path / "fw", "--target", target, "--kernels", kernels, "--io", "uart", *data
    )
    assert result.returncode == 0, result.stderr
    assert report["io"] == "uart" and "uart I/O" in result.stdout
    check_outputs(report, 5)
    assert report["instructions"]["per_inference"]  # the counter is the board's, whatever the I/O
    # compiled in, as a board has no files: the array and its 4-byte length
    assert report["memory"]["split"]["flash"]["inputs"] == 5 * 32 * 32 * 3 + 4
    (uart,) = [line for line in (tmp_path / "fw" / "run.sh").read_text().splitlines() if line.startswith("uart)")]
    assert "-serial stdio" in uart and "semihosting" not in uart
    printed = subprocess.run(["./run.sh", "uart"], cwd=tmp_path / "fw", capture_output=True, text=True, timeout=300)
    assert printed.returncode == 0 and printed.stdout.splitlines()[-1] == "FW_EXIT 0"
    assert sum(line.startswith("FW_OUT ") for line in printed.stdout.splitlines()) == 5


def test_inputs_that_do_not_fit_the_flash_with_uart_are_refused_before_building(resnet8, tflm_tree, tmp_path):
    out = tmp_path / "fw"
    result = run_cli(
        "resnet-tflite", "firmware", resnet8, "--tflm", tflm_tree, "--out", out, "--io", "uart", "--flash", "8K"
    )
    assert result.returncode == 1 and not out.exists()
    (line,) = result.stderr.strip().splitlines()
    assert "test inputs take 30,720 bytes, compiled into flash with --io uart" in line and "--io semihosting" in line


def test_the_report_says_how_to_build_and_run_it(built):
    folder, report = built
    assert report["io"] == "semihosting"
    assert {"Makefile", "config.mk", "run.sh", "uart.c", "images.c", "images.bin"} <= set(report["files"])
    assert json.loads((folder / "firmware.json").read_text()) == report
