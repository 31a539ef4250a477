"""Bad input, case by case: every command refuses it with one clear line, a non-zero exit and no traceback.

Each row of CASES is one mistake a user makes: the command line ({name} stands for a file of the `files`
fixture or the row's own temporary folder), the words of the error line that name the problem, the words
that say what to do, and the exit code (1 for an error, 2 for a usage error). Most rows fail before
TensorFlow is imported and run in a process of their own (about a second each); the rows marked "tf"
need a model built or loaded and run one after another in a single process (`batch`).

Permissions cannot be taken from root, who reads and writes everything: "unreadable" and "read-only"
rows make os.access say no for their paths in the command's process (what the commands consult), and
one row writes into /proc, which refuses even root. The full disk is simulated the same way (fsync
raises ENOSPC). Ctrl-C and kills are in test_robustness.py.
"""

import json
import os
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from helpers import ROOT, run_cli

# Lines that native libraries print on their own (TensorFlow's start-up log, LiteRT's delegate notice)
NATIVE_LOG = re.compile(
    r"^(WARNING: All log messages|[IWEF]\d{4} |INFO: |To enable the following|"
    r"fully_quantize: )"
)
DENY_ACCESS = """import os
_access = os.access
os.access = lambda path, mode, *a, **k: (os.path.abspath(path) not in {denied!r}) and _access(path, mode, *a, **k)
"""
FULL_DISK = """import errno, os
def _full(fd):
    raise OSError(errno.ENOSPC, "No space left on device")
os.fsync = _full
"""

TRAIN = "resnet-train"
TFL = "resnet-tflite"
# (id, command line, problem, what to do, exit code, options: "tf" | deny=[paths] | full_disk | absent=path)
CASES = [
    # resnet-train
    (
        "train-only-unreadable-images",
        f"{TRAIN} resnet8 --data folder:{{unreadable}} --out {{tmp}}/run",
        "No readable images",
        "Received: folder:",
        1,
        {"absent": "{tmp}/run"},
    ),
    (
        "train-unknown-model",
        f"{TRAIN} resnet7 --data folder:{{folder}} --out {{tmp}}/run",
        "Unknown model 'resnet7'",
        "Did you mean resnet8",
        1,
        {"absent": "{tmp}/run"},
    ),
    (
        "train-missing-data-folder",
        f"{TRAIN} resnet8 --data folder:{{tmp}}/nowhere --out {{tmp}}/run",
        "does not exist",
        "pass a folder of <class>/ subfolders",
        1,
        {"absent": "{tmp}/run"},
    ),
    (
        "train-folder-without-class-folders",
        f"{TRAIN} resnet8 --data folder:{{no_classes}} --out {{tmp}}/run",
        "has no class subfolders",
        "put images in",
        1,
        {"absent": "{tmp}/run"},
    ),
    (
        "train-empty-class-folders",
        f"{TRAIN} resnet8 --data folder:{{empty_classes}} --out {{tmp}}/run",
        "has class folders but no images",
        "put images in",
        1,
        {"tf": True, "absent": "{tmp}/run"},
    ),
    (
        "train-epochs-and-steps",
        f"{TRAIN} resnet8 --data folder:{{folder}} --out {{tmp}}/run --epochs 2 --steps 9",
        "not both",
        "Give epochs or steps",
        1,
        {},
    ),
    (
        "train-out-below-a-file",
        f"{TRAIN} resnet8 --data folder:{{folder}} --out {{a_file}}/run",
        "is a file, not a directory",
        "Choose another location",
        1,
        {},
    ),
    (
        "train-keras-file-not-a-zip",
        f"{TRAIN} {{not_zip_keras}} --data folder:{{folder}} --out {{tmp}}/run",
        "is not a .keras file",
        "save the model with model.save",
        1,
        {},
    ),
    (
        "train-zero-width",
        f"{TRAIN} resnet8 --data folder:{{folder}} --out {{tmp}}/run --width 0",
        "Invalid value for '--width'",
        "see --help",
        2,
        {},
    ),
    # resnet-tflite convert
    (
        "convert-missing-model",
        f"{TFL} convert {{tmp}}/missing.keras --out {{tmp}}/x.tflite",
        "not found",
        "Check the path",
        1,
        {},
    ),
    (
        "convert-empty-model",
        f"{TFL} convert {{empty_keras}} --out {{tmp}}/x.tflite",
        "is empty (0 bytes)",
        "create or copy it again",
        1,
        {},
    ),
    (
        "convert-unreadable-model",
        f"{TFL} convert {{not_zip_keras}} --out {{tmp}}/x.tflite",
        "is not readable",
        "check its permissions",
        1,
        {"deny": ["{not_zip_keras}"]},
    ),
    (
        "convert-directory-as-model",
        f"{TFL} convert {{folder}} --out {{tmp}}/x.tflite",
        "is a directory",
        "pass a .keras model file",
        1,
        {},
    ),
    (
        "convert-tflite-as-model",
        f"{TFL} convert {{model}} --out {{tmp}}/x.tflite",
        "expected a .keras file",
        "saved with model.save",
        1,
        {},
    ),
    (
        "convert-keras-file-of-another-format",
        f"{TFL} convert {{tflite_named_keras}} --out {{tmp}}/x.tflite",
        "is not a .keras file",
        "save the model with model.save",
        1,
        {},
    ),
    (
        "convert-zip-that-is-no-model",
        f"{TFL} convert {{zip_keras}} --out {{tmp}}/x.tflite",
        "is not a valid Keras model file",
        "saved with model.save()",
        1,
        {"tf": True},
    ),
    (
        "convert-weights-file-as-model",
        f"{TFL} convert {{weights_h5}} --out {{tmp}}/x.tflite",
        "is not a loadable Keras model",
        "not a weights file",
        1,
        {"tf": True},
    ),
    (
        "convert-input-not-an-image",
        f"{TFL} convert {{dense_keras}} --out {{tmp}}/x.tflite --int8 --calib npz:{{npz}}",
        "not images (height, width, channels)",
        "convert an image classifier",
        1,
        {"tf": True},
    ),
    (
        "convert-calibration-folder-without-images",
        f"{TFL} convert resnet8 --out {{tmp}}/x.tflite --int8 --calib folder:{{empty_classes}}",
        "has class folders but no images",
        "put images in",
        1,
        {},
    ),
    (
        "convert-calibration-only-unreadable-images",
        f"{TFL} convert resnet8 --out {{tmp}}/x.tflite --int8 --calib folder:{{unreadable}}",
        "No readable images",
        "damaged, or not images",
        1,
        {},
    ),
    (
        "convert-calibration-folder-missing",
        f"{TFL} convert resnet8 --out {{tmp}}/x.tflite --int8 --calib folder:{{tmp}}/nowhere",
        "does not exist",
        "pass a folder",
        1,
        {},
    ),
    (
        "convert-unknown-model",
        f"{TFL} convert resnt8 --out {{tmp}}/x.tflite",
        "Unknown model 'resnt8'",
        "Did you mean resnet8",
        1,
        {},
    ),
    (
        "convert-two-modes",
        f"{TFL} convert resnet8 --out {{tmp}}/x.tflite --int8 --fp16",
        "--int8 and --fp16",
        "Choose one conversion mode",
        1,
        {},
    ),
    (
        "convert-qat-without-int8",
        f"{TFL} convert resnet8 --out {{tmp}}/x.tflite --qat --data folder:{{folder}}",
        "--qat produces an int8 model",
        "add --int8",
        1,
        {},
    ),
    (
        "convert-int8-without-calibration",
        f"{TFL} convert resnet8 --out {{tmp}}/x.tflite --int8",
        "needs calibration images",
        "pass --calib SOURCE",
        1,
        {},
    ),
    (
        "convert-weights-for-a-model-file",
        f"{TFL} convert {{zip_keras}} --out {{tmp}}/x.tflite --weights {{weights_h5}}",
        "apply to a registered model name",
        "not to a model file",
        1,
        {},
    ),
    (
        "convert-negative-sparsity",
        f"{TFL} convert resnet8 --out {{tmp}}/x.tflite --magnitude-prune -0.5 --data folder:{{folder}}",
        "sparsity in [0, 1)",
        "e.g. 0.5",
        1,
        {},
    ),
    (
        "convert-zero-calibration-samples",
        f"{TFL} convert resnet8 --out {{tmp}}/x.tflite --int8 --calib folder:{{folder}} --calib-samples 0",
        "Invalid value for '--calib-samples'",
        "see --help",
        2,
        {},
    ),
    (
        "convert-output-in-missing-folder",
        f"{TFL} convert resnet8 --out {{tmp}}/missing/x.tflite",
        "does not exist",
        "create it first",
        1,
        {},
    ),
    (
        "convert-output-in-read-only-folder",
        f"{TFL} convert resnet8 --out {{tmp}}/x.tflite",
        "is not writable",
        "choose a directory you can write",
        1,
        {"deny": ["{tmp}"]},
    ),
    (
        "convert-output-where-even-root-cannot-write",
        f"{TFL} convert resnet8 --out /proc/x.tflite",
        "Cannot write in /proc",
        "choose a writable directory",
        1,
        {},
    ),
    (
        "convert-output-not-tflite",
        f"{TFL} convert resnet8 --out {{tmp}}/x.json",
        "must name a .tflite file",
        "Received: --out ",
        1,
        {},
    ),
    # resnet-tflite eval
    (
        "eval-zero-bytes",
        f"{TFL} eval {{empty_tflite}} --data npz:{{npz}}",
        "is empty (0 bytes)",
        "create or copy it again",
        1,
        {},
    ),
    (
        "eval-truncated",
        f"{TFL} eval {{truncated_tflite}} --data npz:{{npz}}",
        "is a damaged TFLite model",
        "Convert the model again",
        1,
        {},
    ),
    (
        "eval-random-bytes",
        f"{TFL} eval {{random_tflite}} --data npz:{{npz}}",
        "is not a TFLite model",
        "pass a .tflite file",
        1,
        {},
    ),
    (
        "eval-directory-as-model",
        f"{TFL} eval {{folder}} --data npz:{{npz}}",
        "is a directory",
        "pass the path of a file",
        1,
        {},
    ),
    (
        "eval-unreadable-model",
        f"{TFL} eval {{model}} --data npz:{{npz}}",
        "is not readable",
        "check its permissions",
        1,
        {"deny": ["{model}"]},
    ),
    (
        "eval-empty-class-folders",
        f"{TFL} eval {{model}} --data folder:{{empty_classes}}",
        "has class folders but no images",
        "put images in",
        1,
        {},
    ),
    (
        "eval-only-unreadable-images",
        f"{TFL} eval {{model}} --data folder:{{unreadable}} --split train",
        "No readable images",
        "damaged, or not images",
        1,
        {},
    ),
    (
        "eval-unknown-source",
        f"{TFL} eval {{model}} --data imagenet",
        "Unknown data source 'imagenet'",
        "use folder:PATH, npz:PATH or tfds:NAME",
        1,
        {},
    ),
    # resnet-tflite prune
    (
        "prune-resume-without-a-run",
        f"{TFL} prune {{tmp}}/m.keras --channels 0.5 --out {{tmp}}/p.keras --resume "
        f"--data npz:{{npz}} --run-dir {{tmp}}/nothing-here",
        "--resume continues a fine-tuning kept in",
        "pass the --run-dir DIR of the run",
        1,
        {},
    ),
    # resnet-tflite edgetpu and micro
    (
        "edgetpu-truncated",
        f"{TFL} edgetpu {{truncated_tflite}} --check-only",
        "is a damaged TFLite model",
        "Convert the model again",
        1,
        {},
    ),
    ("edgetpu-missing-model", f"{TFL} edgetpu {{tmp}}/missing.tflite", "not found", "Check the path", 1, {}),
    (
        "edgetpu-out-below-a-file",
        f"{TFL} edgetpu {{model}} --check-only --out {{a_file}}/reports",
        "is a file, not a directory",
        "Choose another location",
        1,
        {},
    ),
    (
        "micro-random-bytes",
        f"{TFL} micro {{random_tflite}} --out {{tmp}}/gen",
        "is not a TFLite model",
        "pass a .tflite file",
        1,
        {"absent": "{tmp}/gen"},
    ),
    (
        "micro-name-not-a-c-name",
        f"{TFL} micro {{model}} --out {{tmp}}/gen --name 9lives",
        "C name must start with a letter",
        "Received: --name 9lives",
        1,
        {"absent": "{tmp}/gen"},
    ),
    ("micro-out-is-a-file", f"{TFL} micro {{model}} --out {{a_file}}", "Invalid value for '--out'", "is a file", 2, {}),
    # resnet-tflite bench
    ("bench-zero-runs", f"{TFL} bench {{model}} --runs 0", "Pass --runs N of at least 1", "Received: --runs 0", 1, {}),
    ("bench-zero-bytes", f"{TFL} bench {{empty_tflite}}", "is empty (0 bytes)", "create or copy it again", 1, {}),
    (
        "bench-truncated",
        f"{TFL} bench {{truncated_tflite}}",
        "is a damaged TFLite model",
        "Convert the model again",
        1,
        {},
    ),
    (
        "bench-edgetpu-and-delegate",
        f"{TFL} bench {{model}} --edgetpu --delegate {{tmp}}/lib.so",
        "Use --edgetpu or --delegate",
        "not both",
        1,
        {},
    ),
    (
        "bench-json-in-read-only-folder",
        f"{TFL} bench {{model}} --runs 1 --json /proc/r.json",
        "Cannot write in /proc",
        "choose a writable directory",
        1,
        {},
    ),
    (
        "bench-full-disk",
        f"{TFL} bench {{model}} --runs 1 --warmup 0 --quiet --json {{tmp}}/r.json",
        "No space left on device",
        "free some space",
        1,
        {"full_disk": True, "absent": "{tmp}/r.json"},
    ),
    ("bench-not-an-option", f"{TFL} bench {{model}} --runs two", "argument --runs", "see --help", 2, {}),
    # resnet-tflite info and the command group
    ("info-unknown-model", f"{TFL} info resnet05", "Unknown model 'resnet05'", "Did you mean", 1, {}),
    ("info-missing-keras-file", f"{TFL} info {{tmp}}/missing.keras", "not found", "Check the path", 1, {}),
    ("info-tflite-file", f"{TFL} info {{model}}", "expected a .keras file", "saved with model.save", 1, {}),
    (
        "info-input-too-small",
        f"{TFL} info resnet18 --input-size 16",
        "downsamples by 32",
        "inputs must be at least 32x32",
        1,
        {"tf": True},
    ),
    ("info-zero-classes", f"{TFL} info resnet18 --classes 0", "Invalid value for '--classes'", "see --help", 2, {}),
    ("unknown-command", f"{TFL} bogus", "No such command 'bogus'", "see --help", 2, {}),
]

BATCH = """import contextlib, io, json, sys, traceback
from keras_resnet.cli.main import main
from keras_resnet.cli.train import main as train_main
commands, out, results = json.loads(sys.argv[1]), sys.argv[2], []
for argv in commands:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        sys.argv = argv
        try:
            (main if argv[0] == "resnet-tflite" else train_main)()
            code = 0
        except SystemExit as exit:
            code = exit.code
        except BaseException:
            traceback.print_exc()
            code = "uncaught"
    results.append([code, err.getvalue()])
open(out, "w").write(json.dumps(results))
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One of every kind of file the rows name, made once."""
    import keras

    from keras_resnet.export.convert import convert_keras, representative_from

    root = tmp_path_factory.mktemp("bad-inputs")
    net = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ]
    )
    x = np.random.default_rng(0).integers(0, 256, (6, 16, 16, 3)).astype(np.uint8)
    model = convert_keras(net, "int8", representative_from(x.astype(np.float32)))
    paths = {
        name: root / name
        for name in (
            "model.tflite",
            "tflite_named.keras",
            "empty.tflite",
            "empty.keras",
            "truncated.tflite",
            "random.tflite",
            "not_zip.keras",
            "a_file",
        )
    }
    paths["model.tflite"].write_bytes(model)
    paths["tflite_named.keras"].write_bytes(model)
    paths["truncated.tflite"].write_bytes(model[: len(model) // 2])
    paths["random.tflite"].write_bytes(np.random.default_rng(1).bytes(3000))
    paths["not_zip.keras"].write_text("this is not a zip archive")
    for name in ("empty.tflite", "empty.keras", "a_file"):
        paths[name].write_bytes(b"")
    with zipfile.ZipFile(root / "zip.keras", "w") as archive:
        archive.writestr("notes.txt", "a zip, but no Keras model")
    net.save_weights(root / "w.weights.h5")
    inputs = keras.Input((10,))
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(root / "dense.keras")
    inputs = keras.Input((16, 16, 1))
    keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(inputs))).save(
        root / "gray.keras"
    )
    labels = np.arange(6) % 3
    np.savez(root / "ok.npz", x=x, y=labels)
    np.savez(root / "small.npz", x=x[:, :8, :8], y=labels)
    np.savez(root / "rgba.npz", x=np.zeros((6, 16, 16, 4), np.uint8), y=labels)
    (root / "folder" / "cat").mkdir(parents=True)
    (root / "folder" / "dog").mkdir()
    (root / "no_classes").mkdir()
    (root / "no_classes" / "readme.txt").write_text("images belong in class folders")
    (root / "empty_classes" / "cat").mkdir(parents=True)
    photos_of_every_kind(root / "mixed", labels)
    for name in ("cat", "dog"):
        (root / "unreadable" / name).mkdir(parents=True)
        (root / "unreadable" / name / "photo.jpg").write_bytes(b"not a JPEG at all")
    return {
        "model": paths["model.tflite"],
        "tflite_named_keras": paths["tflite_named.keras"],
        "empty_tflite": paths["empty.tflite"],
        "empty_keras": paths["empty.keras"],
        "truncated_tflite": paths["truncated.tflite"],
        "random_tflite": paths["random.tflite"],
        "not_zip_keras": paths["not_zip.keras"],
        "a_file": paths["a_file"],
        "zip_keras": root / "zip.keras",
        "weights_h5": root / "w.weights.h5",
        "dense_keras": root / "dense.keras",
        "gray_keras": root / "gray.keras",
        "npz": root / "ok.npz",
        "small_npz": root / "small.npz",
        "rgba_npz": root / "rgba.npz",
        "folder": root / "folder",
        "no_classes": root / "no_classes",
        "empty_classes": root / "empty_classes",
        "mixed": root / "mixed",
        "unreadable": root / "unreadable",
    }


def photos_of_every_kind(root, labels):
    """train/ and test/ class folders of JPEG and PNG photos of different sizes, greyscale, RGB and RGBA."""
    from PIL import Image

    rng = np.random.default_rng(2)
    kinds = [
        ((32, 32), "RGB", "jpg"),
        ((48, 64), "RGB", "png"),
        ((90, 120), "L", "jpg"),
        ((40, 40), "RGBA", "png"),
        ((20, 28), "L", "png"),
        ((100, 75), "RGB", "jpg"),
    ]
    for i, ((height, width), mode, suffix) in enumerate(kinds):
        channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
        pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
        for split in ("train", "test"):
            folder = root / split / f"class{labels[i]}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode).save(folder / f"{i}.{suffix}")


def command(case, files, tmp) -> tuple[list[str], dict]:
    """The row's argv and options with every {name} replaced by its path."""
    names = {**{k: str(v) for k, v in files.items()}, "tmp": str(tmp)}
    _, line, _, _, _, options = case
    argv = [word.format(**names) for word in line.split()]
    resolved = {
        k: ([p.format(**names) for p in v] if isinstance(v, list) else v.format(**names) if isinstance(v, str) else v)
        for k, v in options.items()
    }
    return argv, resolved


def check(case, code, stderr, options):
    """Exit code, one `error:` line naming the problem and what to do, no traceback, nothing left behind."""
    name, _, problem, remedy, exit_code, _ = case
    lines = [line for line in stderr.splitlines() if line.strip() and not NATIVE_LOG.match(line)]
    assert "Traceback" not in stderr, stderr
    assert code == exit_code, f"{name}: exit {code}\n{stderr}"
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{name}: not one error line\n{stderr}"
    assert problem in lines[0] and remedy in lines[0], f"{name}: {lines[0]}"
    if "absent" in options:
        assert not os.path.exists(options["absent"]), f"{name} left {options['absent']}"


def quick_cases():
    return [pytest.param(case, id=case[0]) for case in CASES if not case[5].get("tf")]


@pytest.mark.parametrize("case", quick_cases())
def test_bad_input_is_one_clear_line(case, files, tmp_path):
    # set up
    argv, options = command(case, files, tmp_path)
    prelude = DENY_ACCESS.format(denied=set(options.get("deny", []))) + (FULL_DISK if "full_disk" in options else "")
    # invoke
    result = run_cli(*argv, prelude=prelude, timeout=120)
    # validate
    check(case, result.returncode, result.stderr, options)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")], "a temporary file was left"


def test_bad_input_needing_a_model_is_one_clear_line(files, tmp_path):
    """The rows that build or load a Keras model, in one process (TensorFlow starts once)."""
    # set up
    cases = [case for case in CASES if case[5].get("tf")]
    commands = [command(case, files, tmp_path / case[0]) for case in cases]
    for case in cases:
        (tmp_path / case[0]).mkdir()
    results = tmp_path / "results.json"
    # invoke
    subprocess.run(
        [sys.executable, "-c", BATCH, json.dumps([argv for argv, _ in commands]), str(results)],
        cwd=ROOT,
        timeout=600,
        check=True,
        capture_output=True,
    )
    # validate
    for case, (_, options), (code, stderr) in zip(cases, commands, json.loads(results.read_text())):
        check(case, code, stderr, options)


# Data the commands take as the model takes its images: any size, greyscale, RGB or RGBA, resized bilinearly.
# (id, command line, options as above)
ACCEPTED = [
    ("eval-photos-of-mixed-sizes-and-modes", f"{TFL} eval {{model}} --data folder:{{mixed}}", {}),
    ("eval-images-with-an-alpha-channel", f"{TFL} eval {{model}} --data npz:{{rgba_npz}}", {}),
    ("eval-images-smaller-than-the-model-takes", f"{TFL} eval {{model}} --data npz:{{small_npz}}", {}),
    ("bench-photos-of-mixed-sizes", f"{TFL} bench {{model}} --runs 1 --warmup 0 --quiet --data folder:{{mixed}}", {}),
    (
        "micro-parity-on-photos-of-mixed-sizes",
        f"{TFL} micro {{model}} --out {{tmp}}/gen --limit 6 --parity folder:{{mixed}}",
        {},
    ),
    (
        "convert-calibration-of-another-size",
        f"{TFL} convert resnet8 --out {{tmp}}/x.tflite --int8 --calib npz:{{small_npz}}",
        {"tf": True},
    ),
    (
        "convert-rgb-calibration-for-a-greyscale-model",
        f"{TFL} convert {{gray_keras}} --out {{tmp}}/x.tflite --int8 --calib npz:{{npz}}",
        {"tf": True},
    ),
    (
        "convert-calibrated-and-verified-on-photos-of-mixed-sizes",
        f"{TFL} convert resnet8 --out {{tmp}}/x.tflite --int8 --calib folder:{{mixed}} --verify folder:{{mixed}}",
        {"tf": True},
    ),
    (
        "train-on-photos-of-mixed-sizes",
        f"{TRAIN} resnet8 --data folder:{{mixed}} --out {{tmp}}/run --input-size 24 "
        f"--epochs 1 --batch-size 2 --width 0.25",
        {"tf": True},
    ),
]


@pytest.mark.parametrize("case", [pytest.param(case, id=case[0]) for case in ACCEPTED])
def test_images_of_any_size_and_mode_are_accepted(case, files, tmp_path):
    name, line, _ = case
    argv, _ = command((name, line, None, None, 0, {}), files, tmp_path)
    result = run_cli(*argv, timeout=300)
    assert result.returncode == 0, f"{name}: exit {result.returncode}\n{result.stderr}"
    ours = [line for line in result.stderr.splitlines() if not NATIVE_LOG.match(line)]
    assert not [line for line in ours if line.startswith("error: ")], result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def test_the_catalogue_covers_every_command():
    commands = {" ".join(case[1].split()[:2]) if case[1].startswith(TFL) else TRAIN for case in CASES}
    assert {TRAIN} | {
        f"{TFL} {c}" for c in ("convert", "eval", "edgetpu", "micro", "bench", "info", "prune")
    } <= commands
    assert len(CASES) >= 20 and len({case[0] for case in CASES}) == len(CASES)


NO_TENSORFLOW = """import json, sys, time
from keras_resnet.cli.main import main
from keras_resnet.cli.train import main as train_main
argv = json.loads(sys.argv[1])
sys.argv = argv
start = time.perf_counter()
try:
    (main if argv[0] == "resnet-tflite" else train_main)()
except SystemExit as exit:
    print(json.dumps({"code": exit.code, "seconds": time.perf_counter() - start,
                      "tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}))
"""
EMPTY = "folder:{empty_classes}"
REFUSED_BEFORE_TENSORFLOW = [
    f"{TRAIN} resnet20 --data {EMPTY} --out {{tmp}}/run",
    f"{TRAIN} {{zip_keras}} --data {EMPTY} --out {{tmp}}/run",
    f"{TFL} convert resnet8 --out {{tmp}}/x.tflite --int8 --calib {EMPTY}",
    f"{TFL} convert resnet8 --out {{tmp}}/x.tflite --verify {EMPTY}",
    f"{TFL} prune {{tmp}}/m.keras --channels 0.5 --out {{tmp}}/p.keras --data {EMPTY}",
    f"{TFL} eval {{model}} --data {EMPTY}",
    f"{TFL} bench {{model}} --data {EMPTY}",
    f"{TFL} micro {{model}} --out {{tmp}}/gen --parity {EMPTY}",
]


@pytest.mark.parametrize("line", REFUSED_BEFORE_TENSORFLOW, ids=lambda line: " ".join(line.split()[:2]))
def test_a_folder_without_images_is_refused_before_tensorflow_starts(line, files, tmp_path):
    argv, _ = command(("", line, None, None, 1, {}), files, tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", NO_TENSORFLOW, json.dumps(argv)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["code"] == 1 and "has class folders but no images" in done.stderr, done.stderr
    assert not outcome["tensorflow"] and not outcome["keras"], f"TensorFlow started before the refusal: {done.stderr}"
    assert outcome["seconds"] < 3, outcome  # TensorFlow's import alone takes longer
