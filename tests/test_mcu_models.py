"""tools/mcu_models.py: the candidates' table, the Pareto front of accuracy against instructions, and (slow) one
candidate made end to end: trained, distilled, converted, built and counted."""

import json

import pytest

from helpers import load_tool

tool = load_tool("mcu_models")


def row(name, top1, m4, distilled=False):
    firmware = {"macs": 12_500_000, "instructions": m4, "flash_bytes": 100_000, "ram_bytes": 50_000}
    return {
        "name": name,
        "distilled": distilled,
        "params": 78_000,
        "float_top1": top1 + 0.001,
        "int8_top1": top1,
        "firmware": {"cortex-m4/cmsis_nn": firmware, "cortex-m55/cmsis_nn": {**firmware, "instructions": m4 // 5}},
        "speed_up_over_float32": 3.3,
    }


def test_the_pareto_front_keeps_what_nothing_beats_on_both_axes():
    rows = [row("a", 0.80, 10e6), row("b", 0.85, 20e6), row("c", 0.84, 25e6), row("d", 0.85, 20e6), row("e", 0.9, 40e6)]
    assert tool.pareto(rows) == ["a", "b", "d", "e"]  # c: b is better and cheaper; b and d tie, both stay
    assert tool.pareto([{**rows[0], "firmware": {"cortex-m4/cmsis_nn": {"error": "does not fit"}}}]) == []


def test_the_table_has_a_row_per_candidate_and_marks_the_front():
    text = tool.table([row("a", 0.80, 10e6), row("c", 0.79, 25e6)])
    lines = text.splitlines()
    assert len(lines) == 4 and lines[2].startswith("| **a** |") and lines[3].startswith("| c |")
    assert "| 10.00 M | 2.00 M | 80.10% | 80.00% | 3.3x |" in lines[2]


def test_every_distilled_candidate_has_its_undistilled_twin_and_pruning_starts_from_a_trained_one():
    names = {c.name for c in tool.CANDIDATES}
    assert {"mlperf-resnet8", "mlperf-resnet8-kd"} <= names
    for c in tool.CANDIDATES:
        assert (c.name.removesuffix("-kd") in names) and (c.base is None or c.base in names)
        assert c.base is None or (c.base.endswith("-kd") == c.distill)


@pytest.mark.slow
def test_one_candidate_end_to_end(trained, cifar_jpg, tmp_path, firmware_cache, tflm_tree, capsys):
    from test_data import small_folder

    data = small_folder(cifar_jpg, tmp_path / "d", per_class=(40, 10))
    args = ["--data", f"folder:{data}", "--runs", str(tmp_path / "runs"), "--teacher", str(trained)]
    assert tool.main([*args, "--epochs", "1", "--only", "mlperf-resnet8-kd", "--tflm", str(tflm_tree)]) == 0
    record = json.loads((tmp_path / "runs" / "mlperf-resnet8-kd" / "deploy.json").read_text())
    assert record["distilled"] and record["firmware"]["cortex-m4/cmsis_nn"]["instructions"] > 0
    assert record["speed_up_over_float32"] > 1 and "| **mlperf-resnet8-kd** |" in capsys.readouterr().out
