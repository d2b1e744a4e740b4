"""The in-place pass of ``fork_session`` as it was before its fourth pass (main at aa46f9a,
``_mutations._stream_fork``), kept as the reference the differential test
(``test_fork_differential.py``) compares the current pass with, byte for byte: a frozen
copy, not to be edited with the module."""

# ruff: noqa: C901
# mypy: ignore-errors
from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import orjson

from threadline.sessions import _mutations as _m
from threadline.sessions._mutations import (
    _FORK_STRIPPED,
    _MESSAGE_KEY,
    CHAIN_TYPES,
    EmptySessionError,
    MessageNotFoundError,
    _has_other_breaks,
    _layout,
    _line_parser,
    _replacements_of,
    _stamp_last,
    _whole_entry_at,
    _without_message,
    dumps_line,
    json_validator,
)

_PARENT_NULL = b'{"parentUuid":null'
_SOURCE_KEY = b',"sourceToolAssistantUUID":"'
_PARENT_KEY = b'{"parentUuid":'
_PARENT_STRING = b'{"parentUuid":"%s"'
_UUID_KEY = b',"uuid":"'
_SESSION_KEY = b',"sessionId":"'
_Written = tuple


def _source_member(line: bytes, after: int) -> tuple[int, int]:
    """Where the sourceToolAssistantUUID member of a line rewritten in place lies (start,
    end), found past the last "}" (a top-level member there; see :func:`_layout`); (0, 0)
    when its value is not a plain string (the line is then parsed)."""
    flat = line.rfind(b"}", after, len(line) - 1) + 1 or after
    drop = line.find(_SOURCE_KEY, flat)
    drop_end = line.find(b'"', drop + 28) + 1
    if drop < 0 or drop_end <= 0 or line.find(b"\\", drop + 28, drop_end) >= 0:
        return 0, 0
    return drop, drop_end


def _parent_piece(new_parent: bytes | None) -> bytes:
    return _PARENT_NULL if new_parent is None else b'{"parentUuid":"%s"' % new_parent


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def _stream_fork(
    reading: Any,
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
    supply = itertools.chain.from_iterable(_m._new_uuids(4096) for _ in itertools.count())
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
    # the members the fork adds, and the line's end ("%%" is "%" after the first format)
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
    last_keys: tuple[str, ...] = ()
    last_layout = 0
    drop = drop_end = 0
    handed = _m._HAND_OVER  # where the next hand-over may end
    a = limit = 0
    while True:
        more = reading.more_lines(limit)
        if more < 0:  # a line break the official fork splits at: the general transform
            return None
        if more == limit:
            break
        limit = more
        while a < limit:
            # one line: content[start:stop]
            stop = find(b"\n", a)
            if stop < 0 or stop > limit:  # a last line without a line break
                stop = limit
            start, a = a, stop + 1
            if cut and find(b"content-replacement", start, stop) < 0:
                continue
            line = content[start:stop]
            if parse is not None and line.startswith(_PARENT_KEY):
                # Claude Code's shape, rewritten where it lies when simdjson proves it (see
                # _in_place for why the rewrite is then the official one)
                try:
                    doc = parse(line)  # (bytes: what simdjson parses fastest)
                except (ValueError, RuntimeError):  # big integers, deep nesting: parsed
                    doc = None
                if doc is not None:
                    keys = tuple(doc)
                    if keys != last_keys:  # (lines of one layout come in runs: no hash)
                        layout = layouts.get(keys)
                        if layout is None:
                            layout = layouts[keys] = _layout(keys)
                        last_keys, last_layout = keys, layout
                    else:
                        layout = last_layout
                    if layout:
                        kind = doc["type"]
                        sidechain = doc["isSidechain"]
                        uid = doc["uuid"]
                        pid = doc["parentUuid"]
                    del doc  # the parser is reused: no view of it may outlive the line
                    after = 0
                    if layout and kind in chain_types:
                        if sidechain:  # any true value: the official fork drops the entry
                            continue
                        u = line.rfind(_UUID_KEY) + 9
                        sid = line.find(_SESSION_KEY, u) + 14
                        if pid is None:
                            after = 18 if line[14] == 110 else 0  # "n"
                        elif (
                            type(pid) is str
                            and len(pid) == 36
                            and line[51] == 34
                            and line[50] != 92
                            and line[14] == 34
                        ):
                            after = 52
                        if not (
                            after
                            and sidechain is False
                            and type(uid) is str
                            and len(uid) == 36
                            and u > 8
                            and sid > 13
                            # (these two first: with them, u + 36 < sid + 36 < the end)
                            and line.find(b'"', sid) == sid + 36
                            and line.find(b"}", u) == stop - start - 1
                            and line[u + 36] == 34
                            and line[u + 35] != 92
                            and line[sid + 35] != 92
                        ):
                            after = 0
                        elif layout == 2:
                            drop, drop_end = _source_member(line, after)
                            if not drop:
                                after = 0
                        if after:
                            if cut:
                                continue
                            if uid in mapping:
                                return None
                            saw_entry = True
                            new = mapping[uid] = next(supply)
                            if kind == "progress":
                                progress_parent[uid] = pid
                            else:
                                first = len(chunks)
                                if pid is None:
                                    chunks.append(_PARENT_NULL)
                                else:
                                    if pid in progress_parent:
                                        new_parent, settled = parent_of(pid)
                                    else:
                                        new_parent = mapping.get(pid)
                                        settled = new_parent is not None
                                    if new_parent is None:
                                        chunks.append(_PARENT_NULL)
                                    else:
                                        chunks.append(_PARENT_STRING % new_parent)
                                    if not settled:
                                        unsettled.append((first, pid, None, None))
                                if layout == 2:
                                    chunks.append(view[start + after : start + drop])
                                    after = drop_end
                                chunks += (view[start + after : stop - 1], added % line[u : u + 36])
                                content[start + u : start + u + 36] = new
                                content[start + sid : start + sid + 36] = forked
                                last, last_entry = first, None
                                if first >= handed and not unsettled:
                                    hand_over(chunks, first)
                                    handed = first + _m._HAND_OVER
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
            if old in mapping:
                return None
            saw_entry = True
            new = mapping[old] = next(supply)
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
