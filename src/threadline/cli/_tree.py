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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .._ids import is_uuid

__all__ = ["Fork", "Segment", "build_segments", "find_forks", "read_entries", "walk"]

_CHAIN_TYPES = frozenset({"user", "assistant", "system", "attachment", "progress"})
_HEAD_BYTES = 64 * 1024


@dataclass
class Segment:
    """A run of entries with no real branching inside (the last one may branch or be a leaf).

    ``entries`` also holds the results of parallel tool calls folded into the run: Claude
    Code hangs each tool result off its own ``tool_use`` entry, which is not a branch.
    """

    uuids: list[str]
    entries: list[dict[str, Any]]
    children: list[Segment] = field(default_factory=list)
    forks: list[Fork] = field(default_factory=list)
    id: int = 0
    parent: int | None = None

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


def _tool_use_ids(entry: dict[str, Any]) -> set[str]:
    message = entry.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if entry.get("type") != "assistant" or not isinstance(content, list):
        return set()
    return {
        str(b.get("id"))
        for b in content
        if isinstance(b, dict) and b.get("type") == "tool_use" and b.get("id")
    }


def _answers(entry: dict[str, Any], tool_ids: set[str]) -> bool:
    """Whether ``entry`` is only tool results for ``tool_ids``."""
    message = entry.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if entry.get("type") != "user" or not isinstance(content, list) or not content:
        return False
    return all(
        isinstance(b, dict) and b.get("type") == "tool_result" and b.get("tool_use_id") in tool_ids
        for b in content
    )


def _split_parallel(
    uuid: str, kids: list[str], nodes: dict[str, dict[str, Any]], children: dict[Any, list[str]]
) -> tuple[list[str], list[str]]:
    """(real children, side results of parallel tool calls folded into the run)."""
    if len(kids) < 2:
        return kids, []
    tool_ids = _tool_use_ids(nodes[uuid])
    if not tool_ids:
        return kids, []
    side = [k for k in kids if not children.get(k) and _answers(nodes[k], tool_ids)]
    real = [k for k in kids if k not in side]
    if not real:  # every child is a childless result: keep the last as the run's end
        real, side = [side[-1]], side[:-1]
    return real, side


def build_segments(entries: list[dict[str, Any]]) -> list[Segment]:
    """Root segments of the entry graph, children in file order (iterative: any depth)."""
    nodes = {
        e["uuid"]: e
        for e in entries
        if e.get("type") in _CHAIN_TYPES and isinstance(e.get("uuid"), str)
    }
    children: dict[str | None, list[str]] = {}
    for uuid, entry in nodes.items():
        parent = _parent(entry)
        children.setdefault(parent if parent in nodes and parent != uuid else None, []).append(uuid)
    roots: list[Segment] = []
    counter = 0
    # (first uuid of a segment, the segment it hangs under)
    todo: list[tuple[str, Segment | None]] = [(r, None) for r in reversed(children.get(None, []))]
    seen: set[str] = set()
    while todo:
        start, parent_seg = todo.pop()
        seg = Segment(
            uuids=[], entries=[], id=counter, parent=parent_seg.id if parent_seg else None
        )
        counter += 1
        (parent_seg.children if parent_seg else roots).append(seg)
        current: str | None = start
        while current is not None and current not in seen:
            seen.add(current)
            seg.uuids.append(current)
            seg.entries.append(nodes[current])
            real, side = _split_parallel(current, children.get(current, []), nodes, children)
            for s in side:
                seen.add(s)
                seg.entries.append(nodes[s])
            if len(real) == 1:
                current = real[0]
                continue
            todo.extend((k, seg) for k in reversed(real) if k not in seen)
            current = None
    return roots


def walk(roots: list[Segment]) -> Iterator[tuple[int, Segment]]:
    """(depth, segment) in pre-order, without recursion."""
    stack: list[tuple[int, Segment]] = [(0, r) for r in reversed(roots)]
    while stack:
        depth, seg = stack.pop()
        yield depth, seg
        stack.extend((depth + 1, c) for c in reversed(seg.children))


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
