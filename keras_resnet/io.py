"""Reading and writing files safely: atomic writes, and model loading that never runs a stranger's code."""
from __future__ import annotations

import contextlib
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
            raise UserError(f"Output directory {directory} is a file, not a directory: choose another output "
                            f"path. Received: {path}")
        raise UserError(f"Output directory {directory} does not exist; create it first. Received: {path}")
    if not os.access(directory, os.W_OK):
        raise UserError(f"Output directory {directory} is not writable: choose a directory you can write, or "
                        f"change its permissions. Received: {path}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=suffix or ".tmp", dir=directory)
    except OSError as err:
        raise UserError(f"Cannot write in {directory} ({err.strerror}): choose a writable directory. "
                        f"Received: {path}") from None
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
        raise UserError(f"Cannot create {path}: {existing} is a file, not a directory. Choose another "
                        f"location. Received: {path}")
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
    write_bytes(path, text.encode())


def readable_file(path, what="file") -> str:
    """`path` as a string if it is an existing, readable, non-empty file; a clear error otherwise."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise UserError(f"{what} not found: {path}. Check the path. Received: {path}")
    if os.path.isdir(path):
        raise UserError(f"{what} {path} is a directory: pass the path of a file. Received: {path}")
    if not os.access(path, os.R_OK):
        raise UserError(f"{what} {path} is not readable: check its permissions (chmod) or copy it somewhere you "
                        f"can read. Received: {path}")
    if os.path.getsize(path) == 0:
        raise UserError(f"{what} {path} is empty (0 bytes): it was not written completely; create or copy it "
                        f"again. Received: {path}")
    return path


KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def check_keras_file(path) -> str:
    """`path` if it is a readable `.keras` (zip) or `.h5` (HDF5) file; a clear error otherwise.

    Only names and leading bytes are read, so a wrong file fails before TensorFlow starts.
    """
    path = readable_file(path, "Model file")
    if not path.endswith(KERAS_SUFFIXES):
        raise UserError(f"{path}: expected a .keras file or a legacy .h5 model (saved with model.save). "
                        f"Received: {path}")
    with open(path, "rb") as f:
        head = f.read(len(HDF5_SIGNATURE))
    if path.endswith(".keras") and not zipfile.is_zipfile(path):
        raise UserError(f"{path} is not a .keras file (those are zip archives; this one starts {head[:8]!r}): "
                        f"save the model with model.save('model.keras'). Received: {path}")
    if not path.endswith(".keras") and head != HDF5_SIGNATURE:
        raise UserError(f"{path} is not an HDF5 file (it starts {head!r}): save the model with "
                        f"model.save('model.h5') or as .keras. Received: {path}")
    return path


def load_keras_model(path, unsafe: bool = False):
    """Load a `.keras` file, SavedModel directory or legacy `.h5` model in Keras' safe mode.

    Safe mode refuses `Lambda` layers, whose deserialisation runs arbitrary Python from the file; pass
    `unsafe=True` (CLI: `--unsafe-load`) only for files you trust.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise UserError(f"{path} is a directory but not a SavedModel (no saved_model.pb). Received: {path}")
        import keras

        return keras.layers.TFSMLayer(path, call_endpoint="serving_default")
    check_keras_file(path)
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=not unsafe, compile=False)
    except ValueError as err:
        if "Lambda" in str(err) or "safe_mode" in str(err):
            raise UserError(f"{path} contains a Lambda layer, which can run arbitrary code; refusing it. "
                            "Pass --unsafe-load only if you trust the file.") from None
        raise UserError(f"{path} is not a loadable Keras model ({str(err).splitlines()[0]}): pass a model "
                        f"saved with model.save(), not a weights file. Received: {path}") from None
    except (OSError, KeyError, EOFError) as err:
        raise UserError(f"{path} is not a valid Keras model file ({err.__class__.__name__}): pass a model "
                        f"saved with model.save(). Received: {path}") from None
