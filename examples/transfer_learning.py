"""Transfer learning on your own images: a pretrained ResNet-18, fine-tuned, converted to int8 and benchmarked.

    .venv/bin/python examples/transfer_learning.py --weights imagenet --data folder:MY_IMAGES

`--weights imagenet` (the default) is torchvision's ImageNet ResNet-18, `resnet18-f37072fd.pth`, downloaded
once into `~/.keras/models/` (`$KERAS_HOME/models/`; without network, put the file there by hand). It may
also be a checkpoint you have: a timm `model.safetensors`, or a `.weights.h5` written by
`resnet-tflite weights convert`. `MY_IMAGES` holds one folder of JPEG/PNG images per class
(`MY_IMAGES/<class>/*.jpg`, a tenth held out for testing), or `MY_IMAGES/train/<class>` and
`MY_IMAGES/test/<class>`. The same training as a command:

    resnet-tflite train resnet18 --weights imagenet --data folder:MY_IMAGES --recipe finetune \\
        --input-size 96 --epochs 5 --head-epochs 2 --out runs/transfer

Steps: (1) fine-tune with the finetune recipe, a new classifier for your classes: the first epochs train
the classifier alone on the frozen pretrained backbone, the rest the whole network at a lower lr
(crash-safe: rerun the same command after a kill and it resumes); (2) convert the best model to float32
and full-integer int8 TFLite, calibrated on training images; (3) benchmark both with the device harness,
latency and top-1 on the test images. Everything lands in --out, with `summary.json`.

The defaults suit a 2-core CPU: 96x96 inputs (ResNet-18 at 224x224 costs 5.4x the MACs per image) and
2 + 3 epochs; a machine with a GPU can afford `--input-size 224 --epochs 10 --head-epochs 3`.
"""

import argparse
import json
import os

import numpy as np

import keras_resnet
from keras_resnet import sources
from keras_resnet.device import harness
from keras_resnet.errors import cli_errors
from keras_resnet.files import atomic_path, write_text


def labelled_images(source: str, split: str, size: int, limit: int) -> sources.Images:
    """Class-balanced images of a split, resized to the model's input (what a device's camera code does)."""
    return sources.load(source, split, limit=limit, size=(size, size))


@cli_errors  # a mistake, or no network for the download, is one line
def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--weights",
        default="imagenet",
        help="published weights (imagenet) or a checkpoint (.pth, .safetensors, .weights.h5)",
    )
    parser.add_argument("--data", required=True, help="folder:PATH with one sub-folder of images per class")
    parser.add_argument("--out", default="runs/transfer", help="run directory (a new one, or an interrupted one)")
    parser.add_argument("--model", default="resnet18", help="the checkpoint's architecture")
    parser.add_argument("--input-size", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--head-epochs", type=int, default=2, help="first epochs with the backbone frozen")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--calib-samples", type=int, default=200)
    parser.add_argument("--test-images", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=50, help="timed inferences per model")
    args = parser.parse_args()

    # 1. Fine-tune: the checkpoint's backbone, a new head for the folder's classes, two phases.
    resume = os.path.exists(os.path.join(args.out, "config.json"))
    metrics = keras_resnet.fit(
        args.model,
        args.data,
        args.out,
        "finetune",
        resume=resume,
        weights=args.weights,
        input_size=args.input_size,
        epochs=args.epochs,
        head_epochs=args.head_epochs,
        batch_size=args.batch_size,
    )
    print(
        f"fine-tuned in {metrics['train_seconds']} s: test top-1 {metrics['best']['top1']:.4f} (best epoch "
        f"{metrics['best']['epoch']})"
    )

    # 2. float32 and full-integer int8 TFLite (int8 calibrated on training images); each file carries the
    # folder's class names (the run's classes.txt) and its input quantization.
    paths = {}
    for mode in ("float32", "int8"):
        paths[mode] = os.path.join(args.out, f"{args.model}_{mode}.tflite")
        keras_resnet.convert(
            os.path.join(args.out, "best.keras"),
            paths[mode],
            mode=mode,
            calib=args.data if mode == "int8" else None,
            calib_samples=args.calib_samples,
        )

    # 3. The device harness on this machine: float32 and int8 interleaved, latency and top-1 on test images.
    test = labelled_images(args.data, "test", args.input_size, args.test_images)
    test_npz = os.path.join(args.out, f"test_{args.input_size}.npz")
    with atomic_path(test_npz, suffix=".npz") as tmp:
        np.savez(tmp, x=test.x, y=test.y, classes=np.array(test.classes))
    result = harness.run(list(paths.values()), harness.Settings(runs=args.runs, data=f"npz:{test_npz}", limit=None))
    summary = {"train": metrics, "tflite": {}}
    for mode, row in zip(paths, result["results"]):
        summary["tflite"][mode] = {
            "bytes": os.path.getsize(paths[mode]),
            "p50_ms": row["latency_ms"]["p50"],
            "top1": row["accuracy"]["top1"],
            "images": row["accuracy"]["images"],
        }
        print(
            f"{mode:>7}: {summary['tflite'][mode]['bytes']:,} bytes, p50 {row['latency_ms']['p50']:.2f} ms, "
            f"top-1 {row['accuracy']['top1']:.4f} on {row['accuracy']['images']} test images"
        )
    write_text(os.path.join(args.out, "summary.json"), json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
