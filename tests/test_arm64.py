"""The device side on a Raspberry Pi userland: Debian bookworm arm64 (aarch64, Python 3.11) under qemu.

`../shared/tools/arm64-userland` builds that userland once (root and the package registries; cached in
$ARM64_ROOT, default /var/cache/arm64-userland). Inside it this test does the device install of
tflite/README.md with tflite/setup_device.sh (this package as a wheel built here, NumPy, LiteRT and Pillow
from PyPI), then runs `python -m keras_resnet.bench` on our int8 and float32 CIFAR ResNet in latency mode
and in accuracy mode on 300 CIFAR-10 (JPEG) test images, and compares every image's output with the same
harness run here on x86-64 (resnet-tflite compare-outputs). The trained ResNet-20 of tflite/reference/ is used
when it is there, else a ResNet-8 trained briefly. Timings inside are emulated: the test checks that the
result says so and never reads them as figures. Without root, without the tool, or when the userland
cannot be built (no registry), the tests are skipped with the reason.

int8 results are not bit-exact across architectures: LiteRT's optimized ARM kernels round some
requantizations one step differently from its x86 ones (from the first convolution on; its reference
kernels agree bit for bit), and the steps add up through the network. Top-1 then differs only where the
two best classes are within a few steps of each other, often scored exactly alike on one machine (its
top-1 is then the lower class index). So top-1 is held to 99% agreement on the images where both machines
have a unique top score, and to 98% on all images (the trained ResNet-20: 98.3% of these 300, 99.0% of
1000 with ARM64_IMAGES_PER_CLASS=100).
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from helpers import OFFLINE_SIGNS, ROOT, SHARED, copy_source

pytestmark = pytest.mark.arm64

TOOL = SHARED / "tools" / "arm64-userland"
USERLAND = pathlib.Path(os.environ.get("ARM64_ROOT", "/var/cache/arm64-userland"))
TRAINED_RESNET20 = ROOT / "tflite" / "reference" / "resnet20_cifar10_jpg.keras"
DEVICE_VENV = "/root/resnet-tflite"  # setup_device.sh's default (~/resnet-tflite), as a Pi user gets it
IMAGES_PER_CLASS = int(os.environ.get("ARM64_IMAGES_PER_CLASS", 30))  # CIFAR-10 test images per class
# pip's signs of an unreachable registry; "No matching distribution" alone is left out: on aarch64 it can
# mean a dependency has no wheel for the architecture, which is a finding, not a reason to skip.
UNREACHABLE_SIGNS = tuple(sign for sign in OFFLINE_SIGNS if not sign.startswith("No matching"))
# What debootstrap (in its log), wget and apt print when the Debian mirror cannot be reached, and what
# mount and chroot print where the machine forbids them (an unprivileged container).
CANNOT_SET_UP_SIGNS = UNREACHABLE_SIGNS + (
    "unable to resolve host address",
    "Failed getting release file",
    "Couldn't download",
    "Temporary failure resolving",
    "Could not resolve",
    "Failed to fetch",
    "Unable to locate package",
    "Operation not permitted",
    "permission denied",
)
MINIMUM_AGREEMENT = 0.99  # top-1 identical on 99% of the images whose top score is unique on both machines
MINIMUM_AGREEMENT_ALL = 0.98  # ... and on 98% of all images (see above)
MEAN_INT8_STEPS = 1.0  # int8 outputs differ by less than one quantization step on average (0.35 seen)
MAX_INT8_STEPS = 64  # and by a quarter of the int8 range at most (35 seen: the softmax amplifies near-ties)


def arm64(*command, timeout=1800):
    """`arm64-userland COMMAND...` on this machine (copies a dir in and runs a command there for `run`)."""
    return subprocess.run(
        [str(TOOL), *map(str, command)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )


def run_inside(project: pathlib.Path, script: str, timeout=1800) -> pathlib.Path:
    """Run a shell script in the userland with `project` copied to /project; its /project afterwards."""
    (project / "run.sh").write_text("set -eu\n" + script)
    done = arm64("run", project, "--", "sh", "run.sh", timeout=timeout)
    if done.returncode != 0:
        if any(sign in done.stdout + done.stderr for sign in UNREACHABLE_SIGNS):
            pytest.skip(f"package registry unreachable from the arm64 userland: {done.stdout.strip()[-300:]}")
        pytest.fail(f"inside the arm64 userland, exit {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return USERLAND / "project"


@pytest.fixture(scope="module")
def userland():
    """The arm64 userland, built now if it is not cached; skipped, saying why, where it cannot be."""
    if not TOOL.exists():
        pytest.skip(f"no arm64-userland tool at {TOOL}: the aarch64 device side is not tested")
    if os.geteuid() != 0:
        pytest.skip("the arm64 userland needs root (chroot, binfmt_misc): the aarch64 device side is not tested")
    done = arm64("setup")
    if done.returncode != 0:
        log = USERLAND.with_name(USERLAND.name + ".tmp") / "debootstrap" / "debootstrap.log"
        output = (done.stdout + done.stderr + (log.read_text(errors="replace") if log.exists() else "")).strip()
        if any(sign in output for sign in CANNOT_SET_UP_SIGNS):
            last = " | ".join(output.splitlines()[-3:])
            pytest.skip(f"the arm64 userland cannot be built here (no registry, or no privilege): {last[-300:]}")
        pytest.fail(f"arm64-userland setup failed:\n{output[-3000:]}")
    return USERLAND


@pytest.fixture(scope="module")
def device_install(userland, tmp_path_factory):
    """tflite/setup_device.sh run inside the userland with a wheel of this checkout: what it printed,
    the distributions it installed and which heavy modules the device venv can import."""
    project = tmp_path_factory.mktemp("arm64-install")
    source = copy_source(tmp_path_factory.mktemp("arm64-source") / "resnet-tflite")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", str(source), "-w", str(project)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if built.returncode != 0:
        if any(sign in built.stderr for sign in OFFLINE_SIGNS):
            pytest.skip(f"package registry unreachable, wheel not built: {built.stderr.strip()[-300:]}")
        pytest.fail(f"pip wheel failed:\n{built.stderr}")
    wheel = next(project.glob("resnet_tflite-*.whl")).name
    shutil.copy(ROOT / "tflite" / "setup_device.sh", project)
    inside = run_inside(
        project,
        f"""
rm -rf {DEVICE_VENV}
PYTHON=/usr/bin/python3 sh setup_device.sh {DEVICE_VENV} "./{wheel}[device]" > install.log 2>&1 \
    || {{ cat install.log; exit 1; }}
{DEVICE_VENV}/bin/python -m pip list --format=freeze --disable-pip-version-check > freeze.txt
{DEVICE_VENV}/bin/python -c '
import importlib.util, json, platform, keras_resnet
heavy = ("tensorflow", "keras", "tf_keras", "click", "matplotlib")
print(json.dumps({{"machine": platform.machine(), "python": platform.python_version(), "package": keras_resnet.__file__,
                  "importable": [m for m in heavy if importlib.util.find_spec(m) is not None]}}))' > facts.json
""",
        timeout=1800,
    )
    return {
        "log": (inside / "install.log").read_text(),
        "freeze": (inside / "freeze.txt").read_text().split(),
        "facts": json.loads((inside / "facts.json").read_text()),
    }


@pytest.fixture(scope="module")
def cifar_subset(cifar_jpg, tmp_path_factory):
    """The first 30 test images of each CIFAR-10 (JPEG) class in the folder: layout (empty train/ classes)."""
    target = tmp_path_factory.mktemp("arm64-data") / "cifar10"
    for class_dir in sorted(p for p in (cifar_jpg / "test").iterdir() if p.is_dir()):
        (target / "train" / class_dir.name).mkdir(parents=True)
        (target / "test" / class_dir.name).mkdir(parents=True)
        for image in sorted(class_dir.iterdir())[:IMAGES_PER_CLASS]:
            shutil.copy(image, target / "test" / class_dir.name / image.name)
    return target


def convert_models(model, name: str, calibration: np.ndarray, out: pathlib.Path) -> list[pathlib.Path]:
    """`name`_int8.tflite (calibrated on `calibration`, int8 in and out) and `name`_float32.tflite."""
    from keras_resnet.export.convert import convert_keras, representative_from

    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}_int8.tflite", out / f"{name}_float32.tflite"]
    paths[0].write_bytes(convert_keras(model, "int8", representative=representative_from(calibration)))
    paths[1].write_bytes(convert_keras(model, "float32"))
    return paths


@pytest.fixture(scope="module")
def cifar_models(request, cifar_jpg, tmp_path_factory):
    """Our CIFAR ResNet as int8 and float32 .tflite: the trained ResNet-20 when committed, else ResNet-8
    trained briefly."""
    from keras_resnet import sources
    from keras_resnet.models.saving import load_keras_model

    keras_path, name = TRAINED_RESNET20, "resnet20"
    if not keras_path.exists():
        keras_path, name = request.getfixturevalue("trained"), "resnet8"
    calibration = sources.load(f"folder:{cifar_jpg}", "train", limit=200).x.astype(np.float32)
    return convert_models(load_keras_model(keras_path), name, calibration, tmp_path_factory.mktemp("arm64-models"))


def bench_inside(
    models: list[pathlib.Path],
    images: pathlib.Path,
    limit: int,
    project: pathlib.Path,
    latency: str = "--threads 1,2 --warmup 1 --runs 5",
) -> dict:
    """The harness in the device venv: a latency run and an accuracy run with outputs; results and stdout."""
    shutil.copytree(images, project / "images")
    for model in models:
        shutil.copy(model, project / model.name)
    names = " ".join(m.name for m in models)
    inside = run_inside(
        project,
        f"""
{DEVICE_VENV}/bin/python -m keras_resnet.bench {names} {latency} --json latency.json \
    --csv latency.csv > latency.txt 2> latency.err
{DEVICE_VENV}/bin/python -m keras_resnet.bench {names} --warmup 0 --runs 1 --data folder:images --limit {limit} \
    --outputs --json accuracy.json > accuracy.txt 2> accuracy.err
""",
        timeout=3600,
    )
    return {name: json.loads((inside / f"{name}.json").read_text()) for name in ("latency", "accuracy")} | {
        "latency_stdout": (inside / "latency.txt").read_text(),
        "latency_stderr": (inside / "latency.err").read_text(),
    }


def bench_here(models: list[pathlib.Path], images: pathlib.Path, limit: int) -> dict:
    """The same accuracy run on this machine (x86-64), in process."""
    from keras_resnet.device import harness

    settings = harness.Settings(warmup=0, runs=1, data=f"folder:{images}", limit=limit, outputs=True)
    return harness.run([str(m) for m in models], settings)


@pytest.fixture(scope="module")
def cifar_runs(device_install, cifar_models, cifar_subset, tmp_path_factory):
    """The CIFAR ResNet benchmarked inside the userland and here, on the same images (300 by default)."""
    limit = 10 * IMAGES_PER_CLASS
    inside = bench_inside(cifar_models, cifar_subset, limit, tmp_path_factory.mktemp("arm64-bench"))
    return inside | {"x86": bench_here(cifar_models, cifar_subset, limit)}


def check_agreement(x86: dict, aarch64: dict, models: list[pathlib.Path], images: int) -> list[dict]:
    """Every model's outputs compared image by image, printed, and held to the bars (see the docstring)."""
    from keras_resnet.device import compare as compare_outputs

    rows = compare_outputs.agreement(x86, aarch64, ("x86-64", "aarch64"))
    print("\nA: x86-64 (this machine), B: aarch64 (qemu userland)\n" + compare_outputs.format_rows(rows))
    assert sorted(r["model"] for r in rows) == sorted(m.stem for m in models)
    largest = {r["model"]: np.abs(r["accuracy"]["outputs"]["values"]).max() for r in x86["results"]}
    for r in rows:
        assert r["images"] == images
        assert r["top1_agreement_untied"] >= MINIMUM_AGREEMENT and r["top1_agreement"] >= MINIMUM_AGREEMENT_ALL, r
        if r["output_dtype"] == "int8":
            assert r["mean_abs_diff"] < MEAN_INT8_STEPS and r["max_abs_diff"] <= MAX_INT8_STEPS, r
        else:  # float32 sums in another order: rounding only, relative to the outputs' size
            assert r["max_abs_diff"] <= 1e-5 * max(1.0, largest[r["model"]]), r
    return rows


# ---------------------------------------------------------------- the install


def test_device_install_pulls_no_tensorflow(device_install):
    facts, installed = device_install["facts"], {line.split("==")[0].lower() for line in device_install["freeze"]}
    assert "harness ready: ai-edge-litert" in device_install["log"]
    assert facts["machine"] == "aarch64" and facts["python"].startswith("3.11")
    assert facts["package"].startswith(DEVICE_VENV)  # the installed wheel, not a copy of the source
    assert facts["importable"] == []
    assert {"resnet-tflite", "numpy", "ai-edge-litert", "pillow"} <= installed
    assert not installed & {"tensorflow", "tensorflow-cpu", "keras", "tf-keras", "click", "matplotlib"}


# ---------------------------------------------------------------- the harness on aarch64


def test_latency_mode_runs_and_is_marked_emulated(cifar_runs, cifar_models):
    result = cifar_runs["latency"]
    rows = result["results"]
    assert [(r["model"], r["threads"]) for r in rows] == [(m.stem, t) for m in cifar_models for t in (1, 2)]
    assert all(r["emulated"] is True and len(r["samples_ms"]) == 5 and r["macs"] > 0 for r in rows)
    assert result["system"]["os"]["machine"] == "aarch64"
    assert result["system"]["runtime"].startswith("ai-edge-litert")
    assert "running under emulation (qemu): timings are emulated, not device figures" in result["warnings"]
    assert "EMULATED (qemu)" in cifar_runs["latency_stdout"]
    assert "warning: running under emulation" in cifar_runs["latency_stderr"]


def test_system_record_says_what_the_userland_lacks(cifar_runs):
    system = cifar_runs["latency"]["system"]
    assert system["emulation"]["emulated"] is True
    assert any("/proc/cpuinfo" in e or "/proc/sys/kernel/arch" in e for e in system["emulation"]["evidence"])
    assert system["board"]["model"] is None and "no /proc/device-tree/model" in system["board"]["note"]
    assert system["cpufreq"]["governors"] is None and "no cpufreq" in system["cpufreq"]["note"]
    for when in ("thermal_before", "thermal_after"):
        assert system[when]["celsius"] is None and "no vcgencmd" in system[when]["note"]
    assert system["virtualized"] is True and system["peak_rss_bytes"] > 0


def test_accuracy_mode_agrees_with_x86(cifar_runs, cifar_models):
    from keras_resnet.device import results

    rows = check_agreement(cifar_runs["x86"], cifar_runs["accuracy"], cifar_models, 10 * IMAGES_PER_CLASS)
    for r in rows:
        assert r["top1"][0] > 0.2  # twice chance at least: the comparison is between meaningful predictions
        assert r["top1"][1] == pytest.approx(r["top1"][0], abs=results.ACCURACY_TOLERANCE)


def test_emulated_results_cannot_become_a_reference(cifar_runs, tmp_path):
    from keras_resnet.device import results
    from keras_resnet.errors import UserError

    reference = tmp_path / "emulated.json"
    reference.write_text(json.dumps({"schema": results.REFERENCE_SCHEMA, "runs": [cifar_runs["latency"]]}))
    here = {**cifar_runs["x86"], "warnings": []}
    assert here["system"]["emulation"] == {"emulated": False, "evidence": []}  # no false alarm on x86-64
    with pytest.raises(UserError, match="timings measured under emulation"):
        results.attach_comparison(here, str(reference), results.DEFAULT_TOLERANCE)
    emulated = {**cifar_runs["latency"], "warnings": []}
    results.attach_comparison(emulated, str(reference), results.DEFAULT_TOLERANCE)
    assert emulated["comparison"] is None and "not compared" in emulated["warnings"][0]


# ---------------------------------------------------------------- ResNet-18 at 224x224


@pytest.mark.slow
def test_resnet18_runs_on_aarch64_and_agrees_with_x86(device_install, cifar_jpg, cifar_subset, tmp_path):
    import keras
    from PIL import Image

    from keras_resnet import ResNet18, sources

    keras.utils.set_random_seed(0)  # random weights: latency and agreement do not need trained ones
    size, limit = 224, 20
    images = tmp_path / "cifar10-224"
    for split in ("train", "test"):
        for class_dir in (cifar_subset / split).iterdir():
            (images / split / class_dir.name).mkdir(parents=True)
            for path in sorted(class_dir.iterdir())[: limit // 10]:  # resized here once, kept lossless as PNG
                pixels = sources.decode(str(path), (size, size))
                Image.fromarray(pixels).save(images / split / class_dir.name / f"{path.stem}.png")
    calibration = sources.load(f"folder:{cifar_jpg}", "train", limit=16, size=(size, size)).x.astype(np.float32)
    network = ResNet18(classes=10, preprocess="imagenet", classifier_activation=None)  # logits: a random
    models = convert_models(network, "resnet18", calibration, tmp_path / "m")  # net's softmax saturates

    inside = bench_inside(models, images, limit, tmp_path / "project", latency="--warmup 0 --runs 2")
    x86 = bench_here(models, images, limit)

    assert all(r["emulated"] for r in inside["latency"]["results"])
    check_agreement(x86, inside["accuracy"], models, limit)
