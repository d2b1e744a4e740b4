"""Resume snapshots: a big session's API-ready history, kept beside its transcript.

Resuming a long session means parsing every line of its transcript, rebuilding the
conversation chain and converting it into Messages API ``messages``; for 20 000 entries
that is most of the time before the first model request. After a resume of a
:class:`~threadline.sessions.FileStore` session with at least :data:`MIN_ENTRIES`
entries, the result is kept in ``<session>/threadline-resume.snap`` (beside the
``subagents/`` folder and the compaction sidecar, which official tools ignore; deleting
or archiving the session takes it along). The next resume of the *same file state* reads
the snapshot instead of the transcript.

A snapshot is used only when the transcript is provably the one it was made from: same
device, inode, size and ``mtime_ns``, and the same BLAKE2 digest of the file's first and
last 4 KiB. Anything else (an append by threadline or the ``claude`` CLI, a rewrite, a
copy to another host) makes it stale: the resume reads the transcript as before and
replaces the snapshot. A snapshot that cannot be read (torn, foreign, wrong version) is
ignored, never trusted.

The snapshot holds the history exactly as the transcript stores it (so it is redacted
when the transcript is), written 0600 in the 0700 session directory, atomically (a
temporary file renamed into place). It does not hold the raw chain: a runtime resumed
from a snapshot loads the chain from the transcript's first ``size`` bytes only when it
needs it (compaction).

Format (version 8): one JSON header line (``version``, ``size``, ``mtimeNs``, ``ino``,
``dev``, ``digest``, ``leaf``, ``cwd``, ``extendable``, ``messages``, ``tail``: the
slash-command kinds of the user entries after the last reply, which decide what a resume
closes the conversation with; ``intact``: how many leading messages the tool-pair repair
leaves as they are, see ``transcript._api.repaired_prefix``, so a resume repairs only the
rest), one line with the JSON array of every assistant message id in the snapshotted
entries, then the API messages before tool-pair repair (so appended messages merge as they
would in a full rebuild), as JSON arrays of consecutive messages, one array of about
:data:`_LINE` bytes per line (read line by line, so a resume never holds the text and the
objects at once; one parse per array, not per message).

Not detected: an edit *in place* (same inode) that keeps the file's length, in the
middle of the snapshotted part, followed by an append. Editors and ``sed -i`` write a new
file (a new inode), which is detected; after an in-place edit delete the snapshot.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .._exceptions import ConcurrentModificationError
from ..transcript._fileio import atomic_file, write_all
from ..transcript._jsonl import gc_paused, iter_objects

__all__ = [
    "MIN_ENTRIES",
    "SNAPSHOT_NAME",
    "FileState",
    "Snapshot",
    "prefix_loader",
    "read_appended",
    "read_snapshot",
    "write_snapshot",
]

Raw = dict[str, Any]

SNAPSHOT_NAME = "threadline-resume.snap"
MIN_ENTRIES = 2_000
"""Smaller sessions resume fast enough from the transcript; no snapshot is written."""
_VERSION = 8  # 7: @-mention attachments are sent (transcript/_api); 8: arrays, intact
_EDGE = 4096
_CHUNK = 1 << 20
_LINE = 1 << 16
"""A messages line ends after the message that takes it past this many bytes."""


@dataclass(frozen=True)
class FileState:
    """What identifies one state of a transcript file."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    digest: str

    @classmethod
    def of(cls, path: Path) -> FileState | None:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return None
        try:
            return cls.of_fd(fd, os.fstat(fd))
        except OSError:
            return None
        finally:
            os.close(fd)

    @classmethod
    def of_fd(cls, fd: int, st: os.stat_result) -> FileState:
        return cls(
            dev=st.st_dev,
            ino=st.st_ino,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            digest=_edge_digest(fd, st.st_size),
        )


def _edge_digest(fd: int, size: int) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(os.pread(fd, min(size, _EDGE), 0))
    if size > _EDGE:
        h.update(os.pread(fd, min(size - _EDGE, _EDGE), max(_EDGE, size - _EDGE)))
    return h.hexdigest()


@dataclass(frozen=True)
class Snapshot:
    state: FileState
    """The transcript state it was made from (a prefix of the current file)."""
    messages: list[Raw]
    """Merged API messages before tool-pair repair."""
    leaf: str | None
    """The uuid new entries hang off (appended entries must hang off it)."""
    message_ids: set[str]
    """Every assistant message id in the entries it was made from (an appended entry
    reusing one would be regrouped by the chain rebuild: those need a full read)."""
    cwd: str | None
    tail: list[tuple[str, bool]]
    """The chain's ``tail_kinds`` (see ``transcript._api``)."""
    extendable: bool
    """Whether entries appended under ``leaf`` may be added (not when the chain ends with
    parallel results its rebuild recovered after the walk's leaf: a turn written under one
    of those is rebuilt differently)."""
    current: FileState
    """The transcript's state now (``current.size > state.size``: entries were appended)."""
    intact: int = 0
    """How many leading ``messages`` the tool-pair repair leaves as they are (also once
    entries are merged after them): ``transcript._api.repaired_prefix``."""


def snapshot_path(transcript: Path) -> Path:
    return transcript.with_suffix("") / SNAPSHOT_NAME


def read_snapshot(transcript: Path) -> Snapshot | None:
    """The snapshot of a prefix of ``transcript``, or ``None`` (missing, stale, unreadable)."""
    try:
        with open(snapshot_path(transcript), "rb") as fh:
            header = orjson.loads(fh.readline(1 << 16))
            if not isinstance(header, dict) or header.get("version") != _VERSION:
                return None
            state = FileState(
                dev=header["dev"],
                ino=header["ino"],
                size=header["size"],
                mtime_ns=header["mtimeNs"],
                digest=header["digest"],
            )
            current = _current_state(transcript, state)
            if current is None:
                return None
            count, intact = header["messages"], header["intact"]
            extendable = header["extendable"]
            with gc_paused():
                ids = orjson.loads(fh.readline())
                # a line at a time: the peak is the messages, not also their text
                messages = _read_messages(fh)
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    leaf, cwd = header.get("leaf"), header.get("cwd")
    tail = _tail(header.get("tail"))
    if (
        tail is None
        or messages is None
        or len(messages) != count
        or type(intact) is not int
        or not 0 <= intact <= max(count - 1, 0)
        or not _well_formed(messages)
        or type(ids) is not list
        or type(extendable) is not bool
        or not all(v is None or isinstance(v, str) for v in (leaf, cwd))
    ):
        return None  # torn or foreign
    return Snapshot(
        state=state,
        messages=messages,
        leaf=leaf,
        message_ids={i for i in ids if isinstance(i, str)},
        cwd=cwd,
        tail=tail,
        extendable=extendable,
        current=current,
        intact=intact,
    )


def _read_messages(lines: Iterable[bytes]) -> list[Raw] | None:
    """The messages of the arrays on ``lines``; ``None`` when a line is not an array."""
    messages: list[Raw] = []
    loads = orjson.loads
    for line in lines:
        chunk = loads(line)
        if type(chunk) is not list:
            return None
        messages += chunk
    return messages


def _tail(value: object) -> list[tuple[str, bool]] | None:
    if type(value) is not list:
        return None
    out: list[tuple[str, bool]] = []
    for item in value:
        if type(item) is not list or len(item) != 2:
            return None
        kind, meta = item
        if type(kind) is not str or type(meta) is not bool:
            return None
        out.append((kind, meta))
    return out


def _well_formed(messages: list[Any]) -> bool:
    """Whether every message is an API message as the history builder makes them: a role
    and a string or a list of blocks (one loop: this runs on every snapshot resume)."""
    for message in messages:
        if type(message) is not dict or type(message.get("role")) is not str:
            return False
        content = message.get("content")
        if type(content) is not str:
            if type(content) is not list:
                return False
            for block in content:
                if type(block) is not dict:
                    return False
    return True


def _current_state(transcript: Path, state: FileState) -> FileState | None:
    """The file's state if it is ``state`` or ``state`` plus appended bytes, else ``None``."""
    try:
        fd = os.open(transcript, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (state.dev, state.ino) or st.st_size < state.size:
            return None
        if st.st_size == state.size and st.st_mtime_ns != state.mtime_ns:
            return None
        if _edge_digest(fd, state.size) != state.digest:
            return None
        return state if st.st_size == state.size else FileState.of_fd(fd, st)
    except OSError:
        return None
    finally:
        os.close(fd)


def read_appended(transcript: Path, snap: Snapshot) -> tuple[list[Raw], FileState] | None:
    """The entries appended after ``snap`` and the state of the file up to the last of
    them; ``None`` if the file is no longer the one ``snap`` was checked against.

    As the readers do, a last line without its newline counts when it is a whole JSON
    object (only the newline was lost; the next append adds it), and not when it is torn.
    """
    start, current = snap.state.size, snap.current
    try:
        fd = os.open(transcript, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (current.dev, current.ino) or st.st_size < current.size:
            return None
        data = pread_all(fd, current.size - start, start)
        end = start + data.rfind(b"\n") + 1
        if end < current.size and _whole_object(data[end - start :]):
            end = current.size
        if end == current.size:
            state = current
        elif end == start:
            state = snap.state
        else:
            state = FileState(
                dev=current.dev,
                ino=current.ino,
                size=end,
                mtime_ns=current.mtime_ns,
                digest=_edge_digest(fd, end),
            )
    except OSError:
        return None
    finally:
        os.close(fd)
    with gc_paused():
        return list(iter_objects(data[: end - start])), state


def _whole_object(line: bytes) -> bool:
    try:
        return type(orjson.loads(line)) is dict
    except orjson.JSONDecodeError:
        return False


def pread_all(fd: int, size: int, offset: int) -> bytes:
    """``size`` bytes at ``offset`` (one ``pread`` returns at most about 2 GiB)."""
    parts: list[bytes] = []
    while size > 0:
        part = os.pread(fd, min(size, 1 << 30), offset)
        if not part:
            break
        parts.append(part)
        size -= len(part)
        offset += len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def write_snapshot(
    transcript: Path,
    state: FileState,
    *,
    messages: list[Raw],
    leaf: str | None,
    message_ids: set[str],
    cwd: str | None,
    extendable: bool,
    tail: Sequence[tuple[str, bool]] = (),
    intact: int = 0,
) -> bool:
    """Keep ``messages`` (merged, unrepaired) for ``state`` if the transcript is still in it.
    ``intact``: their ``transcript._api.repaired_prefix`` (0 claims nothing).

    Not for a state that ends in a torn line (a repair would rewrite those bytes). Best
    effort: any failure leaves no snapshot (a resume then reads the transcript).
    """
    if FileState.of(transcript) != state or not _ends_with_newline(transcript, state.size):
        return False  # appended to (or replaced) while we read it, or torn
    header = {
        "version": _VERSION,
        "size": state.size,
        "mtimeNs": state.mtime_ns,
        "ino": state.ino,
        "dev": state.dev,
        "digest": state.digest,
        "leaf": leaf,
        "cwd": cwd,
        "extendable": extendable,
        "messages": len(messages),
        "tail": [list(t) for t in tail],
        "intact": max(0, min(intact, len(messages) - 1)),
    }
    try:
        head = orjson.dumps(header, option=orjson.OPT_APPEND_NEWLINE) + orjson.dumps(
            sorted(message_ids), option=orjson.OPT_APPEND_NEWLINE
        )
        with atomic_file(snapshot_path(transcript), make_parents=True) as fd:
            _write_messages(fd, head, messages)
    except (OSError, TypeError, orjson.JSONEncodeError):
        return False
    return True


def _write_messages(fd: int, head: bytes, messages: list[Raw]) -> None:
    """``head`` then the messages, as arrays of about :data:`_LINE` bytes one per line,
    serialised block by block into a buffer written every ~1 MiB (merged messages can be
    huge): a resume's peak memory does not grow by a copy of the whole history."""
    dumps = orjson.dumps
    buf = bytearray(head)
    flushed = 0  # bytes of buf written out so far
    line_start = -1  # where the open line starts (flushed + position), -1: none open
    for message in messages:
        if line_start < 0:
            line_start = flushed + len(buf)
            buf += b"["
        else:
            buf += b","
        content = message.get("content")
        if len(message) == 2 and type(content) is list and next(iter(message)) == "role":
            buf += b'{"role":'
            buf += dumps(message["role"])
            buf += b',"content":['
            for j, block in enumerate(content):
                if j:
                    buf += b","
                buf += dumps(block)
                if len(buf) >= _CHUNK:
                    write_all(fd, buf)
                    flushed += len(buf)
                    buf.clear()
            buf += b"]}"
        else:
            buf += dumps(message)
        if flushed + len(buf) - line_start >= _LINE:
            buf += b"]\n"
            line_start = -1
        if len(buf) >= _CHUNK:
            write_all(fd, buf)
            flushed += len(buf)
            buf.clear()
    if line_start >= 0:
        buf += b"]\n"
    write_all(fd, buf)


def _ends_with_newline(transcript: Path, size: int) -> bool:
    if size == 0:
        return False
    try:
        with open(transcript, "rb") as fh:
            fh.seek(size - 1)
            return fh.read(1) == b"\n"
    except OSError:
        return False


def prefix_loader(
    transcript: Path, state: FileState, rebuild: Callable[[list[Raw]], list[Raw]]
) -> Callable[[], list[Raw]]:
    """A loader of the chain as it was in ``state``: the file's first ``state.size`` bytes."""

    def load() -> list[Raw]:
        try:
            fd = os.open(transcript, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise _changed(transcript) from exc
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != (state.dev, state.ino) or st.st_size < state.size:
                raise _changed(transcript)
            data = pread_all(fd, state.size, 0)
        finally:
            os.close(fd)
        if _edge_digest_bytes(data) != state.digest:
            raise _changed(transcript)
        with gc_paused():
            return rebuild(list(iter_objects(data)))

    return load


def _edge_digest_bytes(data: bytes) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(data[:_EDGE])
    if len(data) > _EDGE:
        h.update(data[max(_EDGE, len(data) - _EDGE) :])
    return h.hexdigest()


def _changed(transcript: Path) -> ConcurrentModificationError:
    return ConcurrentModificationError(
        f"The transcript {transcript} was replaced or rewritten while this run had it open; "
        "resume the session again to continue from its current state."
    )
