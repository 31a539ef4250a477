"""Labelled image sources, one syntax everywhere: `folder:PATH`, `npz:PATH`, `tfds:NAME[:SPLIT]`.

Training, calibration, evaluation and the device benchmark all name data this way. This module needs only
NumPy and Pillow and reads `folder:` and `npz:` sources, so the device harness uses it without TensorFlow;
`keras_resnet.training.datasets` adds `tfds:` on the workstation, and tf.data pipelines for training
(`keras_resnet.training.data`) are built on the listings made here.

- `folder:PATH`: `PATH/<class>/*.jpg|png` (a held-out fraction becomes the test split, chosen by a
  stable hash of each file's path), or `PATH/train/<class>` + `PATH/test/<class>`. Classes are the
  sorted folder names.
- `npz:PATH`: arrays `x` (uint8, NHWC) and `y` (integers), optionally `classes`; or `x_train`, `y_train`,
  `x_test`, `y_test`. Loaded without pickle.
- `tfds:NAME[:SPLIT]`: a tensorflow-datasets dataset prepared in `TFDS_DATA_DIR` (or TFDS' default dir).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from keras_resnet.errors import UserError, say

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
SPLITS = ("train", "test")
VALIDATION_FRACTION = 0.1  # of a folder without train/ and test/, held out as its test split
PROGRESS_FILES = 1000  # checking this many image files takes long enough to say so
UNREADABLE = (OSError, ValueError, SyntaxError)  # what Pillow raises for a file it cannot read as an image


@dataclass(frozen=True)
class Source:
    kind: str  # "folder", "npz" or "tfds"
    location: str  # path, or tfds dataset name
    split: str | None = None  # tfds split named in the source string, e.g. "train[:10%]"

    def __str__(self):
        return f"{self.kind}:{self.location}" + (f":{self.split}" if self.split else "")


@dataclass
class Listing:
    """One split of a source for training: image `files` (decoded later) or decoded `images` (uint8 NHWC),
    their labels, the class names and the files skipped as unreadable; `stream` holds a tfds split that the
    training pipeline reads on the fly (`keras_resnet.training.data`)."""

    labels: np.ndarray
    classes: list[str]
    files: np.ndarray | None = None
    images: np.ndarray | None = None
    stream: object | None = None
    skipped: list[str] = field(default_factory=list)

    def __len__(self):
        return len(self.labels)

    def subset(self, index: np.ndarray) -> Listing:
        def pick(a):
            return None if a is None else a[index]

        if self.stream is not None:
            raise UserError(
                "a held-out split of a streamed tfds dataset needs a tfds split instead, e.g. tfds:NAME:train[:90%]"
            )
        return Listing(
            labels=self.labels[index],
            classes=self.classes,
            files=pick(self.files),
            images=pick(self.images),
            stream=None,
            skipped=self.skipped,
        )


@dataclass
class Images:
    """Decoded images of one split: x uint8 (N, H, W, 3), y int64 (N,), class names, and what was skipped."""

    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    skipped: list[str] = field(default_factory=list)

    def __len__(self):
        return len(self.y)


def parse(text: str) -> Source:
    """Parse a source string; a bare existing path is taken as folder: (or npz: for a .npz file)."""
    if not isinstance(text, str) or not text:
        raise UserError(f"A data source is folder:PATH, npz:PATH or tfds:NAME[:SPLIT]. Received: {text!r}")
    kind, _, rest = text.partition(":")
    if kind == "tfds":
        name, _, split = rest.partition(":")
        if not name:
            raise UserError(f"tfds: needs a dataset name, e.g. tfds:cifar10. Received: {text!r}")
        return Source("tfds", name, split or None)
    if kind in ("folder", "npz"):
        if not rest:
            raise UserError(f"{kind}: needs a path, e.g. {kind}:data/images. Received: {text!r}")
        return Source(kind, rest)
    if os.path.exists(text):
        return Source("npz" if text.endswith(".npz") else "folder", text)
    raise UserError(
        f"Unknown data source {text!r}: use folder:PATH, npz:PATH or tfds:NAME[:SPLIT] "
        f"(a bare path must exist). Received: {text!r}"
    )


def _class_dirs(path: str) -> list[str]:
    return sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)) and not d.startswith("."))


def _held_out(relative_path: str, fraction: float) -> bool:
    """Stable membership of the held-out split: the same file lands in the same split on every machine."""
    digest = hashlib.sha1(relative_path.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def _split_root(path: str, split: str) -> tuple[str, list[str], bool]:
    """(folder holding the split's class folders, class names, whether PATH has train/ and test/)."""
    if split not in SPLITS:
        raise UserError(f"split must be 'train' or 'test'. Received: split={split!r}")
    if not os.path.isdir(path):
        what = "is a file, not a folder" if os.path.exists(path) else "does not exist"
        raise UserError(
            f"Image folder {path} {what}: pass a folder of <class>/ subfolders of images. Received: folder:{path}"
        )
    has_splits = all(os.path.isdir(os.path.join(path, s)) for s in SPLITS)
    root = os.path.join(path, split) if has_splits else path
    classes = _class_dirs(root)
    if has_splits:
        other = _class_dirs(os.path.join(path, "test" if split == "train" else "train"))
        if other != classes:
            raise UserError(
                f"{path}: train/ and test/ hold different classes "
                f"({sorted(set(classes) ^ set(other))} differ): give both the same class folders. "
                f"Received: folder:{path}"
            )
    if not classes:
        raise UserError(f"{root} has no class subfolders: put images in {root}/<class>/*.jpg. Received: folder:{path}")
    return root, classes, has_splits


def check(source, split: str = "train", limit: int | None = None) -> Source:
    """Fail fast, before minutes of work (and before TensorFlow starts), on a source that cannot be read: a
    bad string, a missing path, a folder without class subfolders, or without images in the split, or whose
    images (the `limit` that `load` will pick) are all unreadable. Reads file names and image headers."""
    source = parse(source) if isinstance(source, str) else source
    if source.kind == "folder":
        files, labels, _ = list_folder(source.location, split)
        if not any(readable(files[i]) for i in select(labels, limit, 0)):
            raise no_readable_images(source, split)
    elif source.kind == "npz":
        _npz_path(source)
    return source


def list_folder(path: str, split: str, fraction: float = VALIDATION_FRACTION):
    """(files, labels, classes) of a folder source's split, in a stable order."""
    root, classes, has_splits = _split_root(path, split)
    files, labels = [], []
    for label, name in enumerate(classes):
        class_dir = os.path.join(root, name)
        for file in sorted(os.listdir(class_dir)):
            if not file.lower().endswith(IMAGE_SUFFIXES):
                continue
            relative = f"{name}/{file}"
            if not has_splits and _held_out(relative, fraction) != (split == "test"):
                continue
            files.append(os.path.join(class_dir, file))
            labels.append(label)
    if not files:
        raise UserError(
            f"{root} has class folders but no images (.jpg/.png) in its {split} split: put "
            f"images in {root}/<class>/. Received: folder:{path}"
        )
    return files, np.asarray(labels, np.int64), classes


def readable(path: str) -> bool:
    """Whether an image file's header parses (Pillow reads only the header: cheap)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.format in ("JPEG", "PNG", "BMP", "GIF", "WEBP")
    except UNREADABLE:
        return False


def no_readable_images(source: Source, split: str, files: int | None = None) -> UserError:
    """The error for a split none of whose image files (`files` of them, when known) could be read."""
    count = f"{files} " if files is not None else ""
    return UserError(
        f"No readable images in {source} ({split} split): none of its {count}image files could be "
        f"read (damaged, or not images). Received: {source}"
    )


def scan(source, split: str) -> Listing | None:
    """One split of a source listed for training, before TensorFlow starts: a folder's image files whose
    headers parse (the others skipped, named, with a warning), or an npz's arrays (without x_test/y_test, a
    stable tenth is the test split). None for a tfds source, which the training pipeline streams."""
    source = parse(source) if isinstance(source, str) else source
    if source.kind == "tfds":
        return None
    if source.kind == "npz":
        listing = _npz_split(source, split)
    else:
        files, labels, classes = list_folder(source.location, split)
        if len(files) >= PROGRESS_FILES:
            say(f"Checking {len(files)} {split} images in {source} ...")
        ok = np.array([readable(f) for f in files], bool)
        if not ok.any():
            raise no_readable_images(source, split, len(files))
        listing = Listing(
            labels=labels[ok],
            classes=classes,
            files=np.asarray(files)[ok],
            skipped=[f for f, good in zip(files, ok) if not good],
        )
        if listing.skipped:
            warn(f"skipped {len(listing.skipped)} unreadable image(s) in {source} ({split}), e.g. {listing.skipped[0]}")
    check_classes(listing, f"{source} ({split})")
    return listing


def _npz_split(source: Source, split: str) -> Listing:
    """The arrays of one split of an npz source; a file of x and y alone holds out a stable tenth as test."""
    images = load(source, split)
    listing = Listing(labels=images.y, classes=images.classes, images=images.x)
    with np.load(source.location, allow_pickle=False) as data:
        if "x_train" in data.files:
            return listing
    held_out = np.flatnonzero(np.random.default_rng(0).random(len(listing)) < VALIDATION_FRACTION)
    keep = held_out if split == "test" else np.setdiff1d(np.arange(len(listing)), held_out)
    return listing.subset(keep)


def warn(message: str) -> None:
    """A warning for the caller (Python's warnings) and for the person watching (stderr)."""
    warnings.warn(message, stacklevel=3)
    say(f"warning: {message}")


def check_classes(listing: Listing, where: str) -> None:
    """Warn about classes without a single image in this split (their label still exists)."""
    counts = np.bincount(listing.labels, minlength=len(listing.classes))
    empty = [c for c, n in zip(listing.classes, counts) if n == 0]
    if empty:
        warn(f"{where}: no images for class(es) {empty}")


def decode(path: str, size: tuple[int, int] | None = None, channels: int = 3) -> np.ndarray:
    """One image file as uint8 (H, W, channels), converted and resized as `fitted` says."""
    from PIL import Image

    with Image.open(path) as image:
        return _fitted(image, size, channels)


def fitted(images: np.ndarray, size: tuple[int, int] | None = None, channels: int = 3) -> np.ndarray:
    """uint8 images (N, H, W, C) as a model of input (size, channels) takes them (see `_fitted`)."""
    from PIL import Image

    if (size is None or images.shape[1:3] == tuple(size)) and images.shape[-1] == channels:
        return images
    return np.stack(
        [_fitted(Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im), size, channels) for im in images]
    )


def _fitted(image, size, channels: int) -> np.ndarray:
    """A Pillow image of any mode (greyscale, RGBA, palette, CMYK) converted to RGB (channels 3; an alpha
    channel is dropped) or luminance (channels 1), then resized bilinearly to `size` = (height, width).
    Pillow's bilinear filter widens with the scale when shrinking (antialiased), as TensorFlow's
    `tf.image.resize(..., antialias=True)` does, which the training pipeline uses for files it crops."""
    from PIL import Image

    if channels not in (1, 3):
        raise UserError(
            f"Images can be given to models of 1 (greyscale) or 3 (RGB) input channels; this model "
            f"takes {channels}. Received: {channels} channels"
        )
    image = image.convert("RGB" if channels == 3 else "L")
    if size is not None and image.size != (size[1], size[0]):
        image = image.resize((size[1], size[0]), Image.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array if channels == 3 else array[..., None]


def decode_all(files, size: tuple[int, int], channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(images, indices of the files that decoded) of many image files, decoded in threads (Pillow lets go
    of the GIL while it decodes); a file that fails is left out."""
    from concurrent.futures import ThreadPoolExecutor

    def one(path):
        try:
            return decode(str(path), size, channels)
        except UNREADABLE:
            return None

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        decoded = list(pool.map(one, files, chunksize=256))
    index = np.asarray([i for i, image in enumerate(decoded) if image is not None], np.int64)
    images = [decoded[i] for i in index]
    return (np.stack(images) if images else np.zeros((0, *size, channels), np.uint8)), index


def select(labels: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """Indices of up to `limit` examples, class-balanced (round-robin over classes), seeded and stable."""
    if limit is None or limit >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    order = [idx[i] for i in range(max(map(len, per_class))) for idx in per_class if i < len(idx)]
    return np.sort(np.asarray(order[:limit]))


def _load_folder(source: Source, split, limit, size, seed, channels) -> Images:
    files, labels, classes = list_folder(source.location, split)
    keep = select(labels, limit, seed)
    images, kept, skipped = [], [], []
    for i in keep:
        try:
            images.append(decode(files[i], size, channels))
            kept.append(labels[i])
        except UNREADABLE as err:
            skipped.append(f"{files[i]}: {err.__class__.__name__}")
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable image(s) in {source}, e.g. {skipped[0]}", stacklevel=3)
    if not images:
        raise no_readable_images(source, split, len(keep))
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise UserError(
            f"{source} holds images of different sizes {sorted(shapes)[:3]}; pass the model's "
            f"input size (size=) to resize them. Received: {source}"
        )
    return Images(np.stack(images), np.asarray(kept, np.int64), classes, skipped)


def _npz_path(source: Source) -> str:
    if not os.path.isfile(source.location):
        raise UserError(f"npz file not found: {source.location}. Check the path. Received: {source}")
    return source.location


def _load_npz(source: Source, split, limit, size, seed, channels) -> Images:
    path = _npz_path(source)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError) as err:
        raise UserError(f"{path} is not a readable .npz of arrays ({err}). Received: {source}") from None
    x_key, y_key = (f"x_{split}", f"y_{split}") if f"x_{split}" in arrays else ("x", "y")
    if x_key not in arrays or y_key not in arrays:
        raise UserError(
            f"{path} needs arrays x and y (or x_train/y_train, x_test/y_test); it has "
            f"{sorted(arrays)}. Received: {source}"
        )
    x, y = arrays[x_key], arrays[y_key].astype(np.int64).reshape(-1)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4) or len(x) != len(y):
        raise UserError(
            f"{path}: x must be uint8 (N, H, W, 3) with one label per image; got x{x.shape}, "
            f"y{y.shape}. Received: {source}"
        )
    classes = [str(c) for c in arrays["classes"]] if "classes" in arrays else [str(i) for i in range(int(y.max()) + 1)]
    keep = select(y, limit, seed)
    return Images(fitted(np.asarray(x[keep], np.uint8), size, channels), y[keep], classes)


_LOADERS = {"folder": _load_folder, "npz": _load_npz}


def load(source, split: str = "test", limit: int | None = None, size=None, seed: int = 0, channels: int = 3) -> Images:
    """Decode up to `limit` labelled images (class-balanced) of one split of `source` into memory, as a model
    of input `size` = (height, width) and `channels` takes them (`fitted`): images of any size and mode.

    For calibration, verification, evaluation and device benchmarks: a few hundred to a few thousand images.
    """
    source = parse(source) if isinstance(source, str) else source
    if limit is not None and limit < 1:
        raise UserError(f"limit must be at least 1. Received: limit={limit}")
    if source.kind not in _LOADERS:
        raise UserError(
            f"{source} is read by the workstation install (tensorflow-datasets); here, use a "
            f"folder: or npz: source. Received: {source}"
        )
    return _LOADERS[source.kind](source, split, limit, size, seed, channels)
