"""Store benchmark: threadline's stores and their peers, side by side in one run.

Peers (bench-only dependencies: ``pip install -e '.[bench]'``):

- the OpenAI Agents SDK's sessions: ``SQLAlchemySession`` (PostgreSQL, asyncpg),
  ``RedisSession``, ``SQLiteSession``;
- a naive psycopg 3 store with one row per entry (``jsonb``, a unique ``(session, uuid)``
  index for idempotency, orjson to parse), appending with one ``INSERT`` per entry or with
  one multi-row ``INSERT`` per batch.

Workloads (~1 KB Claude Code–shaped entries, each store through its own API):

- appends/s into one session, one entry at a time (as eager flushing does);
- entries/s in batches of 10 into one session;
- entries/s with 16 sessions appended at once (one entry at a time each);
- load of one 10 000-entry session (written in batches of 100), and its last 20 entries;
- round trips per append (a counting TCP proxy in front of the server; one session);
- resume of a 100 000-entry session compacted at 98 %: the share of its bytes a
  ``load_since_compaction`` fetches (threadline stores; the peers read everything).

Every workload runs ``--runs`` times (default 3) on fresh storage and the medians are
printed (``--interleave``: each workload runs on every store in turn, the order rotating
each run, so load drift on a shared machine falls on all stores alike; by default each
store runs all its workloads before the next store starts; with ``--interleave`` the
one-at-a-time and batches-of-10 workloads go further: the stores take turns every 100
entries, see ``_in_blocks``), with ratios against the naive
multi-row store and ``SQLAlchemySession`` and the acceptance targets of issue 17 checked
(against the naive store: the median of the runs' own ratios, each run's listed).

Usage: python bench/bench_stores.py [--quick] [--runs N] [--interleave] [--only postgres,redis,sqlite] [--json OUT]
Needs PostgreSQL on 127.0.0.1:5432 (db ``test``) and Redis on 127.0.0.1:6379.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import orjson
from anyio.abc import SocketAttribute, SocketStream

from threadline.sessions.postgres import PostgresStore
from threadline.sessions.redis import RedisStore
from threadline.sessions.sqlite import SQLiteStore

PG_DSN = os.environ.get("THREADLINE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("THREADLINE_BENCH_REDIS", "redis://127.0.0.1:6379/0")
PROJECT = "-srv-bench-project"

# ----------------------------------------------------------------------------- entries


def _entry(sid: str, i: int, parent: str | None, words: int = 58) -> dict[str, Any]:
    """A Claude Code–shaped transcript line (~1 KB; ~400 bytes with ``words=8``)."""
    kind = "user" if i % 2 == 0 else "assistant"
    return {
        "parentUuid": parent,
        "isSidechain": False,
        "userType": "external",
        "cwd": "/srv/bench/project",
        "sessionId": sid,
        "version": "2.1.330",
        "gitBranch": "main",
        "type": kind,
        "message": {"role": kind, "content": [{"type": "text", "text": f"message {i} " + "lorem ipsum " * words}]},
        "uuid": str(uuid.uuid4()),
        "timestamp": f"2026-03-01T10:{(i // 60) % 60:02d}:{i % 60:02d}.000Z",
    }


def _entries(sid: str, n: int, parent: str | None = None, words: int = 58) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        e = _entry(sid, i, parent, words)
        parent = e["uuid"]
        out.append(e)
    return out


def _key(sid: str) -> Any:
    return {"project_key": PROJECT, "session_id": sid}


# ----------------------------------------------------------------------------- peers


class NaivePostgres:
    """One row per entry (jsonb, parsed with orjson), unique (session, uuid) index; an
    append is one INSERT per entry, or one multi-row INSERT per batch."""

    def __init__(self, dsn: str, schema: str, *, multi: bool) -> None:
        self.dsn, self.schema, self.multi = dsn, schema, multi
        self.pool: Any = None

    async def open(self) -> None:
        from psycopg.types.json import set_json_loads
        from psycopg_pool import AsyncConnectionPool

        async def configure(conn: Any) -> None:
            set_json_loads(orjson.loads, conn)

        self.pool = AsyncConnectionPool(self.dsn, min_size=1, max_size=16, open=False,
                                        kwargs={"autocommit": True}, configure=configure)
        await self.pool.open()
        async with self.pool.connection() as c:
            await c.execute(f"CREATE SCHEMA {self.schema}")
            await c.execute(f"CREATE TABLE {self.schema}.entries (id bigserial PRIMARY KEY, "
                            "session_id text NOT NULL, uuid text, data jsonb NOT NULL)")
            await c.execute(f"CREATE INDEX ON {self.schema}.entries (session_id, id)")
            await c.execute(f"CREATE UNIQUE INDEX ON {self.schema}.entries (session_id, uuid)")

    async def append(self, key: Any, entries: list[Any]) -> None:
        from psycopg.types.json import Jsonb

        sql = f"INSERT INTO {self.schema}.entries (session_id, uuid, data) VALUES "
        rows = [(key["session_id"], e.get("uuid"), Jsonb(e)) for e in entries]
        async with self.pool.connection() as c:
            if self.multi:
                values = ", ".join(["(%s, %s, %s)"] * len(rows))
                await c.execute(sql + values + " ON CONFLICT DO NOTHING", [x for r in rows for x in r])
            else:
                for row in rows:
                    await c.execute(sql + "(%s, %s, %s) ON CONFLICT DO NOTHING", row)

    async def load(self, key: Any) -> list[Any] | None:
        async with self.pool.connection() as c:
            cur = await c.execute(f"SELECT data FROM {self.schema}.entries WHERE session_id = %s "
                                  "ORDER BY id", (key["session_id"],))
            return [r[0] for r in await cur.fetchall()] or None

    async def load_tail(self, key: Any, n: int) -> list[Any] | None:
        async with self.pool.connection() as c:
            cur = await c.execute(f"SELECT data FROM {self.schema}.entries WHERE session_id = %s "
                                  "ORDER BY id DESC LIMIT %s", (key["session_id"], n))
            return [r[0] for r in reversed(await cur.fetchall())] or None

    async def aclose(self) -> None:
        async with self.pool.connection() as c:
            await c.execute(f"DROP SCHEMA {self.schema} CASCADE")
        await self.pool.close()


class AgentsSessions:
    """The OpenAI Agents SDK's ``Session`` objects (one per session id) behind the bench's
    append/load interface: ``add_items`` / ``get_items``."""

    def __init__(self, make: Callable[[str], Any], close: Callable[[], Awaitable[None]]) -> None:
        self._make, self._close = make, close
        self._sessions: dict[str, Any] = {}

    def _session(self, key: Any) -> Any:
        sid = key["session_id"]
        if sid not in self._sessions:
            self._sessions[sid] = self._make(sid)
        return self._sessions[sid]

    async def append(self, key: Any, entries: list[Any]) -> None:
        await self._session(key).add_items(entries)

    async def load(self, key: Any) -> list[Any] | None:
        return await self._session(key).get_items() or None

    async def load_tail(self, key: Any, n: int) -> list[Any] | None:
        return await self._session(key).get_items(limit=n) or None

    async def aclose(self) -> None:
        for s in self._sessions.values():
            close = getattr(s, "close", None)
            if close is not None:
                await close() if _is_async(close) else close()
        await self._close()


def _is_async(fn: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(fn)


# ----------------------------------------------------------------------------- round trips


class CountingProxy:
    """A TCP proxy that counts request turns: client bursts that follow a server reply."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.turns = 0

    async def serve(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        task_status.started(listener.extra(SocketAttribute.local_port))
        async with listener:
            await listener.serve(self._handle)

    async def _handle(self, client: SocketStream) -> None:
        state = {"up": False}
        try:
            async with client, await anyio.connect_tcp(*self.target) as server, \
                    anyio.create_task_group() as tg:

                async def up() -> None:
                    async for data in client:
                        if not state["up"]:
                            self.turns += 1
                            state["up"] = True
                        await server.send(data)
                    tg.cancel_scope.cancel()

                async def down() -> None:
                    async for data in server:
                        state["up"] = False
                        await client.send(data)
                    tg.cancel_scope.cancel()

                tg.start_soon(up)
                tg.start_soon(down)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass


# ----------------------------------------------------------------------------- stores


@dataclass
class Contender:
    kind: str
    label: str
    make: Callable[[str, str], Awaitable[Any]]
    """(url or path, namespace) -> an open store."""
    url: str


async def _threadline_pg(url: str, ns: str) -> Any:
    store = PostgresStore(url, namespace=ns, max_size=16)
    await store.__aenter__()
    return store


async def _threadline_redis(url: str, ns: str) -> Any:
    store = RedisStore(url, namespace=ns)
    await store.__aenter__()
    return store


async def _threadline_sqlite(path: str, ns: str) -> Any:
    store = SQLiteStore(Path(path) / f"{ns}.db")
    await store.__aenter__()
    return store


async def _naive_pg(url: str, ns: str, *, multi: bool) -> Any:
    store = NaivePostgres(url, ns + ("_multi" if multi else "_single"), multi=multi)
    await store.open()
    return store


async def _agents_sqlalchemy(url: str, ns: str) -> Any:
    from agents.extensions.memory.sqlalchemy_session import SQLAlchemySession
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    parts = urlsplit(url)
    engine = create_async_engine(f"postgresql+asyncpg://{parts.netloc}{parts.path}",
                                 pool_size=16, max_overflow=0)
    tables = {"sessions_table": f"{ns}_sessions", "messages_table": f"{ns}_messages"}

    async def close() -> None:
        async with engine.begin() as conn:
            for t in tables.values():
                await conn.execute(text(f"DROP TABLE IF EXISTS {t} CASCADE"))
        await engine.dispose()

    return AgentsSessions(lambda sid: SQLAlchemySession(sid, engine=engine, create_tables=True, **tables),
                          close)


async def _agents_redis(url: str, ns: str) -> Any:
    import redis.asyncio
    from agents.extensions.memory.redis_session import RedisSession

    client = redis.asyncio.Redis.from_url(url)

    async def close() -> None:
        keys = [k async for k in client.scan_iter(match=f"{ns}:*", count=1000)]
        for i in range(0, len(keys), 1000):
            await client.delete(*keys[i : i + 1000])
        await client.aclose()

    return AgentsSessions(lambda sid: RedisSession(sid, redis_client=client, key_prefix=ns), close)


async def _agents_sqlite(path: str, ns: str) -> Any:
    from agents.memory.sqlite_session import SQLiteSession

    db = Path(path) / f"{ns}-agents.db"

    async def close() -> None:
        pass

    return AgentsSessions(lambda sid: SQLiteSession(sid, db_path=db), close)


def _contenders(tmp: str) -> list[Contender]:
    return [
        Contender("postgres", "threadline PostgresStore", _threadline_pg, PG_DSN),
        Contender("postgres", "naive psycopg, one INSERT per entry",
                  lambda u, n: _naive_pg(u, n, multi=False), PG_DSN),
        Contender("postgres", "naive psycopg, one multi-row INSERT",
                  lambda u, n: _naive_pg(u, n, multi=True), PG_DSN),
        Contender("postgres", "OpenAI SQLAlchemySession (PG)", _agents_sqlalchemy, PG_DSN),
        Contender("redis", "threadline RedisStore", _threadline_redis, REDIS_URL),
        Contender("redis", "OpenAI RedisSession", _agents_redis, REDIS_URL),
        Contender("sqlite", "threadline SQLiteStore", _threadline_sqlite, tmp),
        Contender("sqlite", "OpenAI SQLiteSession", _agents_sqlite, tmp),
    ]


async def _drop(label: str, store: Any) -> None:
    ns = getattr(store, "namespace", None)
    await store.aclose()
    if not ns:
        return
    if isinstance(store, PostgresStore):
        import psycopg

        async with await psycopg.AsyncConnection.connect(PG_DSN, autocommit=True) as c:
            await c.execute(f"DROP SCHEMA {ns} CASCADE")
    elif isinstance(store, RedisStore):
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(REDIS_URL)
        keys = [k async for k in client.scan_iter(match=f"{ns}:*", count=1000)]
        for i in range(0, len(keys), 1000):
            await client.delete(*keys[i : i + 1000])
        await client.aclose()


# ----------------------------------------------------------------------------- workloads


async def _time(fn: Callable[[], Awaitable[Any]]) -> float:
    t = time.perf_counter()
    await fn()
    return time.perf_counter() - t


async def _one_at_a_time(store: Any, n: int) -> float:
    sid = str(uuid.uuid4())
    batch = _entries(sid, n)

    async def run() -> None:
        for e in batch:
            await store.append(_key(sid), [e])

    return n / await _time(run)


async def _batches(store: Any, n: int, size: int = 10) -> float:
    sid = str(uuid.uuid4())
    entries = _entries(sid, n)

    async def run() -> None:
        for i in range(0, n, size):
            await store.append(_key(sid), entries[i : i + size])

    return n / await _time(run)


async def _in_blocks(
    stores: dict[str, Any], n: int, size: int, block: int = 100
) -> dict[str, float]:
    """The sequential append workloads (``size`` 1: one at a time; 10: batches of 10) with
    the stores taking turns every ``block`` entries, the order rotating each block: each
    store appends ``n`` entries to one session of its own, and its entries/s is ``n`` over
    the sum of its blocks' times. A drift of the machine's load (or a checkpoint) during
    the run then falls on every store alike, where one store's whole run after another's
    would catch it alone (the ``--interleave`` form of :func:`_one_at_a_time` and
    :func:`_batches`)."""
    labels = list(stores)
    sids = {label: str(uuid.uuid4()) for label in labels}
    work = {label: _entries(sids[label], n) for label in labels}
    spent = dict.fromkeys(labels, 0.0)
    for b, start in enumerate(range(0, n, block)):
        for label in labels[b % len(labels) :] + labels[: b % len(labels)]:
            store, key, entries = stores[label], _key(sids[label]), work[label]
            t = time.perf_counter()
            for i in range(start, min(start + block, n), size):
                await store.append(key, entries[i : i + size])
            spent[label] += time.perf_counter() - t
    return {label: n / spent[label] for label in labels}


async def _sixteen(store: Any, n: int) -> float:
    per = max(1, n // 16)
    work = [(s, _entries(s, per)) for s in (str(uuid.uuid4()) for _ in range(16))]

    async def writer(s: str, es: list[Any]) -> None:
        for e in es:
            await store.append(_key(s), [e])

    async def run() -> None:
        async with anyio.create_task_group() as tg:
            for s, es in work:
                tg.start_soon(writer, s, es)

    return 16 * per / await _time(run)


async def _loads(store: Any, n: int) -> tuple[float, float]:
    sid = str(uuid.uuid4())
    entries = _entries(sid, n)
    for i in range(0, n, 100):
        await store.append(_key(sid), entries[i : i + 100])
    loaded = await store.load(_key(sid))
    assert loaded is not None and len(loaded) == n, (len(loaded or []), n)
    full = statistics.median([await _time(lambda: store.load(_key(sid))) for _ in range(3)])
    tail: list[Any] = []

    async def last() -> None:
        tail[:] = await store.load_tail(_key(sid), 20) or []

    part = statistics.median([await _time(last) for _ in range(3)])
    assert [e["uuid"] for e in tail] == [e["uuid"] for e in entries[-20:]]
    return full, part


def _compaction(sid: str, preserved: dict[str, Any]) -> list[dict[str, Any]]:
    boundary = {
        "type": "system", "subtype": "compact_boundary", "parentUuid": None, "uuid": str(uuid.uuid4()),
        "sessionId": sid, "logicalParentUuid": preserved["uuid"], "content": "Conversation compacted",
        "compactMetadata": {"trigger": "auto", "preservedSegment": {
            "headUuid": preserved["uuid"], "anchorUuid": "", "tailUuid": preserved["uuid"]}},
    }
    summary = _entry(sid, 0, boundary["uuid"], 8)
    summary.update(type="user", isCompactSummary=True)
    boundary["compactMetadata"]["preservedSegment"]["anchorUuid"] = summary["uuid"]
    return [boundary, summary]


async def _resume_share(store: Any, n: int) -> float | None:
    """Bytes fetched by ``load_since_compaction`` of an n-entry session compacted at 98 %,
    over the bytes a full load fetches."""
    if not hasattr(store, "load_since_compaction"):
        return None
    sid = str(uuid.uuid4())
    cut = n * 98 // 100
    before = _entries(sid, cut, words=8)  # smaller entries: the share is what is measured
    for i in range(0, cut, 500):
        await store.append(_key(sid), before[i : i + 500])
    marker = _compaction(sid, before[-1])
    after = _entries(sid, n - cut - 2, marker[-1]["uuid"], words=8)
    await store.append(_key(sid), marker)
    for i in range(0, len(after), 100):
        await store.append(_key(sid), after[i : i + 100])
    store.bytes_read = 0
    full = await store.load(_key(sid))
    total, store.bytes_read = store.bytes_read, 0
    part = await store.load_since_compaction(_key(sid))
    assert full is not None and part is not None and part == full[cut - 1 :]
    return float(store.bytes_read / total)


async def _listing(store: Any, n: int) -> tuple[float | None, float | None]:
    """list_sessions / list_session_summaries of a project of ``n`` sessions (threadline)."""
    if not hasattr(store, "list_session_summaries"):
        return None, None
    project = f"-srv-bench-list-{uuid.uuid4().hex[:6]}"
    limiter = anyio.CapacityLimiter(16)

    async def create(sid: str) -> None:
        async with limiter:
            await store.append({"project_key": project, "session_id": sid}, _entries(sid, 2, words=8))

    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(create, str(uuid.uuid4()))
    assert len(await store.list_sessions(project)) == n
    listed = statistics.median([await _time(lambda: store.list_sessions(project)) for _ in range(3)])
    summed = statistics.median(
        [await _time(lambda: store.list_session_summaries(project)) for _ in range(3)]
    )
    return listed, summed


async def _round_trips(c: Contender, ns: str) -> float | None:
    if c.kind == "sqlite":
        return None
    parts = urlsplit(c.url)
    proxy = CountingProxy(parts.hostname or "127.0.0.1", parts.port or 0)
    async with anyio.create_task_group() as tg:
        port = await tg.start(proxy.serve)
        url = c.url.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{port}")
        store = await c.make(url, ns + "_rt")
        try:
            sid = str(uuid.uuid4())
            entries = _entries(sid, 25)
            for e in entries[:5]:  # connect, create, prepare
                await store.append(_key(sid), [e])
            proxy.turns = 0
            for e in entries[5:]:
                await store.append(_key(sid), [e])
            turns = proxy.turns / 20
        finally:
            await _drop(c.label, store)
        tg.cancel_scope.cancel()
    return turns


async def _step(store: Any, name: str, sizes: dict[str, int]) -> dict[str, float | None]:
    """One workload on an open store."""
    if name == "one":
        return {"one": await _one_at_a_time(store, sizes["appends"])}
    if name == "batch10":
        return {"batch10": await _batches(store, sizes["appends"])}
    if name == "sixteen":
        return {"sixteen": await _sixteen(store, sizes["appends"])}
    if name == "loads":
        load, tail = await _loads(store, sizes["long"])
        return {"load": load, "tail": tail}
    if name == "resume":
        return {"resume_share": await _resume_share(store, sizes["resume"])}
    listed, summed = await _listing(store, sizes["sessions"])
    return {"list": listed, "summaries": summed}


WORKLOADS = ("one", "batch10", "sixteen", "loads", "resume", "listing")
# With --interleave these run in turns of 100 entries across the stores (_in_blocks): entries
# per append.
_BLOCKED = {"one": 1, "batch10": 10}


async def bench_one(c: Contender, sizes: dict[str, int]) -> dict[str, float | None]:
    ns = f"bench_{uuid.uuid4().hex[:8]}"
    store = await c.make(c.url, ns)
    try:
        out: dict[str, float | None] = {}
        for name in WORKLOADS:
            out.update(await _step(store, name, sizes))
    finally:
        await _drop(c.label, store)
    out["round_trips"] = await _round_trips(c, ns)
    return out


async def bench_interleaved(
    contenders: list[Contender], sizes: dict[str, int], run: int
) -> dict[str, dict[str, float | None]]:
    """Every contender's store open at once; each workload runs on every store in turn
    before the next workload starts, in an order rotated by ``run``, so a change in the
    machine's load falls on all contenders alike (each store still gets its own namespace
    and the same workloads as in :func:`bench_one`)."""
    order = contenders[run % len(contenders) :] + contenders[: run % len(contenders)]
    names = {c.label: f"bench_{uuid.uuid4().hex[:8]}" for c in order}
    stores: dict[str, Any] = {}
    out: dict[str, dict[str, float | None]] = {c.label: {} for c in contenders}
    try:
        for c in order:
            stores[c.label] = await c.make(c.url, names[c.label])
        for name in WORKLOADS:
            if name in _BLOCKED:
                ordered = {c.label: stores[c.label] for c in order}
                rates = await _in_blocks(ordered, sizes["appends"], _BLOCKED[name])
                for label, rate in rates.items():
                    out[label][name] = rate
                continue
            for c in order:
                out[c.label].update(await _step(stores[c.label], name, sizes))
    finally:
        for label, store in stores.items():
            await _drop(label, store)
    for c in order:
        out[c.label]["round_trips"] = await _round_trips(c, names[c.label])
    return out


# ----------------------------------------------------------------------------- report


def _median(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


def _cell(v: float | None, fmt: str) -> str:
    return "–" if v is None else format(v, fmt)


def _table(results: dict[str, dict[str, float | None]], sizes: dict[str, int]) -> str:
    head = (f"| store | appends/s one at a time | batches of 10 (entries/s) | 16 sessions at once "
            f"(entries/s) | load {sizes['long']:,} (ms) | last 20 of {sizes['long']:,} (ms) "
            f"| round trips per append | resume of {sizes['resume']:,} compacted at 98 %: bytes read |")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label, r in results.items():
        share = r.get("resume_share")
        lines.append(
            f"| {label} | {_cell(r['one'], ',.0f')} | {_cell(r['batch10'], ',.0f')} "
            f"| {_cell(r['sixteen'], ',.0f')} | {_cell(None if r['load'] is None else r['load'] * 1e3, ',.1f')} "
            f"| {_cell(None if r['tail'] is None else r['tail'] * 1e3, ',.1f')} "
            f"| {_cell(r['round_trips'], '.1f')} | {'100 % (reads all)' if share is None else f'{share:.1%}'} |"
        )
    return "\n".join(lines)


def _paired(runs: dict[str, list[dict[str, float | None]]], field: str, a: str, b: str) -> list[float]:
    """The ratio ``a``/``b`` of ``field`` in each run (both measured in the same run)."""
    pairs = zip(runs.get(a, []), runs.get(b, []))
    return [float(x[field] or 0) / float(y[field] or 1) for x, y in pairs if x[field] and y[field]]


def _checks(
    results: dict[str, dict[str, float | None]],
    runs: dict[str, list[dict[str, float | None]]] | None = None,
) -> list[str]:
    out: list[str] = []
    runs = runs or {}
    pg_label, naive_label = "threadline PostgresStore", "naive psycopg, one multi-row INSERT"
    pg, naive = results.get(pg_label), results.get(naive_label)
    sqla = results.get("OpenAI SQLAlchemySession (PG)")

    def check(what: str, ok: bool, detail: str) -> None:
        out.append(f"- [{'x' if ok else ' '}] {what}: {detail}")

    if pg and naive:
        for field, floor, name in (("one", 1.0, "one at a time"), ("sixteen", 1.0, "16 sessions"),
                                   ("batch10", 0.9, "batches of 10")):
            # With runs: the median of each run's ratio (the two measured side by side under
            # the same load), which a slow run of one store alone cannot move as it moves
            # the ratio of the two medians.
            paired = _paired(runs, field, pg_label, naive_label)
            ratio = statistics.median(paired) if paired else (
                float(pg[field] or 0) / float(naive[field] or 1))
            spread = f" (runs: {', '.join(f'{r:.2f}' for r in paired)})" if len(paired) > 1 else ""
            check(f"PostgresStore ≥ {floor:g}× naive multi-row, {name}", ratio >= floor,
                  f"{ratio:.2f}×{spread}")
        ratio = float(naive["load"] or 0) / float(pg["load"] or 1)
        check("PostgresStore load ≥ naive multi-row (speed ratio)", ratio >= 1.0, f"{ratio:.2f}×")
    if pg and sqla:
        ratio = float(pg["one"] or 0) / float(sqla["one"] or 1)
        check("PostgresStore ≥ 4× SQLAlchemySession, one at a time", ratio >= 4.0, f"{ratio:.2f}×")
    for label in ("threadline PostgresStore", "threadline RedisStore", "threadline SQLiteStore"):
        r = results.get(label)
        if r and r.get("resume_share") is not None:
            share = float(r["resume_share"] or 0)
            check(f"{label}: resume reads ≤ 5 %", share <= 0.05, f"{share:.2%}")
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    sizes = {"appends": args.appends or (400 if args.quick else 2000),
             "long": 2000 if args.quick else 10_000,
             "resume": 20_000 if args.quick else 100_000,
             "sessions": args.sessions or (1000 if args.quick else 10_000)}
    only = set(args.only.split(",")) if args.only else set()
    runs: dict[str, list[dict[str, float | None]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        contenders = [c for c in _contenders(tmp) if not only or c.kind in only]
        for run in range(args.runs):
            if args.interleave:
                for label, r in (await bench_interleaved(contenders, sizes, run)).items():
                    runs.setdefault(label, []).append(r)
                print(f"  run {run + 1}/{args.runs} (interleaved) done", file=sys.stderr)
                continue
            for c in contenders:
                runs.setdefault(c.label, []).append(await bench_one(c, sizes))
                print(f"  run {run + 1}/{args.runs}: {c.label} done", file=sys.stderr)
    results = {label: {k: _median([r[k] for r in rs]) for k in rs[0]} for label, rs in runs.items()}
    print(f"\n{time.strftime('%Y-%m-%d')}, {platform.machine()} {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; medians of {args.runs} runs"
          f"{', workloads interleaved' if args.interleave else ''}\n")
    print(_table(results, sizes))
    print(f"\n| store | list {sizes['sessions']:,} sessions (ms) | summaries of {sizes['sessions']:,} (ms) |")
    print("|---|---:|---:|")
    for label, r in results.items():
        if r.get("list") is not None:
            print(f"| {label} | {float(r['list'] or 0) * 1e3:,.1f} | {float(r['summaries'] or 0) * 1e3:,.1f} |")
    print("\nTargets (issue 17):")
    print("\n".join(_checks(results, runs)))
    return {"sizes": sizes, "results": results, "runs": runs}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="", help="comma list of postgres,redis,sqlite")
    parser.add_argument("--json", default="")
    parser.add_argument("--interleave", action="store_true",
                        help="run each workload on every store in turn (rotating order) before the next")
    parser.add_argument("--appends", type=int, default=0, help="entries per append workload")
    parser.add_argument("--sessions", type=int, default=0, help="sessions in the listing")
    parsed = parser.parse_args()
    report = anyio.run(main, parsed)
    if parsed.json:
        Path(parsed.json).write_text(json.dumps(report, indent=2))
