"""Durable appends to a JSONL file: whole lines, one writer at a time, torn tails repaired.

Crash model: a process killed mid-``write`` can leave a partial last line.
Before every append we take an exclusive ``flock`` on the file, look at its
last byte, and if the file does not end in ``\\n`` we either complete the line
(it parses: only the newline was lost) or cut it back to the last newline
(it is garbage no reader could use). Then all new lines go out in one
``write`` on an ``O_APPEND`` descriptor. Readers skip an unterminated last
line, so a concurrent reader never sees half an entry as data.

Files are created 0600 and directories 0700.

The lock wait is bounded (:data:`LOCK_TIMEOUT`, then :class:`StorageError`) and, in a worker
thread started by ``anyio.to_thread.run_sync``, cancellable: the waiter polls, and a
cancelled caller stops waiting instead of writing later behind its back.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from .._exceptions import StorageError
from ..transcript._jsonl import parse_lines

Raw = dict[str, Any]

__all__ = [
    "LOCK_TIMEOUT",
    "append_lines",
    "ensure_private_dir",
    "lock_exclusive",
    "locked_fd",
    "read_complete",
    "read_objects",
    "repair_tail",
]

_DIR_MODE = 0o700
_FILE_MODE = 0o600
LOCK_TIMEOUT = 60.0
"""Seconds a writer waits for another writer's lock before giving up (a write holds it for
milliseconds; a minute means the holder is stuck)."""


def _check_cancelled() -> None:
    """Raise if the anyio worker thread running this was cancelled. Only such a thread can
    be: a program that has not loaded anyio has none (and a plain ``list_sessions()`` in a
    fresh process does not pay anyio's ~30 ms import for the check)."""
    if "anyio" not in sys.modules:
        return
    from anyio.from_thread import check_cancelled

    try:
        check_cancelled()
    except RuntimeError:  # not in an anyio worker thread: nothing to cancel from
        pass


def lock_exclusive(fd: int, path: Path, timeout: float | None = None) -> None:
    """``flock(LOCK_EX)`` that gives up after ``timeout`` s and notices a cancelled caller."""
    limit = LOCK_TIMEOUT if timeout is None else timeout
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    deadline = time.monotonic() + limit
    delay = 0.0005
    while True:
        _check_cancelled()
        if time.monotonic() >= deadline:
            raise StorageError(
                f"Timed out after {limit:g} s waiting for the lock on {path}: another writer "
                "holds it (a stuck process?)"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.01)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            continue


def ensure_private_dir(path: Path, stop_at: Path | None = None) -> None:
    """Create ``path`` and missing parents with mode 0700."""
    missing: list[Path] = []
    cur = path
    while not cur.exists():
        missing.append(cur)
        if stop_at is not None and cur == stop_at:
            break
        parent = cur.parent
        if parent == cur:
            break
        cur = parent
    for d in reversed(missing):
        try:
            os.mkdir(d, _DIR_MODE)
        except FileExistsError:
            pass
        else:
            os.chmod(d, _DIR_MODE)  # umask may have narrowed it; make it exact


@contextlib.contextmanager
def locked_fd(path: Path, *, create: bool, timeout: float | None = None) -> Iterator[int]:
    """An O_RDWR|O_APPEND descriptor holding an exclusive flock (see :func:`lock_exclusive`)."""
    flags = os.O_RDWR | os.O_APPEND | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    if create:
        flags |= os.O_CREAT
    for _ in range(100):
        try:
            fd = os.open(path, flags, _FILE_MODE)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StorageError(f"Refusing to write through a symlink: {path}") from exc
            raise
        try:
            lock_exclusive(fd, path, timeout)
            # The file may have been replaced or moved away (restore, cleanup, a rewrite)
            # while we waited for the lock: writing to the old inode would lose the data.
            st = os.fstat(fd)
            try:
                cur = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                cur = None
            if cur is None or (cur.st_ino, cur.st_dev) != (st.st_ino, st.st_dev):
                os.close(fd)
                fd = -1
                if cur is None and not create:
                    raise FileNotFoundError(errno.ENOENT, "transcript disappeared", str(path))
                continue
        except BaseException:
            if fd >= 0:
                os.close(fd)
            raise
        try:
            yield fd
        finally:
            os.close(fd)
        return
    raise StorageError(f"{path} keeps being replaced; giving up")  # pragma: no cover


def repair_tail(fd: int) -> int:
    """Make the file end on a line boundary; return the resulting size."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size
    # Find the start of the torn last line.
    pos = size
    start = 0
    chunk = 65536
    while pos > 0:
        lo = max(0, pos - chunk)
        buf = os.pread(fd, pos - lo, lo)
        nl = buf.rfind(b"\n")
        if nl >= 0:
            start = lo + nl + 1
            break
        pos = lo
    partial = os.pread(fd, size - start, start)
    try:
        complete = isinstance(orjson.loads(partial), dict)
    except orjson.JSONDecodeError:
        complete = False
    if complete:
        os.write(fd, b"\n")
        return size + 1
    os.ftruncate(fd, start)
    return start


def append_lines(path: Path, data: bytes, *, fsync: bool = False) -> tuple[int, int]:
    """Append ``data`` (complete lines) under the lock; return (offset written at, new size)."""
    with locked_fd(path, create=True) as fd:
        start = repair_tail(fd)
        view = memoryview(data)
        written = 0
        while written < len(data):
            written += os.write(fd, view[written:])
        if fsync:
            os.fsync(fd)
        return start, start + written


def read_complete(path: Path) -> bytes:
    """File contents up to the last newline (a torn last line is not returned)."""
    with open(path, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n")
        tail = data[cut + 1 :]
        try:
            if isinstance(orjson.loads(tail), dict):
                return data + b"\n"
        except orjson.JSONDecodeError:
            pass
        data = data[: cut + 1]
    return data


_READ_CHUNK = 1 << 20


def read_objects(path: Path, key: str | None = None) -> tuple[list[Raw], list[Raw]]:
    """``parse_objects(read_complete(path))``: every object line of the file, a torn last
    line left out, as :func:`read_complete` decides. With ``key``, also those of them that
    have that key (in file order; else an empty list).

    The file is read :data:`_READ_CHUNK` bytes at a time into one buffer, and the complete
    lines of each piece are parsed at once: a whole-file read put a transcript (35.7 MiB
    for the bench corpus's largest) in new memory every time, which cost a new process
    ≈ 9 000 page faults (≈ 20 ms) before the first line was parsed, and the parse then read
    it back from memory rather than from the cache. Raises :class:`OSError`."""
    out: list[Raw] = []
    having: list[Raw] = []
    buf = bytearray(_READ_CHUNK)
    view = memoryview(buf)
    filled = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            if filled == len(buf):  # a line longer than the buffer: a larger one
                bigger = bytearray(2 * len(buf))
                bigger[:filled] = view
                view.release()
                buf, view = bigger, memoryview(bigger)
            got = f.readinto(view[filled:])
            if not got:
                break
            # (the bytes kept from before hold no newline: only the new ones are searched,
            # or a long line read in short pieces would be searched again and again)
            cut = buf.rfind(b"\n", filled, filled + got) + 1
            filled += got
            if cut:
                parse_lines(view, cut, out, key, having)
                view[: filled - cut] = view[cut:filled]
                filled -= cut
    if filled:  # the last line lost its newline: kept if it is a whole object
        try:
            last = orjson.loads(view[:filled])
        except orjson.JSONDecodeError:
            last = None
        if isinstance(last, dict):
            parse_lines(view, filled, out, key, having)
    return out, having
