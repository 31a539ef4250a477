"""tools/mcu_models.py: the candidates' table, the Pareto front of accuracy against instructions, and (slow) one
candidate made end to end: trained, distilled, converted, built and counted."""

import json
import os

import pytest

from helpers import load_tool

tool = load_tool("mcu_models")


def row(name, top1, m4, distilled=False, macs=12_500_000, params=78_000, flash=100_000, ram=50_000):
    firmware = {"macs": macs, "instructions": m4, "flash_bytes": flash, "ram_bytes": ram}
    return {
        "name": name,
        "distilled": distilled,
        "params": params,
        "float_top1": top1 + 0.001,
        "int8_top1": top1,
        "firmware": {
            "cortex-m4/cmsis_nn": firmware,
            "cortex-m55/cmsis_nn": {**firmware, "instructions": m4 and m4 // 5},
        },
        "speed_up_over_float32": 3.3,
        "float32_firmware": {**firmware, "instructions": m4 and m4 * 3},
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
        assert c.base is None or not c.base.endswith("-kd")  # distilled or not, pruned from the same model


def test_what_beats_mlperf_is_under_its_published_firmware_on_every_axis_at_its_architectures_accuracy():
    published = tool.MLPERF_PUBLISHED
    rows = [
        row("mlperf-resnet8", 0.85, 29_000_000),
        row("small", 0.851, 14_000_000, flash=119_000, ram=47_000),
        row("less-accurate", 0.849, 14_000_000),
        row("more-ram", 0.86, 14_000_000, ram=published["ram_bytes"]),
        row("unmeasured", 0.9, None),
    ]
    assert tool.beats_mlperf(rows) == ["mlperf-resnet8", "small"]
    assert tool.beats_mlperf(rows[1:]) == []  # without the architecture trained here there is no bar to clear


def test_each_lever_is_measured_against_the_model_it_changes():
    rows = [
        row("resnet8", 0.85, 30_000_000),
        row("resnet8-kd", 0.86, 30_000_000, distilled=True),
        row("resnet8-p50", 0.83, 15_000_000, macs=6_250_000, params=39_000, flash=80_000, ram=40_000),
        row("resnet8-p50-kd", 0.84, 15_000_000, True, 6_250_000, 39_000, 80_000, 40_000),
        row("resnet14-kd", 0.87, 50_000_000, distilled=True),  # its twin is not in the table
    ]
    lines = tool.levers(rows).splitlines()[2:]
    assert lines == [
        "| distillation | resnet8 | resnet8-kd | 100% | 100% | 1.00x | +0 B | +0 B | +1.00 points | 3.00x |",
        "| distillation | resnet8-p50 | resnet8-p50-kd | 100% | 100% | 1.00x | +0 B | +0 B | +1.00 points | 3.00x |",
        "| pruning | resnet8 | resnet8-p50 | 50% | 50% | 0.50x | -20,000 B | -10,000 B | -2.00 points | 6.00x |",
    ]


def test_the_front_is_kept_with_what_makes_it_again(tmp_path, monkeypatch):
    monkeypatch.setattr(tool, "MODELS", str(tmp_path / "kept"))
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "README.md").write_text("what is kept")
    (tmp_path / "kept" / "off-the-front.keras").write_text("beaten since")
    runs = tmp_path / "runs"
    for name, trained in (("a", "last.keras"), ("b", "pruned.keras"), ("c", "last.keras")):
        training = runs / name / ("fine-tuning" if trained == "pruned.keras" else "")
        training.mkdir(parents=True, exist_ok=True)
        for file in (trained, "int8.tflite", "deploy.json"):
            (runs / name / file).write_text(f"{name} {file}")
        for file in ("config.json", "history.csv"):
            (training / file).write_text(f"{name} {file}")
    tool.keep_front([row("a", 0.80, 10e6), row("b", 0.85, 20e6), row("c", 0.79, 25e6)], str(runs))
    kept = sorted(p.name for p in (tmp_path / "kept").iterdir())
    assert kept == ["README.md"] + [
        f"{n}{suffix}"
        for n in "ab"
        for suffix in (".config.json", ".deploy.json", ".history.csv", ".keras", "_int8.tflite")
    ]
    assert (tmp_path / "kept" / "b.keras").read_text() == "b pruned.keras"


@pytest.mark.slow
def test_one_candidate_end_to_end(trained, cifar_jpg, tmp_path, firmware_cache, tflm_tree, capsys):
    from test_data import small_folder

    data = small_folder(cifar_jpg, tmp_path / "d", per_class=(40, 10))
    args = ["--data", f"folder:{data}", "--runs", str(tmp_path / "runs"), "--teacher", str(trained)]
    assert tool.main([*args, "--epochs", "1", "--only", "mlperf-resnet8-kd", "--tflm", str(tflm_tree)]) == 0
    record = json.loads((tmp_path / "runs" / "mlperf-resnet8-kd" / "deploy.json").read_text())
    m4 = record["firmware"]["cortex-m4/cmsis_nn"]
    assert record["distilled"] and m4["instructions"] > 0 and m4["bit_exact_images"] == m4["images"] > 0
    assert record["speed_up_over_float32"] > 1 and "| **mlperf-resnet8-kd** |" in capsys.readouterr().out


def test_the_page_says_which_firmware_outputs_differ_from_the_host():
    exact = row("a", 0.80, 10e6)
    for fw in exact["firmware"].values():
        fw.update(images=3, bit_exact_images=3)
    differing = {**exact, "name": "b", "firmware": {**exact["firmware"], "cortex-m55/cmsis_nn": {"images": 3}}}
    assert tool._bit_exactness([exact]) == (
        "All 2 int8 firmwares give outputs bit-exact with TFLite-Micro on the host for their inputs."
    )
    assert tool._bit_exactness([exact, differing]).endswith(": b on cortex-m55/cmsis_nn.")


def test_a_pruned_candidate_is_cut_from_its_trained_base_into_its_own_run(tmp_path, monkeypatch):
    import argparse

    import keras_resnet

    base = tmp_path / "resnet8"
    base.mkdir()
    (base / "metrics.json").write_text("{}")  # trained already: not trained again
    calls = []

    def prune(model, out, **options):
        assert os.path.isdir(os.path.dirname(out))  # where the pruned model and its fine-tuning are kept
        calls.append((model, options["channels"], options.get("teacher")))

    monkeypatch.setattr(keras_resnet, "prune", prune)
    args = argparse.Namespace(runs=str(tmp_path), teacher="t.keras", data="folder:d", epochs=30)
    candidate = next(c for c in tool.CANDIDATES if c.name == "resnet8-p50-kd")
    assert tool.train(candidate, args) == str(tmp_path / "resnet8-p50-kd" / "pruned.keras")
    assert calls == [(str(base / "last.keras"), (0.5, 0.5, 0.5), "t.keras")]
