"""Where the web app reads sessions from: a Claude config dir, or any ``SessionStore``.

Both sources answer the same questions (the listing rows, one session parsed, its
subagents, its forks, full-text search) and the same writes (rename, tag, fork, delete,
restore). :class:`FileSource` reads Claude Code's files directly: listing from the summary
index, search from the FTS index, a transcript re-parsed only when its stat changed, and
delete moves a session to threadline's trash. :class:`StoreSource` works over the store
protocol (``list_projects`` of threadline's database stores, or given project keys),
with an in-memory search index (:mod:`._storesearch`) and hard deletes (a store has no
trash).

Blocking work (file reads, parsing, SQLite) runs in worker threads, never on the event loop.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import anyio
import anyio.to_thread
import orjson

from .._exceptions import SessionNotFoundError, UserError
from .._ids import is_uuid, new_uuid
from ..sessions._filelog import read_complete
from ..sessions._index import SummaryIndex
from ..sessions._keys import is_project_key
from ..sessions._mutations import build_fork_entries, iso_now, sanitize_tag, split_fork_input
from ..sessions._protocol import (
    FindSessionStore,
    SessionKey,
    SessionStore,
    SessionStoreEntry,
    aclose_store,
    project_lister,
    store_implements,
)
from ..sessions._retention import restore_session, trash_dir, trash_session
from ..sessions._search import SearchIndex
from ..sessions._store_api import entries_to_jsonl
from ..sessions._summary import summary_to_info
from ..sessions.file import FileStore
from ..transcript._jsonl import gc_paused, iter_objects, loads_line
from ..transcript._lite import extract_first_prompt, info_from_lite, lite_from_jsonl, read_lite
from ._rows import AgentRef, Hit, Lineage, Row, TrashedRow, row_of
from ._storesearch import StoreSearch
from ._transcript import Raw, Transcript, parse_transcript

__all__ = [
    "AgentRef",
    "FileSource",
    "Hit",
    "Lineage",
    "Row",
    "Source",
    "StoreSource",
    "TrashedRow",
]

T = TypeVar("T")
_AGENT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}\Z")
_CACHE = 8
_HEAD = 64 * 1024
_LINEAGE_CAP = 500
HIT_OPEN, HIT_CLOSE = "\ue000", "\ue001"
"""Marks around matched terms in search snippets (private-use characters)."""


@dataclass
class _Cache:
    """A few parsed transcripts, least recently used dropped first."""

    items: OrderedDict[str, Transcript] = field(default_factory=OrderedDict)

    def get(self, sid: str) -> Transcript | None:
        t = self.items.get(sid)
        if t is not None:
            self.items.move_to_end(sid)
        return t

    def put(self, t: Transcript) -> None:
        self.items[t.session_id] = t
        self.items.move_to_end(t.session_id)
        while len(self.items) > _CACHE:
            self.items.popitem(last=False)

    def drop(self, sid: str) -> None:
        self.items.pop(sid, None)


def _dicts(entries: Iterable[Any] | None) -> list[Raw]:
    return [e for e in entries or () if isinstance(e, dict)]


def _check_sid(session_id: str) -> str:
    if not is_uuid(session_id):
        raise UserError(f"not a session id: {session_id!r}")
    return session_id.lower()


def check_agent_id(agent_id: str) -> str:
    if not _AGENT_ID.match(agent_id):
        raise UserError(f"not an agent id: {agent_id!r}")
    return agent_id


def _lineage_of(sid: str, objects: list[Raw] | None, created_at: int | None) -> Lineage:
    root = forked = None
    for e in objects or ():
        if e.get("type") in ("user", "assistant", "system", "attachment", "progress") and isinstance(
            e.get("uuid"), str
        ):
            root = e["uuid"]
            ff = e.get("forkedFrom")
            if isinstance(ff, dict) and isinstance(ff.get("sessionId"), str):
                forked = ff["sessionId"]
            break
    return Lineage(sid, root, forked, created_at)


def _title_of(objects: list[Raw]) -> str | None:
    custom = ai = None
    for e in objects:
        ct, at = e.get("customTitle"), e.get("aiTitle")
        if isinstance(ct, str) and ct:
            custom = ct
        if isinstance(at, str) and at:
            ai = at
    return custom or ai or extract_first_prompt(entries_to_jsonl(objects)) or None


class Source:
    """The interface both sources implement (see the module docstring)."""

    kind = ""
    label = ""
    can_restore = False

    def __init__(self) -> None:
        self._cache = _Cache()
        self._where: dict[str, str] = {}
        """session id → project key, from the last listing."""
        self._locks: dict[str, anyio.Lock] = {}

    # -- reading ---------------------------------------------------------------------

    def _lock_for(self, session_id: str) -> anyio.Lock:
        lock = self._locks.get(session_id)
        if lock is None:
            if len(self._locks) > 64:
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            lock = self._locks[session_id] = anyio.Lock()
        return lock

    async def rows(self) -> list[Row]:
        raise NotImplementedError

    async def project_of(self, session_id: str) -> str:
        sid = _check_sid(session_id)
        pk = self._where.get(sid)
        if pk is None:
            pk = await self._find(sid)
            if pk is None:
                raise SessionNotFoundError(sid, f"in {self.label}")
            self._where[sid] = pk
        return pk

    async def _find(self, session_id: str) -> str | None:
        raise NotImplementedError

    async def transcript(self, session_id: str, *, fresh: bool = True) -> Transcript:
        """The parsed session; ``fresh=False`` accepts the cached parse as it is."""
        raise NotImplementedError

    async def raw_entries(self, session_id: str) -> list[Raw]:
        """Every entry of the main transcript, unslimmed (for the raw-entry endpoint)."""
        raise NotImplementedError

    async def subagents(self, session_id: str) -> list[AgentRef]:
        raise NotImplementedError

    async def subagent_entries(self, session_id: str, agent_id: str) -> list[Raw]:
        raise NotImplementedError

    async def lineages(self, project_key: str) -> tuple[list[Lineage], bool]:
        """(lineage of every session of a project, whether the list is complete)."""
        raise NotImplementedError

    async def search(self, query: str, *, project: str | None, limit: int) -> list[Hit]:
        raise NotImplementedError

    async def trash(self) -> list[TrashedRow]:
        return []

    # -- writing ---------------------------------------------------------------------

    def _store(self) -> SessionStore:
        raise NotImplementedError

    async def _key(self, session_id: str) -> SessionKey:
        return {"project_key": await self.project_of(session_id), "session_id": _check_sid(session_id)}

    async def _append(self, key: SessionKey, entries: list[Raw]) -> None:
        await self._store().append(key, cast(list[SessionStoreEntry], entries))
        self._cache.drop(key["session_id"])

    async def rename(self, session_id: str, title: str) -> None:
        if not isinstance(title, str) or not title.strip():
            raise UserError("title must be non-empty")
        key = await self._key(session_id)
        await self._append(
            key,
            [{"type": "custom-title", "customTitle": title.strip(), "sessionId": key["session_id"],
              "uuid": new_uuid(), "timestamp": iso_now()}],
        )

    async def tag(self, session_id: str, tag: str | None) -> None:
        if tag is not None:
            if not isinstance(tag, str):
                raise UserError("tag must be a string or null")
            tag = sanitize_tag(tag).strip()
            if not tag:
                raise UserError("tag must be non-empty (use null to clear)")
        key = await self._key(session_id)
        await self._append(
            key,
            [{"type": "tag", "tag": tag or "", "sessionId": key["session_id"],
              "uuid": new_uuid(), "timestamp": iso_now()}],
        )

    async def fork(self, session_id: str, *, up_to: str | None, title: str | None) -> str:
        """Fork (the official transform); returns the new session id."""
        if up_to is not None and not is_uuid(up_to):
            raise UserError(f"not a message uuid: {up_to!r}")
        if title is not None and not isinstance(title, str):
            raise UserError("title must be a string")
        key = await self._key(session_id)
        objects = await self.raw_entries(key["session_id"])
        if not objects:
            raise SessionNotFoundError(key["session_id"], f"in {self.label}")
        chain, replacements = split_fork_input(objects, key["session_id"])
        new_id, entries = build_fork_entries(
            chain, replacements, key["session_id"], up_to, title, lambda: _title_of(objects)
        )
        await self._append({"project_key": key["project_key"], "session_id": new_id}, entries)
        self._where[new_id] = key["project_key"]
        return new_id

    async def delete(self, session_id: str) -> None:
        raise NotImplementedError

    async def restore(self, session_id: str) -> None:
        raise UserError(f"{self.label} has no trash: deleted sessions cannot be restored")

    async def aclose(self) -> None:
        pass


# -- local files -----------------------------------------------------------------------


def _read_head_lineage(path: str, sid: str, created_at: int | None) -> Lineage:
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD)
    except OSError:
        return Lineage(sid, None, None, created_at)
    for line in head.split(b"\n"):
        if b'"uuid"' not in line:
            continue
        obj = loads_line(line)
        if obj is None:
            continue
        lin = _lineage_of(sid, [obj], created_at)
        if lin.root_uuid is not None:
            return lin
    return Lineage(sid, None, None, created_at)


class FileSource(Source):
    """Claude Code's files under a config dir (default ``$CLAUDE_CONFIG_DIR`` / ``~/.claude``)."""

    kind = "files"
    can_restore = True

    def __init__(self, config_dir: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        self.files = FileStore(config_dir)
        self.config_dir = self.files.config_dir
        self.projects = self.config_dir / "projects"
        self.label = f"local files under {self.config_dir}"
        self._lineage: dict[str, tuple[tuple[int, int, int], Lineage]] = {}

    def _store(self) -> SessionStore:
        return self.files

    # listing -------------------------------------------------------------------------

    def _rows_sync(self) -> list[Row]:
        try:
            with os.scandir(self.projects) as it:
                # (not a folder no project key can name: not valid UTF-8, a backslash)
                dirs = [Path(e.path) for e in it if is_project_key(e.name) and e.is_dir()]
        except OSError:
            return []
        index = SummaryIndex.for_config_dir(self.config_dir)
        best: dict[str, Row] = {}
        for dkey, sid, st, t in index.scan(dirs):
            if t is None:
                continue
            row = Row(
                session_id=sid,
                project_key=os.path.basename(dkey),
                summary=t[0],
                title=t[1],
                first_prompt=t[2],
                tag=t[5],
                git_branch=t[3],
                cwd=t[4],
                created_at=t[6],
                last_modified=int(st.st_mtime * 1000),
                size=st.st_size,
            )
            cur = best.get(sid)
            if cur is None or row.last_modified > cur.last_modified:
                best[sid] = row
        self._where = {sid: r.project_key for sid, r in best.items()}
        return list(best.values())

    async def rows(self) -> list[Row]:
        return await anyio.to_thread.run_sync(self._rows_sync)

    def _path(self, project_key: str, session_id: str) -> Path:
        return self.files.path_for({"project_key": project_key, "session_id": session_id})

    async def _find(self, session_id: str) -> str | None:
        key = await self.files.find_session(session_id)
        return key["project_key"] if key else None

    # one session ---------------------------------------------------------------------

    def _load_sync(self, sid: str, pk: str, cached: Transcript | None) -> Transcript:
        path = self._path(pk, sid)
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                version = f"{st.st_mtime_ns:x}-{st.st_size:x}-{st.st_ino:x}"
                if cached is not None and cached.version == version:
                    return cached
                data = f.read()
        except FileNotFoundError:
            raise SessionNotFoundError(sid, f"in {self.label}") from None
        if data and not data.endswith(b"\n"):
            data = data[: data.rfind(b"\n") + 1]  # a line being written: next time
        with gc_paused():
            return parse_transcript(iter_objects(data), session_id=sid, project_key=pk, version=version)

    async def transcript(self, session_id: str, *, fresh: bool = True) -> Transcript:
        sid = _check_sid(session_id)
        pk = await self.project_of(sid)
        async with self._lock_for(sid):  # concurrent requests share one parse
            cached = self._cache.get(sid)
            if cached is not None and not fresh:
                return cached
            t = await anyio.to_thread.run_sync(self._load_sync, sid, pk, cached)
            self._cache.put(t)
            return t

    async def raw_entries(self, session_id: str) -> list[Raw]:
        pk = await self.project_of(session_id)
        path = self._path(pk, _check_sid(session_id))

        def read() -> list[Raw]:
            try:
                data = read_complete(path)
            except FileNotFoundError:
                return []
            with gc_paused():
                return list(iter_objects(data))

        return await anyio.to_thread.run_sync(read)

    def _agents_sync(self, base: Path) -> list[tuple[AgentRef, Path]]:
        out: list[tuple[AgentRef, Path]] = []
        root = base / "subagents"
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                if not (name.startswith("agent-") and name.endswith(".jsonl")):
                    continue
                path = Path(dirpath) / name
                meta: Any = None
                with contextlib.suppress(OSError, orjson.JSONDecodeError):
                    meta = orjson.loads(path.with_name(name[:-6] + ".meta.json").read_bytes())
                rel = os.path.relpath(path, base)[:-6].replace(os.sep, "/")
                out.append(
                    (AgentRef(name[6:-6], rel, meta if isinstance(meta, dict) else {}), path)
                )
        return out

    async def subagents(self, session_id: str) -> list[AgentRef]:
        pk = await self.project_of(session_id)
        base = self._path(pk, _check_sid(session_id)).with_suffix("")
        found = await anyio.to_thread.run_sync(self._agents_sync, base)
        return [ref for ref, _ in found]

    async def subagent_entries(self, session_id: str, agent_id: str) -> list[Raw]:
        check_agent_id(agent_id)
        pk = await self.project_of(session_id)
        base = self._path(pk, _check_sid(session_id)).with_suffix("")

        def read() -> list[Raw]:
            for ref, path in self._agents_sync(base):
                if ref.agent_id == agent_id:
                    with gc_paused():
                        return list(iter_objects(read_complete(path)))
            raise SessionNotFoundError(session_id, f"(no subagent {agent_id!r})")

        return await anyio.to_thread.run_sync(read)

    def _lineages_sync(self, project_key: str, created: dict[str, int | None]) -> list[Lineage]:
        out: list[Lineage] = []
        pdir = self.projects / project_key
        try:
            with os.scandir(pdir) as it:
                names = [e for e in it if e.name.endswith(".jsonl") and is_uuid(e.name[:-6])]
        except OSError:
            return out
        for e in names:
            sid = e.name[:-6]
            try:
                st = e.stat()
            except OSError:
                continue
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            hit = self._lineage.get(e.path)
            if hit is None or hit[0] != stamp:
                hit = (stamp, _read_head_lineage(e.path, sid, created.get(sid)))
                self._lineage[e.path] = hit
            out.append(hit[1])
        return out

    async def lineages(self, project_key: str) -> tuple[list[Lineage], bool]:
        created = {r.session_id: r.created_at for r in await self.rows() if r.project_key == project_key}
        found = await anyio.to_thread.run_sync(self._lineages_sync, project_key, created)
        return found, True

    # search ------------------------------------------------------------------------

    def _search_sync(self, query: str, project: str | None, limit: int) -> list[Hit]:
        with SearchIndex(self.config_dir) as index:
            index.update()
            hits = index.search(
                query, limit=limit, project_key=project, markers=(HIT_OPEN, HIT_CLOSE)
            )
        return [
            Hit(h.session_id, h.project_key, h.message_uuid, h.role, h.snippet, h.timestamp)
            for h in hits
        ]

    async def search(self, query: str, *, project: str | None, limit: int) -> list[Hit]:
        return await anyio.to_thread.run_sync(self._search_sync, query, project, limit)

    # writes ------------------------------------------------------------------------

    async def _append(self, key: SessionKey, entries: list[Raw]) -> None:
        await super()._append(key, entries)
        path = self._path(key["project_key"], key["session_id"])
        await anyio.to_thread.run_sync(SummaryIndex.for_config_dir(self.config_dir).refresh, path)

    async def delete(self, session_id: str) -> None:
        """Move the session to threadline's trash (``restore`` brings it back)."""
        sid = _check_sid(session_id)
        await self.project_of(sid)
        await anyio.to_thread.run_sync(lambda: trash_session(sid, config_dir=self.config_dir))
        self._cache.drop(sid)
        self._where.pop(sid, None)

    async def restore(self, session_id: str) -> None:
        sid = _check_sid(session_id)
        path = await anyio.to_thread.run_sync(lambda: restore_session(sid, config_dir=self.config_dir))
        self._where[sid] = path.parent.name

    def _trash_sync(self) -> list[TrashedRow]:
        out: list[TrashedRow] = []
        for path in sorted(trash_dir(self.config_dir).glob("*/*.jsonl")):
            sid = path.name[:-6]
            if not is_uuid(sid):
                continue
            at: float | None = None
            with contextlib.suppress(OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                at = float(orjson.loads(path.with_name(f"{sid}.trashed.json").read_bytes())["trashedAt"])
            lite = read_lite(path)
            info = info_from_lite(sid, lite) if lite is not None else None
            out.append(TrashedRow(sid, path.parent.name, at, info.summary if info else None))
        out.sort(key=lambda r: r.trashed_at or 0, reverse=True)
        return out

    async def trash(self) -> list[TrashedRow]:
        return await anyio.to_thread.run_sync(self._trash_sync)


# -- any store -------------------------------------------------------------------------


def _version_of(entries: list[Any]) -> str:
    h = hashlib.blake2b(digest_size=8)
    h.update(str(len(entries)).encode())
    for e in entries[-4:]:
        h.update(orjson.dumps(e, option=orjson.OPT_SORT_KEYS) if isinstance(e, dict) else b"?")
    return h.hexdigest()


def _lister(store: object) -> Callable[[], Any] | None:
    """``list_projects`` of the store or of a store it wraps (wrappers keep keys in clear)."""
    lister = project_lister(store)
    return lister.list_projects if lister is not None else None


class StoreSource(Source):
    """Any ``SessionStore``; projects from ``list_projects()`` or the ``projects`` given."""

    kind = "store"

    def __init__(
        self, store: SessionStore, *, projects: list[str] | None = None, label: str | None = None
    ) -> None:
        super().__init__()
        self.store = store
        self.label = label or repr(store)
        self._projects = list(projects) if projects else None
        if self._projects is None and _lister(store) is None:
            raise UserError(
                f"{self.label} cannot list its projects (no list_projects()): name them "
                "with projects=[...] (threadline serve --project KEY)"
            )
        if not (
            store_implements(store, "list_session_summaries")
            or store_implements(store, "list_sessions")
        ):
            raise UserError(f"{self.label} can list no sessions (no list_sessions())")
        self._mtimes: dict[str, int] = {}
        self._lineage: dict[str, tuple[int, Lineage]] = {}
        self._search = StoreSearch()

    def _store(self) -> SessionStore:
        return self.store

    async def project_keys(self) -> list[str]:
        if self._projects is not None:
            return list(self._projects)
        lister = _lister(self.store)
        assert lister is not None
        return [str(p) for p in await lister()]

    async def _project_rows(self, pk: str) -> list[Row]:
        store = self.store
        listing: dict[str, int] | None = None
        if store_implements(store, "list_sessions"):
            listing = {e["session_id"]: e["mtime"] for e in await store.list_sessions(pk)}
        rows: list[Row] = []
        fresh: set[str] = set()
        if store_implements(store, "list_session_summaries"):
            for s in await store.list_session_summaries(pk):
                sid = s["session_id"]
                if listing is not None and (sid not in listing or s["mtime"] < listing[sid]):
                    continue
                fresh.add(sid)
                info = summary_to_info(s, None)
                if info is not None:
                    rows.append(row_of(info, pk))
        missing = [(sid, m) for sid, m in (listing or {}).items() if sid not in fresh]
        limiter = anyio.CapacityLimiter(16)

        async def fill(sid: str, mtime: int) -> None:
            async with limiter:
                entries = await store.load({"project_key": pk, "session_id": sid})
            if entries:
                info = info_from_lite(sid, lite_from_jsonl(entries_to_jsonl(list(entries)), mtime))
                if info is not None:
                    info.last_modified = mtime
                    rows.append(row_of(info, pk))

        async with anyio.create_task_group() as tg:
            for sid, mtime in missing:
                tg.start_soon(fill, sid, mtime)
        return rows

    async def rows(self) -> list[Row]:
        out: list[Row] = []
        for pk in await self.project_keys():
            out.extend(await self._project_rows(pk))
        self._where = {r.session_id: r.project_key for r in out}
        self._mtimes = {r.session_id: r.last_modified for r in out}
        return out

    async def _find(self, session_id: str) -> str | None:
        if isinstance(self.store, FindSessionStore):
            key = await self.store.find_session(session_id)
            if key:
                return str(key["project_key"])
        for pk in await self.project_keys():
            if await self.store.load({"project_key": pk, "session_id": session_id}):
                return pk
        return None

    async def raw_entries(self, session_id: str) -> list[Raw]:
        key = await self._key(session_id)
        return _dicts(await self.store.load(key))

    async def transcript(self, session_id: str, *, fresh: bool = True) -> Transcript:
        sid = _check_sid(session_id)
        async with self._lock_for(sid):
            return await self._transcript(sid, fresh)

    async def _transcript(self, sid: str, fresh: bool) -> Transcript:
        cached = self._cache.get(sid)
        if cached is not None and not fresh:
            return cached
        pk = await self.project_of(sid)
        entries = await self.raw_entries(sid)
        if not entries:
            raise SessionNotFoundError(sid, f"in {self.label}")
        version = _version_of(entries)
        if cached is not None and cached.version == version:
            return cached

        def parse() -> Transcript:
            with gc_paused():
                return parse_transcript(entries, session_id=sid, project_key=pk, version=version)

        t = await anyio.to_thread.run_sync(parse)
        self._cache.put(t)
        return t

    async def _subkeys(self, session_id: str) -> tuple[SessionKey, list[str]]:
        key = await self._key(session_id)
        if not store_implements(self.store, "list_subkeys"):
            return key, []
        subs = await self.store.list_subkeys(
            {"project_key": key["project_key"], "session_id": key["session_id"]}
        )
        return key, [s for s in subs if s.startswith("subagents/") and s.rsplit("/", 1)[-1].startswith("agent-")]

    async def subagents(self, session_id: str) -> list[AgentRef]:
        key, subs = await self._subkeys(session_id)
        out: list[AgentRef] = []
        for sub in subs:
            entries = await self.store.load({**key, "subpath": sub})
            meta: dict[str, Any] = {}
            for e in entries or ():
                if isinstance(e, dict) and e.get("type") == "agent_metadata":
                    meta = {k: v for k, v in e.items() if k != "type"}
            out.append(AgentRef(sub.rsplit("/", 1)[-1][6:], sub, meta))
        return out

    async def subagent_entries(self, session_id: str, agent_id: str) -> list[Raw]:
        check_agent_id(agent_id)
        key, subs = await self._subkeys(session_id)
        for sub in subs:
            if sub.rsplit("/", 1)[-1] == f"agent-{agent_id}":
                entries = await self.store.load({**key, "subpath": sub})
                return [e for e in _dicts(entries) if e.get("type") != "agent_metadata"]
        raise SessionNotFoundError(session_id, f"(no subagent {agent_id!r})")

    async def lineages(self, project_key: str) -> tuple[list[Lineage], bool]:
        rows = [r for r in await self.rows() if r.project_key == project_key]
        rows.sort(key=lambda r: r.last_modified, reverse=True)
        complete = len(rows) <= _LINEAGE_CAP
        out: list[Lineage] = []
        limiter = anyio.CapacityLimiter(16)

        async def one(r: Row) -> None:
            hit = self._lineage.get(r.session_id)
            if hit is None or hit[0] != r.last_modified:
                async with limiter:
                    entries = await self.store.load({"project_key": project_key, "session_id": r.session_id})
                objects = _dicts(entries)
                hit = (r.last_modified, _lineage_of(r.session_id, objects[:64], r.created_at))
                self._lineage[r.session_id] = hit
            out.append(hit[1])

        async with anyio.create_task_group() as tg:
            for r in rows[:_LINEAGE_CAP]:
                tg.start_soon(one, r)
        return out, complete

    async def search(self, query: str, *, project: str | None, limit: int) -> list[Hit]:
        rows = await self.rows()
        return await self._search.search(
            self.store, rows, query, project=project, limit=limit, markers=(HIT_OPEN, HIT_CLOSE)
        )

    async def delete(self, session_id: str) -> None:
        if not store_implements(self.store, "delete"):
            raise UserError(f"{self.label} cannot delete sessions (no delete())")
        key = await self._key(session_id)
        await self.store.delete(key)
        self._cache.drop(key["session_id"])
        self._where.pop(key["session_id"], None)

    async def aclose(self) -> None:
        self._search.close()
        await aclose_store(self.store)


def now_ms() -> int:
    return int(time.time() * 1000)
