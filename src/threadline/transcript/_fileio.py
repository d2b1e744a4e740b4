"""Small file primitives every floor shares: an atomic replace and a read-only open.

A crash must never leave a half-written file where a reader expects a whole one (a
compaction sidecar, a snapshot, a bundle, a new transcript, a restored session, a task, a
file the agent edits). :func:`atomic_file` opens a temporary file beside the target
(created exclusively, never through a symlink), lets the caller write it (streamed: a
bundle or a big transcript is never held whole), optionally ``fsync``\\ s it, and renames it
over the target; on any failure the temporary file is removed and the target is untouched.
:func:`atomic_write` is the same for bytes in hand. The temporary name carries the pid and
random bytes, so two threads or processes writing the same target never share one. This
is the only temp-then-rename in the package.

It lives in ``transcript/``, the lowest floor that touches the disk, and imports nothing
from threadline, so every floor above (sessions, tools, privacy) can use it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_file", "atomic_write", "open_ro", "temp_path", "write_all"]

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def temp_path(target: Path) -> Path:
    """A fresh temporary name beside ``target`` (hidden, unique per pid and call)."""
    return target.with_name(f".{target.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")


@contextlib.contextmanager
def atomic_file(
    target: Path,
    *,
    mode: int = 0o600,
    keep_mode: bool = False,
    fsync: bool = False,
    make_parents: bool = False,
) -> Iterator[int]:
    """A descriptor to write the new content of ``target`` to; renamed over ``target`` when
    the block ends normally, removed (``target`` untouched) when it raises.

    ``mode`` is the new file's mode (the umask applies: ``0o666`` gives a user file the
    usual permissions); ``keep_mode`` gives it the mode of the file it replaces, if any.
    ``make_parents`` creates missing parent directories (mode 0700). Raises
    :class:`OSError`.
    """
    if make_parents:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = temp_path(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, mode)
    try:
        try:
            if keep_mode:
                with contextlib.suppress(FileNotFoundError):
                    os.fchmod(fd, os.stat(target).st_mode & 0o7777)
            yield fd
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write every byte of ``data`` to ``fd`` (``os.write`` may write less)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def atomic_write(
    target: Path,
    data: bytes | bytearray | memoryview,
    *,
    mode: int = 0o600,
    keep_mode: bool = False,
    fsync: bool = False,
    make_parents: bool = False,
) -> None:
    """Replace ``target`` with ``data`` atomically (readers see the old or the new file);
    the options are :func:`atomic_file`'s. Raises :class:`OSError` (the target unchanged,
    no temporary file left behind)."""
    with atomic_file(
        target, mode=mode, keep_mode=keep_mode, fsync=fsync, make_parents=make_parents
    ) as fd:
        write_all(fd, data)


@contextlib.contextmanager
def open_ro(path: Path | str) -> Iterator[int]:
    """A read-only descriptor of ``path`` (close-on-exec), closed on exit."""
    fd = os.open(path, os.O_RDONLY | _CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)
