"""Train a CIFAR ResNet on real images and take it to int8 TFLite, the Edge TPU and a microcontroller, in Python.

    .venv/bin/python examples/cifar10_train_and_deploy.py --data folder:.cache/cifar10-jpg --out runs/example
    .venv/bin/python examples/cifar10_train_and_deploy.py --data tfds:cifar10 --epochs 50 --out runs/r20

`--data` is any source: `folder:PATH` (PATH/train/<class>/*.jpg and PATH/test/<class>/*.jpg, e.g. the
CIFAR-10 (JPEG) archive extracted with `tar xzf ../shared/data/cifar10-jpg.tar.gz -C .cache/cifar10-jpg`),
`npz:PATH` or `tfds:cifar10` (prepared locally with tensorflow-datasets). With the defaults (ResNet-20, 15
epochs) training takes about 25 minutes on a 2-core AVX512-BF16 CPU; `tools/train_cifar10.sh` is the
50-epoch run whose result docs/results/training.md quotes. The same steps as commands: `make demo` prints them.
"""

import argparse
import json
import os

import keras_resnet
from keras_resnet.device import harness
from keras_resnet.files import read_bytes
from keras_resnet.lite import edgetpu, flatbuffer, micro


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder:PATH, npz:PATH or tfds:NAME")
    parser.add_argument("--out", required=True, help="run directory (a new one, or an interrupted one)")
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--verify-images", type=int, default=1000)
    args = parser.parse_args()

    # 1. Train: crash-safe (rerun the same command after a kill: it resumes), progress on the console.
    resume = os.path.exists(os.path.join(args.out, "config.json"))
    metrics = keras_resnet.fit(
        args.model,
        args.data,
        args.out,
        "cifar",
        resume=resume,
        epochs=args.epochs,
        schedule="onecycle",
        lr=0.2,
        nesterov=True,
        weight_decay=5e-4,
    )
    print(f"trained: test top-1 {metrics['last']['top1']:.4f}")

    # 2. Full-integer int8, calibrated on training images, verified against Keras on test images; the file
    # carries its metadata (input quantization, the class names of the run's classes.txt, preprocessing).
    path = os.path.join(args.out, f"{args.model}_int8.tflite")
    converted = keras_resnet.convert(
        os.path.join(args.out, "last.keras"),
        path,
        mode="int8",
        calib=args.data,
        calib_samples=300,
        verify=args.data,
        limit=args.verify_images,
    )
    check = converted["verification"]
    tflite = read_bytes(path)
    print(
        f"int8: {converted['bytes']:,} bytes, classes {', '.join(converted['classes'][:3])}, ...; top-1 Keras "
        f"{check['keras']['top1']:.4f} vs TFLite {check['tflite']['top1']:.4f}, agreement "
        f"{check['agreement_top1']:.4f}"
    )

    # 3. Does it map to the Edge TPU? (the compiler itself: `resnet-tflite edgetpu FILE`)
    report = edgetpu.preflight(flatbuffer.read(tflite))
    print(f"Edge TPU: {report['operations_edgetpu']}/{report['operations']} operations mapped")

    # 4. TFLite-Micro: C sources and the tensor arena measured in the TFLM interpreter.
    exported = micro.export(tflite, args.out, args.model)
    print(
        f"TFLite-Micro: flash {exported['flash_bytes']:,} bytes, arena {exported['arena']['recommended_bytes']:,}"
        f" bytes; fits: {', '.join(b['board'] for b in exported['boards'] if b['fits']) or 'none listed'}"
    )

    # 5. Latency and on-device accuracy with the benchmark harness (the same code runs on a Raspberry Pi).
    result = harness.run([path], harness.Settings(runs=100, data=args.data, limit=args.verify_images))
    row = result["results"][0]
    print(f"LiteRT: p50 {row['latency_ms']['p50']:.3f} ms, top-1 {row['accuracy']['top1']:.4f}")
    print(json.dumps({"train": metrics["last"], "int8": check["tflite"]}, indent=2))


if __name__ == "__main__":
    main()
