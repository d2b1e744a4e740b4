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

from typing import Any

import orjson

from ._transcript import Raw, Transcript

__all__ = ["TEXT_LIMIT", "View", "build_view", "image_block"]

TEXT_LIMIT = 20_000
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


MAX_DEPTH = 64
"""Deepest nesting shown: a transcript's values nested deeper are cut (no renderer, encoder
or ``repr`` then recurses without bound on a crafted entry)."""
_TOO_DEEP = f"[nested deeper than {MAX_DEPTH} levels: not shown]"


def bounded(value: Any, limit: int = MAX_DEPTH) -> Any:
    """A copy of ``value`` with containers nested deeper than ``limit`` replaced by a note.

    Iterative (no recursion), order-preserving; non-JSON leaves are kept as they are.
    """
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any, int]] = [(value, root, 0, 0)]
    while stack:
        src, parent, key, depth = stack.pop()
        if isinstance(src, dict):
            if depth >= limit:
                parent[key] = _TOO_DEEP
                continue
            out: dict[Any, Any] = dict.fromkeys(src)
            parent[key] = out
            stack.extend((v, out, k, depth + 1) for k, v in src.items())
        elif isinstance(src, (list, tuple)):
            if depth >= limit:
                parent[key] = _TOO_DEEP
                continue
            items: list[Any] = [None] * len(src)
            parent[key] = items
            stack.extend((v, items, i, depth + 1) for i, v in enumerate(src))
        else:
            parent[key] = src
    return root[0]


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(bounded(value), option=orjson.OPT_INDENT_2).decode()
    except (TypeError, orjson.JSONEncodeError):
        return "[not shown: not JSON]"


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


class View:
    """One path of one session as items, laid out in one cheap pass and drawn lazily.

    The pass groups the path's entries into units (one per item) and pairs each tool
    result with its call; an item's JSON is built only when a page asks for it (and kept),
    so opening a 20 000-entry session costs one pass plus one page.
    """

    def __init__(
        self, t: Transcript, path: list[Raw], subagent_of: dict[str, str], *, sidechain: bool
    ) -> None:
        self.session_id = t.session_id
        self.leaf: str | None = path[-1]["uuid"] if path else None
        self.version = t.version
        self.subagent_of = subagent_of
        self.units: list[tuple[str, Any]] = []
        self.index_of: dict[str, int] = {}
        """Entry uuid → index of the item showing it."""
        self.results: dict[str, tuple[Raw, int]] = {}
        """tool_use id → (the user entry answering it, block index)."""
        self._built: dict[int, dict[str, Any]] = {}
        self._layout(t, path, sidechain)

    def __len__(self) -> int:
        return len(self.units)

    def _layout(self, t: Transcript, path: list[Raw], sidechain: bool) -> None:
        units, index_of, results = self.units, self.index_of, self.results
        calls: set[str] = set()
        last_mid: str | None = None
        for e in path:
            kind = e.get("type")
            if (e.get("isSidechain") and not sidechain) or (e.get("isMeta") and kind != "system"):
                continue
            uuid = e["uuid"]
            if kind == "assistant":
                message = e.get("message")
                mid = message.get("id") if type(message) is dict else None
                calls.update(_call_ids(e))
                if units and units[-1][0] == "assistant" and mid is not None and mid == last_mid:
                    units[-1][1].append(e)
                else:
                    units.append(("assistant", [e]))
                last_mid = mid if type(mid) is str else None
                index_of[uuid] = len(units) - 1
            elif kind == "user":
                if e.get("isCompactSummary"):
                    units.append(("compact_summary", e))
                    index_of[uuid] = len(units) - 1
                    last_mid = None
                    continue
                absorbed = True
                blocks = _blocks_of(e)
                for i, b in enumerate(blocks):
                    tid = b.get("tool_use_id") if type(b) is dict and b.get("type") == "tool_result" else None
                    if type(tid) is str and tid in calls and tid not in results:
                        results[tid] = (e, i)
                    else:
                        absorbed = False
                if absorbed and blocks:
                    if units:
                        index_of[uuid] = len(units) - 1  # shown beside its call
                    continue
                for snap in t.snapshots.get(uuid, ()):
                    units.append(("checkpoint", (snap, uuid)))
                units.append(("user", e))
                index_of[uuid] = len(units) - 1
                last_mid = None
            elif kind == "system":
                units.append(("system", e))
                index_of[uuid] = len(units) - 1
                last_mid = None

    def item(self, i: int) -> dict[str, Any]:
        hit = self._built.get(i)
        if hit is None:
            kind, data = self.units[i]
            hit = self._built[i] = getattr(self, "_draw_" + kind)(data)
        return hit

    def slice(self, start: int, stop: int | None = None) -> list[dict[str, Any]]:
        stop = len(self.units) if stop is None else min(stop, len(self.units))
        return [self.item(i) for i in range(max(0, start), stop)]

    # -- drawing ---------------------------------------------------------------------------

    def _draw_assistant(self, entries: list[Raw]) -> dict[str, Any]:
        first = entries[0]
        message: dict[str, Any] = first["message"] if isinstance(first.get("message"), dict) else {}
        item: dict[str, Any] = {
            "kind": "assistant",
            "uuid": entries[-1]["uuid"],
            "uuids": [e["uuid"] for e in entries],
            "timestamp": first.get("timestamp"),
            "model": message.get("model"),
            "blocks": [],
        }
        if first.get("isApiErrorMessage") or message.get("model") == "<synthetic>":
            item["error"] = True
        blocks = item["blocks"]
        for e in entries:
            for b in _blocks_of(e):
                if isinstance(b, dict):
                    blocks.append(self._assistant_block(b))
        return item

    def _assistant_block(self, b: Raw) -> dict[str, Any]:
        kind = b.get("type")
        if kind == "text" and isinstance(b.get("text"), str):
            return _text_field({"type": "text"}, b["text"])
        if kind == "thinking":
            return _text_field({"type": "thinking"}, str(b.get("thinking", "")))
        if kind == "redacted_thinking":
            return {"type": "redacted_thinking"}
        if kind not in ("tool_use", "server_tool_use"):
            return _text_field({"type": "other", "raw_type": str(kind)}, _json_text(b))
        call_id = b.get("id") if isinstance(b.get("id"), str) else ""
        call = _text_field(
            {"type": "tool_use", "id": call_id, "name": str(b.get("name", "")), "result": None},
            _json_text(b.get("input")),
        )
        agent = self.subagent_of.get(str(call_id))
        answer = self.results.get(str(call_id))
        if answer is not None:
            entry, index = answer
            call["result"] = _result_body(_blocks_of(entry)[index], entry["uuid"], index)
            agent = agent or _agent_from_result(entry)
        if agent is not None:
            call["subagent"] = agent
        return call

    def _draw_user(self, e: Raw) -> dict[str, Any]:
        uuid = e["uuid"]
        blocks: list[dict[str, Any]] = []
        for i, b in enumerate(_blocks_of(e)):
            if not isinstance(b, dict):
                continue
            kind = b.get("type")
            if kind == "tool_result":
                tid = b.get("tool_use_id")
                if isinstance(tid, str) and self.results.get(tid, (None,))[0] is e:
                    continue  # drawn beside its call
                blocks.append({"type": "tool_result", "tool_use_id": tid, **_result_body(b, uuid, i)})
            elif kind == "text" and isinstance(b.get("text"), str):
                blocks.append(_text_field({"type": "text"}, b["text"]))
            elif kind == "image":
                blocks.append(_image(b, uuid, [i]))
            else:
                blocks.append(_text_field({"type": "other", "raw_type": str(kind)}, _json_text(b)))
        return {"kind": "user", "uuid": uuid, "timestamp": e.get("timestamp"), "blocks": blocks}

    @staticmethod
    def _draw_compact_summary(e: Raw) -> dict[str, Any]:
        text = "\n".join(str(b.get("text", "")) for b in _blocks_of(e) if isinstance(b, dict))
        return _text_field({"kind": "compact_summary", "uuid": e["uuid"], "timestamp": e.get("timestamp")}, text)

    @staticmethod
    def _draw_checkpoint(data: tuple[Raw, str]) -> dict[str, Any]:
        snap, uuid = data
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
        return {
            "kind": "checkpoint",
            "message_uuid": uuid,
            "update": snap.get("isSnapshotUpdate") is True,
            "timestamp": inner.get("timestamp"),
            "files": files,
        }

    @staticmethod
    def _draw_system(e: Raw) -> dict[str, Any]:
        uuid = e["uuid"]
        if e.get("subtype") == "compact_boundary":
            meta: dict[str, Any] = (
                e["compactMetadata"] if isinstance(e.get("compactMetadata"), dict) else {}
            )
            return {
                "kind": "compact_boundary",
                "uuid": uuid,
                "timestamp": e.get("timestamp"),
                "trigger": meta.get("trigger"),
                "pre_tokens": meta.get("preTokens"),
                "post_tokens": meta.get("postTokens"),
            }
        content = e.get("content")
        text = content if isinstance(content, str) else _json_text(content) if content else ""
        return _text_field(
            {
                "kind": "system",
                "uuid": uuid,
                "timestamp": e.get("timestamp"),
                "subtype": e.get("subtype"),
                "level": e.get("level"),
            },
            text,
        )


def _agent_from_result(e: Raw) -> str | None:
    result = e.get("toolUseResult")
    if isinstance(result, dict) and isinstance(result.get("agentId"), str):
        return str(result["agentId"])
    return None


def build_view(
    t: Transcript, leaf: str | None, subagent_of: dict[str, str], *, sidechain: bool = False
) -> View:
    """The view of the path to ``leaf`` (default: the resume leaf).

    ``subagent_of`` maps a tool_use id to the subagent it started (from the sidecars).
    ``sidechain``: a subagent transcript (all its entries are sidechain entries).
    """
    return View(t, t.path(leaf), subagent_of, sidechain=sidechain)


def _call_ids(entry: Raw) -> list[str]:
    """The ids of the tool calls (client and server side) in an assistant entry."""
    ids: list[str] = []
    for b in _blocks_of(entry):
        if type(b) is dict and b.get("type") in ("tool_use", "server_tool_use"):
            cid = b.get("id")
            if type(cid) is str:
                ids.append(cid)
    return ids
