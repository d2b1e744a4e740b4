"""Rename, tag, delete and fork, on disk, in the official SDK's entry shapes.

Rename and tag append one metadata line (last one wins when listing). Appends
go through the same locked, torn-tail-repairing writer as :class:`FileStore`,
so a metadata line never glues onto a half-written entry.
"""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from .._chain import chain_entries
from .._exceptions import EmptySessionError, MessageNotFoundError, UserError
from .._ids import new_uuid, new_uuids, validate_session_id
from .._jsonl import dumps_line, gc_paused, loads_line
from .._lite import LITE_READ_BUF_SIZE, extract_first_prompt, last_field
from .._transcript import CHAIN_TYPES
from .._types import ForkSessionResult
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

_UNICODE_STRIP = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ue000-\uf8ff]")
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
        current = _UNICODE_STRIP.sub("", current)
        if current == previous:
            break
    return current


def _append_metadata(session_id: str, directory: str | None, entry: dict[str, Any]) -> None:
    loc = locate_session(session_id, directory)
    if loc is None:
        raise FileNotFoundError(f"Session {session_id} not found {search_description(directory)}")
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
        raise FileNotFoundError(f"Session {session_id} not found {search_description(directory)}")
    try:
        loc.path.unlink()
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"Session {session_id} not found (deleted concurrently)") from exc
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
    mapping = dict(zip((e["uuid"] for e in transcript), new_uuids(len(transcript))))
    writable = [e for e in transcript if e.get("type") != "progress"]
    if not writable:
        raise EmptySessionError(f"Session {session_id} has no messages to fork")
    # Parents are re-pointed past progress entries (which are not written); without any,
    # a parent maps directly (or to None when it is not in the fork).
    by_uuid = {e["uuid"]: e for e in transcript} if len(writable) != len(transcript) else None
    forked_id = new_uuid()
    now = iso_now()
    out: list[dict[str, Any]] = []
    last = len(writable) - 1
    for i, original in enumerate(writable):
        new_parent: str | None = None
        parent_id = original.get("parentUuid")
        if by_uuid is None:
            new_parent = mapping.get(parent_id) if parent_id else None
        while by_uuid is not None and parent_id:
            parent = by_uuid.get(parent_id)
            if not parent:
                break
            if parent.get("type") != "progress":
                new_parent = mapping.get(parent_id)
                break
            parent_id = parent.get("parentUuid")
        logical = original.get("logicalParentUuid")
        old_uuid = original["uuid"]
        forked = original if in_place else dict(original)
        # Same key order as the official ``{**original, ...}``: existing keys keep their
        # place, missing ones are added in this order.
        forked["uuid"] = mapping[old_uuid]
        forked["parentUuid"] = new_parent
        forked["logicalParentUuid"] = mapping.get(logical) if logical else logical
        forked["sessionId"] = forked_id
        forked["timestamp"] = now if i == last else original.get("timestamp", now)
        forked["isSidechain"] = False
        forked["forkedFrom"] = {"sessionId": session_id, "messageUuid": old_uuid}
        for k in _FORK_STRIPPED:
            if k in forked:
                del forked[k]
        out.append(forked)
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
    return forked_id, out


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
        raise FileNotFoundError(f"Session {session_id} not found {search_description(directory)}")
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
        transcript: list[dict[str, Any]] = []
        replacements: list[Any] = []
        for line in content.split(b"\n"):
            has_uuid = b'"uuid"' in line
            if not has_uuid and b"content-replacement" not in line:
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                obj = loads_line(line)
            if type(obj) is not dict:
                continue
            kind = obj.get("type")
            if kind in CHAIN_TYPES:
                if has_uuid and type(obj.get("uuid")) is str:
                    transcript.append(obj)
            elif (
                kind == "content-replacement"
                and obj.get("sessionId") == session_id
                and isinstance(obj.get("replacements"), list)
            ):
                replacements.extend(obj["replacements"])
        forked_id, entries = build_fork_entries(
            transcript, replacements, session_id, up_to_message_id, title, derive, in_place=True
        )
        write_new_transcript(loc.project_dir / f"{forked_id}.jsonl", entries)
        del transcript, replacements, entries
    return ForkSessionResult(session_id=forked_id)


def write_new_transcript(path: Path, entries: list[dict[str, Any]]) -> None:
    """Write a new transcript atomically: a 0600 temp file renamed into place.

    A crash leaves at most a stray ``.tmp`` file, never a half-written session.
    """
    if path.exists():
        raise FileExistsError(f"Refusing to overwrite {path}")
    data = b"".join(dumps_line(e) for e in entries)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        view = memoryview(data)
        written = 0
        while written < len(data):
            written += os.write(fd, view[written:])
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.rename(tmp, path)
