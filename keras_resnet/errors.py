"""How the package speaks: `UserError` for a request that cannot succeed, progress lines on stderr, and the
wrapper that turns a command's expected failures into one `error:` line (exit 1), so stdout stays
machine-readable.

Messages are written for the Python caller: they name the arguments as the functions take them
(`Received: name='x'`, "pass calib=SOURCE"). A command line spells each argument as its flag instead
(`spell_arguments`), so the shell user reads `Received: --name x`.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Mapping


class UserError(ValueError):
    """A problem with what the caller asked for; its message says what is wrong and what to do, and ends
    with `Received: name=value`, naming the argument as the Python function takes it.

    A `ValueError`, as keras and keras-hub raise for a bad argument, so `except ValueError` catches it.
    """


# OS errors that are about the user's files and machine, not bugs: one line, like a UserError.
EXPECTED_OS_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)
EXPECTED_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EEXIST,
    errno.ENAMETOOLONG,
}
DEBUG_ENV = "RESNET_TFLITE_DEBUG"  # =1: every failure keeps its traceback
INTERRUPTED = "interrupted: stopped cleanly, no partial output was left"


def is_expected(err: BaseException) -> bool:
    """Whether `err` is the user's to fix (our `UserError`, a missing file, a full disk, a permission) rather
    than a bug, whose traceback must be seen."""
    if isinstance(err, (UserError, *EXPECTED_OS_ERRORS)):
        return True
    return isinstance(err, OSError) and err.errno in EXPECTED_ERRNOS


_ARGUMENT = r"(?<![\w.\-]){name}=('[^']*'|\"[^\"]*\"|\S*)"


def spell_arguments(text: str, flags: Mapping[str, str]) -> str:
    """`text` with each Python argument `name=value` it mentions written as the command line spells it:
    `flags` maps an argument name to its flag (`--name`) or its metavar (`MODEL`). `name=True` becomes the
    bare flag; a quoted string value loses its quotes."""
    for name, flag in flags.items():

        def shell(match, flag=flag):
            value = match.group(1)
            if value == "True" and flag.startswith("-"):
                return flag
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            return f"{flag} {value}" if value else f"{flag} "

        text = re.sub(_ARGUMENT.format(name=re.escape(name)), shell, text)
    return text


def say(message: str) -> None:
    """A progress or warning line for long steps, on stderr."""
    print(message, file=sys.stderr, flush=True)


def one_line(err: BaseException) -> str:
    """The message of `err` on one line (with what to do for a full disk), at most 400 characters."""
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        where = f" writing {err.filename}" if err.filename else ""
        return f"No space left on device{where}: free some space and run again (nothing partial was kept)."
    if isinstance(err, OSError) and err.strerror and err.filename:
        return f"{err.strerror}: {err.filename}. Check the path and its permissions, or choose another location."
    text = " ".join(str(err).split()) or err.__class__.__name__
    return text if len(text) <= 400 else text[:397] + "..."


_ctrl_c = threading.Event()


def _on_ctrl_c(signum, frame):
    """SIGINT: remembered, then raised as Python does. Where it lands in a `__del__` or a weakref callback,
    Python prints "Exception ignored" and goes on; `check_interrupt` then raises it again."""
    _ctrl_c.set()
    raise KeyboardInterrupt


def check_interrupt() -> None:
    """Raise KeyboardInterrupt for a Ctrl-C that was swallowed where it landed (long loops call this)."""
    if _ctrl_c.is_set():
        raise KeyboardInterrupt


@contextlib.contextmanager
def _remembering_ctrl_c():
    """Within: Ctrl-C is remembered (`_on_ctrl_c`), and one swallowed in a `__del__` prints no "Exception
    ignored" traceback, since it is not lost."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _ctrl_c.clear()
    previous, hook = signal.signal(signal.SIGINT, _on_ctrl_c), sys.unraisablehook

    def quiet_about_ctrl_c(unraisable):
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            hook(unraisable)

    sys.unraisablehook = quiet_about_ctrl_c
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = hook
        _ctrl_c.clear()  # the next command, or training called from Python, starts without it


def cli_errors(func: Callable | None = None, *, flags: Callable[[], Mapping[str, str]] | None = None):
    """Decorate a command's body: an expected failure (`is_expected`) becomes `error: ...` on one line (exit 1),
    its arguments spelled by `flags()` (the command's flags, `spell_arguments`); Ctrl-C becomes `interrupted`
    (exit 130), also one that library code swallowed, so a command never reports success after one. Any other
    exception is a bug and keeps its traceback; with RESNET_TFLITE_DEBUG=1 every failure does."""
    if func is None:
        return functools.partial(cli_errors, flags=flags)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with _remembering_ctrl_c():
                try:
                    result = func(*args, **kwargs)
                except Exception:
                    # a Ctrl-C raised inside C code can surface as another error there (a SystemError of
                    # CPython's list code, seen in TensorFlow's tracing): it is still the user's Ctrl-C
                    check_interrupt()
                    raise
                check_interrupt()
                return result
        except KeyboardInterrupt:
            if os.environ.get(DEBUG_ENV) == "1":
                traceback.print_exc()
            print(INTERRUPTED, file=sys.stderr)
            sys.exit(130)
        except Exception as err:
            if not is_expected(err) or os.environ.get(DEBUG_ENV) == "1":
                raise
            text = one_line(err)
            print(f"error: {spell_arguments(text, flags()) if flags else text}", file=sys.stderr)
            sys.exit(1)

    return wrapper
