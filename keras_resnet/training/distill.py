"""Knowledge distillation (Hinton et al. 2015, "Distilling the Knowledge in a Neural Network"): what a run's
teacher is, checked before TensorFlow starts.

A distilled run trains the student on `(1 - alpha) * CE(labels, student) + alpha * T^2 * KL(teacher_T ||
student_T)`, where `x_T` is the softmax of a model's logits divided by the temperature T: a higher T spreads
the teacher's probabilities over the classes it finds similar, which is what it knows beyond the labels; the
T^2 keeps the two terms' gradients on the same scale whatever T (paper, Section 2). The teacher runs in
inference mode on the very batch the student trains on (`keras_resnet.training.networks.DistillingNet`).

The published CIFAR-10 teachers were trained on raw CIFAR-10 and lose points on other images (JPEG's:
about ten): fine-tune the teacher on the student's data first (`resnet-tflite train resnet56 --weights
cifar10 --recipe finetune ...`), then pass its `best.keras` as the teacher.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import asdict, dataclass

from keras_resnet.errors import UserError
from keras_resnet.files import check_keras_file, is_model_file
from keras_resnet.models import pretrained
from keras_resnet.models.specs import get_spec

TEMPERATURE = 4.0
ALPHA = 0.9


@dataclass(frozen=True)
class Distillation:
    """A run's teacher (a Keras model file, or a registered name with its `weights`) and the loss' settings."""

    teacher: str
    weights: str | None = None
    temperature: float = TEMPERATURE
    alpha: float = ALPHA
    classes: int | None = None  # known before TensorFlow starts for published weights

    def as_config(self) -> dict:
        return asdict(self)


def check(
    teacher: str | None,
    teacher_weights: str | None = None,
    temperature: float = TEMPERATURE,
    alpha: float = ALPHA,
) -> Distillation | None:
    """The run's distillation (None without a teacher), every argument checked without TensorFlow.

    The teacher's classes and input size are checked against the student's once it is loaded.
    """
    if teacher is None:
        if teacher_weights is not None:
            raise UserError(
                f"Weights for a teacher were given without the teacher: pass teacher=NAME with them. "
                f"Received: teacher_weights={teacher_weights!r}, teacher=None"
            )
        return None
    if not temperature > 0:
        raise UserError(
            f"The distillation temperature divides the logits: it must be positive (Hinton et al. use 1-20; "
            f"{TEMPERATURE} by default). Received: distill_temperature={temperature!r}"
        )
    if not 0 <= alpha <= 1:
        raise UserError(
            f"The distillation weight alpha weighs the teacher's term against the labels' and lies in [0, 1] "
            f"({ALPHA} by default). Received: distill_alpha={alpha!r}"
        )
    classes = None
    if is_model_file(teacher):
        if teacher_weights is not None:
            raise UserError(
                f"{teacher} carries its own weights: leave the teacher's weights out. "
                f"Received: teacher_weights={teacher_weights!r}"
            )
        check_keras_file(teacher)
    else:
        spec = get_spec(teacher)
        if teacher_weights is None:
            raise UserError(
                f"A teacher built by name needs its trained weights (an untrained teacher teaches nothing): "
                f"pass teacher_weights=NAME (published: {', '.join(pretrained.NAMES)}) or teacher_weights=FILE, "
                f"or give a trained .keras file as teacher. Received: teacher={teacher!r}, teacher_weights=None"
            )
        with teacher_errors():
            published = pretrained.check(teacher_weights, spec, {"include_top": True})
        classes = published.classes if published else None
    return Distillation(teacher, teacher_weights, float(temperature), float(alpha), classes)


def check_classes(distillation: Distillation | None, classes: int) -> None:
    """Refuse, before TensorFlow starts, a published teacher of other classes than the student's data."""
    if distillation and distillation.classes not in (None, classes):
        raise UserError(
            f"The teacher {distillation.teacher} with weights {distillation.weights!r} classifies "
            f"{distillation.classes} classes; the data has {classes}: distil from a teacher trained on the same "
            f"classes (fine-tune one on this data first). Received: teacher={distillation.teacher!r}"
        )


@contextlib.contextmanager
def teacher_errors():
    """The weights' own errors, which name the student's argument (`weights=`), as the teacher's."""
    try:
        yield
    except UserError as err:
        raise UserError(re.sub(r"\bweights=", "teacher_weights=", str(err))) from None
