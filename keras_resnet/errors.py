"""How the package speaks on the console: progress lines and failures on stderr (one clear line, a non-zero
exit, no traceback), so that stdout stays machine-readable."""
from __future__ import annotations

import errno
import functools
import sys


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


def cli_errors(func):
    """Turn expected exceptions into `error: ...` (exit 1) and Ctrl-C into `interrupted` (exit 130)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            print(INTERRUPTED, file=sys.stderr)
            sys.exit(130)
        except EXPECTED as err:
            print(f"error: {one_line(err)}", file=sys.stderr)
            sys.exit(1)
    return wrapper
