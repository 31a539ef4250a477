"""Input pipelines: shapes, dtypes, labels, augmentation statistics, resumable randomness, bad folders."""

import shutil
import warnings

import numpy as np
import pytest
from PIL import Image

from keras_resnet import sources
from keras_resnet.errors import UserError
from keras_resnet.training import data, recipes


def small_folder(cifar_jpg, root, per_class=(12, 4), classes=None):
    """A train/test copy of the first images of some CIFAR-10 (JPEG) classes."""
    names = classes or sorted(p.name for p in (cifar_jpg / "train").iterdir())
    for split, count in zip(("train", "test"), per_class):
        for name in names:
            (root / split / name).mkdir(parents=True)
            for f in sorted((cifar_jpg / split / name).iterdir())[:count]:
                shutil.copy(f, root / split / name / f.name)
    return root


def test_cifar_pipeline_shapes_dtypes_labels(cifar_jpg, tmp_path):
    folder = small_folder(cifar_jpg, tmp_path / "d")
    train = data.list_split(f"folder:{folder}", "train", 32)
    assert train.images.shape == (120, 32, 32, 3) and train.images.dtype == np.uint8
    assert sorted(set(train.labels)) == list(range(10)) and train.classes[0] == "airplane"
    x, y = next(iter(data.train_dataset(train, "cifar", 32, 40)))
    assert x.shape == (40, 32, 32, 3) and x.dtype.name == "float32" and y.dtype.name == "int64"
    assert 0 <= float(np.min(x)) and float(np.max(x)) <= 255
    batches = list(data.eval_dataset(train, "cifar", 32, 50))
    assert [int(b[0].shape[0]) for b in batches] == [50, 50, 20]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), train.labels)


def test_cifar_augmentation_statistics():
    """Flip in half the samples, crops shifted uniformly by -4..4 pixels, zero padding outside."""
    image = np.zeros((1, 32, 32, 3), np.uint8)
    image[0, 12:20, 12:20] = 200  # an off-centre square: its position reveals shift and flip
    image[0, 12:20, 12:14] = 100
    listing = data.Listing(np.zeros(1, np.int64), ["a"], images=image)
    xs = np.concatenate([b[0] for b, _ in zip(data.train_dataset(listing, "cifar", 32, 1, seed=3), range(800))])
    left_edge = xs[:, :, :, 0].max(axis=1)  # per column
    flipped = np.mean([row[np.flatnonzero(row)[0]] == 200 for row in left_edge])
    shifts = np.array([np.flatnonzero(row)[0] for row in left_edge]) - 12
    assert 0.42 < flipped < 0.58
    assert shifts.min() == -4 and shifts.max() == 4 and abs(shifts.mean()) < 0.5
    assert len(np.unique(shifts)) == 9


def test_randomness_depends_only_on_seed_and_epoch(cifar_jpg, tmp_path):
    """A pipeline started at epoch 1 yields exactly the second epoch of one started at 0 (resume)."""
    listing = data.list_split(f"folder:{small_folder(cifar_jpg, tmp_path / 'd')}", "train", 32)
    from_zero = [b for b, _ in zip(data.train_dataset(listing, "cifar", 32, 40, seed=7), range(6))]
    from_one = [b for b, _ in zip(data.train_dataset(listing, "cifar", 32, 40, seed=7, start_epoch=1), range(3))]
    for (xa, ya), (xb, yb) in zip(from_zero[3:], from_one):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(from_zero[0][1], from_zero[3][1])  # epochs are shuffled differently


def test_imagenet_augmentation_and_centre_crop(cifar_jpg, tmp_path):
    folder = small_folder(cifar_jpg, tmp_path / "d", per_class=(2, 1), classes=["cat", "dog"])
    listing = data.list_split(f"folder:{folder}", "train")  # streamed from files
    assert listing.files is not None and listing.images is None
    x, y = next(iter(data.train_dataset(listing, "imagenet", 48, 4)))
    assert x.shape == (4, 48, 48, 3) and 0 <= float(np.min(x)) and float(np.max(x)) <= 255
    x, _ = next(iter(data.eval_dataset(listing, "imagenet", 48, 4)))
    assert x.shape == (4, 48, 48, 3)


def test_corrupt_grayscale_png_and_empty_class(cifar_jpg, tmp_path):
    folder = small_folder(cifar_jpg, tmp_path / "d", per_class=(3, 2), classes=["cat", "dog"])
    (folder / "train" / "cat" / "broken.jpg").write_bytes(b"not a jpeg at all")
    truncated = (folder / "train" / "dog" / "0000.jpg").read_bytes()[:40]
    (folder / "train" / "dog" / "truncated.jpg").write_bytes(truncated)
    Image.new("L", (40, 30), 90).save(folder / "train" / "dog" / "grey.png")
    for split in ("train", "test"):
        (folder / split / "zebra").mkdir()
    with pytest.warns(UserWarning) as caught:
        train = data.list_split(f"folder:{folder}", "train", 32)
    messages = " ".join(str(w.message) for w in caught)
    assert "skipped 2 unreadable" in messages and "zebra" in messages
    assert len(train) == 7 and len(train.skipped) == 2
    grey = train.images[list(train.labels).index(1) + 3]  # dog images: 3 JPEGs then grey.png
    assert grey.shape == (32, 32, 3) and np.all(grey == 90)
    assert train.classes == ["cat", "dog", "zebra"]


def test_mismatched_splits_and_empty_folder_are_clear_errors(cifar_jpg, tmp_path):
    folder = small_folder(cifar_jpg, tmp_path / "d", per_class=(2, 1), classes=["cat", "dog"])
    shutil.rmtree(folder / "test" / "dog")
    with pytest.raises(UserError, match="different classes"):
        data.list_split(f"folder:{folder}", "train", 32)
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(UserError, match="no images"):
        data.list_split(f"folder:{tmp_path / 'empty'}", "train", 32)


def test_npz_without_test_arrays_holds_out_a_tenth(tmp_path):
    x = np.random.default_rng(0).integers(0, 255, (200, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(200) % 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train = data.list_split(f"npz:{tmp_path / 'd.npz'}", "train")
        test = data.list_split(f"npz:{tmp_path / 'd.npz'}", "test")
    assert len(train) + len(test) == 200 and 10 <= len(test) <= 30
    train_rows = {im.tobytes() for im in train.images}
    assert not any(im.tobytes() in train_rows for im in test.images)


def test_recipes_resolve_and_validate():
    assert recipes.resolve("cifar").steps == 64000
    assert recipes.resolve("cifar", 110).warmup_steps == 400
    assert recipes.resolve("cifar", 110, warmup_steps=0).warmup_steps == 0
    r = recipes.resolve("cifar", 20, epochs=30, schedule="onecycle", lr=0.2)
    assert (r.epochs, r.steps, r.schedule, r.lr) == (30, None, "onecycle", 0.2)
    assert recipes.epochs_for(recipes.resolve("cifar"), 390) == 164
    with pytest.raises(UserError, match="schedule"):
        recipes.resolve("cifar", schedule="linear")
    with pytest.raises(UserError, match="epochs or steps"):
        recipes.resolve("cifar", epochs=3, steps=100)


def test_training_and_calibration_read_the_same_pixels(cifar_jpg, tmp_path):
    """The in-memory training images and the images every other command loads are decoded and resized alike."""
    folder = f"folder:{small_folder(cifar_jpg, tmp_path / 'd', per_class=(4, 1))}"
    for size in (32, 24, 48):
        trained = data.list_split(folder, "train", size)
        loaded = sources.load(folder, "train", size=(size, size))
        np.testing.assert_array_equal(trained.images, loaded.x)
        np.testing.assert_array_equal(trained.labels, loaded.y)


def test_images_of_any_mode_become_the_models_channels(tmp_path):
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 10  # red, almost transparent: the alpha channel is dropped
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    Image.fromarray(np.full((12, 12), 90, np.uint8), "L").save(tmp_path / "g.png")
    rgb = sources.decode(str(tmp_path / "a.png"), (8, 8))
    assert rgb.shape == (8, 8, 3) and (rgb[..., 0] == 200).all() and (rgb[..., 1:] == 0).all()
    grey = sources.decode(str(tmp_path / "g.png"), (16, 16), channels=3)
    assert grey.shape == (16, 16, 3) and (grey == 90).all()
    assert sources.decode(str(tmp_path / "a.png"), (8, 8), channels=1).shape == (8, 8, 1)
    with pytest.raises(UserError, match="1 \\(greyscale\\) or 3 \\(RGB\\)"):
        sources.decode(str(tmp_path / "g.png"), (8, 8), channels=4)
