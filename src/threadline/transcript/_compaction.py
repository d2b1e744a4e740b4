"""Compaction in Claude Code's transcript format: the entries it writes and how they read back.

Writing (:func:`compaction_entries`). A compaction appends two entries:

1. ``system/compact_boundary`` with ``parentUuid: null`` (the chain restarts here),
   ``logicalParentUuid`` (the leaf before the cut) and ``compactMetadata`` with
   ``trigger``, ``preTokens``, ``postTokens``, ``durationMs`` and
   ``preservedSegment {headUuid, anchorUuid, tailUuid}`` (+ ``preservedMessages``);
2. the summary: a ``user`` entry with ``isCompactSummary`` and
   ``isVisibleInTranscriptOnly``, chained to the boundary (it is the *anchor*).

The preserved segment is the last model reply and everything after it (its tool results,
a prompt that is waiting for an answer). Its entries stay where they are in the file;
the next entry written after the summary hangs off the summary, as in the CLI.

Reading (:func:`relink_preserved`). A plain ``parentUuid`` walk from the leaf stops at the
boundary and misses the preserved segment (that is what the official
``get_session_messages`` returns). The ``claude`` CLI re-links the segment between the
summary and what follows it, and sends the model ``[summary, preserved..., newer...]``;
threadline's resume does the same, so both send the same messages.

Pure functions over entry dicts: the byte-offset sidecar that lets a local file store read
only the part after the last compaction is in :mod:`threadline.sessions._offsets`, the
model call in :mod:`threadline.runtime._compaction`.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from ._api import as_blocks
from ._chain import build_conversation_chain, chain_entries
from ._entries import EntryFactory

__all__ = [
    "COMPACT_PROMPT",
    "Trigger",
    "boundary_info",
    "compaction_entries",
    "compaction_request_messages",
    "extract_summary",
    "is_boundary",
    "is_rooted",
    "last_boundary",
    "preserved_start",
    "relink_compacted",
    "relink_preserved",
    "resume_leaf",
    "summary_text",
    "tail_complete",
]

Raw = dict[str, Any]
Trigger = Literal["auto", "manual"]

COMPACT_PROMPT = """CRITICAL: Respond with TEXT ONLY. Do NOT call any tools.

- Do NOT use Read, Bash, Grep, Glob, Edit, Write, or ANY other tool.
- You already have all the context you need in the conversation above.
- Your entire response must be plain text: an <analysis> block followed by a <summary> block.

Your task is to create a detailed summary of the conversation so far, paying close attention to the user's explicit requests and your previous actions.
This summary should be thorough in capturing technical details, code patterns, and architectural decisions that would be essential for continuing development work without losing context.

Your summary should include the following sections:

1. Primary Request and Intent
2. Key Technical Concepts
3. Files and Code Sections (with the important snippets)
4. Errors and fixes
5. Problem Solving
6. All user messages (every user message that is not a tool result; this summarization request is not one of them)
7. Pending Tasks
8. Current Work
9. Optional Next Step (only if it is directly in line with the user's most recent request)

Wrap your thought process in <analysis> tags and the summary itself in <summary> tags."""

_PREAMBLE = (
    "This session is being continued from a previous conversation that ran out of context. "
    "The summary below covers the earlier portion of the conversation.\n\nSummary:\n"
)
_EPILOGUE = (
    "Continue the conversation from where it left off without asking the user any further "
    "questions. Resume directly \u2014 do not acknowledge the summary, do not recap what was "
    'happening, do not preface with "I\'ll continue" or similar. Pick up the last task as if '
    "the break never happened.\n\nThe messages after this summary are the most recent "
    "messages from before compaction, kept verbatim."
)


# ----------------------------------------------------------------------------- writing


def extract_summary(text: str) -> str:
    """The ``<summary>`` of a compaction reply (else the reply minus its ``<analysis>``)."""
    found = re.search(r"<summary>(.*?)(?:</summary>|\Z)", text, re.S)
    if found:
        return found.group(1).strip()
    return re.sub(r"<analysis>.*?</analysis>", "", text, flags=re.S).strip()


def summary_text(summary: str, transcript_path: str | None) -> str:
    """The content of the ``isCompactSummary`` user entry, worded as the CLI words it."""
    hint = (
        "If you need specific details from before compaction (like exact code snippets, error "
        "messages, or content you generated), read the full transcript at: "
        f"{transcript_path}\n"
        if transcript_path
        else ""
    )
    return f"{_PREAMBLE}{summary}\n\n{hint}{_EPILOGUE}"


def _reply_id(entry: Raw) -> str | None:
    if entry.get("type") != "assistant" or entry.get("isApiErrorMessage"):
        return None
    message = entry.get("message")
    if not isinstance(message, dict) or message.get("model") == "<synthetic>":
        return None
    mid = message.get("id")
    return mid if isinstance(mid, str) and mid else None


def preserved_start(chain: list[Raw]) -> int | None:
    """Index in ``chain`` where the preserved segment (the last model reply onwards) starts.

    ``None`` when there is no earlier history to summarise (nothing before that reply
    but the previous summary), as the CLI refuses with ``too_few_groups``.
    """
    last = next((i for i in range(len(chain) - 1, -1, -1) if _reply_id(chain[i])), None)
    if last is None:
        return None
    mid = _reply_id(chain[last])
    start = last
    while start > 0 and _reply_id(chain[start - 1]) == mid:
        start -= 1
    history = [
        e
        for e in chain[:start]
        if e.get("type") in ("user", "assistant") and not e.get("isCompactSummary")
    ]
    return start if history else None


def compaction_request_messages(history: list[Raw]) -> list[Raw]:
    """The API history with the compaction instruction appended as the last user turn."""
    instruction = {"type": "text", "text": COMPACT_PROMPT}
    messages = [dict(m) for m in history]
    if messages and messages[-1]["role"] == "user":
        messages[-1] = {
            "role": "user",
            "content": [*as_blocks(messages[-1]["content"]), instruction],
        }
    else:
        messages.append({"role": "user", "content": [instruction]})
    return messages


def compaction_entries(
    factory: EntryFactory,
    *,
    leaf: str,
    preserved: list[Raw],
    summary: str,
    trigger: Trigger,
    pre_tokens: int,
    post_tokens: int,
    duration_ms: int,
    transcript_path: str | None,
) -> tuple[Raw, Raw]:
    """The boundary and summary entries of one compaction."""
    boundary = factory.new_entry("system", None)
    summary_entry = factory.prompt(summary_text(summary, transcript_path), boundary["uuid"])
    uuids = [e["uuid"] for e in preserved]
    boundary.update(
        {
            "logicalParentUuid": leaf,
            "subtype": "compact_boundary",
            "content": "Conversation compacted",
            "level": "info",
            "isMeta": False,
            "compactMetadata": {
                "trigger": trigger,
                "preTokens": pre_tokens,
                "postTokens": post_tokens,
                "durationMs": duration_ms,
                "preservedSegment": {
                    "headUuid": uuids[0],
                    "anchorUuid": summary_entry["uuid"],
                    "tailUuid": uuids[-1],
                },
                "preservedMessages": {
                    "anchorUuid": summary_entry["uuid"],
                    "uuids": uuids,
                    "allUuids": uuids,
                },
            },
        }
    )
    summary_entry["isVisibleInTranscriptOnly"] = True
    summary_entry["isCompactSummary"] = True
    return boundary, summary_entry


# ----------------------------------------------------------------------------- reading


def is_boundary(entry: Raw) -> bool:
    return entry.get("type") == "system" and entry.get("subtype") == "compact_boundary"


def _segment(meta: Raw, by_uuid: dict[str, Raw]) -> list[Raw] | None:
    seg = meta.get("preservedSegment")
    if not isinstance(seg, dict):
        return None
    head, tail = seg.get("headUuid"), seg.get("tailUuid")
    if not isinstance(head, str) or not isinstance(tail, str):
        return None
    listed = meta.get("preservedMessages")
    uuids = listed.get("allUuids") if isinstance(listed, dict) else None
    if isinstance(uuids, list) and uuids and all(u in by_uuid for u in uuids):
        return [by_uuid[u] for u in uuids]
    out: list[Raw] = []
    cur = by_uuid.get(tail)
    seen: set[str] = set()
    while cur is not None and cur["uuid"] not in seen:
        seen.add(cur["uuid"])
        out.append(cur)
        if cur["uuid"] == head:
            out.reverse()
            return out
        parent = cur.get("parentUuid")
        cur = by_uuid.get(parent) if isinstance(parent, str) else None
    return None


def relink_preserved(chain: list[Raw], by_uuid: dict[str, Raw]) -> list[Raw]:
    """Put a compaction's preserved segment back between its summary and what follows.

    Returns a linear chain (the re-linked entries are copies whose ``parentUuid`` reflects
    the new order), so a fork of it reads back the same conversation with the official
    readers too. New entries still hang off :func:`resume_leaf`, as the CLI writes them.
    """
    if not chain or not is_boundary(chain[0]):
        return chain
    meta = chain[0].get("compactMetadata")
    if not isinstance(meta, dict):
        return chain
    seg = meta.get("preservedSegment")
    anchor = seg.get("anchorUuid") if isinstance(seg, dict) else None
    at = next((i for i, e in enumerate(chain) if e.get("uuid") == anchor), None)
    preserved = _segment(meta, by_uuid)
    if at is None or not preserved:
        return chain
    on_chain = {e["uuid"] for e in chain}
    preserved = [e for e in preserved if e["uuid"] not in on_chain]
    if not preserved:
        return chain
    head = dict(preserved[0], parentUuid=chain[at]["uuid"])
    out = [*chain[: at + 1], head, *preserved[1:]]
    rest = chain[at + 1 :]
    if rest:
        out.append(dict(rest[0], parentUuid=preserved[-1]["uuid"]))
        out.extend(rest[1:])
    return out


def resume_leaf(chain: list[Raw]) -> str | None:
    """The uuid new entries hang off: the chain's last entry outside a preserved segment."""
    if not chain:
        return None
    if is_boundary(chain[0]):
        meta = chain[0].get("compactMetadata")
        listed = meta.get("preservedMessages") if isinstance(meta, dict) else None
        seg = meta.get("preservedSegment") if isinstance(meta, dict) else None
        uuids = set(listed.get("allUuids") or []) if isinstance(listed, dict) else set()
        if isinstance(seg, dict):
            uuids |= {seg.get("headUuid"), seg.get("tailUuid")}
        if uuids:
            for entry in reversed(chain):
                if entry["uuid"] not in uuids:
                    return str(entry["uuid"])
    return str(chain[-1]["uuid"])


def is_rooted(chain: list[Raw]) -> bool:
    """Whether a chain read from part of a file reaches a real root (not a cut-off parent)."""
    return bool(chain) and not chain[0].get("parentUuid")


def boundary_info(chain: list[Raw]) -> tuple[str, str] | None:
    """(boundary uuid, preserved head uuid) when ``chain`` (before re-linking) starts at one."""
    if not chain or not is_boundary(chain[0]):
        return None
    meta = chain[0].get("compactMetadata")
    seg = meta.get("preservedSegment") if isinstance(meta, dict) else None
    head = seg.get("headUuid") if isinstance(seg, dict) else None
    uuid = chain[0]["uuid"]
    return uuid, head if isinstance(head, str) else uuid


def relink_compacted(chain: list[Raw], chain_all: list[Raw]) -> list[Raw]:
    """:func:`relink_preserved` for a chain rebuilt from ``chain_all`` (no-op if uncompacted)."""
    if not chain or not is_boundary(chain[0]):
        return chain
    return relink_preserved(chain, {e["uuid"]: e for e in chain_all})


def tail_complete(entries: list[Raw]) -> bool:
    """Whether entries read from a compaction offset rebuild the whole live conversation."""
    chain_all = chain_entries(entries)
    chain = build_conversation_chain(chain_all)
    if not is_rooted(chain):
        return False
    last = chain[-1]
    if last.get("isSidechain") or last.get("teamName") or last.get("isMeta"):
        # no main-chain leaf after the offset: a full read would pick an older one
        return False
    if not is_boundary(chain[0]):
        return True
    meta = chain[0].get("compactMetadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("preservedSegment"), dict):
        return True
    return _segment(meta, {e["uuid"]: e for e in chain_all}) is not None


def last_boundary(entries: list[Raw]) -> tuple[str, str] | None:
    """:func:`boundary_info` of the last compaction boundary among ``entries``."""
    for entry in reversed(entries):
        # the subtype first: one lookup for nearly every entry (``is_boundary`` inlined)
        if (
            entry.get("subtype") == "compact_boundary"
            and entry.get("type") == "system"
            and isinstance(entry.get("uuid"), str)
        ):
            return boundary_info([entry])
    return None
