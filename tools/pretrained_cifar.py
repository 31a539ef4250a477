"""The published CIFAR ResNets (weights="cifar10") on CIFAR-10 (JPEG): float and int8 top-1, int8 agreement.

    .venv/bin/python tools/pretrained_cifar.py --json pretrained_cifar.json

For ResNet-20/32/44/56 with akamaster/pytorch_resnet_cifar10's weights (downloaded once into
`$KERAS_HOME/models/`, or put there by hand): top-1 of the Keras model (float32) and of its full-integer int8
TFLite conversion (calibrated on `--calib-samples` class-balanced training images) on every test image of
`--data` (default: the CIFAR-10 (JPEG) tree in .cache/), and how often the int8 model's top-1 class agrees
with the float one's. Beside them, the test error that repository publishes for each net on the original
CIFAR-10: theirs, on other images (raw, not JPEG), so not a figure to compare ours with as if equal.

Prints a Markdown table; writes the rows and the settings to `--json`.
"""

from __future__ import annotations

import argparse
import sys

from bench_models import cifar_folder

DEPTHS = (20, 32, 44, 56)


def measure(depth: int, data: str, calib_samples: int, test) -> dict:
    """One row: the model with weights="cifar10", converted to int8, both evaluated on `test`."""
    from keras_resnet.export import convert
    from keras_resnet.models.builders import create_model
    from keras_resnet.models.pretrained import resolve
    from keras_resnet.models.profiler import profile
    from keras_resnet.models.specs import get_spec

    name = f"resnet{depth}"
    model = create_model(name, weights="cifar10")
    calibration = convert.calibration_data(data, convert.model_input_shape(model), calib_samples)
    tflite = convert.convert_keras(model, "int8", convert.representative_from(calibration.x))
    result = convert.verify(model, tflite, test)
    published = resolve("cifar10", get_spec(name), {})
    return {
        "model": name,
        "params": profile(model)["trainable_params"],
        "published_top1": published.top1,
        "float_top1": result["keras"]["top1"],
        "int8_top1": result["tflite"]["top1"],
        "agreement_top1": result["agreement_top1"],
        "int8_bytes": len(tflite),
        "images": len(test.y),
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| model | trainable params | float top-1, CIFAR-10 (JPEG) | int8 top-1, CIFAR-10 (JPEG) "
        "| int8 agrees with float | int8 file | their published test error (raw CIFAR-10) |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        lines.append(
            f"| ResNet-{row['model'].removeprefix('resnet')} | {row['params'] / 1e6:.2f}M "
            f"| {100 * row['float_top1']:.2f}% | {100 * row['int8_top1']:.2f}% "
            f"| {100 * row['agreement_top1']:.2f}% | {row['int8_bytes'] / 1024:,.0f} KiB "
            f"| {100 - row['published_top1']:.2f}% |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder:, npz: or tfds: source (default: .cache/cifar10-jpg)")
    parser.add_argument("--calib-samples", type=int, default=300)
    parser.add_argument("--depths", default=",".join(map(str, DEPTHS)))
    parser.add_argument("--json", help="write the rows and settings here")
    args = parser.parse_args(argv)
    from keras_resnet.files import write_json
    from keras_resnet.training.datasets import load

    data = args.data or f"folder:{cifar_folder()}"
    test = load(data, "test", size=(32, 32))
    rows = []
    for depth in map(int, args.depths.split(",")):
        rows.append(measure(depth, data, args.calib_samples, test))
        print(f"resnet{depth}: {rows[-1]}", file=sys.stderr, flush=True)
    print(table(rows))
    if args.json:
        write_json(args.json, {"data": data, "calib_samples": args.calib_samples, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
