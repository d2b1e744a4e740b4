"""Partial loads of a local transcript file (:class:`~threadline.sessions.PartialLoadStore`
for :class:`~threadline.sessions.FileStore`).

A JSONL file is its own index from the end: the entries after a uuid and the last *n*
entries are read backwards from the end, only as far as needed; the entries since the
last compaction start at the byte offset its sidecar records
(:mod:`threadline.sessions._offsets`, kept by FileStore when it appends a boundary).
Each function reads complete lines only (a torn last line is left out, as by ``load``)
and returns ``None`` when the file does not exist.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import orjson

from ..transcript._jsonl import dumps_value, gc_paused, iter_objects, loads_line
from ._filelog import read_complete
from ._offsets import line_start_of, load_tail, read_entries

__all__ = ["entries_after", "last_entries", "since_compaction"]

Raw = dict[str, Any]
_CHUNK = 1 << 20


def _open(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except (FileNotFoundError, NotADirectoryError):
        return None


def _read_all(path: Path) -> list[Raw] | None:
    try:
        data = read_complete(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    with gc_paused():
        return list(iter_objects(data))


def since_compaction(path: Path) -> list[Raw] | None:
    """The entries from the recorded compaction offset on (all of them without one)."""
    tail = load_tail(path)
    return tail if tail is not None else _read_all(path)


def _line_at(fd: int, start: int, size: int) -> tuple[bytes, int]:
    """The line starting at ``start`` (without its newline) and the offset after it."""
    parts: list[bytes] = []
    pos = start
    while pos < size:
        buf = os.pread(fd, min(_CHUNK, size - pos), pos)
        nl = buf.find(b"\n")
        if nl >= 0:
            parts.append(buf[:nl])
            return b"".join(parts), pos + nl + 1
        parts.append(buf)
        pos += len(buf)
    return b"".join(parts), size


def _torn_or_object(line: bytes) -> dict[str, Any] | None:
    """A last line without its line break, as every full read decides it
    (:func:`~threadline.sessions._filelog.read_complete`): an entry only if ``orjson``
    takes it, else a line torn by a crash mid-append (not returned by ``load``)."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return value if type(value) is dict else None


def _needles(uuid: str) -> list[bytes]:
    """How ``"uuid":"<uuid>"`` may be written: as threadline writes it, and for a uuid that
    is not ASCII also ASCII-escaped (``\\u00e9``): threadline writes a whole line so when it
    holds a lone surrogate anywhere, and other writers (Claude Code) may escape too."""
    needle = dumps_value({"uuid": uuid})[1:-1]
    if uuid.isascii():
        return [needle]
    escaped = b'"uuid":' + json.dumps(uuid, ensure_ascii=True).encode()
    return [needle] if escaped == needle else [needle, escaped]


def entries_after(path: Path, uuid: str) -> list[Raw] | None:
    """The entries after the last line whose top-level ``uuid`` is ``uuid`` (``None``: the
    file or the uuid is not there). Scans back from the end for the uuid."""
    fd = _open(path)
    if fd is None:
        return None
    try:
        size = os.fstat(fd).st_size
        needles = _needles(uuid)
        # the last line before `end` holding each needle (a needle's stays valid while it
        # is below `end`: only the one taken is searched for again)
        starts = [line_start_of(fd, needle, size) for needle in needles]
        while True:
            start = max((s for s in starts if s is not None), default=None)
            if start is None:
                return None
            line, after = _line_at(fd, start, size)
            if after == size and os.pread(fd, 1, size - 1) != b"\n":
                found = _torn_or_object(line)  # a last line without its line break
            else:
                found = loads_line(line)  # (a line with a lone surrogate escape needs json)
            if found is not None and found.get("uuid") == uuid:
                with gc_paused():
                    return read_entries(fd, after, size)
            starts = [
                line_start_of(fd, needle, start) if s == start else s
                for needle, s in zip(needles, starts)
            ]
    finally:
        os.close(fd)


def last_entries(path: Path, count: int) -> list[Raw] | None:
    """The last ``count`` entries, reading back from the end only as far as needed."""
    fd = _open(path)
    if fd is None:
        return None
    try:
        size = os.fstat(fd).st_size
        window = _CHUNK
        while True:
            pos = max(0, size - window)
            start = pos if pos == 0 else _line_at(fd, pos, size)[1]  # from a line start
            with gc_paused():
                entries = read_entries(fd, start, size)
            if len(entries) >= count or pos == 0:
                return entries[max(0, len(entries) - count) :] if count > 0 else []
            window *= 2
    finally:
        os.close(fd)
