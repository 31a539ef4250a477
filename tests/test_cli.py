"""The command line: listing and profiling (bad input: test_bad_inputs.py)."""
import json
import subprocess
import sys

from helpers import ROOT, run_cli
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

    code = ("import sys; from keras_resnet.cli.main import main; sys.argv=['resnet-tflite','list']\n"
            "try:\n    main()\nexcept SystemExit: pass\nassert 'tensorflow' not in sys.modules, 'imported TF'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_info_prints_the_paper_table():
    result = run_cli("resnet-tflite", "info", "resnet20")
    assert result.returncode == 0, result.stderr
    assert "conv4" in result.stdout and "8x8x64" in result.stdout and "40,813,184" in result.stdout
    data = json.loads(run_cli("resnet-tflite", "info", "resnet8", "--json", "--input-size", "64").stdout)
    assert data["input_shape"] == [64, 64, 3] and data["trainable_params"] == 75_290


def test_cli_reference_and_readme_tables_are_generated_from_current_sources():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "make_docs.py"), "--check"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    reference = (ROOT / "docs" / "cli.md").read_text()
    assert "## `resnet-tflite convert`" in reference and "--calib-samples INTEGER" in reference


def test_the_old_spelling_of_magnitude_pruning_still_works_with_a_deprecation_line(tmp_path):
    result = run_cli("resnet-tflite", "convert", "resnet8", "--out", tmp_path / "x.tflite", "--prune", "1.5",
                     "--data", "folder:missing")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 2
    assert lines[0].startswith("warning: --prune is now --magnitude-prune")
    assert lines[1].startswith("error: --magnitude-prune takes a sparsity in [0, 1)")  # the value reached it


def test_shortcut_none_on_the_command_line_is_the_plain_net():
    residual = json.loads(run_cli("resnet-tflite", "info", "resnet20", "--json").stdout)
    plain = json.loads(run_cli("resnet-tflite", "info", "resnet20", "--json", "--shortcut", "none").stdout)
    expected = json.loads(run_cli("resnet-tflite", "info", "plain20", "--json").stdout)
    assert plain["macs"] == expected["macs"] < residual["macs"]
