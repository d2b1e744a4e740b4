"""A conversation path turned into display items (what the conversation page draws).

One item per thing a reader sees: a prompt, an assistant reply (the CLI writes one entry
per content block; blocks of one API response are merged back into one item), a
compaction boundary, a compaction summary, a system note, a file checkpoint. Tool results
are not items of their own: each is attached to the ``tool_use`` block it answers, so the
page can draw a call beside its result (a result whose call is not on the path stays a
visible item). Long texts are cut at :data:`TEXT_LIMIT` (the raw-entry endpoint has the
rest) and images are replaced by references the image endpoint serves.

Items are plain JSON-able dicts; the documented shapes are in ``docs/web.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ._transcript import Raw, Transcript

__all__ = ["TEXT_LIMIT", "View", "build_view", "image_block"]

TEXT_LIMIT = 64 * 1024
_SUBAGENT_TOOLS = frozenset({"Agent", "Task"})
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def _cut(text: str) -> tuple[str, bool]:
    if len(text) <= TEXT_LIMIT:
        return text, False
    return text[:TEXT_LIMIT], True


def _text_field(out: dict[str, Any], text: str) -> dict[str, Any]:
    out["text"], cut = _cut(text)
    if cut:
        out["truncated"] = len(text)
    return out


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    except (TypeError, orjson.JSONEncodeError):
        return repr(value)


def image_block(entry: Raw, path: list[int]) -> Raw | None:
    """The image block at ``path`` (block index, then index inside a tool result)."""
    message = entry.get("message")
    content: Any = message.get("content") if isinstance(message, dict) else None
    block: Any = None
    for i in path:
        if not isinstance(content, list) or not 0 <= i < len(content):
            return None
        block = content[i]
        content = block.get("content") if isinstance(block, dict) else None
    return block if isinstance(block, dict) and block.get("type") == "image" else None


def _image(block: Raw, uuid: str, path: list[int]) -> dict[str, Any]:
    source = block.get("source")
    out: dict[str, Any] = {"type": "image"}
    if isinstance(source, dict) and source.get("type") == "base64":
        media = source.get("media_type")
        out["media_type"] = media if isinstance(media, str) else None
        if media in IMAGE_TYPES:
            out["ref"] = uuid + "/" + "/".join(str(i) for i in path)
    elif isinstance(source, dict) and isinstance(source.get("url"), str):
        out["url"] = source["url"]  # shown as text, never loaded
    return out


def _result_body(block: Raw, uuid: str, index: int) -> dict[str, Any]:
    content = block.get("content")
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for j, part in enumerate(content):
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif part.get("type") == "image":
                images.append(_image(part, uuid, [index, j]))
            else:
                texts.append(_json_text(part))
    out = _text_field({"is_error": block.get("is_error") is True, "uuid": uuid}, "\n".join(texts))
    if images:
        out["images"] = images
    return out


def _blocks_of(entry: Raw) -> list[Any]:
    message = entry.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content if isinstance(content, list) else []


def _is_tool_results(entry: Raw) -> bool:
    blocks = _blocks_of(entry)
    return bool(blocks) and all(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in blocks
    )


@dataclass
class View:
    """One path of one session, as items (built once, paged many times)."""

    session_id: str
    leaf: str | None
    version: str
    items: list[dict[str, Any]]
    index_of: dict[str, int]
    """Entry uuid → index of the item showing it."""


class _Builder:
    def __init__(self, t: Transcript, subagent_of: dict[str, str]) -> None:
        self.t = t
        self.subagent_of = subagent_of
        self.items: list[dict[str, Any]] = []
        self.index_of: dict[str, int] = {}
        self.calls: dict[str, dict[str, Any]] = {}
        self.last_assistant: dict[str, Any] | None = None
        self.last_mid: str | None = None

    def add(self, item: dict[str, Any], uuids: list[str]) -> None:
        self.items.append(item)
        for u in uuids:
            self.index_of[u] = len(self.items) - 1

    def assistant(self, e: Raw) -> None:
        message: dict[str, Any] = e["message"] if isinstance(e.get("message"), dict) else {}
        mid = message.get("id") if isinstance(message.get("id"), str) else None
        item = self.last_assistant
        if item is None or mid is None or mid != self.last_mid:
            item = {
                "kind": "assistant",
                "uuid": e["uuid"],
                "uuids": [],
                "timestamp": e.get("timestamp"),
                "model": message.get("model"),
                "blocks": [],
            }
            if e.get("isApiErrorMessage") or message.get("model") == "<synthetic>":
                item["error"] = True
            self.add(item, [])
        item["uuids"].append(e["uuid"])
        item["uuid"] = e["uuid"]
        self.index_of[e["uuid"]] = len(self.items) - 1
        self.last_assistant, self.last_mid = item, mid
        for b in _blocks_of(e):
            if not isinstance(b, dict):
                continue
            kind = b.get("type")
            if kind == "text" and isinstance(b.get("text"), str):
                item["blocks"].append(_text_field({"type": "text"}, b["text"]))
            elif kind == "thinking":
                item["blocks"].append(_text_field({"type": "thinking"}, str(b.get("thinking", ""))))
            elif kind == "redacted_thinking":
                item["blocks"].append({"type": "redacted_thinking"})
            elif kind in ("tool_use", "server_tool_use"):
                call_id = b.get("id") if isinstance(b.get("id"), str) else ""
                call = _text_field(
                    {"type": "tool_use", "id": call_id, "name": str(b.get("name", "")), "result": None},
                    _json_text(b.get("input")),
                )
                agent = self.subagent_of.get(str(call_id))
                if agent is not None:
                    call["subagent"] = agent
                item["blocks"].append(call)
                if call_id:
                    self.calls[call_id] = call
            else:
                item["blocks"].append(_text_field({"type": "other", "raw_type": str(kind)}, _json_text(b)))

    def user(self, e: Raw) -> None:
        uuid = e["uuid"]
        if e.get("isCompactSummary"):
            self.last_assistant = None
            text = "\n".join(
                str(b.get("text", "")) for b in _blocks_of(e) if isinstance(b, dict)
            )
            self.add(_text_field({"kind": "compact_summary", "uuid": uuid, "timestamp": e.get("timestamp")}, text), [uuid])
            return
        for snap in self.t.snapshots.get(uuid, ()):
            self.last_assistant = None
            self.checkpoint(snap, uuid)
        blocks: list[dict[str, Any]] = []
        absorbed = True
        for i, b in enumerate(_blocks_of(e)):
            if not isinstance(b, dict):
                continue
            kind = b.get("type")
            if kind == "tool_result":
                tid = b.get("tool_use_id")
                call = self.calls.get(tid) if isinstance(tid, str) else None
                body = _result_body(b, uuid, i)
                if call is not None and call["result"] is None:
                    call["result"] = body
                    agent = _agent_from_result(e)
                    if agent and "subagent" not in call:
                        call["subagent"] = agent
                    continue
                blocks.append({"type": "tool_result", "tool_use_id": tid, **body})
                absorbed = False
            elif kind == "text" and isinstance(b.get("text"), str):
                blocks.append(_text_field({"type": "text"}, b["text"]))
                absorbed = False
            elif kind == "image":
                blocks.append(_image(b, uuid, [i]))
                absorbed = False
            else:
                blocks.append(_text_field({"type": "other", "raw_type": str(kind)}, _json_text(b)))
                absorbed = False
        if absorbed and blocks == [] and _is_tool_results(e):
            # Every result went beside its call: the entry shows there.
            owner = self.items[-1] if self.items else None
            if owner is not None:
                self.index_of[uuid] = len(self.items) - 1
            return
        self.last_assistant = None
        self.add({"kind": "user", "uuid": uuid, "timestamp": e.get("timestamp"), "blocks": blocks}, [uuid])

    def checkpoint(self, snap: Raw, uuid: str) -> None:
        inner: dict[str, Any] = snap["snapshot"] if isinstance(snap.get("snapshot"), dict) else {}
        tracked = inner.get("trackedFileBackups")
        files = []
        if isinstance(tracked, dict):
            for path, info in sorted(tracked.items()):
                info = info if isinstance(info, dict) else {}
                files.append(
                    {
                        "path": str(path),
                        "version": info.get("version"),
                        "existed": info.get("backupFileName") is not None,
                    }
                )
        self.items.append(
            {
                "kind": "checkpoint",
                "message_uuid": uuid,
                "update": snap.get("isSnapshotUpdate") is True,
                "timestamp": inner.get("timestamp"),
                "files": files,
            }
        )

    def system(self, e: Raw) -> None:
        self.last_assistant = None
        uuid = e["uuid"]
        if e.get("subtype") == "compact_boundary":
            meta: dict[str, Any] = (
                e["compactMetadata"] if isinstance(e.get("compactMetadata"), dict) else {}
            )
            self.add(
                {
                    "kind": "compact_boundary",
                    "uuid": uuid,
                    "timestamp": e.get("timestamp"),
                    "trigger": meta.get("trigger"),
                    "pre_tokens": meta.get("preTokens"),
                    "post_tokens": meta.get("postTokens"),
                },
                [uuid],
            )
            return
        content = e.get("content")
        text = content if isinstance(content, str) else _json_text(content) if content else ""
        self.add(
            _text_field(
                {
                    "kind": "system",
                    "uuid": uuid,
                    "timestamp": e.get("timestamp"),
                    "subtype": e.get("subtype"),
                    "level": e.get("level"),
                },
                text,
            ),
            [uuid],
        )


def _agent_from_result(e: Raw) -> str | None:
    result = e.get("toolUseResult")
    if isinstance(result, dict) and isinstance(result.get("agentId"), str):
        return str(result["agentId"])
    return None


def build_view(
    t: Transcript, leaf: str | None, subagent_of: dict[str, str], *, sidechain: bool = False
) -> View:
    """Items for the path to ``leaf`` (default: the resume leaf).

    ``subagent_of`` maps a tool_use id to the subagent it started (from the sidecars).
    ``sidechain``: a subagent transcript (all its entries are sidechain entries).
    """
    path = t.path(leaf)
    b = _Builder(t, subagent_of)
    for e in path:
        kind = e.get("type")
        if (e.get("isSidechain") and not sidechain) or (e.get("isMeta") and kind != "system"):
            continue
        if kind == "assistant":
            b.assistant(e)
        elif kind == "user":
            b.user(e)
        elif kind == "system":
            b.system(e)
    return View(
        session_id=t.session_id,
        leaf=path[-1]["uuid"] if path else None,
        version=t.version,
        items=b.items,
        index_of=b.index_of,
    )


def tool_names(view: View) -> set[str]:
    """Names of the tools called on this path (for tests and the usage page)."""
    return {
        blk["name"]
        for item in view.items
        if item.get("kind") == "assistant"
        for blk in item["blocks"]
        if blk.get("type") == "tool_use"
    }


def is_subagent_tool(name: str) -> bool:
    return name in _SUBAGENT_TOOLS
