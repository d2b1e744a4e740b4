"""Rename, tag, delete and fork, on disk, in the official SDK's entry shapes.

Rename and tag append one metadata line (last one wins when listing). Appends
go through the same locked, torn-tail-repairing writer as :class:`FileStore`,
so a metadata line never glues onto a half-written entry.
"""

from __future__ import annotations

import itertools
import json
import math
import mmap
import os
import queue
import re
import shutil
import threading
import types
import unicodedata
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from .._exceptions import (
    EmptySessionError,
    MessageNotFoundError,
    SessionNotFoundError,
    UserError,
)
from .._ids import new_uuid, new_uuids, validate_session_id
from .._results import ForkSessionResult
from ..transcript._chain import chain_entries
from ..transcript._fileio import atomic_file, write_all
from ..transcript._jsonl import dumps_line, gc_paused, loads_line
from ..transcript._lite import LITE_READ_BUF_SIZE, extract_first_prompt, last_field
from ..transcript._views import CHAIN_TYPES
from ._filelog import locked_fd, repair_tail
from ._locate import locate_session, search_description

__all__ = [
    "build_fork_entries",
    "delete_session",
    "fork_session",
    "iso_now",
    "rename_session",
    "sanitize_tag",
    "tag_session",
]

_UNICODE_STRIP = "[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ue000-\uf8ff]"
"""Compiled on first use (~5 ms: the private-use range), not by every run importing this module."""
_FORMAT_CATEGORIES = frozenset({"Cf", "Co", "Cn"})


def iso_now() -> str:
    """UTC now as ISO-8601 with ``Z`` (the CLI's timestamp form)."""
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def sanitize_tag(value: str) -> str:
    """NFKC + strip format/private-use/unassigned and bidi characters, until stable."""
    current = value
    for _ in range(10):
        previous = current
        current = unicodedata.normalize("NFKC", current)
        current = "".join(c for c in current if unicodedata.category(c) not in _FORMAT_CATEGORIES)
        current = re.sub(_UNICODE_STRIP, "", current)
        if current == previous:
            break
    return current


def _append_metadata(session_id: str, directory: str | None, entry: dict[str, Any]) -> None:
    loc = locate_session(session_id, directory)
    if loc is None:
        raise SessionNotFoundError(session_id, search_description(directory))
    data = dumps_line(entry)
    with locked_fd(loc.path, create=False) as fd:
        repair_tail(fd)
        os.write(fd, data)


def rename_session(session_id: str, title: str, directory: str | None = None) -> None:
    """Set a session's title (appends a ``custom-title`` entry; the last one wins)."""
    validate_session_id(session_id)
    if not isinstance(title, str) or not title.strip():
        raise UserError("title must be non-empty")
    _append_metadata(
        session_id,
        directory,
        {"type": "custom-title", "customTitle": title.strip(), "sessionId": session_id},
    )


def tag_session(session_id: str, tag: str | None, directory: str | None = None) -> None:
    """Set (or with ``None`` clear) a session's tag."""
    validate_session_id(session_id)
    if tag is not None:
        tag = sanitize_tag(tag).strip()
        if not tag:
            raise UserError("tag must be non-empty (use None to clear)")
    _append_metadata(
        session_id, directory, {"type": "tag", "tag": tag or "", "sessionId": session_id}
    )


def delete_session(session_id: str, directory: str | None = None) -> None:
    """Delete a session's transcript and its subagent directory (hard delete)."""
    validate_session_id(session_id)
    loc = locate_session(session_id, directory)
    if loc is None:
        raise SessionNotFoundError(session_id, search_description(directory))
    try:
        loc.path.unlink()
    except FileNotFoundError as exc:
        raise SessionNotFoundError(session_id, "(deleted concurrently)") from exc
    shutil.rmtree(loc.path.with_suffix(""), ignore_errors=True)


def split_fork_input(
    objects: list[dict[str, Any]], session_id: str
) -> tuple[list[dict[str, Any]], list[Any]]:
    """(chain entries in file order, content replacements of this session)."""
    replacements: list[Any] = []
    for e in objects:
        if (
            e.get("type") == "content-replacement"
            and e.get("sessionId") == session_id
            and isinstance(e.get("replacements"), list)
        ):
            replacements.extend(e["replacements"])
    return chain_entries(objects), replacements


_FORK_STRIPPED = ("teamName", "agentName", "slug", "sourceToolAssistantUUID")


def build_fork_entries(
    transcript: list[dict[str, Any]],
    replacements: list[Any],
    session_id: str,
    up_to_message_id: str | None,
    title: str | None,
    derive_title: Callable[[], str | None],
    *,
    in_place: bool = False,
) -> tuple[str, list[dict[str, Any]]]:
    """The official fork transform: fresh uuids, progress dropped, ``forkedFrom`` added.

    ``in_place=True`` rewrites the given entry dicts instead of copying them (for callers
    that parsed them privately); the result is the same.
    """
    if any(e.get("isSidechain") for e in transcript):
        transcript = [e for e in transcript if not e.get("isSidechain")]
    if not transcript:
        raise EmptySessionError(f"Session {session_id} has no messages to fork")
    if up_to_message_id:
        cut = next((i for i, e in enumerate(transcript) if e.get("uuid") == up_to_message_id), -1)
        if cut < 0:
            raise MessageNotFoundError(
                f"Message {up_to_message_id} not found in session {session_id}"
            )
        transcript = transcript[: cut + 1]
    mapping = dict(zip([e["uuid"] for e in transcript], new_uuids(len(transcript))))
    writable = [e for e in transcript if e.get("type") != "progress"]
    if not writable:
        raise EmptySessionError(f"Session {session_id} has no messages to fork")
    forked_id = new_uuid()
    now = iso_now()
    if len(writable) == len(transcript):
        # No progress entries: a parent maps directly (or to None when not in the fork).
        get = mapping.get
        parents = [get(p) if p else None for p in [e.get("parentUuid") for e in writable]]
    else:
        # Parents are re-pointed past progress entries (which are not written).
        by_uuid = {e["uuid"]: e for e in transcript}
        parents = [_parent_past_progress(e, by_uuid, mapping) for e in writable]
    out = writable if in_place else [dict(e) for e in writable]
    for forked, new_parent in zip(out, parents):
        _fork_one(forked, mapping, new_parent, forked_id, session_id, now)
    out[-1]["timestamp"] = now
    out.extend(fork_trailer(forked_id, session_id, now, replacements, title, derive_title))
    return forked_id, out


def fork_trailer(
    forked_id: str,
    session_id: str,
    now: str,
    replacements: list[Any],
    title: str | None,
    derive_title: Callable[[], str | None],
) -> list[dict[str, Any]]:
    """The entries a fork ends with: its content replacements (if any) and its title."""
    out: list[dict[str, Any]] = []
    if replacements:
        out.append(
            {
                "type": "content-replacement",
                "sessionId": forked_id,
                "replacements": replacements,
                "uuid": new_uuid(),
                "timestamp": now,
            }
        )
    fork_title = title.strip() if title else None
    if not fork_title:
        fork_title = f"{derive_title() or 'Forked session'} (fork)"
    out.append(
        {
            "type": "custom-title",
            "sessionId": forked_id,
            "customTitle": fork_title,
            "uuid": new_uuid(),
            "timestamp": now,
        }
    )
    return out


def _parent_past_progress(
    entry: dict[str, Any], by_uuid: dict[str, dict[str, Any]], mapping: dict[str, str]
) -> str | None:
    parent_id = entry.get("parentUuid")
    for _ in range(len(by_uuid)):  # a parentUuid cycle of progress entries ends too
        if not parent_id:
            return None
        parent = by_uuid.get(parent_id)
        if not parent:
            return None
        if parent.get("type") != "progress":
            return mapping.get(parent_id)
        parent_id = parent.get("parentUuid")
    return None


def fork_session(
    session_id: str,
    directory: str | None = None,
    up_to_message_id: str | None = None,
    title: str | None = None,
) -> ForkSessionResult:
    """Copy a session (up to and including ``up_to_message_id``) into a new session id.

    Every uuid is remapped and each entry records ``forkedFrom``; the source is
    untouched. The fork lands in the source's project directory.
    """
    validate_session_id(session_id)
    if up_to_message_id:
        validate_session_id(up_to_message_id, "up_to_message_id")
    loc = locate_session(session_id, directory)
    if loc is None:
        raise SessionNotFoundError(session_id, search_description(directory))
    reading = _Reading(loc.path)  # in a thread, while the pass works on what is in
    # All the large temporaries live and die inside the GC pause, so re-enabling the
    # collector does not make it walk tens of thousands of fresh dicts.
    with gc_paused():
        forked_id = new_uuid()
        now = iso_now()
        target = loc.project_dir / f"{forked_id}.jsonl"
        try:
            streamed = _fork_streamed(reading, target, session_id, up_to_message_id, now, title)
        finally:
            derive = reading.finish()  # from the file as it was (the pass rewrites lines)
        if not streamed:
            # A uuid occurs twice (the general transform decides which copy wins), or the
            # file has line breaks other than "\n", where the official fork splits too.
            # The pass may have rewritten lines in place: the file is read again, every
            # byte of it as the official fork reads it (a last line without a line break
            # included: read_complete keeps one only if orjson takes it, and NaN, 1e400 or
            # a lone surrogate's escape it refuses; a line really torn is invalid either way).
            del reading
            transcript, replacements = _fork_input(loc.path.read_bytes(), session_id)
            forked_id, entries = build_fork_entries(
                transcript, replacements, session_id, up_to_message_id, title, derive, in_place=True
            )
            chunks: list[bytes | memoryview] = [dumps_line(e) for e in entries]
            del transcript, entries
            write_new_transcript_chunks(loc.project_dir / f"{forked_id}.jsonl", chunks)
            del chunks, replacements
    return ForkSessionResult(session_id=forked_id)


class _NotStreamed(Exception):
    """The pass gave up: the general transform forks the file."""


def _fork_streamed(
    reading: _Reading, target: Path, session_id: str, up_to: str | None, now: str, title: str | None
) -> bool:
    """Fork by :func:`_stream_fork` into ``target`` (named by the fork's id), the finished
    lines written by a thread while the pass goes on (:class:`_Writer`) into a temp file
    renamed into place at the end, as :func:`write_new_transcript_chunks` does; ``False``
    (nothing written) when the pass gives up."""
    if target.exists():
        raise FileExistsError(f"Refusing to overwrite {target}")
    forked_id = target.stem
    try:
        with atomic_file(target) as fd:
            writer: _Writer | None = None
            try:
                writer = _Writer(fd)
                try:
                    streamed = _stream_fork(
                        reading, session_id, up_to, forked_id, now, writer.hand_over
                    )
                except Exception:
                    writer.join(check=False)
                    if reading.broken():  # the official fork reads other lines: its transform
                        raise _NotStreamed from None
                    raise
                except BaseException:
                    writer.join(check=False)
                    raise
                try:
                    if streamed is None or reading.broken():
                        raise _NotStreamed
                    chunks, replacements = streamed
                    trailer = fork_trailer(
                        forked_id, session_id, now, replacements, title, reading.finish()
                    )
                    chunks.extend(dumps_line(e) for e in trailer)
                except BaseException:
                    writer.join()  # (its error first)
                    raise
                # the rest, by the thread, which then frees the read buffer's pages (nothing
                # reads it any more: the search for line breaks is over, the title copied)
                writer.finish(chunks, _pages_freer(reading.buffer))
            except BaseException:
                # (a join or finish interrupted, KeyboardInterrupt, returns before the thread
                # ends: it writes to its own descriptor, and no more batches)
                if writer is not None:
                    writer.abandon()
                raise
    except _NotStreamed:
        return False
    return True


class _Writer:
    """Writes what :func:`_stream_fork` hands over (pieces of finished lines, in order) to a
    file in a thread, while the pass goes on (``writev`` releases the GIL).

    The thread writes to a descriptor of its own (a ``dup`` of the caller's), which it closes
    once it is done, before :meth:`finish` returns: a caller interrupted while it waits
    (``KeyboardInterrupt`` in :meth:`join` or :meth:`finish`) closes its descriptor, and
    its number may soon name another file, while the thread may still write; it then writes
    only to the temporary file (:meth:`abandon` makes it stop at the next batch)."""

    def __init__(self, fd: int) -> None:
        self._batches: queue.SimpleQueue[list[bytes | memoryview] | None] = queue.SimpleQueue()
        self._handed = 0
        self._error: BaseException | None = None
        self._stop = False
        self._written = threading.Event()
        self._then: Callable[[], object] | None = None
        self._claim = threading.Lock()
        self._owner = ""  # who closes the descriptor: the thread once it runs, else the caller
        self._thread = threading.Thread(
            target=self._write, name="threadline-fork-write", daemon=True
        )
        # (made last: an interrupt in the lines above leaves no descriptor behind)
        self._fd = os.dup(fd)  # closed by the thread, or below if it never runs
        try:
            self._thread.start()
        except BaseException:  # (not started, or interrupted while it starts)
            if self._own("caller"):
                os.close(self._fd)
            else:
                self.abandon()
            raise

    def _own(self, who: str) -> bool:
        """Whether ``who`` closes the descriptor (the first to ask)."""
        with self._claim:
            if not self._owner:
                self._owner = who
            return self._owner == who

    def _write(self) -> None:
        if not self._own("thread"):  # (the caller gave up while the thread started)
            self._written.set()
            return
        try:
            while (batch := self._batches.get()) is not None:
                if self._error is None and not self._stop:
                    try:
                        _write_all(self._fd, batch)
                    except BaseException as exc:  # raised again by join
                        self._error = exc
        finally:
            try:
                os.close(self._fd)  # (before finish returns: the file is renamed then)
            except BaseException as exc:
                if self._error is None:
                    self._error = exc
            self._written.set()
        then, self._then = self._then, None
        if then is not None:
            try:
                then()
            except Exception:  # (nobody joins the thread for it)
                pass

    def hand_over(self, chunks: list[bytes | memoryview], end: int) -> None:
        """Write ``chunks`` up to ``end`` (from where the last hand-over ended)."""
        self._batches.put(chunks[self._handed : end])
        self._handed = end

    def abandon(self) -> None:
        """The caller gives up (an error, an interrupt): the thread writes no more batches
        and ends (not waited for)."""
        self._stop = True
        self._batches.put(None)

    def join(self, *, check: bool = True) -> int:
        """Wait until all handed over is written; how many chunks that is. Raises the
        thread's error if ``check``."""
        self._batches.put(None)
        self._thread.join()
        if check and self._error is not None:
            raise self._error
        return self._handed

    def finish(self, chunks: list[bytes | memoryview], then: Callable[[], object] | None) -> None:
        """Write the rest of ``chunks`` and wait until all is written (raises the thread's
        error); the thread then calls ``then`` (the caller does not wait for it)."""
        self.hand_over(chunks, len(chunks))
        self._then = then
        self._batches.put(None)
        self._written.wait()
        if self._error is not None:
            raise self._error


def _pages_freer(buffer: mmap.mmap) -> Callable[[], object] | None:
    """What gives ``buffer``'s pages back to the system (``madvise(MADV_DONTNEED)``
    through ctypes, with the GIL released), for :class:`_Writer`'s thread once the fork is
    written: the ≈ 4 ms this takes for the bench corpus's 35.7 MiB session (private
    memory: see :func:`_anonymous_memory`) leave the caller's thread, which unmapped them
    before (the mapping itself goes with the last reference to it: then empty, ≈ 20 µs). It holds the mapping (a buffer export) until it has run, so that no other
    mapping can take its place before. ``None`` where libc's ``madvise`` or the constant
    is not to be had."""
    found = _libc_search()
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if found is None or advice is None or _libc_madvise is None:
        return None
    ctypes, madvise = found[0], _libc_madvise
    held = ctypes.c_char.from_buffer(buffer)
    size = len(buffer)

    def free() -> object:
        return madvise(ctypes.addressof(held), size, advice)

    return free


def _title_deriver(head_bytes: bytes, tail_bytes: bytes) -> Callable[[], str | None]:
    """The official fork's title source: the last customTitle (tail, then head), the last
    aiTitle, the first prompt, from the file's first and last ``LITE_READ_BUF_SIZE``
    bytes, decoded only if needed."""

    def derive() -> str | None:
        head = head_bytes.decode("utf-8", "replace")
        tail = tail_bytes.decode("utf-8", "replace")
        return (
            last_field(tail, "customTitle")
            or last_field(head, "customTitle")
            or last_field(tail, "aiTitle")
            or last_field(head, "aiTitle")
            or extract_first_prompt(head)
            or None
        )

    return derive


def _lines(content: bytes) -> Iterator[tuple[int, int]]:
    find = content.find
    size = len(content)
    a = 0
    while a < size:
        b = find(b"\n", a)
        if b < 0:
            b = size
        yield a, b
        a = b + 1


def _entry_at(
    content: bytes, start: int, stop: int, valid: Callable[[bytes], bool]
) -> dict[str, Any] | None:
    """The object on one line if it may matter to a fork (it has a ``uuid`` or is a
    content replacement), its message kept unparsed when it splits off cleanly."""
    key = content.find(_MESSAGE_KEY, start, stop)
    obj = _without_message(content, start, key, stop, valid) if key >= 0 else None
    return obj if obj is not None else _whole_entry_at(content, start, stop)


def _whole_entry_at(
    content: bytes | bytearray | mmap.mmap, start: int, stop: int
) -> dict[str, Any] | None:
    """:func:`_entry_at` without trying the split."""
    find = content.find
    if (
        find(b'"uuid"', start, stop) < 0
        and find(b"content-replacement", start, stop) < 0
        and find(b"\\u", start, stop) < 0  # (a key or type spelled with escapes)
    ):
        return None
    line = bytes(content[start:stop])
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        value = _loads_line(line)
    return value if type(value) is dict else None


class _NonFinite(float):
    """A number of a line that is NaN or infinite (``NaN``, ``Infinity``, ``-Infinity``, or
    beyond a double's range, ``1e400``: all refused by orjson, read by Python's ``json``).
    orjson would write a plain float of these as ``null``; it refuses this subclass, so the
    entry goes to :func:`dumps_line`'s fallback, ``json.dumps``, which writes ``NaN``,
    ``Infinity`` or ``-Infinity``, as the official fork (``json.loads`` then ``json.dumps``)
    does."""

    __slots__ = ()


def _number(text: str) -> float:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(value)


def _loads_line(line: bytes | str) -> dict[str, Any] | None:
    """:func:`loads_line` for a fork: the numbers its fallback parse (Python's ``json``)
    reads as NaN or infinite are :class:`_NonFinite`, not written as ``null`` again."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:
            text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
            text = text.strip()
            if not text:
                return None
            value = json.loads(text, parse_float=_number, parse_constant=_NonFinite)
        except (ValueError, RecursionError):
            return None
    except RecursionError:
        return None
    return value if type(value) is dict else None


def _replacements_of(obj: dict[str, Any], session_id: str) -> list[Any] | None:
    if (
        obj.get("type") == "content-replacement"
        and obj.get("sessionId") == session_id
        and isinstance(obj.get("replacements"), list)
    ):
        return list(obj["replacements"])
    return None


def _fork_input(content: bytes, session_id: str) -> tuple[list[dict[str, Any]], list[Any]]:
    """(chain entries in file order, this session's content replacements)."""
    transcript: list[dict[str, Any]] = []
    replacements: list[Any] = []
    for obj in _fork_objects(content):
        if obj.get("type") in CHAIN_TYPES:
            if type(obj.get("uuid")) is str:
                transcript.append(obj)
        elif (found := _replacements_of(obj, session_id)) is not None:
            replacements.extend(found)
    return transcript, replacements


def _fork_objects(content: bytes) -> Iterator[dict[str, Any]]:
    """The objects of the lines that may matter to a fork, the lines split where the
    official fork splits them: it decodes the file and calls ``str.splitlines``, which
    also breaks at ``\\r``, ``\\v``, ``\\f``, ``\\x1c``-``\\x1e``, U+0085, U+2028 and
    U+2029 (a line holding one is cut in two, usually two invalid halves)."""
    if _has_other_line_breaks(content):
        for text in content.decode("utf-8", "replace").splitlines():
            obj = _loads_line(text)
            if obj is not None:
                yield obj
        return
    valid = json_validator()
    for start, stop in _lines(content):
        obj = _entry_at(content, start, stop, valid)
        if obj is not None:
            yield obj


_ESCAPED_TYPE_CHAR = re.compile(rb"\\u00(?:2[dD]|6[135cCdDeEfF]|7[024])")
"""An escape of a character of "content-replacement" (``- a c e l m n o p r t``)."""

_OTHER_BREAKS = (b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\xc2\x85")
_TEXT_BREAKS = re.compile(b"\xe2\x80[\xa8\xa9]")  # U+2028, U+2029


def _has_other_line_breaks(content: bytes | bytearray) -> bool:
    """Whether ``str.splitlines`` breaks the decoded ``content`` somewhere else than at
    ``\\n`` (a false positive only costs speed: the caller then splits as it does)."""
    return any(sep in content for sep in _OTHER_BREAKS) or _breaks_inside_strings(content)


def _breaks_inside_strings(content: bytes | bytearray) -> bool:
    """:func:`_has_other_line_breaks` for the breaks a valid JSON line may hold: ``\\r``
    (whitespace between tokens), U+0085, U+2028 and U+2029 (inside strings). (The
    others are control characters, never in valid JSON: the pass checks the lines it
    parses.) The costly search for U+2028/U+2029 (≈ 13 ms for 35 MB) runs only when the
    file is not all ASCII."""
    if b"\r" in content or (b"\xc2" in content and b"\xc2\x85" in content):
        return True
    return not content.isascii() and _TEXT_BREAKS.search(content) is not None


class _Reading:
    """A session file read by a thread into anonymous memory, in chunks, while the fork's
    pass works on the lines already in: the kernel's copy (and the page faults of the new
    memory) run with the GIL released.

    The pass gets whole lines (:meth:`more_lines`; a last line without a line break at the
    end). The line breaks the official fork also splits at (:func:`_breaks_inside_strings`)
    are looked for by the thread once the file is read, with the GIL released, where libc's
    ``memchr``/``memmem`` can be called (:class:`_BreakScanner`: the pass may then have
    worked on lines that hold one, and asks :meth:`broken` before it keeps its result),
    else in each new stretch before the pass gets it. The title comes from the file's
    first and last ``LITE_READ_BUF_SIZE`` bytes as read, as in the official fork (a torn
    last line included): the last ones reach the pass only once the file is read and they
    are copied, the first ones are copied before the pass starts (it rewrites lines in
    place).
    """

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 (closed by the thread)
        try:
            self._size = os.fstat(self._file.fileno()).st_size
            self.buffer = _anonymous_memory(self._size or 1)  # (zero-filled, not touched)
            self._scan = _break_scanner(self.buffer)
        except BaseException:
            self._file.close()
            raise
        self._got = 0
        self._seen = 0
        self._done = False
        self.scanned = self._scan is not None
        """Whether the thread looks for the line breaks (else :meth:`more_lines` does)."""
        self._broken: bool | None = None  # what the thread found (None: not yet)
        self._error: BaseException | None = None
        self._changed = threading.Condition()
        self._head: bytes | None = None
        self._tail: bytes | None = None
        self._thread = threading.Thread(target=self._read, name="threadline-fork-read", daemon=True)
        try:
            self._thread.start()
        except BaseException:
            self._file.close()
            raise

    def _read(self) -> None:
        view = memoryview(self.buffer)
        try:
            got, step = 0, _READ_FIRST
            while got < self._size:
                n = self._file.readinto(view[got : min(self._size, got + step)])
                if not n:
                    break
                got += n
                step = min(2 * step, _READ_STEP)  # ahead of the pass soon, then few calls
                with self._changed:
                    self._got = got
                    self._changed.notify()
        except BaseException as exc:  # raised again in the pass
            self._error = exc
        finally:
            del view
            try:
                self._file.close()
            except BaseException as exc:  # (the pass must still learn that the read ended)
                if self._error is None:
                    self._error = exc
            with self._changed:
                self._done = True
                self._changed.notify()
        if self._scan is not None:
            # (after the read: the pass does not wait for it; one call per kind of break,
            # each back in the GIL when it returns)
            # (a failed search: the general transform; a failed read: its error, raised
            # in the pass, as where the pass searches)
            broken = self._error is None
            try:
                if broken:
                    broken = self._scan(0, self._got)
            except Exception:  # (not raised in a thread nobody joins for its error)
                broken = True
            finally:
                self._scan = None  # (its hold on the buffer)
                with self._changed:
                    self._broken = broken
                    self._changed.notify()

    def broken(self) -> bool:
        """Whether the file holds a line break the official fork also splits at that
        :meth:`more_lines` may not have reported (when the thread searches: waits for it)."""
        if not self.scanned:
            return False
        with self._changed:
            while self._broken is None:
                self._changed.wait()
            return self._broken

    def _wait(self) -> bool:
        """Wait for more bytes than were seen, or the end; whether the file is all read."""
        with self._changed:
            while self._got <= self._seen and not self._done:
                self._changed.wait()
            if self._error is not None:
                raise self._error
            self._seen = self._got
            return self._done

    def more_lines(self, limit: int) -> int:
        """The end of the whole lines the pass may work on next, past ``limit`` (``limit``:
        there are no more), once read; -1 when they hold a line break the official fork
        also splits at (when the thread searches: when it found one, anywhere)."""
        buffer = self.buffer
        while True:
            if self._wait():
                end = self._seen
                if self._tail is None:
                    self._take_title()
                break
            # whole lines, but the title's tail (perhaps not the file's yet)
            end = buffer.rfind(b"\n", 0, max(0, self._seen - LITE_READ_BUF_SIZE)) + 1
            if end > limit:
                if self._head is None:
                    self._head = bytes(buffer[:LITE_READ_BUF_SIZE])
                break
        if self.scanned:
            if self._broken:
                return -1
        elif end > limit and _breaks_in(buffer, limit, end):
            return -1
        return max(end, limit)

    def _take_title(self) -> None:
        buffer, end = self.buffer, self._seen
        if self._head is None:
            self._head = bytes(buffer[: min(LITE_READ_BUF_SIZE, end)])
        self._tail = bytes(buffer[max(0, end - LITE_READ_BUF_SIZE) : end])

    def finish(self) -> Callable[[], str | None]:
        """Wait for the thread; the fork's title source (see :func:`_title_deriver`)."""
        self._thread.join()
        if self._tail is None and self._error is None:  # the pass stopped early
            self._seen = self._got
            self._take_title()
        return _title_deriver(self._head or b"", self._tail or b"")


def _anonymous_memory(size: int) -> mmap.mmap:
    """``size`` bytes of private anonymous memory where the platform has it: Python's
    default, shared anonymous memory, is kernel shmem, its pages ≈ 30 % dearer to fault in
    (reading the bench corpus's 35.7 MiB session into it: ≈ 40 against ≈ 30 ms), given back
    only when the mapping goes (≈ 9 against ≈ 4 ms, and ``MADV_DONTNEED`` does not free
    them: see :func:`_pages_freer`)."""
    private = getattr(mmap, "MAP_PRIVATE", None)
    anonymous = getattr(mmap, "MAP_ANONYMOUS", None)
    if private is None or anonymous is None:
        return mmap.mmap(-1, size)
    return mmap.mmap(-1, size, flags=private | anonymous)


_READ_FIRST = 1 << 17
"""The first chunk a :class:`_Reading` reads: small, the pass waits for it. The next
ones double, up to:"""
_READ_STEP = 1 << 22
"""The largest chunk (the thread needs the GIL back after each: up to a switch interval)."""


def _break_scanner(buffer: mmap.mmap) -> _BreakScanner | None:
    """:func:`_breaks_in` for :class:`_Reading`'s thread (:class:`_BreakScanner`); ``None``
    where libc's ``memchr``/``memmem`` cannot be called (the pass then searches)."""
    found = _libc_search()
    if found is None or len(buffer) == 0:
        return None
    return _BreakScanner(buffer, *found)


class _BreakScanner:
    """Whether ``buffer[start:end]`` holds a line break the official fork also splits at
    (:func:`_breaks_in`), found with libc's ``memchr`` and ``memmem`` through ctypes, which
    releases the GIL for each call: the search runs in the reading thread beside the pass
    instead of in it.

    ``memchr`` (SIMD) takes ≈ 2 ms for the bench corpus's 35.7 MiB session, ``memmem`` of a
    3-byte needle ≈ 19 ms (it compares byte pairs). So ``\r`` is one ``memchr``; U+0085,
    U+2028 and U+2029 (``c2 85``, ``e2 80 a8``, ``e2 80 a9``) are absent when their first
    byte or their last byte is, else each place of their last byte is checked, up to
    ``_MEMCHR_STEPS`` of them (``e2 80`` begins common characters, ``‘ ’ “ ” — …``; ``a8``
    and ``a9`` end others, ``è é``), and then ``memmem`` searches the rest."""

    __slots__ = ("_base", "_buffer", "_held", "_memchr", "_memmem")

    def __init__(self, buffer: mmap.mmap, ctypes: Any, memchr: Any, memmem: Any) -> None:
        self._buffer = buffer
        self._held = ctypes.c_char.from_buffer(buffer)  # (its address, while it is held)
        self._base: int = ctypes.addressof(self._held)
        self._memchr = memchr
        self._memmem = memmem

    def __call__(self, start: int, end: int) -> bool:
        if start >= end:
            return False
        return self._memchr(self._base + start, 13, end - start) is not None or any(
            self._holds(start, end, whole) for whole in _MULTIBYTE_BREAKS
        )

    def _holds(self, start: int, end: int, whole: bytes) -> bool:
        """Whether ``buffer[start:end]`` holds ``whole`` (a few bytes, none repeated)."""
        base, memchr = self._base, self._memchr
        if memchr(base + start, whole[0], end - start) is None:
            return False
        lead = len(whole) - 1
        pos = start + lead  # where the last byte of the first match may be
        for _ in range(_MEMCHR_STEPS):
            if pos >= end:
                return False
            found = memchr(base + pos, whole[-1], end - pos)
            if found is None:
                return False
            hit = found - base
            if self._buffer[hit - lead : hit] == whole[:lead]:
                return True
            pos = hit + 1
        return self._memmem(base + pos - lead, end - pos + lead, whole, len(whole)) is not None


_MULTIBYTE_BREAKS = (b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9")  # U+0085, U+2028, U+2029
_MEMCHR_STEPS = 4
"""How many places of a break's last byte :class:`_BreakScanner` checks before ``memmem``."""

_libc: tuple[Any, Any, Any] | None = None
_libc_madvise: Any = None
_libc_tried = False
_USE_LIBC = True
"""Tests turn it off to check the search in the pass (where libc cannot be called)."""


def _libc_search() -> tuple[Any, Any, Any] | None:
    """(the ctypes module, memchr, memmem) from the C library, loaded once (ctypes is
    imported on the first fork); ``None`` where they are not to be had."""
    global _libc, _libc_madvise, _libc_tried
    if not _USE_LIBC:
        return None
    if not _libc_tried:
        _libc_tried = True
        try:
            import ctypes

            libc = ctypes.CDLL(None)
            memchr, memmem = libc.memchr, libc.memmem
        except Exception:  # (no ctypes, no libc; Windows: CDLL(None) raises TypeError)
            return None
        memchr.restype = memmem.restype = ctypes.c_void_p
        memchr.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t)
        memmem.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t)
        _libc = (ctypes, memchr, memmem)
        madvise = getattr(libc, "madvise", None)
        if madvise is not None:
            madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
            _libc_madvise = madvise
    return _libc


def _breaks_in(buffer: mmap.mmap, start: int, end: int) -> bool:
    """:func:`_breaks_inside_strings` of ``buffer[start:end]``."""
    find = buffer.find
    return (
        find(b"\r", start, end) >= 0
        or (find(b"\xc2", start, end) >= 0 and find(b"\xc2\x85", start, end) >= 0)
        or _TEXT_BREAKS.search(buffer, start, end) is not None
    )


# The lines Claude Code writes for chain entries start with a parentUuid member.
_PARENT_NULL = b'{"parentUuid":null'
# A line is rewritten in place only when its keys hold all of _SPLIT_NEEDS (once each) and
# none of _SPLIT_NEVER; other lines (compaction boundaries, forks of forks...) are parsed.
_SPLIT_NEVER = frozenset({"logicalParentUuid", "forkedFrom", "teamName", "agentName", "slug"})
_SOURCE_KEY = b',"sourceToolAssistantUUID":"'

_Written = tuple[int, Any, "dict[str, Any] | None", Any]


_PARENT_OPEN = b'{"parentUuid":"'
_NOT_SIDECHAIN = b',"isSidechain":false,"'
"""The second member of most lines of Claude Code's shape, and the third key's quote."""
_UUID_KEY = b',"uuid":"'
_SESSION_KEY = b',"sessionId":"'


def _holds_keys(keys: tuple[str, ...]) -> Callable[[Any], bool]:
    """Whether a parsed line (simdjson) has each of ``keys`` (distinct, none holding a NUL
    character: simdjson's lookup takes a C string) as a key: one ``in`` each, spelled out
    (≈ 30 ns a key; a loop over them costs as much again), the keys (as bytes) the
    function's defaults. Its code depends only on how many keys there are: made once per
    count in a process (compiling one costs ≈ 2 ms)."""
    n = len(keys)
    code = _HOLDS_CODE.get(n)
    if code is None:
        names = [f"k{i}" for i in range(n)]
        test = " and ".join(f"{k} in doc" for k in names) or "True"
        made = eval(compile(f"lambda doc, {''.join(k + ', ' for k in names)}: {test}", "<fork keys>", "eval"))
        code = _HOLDS_CODE[n] = made.__code__
    holds: Callable[[Any], bool] = types.FunctionType(
        code, {}, "holds", tuple(k.encode() for k in keys)
    )
    return holds


_HOLDS_CODE: dict[int, types.CodeType] = {}
"""The code of :func:`_holds_keys`'s functions, by their number of keys."""
_MEMO_LAYOUTS = 64
"""How many key layouts a fork's pass proves with :func:`_holds_keys`."""
_MEMO_KEYS = 64
"""The most keys a layout may have to be proved so (each count's code is kept)."""


def _layout(keys: tuple[str, ...]) -> int:
    """Whether a line with these top-level keys (in order, duplicates included) may be
    rewritten in place: 0 no, 1 yes, 2 yes and it has a sourceToolAssistantUUID member."""
    names = frozenset(keys)
    if len(names) != len(keys) or names & _SPLIT_RELEVANT != _SPLIT_NEEDS:
        return 0
    return 2 if "sourceToolAssistantUUID" in names else 1


_SPLIT_NEEDS = frozenset({"parentUuid", "type", "uuid", "isSidechain", "sessionId", "timestamp"})
_SPLIT_RELEVANT = _SPLIT_NEEDS | _SPLIT_NEVER


_VERSION_4 = bytes((b & 0x0F) | 0x40 for b in range(256))
_RFC_4122 = bytes((b & 0x3F) | 0x80 for b in range(256))
_HEX_AT = [j for j in range(36) if j not in (8, 13, 18, 23)]


def _new_uuids(n: int) -> list[bytes]:
    """``n`` fresh UUID4s (``uuid.uuid4()``'s text, ASCII bytes), with a few C-level passes
    for all of them (``_ids.new_uuids`` costs ≈ 1 µs each: 20 ms for a big fork)."""
    raw = bytearray(os.urandom(16 * n))
    raw[6::16] = raw[6::16].translate(_VERSION_4)
    raw[8::16] = raw[8::16].translate(_RFC_4122)
    hexed = raw.hex().encode()
    out = bytearray(b"-" * (37 * n))
    for k, j in enumerate(_HEX_AT):
        out[j::37] = hexed[k::32]
    out[36::37] = b"\n" * n
    return bytes(out).split(b"\n")[:n]


def _new_ids(n: int) -> Iterator[tuple[bytes, bytes]]:
    """``n`` fresh uuids, each as (the first member of a line whose parent it is,
    ``{"parentUuid":"<uuid>"``, the uuid): what :func:`_stream_fork` maps a uuid to."""
    uuids = _new_uuids(n)
    # (one join and one split, not two concatenations a uuid)
    pieces = (b'{"parentUuid":"' + b'"\n{"parentUuid":"'.join(uuids) + b'"').split(b"\n")
    return zip(pieces, uuids)


def _parent_piece(new_parent: bytes | None) -> bytes:
    """The first member of a line whose new parent is ``new_parent`` (a parent piece from
    :func:`_new_ids`, or None)."""
    return _PARENT_NULL if new_parent is None else new_parent


def _text(value: bytes | None) -> str | None:
    """The uuid of a parent piece from :func:`_new_ids` (None: None)."""
    return None if value is None else value[15:51].decode()


def _stream_fork(  # noqa: C901 (Long: see the docstring)
    reading: _Reading,
    session_id: str,
    up_to: str | None,
    forked_id: str,
    now: str,
    hand_over: Callable[[list[bytes | memoryview], int], None],
) -> tuple[list[bytes | memoryview], list[Any]] | None:
    """:func:`build_fork_entries` in one pass over the file, as ``reading`` brings it in: the
    pieces of the fork's lines (in order; written with ``writev``) and the content
    replacements. ``None`` when a uuid occurs twice (the caller then runs the general
    transform) or a line holds a line break the official fork splits at. Parents that are
    not known yet when an entry is read (they come later in the file, or lie past progress
    entries that do) are settled at the end.

    A line of Claude Code's shape (``docs/design.md``, "Forks": why the rewrite is then the
    official one; :func:`_layout`) is rewritten where it lies:
    its uuid and sessionId values are overwritten in ``content`` (the read buffer; same
    length), and its
    pieces are the new parentUuid member, views of the rest of ``content`` (less a
    sourceToolAssistantUUID member) and the members the fork adds. Any other line is parsed
    (its message copied unparsed when it splits off cleanly) and serialised.

    The pieces of the lines before the current one are final while no parent waits to be
    settled: every ``_HAND_OVER`` pieces they are handed over to be written (``hand_over``).

    Long: the hot loop of fork_session, one pass per entry with the fork transform inlined on
    purpose (it runs once per entry of the largest sessions); the general transform is
    build_fork_entries.
    """
    up_to = up_to or None  # "" means no cut, as in the official fork
    valid = json_validator()
    parse = _line_parser()
    supply = itertools.chain.from_iterable(_new_ids(4096) for _ in itertools.count())
    # old uuid -> the parent piece of its new uuid (see _new_ids)
    mapping: dict[str, bytes] = {}
    progress_parent: dict[str, Any] = {}
    chunks: list[bytes | memoryview] = []
    replacements: list[Any] = []
    # (first piece, old parent, the parsed entry (None for a line rewritten in place), old
    # logical parent): entries finished at the end
    unsettled: list[_Written] = []
    last = -1  # the first piece of the last entry written (its pieces end the list)
    last_entry: dict[str, Any] | None = None
    cut = False
    saw_entry = False
    forked = forked_id.encode()
    own = session_id.encode() + b'"'  # the sessionId value of the source's lines, and its end
    owned = len(own)
    # the members the fork adds, and the line's end ("%%" is "%" after the first format;
    # one piece, not three: each writev returns to the GIL)
    added = b',"logicalParentUuid":null,"forkedFrom":{"sessionId":"%s","messageUuid":"%%s"}}\n' % (
        session_id.encode()
    )

    def parent_of(pid: Any) -> tuple[bytes | None, bool]:
        """(the new parent, whether that is final) for an old parentUuid."""
        for _ in range(len(progress_parent) + 1):
            if not pid:
                return None, True
            if pid in progress_parent:
                pid = progress_parent[pid]
                continue
            new = mapping.get(pid)
            return new, new is not None
        return None, True  # a cycle of progress entries

    content = reading.buffer
    find = content.find
    view = memoryview(content)
    dumps = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE
    chain_types = CHAIN_TYPES
    layouts: dict[tuple[str, ...], int] = {}
    # (type, member count, the third key's first byte) -> whether a line holds the keys of
    # a layout seen with them (unique: see _holds_keys), and its verdict
    memo: dict[tuple[Any, int, int], tuple[Callable[[Any], bool], int]] = {}
    readline = content.readline
    drop = drop_end = 0
    handed = _HAND_OVER  # where the next hand-over may end
    a = limit = 0
    plain = escaped = -1  # past the cut: the next candidate lines (see below)
    while True:
        more = reading.more_lines(limit)
        if more < 0:  # a line break the official fork splits at: the general transform
            return None
        if more == limit:
            break
        limit = more
        plain = escaped = -1  # (a longer stretch: searched again)
        content.seek(a)
        while a < limit:
            if cut:
                # Past the cut only content replacements count: on to the next line that
                # may hold one, its type spelled plainly or with an escape of one of its
                # characters ("content\u002dreplacement"; a false hit costs a parse).
                # (A search of the stretch, not of each line: "\u" alone, a two-byte
                # needle, is searched ≈ 4 times slower than "content-replacement".)
                if plain < a:  # (each search resumes past its last hit: no rescans)
                    plain = find(b"content-replacement", a, limit)
                    if plain < 0:
                        plain = limit
                if escaped < a:
                    escape = _ESCAPED_TYPE_CHAR.search(content, a, plain)
                    escaped = plain if escape is None else escape.start()
                hit = min(plain, escaped)
                if hit >= limit:
                    a = limit
                    break
                a = content.rfind(b"\n", a, hit) + 1 or a
                content.seek(a)
            # one line: content[start:stop], its line break at stop (or one added)
            line = readline()  # (memchr and one copy; no arguments to parse)
            start = a
            a += len(line)
            stop = a - 1
            if a > limit or line[-1] != 10:  # a last line without a line break
                stop = limit
                line = line[: limit - start] + b"\n"
                a = limit + 1
            if parse is not None and (line.startswith((_PARENT_OPEN, _PARENT_NULL))):
                # Claude Code's shape, rewritten where it lies when simdjson proves it (see
                # docs/design.md, "Forks", for why the rewrite is then the official one)
                try:
                    doc = parse(line)  # (bytes: what simdjson parses fastest)
                except (ValueError, RuntimeError):  # big integers, deep nesting: parsed
                    doc = None
                if doc is not None:
                    # (the line starts with the member: the first value is null or a
                    # string, and it is pid once the keys are proved unique)
                    pid = doc[b"parentUuid"]
                    if pid is None:
                        after = 18
                    elif len(pid) == 36 and line[51] == 34 and line[50] != 92:
                        after = 52
                    else:
                        after = 0
                    # The key layout, proved without listing the keys when a layout seen
                    # before (chosen by the type, the member count and the third key's
                    # first byte) fits: its keys, distinct, are all found and as many as
                    # the line's members, so they are the line's keys, each once.
                    layout = -1
                    # (a slice compared: no arguments to parse, as startswith has)
                    if after and line[after : after + 22] == _NOT_SIDECHAIN:
                        try:
                            kind = doc[b"type"]
                            holds, layout = memo[kind, len(doc), line[after + 22]]
                        except (KeyError, TypeError):  # (no type; an object or a list)
                            kind = None  # (no view of the parser may outlive the line)
                        else:
                            if not holds(doc):
                                layout = -1
                    if layout >= 0:
                        sidechain = False
                        uid = doc[b"uuid"]
                    else:
                        keys = tuple(doc)
                        layout = layouts.get(keys, -1)
                        if layout < 0:
                            layout = layouts[keys] = _layout(keys)
                        if layout:  # (keys as bytes: not encoded for each lookup)
                            kind = doc[b"type"]
                            sidechain = doc[b"isSidechain"]
                            uid = doc[b"uuid"]
                            if (
                                after
                                and type(kind) is str
                                and line.startswith(_NOT_SIDECHAIN, after)
                                and "\x00" not in "".join(keys)  # (simdjson's `in` stops there)
                                and len(memo) < _MEMO_LAYOUTS
                                and len(keys) <= _MEMO_KEYS
                            ):
                                memo[kind, len(keys), line[after + 22]] = (
                                    _holds_keys(keys),
                                    layout,
                                )
                    del doc  # the parser is reused: no view of it may outlive the line
                    if layout and kind in chain_types:
                        if sidechain:  # any true value: the official fork drops the entry
                            continue
                        u = line.rfind(_UUID_KEY) + 9
                        sid = line.find(_SESSION_KEY, u) + 14
                        # where no nested object may close: from the uuid member, or from
                        # the sourceToolAssistantUUID member if it comes first. Past the
                        # last nested "}" a `,"key":"` can only open a top-level member (as
                        # for the uuid, see docs/design.md), and the keys are unique: that
                        # member is the last such spelling in the line (none: from n,
                        # where no "}" is found: not in place)
                        flat = u
                        if layout == 2:
                            drop = line.rfind(_SOURCE_KEY)
                            if drop < u:
                                flat = drop if drop >= 0 else stop - start
                        if not (
                            after
                            and sidechain is False
                            and type(uid) is str
                            and len(uid) == 36
                            and u > 8
                            and sid > 13
                            # (these two first: with them, u + 36 < sid + 36 < the end)
                            and (line[sid : sid + owned] == own or _other_session(line, sid))
                            and line.find(b"}", flat) == stop - start - 1
                            and line[u + 36] == 34
                            and line[u + 35] != 92
                        ):
                            after = 0
                        elif layout == 2:  # its value, dropped: a string without escapes
                            drop_end = line.find(b'"', drop + 28) + 1
                            if drop_end <= 0 or line.find(b"\\", drop + 28, drop_end) >= 0:
                                after = 0
                        if after:
                            if cut:
                                continue
                            piece, new = next(supply)
                            if mapping.setdefault(uid, piece) is not piece:
                                return None  # a uuid seen before
                            saw_entry = True
                            if kind == "progress":
                                progress_parent[uid] = pid
                            else:
                                first = len(chunks)
                                parent = _PARENT_NULL  # (the first member)
                                if pid is None:
                                    pass
                                elif pid in progress_parent:
                                    new_parent, settled = parent_of(pid)
                                    if not settled:
                                        unsettled.append((first, pid, None, None))
                                    if new_parent is not None:
                                        parent = new_parent
                                else:
                                    known_parent = mapping.get(pid)
                                    if known_parent is None:
                                        unsettled.append((first, pid, None, None))
                                    else:
                                        parent = known_parent
                                if layout == 2:
                                    chunks += (
                                        parent,
                                        view[start + after : start + drop],
                                        view[start + drop_end : stop - 1],
                                        added % line[u : u + 36],
                                    )
                                else:
                                    chunks += (
                                        parent,
                                        view[start + after : stop - 1],
                                        added % line[u : u + 36],
                                    )
                                content[start + u : start + u + 36] = new
                                content[start + sid : start + sid + 36] = forked
                                last, last_entry = first, None
                                if first >= handed and not unsettled:
                                    hand_over(chunks, first)
                                    handed = first + _HAND_OVER
                            if up_to is not None and uid == up_to:
                                cut = True
                            continue
            # --- any other line: parsed
            if _has_other_breaks(content, start, stop):
                return None
            key = find(_MESSAGE_KEY, start, stop)
            obj = _without_message(content, start, key, stop, valid) if key >= 0 else None
            if obj is None:
                obj = _whole_entry_at(content, start, stop)
                if obj is None:
                    continue
            if obj.get("type") not in chain_types:
                found = _replacements_of(obj, session_id)
                if found is not None:
                    replacements.extend(found)
                continue
            old = obj.get("uuid")
            if cut or type(old) is not str or obj.get("isSidechain"):
                continue
            piece, new = next(supply)
            if mapping.setdefault(old, piece) is not piece:
                return None
            saw_entry = True
            pid = obj.get("parentUuid")
            if obj["type"] == "progress":
                progress_parent[old] = pid
            else:
                new_parent, settled = parent_of(pid)
                logical = obj.get("logicalParentUuid")
                # _fork_one, with the parent and logical parent settled at the end if need be
                obj["uuid"] = new.decode()
                obj["parentUuid"] = _text(new_parent)
                if logical:
                    new_logical = mapping.get(logical)
                    obj["logicalParentUuid"] = _text(new_logical)
                    if new_logical is None:
                        settled = False
                else:
                    obj["logicalParentUuid"] = logical
                obj["sessionId"] = forked_id
                if "timestamp" not in obj:
                    obj["timestamp"] = now
                obj["isSidechain"] = False
                obj["forkedFrom"] = {"sessionId": session_id, "messageUuid": old}
                for k in _FORK_STRIPPED:
                    if k in obj:
                        del obj[k]
                try:
                    chunks.append(dumps(obj, option=newline))
                except (TypeError, orjson.JSONEncodeError):
                    chunks.append(dumps_line(obj))
                last, last_entry = len(chunks) - 1, obj
                if not settled:
                    unsettled.append((last, pid, obj, logical))
            if up_to is not None and old == up_to:
                cut = True
    if up_to is not None and not cut:
        raise MessageNotFoundError(f"Message {up_to} not found in session {session_id}")
    if not saw_entry or last < 0:
        raise EmptySessionError(f"Session {session_id} has no messages to fork")
    for first, pid, obj, logical in unsettled:
        new_parent = parent_of(pid)[0]
        if obj is None:
            chunks[first] = _parent_piece(new_parent)
        else:
            obj["parentUuid"] = _text(new_parent)
            obj["logicalParentUuid"] = _text(mapping.get(logical)) if logical else logical
            chunks[first] = dumps_line(obj)
    _stamp_last(chunks, last, last_entry, now)
    return chunks, replacements


def _other_session(line: bytes, sid: int) -> bool:
    """Whether a sessionId value other than the source's own, at ``line[sid:]``, may be
    overwritten in place: 36 bytes up to an unescaped quote, none of them part of a line
    break the official fork splits at (the reading thread may search the read buffer for
    those after the pass overwrote the value: see :class:`_Reading`)."""
    if line.find(b'"', sid) != sid + 36 or line[sid + 35] == 92:
        return False
    value = line[sid : sid + 36]
    return value.isascii() or (_TEXT_BREAKS.search(value) is None and b"\xc2\x85" not in value)


def _stamp_last(
    chunks: list[bytes | memoryview], first: int, obj: dict[str, Any] | None, now: str
) -> None:
    """Give the fork's last entry (its pieces: from ``first`` to the end; ``obj``: the
    parsed entry, None for a line rewritten in place) the timestamp "now" (the official
    fork does)."""
    end = len(chunks)
    if obj is None:  # a line rewritten in place: parsed now (it is valid JSON)
        obj = loads_line(b"".join(chunks[first:end]))
        assert obj is not None
        chunks[first + 1 : end] = [b""] * (end - first - 1)
    obj["timestamp"] = now
    chunks[first] = dumps_line(obj)


def _has_other_breaks(content: bytearray | mmap.mmap, start: int, stop: int) -> bool:
    """Whether a line holds a control character ``str.splitlines`` breaks at (a line split
    in place holds none: simdjson found it valid JSON, which has none of them raw)."""
    find = content.find
    return (  # (spelled out: a generator for any() costs more than the five finds)
        find(b"\x0b", start, stop) >= 0
        or find(b"\x0c", start, stop) >= 0
        or find(b"\x1c", start, stop) >= 0
        or find(b"\x1d", start, stop) >= 0
        or find(b"\x1e", start, stop) >= 0
    )



def _line_parser() -> Callable[[Any], Any] | None:
    """simdjson's parser (``pip install "threadline[speedups]"``), or ``None``: without it
    lines are parsed (orjson cannot tell duplicate keys, so it cannot prove a split)."""
    try:
        import simdjson
    except ImportError:
        return None
    if not _USE_SIMDJSON:
        return None
    parse: Callable[[Any], Any] = simdjson.Parser().parse
    return parse


def _fork_one(
    entry: dict[str, Any],
    mapping: dict[str, str],
    new_parent: str | None,
    forked_id: str,
    session_id: str,
    now: str,
) -> None:
    """Rewrite one entry as the official fork does (keys keep their place; missing ones
    are added in the official order)."""
    old_uuid = entry["uuid"]
    logical = entry.get("logicalParentUuid")
    entry["uuid"] = mapping[old_uuid]
    entry["parentUuid"] = new_parent
    entry["logicalParentUuid"] = mapping.get(logical) if logical else logical
    entry["sessionId"] = forked_id
    if "timestamp" not in entry:
        entry["timestamp"] = now
    entry["isSidechain"] = False
    entry["forkedFrom"] = {"sessionId": session_id, "messageUuid": old_uuid}
    for k in _FORK_STRIPPED:
        entry.pop(k, None)


_USE_SIMDJSON = True
"""Tests turn it off to check the orjson fallback."""


def json_validator() -> Callable[[bytes], bool]:
    """Whether bytes are one valid JSON value (UTF-8 included), without building it:
    simdjson (``pip install "threadline[speedups]"``, ≈ 4× faster) or else orjson."""
    try:
        import simdjson
    except ImportError:
        pass
    else:
        if not _USE_SIMDJSON:
            return _valid_orjson
        parse = simdjson.Parser().parse

        def valid(data: bytes) -> bool:
            try:
                parse(data)
            except ValueError:  # its JSON and UTF-8 errors (UnicodeDecodeError is one)
                return False
            except RuntimeError:  # an integer beyond 64 bits, nesting beyond 1024: valid JSON
                return _valid_orjson(data)
            return True

        return valid
    return _valid_orjson


def _valid_orjson(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


_MESSAGE_KEY = b'"message":{'
_MEMBER_AFTER = b'},"'
_MAX_CANDIDATES = 8


_PLACEHOLDER = "\x00threadline"
_TAIL_OPEN = b'{"message":"\\u0000threadline"'


def _without_message(
    content: bytes | bytearray | mmap.mmap,
    start: int,
    key: int,
    stop: int,
    valid: Callable[[bytes], bool],
) -> dict[str, Any] | None:
    """The entry on ``content[start:stop]`` (``"message":{`` at ``key``) with its
    ``message`` value kept as the original bytes (an :class:`orjson.Fragment`), so a fork
    does not keep, free and re-serialise the bulk of a transcript; ``None`` when the line
    does not split cleanly (it is then parsed whole).

    The split is proven: the part before ``"message":{`` parses as the object's leading
    members, the part after the value's closing brace as its trailing members (a brace
    nested inside the message leaves an unbalanced rest, which does not parse; an
    unescaped ``},"`` is always structure, never string content), and the message bytes
    parse as one JSON value (valid UTF-8, nothing glued or swallowed). A later duplicate
    ``message`` key (the last one wins in JSON parsers) is left to the whole-line parse.
    """
    try:
        head = orjson.loads(content[start:key] + b'"message":0}')
    except orjson.JSONDecodeError:
        return None
    if type(head) is not dict:
        return None
    value = key + len(_MESSAGE_KEY) - 1
    pos = value
    for _ in range(_MAX_CANDIDATES):
        end = content.find(_MEMBER_AFTER, pos, stop)
        if end < 0:
            return None
        try:
            tail = orjson.loads(_TAIL_OPEN + content[end + 1 : stop])
        except orjson.JSONDecodeError:
            pos = end + 1
            continue
        if type(tail) is not dict or tail["message"] != _PLACEHOLDER:
            return None
        message = bytes(content[value : end + 1])
        if not valid(message):
            return None
        head.update(tail)
        head["message"] = orjson.Fragment(message)
        return head
    return None


def write_new_transcript(path: Path, entries: list[dict[str, Any]]) -> None:
    """Write a new transcript atomically: a 0600 temp file renamed into place.

    A crash leaves at most a stray ``.tmp`` file, never a half-written session.
    """
    write_new_transcript_chunks(path, [dumps_line(e) for e in entries])


def write_new_transcript_chunks(path: Path, chunks: list[bytes | memoryview]) -> None:
    """:func:`write_new_transcript` of lines already serialised (in pieces)."""
    if path.exists():
        raise FileExistsError(f"Refusing to overwrite {path}")
    with atomic_file(path) as fd:
        _write_all(fd, chunks)


_IOV_MAX = 1024
_HAND_OVER = _IOV_MAX
"""Pieces :func:`_stream_fork` hands over to be written at a time (one ``writev``)."""


def _write_all(fd: int, chunks: list[bytes | memoryview]) -> None:
    """Write every chunk, in order (``writev`` batches: no joined copy of a big file; where
    there is no ``writev``, on Windows, each batch joined and written with ``write``)."""
    writev = getattr(os, "writev", None)
    for i in range(0, len(chunks), _IOV_MAX):
        batch = chunks[i : i + _IOV_MAX]
        if writev is None:
            write_all(fd, b"".join(batch))  # (it writes the rest of a short write)
            continue
        written = writev(fd, batch)
        if written < sum(map(len, batch)):  # a short write: the rest one piece at a time
            for piece in batch:
                if written >= len(piece):
                    written -= len(piece)
                    continue
                write_all(fd, memoryview(piece)[written:])
                written = 0
