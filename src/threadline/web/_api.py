"""The JSON API under ``/api/`` (what the pages use; documented in ``docs/web.md``)."""

from __future__ import annotations

import base64
import binascii
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

import anyio.to_thread
import orjson
from starlette.requests import Request
from starlette.responses import Response

from .._exceptions import (
    EmptySessionError,
    MessageNotFoundError,
    SessionNotFoundError,
    StorageError,
    UserError,
)
from .._version import __version__
from ._diff import common_ancestor, split_at
from ._guard import GuardConfig
from ._items import IMAGE_TYPES, View, bounded, build_view, image_block
from ._rows import Lineage, Row
from ._source import HIT_CLOSE, HIT_OPEN, Source, check_agent_id
from ._transcript import Transcript, parse_transcript
from ._tree import ForkRef, build_tree, fork_point, layout, text_of
from ._usage import usage_of

__all__ = ["Api", "JSON"]

T = TypeVar("T")
_MAX_LIMIT = 500
_FAMILY_CAP = 20


async def _cpu(fn: Callable[..., T], *args: Any) -> T:
    """Run CPU-heavy work (a 20 000-entry layout, a tree) off the event loop."""
    return await anyio.to_thread.run_sync(fn, *args)


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
        except orjson.JSONEncodeError:  # a transcript value nested too deep for the encoder
            return orjson.dumps(bounded(content), option=orjson.OPT_NON_STR_KEYS)


def _int(request: Request, name: str, default: int, lo: int = 0, hi: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UserError(f"{name} must be an integer, got {raw!r}") from None
    if value < lo or (hi is not None and value > hi):
        raise UserError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _date_ms(raw: str | None, name: str, *, end: bool = False) -> int | None:
    if not raw:
        return None
    if raw.isdigit():
        return int(raw)
    try:
        d = datetime.fromisoformat(raw)
    except ValueError:
        raise UserError(f"{name} must be a date (YYYY-MM-DD) or epoch ms, got {raw!r}") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    ms = int(d.timestamp() * 1000)
    if end and len(raw) == 10:
        ms += 86_400_000 - 1  # the whole day
    return ms


def _snippet(text: str) -> list[list[Any]]:
    """Search snippet → [[text, is_hit], ...] (the page wraps hits in <mark>)."""
    out: list[list[Any]] = []
    rest = text
    while rest:
        start = rest.find(HIT_OPEN)
        if start < 0:
            out.append([rest, False])
            break
        if start:
            out.append([rest[:start], False])
        end = rest.find(HIT_CLOSE, start + 1)
        if end < 0:
            out.append([rest[start + 1 :], True])
            break
        out.append([rest[start + 1 : end], True])
        rest = rest[end + 1 :]
    return out


_SORTS = {
    "modified": lambda r: r.last_modified,
    "created": lambda r: r.created_at or 0,
    "title": lambda r: (r.title or r.summary or "").lower(),
    "size": lambda r: r.size or 0,
    "project": lambda r: r.project_key,
}


class Api:
    """Route handlers over one :class:`Source`."""

    def __init__(self, source: Source, guard: GuardConfig) -> None:
        self.source = source
        self.guard = guard
        self._views: OrderedDict[tuple[str, str, str, str], View] = OrderedDict()

    # -- helpers -----------------------------------------------------------------------

    async def _view(self, t: Transcript, leaf: str | None) -> View:
        key = (t.session_id, leaf or "", t.version, "main")
        hit = self._views.get(key)
        if hit is not None:
            self._views.move_to_end(key)
            return hit
        agents = await self.source.subagents(t.session_id)
        subagent_of = {a.tool_use_id: a.agent_id for a in agents if a.tool_use_id}
        view = await _cpu(build_view, t, leaf, subagent_of)
        self._views[key] = view
        while len(self._views) > 6:
            self._views.popitem(last=False)
        return view

    async def _transcript(self, request: Request, sid: str | None = None) -> Transcript:
        sid = sid or request.path_params["sid"]
        version = request.query_params.get("v")
        t = await self.source.transcript(sid, fresh=version is None)
        if version is not None and t.version != version:
            t = await self.source.transcript(sid, fresh=True)
        return t

    @staticmethod
    def _leaf(request: Request, name: str = "leaf") -> str | None:
        leaf = request.query_params.get(name) or None
        if leaf is not None and len(leaf) > 200:
            raise UserError(f"{name} is too long")
        return leaf

    # -- reading -----------------------------------------------------------------------

    async def info(self, request: Request) -> JSON:
        body: dict[str, Any] = {
            "version": __version__,
            "source": {"kind": self.source.kind, "label": self.source.label},
            "writes": self.guard.allow_writes,
            "can_restore": self.source.can_restore,
        }
        if self.guard.allow_writes:
            body["csrf"] = self.guard.csrf
        return JSON(body)

    async def sessions(self, request: Request) -> JSON:
        q = request.query_params
        rows = await self.source.rows()
        projects: dict[str, int] = {}
        tags: dict[str, int] = {}
        for r in rows:
            projects[r.project_key] = projects.get(r.project_key, 0) + 1
            if r.tag:
                tags[r.tag] = tags.get(r.tag, 0) + 1
        sort = q.get("sort") or "modified"
        if sort not in _SORTS:
            raise UserError(f"sort must be one of {', '.join(_SORTS)}, got {sort!r}")
        order = q.get("order") or ("asc" if sort in ("title", "project") else "desc")
        if order not in ("asc", "desc"):
            raise UserError(f"order must be asc or desc, got {order!r}")
        offset = _int(request, "offset", 0)
        limit = _int(request, "limit", 50, 1, _MAX_LIMIT)
        selected = self._filter(rows, request)
        selected.sort(key=_SORTS[sort], reverse=order == "desc")
        return JSON(
            {
                "total": len(selected),
                "offset": offset,
                "limit": limit,
                "sort": sort,
                "order": order,
                "items": [r.to_json() for r in selected[offset : offset + limit]],
                "projects": [{"key": k, "count": v} for k, v in sorted(projects.items())],
                "tags": [{"tag": k, "count": v} for k, v in sorted(tags.items())],
            }
        )

    @staticmethod
    def _filter(rows: list[Row], request: Request) -> list[Row]:
        q = request.query_params
        project = q.get("project") or None
        tag = q.get("tag") or None
        text = (q.get("q") or "").strip().lower()
        since = _date_ms(q.get("since"), "since")
        until = _date_ms(q.get("until"), "until", end=True)
        out = []
        for r in rows:
            if project is not None and r.project_key != project:
                continue
            if tag is not None and r.tag != tag:
                continue
            if since is not None and r.last_modified < since:
                continue
            if until is not None and r.last_modified > until:
                continue
            if text and not any(
                text in (s or "").lower() for s in (r.summary, r.title, r.first_prompt, r.session_id)
            ):
                continue
            out.append(r)
        return out

    async def session(self, request: Request) -> JSON:
        t = await self._transcript(request)
        agents = await self.source.subagents(t.session_id)
        first = next((e for e in t.chain if e.get("type") == "user" and not e.get("isMeta")), None)
        stamps = [e["timestamp"] for e in t.chain if isinstance(e.get("timestamp"), str)]
        cwd = next((e["cwd"] for e in t.chain if isinstance(e.get("cwd"), str)), None)
        return JSON(
            {
                "session_id": t.session_id,
                "project": t.project_key,
                "title": t.display_title,
                "tag": t.tag,
                "first_prompt": text_of(first) if first else None,
                "cwd": cwd,
                "entries": len(t.chain),
                "first_timestamp": min(stamps) if stamps else None,
                "last_timestamp": max(stamps) if stamps else None,
                "default_leaf": t.default_leaf(),
                "forked_from": t.forked_from,
                "checkpoints": sum(len(v) for v in t.snapshots.values()),
                "subagents": [a.to_json() for a in agents],
                "version": t.version,
            }
        )

    async def messages(self, request: Request) -> JSON:
        t = await self._transcript(request)
        view = await self._view(t, self._leaf(request))
        limit = _int(request, "limit", 100, 1, _MAX_LIMIT)
        offset = _int(request, "offset", 0)
        focus = None
        around = request.query_params.get("around")
        if around:
            focus = view.index_of.get(around)
            if focus is None:
                raise MessageNotFoundError(f"message {around} is not on this path")
            offset = focus // limit * limit
        if request.query_params.get("page") == "last":
            offset = max(0, (len(view) - 1) // limit * limit)
        return JSON(
            {
                "session_id": t.session_id,
                "leaf": view.leaf,
                "version": t.version,
                "total": len(view),
                "offset": offset,
                "limit": limit,
                "focus": focus,
                "items": view.slice(offset, offset + limit),
            }
        )

    async def entry(self, request: Request) -> JSON:
        sid, uuid = request.path_params["sid"], request.path_params["uuid"]
        for e in await self.source.raw_entries(sid):
            if e.get("uuid") == uuid:
                return JSON(e)
        raise MessageNotFoundError(f"no entry {uuid} in session {sid}")

    async def image(self, request: Request) -> Response:
        sid, uuid = request.path_params["sid"], request.path_params["uuid"]
        try:
            path = [int(p) for p in request.path_params["path"].split("/")]
        except ValueError:
            raise UserError("bad image reference") from None
        agent = request.query_params.get("agent")
        if agent:
            entries = await self.source.subagent_entries(sid, check_agent_id(agent))
            entry = next((e for e in entries if e.get("uuid") == uuid), None)
        else:
            t = await self.source.transcript(sid, fresh=False)
            entry = t.by_uuid.get(uuid)
        block = image_block(entry, path) if entry is not None else None
        source = block.get("source") if block is not None else None
        if not isinstance(source, dict) or source.get("media_type") not in IMAGE_TYPES:
            raise MessageNotFoundError("no such image")
        try:
            data = base64.b64decode(str(source.get("data", "")), validate=False)
        except (binascii.Error, ValueError):
            raise MessageNotFoundError("the image data is not base64") from None
        return Response(
            data,
            media_type=str(source["media_type"]),
            headers={
                "content-security-policy": "default-src 'none'; sandbox",
                "content-disposition": "inline; filename=image",
                "cache-control": "private, max-age=3600",
            },
        )

    async def subagents(self, request: Request) -> JSON:
        agents = await self.source.subagents(request.path_params["sid"])
        return JSON({"items": [a.to_json() for a in agents]})

    async def subagent(self, request: Request) -> JSON:
        sid, aid = request.path_params["sid"], check_agent_id(request.path_params["aid"])
        entries = await self.source.subagent_entries(sid, aid)
        t = parse_transcript(entries, session_id=sid, project_key="", version="")
        leaf = next(
            (e["uuid"] for e in reversed(t.chain) if e.get("type") in ("user", "assistant")), None
        )
        view = await _cpu(lambda: build_view(t, leaf, {}, sidechain=True)) if leaf else None
        limit = _int(request, "limit", 200, 1, _MAX_LIMIT)
        offset = _int(request, "offset", 0)
        return JSON(
            {"agent_id": aid, "total": len(view) if view else 0, "offset": offset, "limit": limit,
             "items": view.slice(offset, offset + limit) if view else []}
        )

    async def usage(self, request: Request) -> JSON:
        t = await self._transcript(request)
        agents = await self.source.subagents(t.session_id)
        loaded = [(a.agent_id, await self.source.subagent_entries(t.session_id, a.agent_id)) for a in agents]
        return JSON(await _cpu(usage_of, t, loaded))

    async def tree(self, request: Request) -> JSON:
        t = await self._transcript(request)
        segments = await _cpu(build_tree, t)
        forks, origin, complete = await self._family(t)
        where = {e["uuid"]: s.id for s in segments for e in s.entries}
        unplaced: list[ForkRef] = []
        for fork in forks:
            seg = _place(t, where, fork.from_message)
            if seg is None:
                unplaced.append(fork)
            else:
                segments[seg].forks.append(fork)
        layout(segments)
        default_path = {e["uuid"] for e in await _cpu(t.path, None)}
        parent_of = {c: s.id for s in segments for c in s.children}
        out_segments = []
        for s in segments:
            shown = [e for e in s.entries if e.get("type") in ("user", "assistant") and not e.get("isMeta")]
            ends = [e for e in s.entries if e.get("type") in ("user", "assistant", "system")]
            end = (ends or s.entries)[-1]
            out_segments.append(
                {
                    "id": s.id,
                    "parent": parent_of.get(s.id),
                    "children": s.children,
                    "depth": s.depth,
                    "col": s.col,
                    "messages": s.messages,
                    "first_uuid": s.entries[0]["uuid"],
                    "end_uuid": end["uuid"],
                    "first_text": text_of(shown[0]) if shown else "",
                    "last_text": text_of(shown[-1]) if len(shown) > 1 else "",
                    "timestamp": next((e.get("timestamp") for e in reversed(s.entries) if e.get("timestamp")), None),
                    "leaf": not s.children,
                    "compacted": any(e.get("subtype") == "compact_boundary" for e in s.entries),
                    "on_default": any(e["uuid"] in default_path for e in s.entries[-1:]),
                    "forks": [_fork_json(f) for f in s.forks],
                }
            )
        return JSON(
            {
                "session_id": t.session_id,
                "title": t.display_title,
                "default_leaf": t.default_leaf(),
                "segments": out_segments,
                "unplaced_forks": [_fork_json(f) for f in unplaced],
                "origin": origin,
                "forks_complete": complete,
            }
        )

    async def _family(self, t: Transcript) -> tuple[list[ForkRef], dict[str, Any] | None, bool]:
        """(forks of ``t``, where ``t`` was forked from, whether every session was looked at)."""
        lineages, complete = await self.source.lineages(t.project_key)
        forks, older = _relatives(t, lineages)
        origin: dict[str, Any] | None = None
        kept: list[ForkRef] = []
        for fork in forks[:_FAMILY_CAP]:
            try:
                ft = await self.source.transcript(fork.session_id, fresh=False)
            except (SessionNotFoundError, UserError, StorageError):
                continue
            fork.from_message, fork.how = fork_point(ft, t)
            fork.title = ft.display_title
            if fork.from_message is not None:
                kept.append(fork)
        complete = complete and len(forks) <= _FAMILY_CAP
        if t.forked_from is not None:
            origin = {"session_id": t.forked_from, "how": "forkedFrom", "title": None, "from_message": None}
            try:
                parent = await self.source.transcript(t.forked_from, fresh=False)
                origin["from_message"], _ = fork_point(t, parent)
                origin["title"] = parent.display_title
            except (SessionNotFoundError, UserError, StorageError):
                origin["missing"] = True
        elif older:
            best: tuple[int, str, Transcript] | None = None
            mine_path = {e["uuid"] for e in t.path(None)}
            for sid in older[:_FAMILY_CAP]:
                try:
                    other = await self.source.transcript(sid, fresh=False)
                except (SessionNotFoundError, UserError, StorageError):
                    continue
                shared = sum(1 for u in other.by_uuid if u in mine_path)
                if best is None or shared > best[0]:
                    best = (shared, sid, other)
            if best is not None:
                point, _ = fork_point(t, best[2])
                origin = {"session_id": best[1], "how": "shared-uuids", "title": best[2].display_title,
                          "from_message": point}
        return kept, origin, complete

    async def diff(self, request: Request) -> JSON:
        a_sid = request.query_params.get("a")
        b_sid = request.query_params.get("b") or a_sid
        if not a_sid:
            raise UserError("diff needs a= (a session id) and b= or b_leaf=")
        ta = await self._transcript(request, a_sid)
        tb = ta if b_sid == a_sid else await self._transcript(request, b_sid)
        a_leaf, b_leaf = self._leaf(request, "a_leaf"), self._leaf(request, "b_leaf")
        path_a, path_b = await _cpu(ta.path, a_leaf), await _cpu(tb.path, b_leaf)
        if not path_a or not path_b:
            raise MessageNotFoundError("a leaf given to diff is not in its session")
        va, vb = await self._view(ta, a_leaf), await self._view(tb, b_leaf)
        in_a, in_b = common_ancestor(path_a, path_b)
        cut_a, cut_b = split_at(va, path_a, in_a), split_at(vb, path_b, in_b)
        limit = _int(request, "limit", 200, 1, _MAX_LIMIT)
        return JSON(
            {
                "a": {"session_id": ta.session_id, "leaf": va.leaf, "title": ta.display_title},
                "b": {"session_id": tb.session_id, "leaf": vb.leaf, "title": tb.display_title},
                "ancestor": {"a": in_a, "b": in_b},
                "common": {"count": cut_a, "tail": va.slice(cut_a - 2, cut_a)},
                "left_total": len(va) - cut_a,
                "right_total": len(vb) - cut_b,
                "left": va.slice(cut_a, cut_a + limit),
                "right": vb.slice(cut_b, cut_b + limit),
            }
        )

    async def search(self, request: Request) -> JSON:
        query = (request.query_params.get("q") or "").strip()
        if not query:
            raise UserError("search needs q=")
        project = request.query_params.get("project") or None
        limit = _int(request, "limit", 50, 1, _MAX_LIMIT)
        started = time.perf_counter()
        hits = await self.source.search(query, project=project, limit=limit)
        titles = {r.session_id: r.summary for r in await self.source.rows()}
        return JSON(
            {
                "query": query,
                "seconds": round(time.perf_counter() - started, 3),
                "hits": [
                    {
                        "session_id": h.session_id,
                        "project": h.project_key,
                        "message_uuid": h.message_uuid,
                        "role": h.role,
                        "timestamp": h.timestamp,
                        "title": titles.get(h.session_id),
                        "snippet": _snippet(h.snippet),
                    }
                    for h in hits
                ],
            }
        )

    async def trash(self, request: Request) -> JSON:
        rows = await self.source.trash()
        return JSON(
            {
                "supported": self.source.can_restore,
                "items": [
                    {"session_id": r.session_id, "project": r.project_key, "trashed_at": r.trashed_at,
                     "summary": r.summary}
                    for r in rows
                ],
            }
        )

    # -- writing -----------------------------------------------------------------------

    @staticmethod
    async def _body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if len(raw) > 64 * 1024:
            raise UserError("request body too large")
        try:
            body = orjson.loads(raw or b"{}")
        except orjson.JSONDecodeError:
            raise UserError("the body is not JSON") from None
        if not isinstance(body, dict):
            raise UserError("the body must be a JSON object")
        return body

    async def rename(self, request: Request) -> JSON:
        body = await self._body(request)
        await self.source.rename(request.path_params["sid"], body.get("title"))  # type: ignore[arg-type]
        self._views.clear()
        return JSON({"ok": True})

    async def tag(self, request: Request) -> JSON:
        body = await self._body(request)
        await self.source.tag(request.path_params["sid"], body.get("tag"))
        return JSON({"ok": True})

    async def fork(self, request: Request) -> JSON:
        body = await self._body(request)
        new_id = await self.source.fork(
            request.path_params["sid"], up_to=body.get("up_to") or None, title=body.get("title") or None
        )
        return JSON({"ok": True, "session_id": new_id})

    async def delete(self, request: Request) -> JSON:
        await self._body(request)
        await self.source.delete(request.path_params["sid"])
        self._views.clear()
        return JSON({"ok": True, "restorable": self.source.can_restore})

    async def restore(self, request: Request) -> JSON:
        await self._body(request)
        await self.source.restore(request.path_params["sid"])
        return JSON({"ok": True})


def _place(t: Transcript, where: dict[str, int], uuid: str | None) -> int | None:
    """The segment drawing ``uuid``, or its nearest ancestor that one draws (a fork may
    leave from an entry the tree pruned, like an attachment after the last reply)."""
    seen: set[str] = set()
    while uuid is not None and uuid not in seen:
        seen.add(uuid)
        seg = where.get(uuid)
        if seg is not None:
            return seg
        entry = t.by_uuid.get(uuid)
        parent = entry.get("parentUuid") if entry is not None else None
        if not parent and entry is not None and entry.get("subtype") == "compact_boundary":
            parent = entry.get("logicalParentUuid")
        uuid = parent if isinstance(parent, str) else None
    return None


def _fork_json(f: ForkRef) -> dict[str, Any]:
    return {
        "session_id": f.session_id,
        "title": f.title,
        "from_message": f.from_message,
        "how": f.how,
        "created_at": f.created_at,
        "col": f.col,
        "depth": f.depth,
    }


def error_status(exc: BaseException) -> int:
    if isinstance(exc, (SessionNotFoundError, MessageNotFoundError)):
        return 404
    if isinstance(exc, EmptySessionError):
        return 409
    if isinstance(exc, UserError):
        return 400
    if isinstance(exc, StorageError):
        return 503
    return 500


def _relatives(t: Transcript, lineages: list[Lineage]) -> tuple[list[ForkRef], list[str]]:
    """(sessions forked from ``t`` or sharing its root uuid after it, sessions sharing its
    root uuid created before it: candidates for where it came from)."""
    mine = next((x for x in lineages if x.session_id == t.session_id), None)
    root = mine.root_uuid if mine else (t.chain[0]["uuid"] if t.chain else None)
    created = mine.created_at if mine else None
    forks: list[ForkRef] = []
    older: list[str] = []
    for lin in lineages:
        if lin.session_id == t.session_id:
            continue
        if lin.forked_from == t.session_id:
            forks.append(ForkRef(lin.session_id, None, None, "forkedFrom", lin.created_at))
        elif root is not None and lin.root_uuid == root and lin.forked_from is None and t.forked_from is None:
            if created is not None and lin.created_at is not None and lin.created_at < created:
                older.append(lin.session_id)
            else:
                forks.append(ForkRef(lin.session_id, None, None, "shared-uuids", lin.created_at))
    return forks, older
