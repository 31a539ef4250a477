"""How far apart the two image paths are: TensorFlow's and Pillow's decoding and bilinear resizing.

    .venv/bin/python tools/compare_resize.py --data folder:.cache/cifar10-jpg --images 1000

Every command reads images through Pillow (`keras_resnet.sources.decode`: decode, convert to the model's
channels, bilinear resize to the model's input): calibration, verification, evaluation, the device harness
and training's in-memory images. Only training from files decoded on the fly (ImageNet-sized images, random
crops) goes through TensorFlow (`tf.io.decode_image`, `tf.image.resize(bilinear, antialias=True)`). This
script decodes the same files both ways at each size and prints the mean and largest absolute difference in
pixel values (0-255) and the share of values more than 1 apart, for the whole path and for the resizing
alone (TensorFlow resizing Pillow's decoded pixels): CIFAR-10 (JPEG) test images at their own size (the
decoders alone), shrunk and enlarged, and scikit-learn's two bundled photographs (427x640) shrunk to network
sizes.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np
import tensorflow as tf

from keras_resnet import sources
from keras_resnet.training.data import decode_image

SIZES = (None, 24, 64, 224)


def tensorflow_path(path: str, size: int | None) -> np.ndarray:
    return decode_image(tf.io.read_file(path), size).numpy()


def pillow_path(path: str, size: int | None) -> np.ndarray:
    return sources.decode(path, (size, size) if size else None)


def resize_alone(path: str, size: int | None) -> np.ndarray:
    """Pillow's decoded pixels resized by TensorFlow: the interpolation's share of the difference."""
    pixels = sources.decode(path)
    if size is None:
        return pixels
    resized = tf.image.resize(pixels, [size, size], antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8).numpy()


def differences(first, second, files: list[str], size: int | None) -> str:
    diffs = np.concatenate([np.abs(first(f, size).astype(int) - second(f, size).astype(int)).ravel() for f in files])
    return f"{diffs.mean():.3f} | {diffs.max()} | {np.mean(diffs > 1):.2%}"


def row(what: str, files: list[str], size: int | None) -> str:
    return (
        f"| {what} | {size or 'own (32)'} | {differences(tensorflow_path, pillow_path, files, size)} "
        f"| {differences(resize_alone, pillow_path, files, size)} |"
    )


def photographs(folder: str) -> list[str]:
    """scikit-learn's bundled sample photographs written as JPEG files (quality 95)."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    paths = []
    for i, image in enumerate(load_sample_images().images):
        paths.append(os.path.join(folder, f"photo{i}.jpg"))
        Image.fromarray(image).save(paths[-1], quality=95)
    return paths


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="folder:.cache/cifar10-jpg")
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args()
    files, labels, _ = sources.list_folder(sources.parse(args.data).location, "test")
    files = [files[i] for i in sources.select(labels, args.images, 0)]
    print(
        "| images | size | decode + resize: mean abs difference | largest | more than 1 apart "
        "| resize alone: mean | largest | more than 1 apart |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    for size in SIZES:
        print(row(f"{len(files)} CIFAR-10 (JPEG) test", files, size), flush=True)
    with tempfile.TemporaryDirectory() as folder:
        photos = photographs(folder)
        for size in (224, 64, 32):
            print(row(f"{len(photos)} photographs 427x640", photos, size), flush=True)


if __name__ == "__main__":
    main()
