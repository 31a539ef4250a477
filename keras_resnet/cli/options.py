"""What the commands share: one-line usage errors, the options that build a model, the options a user set.

The API takes every keyword as given (`None` included: `shortcut=None` is the plain net, `classifier_activation=
None` gives logits); the command line passes on only the options the user set (`given`), so that the others
keep the API's own defaults.
"""

from __future__ import annotations

import os
import sys

import click

from keras_resnet.errors import INTERRUPTED, cli_errors
from keras_resnet.files import check_directory
from keras_resnet.models import specs
from keras_resnet.training import distill, recipes
from keras_resnet.training.hardware import MIXED_PRECISION

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
NONE = "none"  # how `None` (a plain net: no shortcut) is spelled on the command line


class OneLineErrors:
    """For click commands and groups: a usage error is one `error:` line on stderr (exit 2), not click's
    usage block, so every failure of the command line looks alike."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as err:  # the command alone: its help, as click shows it
            err.show()
            sys.exit(err.exit_code)
        except click.ClickException as err:
            click.echo(f"error: {err.format_message()} (see --help)", err=True)
            sys.exit(err.exit_code)
        except click.Abort:  # Ctrl-C outside a command body, e.g. while a command module is imported
            click.echo(INTERRUPTED, err=True)
            sys.exit(130)
        if standalone_mode:
            sys.exit(code if isinstance(code, int) else 0)
        return code


class OneLineCommand(OneLineErrors, click.Command):
    """A click command whose usage errors are one line."""


def command_flags() -> dict[str, str]:
    """{Python argument name: how the running command spells it}: `--flag` for an option (click's
    `param_hint`), `MODEL` for an argument. The library's errors name arguments as Python does; the command
    line shows them as the user typed them (`errors.spell_arguments`)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return {}
    return {
        param.name: param.get_error_hint(ctx).split(" / ")[0].strip("'") for param in ctx.command.params if param.name
    }


# Decorates every command body: expected failures in one line, arguments spelled as the command's flags.
command_errors = cli_errors(flags=command_flags)


def given(*names: str) -> dict:
    """{name: value} of the running command's options among `names` that the user set (on the command line
    or through the environment), leaving out the ones that only hold click's default."""
    ctx = click.get_current_context()
    return {
        name: ctx.params[name]
        for name in names
        if ctx.get_parameter_source(name) < click.core.ParameterSource.DEFAULT_MAP
    }


def _shortcut(ctx, param, value):
    return None if value == NONE else value


def shortcut_option(**kwargs):
    """`--shortcut A|B|C|none`, the options of the spec table (none: a plain net)."""
    choices = [option or NONE for option in specs.SHORTCUTS]
    return click.option(
        "--shortcut",
        type=click.Choice(choices),
        callback=_shortcut,
        help="Shortcut option (none: the plain net).",
        **kwargs,
    )


MODEL_OPTIONS = ("input_size", "classes", "preact", "width", "variant", "shortcut")


def model_options(func):
    """Options shared by commands that build a registered model (`MODEL_OPTIONS`); unset: the model's own."""
    return _options(
        func,
        [
            input_size_option(),
            click.option("--classes", type=click.IntRange(min=1), help="Number of classes (default: model's)."),
            preact_option(),
            width_option(),
            click.option("--variant", type=click.Choice(specs.VARIANTS), help="Layout: v1.5 (torchvision) or v1."),
            shortcut_option(),
        ],
    )


def preact_option():
    """`--preact/--no-preact`: pre-activation blocks (unset: the model's own)."""
    return click.option("--preact/--no-preact", default=None, help="Pre-activation blocks.")


def width_option():
    """`--width`: the channel multiplier (unset: the model's own)."""
    return click.option("--width", type=click.FloatRange(min=0, min_open=True), help="Channel multiplier.")


def recipe_option(default: str):
    """`--recipe`: the recipe table's row whose values the recipe options override."""
    return click.option(
        "--recipe",
        type=click.Choice(sorted(recipes.RECIPES)),
        default=default,
        show_default=True,
        help="Training recipe: the paper's cifar or imagenet, or finetune (transfer learning); the recipe "
        "options override its values.",
    )


def _options(func, options):
    for option in reversed(options):
        func = option(func)
    return func


# Recipe fields (`keras_resnet.training.recipes.Recipe`) as options; unset: the recipe's value.
RECIPE_FIELDS = {
    "head_epochs": (
        "--head-epochs",
        {
            "type": click.IntRange(min=0),
            "help": "First epochs that train only the classifier, the backbone frozen (finetune: 3).",
        },
    ),
    "head_lr": (
        "--head-lr",
        {"type": click.FloatRange(min=0, min_open=True), "help": "Peak lr of the head-only epochs."},
    ),
    "frozen_bn": (
        "--frozen-bn/--no-frozen-bn",
        {"default": None, "help": "Keep BatchNorm in inference mode throughout (finetune: on)."},
    ),
    "epochs": ("--epochs", {"type": click.IntRange(min=1), "help": "Training epochs (instead of --steps)."}),
    "steps": ("--steps", {"type": click.IntRange(min=1), "help": "Training iterations, rounded to whole epochs."}),
    "batch_size": ("--batch-size", {"type": click.IntRange(min=1), "help": "Global batch size."}),
    "lr": ("--lr", {"type": click.FloatRange(min=0, min_open=True), "help": "Peak learning rate."}),
    "schedule": ("--schedule", {"type": click.Choice(recipes.SCHEDULES), "help": "step (paper), cosine or onecycle."}),
    "decay": ("--decay", {"type": float, "help": "Step schedule: lr multiplier at each boundary."}),
    "momentum": ("--momentum", {"type": float, "help": "SGD momentum."}),
    "nesterov": ("--nesterov/--no-nesterov", {"default": None, "help": "Nesterov momentum."}),
    "weight_decay": (
        "--weight-decay",
        {"type": click.FloatRange(min=0), "help": "Weight decay, PyTorch semantics (coupled, through momentum)."},
    ),
    "warmup_steps": ("--warmup-steps", {"type": click.IntRange(min=0), "help": "Warm-up iterations."}),
    "warmup_lr": ("--warmup-lr", {"type": float, "help": "Warm-up learning rate (start of the ramp)."}),
    "augment": (
        "--augment",
        {"type": click.Choice(recipes.AUGMENTATIONS), "help": "Augmentation (default: recipe's)."},
    ),
    "holdout": ("--holdout", {"type": click.IntRange(min=0), "help": "Training images held out for validation."}),
    "seed": ("--seed", {"type": int, "help": "Seed of initialisation, shuffling and augmentation."}),
}


def recipe_options(*fields: str):
    """The options of these recipe fields (`RECIPE_FIELDS`), in this order; read back with `given(*fields)`."""
    return lambda func: _options(func, [click.option(RECIPE_FIELDS[f][0], f, **RECIPE_FIELDS[f][1]) for f in fields])


def distill_options(func):
    """--teacher, --teacher-weights, --distill-temperature, --distill-alpha: knowledge distillation
    (`keras_resnet.training.distill`), the keywords of `fit` and `prune` of the same names."""
    return _options(
        func,
        [
            click.option(
                "--teacher",
                help="Distil from this trained model: a .keras file, or a registered name with --teacher-weights. "
                "It must classify the data's classes at the student's input size.",
            ),
            click.option(
                "--teacher-weights", help="The teacher's weights when it is a name: published (cifar10, ...) or a file."
            ),
            click.option(
                "--distill-temperature",
                type=float,
                default=distill.TEMPERATURE,
                show_default=True,
                help="Temperature of the teacher's and the student's soft targets (positive).",
            ),
            click.option(
                "--distill-alpha",
                type=float,
                default=distill.ALPHA,
                show_default=True,
                help="Weight of the teacher's term in the loss, in [0, 1]; the labels' weighs 1 - alpha.",
            ),
        ],
    )


def mixed_precision_option():
    return click.option(
        "--mixed-precision",
        type=click.Choice(MIXED_PRECISION),
        default=MIXED_PRECISION[0],
        show_default=True,
        help="auto: bfloat16 where the hardware has it natively.",
    )


def builder_arguments(options: dict) -> dict:
    """Builder keywords from the model options a user set: `input_size` becomes `input_shape`."""
    options = dict(options)
    if "input_size" in options:
        size = options.pop("input_size")
        options["input_shape"] = (size, size, 3)
    return options


def out_dir(out, model_path) -> str:
    """`--out`, created if needed (refused first if it could not be); the model's own folder when not given."""
    directory = os.path.abspath(out) if out else os.path.dirname(os.path.abspath(model_path))
    check_directory(directory)
    os.makedirs(directory, exist_ok=True)
    return directory


# Options that several commands take, declared once with one help text. Each is a decorator; a command
# that needs other words for one (a default, `required`) passes them as keywords.
SOURCE_FORMS = "folder:PATH, npz:PATH or tfds:NAME[:SPLIT]"


def json_option():
    """`--json`: print what the command's Python function returns instead of the summary for people."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print the JSON report (what the Python function returns) instead of a summary.",
    )


def unsafe_load_option():
    """`--unsafe-load`: allow Lambda layers in a Keras model file, whose code then runs."""
    return click.option(
        "--unsafe-load",
        is_flag=True,
        help="Allow Lambda layers in a Keras model file (runs its code: only for files you trust).",
    )


def weights_option(**kwargs):
    """`--weights NAME|FILE` for a registered model name."""
    return click.option(
        "--weights",
        help="For a registered model name: published weights (imagenet, imagenet-v2, "
        "cifar10; downloaded once into ~/.keras/models) or a weights file.",
        **kwargs,
    )


def input_size_option(**kwargs):
    """`--input-size N`: the square input side."""
    return click.option(
        "--input-size", type=click.IntRange(min=1), help="Square input side (default: the model's).", **kwargs
    )


def data_option(role: str, **kwargs):
    """`--data SOURCE`; `role` says what the command reads from it and which split."""
    return click.option("--data", help=f"{role}: {SOURCE_FORMS}.", **kwargs)


def limit_option(**kwargs):
    """`--limit N`: at most N images, class-balanced."""
    return click.option(
        "--limit", type=click.IntRange(min=1), help="At most this many images (class-balanced).", **kwargs
    )


def strip_option():
    """--strip: `strip=True` of convert, micro and firmware (`keras_resnet.lite.strip`)."""
    return click.option(
        "--strip",
        is_flag=True,
        help="Leave out what a microcontroller never reads: tensor names, signatures, metadata (the class "
        "names stay in the .json sidecar).",
    )


def c_name_option():
    """`--name`: the C name of a model in generated sources."""
    return click.option("--name", help="C name of the model (default: the file name), prefix of the generated files.")
