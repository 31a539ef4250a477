"""The architecture is a contract (pyproject.toml, [tool.importlinter]): import-linter holds the package to it,
and a package that breaks any of its rules fails the check."""

import shutil
import subprocess
import sys

import pytest

from helpers import ROOT

RULES = {
    "device code imports TensorFlow lazily": (
        "keras_resnet/lite/runtime.py",
        "\n\ndef _f():\n    import tensorflow\n",
        "What runs on a device",
    ),
    "the device entry point imports click": ("keras_resnet/bench.py", "\nimport click\n", "What runs on a device"),
    "models imports training": (
        "keras_resnet/models/profiler.py",
        "\n\ndef _f():\n    from keras_resnet.training import fit\n",
        "Each layer imports",
    ),
    "a module imports the command line": (
        "keras_resnet/export/convert.py",
        "\n\ndef _f():\n    from keras_resnet.cli import options\n",
        "Each layer imports",
    ),
    "two modules import each other": (
        "keras_resnet/lite/flatbuffer.py",
        "\n\ndef _f():\n    from keras_resnet.lite import micro\n",
        "No import cycles",
    ),
}


def lint_imports(root):
    """`lint-imports` on the package under `root` (found first on the path): (exit code, its report)."""
    command = [
        sys.executable,
        "-c",
        "import sys; from importlinter.cli import lint_imports_command; "
        "sys.argv = ['lint-imports', '--no-cache']; lint_imports_command()",
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    )
    return done.returncode, done.stdout + done.stderr


def test_the_package_keeps_its_import_contract():
    code, report = lint_imports(ROOT)
    assert code == 0, report
    assert "Contracts: 3 kept, 0 broken." in report


@pytest.mark.parametrize("rule", sorted(RULES))
def test_breaking_a_rule_fails_the_contract(tmp_path, rule):
    path, addition, contract = RULES[rule]
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "keras_resnet", tmp_path / "keras_resnet", ignore=shutil.ignore_patterns("__pycache__"))
    with open(tmp_path / path, "a") as f:
        f.write(addition)
    code, report = lint_imports(tmp_path)
    assert code != 0, report  # the copy was analysed: the package itself keeps the contract (above)
    assert contract in report[report.index("Broken contracts") :], report
