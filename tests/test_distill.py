"""Knowledge distillation: the loss as Hinton et al. write it, a student that learns what its teacher says (not
what the labels say), under tf.distribute and mixed precision, resumed, in pruning, and every bad request."""

import json

import keras
import numpy as np
import pytest
from test_data import small_folder

from helpers import run_cli
from keras_resnet.errors import UserError
from keras_resnet.training.fit import fit

SHIFT = 3  # the mislabelling teacher calls class c what the trained model calls class c + 3 (mod 10)


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_the_loss_is_hintons():
    """(1 - alpha) * CE + alpha * T^2 * KL(teacher_T || student_T), written out in NumPy; CE alone in evaluation."""
    from keras_resnet.training.networks import DistillingNet

    def net(seed):
        keras.utils.set_random_seed(seed)
        x = keras.Input((6,))
        return keras.Model(x, keras.layers.Dense(4, activation="softmax", name="predictions")(x))

    student, teacher = net(0), net(1)
    distilling = DistillingNet(student.inputs, student.outputs)
    distilling.set_teacher(teacher, 3.0, 0.7)
    distilling.compile("sgd", "sparse_categorical_crossentropy")
    assert len(distilling.weights) == len(student.weights)  # the teacher is in no checkpoint
    x = np.random.default_rng(0).normal(size=(5, 6)).astype("float32")
    y = np.array([0, 1, 2, 3, 1])
    p_s, p_t = student.predict(x, verbose=0), teacher.predict(x, verbose=0)
    ce = -np.mean(np.log(p_s[np.arange(5), y]))
    soft_s, soft_t = _softmax(np.log(p_s) / 3.0), _softmax(np.log(p_t) / 3.0)
    kl = np.mean(np.sum(soft_t * np.log(soft_t / soft_s), axis=-1))
    loss = distilling.compute_loss(x, y, keras.ops.convert_to_tensor(p_s), training=True)
    assert float(loss) == pytest.approx(0.3 * ce + 0.7 * 9.0 * kl, rel=1e-4)
    assert float(distilling.compute_loss(x, y, keras.ops.convert_to_tensor(p_s), training=False)) == pytest.approx(
        ce, rel=1e-5
    )


@pytest.fixture(scope="module")
def mislabelling_teacher(trained, tmp_path_factory):
    """The briefly trained ResNet-8 with its classifier's outputs rotated by SHIFT: it is sure of wrong classes."""
    from keras_resnet.models.saving import load_keras_model, save_model

    model = load_keras_model(trained)
    kernel, bias = model.get_layer("predictions").get_weights()
    order = (np.arange(10) - SHIFT) % 10  # output j is the trained model's output j - SHIFT
    model.get_layer("predictions").set_weights([kernel[:, order], bias[order]])
    path = tmp_path_factory.mktemp("teacher") / "teacher.keras"
    save_model(model, path)
    return path


@pytest.fixture(scope="module")
def distilled(mislabelling_teacher, cifar_jpg, tmp_path_factory):
    """A ResNet-8 taught by the mislabelling teacher alone (alpha 1), mirrored and in bfloat16."""
    folder = small_folder(cifar_jpg, tmp_path_factory.mktemp("data") / "d", per_class=(150, 30))
    out = tmp_path_factory.mktemp("runs") / "student"
    options = dict(
        epochs=3,
        batch_size=32,
        lr=0.05,
        schedule="onecycle",
        model_options={"width": 0.5},
        verbose=0,
        strategy="mirrored",
        mixed_precision="bf16",
        teacher=str(mislabelling_teacher),
        distill_alpha=1.0,
        distill_temperature=2.0,
    )
    metrics = fit("resnet8", f"folder:{folder}", str(out), **options)
    return folder, out, options, metrics


def test_a_student_learns_what_its_teacher_says(distilled, mislabelling_teacher):
    import keras_resnet
    from keras_resnet import sources
    from keras_resnet.models.saving import load_keras_model

    folder, out, _, metrics = distilled
    test = sources.load(f"folder:{folder}", "test")
    student = load_keras_model(out / "last.keras")
    teacher = load_keras_model(mislabelling_teacher)
    said = teacher.predict(test.x.astype("float32"), verbose=0).argmax(-1)
    learnt = student.predict(test.x.astype("float32"), verbose=0).argmax(-1)
    agreement = float(np.mean(learnt == said))
    assert agreement > 0.4, agreement  # the labels alone would give about 0.1
    assert metrics["last"]["top1"] < agreement / 2  # so it did not learn the labels
    assert student.count_params() == keras_resnet.ResNet8(width=0.5, preprocess="cifar10").count_params()
    config = json.loads((out / "config.json").read_text())
    assert config["distill"] == {
        "teacher": str(mislabelling_teacher),
        "weights": None,
        "temperature": 2.0,
        "alpha": 1.0,
        "classes": None,
    }
    assert config["mixed_precision"] == "mixed_bfloat16" and config["strategy"] == "MirroredStrategy"


def test_a_distilled_run_resumes_only_with_its_teacher(distilled, mislabelling_teacher, trained):
    folder, out, options, metrics = distilled
    again = fit("resnet8", f"folder:{folder}", str(out), resume=True, **options)
    assert again["last"]["top1"] == pytest.approx(metrics["last"]["top1"])  # nothing left to train
    with pytest.raises(UserError, match="was started with distill="):
        fit("resnet8", f"folder:{folder}", str(out), resume=True, **{**options, "teacher": str(trained)})


def test_pruning_fine_tunes_with_a_teacher(distilled, mislabelling_teacher, tmp_path):
    import keras_resnet

    folder, out, _, _ = distilled
    report = keras_resnet.prune(
        str(out / "last.keras"),
        tmp_path / "pruned.keras",
        channels=0.5,
        data=f"folder:{folder}",
        epochs=1,
        batch_size=32,
        teacher=str(mislabelling_teacher),
        verbose=0,
    )
    assert report["fine_tuning"]["distill"]["teacher"] == str(mislabelling_teacher)
    assert report["fine_tuning"]["distill"]["alpha"] == 0.9 and (tmp_path / "pruned.keras").exists()


BAD = [
    (["--teacher", "{teacher}", "--distill-temperature", "0"], "temperature divides the logits", "0.0"),
    (["--teacher", "{teacher}", "--distill-alpha", "1.5"], "lies in [0, 1]", "--distill-alpha 1.5"),
    (["--teacher", "{junk}"], "is not a .keras file", "junk.keras"),
    (["--teacher", "resnet56"], "needs its trained weights", "--teacher-weights None"),
    (["--teacher-weights", "cifar10"], "without the teacher", "--teacher None"),
    (["--teacher", "resnet56", "--teacher-weights", "imagenet"], "published for resnet18", "--teacher-weights"),
    (["--teacher", "resnet56", "--teacher-weights", "cifar10"], "classifies 10 classes; the data has 3", "resnet56"),
    (["--teacher", "{teacher}"], "classifies 10 classes at 32x32; the student learns 3", "{teacher}"),
]


@pytest.mark.parametrize("case", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_distillation_requests_are_one_line(case, trained, cifar_jpg, tmp_path):
    flags, message, received = case
    folder = small_folder(cifar_jpg, tmp_path / "d", per_class=(4, 2), classes=["cat", "dog", "ship"])
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip")
    flags = [f.format(teacher=trained, junk=junk) for f in flags]
    args = [
        "resnet8",
        "--data",
        f"folder:{folder}",
        "--out",
        tmp_path / "run",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        *flags,
    ]
    result = run_cli("resnet-tflite", "train", *args)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert message in lines[0] and received.format(teacher=trained) in lines[0].split("Received:")[-1], lines[0]
    assert not (tmp_path / "run").exists()
