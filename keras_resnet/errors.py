"""How the package speaks on the console: progress lines and failures on stderr (one clear line, a non-zero
exit, no traceback), so that stdout stays machine-readable."""
from __future__ import annotations

import contextlib
import errno
import functools
import signal
import sys
import threading


class UserError(Exception):
    """A problem with what the user asked for; its message says what is wrong and what to do."""


# Exceptions whose message is meant for the user (ours and the standard ones raised on bad input).
EXPECTED = (UserError, ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError,
            PermissionError, OSError)
INTERRUPTED = "interrupted: stopped cleanly, no partial output was left"


def say(message: str) -> None:
    """A progress or warning line for long steps, on stderr."""
    print(message, file=sys.stderr, flush=True)


def one_line(err: BaseException) -> str:
    """The message of `err` on one line (with what to do for a full disk), at most 400 characters."""
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        where = f" writing {err.filename}" if err.filename else ""
        return f"No space left on device{where}: free some space and run again (nothing partial was kept)."
    if isinstance(err, OSError) and err.strerror and err.filename:
        return (f"{err.strerror}: {err.filename}. Check the path and its permissions, or choose another "
                f"location.")
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


def cli_errors(func):
    """Turn expected exceptions into `error: ...` (exit 1) and Ctrl-C into `interrupted` (exit 130), also a
    Ctrl-C that library code swallowed: a command never reports success after one."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with _remembering_ctrl_c():
                result = func(*args, **kwargs)
                check_interrupt()
                return result
        except KeyboardInterrupt:
            print(INTERRUPTED, file=sys.stderr)
            sys.exit(130)
        except EXPECTED as err:
            print(f"error: {one_line(err)}", file=sys.stderr)
            sys.exit(1)
    return wrapper
