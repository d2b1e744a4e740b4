"""The branch structure of a session: in-file branches and forks into other sessions.

In-file: every entry with a ``uuid`` hangs off its ``parentUuid`` (a compaction boundary,
whose ``parentUuid`` is null, off its ``logicalParentUuid``). An entry with two or more
children is a branch point (a rewind, an edit, ``resume_session_at``); an entry with none
is a leaf. Linear runs are folded into :class:`Segment` s.

Forks: other sessions whose entries carry ``forkedFrom.sessionId == <this id>``; the
``forkedFrom.messageUuid`` of a fork's last copied entry is where it left this session.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .._ids import is_uuid

__all__ = ["Fork", "Segment", "build_segments", "find_forks", "read_entries"]

_CHAIN_TYPES = frozenset({"user", "assistant", "system", "attachment", "progress"})
_HEAD_BYTES = 64 * 1024


@dataclass
class Segment:
    """A run of entries with no branching inside (the last one may branch or be a leaf)."""

    uuids: list[str]
    entries: list[dict[str, Any]]
    children: list[Segment] = field(default_factory=list)
    forks: list[Fork] = field(default_factory=list)

    @property
    def is_leaf(self) -> bool:
        return not self.children


@dataclass
class Fork:
    session_id: str
    from_message: str | None
    title: str | None
    forks: list[Fork] = field(default_factory=list)


def read_entries(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(entry, dict):
                out.append(entry)
    return out


def _parent(entry: dict[str, Any]) -> str | None:
    parent = entry.get("parentUuid")
    if parent is None and entry.get("subtype") == "compact_boundary":
        parent = entry.get("logicalParentUuid")
    return parent if isinstance(parent, str) else None


def build_segments(entries: list[dict[str, Any]]) -> list[Segment]:
    """Root segments of the entry graph, children in file order."""
    nodes = {
        e["uuid"]: e
        for e in entries
        if e.get("type") in _CHAIN_TYPES and isinstance(e.get("uuid"), str)
    }
    children: dict[str | None, list[str]] = {}
    for uuid, entry in nodes.items():
        parent = _parent(entry)
        children.setdefault(parent if parent in nodes else None, []).append(uuid)

    def segment_from(start: str) -> Segment:
        seg = Segment(uuids=[], entries=[])
        current = start
        while True:
            seg.uuids.append(current)
            seg.entries.append(nodes[current])
            kids = children.get(current, [])
            if len(kids) != 1:
                seg.children = [segment_from(k) for k in kids]
                return seg
            current = kids[0]

    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        return [segment_from(root) for root in children.get(None, [])]
    finally:
        sys.setrecursionlimit(limit)


def _last_fork_origin(path: str, session_id: str) -> tuple[bool, str | None, str | None]:
    """(is a fork of session_id, message uuid it left from, title)."""
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD_BYTES)
    except OSError:
        return False, None, None
    if b'"forkedFrom"' not in head or session_id.encode() not in head:
        return False, None, None
    origin: str | None = None
    title: str | None = None
    matched = False
    for entry in read_entries(Path(path)):
        forked = entry.get("forkedFrom")
        if isinstance(forked, dict) and forked.get("sessionId") == session_id:
            matched = True
            if isinstance(forked.get("messageUuid"), str):
                origin = forked["messageUuid"]
        if entry.get("type") == "custom-title" and isinstance(entry.get("customTitle"), str):
            title = entry["customTitle"]
    return matched, origin, title


def find_forks(projects: Path, session_id: str, *, depth: int = 5) -> list[Fork]:
    """Sessions forked from ``session_id`` (and, up to ``depth``, their forks)."""
    candidates: list[str] = []
    try:
        for project in os.scandir(projects):
            try:
                with os.scandir(project.path) as it:
                    candidates.extend(
                        e.path for e in it if e.name.endswith(".jsonl") and is_uuid(e.name[:-6])
                    )
            except OSError:
                continue
    except OSError:
        return []
    return _forks_of(candidates, session_id, depth)


def _forks_of(candidates: list[str], session_id: str, depth: int) -> list[Fork]:
    out: list[Fork] = []
    for path in candidates:
        sid = os.path.basename(path)[:-6]
        if sid == session_id:
            continue
        matched, origin, title = _last_fork_origin(path, session_id)
        if matched:
            fork = Fork(session_id=sid, from_message=origin, title=title)
            if depth > 1:
                fork.forks = _forks_of(candidates, sid, depth - 1)
            out.append(fork)
    return out


def attach_forks(roots: list[Segment], forks: list[Fork]) -> list[Fork]:
    """Hang each fork under the segment holding its origin; the unplaced ones are returned."""
    where: dict[str, Segment] = {}
    stack = list(roots)
    while stack:
        seg = stack.pop()
        for uuid in seg.uuids:
            where[uuid] = seg
        stack.extend(seg.children)
    unplaced: list[Fork] = []
    for fork in forks:
        home = where.get(fork.from_message or "")
        if home is None:
            unplaced.append(fork)
        else:
            home.forks.append(fork)
    return unplaced
