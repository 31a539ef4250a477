"""The benchmark harness: statistics on a fake clock, interleaving, schemas, errors, comparison, system record."""

import csv
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from helpers import bench_result, run_cli
from keras_resnet import sources
from keras_resnet.device import command, harness, report, results, statistics, sysinfo
from keras_resnet.errors import UserError
from keras_resnet.lite import runtime

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEVICE_README = ROOT / "tflite" / "README.md"

RESULT_KEYS = {"schema", "created", "command", "harness", "settings", "system", "warnings", "results", "comparison"}
ROW_KEYS = {
    "model",
    "path",
    "size_bytes",
    "sha256",
    "input",
    "output",
    "edgetpu_compiled",
    "macs",
    "threads",
    "delegate",
    "xnnpack",
    "load_ms",
    "first_ms",
    "warmup",
    "runs",
    "latency_ms",
    "throughput_ips",
    "gmacs_per_s",
    "samples_ms",
    "accuracy",
    "emulated",
}
SYSTEM_KEYS = {
    "board",
    "cpu",
    "os",
    "cpufreq",
    "emulation",
    "virtualized",
    "runtime",
    "delegate",
    "thermal_before",
    "thermal_after",
    "peak_rss_bytes",
}
LATENCY_KEYS = {"min", "p50", "p90", "p99", "mean", "std", "max"}


class FakeClock:
    """A nanosecond clock that only moves when a fake model 'runs' for a scripted duration."""

    def __init__(self):
        self.now = 0

    def __call__(self):
        return self.now

    def runner(self, durations_ns, log=None, name=None):
        durations = iter(durations_ns)

        def run():
            if log is not None:
                log.append(name)
            self.now += next(durations)

        return run


# ---------------------------------------------------------------- statistics on a fake clock


def test_statistics_on_a_fake_clock():
    clock = FakeClock()
    a = clock.runner([ms * 1_000_000 for ms in range(100, 0, -1)])  # 100 ms ... 1 ms
    b = clock.runner([5_000_000] * 100)
    samples_a, samples_b = statistics.interleaved([a, b], 100, clock)

    stats = statistics.summarize(samples_a)
    lat = stats["latency_ms"]
    assert lat["min"] == 1.0 and lat["max"] == 100.0
    assert (
        lat["p50"] == pytest.approx(50.5) and lat["p90"] == pytest.approx(90.1) and lat["p99"] == pytest.approx(99.01)
    )
    assert lat["mean"] == pytest.approx(50.5)
    assert lat["std"] == pytest.approx(np.sqrt((100**2 - 1) / 12))  # population std of 1..100
    assert stats["throughput_ips"] == pytest.approx(1000 / 50.5)
    assert statistics.summarize(samples_b, batch=4)["throughput_ips"] == pytest.approx(4 * 1000 / 5)
    assert statistics.summarize(samples_b)["latency_ms"]["std"] == 0.0


def test_interleaving_is_round_robin():
    clock, log = FakeClock(), []
    fns = [clock.runner([1] * 3, log, name) for name in "ABC"]
    statistics.interleaved(fns, 3, clock)
    assert "".join(log) == "ABCABCABC"


def test_summarize_refuses_no_runs():
    with pytest.raises(ValueError, match="at least one"):
        statistics.summarize([])


# ---------------------------------------------------------------- models made on the fly


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A small conv net as float32 and int8 .tflite files (input 16x16x3, 10 classes), and matching data."""
    import keras

    from keras_resnet.export.convert import convert_keras

    keras.utils.set_random_seed(0)
    net = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.DepthwiseConv2D(3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10),
        ]
    )
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)
    y = rng.integers(0, 10, 40)

    def representative():
        for image in x[:8]:
            yield [image[None].astype(np.float32)]

    folder = tmp_path_factory.mktemp("bench-models")
    paths = {"float32": folder / "tiny_f32.tflite", "int8": folder / "tiny_i8.tflite"}
    paths["float32"].write_bytes(convert_keras(net, "float32"))
    paths["int8"].write_bytes(convert_keras(net, "int8", representative=representative))
    np.savez(folder / "tiny.npz", x=x, y=y)
    np.savez(folder / "big.npz", x=np.zeros((4, 32, 32, 3), np.uint8), y=np.zeros(4, int))
    return {**paths, "data": f"npz:{folder / 'tiny.npz'}", "big": f"npz:{folder / 'big.npz'}", "net": net, "x": x}


def test_macs_are_counted_from_the_flatbuffer(models):
    conv = 14 * 14 * 8 * (3 * 3 * 3)  # 3x3 valid conv, 3 -> 8 channels, 14x14 output
    depthwise = 12 * 12 * 8 * (3 * 3)
    dense = 10 * 8
    for path in (models["float32"], models["int8"]):
        assert runtime.model_macs(path.read_bytes()) == conv + depthwise + dense


def test_uint8_pixels_are_quantized_for_an_int8_input(models):
    model = runtime.TFLiteModel(models["int8"].read_bytes())
    assert model.input_dtype == np.int8
    x = models["x"][:4]
    np.testing.assert_array_equal(model.run(x), model.run(x.astype(np.float32)))
    reference = np.asarray(models["net"](x.astype(np.float32)))
    assert np.abs(model.run(x) - reference).max() < 0.1 * np.abs(reference).max() + 0.05


def test_run_times_everything_on_the_given_clock(models):
    ticks = iter(range(0, 10**12, 1000))  # every reading is 1 us after the previous one
    settings = harness.Settings(threads=[1, 2], warmup=3, runs=7, data=models["data"], limit=20)
    result = harness.run([str(models["int8"]), str(models["float32"])], settings, clock=lambda: next(ticks))
    rows = result["results"]
    assert [(r["model"], r["threads"]) for r in rows] == [
        ("tiny_i8", 1),
        ("tiny_i8", 2),
        ("tiny_f32", 1),
        ("tiny_f32", 2),
    ]
    for r in rows:
        assert r["load_ms"] == r["first_ms"] == 0.001
        assert r["samples_ms"] == [0.001] * 7  # warm-up runs are not among the samples
        assert r["latency_ms"]["p50"] == 0.001 and r["throughput_ips"] == pytest.approx(1e6)
        assert r["accuracy"]["images"] == 20 and 0 <= r["accuracy"]["top1"] <= r["accuracy"]["top5"] <= 1
    assert rows[0]["input"]["dtype"] == "int8" and rows[2]["input"]["dtype"] == "float32"


def test_outputs_keep_every_images_raw_output(models):
    settings = harness.Settings(threads=[1], warmup=0, runs=1, data=models["data"], limit=20, outputs=True)
    result = harness.run([str(models["int8"]), str(models["float32"])], settings)
    images = sources.load(models["data"], limit=20)
    for r, path, kind in zip(result["results"], (models["int8"], models["float32"]), (int, float)):
        kept = r["accuracy"]["outputs"]
        raw = runtime.TFLiteModel(str(path)).run_raw(images.x)
        assert kept["labels"] == images.y.tolist() and np.array_equal(np.asarray(kept["values"]), raw)
        assert all(isinstance(v, kind) for v in kept["values"][0])  # int8 outputs stay integers
        top1 = np.mean(np.argmax(np.asarray(kept["values"]), axis=1) == images.y)
        assert top1 == pytest.approx(r["accuracy"]["top1"])
    json.dumps(result)
    without = harness.run([str(models["int8"])], harness.Settings(warmup=0, runs=1, data=models["data"], limit=20))
    assert without["results"][0]["accuracy"]["outputs"] is None


# ---------------------------------------------------------------- the command line: schemas and errors


def run_bench(*args, cwd=ROOT):
    """`python -m keras_resnet.bench ARGS` in a subprocess; (exit code, stdout, stderr without LiteRT's INFO log)."""
    done = subprocess.run(
        [sys.executable, "-m", "keras_resnet.bench", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    stderr = "\n".join(line for line in done.stderr.splitlines() if not line.startswith("INFO: "))
    return done.returncode, done.stdout, stderr


def test_json_and_csv_schemas_are_stable_and_documented(models, tmp_path):
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    code, stdout, stderr = run_bench(
        models["int8"],
        models["float32"],
        "--runs",
        5,
        "--warmup",
        1,
        "--data",
        models["data"],
        "--json",
        out_json,
        "--csv",
        out_csv,
    )
    assert code == 0, stderr
    assert "tiny_i8" in stdout and "p50" in stdout
    result = json.loads(out_json.read_text())
    assert set(result) == RESULT_KEYS and result["schema"] == results.SCHEMA
    assert set(result["system"]) == SYSTEM_KEYS
    assert set(result["results"][0]) == ROW_KEYS and set(result["results"][0]["latency_ms"]) == LATENCY_KEYS
    with open(out_csv, newline="") as f:
        table = list(csv.reader(f))
    assert tuple(table[0]) == results.CSV_COLUMNS and len(table) == 3
    documented = DEVICE_README.read_text()
    missing = [
        k for k in sorted(RESULT_KEYS | ROW_KEYS | SYSTEM_KEYS | set(results.CSV_COLUMNS)) if f"`{k}`" not in documented
    ]
    assert not missing, f"undocumented in tflite/README.md: {missing}"


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing", "Model file not found"),
        ("corrupt", "is not a TFLite model"),
        ("delegate", "Could not load the delegate library"),
        ("edgetpu", "No usable Edge TPU"),
        ("output", "does not exist; create it first"),
        ("outputs", "--outputs keeps the outputs on the --data SOURCE images"),
    ],
)
def test_errors_are_one_clear_line(models, tmp_path, case, expected):
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"<html>not a model</html>" + os.urandom(200))
    args = {
        "missing": [tmp_path / "nope.tflite"],
        "corrupt": [corrupt],
        "delegate": [models["int8"], "--delegate", tmp_path / "libnothing.so"],
        "edgetpu": [models["int8"], "--edgetpu"],
        "output": [models["int8"], "--json", tmp_path / "no-such-dir" / "r.json"],
        "outputs": [models["int8"], "--outputs"],
    }[case]
    code, stdout, stderr = run_bench(*args)
    assert code == 1
    assert stderr.count("\n") == 0 and stderr.startswith("error: ") and expected in stderr, stderr
    assert "Traceback" not in stderr


def test_images_of_another_size_are_read_at_the_models_size(models, tmp_path):
    out = tmp_path / "r.json"
    code, _, stderr = run_bench(models["int8"], "--data", models["big"], "--runs", 1, "--warmup", 0, "--json", out)
    assert code == 0, stderr
    accuracy = json.loads(out.read_text())["results"][0]["accuracy"]
    assert accuracy["images"] > 0 and 0 <= accuracy["top1"] <= 1


@pytest.mark.parametrize("damage", ["truncate", "garble"])
def test_a_damaged_model_with_its_identifier_is_refused(models, tmp_path, damage):
    data = models["int8"].read_bytes()
    damaged = tmp_path / "damaged.tflite"
    damaged.write_bytes(data[:2000] if damage == "truncate" else data[:8] + os.urandom(len(data) - 8))
    code, _, stderr = run_bench(damaged)
    assert code == 1 and stderr.startswith("error: ") and stderr.count("\n") == 0, stderr
    assert "damaged TFLite model" in stderr


def test_usage_errors_exit_2_in_one_line(models):
    code, _, stderr = run_bench(models["int8"], "--threads", "two")
    assert code == 2 and stderr.startswith("error: argument --threads") and stderr.count("\n") == 0


# ---------------------------------------------------------------- comparison with references


def fake_result(rows, emulated=False):
    """A minimal result record with rows (model, threads, p50 ms, top-1 or None)."""
    return {
        "schema": results.SCHEMA,
        "system": {
            "board": {"model": None},
            "cpu": {"model": "Test CPU", "cores": 2},
            "os": {"machine": "x86_64"},
            "emulation": {"emulated": emulated},
        },
        "results": [
            {
                "model": m,
                "threads": t,
                "delegate": "xnnpack",
                "latency_ms": {"p50": p50},
                "accuracy": None if top1 is None else {"top1": top1},
            }
            for m, t, p50, top1 in rows
        ],
    }


def test_compare_flags_regressions_and_survives_missing_rows():
    reference = fake_result([("a", 1, 10.0, 0.9), ("b", 1, 10.0, None), ("c", 1, 10.0, None), ("d", 1, 10.0, 0.9)])
    current = fake_result(
        [
            ("a", 1, 10.5, 0.9),
            ("b", 1, 11.5, None),
            ("c", 1, 8.0, None),
            ("d", 1, 10.0, 0.85),
            ("a", 2, 6.0, 0.9),
            ("new", 1, 1.0, None),
        ]
    )
    comparison = results.compare(current, [reference], tolerance=0.10)
    status = {(e["model"], e["threads"]): e["status"] for e in comparison["rows"]}
    assert status == {
        ("a", 1): "ok",
        ("b", 1): "regression",
        ("c", 1): "faster",
        ("d", 1): "regression",
        ("a", 2): "no-reference",
        ("new", 1): "no-reference",
    }
    assert comparison["regressions"] == 2 and comparison["tolerance"] == 0.10
    assert "+15.0%" in command.format_comparison(comparison)


def test_compare_with_a_directory_lacking_this_machine_warns(tmp_path):
    result = {**fake_result([("a", 1, 1.0, None)]), "warnings": [], "comparison": None}
    results.attach_comparison(result, str(tmp_path), 0.1)
    assert result["comparison"] is None and "no reference file for this machine" in result["warnings"][0]
    (tmp_path / f"{results.machine_id(result['system'])}.json").write_text(
        json.dumps({"schema": results.REFERENCE_SCHEMA, "runs": [fake_result([("a", 1, 0.5, None)])]})
    )
    results.attach_comparison(result, str(tmp_path), 0.1)
    assert result["comparison"]["regressions"] == 1


def test_emulated_timings_never_meet_a_reference(tmp_path):
    reference = tmp_path / "ref.json"
    reference.write_text(json.dumps({"schema": results.REFERENCE_SCHEMA, "runs": [fake_result([("a", 1, 1.0, None)])]}))
    emulated = {**fake_result([("a", 1, 9.0, None)], emulated=True), "warnings": [], "comparison": None}
    results.attach_comparison(emulated, str(reference), 0.1)
    assert emulated["comparison"] is None and "emulated timings are not compared" in emulated["warnings"][0]

    reference.write_text(
        json.dumps(
            {
                "schema": results.REFERENCE_SCHEMA,
                "runs": [fake_result([("a", 1, 1.0, None)]), fake_result([("a", 1, 50.0, None)], emulated=True)],
            }
        )
    )
    device = {**fake_result([("a", 1, 1.0, None)]), "warnings": [], "comparison": None}
    with pytest.raises(UserError, match="timings measured under emulation .* cannot serve as a reference"):
        results.attach_comparison(device, str(reference), 0.1)


def test_reference_script_refuses_to_run_under_emulation(monkeypatch, capsys):
    from helpers import load_tool

    tool = load_tool("bench_models")
    monkeypatch.setattr(sysinfo, "emulation", lambda root="/": {"emulated": True, "evidence": ["qemu test"]})
    monkeypatch.setattr(tool, "measure_ghz", lambda: pytest.fail("measured although emulated"))
    with pytest.raises(SystemExit) as exit_info:
        tool.main([])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.startswith(
        "error: tools/bench_models.py writes tflite/reference/: timings measured under emulation (qemu test)"
    )


def test_outputs_of_two_machines_are_compared_image_by_image():
    from keras_resnet.device import compare as compare_outputs

    a = bench_result([[5, 1, 0], [3, 3, 0], [0, 1, 9], [4, 6, 0]])  # A ties the second image's two best classes,
    b = bench_result([[5, 2, 0], [3, 4, 0], [0, 1, 7], [5, 5, 0]])  # B the fourth's
    (row,) = compare_outputs.agreement(a, b)
    assert row["top1_agreement"] == 0.5 and row["tied"] == 2 and row["top1_agreement_untied"] == 1.0
    assert row["max_abs_diff"] == 2 and row["max_abs_diff_dequantized"] == 1.0
    with pytest.raises(UserError, match="different model file"):
        compare_outputs.agreement(a, bench_result([[5, 1, 0]] * 4, sha="other"))
    a["results"][0]["accuracy"]["outputs"] = None
    with pytest.raises(UserError, match="run the benchmark with data=SOURCE and outputs=True"):
        compare_outputs.agreement(a, b)


def test_results_files_must_be_benchmark_results(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"schema": "something-else"}))
    with pytest.raises(UserError, match="Not a benchmark result"):
        results.load_results(str(path))


# ---------------------------------------------------------------- system record


def make_tree(root: pathlib.Path, files: dict) -> str:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(root)


def test_system_record_of_a_raspberry_pi(tmp_path):
    root = make_tree(
        tmp_path,
        {
            "proc/device-tree/model": "Raspberry Pi 5 Model B Rev 1.0\0",
            "proc/cpuinfo": "processor\t: 0\nBogoMIPS\t: 108.00\nCPU implementer\t: 0x41\nModel\t: Raspberry Pi 5\n",
            "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor": "ondemand\n",
            "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor": "performance\n",
            "sys/class/thermal/thermal_zone0/temp": "51300\n",
            "sys/class/thermal/thermal_zone0/type": "cpu-thermal\n",
        },
    )
    assert sysinfo.board(root) == {"model": "Raspberry Pi 5 Model B Rev 1.0", "source": "/proc/device-tree/model"}
    assert sysinfo.cpu(root)["model"] == "Raspberry Pi 5"
    gov = sysinfo.governors(root)
    assert gov["governors"] == {"cpu0": "ondemand", "cpu1": "performance"} and "ondemand" in gov["warning"]
    if sysinfo.shutil.which("vcgencmd") is None:
        assert sysinfo.thermal(root)["celsius"] == {"thermal_zone0:cpu-thermal": 51.3}
    assert sysinfo.emulation(root, machine="aarch64")["emulated"] is False


def test_system_record_degrades_when_sources_are_absent(tmp_path):
    root = str(tmp_path)  # nothing at all: no /proc/device-tree, no /sys, no cpuinfo
    assert sysinfo.board(root)["model"] is None and "device-tree" in sysinfo.board(root)["note"]
    assert sysinfo.governors(root)["governors"] is None and sysinfo.governors(root)["warning"] is None
    if sysinfo.shutil.which("vcgencmd") is None:
        assert sysinfo.thermal(root)["celsius"] is None and "temperature unknown" in sysinfo.thermal(root)["note"]
    json.dumps(sysinfo.collect(root))  # the whole record stays serialisable


def test_qemu_user_emulation_is_detected(tmp_path):
    root = make_tree(
        tmp_path,
        {
            "proc/cpuinfo": "vendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\n",
            "proc/sys/kernel/arch": "x86_64\n",
            "proc/sys/fs/binfmt_misc/qemu-aarch64": "enabled\ninterpreter /usr/bin/qemu\n",
        },
    )
    found = sysinfo.emulation(root, machine="aarch64")
    assert found["emulated"] is True and len(found["evidence"]) == 3
    assert sysinfo.emulation(root, machine="x86_64")["emulated"] is False


def test_emulation_is_seen_when_qemu_fakes_cpuinfo(tmp_path):
    faked = make_tree(
        tmp_path / "faked",
        {"proc/cpuinfo": "processor\t: 0\nCPU implementer\t: 0x41\n", "proc/sys/kernel/arch": "x86_64\n"},
    )
    assert sysinfo.emulation(faked, machine="aarch64")["evidence"] == [
        "aarch64 Python on an x86_64 kernel (/proc/sys/kernel/arch)"
    ]
    pi_32bit = make_tree(
        tmp_path / "pi", {"proc/cpuinfo": "CPU implementer\t: 0x41\n", "proc/sys/kernel/arch": "aarch64\n"}
    )
    assert sysinfo.emulation(pi_32bit, machine="armv7l")["emulated"] is False  # 32-bit OS on a 64-bit kernel


def test_throttle_flags_are_decoded():
    assert sysinfo.decode_throttled(0x50005) == [
        "under-voltage",
        "throttled",
        "under-voltage-occurred",
        "throttling-occurred",
    ]
    assert sysinfo.decode_throttled(0) == []


def test_edgetpu_library_per_platform():
    assert runtime.edgetpu_library("Linux") == "libedgetpu.so.1"
    assert runtime.edgetpu_library("Darwin") == "libedgetpu.1.dylib"
    assert runtime.edgetpu_library("Windows") == "edgetpu.dll"
    with pytest.raises(UserError, match="Linux, macOS and Windows"):
        runtime.edgetpu_library("FreeBSD")


def test_edgetpu_compiled_model_needs_the_flag(models, tmp_path):
    compiled = tmp_path / "fake_edgetpu.tflite"
    compiled.write_bytes(models["int8"].read_bytes() + runtime.EDGETPU_CUSTOM_OP)
    code, _, stderr = run_bench(compiled)
    assert code == 1 and "compiled for the Edge TPU: run it with --edgetpu" in stderr


# ---------------------------------------------------------------- report


def test_report_writes_table_and_plots(tmp_path):
    result = fake_result([("r8_i8", 1, 0.2, 0.8), ("r8_f32", 1, 0.6, 0.81), ("r50_i8", 1, 30.0, None)])
    for r, size in zip(result["results"], (100_000, 400_000, 25_000_000)):
        r.update(
            size_bytes=size,
            macs=10**7,
            load_ms=1.0,
            first_ms=0.5,
            throughput_ips=1000 / r["latency_ms"]["p50"],
            gmacs_per_s=1.0,
            samples_ms=list(np.linspace(0.9, 1.2, 20) * r["latency_ms"]["p50"]),
        )
        r["latency_ms"].update(p90=r["latency_ms"]["p50"] * 1.1, p99=r["latency_ms"]["p50"] * 1.2)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(result))
    written = report.write_report([str(path)], str(tmp_path))
    assert written == ["report.md", "latency.png", "accuracy_latency.png"]
    text = (tmp_path / "report.md").read_text()
    assert text.count("\n| r") == 3 and "| r50_i8 | 1 | xnnpack | 24,414 |" in text
    for name in written[1:]:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_without_accuracy_says_so(tmp_path):
    result = fake_result([("m", 1, 1.0, None)])
    result["results"][0].update(
        size_bytes=1000,
        macs=None,
        load_ms=1.0,
        first_ms=1.0,
        throughput_ips=1000.0,
        gmacs_per_s=None,
        samples_ms=[1.0, 1.1],
    )
    result["results"][0]["latency_ms"].update(p90=1.1, p99=1.1)
    (tmp_path / "r.json").write_text(json.dumps(result))
    out = tmp_path / "out"
    out.mkdir()
    assert report.write_report([str(tmp_path / "r.json")], str(out)) == ["report.md", "latency.png"]
    assert "No row has accuracy" in (out / "report.md").read_text()


def test_pinning_applies_and_refuses_missing_cpus():
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("CPU pinning needs Linux")
    before = sorted(os.sched_getaffinity(0))
    try:
        assert sysinfo.pin_cpus(before[:1]) == before[:1]
        with pytest.raises(UserError, match=r"Cannot pin to CPUs .* Received: pin=\[4096\]"):
            sysinfo.pin_cpus([4096])
    finally:
        os.sched_setaffinity(0, before)


def test_workstation_cli_wraps_harness_and_report(models, tmp_path):
    from helpers import run_cli

    done = run_cli("resnet-tflite", "bench", "--help")
    assert done.returncode == 0 and done.stdout.startswith("usage: resnet-tflite bench") and "--edgetpu" in done.stdout
    result = tmp_path / "r.json"
    done = run_cli("resnet-tflite", "bench", models["float32"], "--runs", 3, "--json", result, "--quiet")
    assert done.returncode == 0 and done.stdout == "", done.stderr
    done = run_cli("resnet-tflite", "report", result, "--out", tmp_path)
    assert done.returncode == 0 and (tmp_path / "report.md").exists() and (tmp_path / "latency.png").exists()
    done = run_cli("resnet-tflite", "report", tmp_path / "nothing.json", "--out", tmp_path)
    assert done.returncode == 1 and done.stderr.startswith("error: Results file not found")


def test_a_regression_exits_3(models, tmp_path):
    reference = tmp_path / "ref.json"
    reference.write_text(
        json.dumps({"schema": results.REFERENCE_SCHEMA, "runs": [fake_result([("tiny_f32", 1, 1e-6, None)])]})
    )  # an impossible 1 ns reference
    code, stdout, stderr = run_bench(models["float32"], "--runs", 3, "--compare", reference)
    assert code == command.REGRESSION_EXIT, stderr
    assert "regression   tiny_f32 threads=1 xnnpack" in stdout


def test_eval_and_bench_score_tied_classes_alike(tmp_path):
    """A classifier that scores every class alike: top-k ranks ties by class index in both commands."""
    import keras

    from keras_resnet.export.convert import convert_keras

    net = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, kernel_initializer="zeros", activation="softmax"),
        ]
    )
    model = tmp_path / "tied.tflite"
    model.write_bytes(convert_keras(net, "float32"))
    np.savez(
        tmp_path / "tied.npz",
        x=np.random.default_rng(0).integers(0, 256, (40, 8, 8, 3), dtype=np.uint8),
        y=np.arange(40) % 10,
    )
    data = f"npz:{tmp_path / 'tied.npz'}"
    evaluated = run_cli("resnet-tflite", "eval", model, "--data", data, "--split", "train")
    benched = run_cli(
        "resnet-tflite",
        "bench",
        model,
        "--runs",
        1,
        "--warmup",
        0,
        "--data",
        data,
        "--split",
        "train",
        "--json",
        tmp_path / "bench.json",
        "--quiet",
    )
    assert evaluated.returncode == 0 and benched.returncode == 0, evaluated.stderr + benched.stderr
    by_eval = json.loads((tmp_path / "tied.eval.json").read_text())
    by_bench = json.loads((tmp_path / "bench.json").read_text())["results"][0]["accuracy"]
    expected = {"top1": 0.1, "top5": 0.5}  # class 0 first, classes 0-4 in the top five, for every image
    assert {k: by_eval[k] for k in expected} == {k: by_bench[k] for k in expected} == expected
    assert by_eval["images"] == by_bench["images"]


def test_python_benchmark_returns_what_bench_writes(models, tmp_path):
    import keras_resnet as kr

    out = tmp_path / "r.json"
    result = kr.benchmark(
        [str(models["float32"])],
        num_threads=[1, 2],
        warmup_runs=0,
        num_runs=2,
        json_path=out,
        csv_path=tmp_path / "r.csv",
    )
    assert json.loads(out.read_text()) == result
    assert [r["threads"] for r in result["results"]] == [1, 2] and all(r["runs"] == 2 for r in result["results"])
    assert result["settings"]["warmup"] == 0 and len((tmp_path / "r.csv").read_text().splitlines()) == 3
    assert kr.report(result, tmp_path) == ["report.md", "latency.png"] and (tmp_path / "report.md").exists()
    # a bad request names the Python argument; the command spells it as its flag
    with pytest.raises(UserError, match=r"Received: num_runs=0 and warmup_runs=5$"):
        kr.benchmark(str(models["float32"]), num_runs=0)
    with pytest.raises(UserError, match=r"pass data=SOURCE too\. Received: outputs=True$"):
        kr.benchmark(str(models["float32"]), outputs=True)
    code, _, stderr = run_bench(models["float32"], "--runs", 0)
    assert code == 1 and stderr.strip().endswith("Received: --runs 0 and --warmup 5"), stderr
