"""Files, safely: atomic writes, checks that an input can be read and an output written, before any work."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile

from keras_resnet.errors import UserError


def _temp_beside(path: str, suffix: str = "") -> str:
    """A new empty temporary file in `path`'s directory (same filesystem, so renaming is atomic)."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UserError(f"Output {path} is a directory: name a file to write. Received: {path}")
    if not os.path.isdir(directory):
        if os.path.exists(directory):
            raise UserError(
                f"Output directory {directory} is a file, not a directory: choose another output path. Received: {path}"
            )
        raise UserError(f"Output directory {directory} does not exist; create it first. Received: {path}")
    if not os.access(directory, os.W_OK):
        raise UserError(
            f"Output directory {directory} is not writable: choose a directory you can write, or "
            f"change its permissions. Received: {path}"
        )
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=suffix or ".tmp", dir=directory)
    except OSError as err:
        raise UserError(
            f"Cannot write in {directory} ({err.strerror}): choose a writable directory. Received: {path}"
        ) from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions
    return tmp


def check_writable(path) -> None:
    """Fail now, before minutes of work, if `path` could not be written later."""
    os.unlink(_temp_beside(os.fspath(path)))


def check_directory(path) -> None:
    """Fail now if the directory `path` (which may not exist yet) could not be created and written later."""
    path = existing = os.path.abspath(os.fspath(path))
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UserError(
            f"Cannot create {path}: {existing} is a file, not a directory. Choose another location. Received: {path}"
        )
    check_writable(os.path.join(existing, "write-test"))


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary path beside `path`; rename it into place only if the block succeeds.

    A crash, kill or Ctrl-C at any moment leaves either the old file or the new one, never a partial one.
    """
    path = os.fspath(path)
    tmp = _temp_beside(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes(path, data: bytes) -> None:
    """Write `data` to `path` atomically (fsync'd before the rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_text(path, text: str) -> None:
    """Write `text` to `path` atomically."""
    write_bytes(path, text.encode())


def write_json(path, value) -> None:
    """Write `value` as indented JSON to `path` atomically."""
    write_text(path, json.dumps(value, indent=2) + "\n")


def readable_file(path, what="file") -> str:
    """`path` as a string if it is an existing, readable, non-empty file; a clear error otherwise."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise UserError(f"{what} not found: {path}. Check the path. Received: {path}")
    if os.path.isdir(path):
        raise UserError(f"{what} {path} is a directory: pass the path of a file. Received: {path}")
    if not os.access(path, os.R_OK):
        raise UserError(
            f"{what} {path} is not readable: check its permissions (chmod) or copy it somewhere you "
            f"can read. Received: {path}"
        )
    if os.path.getsize(path) == 0:
        raise UserError(
            f"{what} {path} is empty (0 bytes): it was not written completely; create or copy it "
            f"again. Received: {path}"
        )
    return path


def read_bytes(path, what="file") -> bytes:
    """The contents of `path`, once `readable_file` has accepted it."""
    with open(readable_file(path, what), "rb") as f:
        return f.read()


KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_model_file(model) -> bool:
    """Whether MODEL (a command's argument) names a Keras model file rather than a registered model: an
    existing path, or a name ending in .keras, .h5 or .hdf5 (which then must exist: `check_keras_file`)."""
    model = os.fspath(model)
    return os.path.exists(model) or model.endswith(KERAS_SUFFIXES)


def check_keras_file(path) -> str:
    """`path` if it is a readable `.keras` (zip) or `.h5` (HDF5) file; a clear error otherwise.

    Only names and leading bytes are read, so a wrong file fails before TensorFlow starts.
    """
    path = readable_file(path, "Model file")
    if not path.endswith(KERAS_SUFFIXES):
        raise UserError(
            f"{path}: expected a .keras file or a legacy .h5 model (saved with model.save). Received: {path}"
        )
    with open(path, "rb") as f:
        head = f.read(len(HDF5_SIGNATURE))
    if path.endswith(".keras") and not zipfile.is_zipfile(path):
        raise UserError(
            f"{path} is not a .keras file (those are zip archives; this one starts {head[:8]!r}): "
            f"save the model with model.save('model.keras'). Received: {path}"
        )
    if not path.endswith(".keras") and head != HDF5_SIGNATURE:
        raise UserError(
            f"{path} is not an HDF5 file (it starts {head!r}): save the model with "
            f"model.save('model.h5') or as .keras. Received: {path}"
        )
    return path
