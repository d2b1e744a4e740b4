"""The branch tree of a session: its in-file branches, and forks into other sessions.

In-file: every chain entry hangs off its ``parentUuid`` (a compaction boundary, whose
``parentUuid`` is null, off its ``logicalParentUuid``). Two things make a naive
``parentUuid`` graph branch where no one branched, and both are folded away here:

- the CLI writes one assistant entry per content block, each tool result hanging off its
  own call, so a reply with parallel tool calls fans out: assistant entries of one API
  response (same ``message.id``) are one node;
- the leftover fan-out (one tool result per call, only one of which the conversation goes
  on from) ends in dead ends holding no prompt and no reply: subtrees without a
  substantive entry (a prompt, a reply, a compaction summary) are pruned.

What remains with two or more children is a real branch point (a rewind, an edit, a
``resume_session_at``). Linear runs become one node (:class:`Segment`); each segment
links to the path that ends with it.

Forks: sessions whose entries carry ``forkedFrom.sessionId`` (``fork_session``), and sessions
that repeat this one's entries with the same uuids (the CLI's ``--fork-session``), found by
the caller (:mod:`._source`) and attached to the segment holding their fork point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._transcript import Raw, Transcript

__all__ = ["ForkRef", "Segment", "build_tree", "fork_point", "layout", "text_of"]


@dataclass
class Segment:
    id: int
    entries: list[Raw]
    children: list[int] = field(default_factory=list)
    forks: list[ForkRef] = field(default_factory=list)
    messages: int = 0
    depth: int = 0
    col: float = 0.0


@dataclass
class ForkRef:
    session_id: str
    title: str | None
    from_message: str | None
    """The uuid (in the parent session) of the last entry the fork shares."""
    how: str
    """``forkedFrom`` (``fork_session``) or ``shared-uuids`` (the CLI's ``--fork-session``)."""
    created_at: int | None = None
    col: float = 0.0
    depth: int = 0


def _parent(e: Raw) -> str | None:
    parent = e.get("parentUuid")
    if not parent and e.get("subtype") == "compact_boundary":
        parent = e.get("logicalParentUuid")
    return parent if isinstance(parent, str) and parent else None


def _mid(e: Raw) -> str | None:
    if e.get("type") != "assistant":
        return None
    message = e.get("message")
    mid = message.get("id") if isinstance(message, dict) else None
    return mid if isinstance(mid, str) and mid else None


def _blocks(e: Raw) -> list[Any]:
    message = e.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content if isinstance(content, list) else []


def is_substantive(e: Raw) -> bool:
    """A prompt, a reply or a compaction summary (not a tool result, not meta)."""
    kind = e.get("type")
    if e.get("isMeta"):
        return False
    if kind == "assistant":
        return True
    if kind != "user":
        return False
    if e.get("isCompactSummary"):
        return True
    return any(
        isinstance(b, dict) and b.get("type") in ("text", "image") for b in _blocks(e)
    )


def text_of(e: Raw) -> str:
    """A one-line label for an entry."""
    if e.get("isCompactSummary"):
        return "(compaction summary)"
    for b in _blocks(e):
        if not isinstance(b, dict):
            continue
        if b.get("type") == "text" and isinstance(b.get("text"), str) and b["text"].strip():
            return " ".join(b["text"].split())[:160]
        if b.get("type") == "tool_use":
            return f"⏺ {b.get('name')}"
        if b.get("type") == "thinking":
            return "(thinking)"
    return ""


def _groups(t: Transcript) -> tuple[dict[str, list[Raw]], dict[str, list[str]], list[str]]:
    """(members by group id, children by group id, roots): the folded entry graph."""
    nodes = [e for e in t.chain if not e.get("isSidechain")]
    by_uuid = {e["uuid"]: e for e in nodes}
    rep: dict[str, str] = {}

    def rep_of(uid: str) -> str:
        trail = []
        cur = uid
        while cur not in rep:
            e = by_uuid[cur]
            p = _parent(e)
            mid = _mid(e)
            if p is None or p not in by_uuid or mid is None or _mid(by_uuid[p]) != mid or p in trail:
                rep[cur] = cur
                break
            trail.append(cur)
            cur = p
        root = rep[cur]
        for u in trail:
            rep[u] = root
        return root

    members: dict[str, list[Raw]] = {}
    children: dict[str, list[str]] = {}
    roots: list[str] = []
    for e in nodes:
        r = rep_of(e["uuid"])
        members.setdefault(r, []).append(e)
        if r != e["uuid"]:
            continue
        p = _parent(e)
        if p is not None and p in by_uuid:
            children.setdefault(rep_of(p), []).append(r)
        else:
            roots.append(r)
    return members, children, roots


def _weights(
    members: dict[str, list[Raw]], children: dict[str, list[str]], roots: list[str]
) -> dict[str, int]:
    """Substantive entries in each group's subtree (iterative post-order, cycle-safe)."""
    weight: dict[str, int] = {}
    for root in roots:
        stack: list[tuple[str, bool]] = [(root, False)]
        while stack:
            g, done = stack.pop()
            if done:
                own = sum(1 for e in members[g] if is_substantive(e))
                weight[g] = own + sum(weight.get(c, 0) for c in children.get(g, ()))
                continue
            if g in weight:
                continue
            weight[g] = 0  # provisional: breaks cycles
            stack.append((g, True))
            stack.extend((c, False) for c in children.get(g, ()) if c not in weight)
    return weight


def build_tree(t: Transcript) -> list[Segment]:
    """Segments in creation order; ``segments[i].children`` index into the list."""
    members, children, roots = _groups(t)
    weight = _weights(members, children, roots)
    live_roots = [r for r in roots if weight.get(r, 0) > 0] or roots[:1]
    segments: list[Segment] = []
    stack: list[tuple[str, int | None, int]] = [(r, None, 0) for r in reversed(live_roots)]
    visited: set[str] = set()
    while stack:
        start, parent_seg, depth = stack.pop()
        seg = Segment(id=len(segments), entries=[], depth=depth)
        segments.append(seg)
        if parent_seg is not None:
            segments[parent_seg].children.append(seg.id)
        g: str | None = start
        while g is not None and g not in visited:
            visited.add(g)
            seg.entries.extend(members[g])
            kids = [c for c in children.get(g, ()) if weight.get(c, 0) > 0 and c not in visited]
            if len(kids) == 1:
                g = kids[0]
                continue
            stack.extend((k, seg.id, depth + 1) for k in reversed(kids))
            g = None
        seg.messages = sum(1 for e in seg.entries if is_substantive(e))
    return segments


def fork_point(fork: Transcript, parent: Transcript) -> tuple[str | None, str]:
    """(uuid in ``parent`` where ``fork`` leaves it, how it was forked)."""
    path = fork.path(None)
    if fork.forked_from == parent.session_id:
        point = None
        for e in path:
            ff = e.get("forkedFrom")
            if isinstance(ff, dict) and ff.get("sessionId") == parent.session_id:
                mu = ff.get("messageUuid")
                point = mu if isinstance(mu, str) else point
        return point, "forkedFrom"
    known = parent.by_uuid
    point = None
    for e in path:
        if e["uuid"] in known:
            point = e["uuid"]
    return point, "shared-uuids"


def layout(segments: list[Segment]) -> None:
    """Columns for drawing: leaves (and forks) left to right, parents over their first child."""
    next_col = 0.0
    order: list[tuple[int, bool]] = [(s.id, False) for s in reversed(segments) if s.depth == 0]
    while order:
        sid, done = order.pop()
        seg = segments[sid]
        if not done:
            order.append((sid, True))
            order.extend((c, False) for c in reversed(seg.children))
            continue
        for fork in seg.forks:
            fork.depth = seg.depth + 1
        if not seg.children:
            seg.col = next_col
            next_col += 1
            for fork in seg.forks:
                fork.col = next_col
                next_col += 1
        else:
            seg.col = segments[seg.children[0]].col
            for fork in seg.forks:
                fork.col = next_col
                next_col += 1
