"""One session's entries, parsed once and kept in the shape every page needs.

The web views (conversation, tree, diff, usage) all start from the same parse of a
transcript: its chain entries in file order (the ``parentUuid`` graph), its file
checkpoints, its title and tag, and where it was forked from. Bulky entries the pages
never show (``attachment`` and ``progress`` bodies: system prompts, tool listings) are
slimmed to their links right after parsing, so a 20 000-entry session stays small in
memory; the raw-entry endpoint reads them again in full when asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..transcript._chain import build_path_to, resume_leaf
from ..transcript._views import CHAIN_TYPES

__all__ = ["Raw", "Transcript", "parse_transcript"]

Raw = dict[str, Any]

_SLIM_TYPES = frozenset({"attachment", "progress"})
_SLIM_KEEP = (
    "type",
    "uuid",
    "parentUuid",
    "logicalParentUuid",
    "isSidechain",
    "isMeta",
    "timestamp",
    "sessionId",
    "forkedFrom",
)


def _slim(entry: Raw) -> Raw:
    out = {k: entry[k] for k in _SLIM_KEEP if k in entry}
    att = entry.get("attachment")
    if isinstance(att, dict) and isinstance(att.get("type"), str):
        out["attachment"] = {"type": att["type"]}
    out["_slim"] = True
    return out


@dataclass
class Transcript:
    """A parsed session (main transcript)."""

    session_id: str
    project_key: str
    chain: list[Raw] = field(default_factory=list)
    """Chain entries (user/assistant/system/attachment/progress with a uuid), file order."""
    snapshots: dict[str, list[Raw]] = field(default_factory=dict)
    """``file-history-snapshot`` entries by the prompt uuid they belong to."""
    cost_states: list[Raw] = field(default_factory=list)
    title: str | None = None
    ai_title: str | None = None
    tag: str | None = None
    forked_from: str | None = None
    """The session this one was forked from (``forkedFrom.sessionId``), if any."""
    version: str = ""
    """Changes whenever the transcript does (a stamp from the source)."""
    _by_uuid: dict[str, Raw] | None = None
    _default_leaf: str | None = None
    _default_done: bool = False
    _view_leaf: str | None = None
    _view_done: bool = False
    _paths: dict[str, list[Raw]] = field(default_factory=dict)

    @property
    def by_uuid(self) -> dict[str, Raw]:
        if self._by_uuid is None:
            self._by_uuid = {e["uuid"]: e for e in self.chain}
        return self._by_uuid

    @property
    def display_title(self) -> str | None:
        return self.title or self.ai_title

    def default_leaf(self) -> str | None:
        """The leaf a resume continues from (the official reader's choice)."""
        if not self._default_done:
            self._default_leaf = resume_leaf(self.chain)
            self._default_done = True
        return self._default_leaf

    def view_leaf(self) -> str | None:
        """The resume leaf, extended down a single line of later entries (a system note or
        an error after the last message is part of what a reader should see)."""
        if self._view_done:
            return self._view_leaf
        self._view_done = True
        leaf = self.default_leaf()
        if leaf is None:
            return None
        children: dict[str, list[str]] = {}
        for e in self.chain:
            p = e.get("parentUuid")
            if isinstance(p, str) and not e.get("isSidechain"):
                children.setdefault(p, []).append(e["uuid"])
        seen = {leaf}
        while len(children.get(leaf, ())) == 1:
            nxt = children[leaf][0]
            if nxt in seen:
                break
            seen.add(nxt)
            leaf = nxt
        self._view_leaf = leaf
        return leaf

    def path(self, leaf: str | None) -> list[Raw]:
        """Root → ``leaf`` (default: the resume leaf, see :meth:`view_leaf`), across compactions."""
        target = leaf or self.view_leaf()
        if target is None or target not in self.by_uuid:
            return []
        hit = self._paths.get(target)
        if hit is None:
            if len(self._paths) >= 4:
                self._paths.pop(next(iter(self._paths)))
            hit = build_path_to(self.chain, target, across_compaction=True, by_uuid=self.by_uuid)
            self._paths[target] = hit
        return hit


def parse_transcript(
    objects: Iterable[Raw], *, session_id: str, project_key: str, version: str
) -> Transcript:
    """Fold a transcript's entries (any iterable of dicts, file order) into a :class:`Transcript`."""
    t = Transcript(session_id=session_id, project_key=project_key, version=version)
    chain = t.chain
    for e in objects:
        kind = e.get("type")
        if kind in CHAIN_TYPES:
            if not isinstance(e.get("uuid"), str):
                continue
            if t.forked_from is None:
                forked = e.get("forkedFrom")
                if isinstance(forked, dict) and isinstance(forked.get("sessionId"), str):
                    t.forked_from = forked["sessionId"]
            chain.append(_slim(e) if kind in _SLIM_TYPES else e)
        elif kind == "file-history-snapshot":
            mid = e.get("messageId")
            if isinstance(mid, str):
                t.snapshots.setdefault(mid, []).append(e)
        elif kind == "custom-title":
            if isinstance(e.get("customTitle"), str) and e["customTitle"]:
                t.title = e["customTitle"]
        elif kind == "ai-title":
            if isinstance(e.get("aiTitle"), str) and e["aiTitle"]:
                t.ai_title = e["aiTitle"]
        elif kind == "tag":
            tag = e.get("tag")
            t.tag = tag if isinstance(tag, str) and tag else None
        elif kind == "cost-state":
            t.cost_states.append(e)
        elif isinstance(e.get("aiTitle"), str) and e["aiTitle"]:
            t.ai_title = e["aiTitle"]
    return t
