"""`resnet-tflite`: the click group of every command of the package (`resnet-train` is another name for
`resnet-tflite train`). Each command lives in its own module, imported only when it runs, so `--help` is
instant and no command pays for another's imports (TensorFlow among them)."""

from __future__ import annotations

import importlib

import click

from keras_resnet.cli.options import CONTEXT, OneLineErrors

# command name -> "module:attribute", imported on first use: the one table of the package's commands
COMMANDS = {
    "list": "keras_resnet.cli.info:list_command",
    "info": "keras_resnet.cli.info:info",
    "train": "keras_resnet.cli.train:train",
    "convert": "keras_resnet.cli.convert:convert",
    "eval": "keras_resnet.cli.evaluate:evaluate",
    "bench": "keras_resnet.cli.bench:bench",
    "report": "keras_resnet.cli.report:report",
    "edgetpu": "keras_resnet.cli.edgetpu:edgetpu",
    "micro": "keras_resnet.cli.micro:micro",
    "firmware": "keras_resnet.cli.firmware:firmware",
    "prune": "keras_resnet.cli.prune:prune",
    "weights": "keras_resnet.cli.weights:weights",
    "compare-outputs": "keras_resnet.cli.compare:compare_outputs",
    "demo": "keras_resnet.cli.demo:demo",
}


class LazyGroup(OneLineErrors, click.Group):
    """A click group whose commands live in other modules, imported on first use."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attribute)


@click.group(cls=LazyGroup, context_settings=CONTEXT)
@click.version_option(package_name="resnet-tflite")
def main():
    """Every ResNet of He et al. 2016, from Keras to int8 TFLite, Edge TPU and microcontrollers."""
