"""Store benchmark: threadline's stores vs a naive one-row-per-entry design on the same database.

Workloads (each through the ``SessionStore`` protocol):

- appends/s into 1 session (sequential single-entry appends, as eager flushing does),
- appends/s with 16 sessions written concurrently,
- load of one 10 000-entry session (written in batches of 100),
- listing 10 000 sessions: ``list_sessions`` and ``list_session_summaries``.

The naive baselines (below) store one row / list element per entry with a
unique uuid index, list sessions with ``GROUP BY`` / ``SCAN``, and build
summaries by reading every transcript, the way a first implementation would.

Usage: python bench/bench_stores.py [--quick] [--only sqlite,postgres,...] [--json OUT]
Needs PostgreSQL on 127.0.0.1:5432 (db ``test``) and Redis on 127.0.0.1:6379 for those rows.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from threadline import FileStore, MemoryStore
from threadline.sessions import fold_session_summary
from threadline.sessions.postgres import PostgresStore
from threadline.sessions.redis import RedisStore
from threadline.sessions.sqlite import SQLiteStore

PG_DSN = os.environ.get("THREADLINE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("THREADLINE_BENCH_REDIS", "redis://127.0.0.1:6379/0")
PROJECT = "-srv-bench-project"

# ----------------------------------------------------------------------------- entries


def _entry(sid: str, i: int, parent: str | None) -> dict[str, Any]:
    """A Claude Code–shaped transcript line (~700 bytes)."""
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
        "message": {"role": kind, "content": [{"type": "text", "text": f"message {i} " + "lorem ipsum " * 30}]},
        "uuid": str(uuid.uuid4()),
        "timestamp": f"2026-03-01T10:{(i // 60) % 60:02d}:{i % 60:02d}.000Z",
    }


def _entries(sid: str, n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    parent = None
    for i in range(n):
        e = _entry(sid, i, parent)
        parent = e["uuid"]
        out.append(e)
    return out


def _key(sid: str) -> Any:
    return {"project_key": PROJECT, "session_id": sid}


# ----------------------------------------------------------------------------- naive baselines


class NaiveSQLite:
    """One row per entry (JSON text), unique (session, uuid) index, GROUP BY listing."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute(
            "CREATE TABLE entries (id INTEGER PRIMARY KEY, project_key TEXT, session_id TEXT, "
            "uuid TEXT, created INTEGER, data TEXT)"
        )
        self.conn.execute("CREATE INDEX e_session ON entries (project_key, session_id, id)")
        self.conn.execute("CREATE UNIQUE INDEX e_uuid ON entries (project_key, session_id, uuid)")
        self.limiter = anyio.CapacityLimiter(1)

    async def _run(self, fn: Callable[[], Any]) -> Any:
        return await anyio.to_thread.run_sync(fn, limiter=self.limiter)

    async def append(self, key: Any, entries: list[Any]) -> None:
        rows = [(key["project_key"], key["session_id"], e.get("uuid"), time.time_ns() // 10**6, json.dumps(e))
                for e in entries]

        def run() -> None:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany("INSERT OR IGNORE INTO entries (project_key, session_id, uuid, created, data) "
                                  "VALUES (?, ?, ?, ?, ?)", rows)
            self.conn.execute("COMMIT")

        await self._run(run)

    async def load(self, key: Any) -> list[Any] | None:
        rows = await self._run(lambda: self.conn.execute(
            "SELECT data FROM entries WHERE project_key = ? AND session_id = ? ORDER BY id",
            (key["project_key"], key["session_id"])).fetchall())
        return [json.loads(r[0]) for r in rows] or None

    async def list_sessions(self, project_key: str) -> list[Any]:
        rows = await self._run(lambda: self.conn.execute(
            "SELECT session_id, max(created) FROM entries WHERE project_key = ? GROUP BY session_id",
            (project_key,)).fetchall())
        return [{"session_id": s, "mtime": m} for s, m in rows]

    async def list_session_summaries(self, project_key: str) -> list[Any]:
        return [fold_session_summary(None, _key(s["session_id"]), await self.load(_key(s["session_id"])) or [])
                for s in await self.list_sessions(project_key)]

    async def aclose(self) -> None:
        self.conn.close()


class NaivePostgres:
    """One row per entry (jsonb), unique (session, uuid) index, GROUP BY listing."""

    def __init__(self, dsn: str, schema: str) -> None:
        self.dsn, self.schema = dsn, schema
        self.pool: Any = None

    async def open(self) -> None:
        from psycopg_pool import AsyncConnectionPool

        self.pool = AsyncConnectionPool(self.dsn, min_size=1, max_size=16, open=False, kwargs={"autocommit": True})
        await self.pool.open()
        async with self.pool.connection() as c:
            await c.execute(f"CREATE SCHEMA {self.schema}")
            await c.execute(f"CREATE TABLE {self.schema}.entries (id bigserial PRIMARY KEY, project_key text, "
                            "session_id text, uuid text, created timestamptz DEFAULT now(), data jsonb)")
            await c.execute(f"CREATE INDEX ON {self.schema}.entries (project_key, session_id, id)")
            await c.execute(f"CREATE UNIQUE INDEX ON {self.schema}.entries (project_key, session_id, uuid)")

    async def append(self, key: Any, entries: list[Any]) -> None:
        from psycopg.types.json import Jsonb

        async with self.pool.connection() as c, c.transaction(), c.cursor() as cur:
            await cur.executemany(
                f"INSERT INTO {self.schema}.entries (project_key, session_id, uuid, data) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(key["project_key"], key["session_id"], e.get("uuid"), Jsonb(e)) for e in entries])

    async def load(self, key: Any) -> list[Any] | None:
        async with self.pool.connection() as c:
            cur = await c.execute(f"SELECT data FROM {self.schema}.entries WHERE project_key = %s "
                                  "AND session_id = %s ORDER BY id", (key["project_key"], key["session_id"]))
            return [r[0] for r in await cur.fetchall()] or None

    async def list_sessions(self, project_key: str) -> list[Any]:
        async with self.pool.connection() as c:
            cur = await c.execute(f"SELECT session_id, max(created) FROM {self.schema}.entries "
                                  "WHERE project_key = %s GROUP BY session_id", (project_key,))
            return [{"session_id": s, "mtime": int(m.timestamp() * 1000)} for s, m in await cur.fetchall()]

    async def list_session_summaries(self, project_key: str) -> list[Any]:
        return [fold_session_summary(None, _key(s["session_id"]), await self.load(_key(s["session_id"])) or [])
                for s in await self.list_sessions(project_key)]

    async def aclose(self) -> None:
        async with self.pool.connection() as c:
            await c.execute(f"DROP SCHEMA {self.schema} CASCADE")
        await self.pool.close()


class NaiveRedis:
    """One list element per entry, uuid set via MULTI, sessions found by SCAN."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis.asyncio

        self.r = redis.asyncio.Redis.from_url(url)
        self.p = prefix

    async def append(self, key: Any, entries: list[Any]) -> None:
        name = f"{self.p}:{key['project_key']}/{key['session_id']}"
        uuids = [e["uuid"] for e in entries if "uuid" in e]
        have = await self.r.smismember(name + ":u", uuids) if uuids else []
        known = {u for u, hit in zip(uuids, have) if hit}
        fresh = [json.dumps(e) for e in entries if e.get("uuid") not in known]
        async with self.r.pipeline(transaction=True) as pipe:
            if fresh:
                pipe.rpush(name + ":e", *fresh)
            if uuids:
                pipe.sadd(name + ":u", *uuids)
            pipe.set(name + ":m", time.time_ns() // 10**6)
            await pipe.execute()

    async def load(self, key: Any) -> list[Any] | None:
        raw = await self.r.lrange(f"{self.p}:{key['project_key']}/{key['session_id']}:e", 0, -1)
        return [json.loads(x) for x in raw] or None

    async def list_sessions(self, project_key: str) -> list[Any]:
        names = [k async for k in self.r.scan_iter(match=f"{self.p}:{project_key}/*:m", count=1000)]
        values = await self.r.mget(names) if names else []
        return [{"session_id": n.decode().rsplit("/", 1)[1][:-2], "mtime": int(v)} for n, v in zip(names, values)]

    async def list_session_summaries(self, project_key: str) -> list[Any]:
        return [fold_session_summary(None, _key(s["session_id"]), await self.load(_key(s["session_id"])) or [])
                for s in await self.list_sessions(project_key)]

    async def aclose(self) -> None:
        keys = [k async for k in self.r.scan_iter(match=f"{self.p}:*", count=1000)]
        for i in range(0, len(keys), 1000):
            await self.r.delete(*keys[i : i + 1000])
        await self.r.aclose()


# ----------------------------------------------------------------------------- workloads


async def _timed(fn: Callable[[], Awaitable[Any]], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


async def bench_store(store: Any, *, appends: int, sessions: int, long: int, repeat: int) -> dict[str, float]:
    out: dict[str, float] = {}
    sid = str(uuid.uuid4())
    batch = _entries(sid, appends)
    t = time.perf_counter()
    for e in batch:
        await store.append(_key(sid), [e])
    out["append_1"] = appends / (time.perf_counter() - t)

    per = max(1, appends // 16)
    work = [(s, _entries(s, per)) for s in (str(uuid.uuid4()) for _ in range(16))]

    async def writer(s: str, es: list[Any]) -> None:
        for e in es:
            await store.append(_key(s), [e])

    t = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for s, es in work:
            tg.start_soon(writer, s, es)
    out["append_16"] = 16 * per / (time.perf_counter() - t)

    sid = str(uuid.uuid4())
    entries = _entries(sid, long)
    for i in range(0, long, 100):
        await store.append(_key(sid), entries[i : i + 100])
    loaded = await store.load(_key(sid))
    assert loaded is not None and len(loaded) == long
    out["load"] = await _timed(lambda: store.load(_key(sid)), repeat)

    limiter = anyio.CapacityLimiter(16)

    async def create(s: str) -> None:
        async with limiter:
            await store.append(_key(s), _entries(s, 2))

    async with anyio.create_task_group() as tg:
        for _ in range(sessions - 18):  # 18 sessions exist already
            tg.start_soon(create, str(uuid.uuid4()))
    listed = await store.list_sessions(PROJECT)
    assert len(listed) == sessions, len(listed)
    out["list"] = await _timed(lambda: store.list_sessions(PROJECT), repeat)
    out["summaries"] = await _timed(lambda: store.list_session_summaries(PROJECT), repeat)
    return out


async def _stores(only: set[str], tmp: Path) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
    ns = f"bench_{uuid.uuid4().hex[:8]}"

    async def naive_pg() -> Any:
        s = NaivePostgres(PG_DSN, ns + "_naive")
        await s.open()
        return s

    async def ready(store: Any) -> Any:
        return store

    table: list[tuple[str, str, Callable[[], Awaitable[Any]]]] = [
        ("memory", "MemoryStore", lambda: ready(MemoryStore())),
        ("file", "FileStore", lambda: ready(FileStore(tmp / "claude"))),
        ("sqlite", "SQLiteStore", lambda: ready(SQLiteStore(tmp / "threadline.db"))),
        ("sqlite", "naive SQLite", lambda: ready(NaiveSQLite(str(tmp / "naive.db")))),
        ("postgres", "PostgresStore", lambda: ready(PostgresStore(PG_DSN, namespace=ns, max_size=16))),
        ("postgres", "naive PostgreSQL", naive_pg),
        ("redis", "RedisStore", lambda: ready(RedisStore(REDIS_URL, namespace=ns))),
        ("redis", "naive Redis", lambda: ready(NaiveRedis(REDIS_URL, ns + "_naive"))),
    ]
    return [(label, make) for kind, label, make in table if not only or kind in only]


async def _cleanup(label: str, store: Any) -> None:
    ns = getattr(store, "namespace", None)
    await store.aclose()
    if label == "PostgresStore" and ns:
        import psycopg

        async with await psycopg.AsyncConnection.connect(PG_DSN, autocommit=True) as c:
            await c.execute(f"DROP SCHEMA {ns} CASCADE")
    elif label == "RedisStore" and ns:
        await NaiveRedis(REDIS_URL, ns).aclose()


def _fmt(results: list[tuple[str, dict[str, float]]], sizes: dict[str, int]) -> str:
    head = (f"| store | appends/s, 1 session | appends/s, 16 sessions | load {sizes['long']:,} entries "
            f"| list {sizes['sessions']:,} sessions | summaries of {sizes['sessions']:,} |")
    lines = [head, "|" + " --- |" * 6]
    for label, r in results:
        lines.append(f"| {label} | {r['append_1']:,.0f} | {r['append_16']:,.0f} | {r['load'] * 1e3:,.1f} ms "
                     f"| {r['list'] * 1e3:,.1f} ms | {r['summaries'] * 1e3:,.1f} ms |")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    sizes = {"appends": 400 if args.quick else 2000, "sessions": 1000 if args.quick else 10_000,
             "long": 2000 if args.quick else 10_000}
    only = set(args.only.split(",")) if args.only else set()
    results: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, make in await _stores(only, Path(tmp)):
            store = await make()
            try:
                r = await bench_store(store, appends=sizes["appends"], sessions=sizes["sessions"],
                                      long=sizes["long"], repeat=args.repeat)
            finally:
                await _cleanup(label, store)
            results.append((label, r))
            print(f"  {label}: done", file=sys.stderr)
    print(_fmt(results, sizes))
    return {"sizes": sizes, "results": dict(results)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="", help="comma list of memory,file,sqlite,postgres,redis")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", default="")
    parsed = parser.parse_args()
    report = anyio.run(main, parsed)
    if parsed.json:
        Path(parsed.json).write_text(json.dumps(report, indent=2))
