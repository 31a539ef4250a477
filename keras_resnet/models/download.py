"""Published weight files, downloaded once into the Keras cache and checked, as keras.applications does.

`fetch(entry)` gives the path of a `keras_resnet.models.pretrained.Published` file in `$KERAS_HOME/models/`
(KERAS_HOME read when called; default `~/.keras/models/`, where keras.applications keeps its weights). A file
already there is used, with no network, once its hash matches; otherwise `keras.utils.get_file` downloads
it (the ecosystem's downloader: its progress bar, its errors) from `pretrained.origin(entry)`.

Two things get_file leaves undone are done here. It writes straight to its final path and leaves a file
whose hash does not match in place, and it knows no hash prefixes: so the file is downloaded under a hidden
temporary name beside its final one, its hash checked here, and only then renamed into place. Only a
verified file is ever at the final path, and a failed download (no network, a refused connection, an HTTP
error, a connection cut mid-file, a stall of `TIMEOUT_SECONDS`) or a wrong hash leaves nothing in the cache
and gives one line that names the URL and the exact path to put the file at by hand.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import sys
import uuid

from keras_resnet.errors import UserError, say
from keras_resnet.models.pretrained import HASH_KINDS, Published, origin

CACHE_SUBDIR = "models"  # keras.applications' folder of the Keras cache
TIMEOUT_SECONDS = 60  # a stalled connection fails instead of hanging (urlretrieve sets no timeout)
_DIGESTS = {"sha256": hashlib.sha256, "sha256-prefix": hashlib.sha256, "md5": hashlib.md5}


class DownloadError(UserError):
    """A published weights file that could not be downloaded, or whose download did not match its hash."""


def cache_path(entry: Published) -> str:
    """Where `entry`'s file is kept: `$KERAS_HOME/models/<published file name>` (default `~/.keras`)."""
    home = os.path.expanduser(os.environ.get("KERAS_HOME") or os.path.join("~", ".keras"))
    return os.path.join(os.path.abspath(home), CACHE_SUBDIR, entry.file_name)


def digest(path: str, hash_kind: str) -> str:
    """The hex digest of the file at `path` by the algorithm of `hash_kind`."""
    value = _DIGESTS[hash_kind]()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            value.update(chunk)
    return value.hexdigest()


def matches(path: str, entry: Published) -> bool:
    """Whether the file at `path` is `entry`'s: its digest equals the published hash, or starts with it for
    a prefix (torch.hub's check)."""
    return digest(path, entry.hash_kind).startswith(entry.file_hash)


def fetch(entry: Published) -> str:
    """The path of `entry`'s verified file in the cache, downloaded first if it is not there.

    A cached file whose hash does not match is removed and downloaded again, as keras.utils.get_file does.
    """
    final = cache_path(entry)
    if os.path.isfile(final):
        if matches(final, entry):
            return final
        say(f"note: {final} does not match its published {HASH_KINDS[entry.hash_kind]}: removed, downloading it again")
        os.remove(final)
    return _download(entry, final)


def _download(entry: Published, final: str) -> str:
    """Download `entry` to a temporary name beside `final`, check it, rename it to `final`."""
    url, folder = origin(entry), os.path.dirname(final)
    _make_writable(folder, url, final)
    temporary = f".{entry.file_name}.{uuid.uuid4().hex}.partial"
    partial = os.path.join(folder, temporary)
    try:
        import keras

        with contextlib.redirect_stdout(sys.stderr), _socket_timeout(TIMEOUT_SECONDS):  # stdout stays the command's
            keras.utils.get_file(temporary, url, cache_dir=os.path.dirname(folder), cache_subdir=CACHE_SUBDIR)
        _check(partial, entry, url, final)
        os.replace(partial, final)
    except DownloadError:
        raise
    except Exception as err:  # get_file raises bare Exceptions (and OSErrors unwrapped)
        raise DownloadError(
            f"Could not download the {entry.weights} weights of {entry.model} from {url} "
            f"({_reason(err, url)}): download that file where there is network and put it at "
            f"{final}, then run again. Received: weights={entry.weights!r}"
        ) from None
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return final


def _check(path: str, entry: Published, url: str, final: str) -> None:
    """Refuse a downloaded file whose hash is not the published one (the caller removes it)."""
    if matches(path, entry):
        return
    got = digest(path, entry.hash_kind)[: len(entry.file_hash)]
    raise DownloadError(
        f"The file downloaded from {url} does not match its published "
        f"{HASH_KINDS[entry.hash_kind]} ({entry.file_hash}, got {got}), so it was refused and "
        f"removed: try again later, or put the published file at {final}. "
        f"Received: weights={entry.weights!r}"
    )


def _make_writable(folder: str, url: str, final: str) -> None:
    """Create the cache folder; a clear error when it cannot be written (get_file would silently pick /tmp)."""
    try:
        os.makedirs(folder, exist_ok=True)
        writable = os.access(folder, os.W_OK)
    except OSError:
        writable = False
    if not writable:
        raise DownloadError(
            f"Cannot write the weights cache {folder}: set KERAS_HOME to a writable folder, or "
            f"put the file from {url} at {final}. Received: {folder}"
        )


def _reason(err: BaseException, url: str) -> str:
    """What went wrong, from get_file's 'URL fetch failure on URL: CODE -- MESSAGE' or any other error."""
    text = " ".join(str(err).split()) or type(err).__name__
    text = text.removeprefix(f"URL fetch failure on {url}: ").removeprefix("None -- ")
    return re.sub(r"^(\d{3}) -- ", r"HTTP \1 ", text)[:200]


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    """Sockets opened inside the block time out after `seconds` (the previous default is restored)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)
