"""Small file primitives every floor shares: an atomic replace and a read-only open.

A crash must never leave a half-written file where a reader expects a whole one (a
compaction sidecar, a snapshot, a bundle, a subagent's ``.meta.json``, a file the agent
edits). :func:`atomic_write` writes a private temporary file beside the target (created
exclusively, never through a symlink), optionally ``fsync``\\ s it, and renames it over the
target; on any failure the temporary file is removed and the target is untouched. The
temporary name carries the pid and random bytes, so two threads or processes writing the
same target never share one.

Floor 0: imports nothing from threadline.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_write", "open_ro", "temp_path"]

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def temp_path(target: Path) -> Path:
    """A fresh temporary name beside ``target`` (hidden, unique per pid and call)."""
    return target.with_name(f".{target.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")


def atomic_write(
    target: Path,
    data: bytes | memoryview,
    *,
    mode: int = 0o600,
    fsync: bool = False,
    make_parents: bool = False,
) -> None:
    """Replace ``target`` with ``data`` atomically (readers see the old or the new file).

    ``make_parents`` creates missing parent directories with mode 0700. Raises
    :class:`OSError` (the target unchanged, no temporary file left behind).
    """
    if make_parents:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = temp_path(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def open_ro(path: Path | str) -> Iterator[int]:
    """A read-only descriptor of ``path`` (close-on-exec), closed on exit."""
    fd = os.open(path, os.O_RDONLY | _CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)
