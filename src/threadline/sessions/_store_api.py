"""Store-backed session functions (``*_from_store``, ``*_via_store``, import).

Same names, arguments and results as the official SDK. ``directory`` only
serves to compute the project key (default: the process cwd).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, cast

import anyio
import orjson

from .._exceptions import SessionNotFoundError, UserError
from .._ids import is_uuid, new_uuid, validate_session_id
from .._results import ForkSessionResult, SDKSessionInfo, SessionMessage
from ..transcript._chain import (
    build_conversation_chain,
    build_subagent_chain,
    chain_entries,
    page,
    to_session_messages,
)
from ..transcript._jsonl import loads_line
from ..transcript._lite import extract_first_prompt, info_from_lite, lite_from_jsonl, parse_iso_ms
from ._disk import parent_ids, read_agent_meta
from ._find import find_session_key
from ._locate import locate_session, search_description
from ._mutations import build_fork_entries, iso_now, sanitize_tag, split_fork_input
from ._offsets import load_live
from ._paths import canonicalize_path, sanitize_path
from ._protocol import (
    SessionKey,
    SessionStore,
    SessionStoreEntry,
    store_implements,
)
from ._summary import summary_to_info

__all__ = [
    "delete_session_via_store",
    "find_session_key",
    "fork_session_via_store",
    "get_session_info_from_store",
    "get_session_messages_from_store",
    "get_subagent_messages_from_store",
    "import_session_to_store",
    "list_sessions_from_store",
    "list_subagents_from_store",
    "rename_session_via_store",
    "tag_session_via_store",
    "jsonl_files",
    "read_batches",
]

log = logging.getLogger("threadline.sessions")
_LOAD_CONCURRENCY = 16
_IMPORT_BATCH = 500
_IMPORT_BYTES = 1 << 20


def _project(directory: str | os.PathLike[str] | None) -> tuple[str, str]:
    path = canonicalize_path(directory if directory is not None else ".")
    return path, sanitize_path(path)


def entries_to_jsonl(entries: list[Any]) -> str:
    """Compact JSONL with ``type`` hoisted first (the byte shape the disk path has)."""
    parts: list[bytes] = []
    for e in entries:
        if isinstance(e, dict) and "type" in e:
            e = {"type": e["type"], **e}
        parts.append(orjson.dumps(e))
    return (b"\n".join(parts) + b"\n").decode("utf-8")


def _mtime_from_tail(jsonl: str) -> int:
    trimmed = jsonl.rstrip()
    obj = loads_line(trimmed[trimmed.rfind("\n") + 1 :])
    if obj is not None:
        ts = obj.get("timestamp")
        if isinstance(ts, str):
            ms = parse_iso_ms(ts)
            if ms is not None:
                return ms
    return int(time.time() * 1000)


async def _load_jsonl(store: SessionStore, key: SessionKey) -> str | None:
    entries = await store.load(key)
    return entries_to_jsonl(list(entries)) if entries else None


async def _infos_via_load(
    store: SessionStore, listing: list[dict[str, Any]], project_key: str, project_path: str
) -> list[SDKSessionInfo]:
    limiter = anyio.CapacityLimiter(_LOAD_CONCURRENCY)
    settled: list[str | BaseException | None] = [None] * len(listing)

    async def one(i: int, sid: str) -> None:
        async with limiter:
            try:
                settled[i] = await _load_jsonl(store, {"project_key": project_key, "session_id": sid})
            except Exception as exc:
                settled[i] = exc

    async with anyio.create_task_group() as tg:
        for i, e in enumerate(listing):
            tg.start_soon(one, i, e["session_id"])
    out: list[SDKSessionInfo] = []
    for entry, outcome in zip(listing, settled):
        sid, mtime = entry["session_id"], entry["mtime"]
        if isinstance(outcome, BaseException):
            out.append(SDKSessionInfo(session_id=sid, summary="", last_modified=mtime))
            continue
        if outcome is None:
            continue
        info = info_from_lite(sid, lite_from_jsonl(outcome, mtime), project_path)
        if info is None:
            continue
        info.last_modified = mtime
        out.append(info)
    return out


def _page_sorted(items: list[Any], limit: int | None, offset: int, key: Any) -> list[Any]:
    items.sort(key=key, reverse=True)
    if offset > 0:
        items = items[offset:]
    if limit is not None and limit > 0:
        items = items[:limit]
    return items


async def list_sessions_from_store(
    session_store: SessionStore,
    directory: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[SDKSessionInfo]:
    """Sessions of one project in a store, newest first (summaries first, loads only to fill gaps)."""
    project_path, project_key = _project(directory)
    has_list = store_implements(session_store, "list_sessions")
    if store_implements(session_store, "list_session_summaries"):
        try:
            summaries = await session_store.list_session_summaries(project_key)
        except NotImplementedError:
            pass
        else:
            listing = list(await session_store.list_sessions(project_key)) if has_list else []
            known = {e["session_id"]: e["mtime"] for e in listing}
            slots: list[dict[str, Any]] = []
            fresh: set[str] = set()
            for s in summaries:
                sid = s["session_id"]
                if has_list:
                    k = known.get(sid)
                    if k is None or s["mtime"] < k:
                        continue
                fresh.add(sid)
                info = summary_to_info(s, project_path)
                if info is not None:
                    slots.append({"mtime": s["mtime"], "info": info})
            if has_list:
                slots.extend(
                    {"mtime": e["mtime"], "session_id": e["session_id"], "info": None}
                    for e in listing
                    if e["session_id"] not in fresh
                )
            pg = _page_sorted(slots, limit, offset, key=lambda sl: sl["mtime"])
            to_fill = [sl for sl in pg if sl["info"] is None]
            if to_fill:
                filled = await _infos_via_load(session_store, cast(Any, to_fill), project_key, project_path)
                by_sid = {f.session_id: f for f in filled}
                for sl in to_fill:
                    sl["info"] = by_sid.get(sl["session_id"])
            return [sl["info"] for sl in pg if sl["info"] is not None]
    if not has_list:
        raise UserError(
            "session_store implements neither list_session_summaries() nor list_sessions() "
            "-- cannot list sessions. Provide a store with at least one of those methods."
        )
    listing = list(await session_store.list_sessions(project_key))
    infos = await _infos_via_load(session_store, cast(Any, listing), project_key, project_path)
    return _page_sorted(infos, limit, offset, key=lambda s: s.last_modified)


async def get_session_info_from_store(
    session_store: SessionStore, session_id: str, directory: str | None = None
) -> SDKSessionInfo | None:
    """Metadata of one session in a store (``None`` if absent, a sidechain, or empty)."""
    if not is_uuid(session_id):
        return None
    project_path, project_key = _project(directory)
    jsonl = await _load_jsonl(session_store, {"project_key": project_key, "session_id": session_id})
    if jsonl is None:
        return None
    return info_from_lite(session_id, lite_from_jsonl(jsonl, _mtime_from_tail(jsonl)), project_path)


async def get_session_messages_from_store(
    session_store: SessionStore,
    session_id: str,
    directory: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[SessionMessage]:
    """The visible conversation of a session in a store."""
    if not is_uuid(session_id):
        return []
    _, project_key = _project(directory)
    # After a compaction the chain starts at its boundary: a store that loads partially
    # reads from there (see load_live), not the whole history.
    entries = await load_live(session_store, {"project_key": project_key, "session_id": session_id})
    if not entries:
        return []
    chain = build_conversation_chain(chain_entries(entries))
    return page(to_session_messages(chain), limit, offset)


async def list_subagents_from_store(
    session_store: SessionStore, session_id: str, directory: str | None = None
) -> list[str]:
    """Subagent ids of a session in a store (needs ``list_subkeys``)."""
    if not is_uuid(session_id):
        return []
    if not store_implements(session_store, "list_subkeys"):
        raise UserError(
            "session_store does not implement list_subkeys() -- cannot list subagents. "
            "Provide a store with a list_subkeys() method."
        )
    _, project_key = _project(directory)
    seen: set[str] = set()
    ids: list[str] = []
    for sub in await session_store.list_subkeys({"project_key": project_key, "session_id": session_id}):
        if not sub.startswith("subagents/"):
            continue
        last = sub.rsplit("/", 1)[-1]
        if last.startswith("agent-") and last[6:] not in seen:
            seen.add(last[6:])
            ids.append(last[6:])
    return ids


async def get_subagent_messages_from_store(
    session_store: SessionStore,
    session_id: str,
    agent_id: str,
    directory: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[SessionMessage]:
    """A subagent's conversation from a store, with parent ids from its ``agent_metadata``."""
    if not is_uuid(session_id) or not agent_id:
        return []
    _, project_key = _project(directory)
    subpath: str | None = f"subagents/agent-{agent_id}"
    if store_implements(session_store, "list_subkeys"):
        subkeys = await session_store.list_subkeys({"project_key": project_key, "session_id": session_id})
        subpath = next(
            (s for s in subkeys if s.startswith("subagents/") and s.rsplit("/", 1)[-1] == f"agent-{agent_id}"),
            None,
        )
        if subpath is None:
            return []
    key: SessionKey = {"project_key": project_key, "session_id": session_id, "subpath": cast(str, subpath)}
    entries = await session_store.load(key)
    if not entries:
        return []
    meta: dict[str, Any] | None = None
    rest: list[Any] = []
    for e in entries:
        if isinstance(e, dict) and e.get("type") == "agent_metadata":
            meta = dict(e)
        else:
            rest.append(e)
    tool_use_id, parent_agent = parent_ids(meta)
    chain = build_subagent_chain(chain_entries(rest))
    return page(
        to_session_messages(chain, visible_only=False, parent_tool_use_id=tool_use_id, parent_agent_id=parent_agent),
        limit,
        offset,
    )


async def rename_session_via_store(
    session_store: SessionStore, session_id: str, title: str, directory: str | None = None
) -> None:
    """Append a ``custom-title`` entry to a session in a store."""
    validate_session_id(session_id)
    if not isinstance(title, str) or not title.strip():
        raise UserError("title must be non-empty")
    _, project_key = _project(directory)
    await session_store.append(
        {"project_key": project_key, "session_id": session_id},
        [cast(SessionStoreEntry, {"type": "custom-title", "customTitle": title.strip(),
          "sessionId": session_id, "uuid": _uuid(), "timestamp": iso_now()})],
    )


async def tag_session_via_store(
    session_store: SessionStore, session_id: str, tag: str | None, directory: str | None = None
) -> None:
    """Append a ``tag`` entry (``None`` clears) to a session in a store."""
    validate_session_id(session_id)
    if tag is not None:
        tag = sanitize_tag(tag).strip()
        if not tag:
            raise UserError("tag must be non-empty (use None to clear)")
    _, project_key = _project(directory)
    await session_store.append(
        {"project_key": project_key, "session_id": session_id},
        [cast(SessionStoreEntry, {"type": "tag", "tag": tag or "", "sessionId": session_id,
          "uuid": _uuid(), "timestamp": iso_now()})],
    )


async def delete_session_via_store(
    session_store: SessionStore, session_id: str, directory: str | None = None
) -> None:
    """Delete a session (and, store permitting, its subkeys); a no-op without ``delete``."""
    validate_session_id(session_id)
    if not store_implements(session_store, "delete"):
        return
    _, project_key = _project(directory)
    await session_store.delete({"project_key": project_key, "session_id": session_id})


async def fork_session_via_store(
    session_store: SessionStore,
    session_id: str,
    directory: str | None = None,
    up_to_message_id: str | None = None,
    title: str | None = None,
) -> ForkSessionResult:
    """Fork a session inside a store (one ``append`` of the remapped copy)."""
    validate_session_id(session_id)
    if up_to_message_id:
        validate_session_id(up_to_message_id, "up_to_message_id")
    _, project_key = _project(directory)
    raw = await session_store.load({"project_key": project_key, "session_id": session_id})
    if not raw:
        raise SessionNotFoundError(session_id)
    objects = [e for e in raw if isinstance(e, dict)]
    transcript, replacements = split_fork_input(cast(list[dict[str, Any]], objects), session_id)

    def derive() -> str | None:
        custom = ai = None
        for e in objects:
            ct, at = e.get("customTitle"), e.get("aiTitle")
            if isinstance(ct, str) and ct:
                custom = ct
            if isinstance(at, str) and at:
                ai = at
        return custom or ai or extract_first_prompt(entries_to_jsonl(objects)) or None

    forked_id, entries = build_fork_entries(transcript, replacements, session_id, up_to_message_id, title, derive)
    await session_store.append(
        {"project_key": project_key, "session_id": forked_id}, cast(list[SessionStoreEntry], entries)
    )
    return ForkSessionResult(session_id=forked_id)


def _uuid() -> str:
    return new_uuid()


def read_batches(path: Path, batch_size: int) -> tuple[list[list[SessionStoreEntry]], int]:
    """Parse a JSONL file into append batches (entry count and byte bounded) off the event loop."""
    batches: list[list[SessionStoreEntry]] = []
    batch: list[SessionStoreEntry] = []
    nbytes = 0
    skipped = 0
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            obj = loads_line(line)
            if obj is None:
                skipped += 1
                continue
            batch.append(cast(SessionStoreEntry, obj))
            nbytes += len(line)
            if len(batch) >= batch_size or nbytes >= _IMPORT_BYTES:
                batches.append(batch)
                batch, nbytes = [], 0
    if batch:
        batches.append(batch)
    return batches, skipped


async def _append_file(path: Path, key: SessionKey, store: SessionStore, batch_size: int) -> int:
    """Stream a JSONL file into ``store`` in batches; returns the count of skipped bad lines."""
    batches, skipped = await anyio.to_thread.run_sync(read_batches, path, batch_size)
    for batch in batches:
        await store.append(key, batch)
    if skipped:
        log.warning("import of %s skipped %d malformed line(s)", path, skipped)
    return skipped


async def import_session_to_store(
    session_id: str,
    store: SessionStore,
    *,
    directory: str | None = None,
    include_subagents: bool = True,
    batch_size: int = _IMPORT_BATCH,
) -> None:
    """Replay a local transcript (and its subagents) into ``store``; idempotent by uuid.

    Unlike the official SDK, a malformed or torn line is skipped with a
    warning instead of aborting the import halfway.
    """
    validate_session_id(session_id)
    loc = locate_session(session_id, directory)
    if loc is None:
        raise SessionNotFoundError(session_id, search_description(directory))
    if batch_size <= 0:
        batch_size = _IMPORT_BATCH
    project_key = loc.project_dir.name
    await _append_file(loc.path, {"project_key": project_key, "session_id": session_id}, store, batch_size)
    if not include_subagents:
        return
    session_dir = loc.path.with_suffix("")
    for file_path in jsonl_files(session_dir / "subagents"):
        parts = list(file_path.relative_to(session_dir).parts)
        parts[-1] = parts[-1][: -len(".jsonl")]
        sub: SessionKey = {"project_key": project_key, "session_id": session_id, "subpath": "/".join(parts)}
        await _append_file(file_path, sub, store, batch_size)
        meta = read_agent_meta(file_path)
        if meta is not None:
            await store.append(sub, [cast(SessionStoreEntry, {**meta, "type": "agent_metadata"})])


def jsonl_files(base: Path) -> list[Path]:
    out: list[Path] = []
    try:
        entries = sorted(base.iterdir(), key=lambda p: p.name)
    except OSError:
        return out
    for e in entries:
        if e.is_dir() and not e.is_symlink():
            out.extend(jsonl_files(e))
        elif e.is_file() and e.name.endswith(".jsonl"):
            out.append(e)
    return out



