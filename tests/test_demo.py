"""`make demo` (`resnet-tflite demo`) in its quick mode: the whole path on bundled data, every output where the
report says."""

import json
import re
import subprocess
import sys

import pytest

from helpers import ROOT, run_cli


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo-output"
    result = run_cli("resnet-tflite", "demo", "--quick", "--out", out, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return out, result.stdout


def test_demo_runs_every_step_and_prints_its_commands(demo):
    out, stdout = demo
    for command in (
        "$ resnet-tflite train resnet8",
        "$ resnet-tflite convert",
        "--int8 --calib npz:",
        "$ resnet-tflite edgetpu",
        "$ resnet-tflite micro",
        "$ resnet-tflite bench",
        "$ resnet-tflite report",
    ):
        assert command in stdout
    assert f"Everything is in {out}/" in stdout


def test_demo_outputs_agree_with_each_other(demo):
    out, _ = demo
    float32 = json.loads((out / "models" / "resnet8_float32.eval.json").read_text())["verification"]
    int8 = json.loads((out / "models" / "resnet8_int8.eval.json").read_text())["verification"]
    assert float32["agreement_top1"] == 1.0 and float32["max_abs_output_error"] < 1e-4
    assert int8["agreement_top1"] >= 0.9
    assert json.loads((out / "edgetpu" / "resnet8_int8_edgetpu_report.json").read_text())["fully_mapped"]
    micro = json.loads((out / "micro" / "resnet8_micro.json").read_text())
    assert micro["boards"][0]["fits"] and micro["parity"]["litert_default"]["top1_agreement"] >= 0.9
    bench = json.loads((out / "bench" / "bench.json").read_text())
    assert [r["model"] for r in bench["results"]] == ["resnet8_float32", "resnet8_int8"]
    assert all(r["accuracy"]["images"] == 360 for r in bench["results"])


def test_demo_report_links_files_that_exist(demo):
    out, _ = demo
    report = (out / "report.md").read_text()
    for link in ("train/curves.png", "bench/latency.png", "bench/accuracy_latency.png"):
        assert f"({link})" in report and (out / link).is_file()
    assert "| resnet8_int8 |" in report and "fully mapped" in report


def test_demo_refuses_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    result = subprocess.run(
        [sys.executable, "-m", "keras_resnet.cli.demo", "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )  # the module runs the command
    assert result.returncode == 1 and result.stderr.startswith("error:") and "not made by the demo" in result.stderr
    assert f"Received: --out {tmp_path}" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_the_demo_in_python_refuses_the_same_folder_naming_its_argument(tmp_path):
    from keras_resnet.cli.demo import run_demo
    from keras_resnet.errors import UserError

    (tmp_path / "mine.txt").write_text("keep me")
    expected = f"not made by the demo: pass another out. Received: out='{tmp_path}'"
    with pytest.raises(UserError, match=re.escape(expected)):
        run_demo(tmp_path, quick=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]
