"""What every command shares: user-error handling and small printing helpers.

User errors (:class:`yolocls.errors.YoloclsError`, missing files) print one line on stderr and exit 2,
never a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` as one line on stderr and return the Exit to raise."""
    first = " ".join(str(message).split())  # one line
    typer.echo(f"yolocls: error: {first}", err=True)
    return typer.Exit(code)


class Terminated(KeyboardInterrupt):
    """SIGTERM raised like Ctrl-C, so every ``finally`` (temp-file removal) runs; see :func:`sigterm_as_interrupt`."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


def sigterm_as_interrupt() -> None:
    """Make SIGTERM unwind the command like SIGINT (temp files removed, one line, exit 143). Main thread only."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


def user_errors(func: F) -> F:
    """Decorator for command functions: turn user errors into one line + exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from yolocls.errors import YoloclsError

        try:
            return func(*args, **kwargs)
        except YoloclsError as e:
            raise fail(str(e)) from None
        except FileNotFoundError as e:
            raise fail(f"file not found: {e.filename or e}; check the path") from None
        except IsADirectoryError as e:
            raise fail(f"expected a file but got a folder: {e.filename}") from None
        except PermissionError as e:
            raise fail(f"permission denied: {e.filename or e}") from None
        except OSError as e:  # disk full, read-only, name too long, ... outside yolocls' own writers
            from yolocls.utils.files import USER_ERRNOS, describe_os_error

            if e.errno not in USER_ERRNOS:
                raise
            action = "write" if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else "use"
            raise fail(describe_os_error(e, e.filename or "a file", action)) from None
        except Terminated:
            typer.echo("yolocls: terminated (SIGTERM); nothing partial was left behind", err=True)
            raise typer.Exit(143) from None
        except KeyboardInterrupt:
            typer.echo("yolocls: interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def print_json(obj: Any) -> None:
    import json

    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
