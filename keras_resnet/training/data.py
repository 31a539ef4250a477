"""tf.data pipelines for training and evaluation, built on the listings of `keras_resnet.sources`.

A split is first *listed* (`sources.scan`, before TensorFlow starts: file paths, or decoded uint8
images, and labels), then turned into an input pipeline: `train_dataset` (shuffled, augmented on the fly, parallel,
prefetched, endless) or
`eval_dataset` (one ordered pass). Pipelines yield float32 pixels in 0-255: normalisation lives in the
model (its "preprocess" layer), so an exported model takes raw pixels.

Randomness is stateless: the shuffle of epoch `e` and the augmentation of the k-th example are functions
of (seed, e, k) only, so a run resumed at epoch `e` sees exactly the images and crops it would have seen.

Augmentations (He et al. 2016):
- "cifar": 4-pixel zero padding, random 32x32 crop, horizontal flip (Section 4.2). Small images are
  decoded once into memory, then augmented every epoch.
- "imagenet": scale augmentation (shorter side uniform in [256, 480], scaled to the input size), random
  crop, flip, colour jitter and AlexNet's PCA lighting (Section 3.4); evaluation resizes the shorter side
  to 256 and takes the centre 224 crop. Files are read and decoded on the fly.
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from keras_resnet import sources
from keras_resnet.errors import UserError, say
from keras_resnet.sources import Listing
from keras_resnet.training import datasets

AUTOTUNE = tf.data.AUTOTUNE
EVAL_RESIZE = 256 / 224  # ImageNet evaluation: shorter side 256 for a 224 crop
SCALE_RANGE = (256 / 224, 480 / 224)  # ImageNet scale augmentation, as multiples of the crop
# AlexNet's PCA lighting on ImageNet RGB (0-1 units), as in fb.resnet.torch, which the paper's models used.
PCA_EIGVAL = (0.2175, 0.0188, 0.0045)
PCA_EIGVEC = ((-0.5675, 0.7192, 0.4009), (-0.5808, -0.0045, -0.8140), (-0.5836, -0.6948, 0.4203))
LIGHTING_STD = 0.1
COLOUR_JITTER = 0.4  # brightness, contrast and saturation
STATS_SAMPLE = 500  # images decoded to estimate per-channel mean and std of a file listing


def list_split(source, split: str, size: int | None = None) -> Listing:
    """One split of a source as the pipeline reads it: `sources.scan`, then `listing_for`."""
    return listing_for(sources.scan(source, split), source, split, size)


def listing_for(listing: Listing | None, source, split: str, size: int | None) -> Listing:
    """What the pipeline reads of one split, from `sources.scan`'s listing: a tfds split (None) streamed or
    decoded, a folder's files decoded into memory at size x size when `size` is given (small images), an
    npz's images resized to it."""
    source = sources.parse(source) if isinstance(source, str) else source
    if listing is None and size is None:
        return _tfds_stream(source, split)
    if listing is None:
        images = datasets.load(source, split, size=(size, size))
        return Listing(labels=images.y, classes=images.classes, images=images.x)
    if size is None:
        return listing
    if listing.files is not None:
        decoded = _decode_all(listing, size)
        if not len(decoded):
            raise sources.no_readable_images(source, split, len(listing.files))
        return decoded
    return Listing(
        labels=listing.labels,
        classes=listing.classes,
        images=sources.fitted(listing.images, (size, size)),
        skipped=listing.skipped,
    )


def _tfds_stream(source, split: str) -> Listing:
    """A tensorflow-datasets split read on the fly (ImageNet-sized data); "test" falls back to "validation"."""
    builder = datasets.builder(source)
    name = source.split if source.split and split == "train" else split
    if name == "test" and "test" not in builder.info.splits:
        name = "validation"
    count = builder.info.splits[name].num_examples
    say(f"Streaming {count} {name} images of {source} from {builder.data_dir} ...")
    stream = builder.as_dataset(split=name, as_supervised=True, shuffle_files=split == "train")
    return Listing(labels=np.zeros(count, np.int64), classes=list(builder.info.features["label"].names), stream=stream)


def decode_image(contents, size: int | None):
    """Encoded JPEG/PNG/BMP/GIF bytes -> uint8 RGB (grayscale expanded), resized to size x size if given: the
    pipeline's decoding of files read on the fly (`sources.decode` decodes everything else)."""
    image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    if size is None:
        return image
    resized = tf.image.resize(image, [size, size], antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def _decode_all(listing: Listing, size: int) -> Listing:
    """Decode every file of a listing into memory at size x size, as every other command decodes images
    (`sources.decode`: calibration sees what training saw); failures are skipped."""
    say(f"Decoding {len(listing)} images into memory at {size}x{size} (once per run) ...")
    images, index = sources.decode_all(listing.files, (size, size))
    failed = np.setdiff1d(np.arange(len(listing)), index)
    return Listing(
        labels=listing.labels[index],
        classes=listing.classes,
        images=images,
        skipped=listing.skipped + [str(f) for f in listing.files[failed]],
    )


def holdout(listing: Listing, count: int, seed: int = 0) -> tuple[Listing, Listing]:
    """(train, validation): `count` examples held out of a training listing, chosen by a seeded shuffle."""
    if not 0 < count < len(listing):
        raise UserError(f"holdout must be between 1 and {len(listing) - 1} images. Received: holdout={count}")
    order = np.random.default_rng(seed).permutation(len(listing))
    return listing.subset(np.sort(order[count:])), listing.subset(np.sort(order[:count]))


def channel_stats(listing: Listing) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (mean, std) of a training listing in 0-255 units, for the model's preprocess layer."""
    if listing.images is not None:
        sample = listing.images[:: max(1, len(listing) // 10000)]
    else:
        pick = np.random.default_rng(0).permutation(len(listing))[:STATS_SAMPLE]
        sample = [sources.decode(str(listing.files[i])) for i in pick]
        sample = np.concatenate([im.reshape(-1, 3) for im in sample])
    pixels = np.asarray(sample, np.float64).reshape(-1, 3)
    return (
        tuple(round(float(v), 3) for v in pixels.mean(0)),
        tuple(round(max(float(v), 1.0), 3) for v in pixels.std(0)),
    )


# --- augmentation ---------------------------------------------------------------------------------------


def cifar_augment(image, size: int, seed):
    """Paper Section 4.2: pad by size/8 (4 for 32x32) with zeros, random size x size crop, random flip."""
    seeds = tf.random.experimental.stateless_split(seed, 2)
    pad = size // 8
    image = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
    image = tf.image.stateless_random_crop(image, [size, size, 3], seed=seeds[0])
    image = tf.image.stateless_random_flip_left_right(image, seed=seeds[1])
    return tf.cast(image, tf.float32)


def _resize_shorter(image, shorter):
    """Resize so that the shorter side is `shorter` pixels (float32 out), keeping the aspect ratio."""
    hw = tf.cast(tf.shape(image)[:2], tf.float32)
    new = tf.cast(tf.round(hw * tf.cast(shorter, tf.float32) / tf.reduce_min(hw)), tf.int32)
    return tf.image.resize(tf.cast(image, tf.float32), new, antialias=True)


def imagenet_augment(image, size: int, seed):
    """Paper Section 3.4: scale augmentation, random crop, flip, colour jitter and PCA lighting."""
    seeds = tf.random.experimental.stateless_split(seed, 7)
    low, high = size * SCALE_RANGE[0], size * SCALE_RANGE[1]
    shorter = tf.random.stateless_uniform([], seeds[0], low, high)
    image = _resize_shorter(image, shorter)
    image = tf.image.stateless_random_crop(image, [size, size, 3], seed=seeds[1])
    image = tf.image.stateless_random_flip_left_right(image, seed=seeds[2])
    image = image / 255.0
    image = tf.image.stateless_random_brightness(image, COLOUR_JITTER, seed=seeds[3])
    image = tf.image.stateless_random_contrast(image, 1 - COLOUR_JITTER, 1 + COLOUR_JITTER, seed=seeds[4])
    image = tf.image.stateless_random_saturation(image, 1 - COLOUR_JITTER, 1 + COLOUR_JITTER, seed=seeds[5])
    alpha = tf.random.stateless_normal([3], seeds[6], stddev=LIGHTING_STD)
    image = image + tf.linalg.matvec(tf.constant(PCA_EIGVEC), alpha * tf.constant(PCA_EIGVAL))
    return tf.clip_by_value(image * 255.0, 0.0, 255.0)


def centre_crop(image, size: int):
    """ImageNet evaluation: shorter side to size*256/224, then the central size x size crop."""
    image = _resize_shorter(image, round(size * EVAL_RESIZE))
    hw = tf.shape(image)[:2]
    top, left = (hw[0] - size) // 2, (hw[1] - size) // 2
    return image[top : top + size, left : left + size]


AUGMENT = {
    "cifar": cifar_augment,
    "imagenet": imagenet_augment,
    "none": lambda image, size, seed: _fixed_size(image, size),
}


def _fixed_size(image, size):
    image = tf.cast(image, tf.float32)
    return tf.image.resize(image, [size, size]) if image.shape[0] != size else image


# --- pipelines ------------------------------------------------------------------------------------------


def _loader(listing: Listing):
    """index -> uint8 image tensor: a slice of the in-memory images, or the file read and decoded."""
    if listing.images is not None:
        images = tf.constant(listing.images)
        return lambda i: tf.gather(images, i)
    files = tf.constant(listing.files.astype(str))
    return lambda i: decode_image(tf.io.read_file(tf.gather(files, i)), None)


def train_dataset(
    listing: Listing,
    augment: str,
    size: int,
    batch_size: int,
    seed: int = 0,
    start_epoch: int = 0,
    context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """Endless (image, label) batches: epoch after epoch from `start_epoch`, each a fresh permutation.

    `batch_size` is global; under tf.distribute (`context`) each input pipeline takes its shard and
    its per-replica batch. Epoch boundaries fall every len(listing) // batch_size steps.
    """
    n = len(listing)
    transform = AUGMENT[augment]
    if listing.stream is not None:
        return _stream_dataset(listing, transform, size, batch_size, seed, start_epoch, context)
    load, labels = _loader(listing), tf.constant(listing.labels)

    def epoch(e):
        order = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=tf.stack([seed, e]))
        return tf.data.Dataset.zip(tf.data.Dataset.from_tensor_slices(order), tf.data.Dataset.range(e * n, (e + 1) * n))

    def example(i, counter):
        return transform(load(i), size, tf.stack([tf.constant(seed, tf.int64), counter])), tf.gather(labels, i)

    ds = tf.data.Dataset.range(start_epoch, 2**40).flat_map(epoch)
    if context is not None:
        ds = ds.shard(context.num_input_pipelines, context.input_pipeline_id)
        batch_size = context.get_per_replica_batch_size(batch_size)
    ds = ds.map(example, num_parallel_calls=AUTOTUNE)
    if listing.files is not None:
        ds = ds.ignore_errors(log_warning=True)  # a file that passed the header check but fails to decode
    return ds.batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE)


def _stream_dataset(listing, transform, size, batch_size, seed, start_epoch, context):
    """train_dataset for a streamed tfds split: a shuffle buffer reseeded per epoch, stateless crops."""
    n = len(listing)
    ds = tf.data.Dataset.range(start_epoch, 2**40).flat_map(
        lambda e: listing.stream.shuffle(10_000, seed=seed * 1_000_003 + e).enumerate(e * n)
    )
    if context is not None:
        ds = ds.shard(context.num_input_pipelines, context.input_pipeline_id)
        batch_size = context.get_per_replica_batch_size(batch_size)
    ds = ds.map(
        lambda k, xy: (transform(xy[0], size, tf.stack([tf.constant(seed, tf.int64), k])), xy[1]),
        num_parallel_calls=AUTOTUNE,
    )
    return ds.batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE)


def eval_dataset(listing: Listing, augment: str, size: int, batch_size: int) -> tf.data.Dataset:
    """One ordered pass of (image, label) batches: centre crops for ImageNet-style data, else as is."""
    view = centre_crop if augment == "imagenet" else _fixed_size
    if listing.stream is not None:
        ds = listing.stream.map(lambda x, y: (view(x, size), y), num_parallel_calls=AUTOTUNE)
    else:
        load, labels = _loader(listing), tf.constant(listing.labels)
        ds = tf.data.Dataset.range(len(listing)).map(
            lambda i: (view(load(i), size), tf.gather(labels, i)), num_parallel_calls=AUTOTUNE
        )
    if listing.files is not None:
        ds = ds.ignore_errors(log_warning=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.batch(batch_size).prefetch(AUTOTUNE).with_options(options)


def images_per_second(ds: tf.data.Dataset, batches: int = 50) -> float:
    """Throughput of a pipeline alone (after one warm-up batch), for the benchmark."""
    iterator = iter(ds)
    next(iterator)
    start, count = time.perf_counter(), 0
    for _ in range(batches):
        count += int(next(iterator)[0].shape[0])
    return count / (time.perf_counter() - start)
