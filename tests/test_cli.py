"""The command line: one group of every command, listing and profiling (bad input: test_bad_inputs.py)."""

import json
import subprocess
import sys

import pytest

from helpers import ROOT, bench_result, run_cli
from keras_resnet.cli.main import COMMANDS
from keras_resnet.models import specs


def test_list_shows_every_model_with_counts():
    result = run_cli("resnet-tflite", "list")
    assert result.returncode == 0, result.stderr
    for name in specs.list_models():
        assert name in result.stdout
    assert "11,689,512" in result.stdout and "269,722" in result.stdout  # trainable, as papers count
    table = json.loads(run_cli("resnet-tflite", "list", "--json").stdout)
    assert table["resnet18"]["trainable_params"] == 11_689_512


def test_list_needs_no_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys; from keras_resnet.cli.main import main; sys.argv=['resnet-tflite','list']\n"
        "try:\n    main()\nexcept SystemExit: pass\nassert 'tensorflow' not in sys.modules, 'imported TF'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_info_prints_the_paper_table():
    result = run_cli("resnet-tflite", "info", "resnet20")
    assert result.returncode == 0, result.stderr
    assert "conv4" in result.stdout and "8x8x64" in result.stdout and "40,813,184" in result.stdout
    data = json.loads(run_cli("resnet-tflite", "info", "resnet8", "--json", "--input-size", "64").stdout)
    assert data["input_shape"] == [64, 64, 3] and data["trainable_params"] == 75_290


def test_cli_reference_and_readme_tables_are_generated_from_current_sources():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_docs.py"), "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    reference = (ROOT / "docs" / "cli.md").read_text()
    assert "## `resnet-tflite convert`" in reference and "--calib-samples INTEGER" in reference


def test_the_old_spelling_of_magnitude_pruning_still_works_with_a_deprecation_line(tmp_path):
    result = run_cli(
        "resnet-tflite",
        "convert",
        "resnet8",
        "--out",
        tmp_path / "x.tflite",
        "--prune",
        "1.5",
        "--data",
        "folder:missing",
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 2
    assert lines[0].startswith("warning: --prune is now --magnitude-prune")
    assert lines[1].startswith("error: Pass --magnitude-prune S, a sparsity in [0, 1)")
    assert lines[1].endswith("Received: --magnitude-prune 1.5")  # the value reached it


def test_shortcut_none_on_the_command_line_is_the_plain_net():
    residual = json.loads(run_cli("resnet-tflite", "info", "resnet20", "--json").stdout)
    plain = json.loads(run_cli("resnet-tflite", "info", "resnet20", "--json", "--shortcut", "none").stdout)
    expected = json.loads(run_cli("resnet-tflite", "info", "plain20", "--json").stdout)
    assert plain["macs"] == expected["macs"] < residual["macs"]


# --- one command group --------------------------------------------------------------------------------------


def help_text(*args) -> str:
    """`--help` of a console command, which must succeed."""
    result = run_cli(*args, "--help")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return result.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_of_the_table_answers_help(name):
    from click.testing import CliRunner

    from keras_resnet.cli.main import main

    result = CliRunner().invoke(main, [name, "--help"], prog_name="resnet-tflite")
    assert result.exit_code == 0, result.output
    assert f"resnet-tflite {name}" in result.output and ("Options:" in result.output or "options:" in result.output)


def test_the_group_lists_every_command():
    text = help_text("resnet-tflite")
    listed = text[text.index("Commands:") :].split("\n")[1:]
    assert sorted(line.split()[0] for line in listed if line.strip()) == sorted(COMMANDS)


def test_resnet_train_is_another_name_for_resnet_tflite_train():
    ours, alias = help_text("resnet-tflite", "train"), help_text("resnet-train")
    assert ours.splitlines()[0] == "Usage: resnet-tflite train [OPTIONS] MODEL"
    assert alias.splitlines()[0] == "Usage: resnet-train [OPTIONS] MODEL"
    assert ours.splitlines()[1:] == alias.splitlines()[1:] and "--recipe" in ours


def test_the_former_tools_and_the_demo_are_commands():
    assert "--no-top" in help_text("resnet-tflite", "weights", "convert")
    assert "convert" in help_text("resnet-tflite", "weights")
    assert "A.json B.json" in help_text("resnet-tflite", "compare-outputs")
    assert "--quick" in help_text("resnet-tflite", "demo")
    module = subprocess.run(
        [sys.executable, "-m", "keras_resnet.cli.demo", "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert module.returncode == 0 and "--quick" in module.stdout
    assert not (ROOT / "tools" / "convert_weights.py").exists() and not (ROOT / "tools" / "compare_outputs.py").exists()


def bench_result_file(path, values, sha="abc"):
    path.write_text(json.dumps(bench_result(values, sha)))
    return path


def test_compare_outputs_prints_what_its_function_returns(tmp_path):
    from keras_resnet.device.compare import compare_outputs

    a = bench_result_file(tmp_path / "a.json", [[5, 1, 0], [3, 3, 0], [0, 1, 9], [4, 6, 0]])
    b = bench_result_file(tmp_path / "b.json", [[5, 2, 0], [3, 4, 0], [0, 1, 7], [5, 5, 0]])
    expected = compare_outputs(a, b)
    (row,) = expected["rows"]
    assert row["top1_agreement"] == 0.5 and row["tied"] == 2 and row["max_abs_diff_dequantized"] == 1.0
    result = run_cli("resnet-tflite", "compare-outputs", a, b, "--json")
    assert result.returncode == 0 and json.loads(result.stdout) == json.loads(json.dumps(expected))
    table = run_cli("resnet-tflite", "compare-outputs", a, b).stdout.splitlines()
    assert table[:2] == [f"A: {a}", f"B: {b}"] and table[3].split()[:5] == ["m", "1", "4", "0.5000", "2"]


def test_compare_outputs_refuses_other_models_and_missing_files_in_one_line(tmp_path):
    a = bench_result_file(tmp_path / "a.json", [[5, 1, 0]] * 4)
    other = bench_result_file(tmp_path / "other.json", [[5, 1, 0]] * 4, sha="def")
    for args, message in (
        ((a, other), "error: m is a different model file"),
        ((a, tmp_path / "missing.json"), "error: Results file not found"),
    ):
        result = run_cli("resnet-tflite", "compare-outputs", *args)
        assert result.returncode == 1 and result.stderr.startswith(message), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_weights_convert_names_its_flags_where_the_function_names_its_arguments(tmp_path):
    from keras_resnet.errors import UserError
    from keras_resnet.models.convert_weights import convert_weights

    with pytest.raises(UserError, match=r"Received: out='w\.h5'"):
        convert_weights(tmp_path / "x.pth", "w.h5")
    result = run_cli("resnet-tflite", "weights", "convert", tmp_path / "x.pth", "--out", "w.h5")
    assert result.returncode == 1 and result.stderr.strip() == (
        "error: The output must end in .weights.h5 (Keras' weights format). Received: --out w.h5"
    )
