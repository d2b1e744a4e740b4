"""The compaction offset sidecar of a local transcript: where its live part starts.

After a compaction only the part of a transcript from the preserved segment's head onwards
matters (see :mod:`threadline.transcript._compaction`). Its byte offset is kept in a small
sidecar, ``<session>/threadline-compact.json`` (beside the ``subagents/`` folder, which
official tools ignore), written after each compaction and learned after a full parse of a
file the CLI compacted. Two readers use it, through the one validity check here
(:func:`valid_offsets`): a resume reads from the offset (:func:`load_tail`), and
:class:`~threadline.sessions.FileStore` starts its uuid scan there (:func:`compacted_floor`).
If the sidecar is missing or stale (the file was rewritten, the line there is not the
boundary) or the chain read from there does not reach the boundary, the whole file is read.

Only stores that declare :class:`~threadline.sessions.LocalTranscripts` (files holding the
entries unchanged) take this path; every other store loads everything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
import orjson

from ..transcript._compaction import is_boundary, last_boundary, tail_complete
from ..transcript._fileio import atomic_write
from ..transcript._jsonl import gc_paused, loads_line
from ._filelog import read_objects
from ._protocol import PartialLoadStore, SessionKey, SessionStore, local_transcripts

__all__ = [
    "SIDECAR_NAME",
    "Offsets",
    "compacted_floor",
    "load_for_resume",
    "load_live",
    "load_tail",
    "read_for_resume",
    "record_boundary",
    "sidecar_path",
    "valid_offsets",
    "line_start_of",
    "read_entries",
]

Raw = dict[str, Any]

SIDECAR_NAME = "threadline-compact.json"
_SCAN_CHUNK = 1 << 20


@dataclass(frozen=True)
class Offsets:
    """A recorded compaction: the boundary's uuid and line offset, and where the preserved
    segment before it starts (``start <= boundary``)."""

    boundary_uuid: str
    boundary: int
    start: int


def sidecar_path(transcript: Path) -> Path:
    return transcript.with_suffix("") / SIDECAR_NAME


def read_sidecar(transcript: Path) -> Offsets | None:
    """The recorded offsets of ``transcript`` (``None``: no sidecar, or not well-formed)."""
    try:
        info = orjson.loads(sidecar_path(transcript).read_bytes())
        boundary, start, uuid = info["boundary"], info["start"], info["boundaryUuid"]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        return None
    if not (isinstance(boundary, int) and isinstance(start, int) and isinstance(uuid, str)):
        return None
    return Offsets(boundary_uuid=uuid, boundary=boundary, start=start)


def valid_offsets(transcript: Path, fd: int, size: int) -> Offsets | None:
    """The recorded offsets if they still describe the open file ``fd`` of ``size`` bytes:
    the line at ``boundary`` is that boundary entry and both offsets start a line."""
    found = read_sidecar(transcript)
    if found is None or not 0 <= found.start <= found.boundary < size:
        return None
    first_line = os.pread(fd, min(size - found.boundary, 1 << 16), found.boundary)
    line_end = first_line.find(b"\n")
    try:
        first = orjson.loads(first_line[: line_end if line_end >= 0 else len(first_line)])
    except orjson.JSONDecodeError:
        return None
    if not isinstance(first, dict) or first.get("uuid") != found.boundary_uuid:
        return None
    if not is_boundary(first):
        return None
    for offset in (found.boundary, found.start):
        if offset and os.pread(fd, 1, offset - 1) != b"\n":
            return None
    return found


def compacted_floor(transcript: Path, fd: int, size: int) -> int:
    """Offset where the live part of a compacted transcript starts (0 if unknown or stale).

    A file store's idempotency (uuid dedup) and head then cover entries from that point on:
    the history before a compaction boundary is sealed and never re-appended by the runtime.
    """
    if not transcript.name.endswith(".jsonl"):
        return 0
    found = valid_offsets(transcript, fd, size)
    return found.start if found is not None else 0


def line_start_of(fd: int, needle: bytes, end: int, floor: int = 0) -> int | None:
    """Offset of the start of the last line before ``end`` that contains ``needle``."""
    pos = end
    carry = b""
    while pos > floor:
        lo = max(floor, pos - _SCAN_CHUNK)
        buf = os.pread(fd, pos - lo, lo) + carry
        hit = buf.rfind(needle)
        if hit >= 0:
            nl = buf.rfind(b"\n", 0, hit)
            if nl >= 0 or lo == floor:
                return lo + nl + 1
            # the line starts before this chunk: keep scanning for its newline
            carry = buf[: hit + len(needle)]
            pos = lo
            while pos > floor:
                lo = max(floor, pos - _SCAN_CHUNK)
                more = os.pread(fd, pos - lo, lo)
                nl = more.rfind(b"\n")
                if nl >= 0:
                    return lo + nl + 1
                pos = lo
            return floor
        carry = buf[: len(needle)]
        pos = lo
    return None


def record_boundary(transcript: Path, boundary_uuid: str, first_uuid: str) -> bool:
    """Find the boundary (and the preserved head before it) in the file; write the sidecar."""
    try:
        fd = os.open(transcript, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        size = os.fstat(fd).st_size
        boundary = line_start_of(fd, f'"uuid":"{boundary_uuid}"'.encode(), size)
        if boundary is None:
            return False
        start = boundary
        if first_uuid != boundary_uuid:
            found = line_start_of(fd, f'"uuid":"{first_uuid}"'.encode(), boundary)
            start = found if found is not None else 0
    finally:
        os.close(fd)
    data = orjson.dumps({"boundaryUuid": boundary_uuid, "boundary": boundary, "start": start})
    try:
        atomic_write(sidecar_path(transcript), data, make_parents=True)
    except OSError:
        return False
    return True


def load_tail(transcript: Path) -> list[Raw] | None:
    """Entries from the recorded compaction offset to the end (``None``: no usable offset)."""
    try:
        fd = os.open(transcript, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        found = valid_offsets(transcript, fd, size)
        if found is None:
            return None
        with gc_paused():
            return read_entries(fd, found.start, size)
    finally:
        os.close(fd)


def read_entries(fd: int, start: int, size: int) -> list[Raw]:
    """Complete JSON object lines of ``fd`` in ``[start, size)``, read in 1 MiB chunks.

    Only one chunk is held as bytes at a time, so the peak stays near the parsed size.
    """
    out: list[Raw] = []
    shared: dict[str, str] = {}
    carry = b""
    pos = start
    while pos < size:
        chunk = carry + os.pread(fd, min(_SCAN_CHUNK, size - pos), pos)
        if len(chunk) == len(carry):
            break
        pos += len(chunk) - len(carry)
        cut = chunk.rfind(b"\n") + 1
        _parse_lines(memoryview(chunk)[:cut], out, shared)
        carry = chunk[cut:]
    if carry:  # a last line that lost only its newline counts, as for the other readers
        try:
            last = orjson.loads(carry)
        except orjson.JSONDecodeError:
            last = None
        if type(last) is dict:
            out.append(last)
    return out


_SHARED_FIELDS = ("type", "cwd", "sessionId", "version", "gitBranch", "userType", "entrypoint")
_SHARED_MESSAGE_FIELDS = ("role", "model", "type", "stop_reason")


def _share(obj: Raw, keys: tuple[str, ...], shared: dict[str, str]) -> None:
    for key in keys:
        v = obj.get(key)
        if type(v) is str and len(v) < 200:
            obj[key] = shared.setdefault(v, v)


def _parse_lines(view: memoryview, out: list[Raw], shared: dict[str, str]) -> None:
    """Append the JSON object lines of ``view`` to ``out`` (no per-line copies).

    Values repeated on every entry (``cwd``, ``sessionId``, ...) are shared between
    entries, which keeps a parsed tail close to its size on disk.
    """
    data = view.obj
    assert isinstance(data, (bytes, bytearray))
    pos, end = 0, len(view)
    loads = orjson.loads
    while pos < end:
        nl = data.find(b"\n", pos, end)
        stop = end if nl < 0 else nl
        if stop > pos:
            try:
                value = loads(view[pos:stop])
            except orjson.JSONDecodeError:
                # what orjson refuses and Python's json takes (a lone surrogate's escape, as
                # in text cut inside a pair, NaN): read as every full reader reads it
                value = loads_line(bytes(view[pos:stop]))
            if type(value) is dict:
                _share(value, _SHARED_FIELDS, shared)
                message = value.get("message")
                if type(message) is dict:
                    _share(message, _SHARED_MESSAGE_FIELDS, shared)
                    content = message.get("content")
                    if type(content) is list:
                        for block in content:
                            if type(block) is dict:
                                _share(block, ("type",), shared)
                if out:
                    # a parentUuid usually names the previous entry: share that string
                    prev = out[-1].get("uuid")
                    if prev is not None and prev == value.get("parentUuid"):
                        value["parentUuid"] = prev
                out.append(value)
        pos = stop + 1


def read_for_resume(path: Path, record: bool = True) -> tuple[list[Raw] | None, bool]:
    """(entries, whether they came from the recorded offset). ``record=False``: the offset
    of a compaction found on the way is not written down (``persist_session=False``)."""
    tail = load_tail(path)
    if tail is not None and tail_complete(tail):
        return tail, True
    try:
        with gc_paused():
            # (the entries with a subtype, gathered as they are parsed: only they can be
            # a compaction boundary, and a pass over them all afterwards costs ≈ 10 ms)
            entries, subtyped = read_objects(path, "subtype")
    except (FileNotFoundError, NotADirectoryError):
        return None, False
    found = last_boundary(subtyped)
    if found is not None and record:
        record_boundary(path, *found)
    return entries, False


async def load_live(store: SessionStore, key: SessionKey) -> list[Raw] | None:
    """The entries that rebuild ``key``'s live conversation: from the last compaction on
    when the store loads partially (:class:`~threadline.sessions.PartialLoadStore`) and
    that part reaches the compaction (:func:`tail_complete`), else everything."""
    if isinstance(store, PartialLoadStore):
        part = await store.load_since_compaction(key)
        if part is None:
            return None
        entries = [dict(e) for e in part]
        if not any(is_boundary(e) for e in entries) or tail_complete(entries):
            return entries  # no compaction: ``part`` is the whole transcript
    loaded = await store.load(key)
    return None if loaded is None else [dict(e) for e in loaded]


async def load_for_resume(
    store: SessionStore, key: SessionKey, *, at: str | None = None, record: bool = True
) -> list[Raw] | None:
    """A session's entries for a resume: only the part after the last compaction when a
    :class:`~threadline.sessions.FileStore` recorded (or can learn) where it starts.

    A :class:`~threadline.sessions.PartialLoadStore` (every database store) is asked for
    the same part (:func:`load_live`). ``resume_session_at``, other stores and main
    transcripts without a usable offset load everything (``store.load``).
    """
    files = local_transcripts(store)
    if at is None and files is None:
        return await load_live(store, key)
    if at is not None or files is None or key.get("subpath"):
        loaded = await store.load(key)
        return None if loaded is None else [dict(e) for e in loaded]
    path = files.path_for(key)
    entries, _ = await anyio.to_thread.run_sync(read_for_resume, path, record)
    return entries
