"""Training throughput on CIFAR-10 (JPEG): our pipeline + fit against a plain Keras fit on NumPy arrays.

For each model: the input pipeline alone (decoded images, augmentation, batching), our training step fed
by it, and `model.fit` of the same net on in-memory arrays (no augmentation) with the same dtype policy
and batch. Ours and the baseline alternate epoch by epoch (--rounds) and their medians are compared. The
pipeline should run at >= 3x the model; ours should be at least as fast as the baseline.

    python tools/bench_train.py --data folder:.cache/cifar10-jpg            # full train split, 60 steps
    python tools/bench_train.py --images 2000 --steps 5 --models resnet8    # a quick check
"""

from __future__ import annotations

import argparse
import json
import time

import keras
import numpy as np

from keras_resnet.device.sysinfo import cpu_flags
from keras_resnet.models.builders import create_model
from keras_resnet.training import data, recipes
from keras_resnet.training.hardware import MIXED_PRECISION, choose_policy
from keras_resnet.training.networks import training_copy
from keras_resnet.training.optimizer import compile_model


def seconds(run) -> float:
    """Wall time of one call of `run`."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def bench(name: str, listing: data.Listing, policy: str, batch: int, steps: int, rounds: int) -> dict:
    """Pipeline, ours and baseline images/s for one model; ours and the baseline alternate for `rounds`
    rounds (so that other load on the machine hits both alike) and the medians are reported."""
    plan = recipes.resolve("cifar", epochs=1, batch_size=batch)
    pipeline = data.train_dataset(listing, "cifar", 32, batch)
    row = {
        "model": name,
        "policy": policy,
        "batch": batch,
        "rounds": rounds,
        "pipeline": data.images_per_second(pipeline, max(steps, 20)),
    }

    export = create_model(name, classes=10, preprocess="cifar10")
    ours = training_copy(export, policy)
    compile_model(ours, plan, 10 * (rounds + 1) * steps)
    ours.fit(pipeline, steps_per_epoch=5, epochs=1, verbose=0, shuffle=False)  # traces and warms up

    keras.config.set_dtype_policy(policy)
    try:
        plain = create_model(name, classes=10, preprocess="cifar10")
    finally:
        keras.config.set_dtype_policy("float32")
    plain.compile(keras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = listing.images[: steps * batch].astype("float32")
    y = listing.labels[: steps * batch]
    plain.fit(x[: 5 * batch], y[: 5 * batch], batch_size=batch, epochs=1, verbose=0)

    epochs = {
        "ours": lambda: ours.fit(pipeline, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False),
        "baseline_numpy_fit": lambda: plain.fit(x, y, batch_size=batch, epochs=1, verbose=0),
    }
    samples = {key: [] for key in epochs}
    for _ in range(rounds):
        for key, run in epochs.items():
            samples[key].append(steps * batch / seconds(run))
    row.update({key: float(np.median(values)) for key, values in samples.items()})
    row["samples"] = {key: [round(v, 1) for v in values] for key, values in samples.items()}
    row["ours_over_baseline"] = row["ours"] / row["baseline_numpy_fit"]
    row["pipeline_over_model"] = row["pipeline"] / row["ours"]
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="folder:.cache/cifar10-jpg")
    parser.add_argument("--models", default="resnet20,resnet56")
    parser.add_argument("--images", type=int, help="Use only this many training images (quick checks).")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=60, help="Training steps per timed epoch.")
    parser.add_argument("--rounds", type=int, default=3, help="Timed epochs of each, alternating.")
    parser.add_argument("--mixed-precision", default="auto", choices=MIXED_PRECISION)
    args = parser.parse_args()
    listing = data.list_split(args.data, "train", 32)
    if args.images:
        listing = listing.subset(np.arange(min(args.images, len(listing))))
    steps = min(args.steps, len(listing) // args.batch_size)
    policy = choose_policy(args.mixed_precision)
    rows = [bench(name, listing, policy, args.batch_size, steps, args.rounds) for name in args.models.split(",")]
    print(
        json.dumps(
            {"images": len(listing), "steps": steps, "cpu_bf16": "avx512_bf16" in cpu_flags(), "results": rows},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
