"""Exit codes and one-line error reporting for the ``threadline`` command.

Every command runs inside :func:`handle_errors`: a threadline exception (or an ``OSError``
from the session functions) becomes one line on stderr and a distinct exit code.

====  ===============================================================
code  meaning
====  ===============================================================
0     success
1     unexpected error
2     usage error (bad option or argument, missing API key, ...)
3     session (or message) not found
4     invalid session id (not a UUID)
5     the model / provider failed (also a run whose result is an error)
6     storage error or conflict (a file already exists, a second writer)
7     bundle rejected: tampered, truncated or not a threadline bundle
8     feature not available in this build (e.g. retention, a provider)
130   interrupted (Ctrl-C)
129   ended by SIGHUP (143: SIGTERM), after interrupting the turn
====  ===============================================================
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

import click

from .._exceptions import (
    InvalidSessionIdError,
    MessageNotFoundError,
    ProviderError,
    SessionNotFoundError,
    StorageError,
    ThreadlineError,
    UserError,
)
from ..sessions._url import mask_credentials
from ._safe import one_line

__all__ = [
    "EXIT_BUNDLE",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_INVALID_ID",
    "EXIT_NOT_FOUND",
    "EXIT_PROVIDER",
    "EXIT_STORAGE",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "CliError",
    "exit_code_for",
    "fail",
    "guarded",
    "handle_errors",
    "interrupted",
]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_INVALID_ID = 4
EXIT_PROVIDER = 5
EXIT_STORAGE = 6
EXIT_BUNDLE = 7
EXIT_UNAVAILABLE = 8
EXIT_INTERRUPTED = 130


class CliError(click.ClickException):
    """A one-line error with its own exit code."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code
        # click declares exit_code as a ClassVar; a per-instance value is what we need.
        setattr(self, "exit_code", code)  # noqa: B010

    def show(self, file: object = None) -> None:
        message = mask_credentials(self.format_message())  # never a URL's password
        click.echo(f"threadline: error: {one_line(message)}", err=True)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Stop the command with a one-line error."""
    raise CliError(message, code)


def _bundle_error_type() -> type[Exception] | None:
    try:  # imported when an error is reported: `threadline --help` never loads the sessions
        from ..sessions._bundle import BundleError
    except ImportError:  # pragma: no cover - always present
        return None
    return BundleError


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an exception raised by the library."""
    bundle_error = _bundle_error_type()
    if bundle_error is not None and isinstance(exc, bundle_error):
        return EXIT_BUNDLE
    if isinstance(exc, InvalidSessionIdError):
        return EXIT_INVALID_ID
    if isinstance(exc, (SessionNotFoundError, MessageNotFoundError, FileNotFoundError)):
        return EXIT_NOT_FOUND
    if isinstance(exc, UserError):
        return EXIT_USAGE
    if isinstance(exc, ProviderError):
        return EXIT_PROVIDER
    if isinstance(exc, (StorageError, FileExistsError, OSError)):
        return EXIT_STORAGE
    return EXIT_ERROR


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    first = text.splitlines()[0]
    return first if isinstance(exc, ThreadlineError) else f"{type(exc).__name__}: {first}"


def _config_problem(exc: OSError) -> str | None:
    """A message naming $CLAUDE_CONFIG_DIR when ``exc`` is about the config dir."""
    import errno
    import os

    from ..sessions._paths import config_dir

    if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.ENOSPC):
        return None
    cfg = str(config_dir())
    names = [str(n) for n in (exc.filename, exc.filename2) if n]
    if not any(n == cfg or n.startswith(cfg + os.sep) for n in names):
        return None
    origin = "$CLAUDE_CONFIG_DIR" if os.environ.get("CLAUDE_CONFIG_DIR") else "the default, ~/.claude"
    return (
        f"cannot write to the config dir {cfg} ({origin}): {exc.strerror} ({names[0]}); "
        "point CLAUDE_CONFIG_DIR at a writable directory"
    )


@contextmanager
def handle_errors() -> Iterator[None]:
    """Turn library errors into :class:`CliError` (click prints and exits)."""
    try:
        yield
    except click.ClickException:
        raise
    except ImportError as exc:  # a missing optional dependency: names the extra
        raise CliError(str(exc), EXIT_UNAVAILABLE) from exc
    except OSError as exc:
        message = _config_problem(exc)
        if message is not None:
            raise CliError(message, EXIT_STORAGE) from exc
        raise CliError(_one_line(exc), exit_code_for(exc)) from exc
    except ThreadlineError as exc:
        cause = exc.__cause__
        if isinstance(cause, OSError) and (message := _config_problem(cause)) is not None:
            raise CliError(message, EXIT_STORAGE) from exc
        raise CliError(_one_line(exc), exit_code_for(exc)) from exc


def guarded(func: Callable[..., None]) -> Callable[..., None]:
    """Decorator form of :func:`handle_errors` for click callbacks."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> None:
        with handle_errors():
            func(*args, **kwargs)

    return wrapper


def interrupted() -> NoReturn:
    click.echo("threadline: interrupted", err=True)
    sys.exit(EXIT_INTERRUPTED)
