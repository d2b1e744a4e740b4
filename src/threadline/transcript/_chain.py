"""Rebuilding the conversation from a transcript's ``parentUuid`` links.

A transcript is a tree: resumes at an earlier message (``--resume-session-at``),
parallel tool results and subagent sidechains all branch it. The conversation
is the path from the newest main-line leaf back to the root:

1. keep chain entries (user/assistant/progress/system/attachment with a uuid);
2. terminals are entries nobody names as ``parentUuid``; from each, walk up to
   the first user/assistant entry: those are the leaf candidates;
3. prefer leaves that are not sidechain/team/meta, newest in file order;
4. walk leaf → root (cycle-safe; ``logicalParentUuid`` across a compaction is
   *not* followed, so history starts at the compaction summary);
5. put back parallel tool calls and results that the walk skipped (the CLI
   writes one assistant entry per content block and hangs each tool result off
   its own call, so a single walk sees only one branch).

This mirrors the official SDK's reader exactly, so both return the same
messages for the same file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._views import CHAIN_TYPES

if TYPE_CHECKING:
    from .._results import SessionMessage

__all__ = [
    "build_conversation_chain",
    "build_path_to",
    "resume_leaf",
    "chain_end",
    "build_subagent_chain",
    "chain_entries",
    "is_visible",
    "page",
    "to_session_messages",
    "message_id",
]

Raw = dict[str, Any]


def chain_entries(objects: Iterable[Raw]) -> list[Raw]:
    """Only the entries that take part in the chain (chain type with a string uuid)."""
    return [e for e in objects if e.get("type") in CHAIN_TYPES and isinstance(e.get("uuid"), str)]


def build_conversation_chain(entries: list[Raw]) -> list[Raw]:
    """The main conversation, root → leaf, from chain entries in file order."""
    return build_conversation_chain_and_leaf(entries)[0]


def build_conversation_chain_and_leaf(entries: list[Raw]) -> tuple[list[Raw], Raw | None]:
    """:func:`build_conversation_chain` and the leaf its walk started from (the chain may
    end with parallel results recovered after it)."""
    if not entries:
        return [], None
    return _build(_Index(entries, keep_all=True))


def chain_and_leaf(objects: list[Raw]) -> tuple[list[Raw], list[Raw], Raw | None]:
    """``chain_entries(objects)`` and :func:`build_conversation_chain_and_leaf` of them,
    in one pass over ``objects`` (what a resume of a whole transcript needs)."""
    index = _Index(objects, keep_all=False)
    if not index.entries:
        return [], [], None
    chain, leaf = _build(index)
    return index.entries, chain, leaf


class _Index:
    """What the rebuild needs of every chain entry, gathered in one pass over them: a
    transcript's entries are large dicts spread over the heap, and each pass over them
    costs about as much in memory reads as in work (≈ 10 ms per pass for 20 000 entries
    on the development machine), so the steps after this one look at these lists instead
    of going back to the entries wherever they can."""

    __slots__ = ("assistants", "by_uuid", "entries", "parents", "unique", "users")

    def __init__(self, objects: list[Raw], *, keep_all: bool) -> None:
        """``keep_all``: ``objects`` are chain entries already (else they are filtered as
        :func:`chain_entries` does)."""
        entries: list[Raw] = objects if keep_all else []
        keep = entries.append
        by_uuid: dict[str, Raw] = {}
        parents: set[str] = set()
        add_parent = parents.add
        self.assistants: list[tuple[str, Raw, str, Any]] = []
        """(uuid, entry, message id, content) of every assistant entry with a message id."""
        self.users: list[tuple[str, Raw]] = []
        add_assistant, add_user = self.assistants.append, self.users.append
        for e in objects:
            t = e.get("type")
            if keep_all:
                uid = e["uuid"]
            else:
                if t not in CHAIN_TYPES:
                    continue
                uid = e.get("uuid")
                if not isinstance(uid, str):
                    continue
                keep(e)
            by_uuid[uid] = e
            parent = e.get("parentUuid")
            if parent:
                add_parent(parent)
            if t == "assistant":
                message = e.get("message")
                if type(message) is dict:
                    mid = message.get("id")
                    if type(mid) is str and mid:
                        add_assistant((uid, e, mid, message.get("content")))
            elif t == "user":
                add_user((uid, e))
        self.entries = entries
        self.by_uuid = by_uuid
        self.parents = parents
        self.unique = len(by_uuid) == len(entries)
        """No uuid on two lines: ``by_uuid`` then holds every entry, in file order, and the
        lists above are in its order (else the steps fall back to ``by_uuid`` itself)."""


def _build(index: _Index) -> tuple[list[Raw], Raw | None]:
    leaves = _leaves(index)
    if not leaves:
        return [], None
    main = [
        leaf
        for leaf in leaves
        if not leaf.get("isSidechain") and not leaf.get("teamName") and not leaf.get("isMeta")
    ]
    candidates = main or leaves
    leaf = candidates[0] if len(candidates) == 1 else _newest(candidates, index.entries)
    chain, on_chain, uids = _walk_with_ids(leaf, index.by_uuid)
    return _recover_parallel(index.by_uuid, chain, on_chain, (index, uids)), leaf


def _leaves(index: _Index) -> list[Raw]:
    """From every entry nobody names as its parent, the first user or assistant entry on
    the way up (the leaf candidates). With unique uuids their order does not matter (the
    newest is picked by file position), so the terminals come from a set difference."""
    by_uuid, parents = index.by_uuid, index.parents
    if index.unique:
        terminals = [by_uuid[uid] for uid in by_uuid.keys() - parents]
    else:
        terminals = [e for e in index.entries if e["uuid"] not in parents]
    leaves: list[Raw] = []
    get = by_uuid.get
    for entry in terminals:
        cur: Raw | None = entry
        seen: set[str] = set()
        while cur is not None:
            uid = cur["uuid"]
            if uid in seen:
                break
            seen.add(uid)
            t = cur.get("type")
            if t == "user" or t == "assistant":
                leaves.append(cur)
                break
            parent = cur.get("parentUuid")
            cur = get(parent) if parent else None
    return leaves


def _newest(candidates: list[Raw], entries: list[Raw]) -> Raw:
    """The candidate whose uuid's last line comes last in ``entries`` (the first such
    candidate when two share it), found from the end: the leaf is usually near it."""
    wanted = {e["uuid"] for e in candidates}
    for entry in reversed(entries):
        uid = entry["uuid"]
        if uid in wanted:
            return next(e for e in candidates if e["uuid"] == uid)
    return candidates[0]  # not reached: every candidate's uuid is one of ``entries``'


def chain_end(entries: list[Raw], leaf: Raw | None) -> list[Raw]:
    """The entries below ``leaf`` on the way to the newest entry that descends from it
    through ``system``, ``attachment`` and ``progress`` entries only (a slash command's
    output, the reminders and markers the CLI writes after a message), in chain order.

    The readers end the conversation at its last message; a resume continues from the
    very last entry, as the CLI does: it sends a trailing command output, decides how to
    close the conversation from trailing markers, and hangs the next entry off the last.
    """
    if leaf is None:
        return []
    start = len(entries) - 1
    while start >= 0 and entries[start] is not leaf:
        start -= 1
    if start < 0:
        return []
    parent_of: dict[str, Raw] = {}
    reached = {leaf["uuid"]}
    last: Raw | None = None
    for entry in entries[start + 1 :]:
        if entry.get("type") in ("user", "assistant"):
            continue
        parent = entry.get("parentUuid")
        if parent in reached:
            reached.add(entry["uuid"])
            parent_of[entry["uuid"]] = entry
            last = entry
    out: list[Raw] = []
    while last is not None and last is not leaf:
        out.append(last)
        last = parent_of.get(last.get("parentUuid") or "")
    out.reverse()
    return out


def _walk_with_ids(
    leaf: Raw | None, by_uuid: dict[str, Raw]
) -> tuple[list[Raw], set[str], list[str]]:
    """The ``parentUuid`` path from ``leaf`` up to its root, root first (cycle-safe), the
    uuids on it, and those uuids in chain order."""
    chain: list[Raw] = []
    uids: list[str] = []
    on_chain: set[str] = set()
    get = by_uuid.get
    cur = leaf
    while cur is not None:
        uid = cur["uuid"]
        if uid in on_chain:
            break
        on_chain.add(uid)
        chain.append(cur)
        uids.append(uid)
        parent = cur.get("parentUuid")
        cur = get(parent) if parent else None
    chain.reverse()
    uids.reverse()
    return chain, on_chain, uids


def message_id(entry: Raw) -> str | None:
    if entry.get("type") != "assistant":
        return None
    message = entry.get("message")
    if type(message) is not dict:
        return None
    mid = message.get("id")
    return mid if type(mid) is str and mid else None


def _block_ids(entry: Raw, block_type: str, id_field: str) -> list[str]:
    message = entry.get("message")
    if type(message) is not dict:
        return []
    content = message.get("content")
    if type(content) is not list:
        return []
    out: list[str] = []
    for block in content:
        if type(block) is dict and block.get("type") == block_type:
            value = block.get(id_field)
            if type(value) is str:
                out.append(value)
    return out


def _is_tool_result(entry: Raw) -> bool:
    if entry.get("type") != "user":
        return False
    parent = entry.get("parentUuid")
    if type(parent) is not str or not parent:
        return False
    message = entry.get("message")
    if type(message) is not dict:
        return False
    content = message.get("content")
    if type(content) is not list:
        return False
    return any(type(b) is dict and b.get("type") == "tool_result" for b in content)


def _same_writer(a: Raw, b: Raw) -> bool:
    return bool(a.get("isSidechain")) == bool(b.get("isSidechain")) and a.get("agentId") == b.get(
        "agentId"
    )


def _ts(entry: Raw) -> str:
    value = entry.get("timestamp")
    return value if isinstance(value, str) else ""


def _recover_parallel(
    by_uuid: dict[str, Raw],
    chain: list[Raw],
    seen: set[str],
    indexed: tuple[_Index, list[str]] | None = None,
) -> list[Raw]:
    """Put back the parallel tool calls and results a single parentUuid walk misses.

    Same result as the official SDK's recovery, computed from the entries that
    are *off* the chain: only responses that appear on the chain are grouped,
    and tool-call ownership is resolved only for calls that an off-chain
    result answers. On a linear transcript this is one cheap pass. Four steps, each
    one pass (never a call per entry): anchor the chain's responses, scan the entries
    off it, resolve which response owns each call an off-chain result answers, then
    recover each response's group and splice it in after its anchor. Only the groups
    with something off the chain (a sibling, a result under a member) are looked at:
    the others recover nothing. ``indexed``: the entries' :class:`_Index` and the chain's
    uuids, when the rebuild has them (with unique uuids the first two steps read those
    instead of the entries; same result).
    """
    if len(seen) == len(by_uuid):
        return chain  # every entry is on the chain: nothing was skipped
    index = indexed[0] if indexed is not None and indexed[0].unique else None
    if index is not None and indexed is not None:
        anchors, chain_assistants, anchor_at = _anchors_indexed(chain, indexed[1], index)
    else:
        anchors, chain_assistants, anchor_at = _anchors(chain)
    if not anchors:
        return chain
    if index is not None:
        scan = _scan_indexed(index, anchors, seen)
    else:
        scan = _scan_off_chain(by_uuid, anchors, seen)
    if not scan.orphan_mids and not scan.off_results:
        return chain
    call_owner = _call_owners(scan.off_results, scan.assistants)
    by_assistant = _results_by_assistant(scan.off_results, by_uuid, call_owner)
    orphans = scan.orphan_mids
    placing = _ChainIndex(chain, by_uuid, indexed if index is not None else None)
    inserts: dict[int, list[Raw]] = {}
    processed: set[str] = set()
    for assistant, mid in chain_assistants:
        if not mid or mid in processed:
            continue
        processed.add(mid)
        group = scan.siblings.get(mid, [assistant])
        if mid not in orphans and not any(m.get("uuid") in by_assistant for m in group):
            continue  # no member off the chain, none with a result under it: nothing to add
        recovered = _recover_group(group, by_assistant, call_owner, seen, placing)
        if recovered:
            for entry in recovered:
                seen.add(entry["uuid"])
            inserts[anchor_at[mid]] = recovered
    return _splice(chain, inserts)


def _anchors(
    chain: list[Raw],
) -> tuple[dict[str, Raw], list[tuple[Raw, str | None]], dict[str, int]]:
    """The chain's responses by message id (the last entry of each), every chain assistant
    with its id, and where each response's last entry is on the chain."""
    anchors: dict[str, Raw] = {}
    anchor_at: dict[str, int] = {}
    chain_assistants: list[tuple[Raw, str | None]] = []
    append = chain_assistants.append
    for i, entry in enumerate(chain):
        if entry.get("type") == "assistant":
            message = entry.get("message")
            mid = message.get("id") if type(message) is dict else None
            if type(mid) is not str or not mid:
                mid = None
            append((entry, mid))
            if mid is not None:
                anchors[mid] = entry
                anchor_at[mid] = i
    return anchors, chain_assistants, anchor_at


def _anchors_indexed(
    chain: list[Raw], uids: list[str], index: _Index
) -> tuple[dict[str, Raw], list[tuple[Raw, str | None]], dict[str, int]]:
    """:func:`_anchors` from the index's message ids (the chain's assistants without one
    are left out: the recovery skips them)."""
    mid_of = {uid: mid for uid, _entry, mid, _content in index.assistants}
    anchors: dict[str, Raw] = {}
    anchor_at: dict[str, int] = {}
    chain_assistants: list[tuple[Raw, str | None]] = []
    get = mid_of.get
    for i, uid in enumerate(uids):
        mid = get(uid)
        if mid is not None:
            entry = chain[i]
            chain_assistants.append((entry, mid))
            anchors[mid] = entry
            anchor_at[mid] = i
    return anchors, chain_assistants, anchor_at


@dataclass
class _OffChain:
    siblings: dict[str, list[Raw]]
    """Entries of each on-chain response (message id), in file order."""
    off_results: list[Raw]
    """Tool results that are not on the chain."""
    assistants: list[tuple[Raw, str, list[Any]]]
    """Every assistant entry with its message id and content (for call ownership)."""
    orphan_mids: set[str]
    """The on-chain responses with an entry off the chain."""


def _scan_off_chain(by_uuid: dict[str, Raw], anchors: dict[str, Raw], seen: set[str]) -> _OffChain:
    """One pass in by_uuid order (the official iteration order): sibling groups of
    on-chain responses, tool results that are off the chain, and every assistant."""
    siblings: dict[str, list[Raw]] = {}
    off_results: list[Raw] = []
    assistants: list[tuple[Raw, str, list[Any]]] = []
    orphan_mids: set[str] = set()
    for uid, entry in by_uuid.items():
        t = entry.get("type")
        if t == "assistant":
            message = entry.get("message")
            if type(message) is not dict:
                continue
            mid = message.get("id")
            if type(mid) is not str or not mid:
                continue
            content = message.get("content")
            if type(content) is list:
                assistants.append((entry, mid, content))
            if mid in anchors:
                group = siblings.get(mid)
                if group is None:
                    siblings[mid] = [entry]
                else:
                    group.append(entry)
                if uid not in seen:
                    orphan_mids.add(mid)
        elif t == "user" and uid not in seen and _is_tool_result(entry):
            off_results.append(entry)
    return _OffChain(siblings, off_results, assistants, orphan_mids)


def _scan_indexed(index: _Index, anchors: dict[str, Raw], seen: set[str]) -> _OffChain:
    """:func:`_scan_off_chain` from the index's lists (unique uuids: same order)."""
    siblings: dict[str, list[Raw]] = {}
    off_results: list[Raw] = []
    assistants: list[tuple[Raw, str, list[Any]]] = []
    orphan_mids: set[str] = set()
    for uid, entry, mid, content in index.assistants:
        if type(content) is list:
            assistants.append((entry, mid, content))
        if mid in anchors:
            group = siblings.get(mid)
            if group is None:
                siblings[mid] = [entry]
            else:
                group.append(entry)
            if uid not in seen:
                orphan_mids.add(mid)
    for uid, entry in index.users:
        if uid not in seen and _is_tool_result(entry):
            off_results.append(entry)
    return _OffChain(siblings, off_results, assistants, orphan_mids)


def _call_owners(
    off_results: list[Raw], assistants: list[tuple[Raw, str, list[Any]]]
) -> dict[str, Raw | None]:
    """Owners of the calls the off-chain results answer; a call id claimed by two
    different responses is ambiguous (None) and never used."""
    needed: set[str] = set()
    for result in off_results:
        needed.update(_block_ids(result, "tool_result", "tool_use_id"))
    call_owner: dict[str, Raw | None] = {}
    if not needed:
        return call_owner
    owner_mid: dict[str, str] = {}
    for entry, mid, content in assistants:
        for block in content:
            if type(block) is not dict or block.get("type") != "tool_use":
                continue
            call_id = block.get("id")
            if type(call_id) is not str or call_id not in needed:
                continue
            if call_id not in call_owner:
                call_owner[call_id] = entry
                owner_mid[call_id] = mid
                continue
            same = call_owner[call_id] is not None and owner_mid[call_id] == mid
            call_owner[call_id] = entry if same else None
    return call_owner


def _results_by_assistant(
    off_results: list[Raw], by_uuid: dict[str, Raw], call_owner: dict[str, Raw | None]
) -> dict[str, list[Raw]]:
    """Each off-chain result under every assistant entry it may belong to: its parent,
    its ``sourceToolAssistantUUID`` and the owner of a call it answers (same writer)."""
    by_assistant: dict[str, list[Raw]] = {}
    for result in off_results:
        by_assistant.setdefault(result["parentUuid"], []).append(result)
        source = result.get("sourceToolAssistantUUID")
        if isinstance(source, str):
            src = by_uuid.get(source)
            if src is not None and _same_writer(result, src):
                by_assistant.setdefault(source, []).append(result)
        for call_id in _block_ids(result, "tool_result", "tool_use_id"):
            owner = call_owner.get(call_id)
            if owner is not None and _same_writer(result, owner):
                by_assistant.setdefault(owner["uuid"], []).append(result)
    return by_assistant


class _ChainIndex:
    """What placing stray results needs (the calls answered on the chain, file positions),
    computed on first use: most transcripts never need it."""

    def __init__(
        self,
        chain: list[Raw],
        by_uuid: dict[str, Raw],
        indexed: tuple[_Index, list[str]] | None = None,
    ) -> None:
        self._chain = chain
        self._by_uuid = by_uuid
        self._indexed = indexed
        """The index (unique uuids) and the chain's uuids: the chain's user entries are
        then the index's users on it, and only those are read."""
        self._answered: set[str] | None = None
        self._position: dict[str, int] | None = None

    def _users(self) -> list[Raw]:
        if self._indexed is None:
            return [e for e in self._chain if e.get("type") == "user"]
        on_chain = set(self._indexed[1])
        return [e for uid, e in self._indexed[0].users if uid in on_chain]

    def answered(self) -> set[str]:
        if self._answered is None:
            self._answered = set()
            for e in self._users():
                message = e.get("message")
                content = message.get("content") if type(message) is dict else None
                if type(content) is not list:
                    continue
                for block in content:
                    if type(block) is dict and block.get("type") == "tool_result":
                        tid = block.get("tool_use_id")
                        if type(tid) is str:
                            self._answered.add(tid)
        return self._answered

    def position(self) -> dict[str, int]:
        if self._position is None:
            self._position = {uid: i for i, uid in enumerate(self._by_uuid)}
        return self._position


def _recover_group(
    group: list[Raw],
    by_assistant: dict[str, list[Raw]],
    call_owner: dict[str, Raw | None],
    seen: set[str],
    index: _ChainIndex,
) -> list[Raw]:
    """The entries of one response's group that the walk missed: its off-chain siblings,
    then the results that answer them (by timestamp each); empty when nothing is missing."""
    orphan_siblings = [m for m in group if m["uuid"] not in seen]
    if not orphan_siblings and not any(m["uuid"] in by_assistant for m in group):
        return []
    members = {m["uuid"] for m in group}
    orphan_results: list[Raw] = []
    strays: list[Raw] = []
    collected: set[str] = set()
    for member in group:
        for result in by_assistant.get(member["uuid"], ()):
            ruid = result["uuid"]
            if ruid in seen or ruid in collected:
                continue
            collected.add(ruid)
            if result["parentUuid"] in members:
                orphan_results.append(result)
            else:
                strays.append(result)
    if strays:
        orphan_results.extend(_opening_strays(strays, orphan_results, members, call_owner, index))
    if not orphan_siblings and not orphan_results:
        return []
    orphan_siblings.sort(key=_ts)
    orphan_results.sort(key=_ts)
    return orphan_siblings + orphan_results


def _opening_strays(
    strays: list[Raw],
    orphan_results: list[Raw],
    members: set[str],
    call_owner: dict[str, Raw | None],
    index: _ChainIndex,
) -> list[Raw]:
    """Results parented elsewhere that answer a call of this group nothing answered yet,
    taken in file order."""
    on_chain = index.answered()  # shared: not copied for each group
    answered: set[str] = set()
    for result in orphan_results:
        answered.update(_block_ids(result, "tool_result", "tool_use_id"))
    positions = index.position()
    strays.sort(key=lambda e: positions[e["uuid"]])
    taken: list[Raw] = []
    for result in strays:
        call_ids = _block_ids(result, "tool_result", "tool_use_id")
        opens = False
        for cid in call_ids:
            if cid in answered or cid in on_chain:
                continue
            owner = call_owner.get(cid)
            if owner is not None and owner["uuid"] in members:
                opens = True
                break
        if not opens:
            continue
        answered.update(call_ids)
        taken.append(result)
    return taken


def _splice(chain: list[Raw], inserts: dict[int, list[Raw]]) -> list[Raw]:
    """``chain`` with each recovered group right after its anchor (its position)."""
    if not inserts:
        return chain
    out: list[Raw] = []
    start = 0
    for at in sorted(inserts):
        out.extend(chain[start : at + 1])
        out.extend(inserts[at])
        start = at + 1
    out.extend(chain[start:])
    return out


def build_subagent_chain(entries: list[Raw]) -> list[Raw]:
    """A subagent's conversation: last user/assistant entry in file order, walked to the root."""
    if not entries:
        return []
    by_uuid = {e["uuid"]: e for e in entries}
    leaf: Raw | None = None
    for entry in reversed(entries):
        if entry.get("type") in ("user", "assistant"):
            leaf = entry
            break
    return _walk_with_ids(leaf, by_uuid)[0]


def is_visible(entry: Raw) -> bool:
    """User/assistant entries that are not meta, sidechain or team messages."""
    t = entry.get("type")
    if t != "user" and t != "assistant":
        return False
    return not (entry.get("isMeta") or entry.get("isSidechain") or entry.get("teamName"))


def page(items: list[Any], limit: int | None, offset: int) -> list[Any]:
    """The official paging rule: ``limit > 0`` slices ``[offset:offset+limit]``."""
    if limit is not None and limit > 0:
        return items[offset : offset + limit]
    if offset > 0:
        return items[offset:]
    return items


def to_session_messages(
    chain: list[Raw],
    *,
    visible_only: bool = True,
    parent_tool_use_id: str | None = None,
    parent_agent_id: str | None = None,
) -> list[SessionMessage]:
    """Chain entries → :class:`SessionMessage` (main sessions filter invisible entries)."""
    from .._results import SessionMessage  # the readers' result type: a resume never loads it

    out: list[SessionMessage] = []
    append = out.append
    make = SessionMessage
    for e in chain:
        t = e.get("type")
        if t != "user" and t != "assistant":
            continue
        if visible_only and (e.get("isMeta") or e.get("isSidechain") or e.get("teamName")):
            continue
        append(
            make(
                "user" if t == "user" else "assistant",
                e.get("uuid", ""),
                e.get("sessionId", ""),
                e.get("message"),
                parent_tool_use_id,
                parent_agent_id,
            )
        )
    return out


def resume_leaf(entries: list[Raw]) -> str | None:
    """The uuid of the leaf :func:`build_conversation_chain` walks from (without the walk
    and the parallel-call recovery: steps 1-4 of the module docstring)."""
    by_uuid: dict[str, Raw] = {}
    position: dict[str, int] = {}
    parents: set[str] = set()
    for i, e in enumerate(entries):
        by_uuid[e["uuid"]] = e
        position[e["uuid"]] = i
        p = e.get("parentUuid")
        if p:
            parents.add(p)
    best: tuple[bool, int] | None = None
    leaf: str | None = None
    for entry in entries:
        if entry["uuid"] in parents:
            continue
        cur: Raw | None = entry
        seen: set[str] = set()
        while cur is not None and cur["uuid"] not in seen:
            seen.add(cur["uuid"])
            if cur.get("type") in ("user", "assistant"):
                preferred = not (cur.get("isSidechain") or cur.get("teamName") or cur.get("isMeta"))
                key = (preferred, position.get(cur["uuid"], -1))
                if best is None or key > best:
                    best, leaf = key, cur["uuid"]
                break
            parent = cur.get("parentUuid")
            cur = by_uuid.get(parent) if parent else None
    return leaf


def build_path_to(
    entries: list[Raw],
    leaf_uuid: str,
    *,
    across_compaction: bool = False,
    by_uuid: dict[str, Raw] | None = None,
) -> list[Raw]:
    """The path root → ``leaf_uuid`` (any chain entry, not only the newest leaf), with the
    parallel tool calls and results put back as :func:`build_conversation_chain` does.

    With ``across_compaction`` the walk goes on from a ``compact_boundary`` (whose
    ``parentUuid`` is null) to its ``logicalParentUuid``, so the history before a
    compaction is part of the path (a viewer wants it; a resume does not).
    ``[]`` if ``leaf_uuid`` is unknown. ``by_uuid`` may pass the entries' index if the
    caller has it.
    """
    if by_uuid is None:
        by_uuid = {e["uuid"]: e for e in entries}
    get = by_uuid.get
    cur = get(leaf_uuid)
    chain: list[Raw] = []
    on_chain: set[str] = set()
    while cur is not None:
        uid = cur["uuid"]
        if uid in on_chain:
            break
        on_chain.add(uid)
        chain.append(cur)
        parent = cur.get("parentUuid")
        if not parent and across_compaction and cur.get("subtype") == "compact_boundary":
            parent = cur.get("logicalParentUuid")
        cur = get(parent) if isinstance(parent, str) and parent else None
    chain.reverse()
    return _recover_parallel(by_uuid, chain, on_chain)
