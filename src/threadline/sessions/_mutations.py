"""Rename, tag, delete and fork, on disk, in the official SDK's entry shapes.

Rename and tag append one metadata line (last one wins when listing). Appends
go through the same locked, torn-tail-repairing writer as :class:`FileStore`,
so a metadata line never glues onto a half-written entry.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
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
from ..transcript._fileio import atomic_file
from ..transcript._jsonl import dumps_line, gc_paused, loads_line
from ..transcript._lite import LITE_READ_BUF_SIZE, extract_first_prompt, last_field
from ..transcript._views import CHAIN_TYPES
from ._filelog import locked_fd, read_complete, repair_tail
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
            raise MessageNotFoundError(f"Message {up_to_message_id} not found in session {session_id}")
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
    content = read_complete(loc.path)
    if not content:
        raise EmptySessionError(f"Session {session_id} has no messages to fork")
    def derive() -> str | None:
        head = content[:LITE_READ_BUF_SIZE].decode("utf-8", "replace")
        tail = content[-LITE_READ_BUF_SIZE:].decode("utf-8", "replace")
        return (
            last_field(tail, "customTitle")
            or last_field(head, "customTitle")
            or last_field(tail, "aiTitle")
            or last_field(head, "aiTitle")
            or extract_first_prompt(head)
            or None
        )

    # All the large temporaries live and die inside the GC pause, so re-enabling the
    # collector does not make it walk tens of thousands of fresh dicts.
    with gc_paused():
        forked_id = new_uuid()
        now = iso_now()
        streamed = _stream_fork(content, session_id, up_to_message_id, forked_id, now)
        if streamed is not None:
            chunks, replacements = streamed
            trailer = fork_trailer(forked_id, session_id, now, replacements, title, derive)
            chunks.extend(dumps_line(e) for e in trailer)
        else:  # a uuid occurs twice: the general transform decides which copy wins
            transcript, replacements = _fork_input(content, session_id)
            forked_id, entries = build_fork_entries(
                transcript, replacements, session_id, up_to_message_id, title, derive, in_place=True
            )
            chunks = [dumps_line(e) for e in entries]
            del transcript, entries
        chunks = [c for c in chunks if c]
        write_new_transcript_chunks(loc.project_dir / f"{forked_id}.jsonl", chunks)
        del chunks, replacements
    return ForkSessionResult(session_id=forked_id)


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


def _whole_entry_at(content: bytes, start: int, stop: int) -> dict[str, Any] | None:
    """:func:`_entry_at` without trying the split."""
    find = content.find
    if find(b'"uuid"', start, stop) < 0 and find(b"content-replacement", start, stop) < 0:
        return None
    line = content[start:stop]
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        value = loads_line(line)
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
    valid = json_validator()
    for start, stop in _lines(content):
        obj = _entry_at(content, start, stop, valid)
        if obj is None:
            continue
        if obj.get("type") in CHAIN_TYPES:
            if type(obj.get("uuid")) is str:
                transcript.append(obj)
        elif (found := _replacements_of(obj, session_id)) is not None:
            replacements.extend(found)
    return transcript, replacements


def _stream_fork(  # noqa: C901 (Long: see the docstring)
    content: bytes, session_id: str, up_to: str | None, forked_id: str, now: str
) -> tuple[list[bytes], list[Any]] | None:
    """:func:`build_fork_entries` in one pass over the file, each entry transformed and
    serialised while it is fresh in the CPU cache (then dropped): the serialised entries
    and the content replacements. ``None`` when a uuid occurs twice (the caller then runs
    the general transform). Parents that are not known yet when an entry is read (they
    come later in the file, or lie past progress entries that do) are settled at the end.

    Long: the hot loop of fork_session, one pass per entry with the fork transform inlined on
    purpose (it runs once per entry of the largest sessions); the general transform is
    build_fork_entries.
    """
    up_to = up_to or None  # "" means no cut, as in the official fork
    valid = json_validator()
    supply = itertools.chain.from_iterable(new_uuids(4096) for _ in itertools.count())
    mapping: dict[str, str] = {}
    progress_parent: dict[str, Any] = {}
    chunks: list[bytes] = []
    replacements: list[Any] = []
    unsettled: list[tuple[int, dict[str, Any], Any, Any]] = []
    kept: set[int] = set()  # indices of lines rewritten at the end (not sealed into blocks)
    sealed = 0
    last: tuple[int, dict[str, Any]] | None = None
    cut = False
    saw_entry = False

    def parent_of(pid: Any) -> tuple[str | None, bool]:
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

    find = content.find
    size = len(content)
    dumps = orjson.dumps
    newline = orjson.OPT_APPEND_NEWLINE
    chain_types = CHAIN_TYPES
    a = 0
    while a < size:
        # one line: content[start:stop]
        stop = find(b"\n", a)
        if stop < 0:
            stop = size
        start, a = a, stop + 1
        if cut and find(b"content-replacement", start, stop) < 0:
            continue
        key = find(_MESSAGE_KEY, start, stop)
        obj = _without_message(content, start, key, stop, valid) if key >= 0 else None
        if obj is None:
            obj = _whole_entry_at(content, start, stop)
            if obj is None:
                continue
        kind = obj.get("type")
        if kind not in chain_types:
            found = _replacements_of(obj, session_id)
            if found is not None:
                replacements.extend(found)
            continue
        uid = obj.get("uuid")
        if cut or type(uid) is not str or obj.get("isSidechain"):
            continue
        if uid in mapping:
            return None
        saw_entry = True
        new_uuid_ = mapping[uid] = next(supply)
        if kind == "progress":
            progress_parent[uid] = obj.get("parentUuid")
        else:
            pid = obj.get("parentUuid")
            if not pid:
                new_parent, settled = None, True
            elif pid in progress_parent:
                new_parent, settled = parent_of(pid)
            else:
                new_parent = mapping.get(pid)
                settled = new_parent is not None
            logical = obj.get("logicalParentUuid")
            # _fork_one, inlined (this loop runs once per entry of the biggest sessions)
            obj["uuid"] = new_uuid_
            obj["parentUuid"] = new_parent
            if logical:
                new_logical = mapping.get(logical)
                obj["logicalParentUuid"] = new_logical
                if new_logical is None:
                    settled = False
            else:
                obj["logicalParentUuid"] = logical
            obj["sessionId"] = forked_id
            if "timestamp" not in obj:
                obj["timestamp"] = now
            obj["isSidechain"] = False
            obj["forkedFrom"] = {"sessionId": session_id, "messageUuid": uid}
            for k in _FORK_STRIPPED:
                if k in obj:
                    del obj[k]
            if not settled:
                unsettled.append((len(chunks), obj, pid, logical))
                kept.add(len(chunks))
            last = (len(chunks), obj)
            try:
                chunks.append(dumps(obj, option=newline))
            except (TypeError, orjson.JSONEncodeError):
                chunks.append(dumps_line(obj))
            if len(chunks) - sealed >= _SEAL_EVERY:
                sealed = _seal(chunks, sealed, len(chunks) - 1, kept)
        if up_to is not None and uid == up_to:
            cut = True
    if up_to is not None and not cut:
        raise MessageNotFoundError(f"Message {up_to} not found in session {session_id}")
    if not saw_entry or last is None:
        raise EmptySessionError(f"Session {session_id} has no messages to fork")
    for index, obj, pid, logical in unsettled:
        obj["parentUuid"] = parent_of(pid)[0]
        obj["logicalParentUuid"] = mapping.get(logical) if logical else logical
        chunks[index] = dumps_line(obj)
    index, obj = last
    obj["timestamp"] = now
    chunks[index] = dumps_line(obj)
    return chunks, replacements


_SEAL_EVERY = 1024


def _seal(chunks: list[bytes], start: int, stop: int, kept: set[int]) -> int:
    """Join ``chunks[start:stop]`` into blocks in place (each run between ``kept`` indices
    becomes one element, the rest empty), so the many small serialised lines are freed as
    the fork goes and its memory stays close to the output's size; indices stay valid."""
    i = start
    while i < stop:
        j = i
        while j < stop and j not in kept:
            j += 1
        if j - i > 1:
            chunks[i] = b"".join(chunks[i:j])
            chunks[i + 1 : j] = [b""] * (j - i - 1)
        i = j + 1
    return stop


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
    content: bytes, start: int, key: int, stop: int, valid: Callable[[bytes], bool]
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
        message = content[value : end + 1]
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


def write_new_transcript_chunks(path: Path, chunks: list[bytes]) -> None:
    """:func:`write_new_transcript` of lines already serialised."""
    if path.exists():
        raise FileExistsError(f"Refusing to overwrite {path}")
    with atomic_file(path) as fd:
        _write_all(fd, chunks)


_IOV_MAX = 1024


def _write_all(fd: int, chunks: list[bytes]) -> None:
    """Write every chunk, in order (``writev`` batches: no joined copy of a big file)."""
    i = 0
    while i < len(chunks):
        batch: list[bytes | memoryview] = list(chunks[i : i + _IOV_MAX])
        i += len(batch)
        while batch:
            written = os.writev(fd, batch)
            while batch and written >= len(batch[0]):
                written -= len(batch[0])
                batch.pop(0)
            if batch and written:
                batch[0] = memoryview(batch[0])[written:]
