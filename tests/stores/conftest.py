"""Store backends for the shared suite: memory, file, SQLite, PostgreSQL, Redis, Redis Cluster.

PostgreSQL and Redis tests skip with a reason when the server is unreachable,
except under CI (``CI`` set), where they fail: CI must run them. The Redis Cluster
is started by the suite itself: three ``redis-server`` nodes on free loopback ports
(:func:`redis_cluster_url`). Every store a test makes gets its own namespace (a fresh
schema or key prefix), dropped at teardown.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from threadline import FileStore, MemoryStore
from threadline.sessions.postgres import PostgresStore
from threadline.sessions.redis import RedisStore
from threadline.sessions.sqlite import SQLiteStore

from .example_store import DictStore

PG_DSN = os.environ.get("THREADLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("THREADLINE_TEST_REDIS", "redis://127.0.0.1:6379/0")
# Stores that live in one process: name -> factory(namespace). Registering a new store with
# the whole suite (official conformance, check_session_store, ...) is one line here.
LOCAL_BACKENDS: dict[str, Callable[[str], Any]] = {
    "memory": lambda ns: MemoryStore(),
    "example": lambda ns: DictStore(),  # tests/stores/example_store.py
}
BACKENDS = [*LOCAL_BACKENDS, "file", "sqlite", "postgres", "redis", "redis_cluster"]


def unavailable(what: str, exc: BaseException) -> None:
    """Skip (locally) or fail (under CI) because a server is unreachable."""
    msg = f"{what} is unreachable: {type(exc).__name__}: {exc}"
    if os.environ.get("CI"):
        pytest.fail(f"{msg} (CI is set: these tests must run, not skip)", pytrace=False)
    pytest.skip(msg)


@functools.cache
def _probe(what: str) -> BaseException | None:
    try:
        if what == "postgres":
            import psycopg

            psycopg.connect(PG_DSN, connect_timeout=3).close()
        else:
            import redis

            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:
        return exc
    return None


@pytest.fixture
def pg_dsn() -> str:
    exc = _probe("postgres")
    if exc is not None:
        unavailable(f"PostgreSQL at {PG_DSN}", exc)
    return PG_DSN


@pytest.fixture
def redis_url() -> str:
    exc = _probe("redis")
    if exc is not None:
        unavailable(f"Redis at {REDIS_URL}", exc)
    return REDIS_URL


def _free_port() -> int:
    """A free loopback port whose cluster-bus port (+10000) is free too."""
    for _ in range(200):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port + 10000 > 65535:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return int(port)
    raise RuntimeError("no free port pair for a Redis Cluster node")


def _start_cluster(base: Path, nodes: int = 3) -> tuple[list[int], list[subprocess.Popen[bytes]]]:
    import redis

    exe = shutil.which("redis-server")
    if exe is None:
        raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
    ports = [_free_port() for _ in range(nodes)]
    procs: list[subprocess.Popen[bytes]] = []
    for port in ports:
        d = base / str(port)
        d.mkdir()
        procs.append(subprocess.Popen(
            [exe, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000",
             "--save", "", "--appendonly", "no", "--dir", str(d), "--logfile", str(d / "log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    clients = [redis.Redis(host="127.0.0.1", port=p, socket_connect_timeout=1) for p in ports]
    deadline = time.monotonic() + 20
    for c in clients:
        while True:
            try:
                c.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    per = 16384 // nodes
    for i, c in enumerate(clients):
        c.execute_command("CLUSTER", "ADDSLOTSRANGE", i * per, 16383 if i == nodes - 1 else (i + 1) * per - 1)
    for port in ports[1:]:
        clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", port)
    while not all(c.cluster("INFO")["cluster_state"] == "ok" for c in clients):  # type: ignore[no-untyped-call]
        if time.monotonic() > deadline:
            raise TimeoutError("the local Redis Cluster did not come up")
        time.sleep(0.05)
    for c in clients:
        c.close()
    return ports, procs


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis Cluster of three ``redis-server`` nodes on loopback, for this test session."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        ports, procs = _start_cluster(tmp_path_factory.mktemp("redis-cluster"))
    except Exception as exc:
        for p in procs:
            p.kill()
        unavailable("a local Redis Cluster", exc)
    yield f"redis://127.0.0.1:{ports[0]}/0"
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def new_namespace() -> str:
    return f"tl_test_{uuid.uuid4().hex[:12]}"


@dataclass
class Backend:
    """How to make stores of one kind, and what to clean up afterwards."""

    name: str
    factory: Callable[[str], Any]
    shared: bool = True
    url: str = ""
    namespaces: list[str] = field(default_factory=list)
    stores: list[Any] = field(default_factory=list)

    def make(self) -> Any:
        """A fresh, empty store (its own namespace / file / directory)."""
        ns = new_namespace()
        self.namespaces.append(ns)
        store = self.factory(ns)
        self.stores.append(store)
        return store

    def recipe(self) -> Callable[[], Any] | None:
        """A picklable recipe for stores over one shared namespace (None: not shareable)."""
        if not self.shared:
            return None
        ns = new_namespace()
        self.namespaces.append(ns)
        return functools.partial(self.factory, ns)


async def drop_postgres(namespaces: list[str]) -> None:
    import psycopg
    from psycopg import sql

    async with await psycopg.AsyncConnection.connect(PG_DSN, autocommit=True) as conn:
        for ns in namespaces:
            await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(ns)))


@pytest.fixture
async def pg_stores(pg_dsn: str) -> AsyncIterator[Callable[..., PostgresStore]]:
    """Make ``PostgresStore`` objects: ``pg_stores(ns=None, *, dsn=None, **options)``.

    Without ``ns`` each store gets a fresh namespace; pass the same ``ns`` to put two stores
    (two hosts) on one. ``dsn`` defaults to the suite's server (pass one with
    ``application_name`` set to find its backends). Stores are closed and the namespaces
    made here dropped at teardown."""
    made: list[PostgresStore] = []
    spaces: list[str] = []

    def make(ns: str | None = None, *, dsn: str | None = None, **options: Any) -> PostgresStore:
        if ns is None:
            ns = new_namespace()
            spaces.append(ns)
        store = PostgresStore(dsn or pg_dsn, namespace=ns, **options)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.aclose()
    await drop_postgres(spaces)


async def drop_redis(namespaces: list[str], url: str = REDIS_URL, *, cluster: bool = False) -> None:
    import redis.asyncio

    if cluster:
        cc = redis.asyncio.RedisCluster.from_url(url)
        try:
            for ns in namespaces:
                async for k in cc.scan_iter(match=f"{ns}:*", count=1000):
                    await cc.delete(k)
        finally:
            await cc.aclose()
        return
    client = redis.asyncio.Redis.from_url(url)
    try:
        for ns in namespaces:
            keys = [k async for k in client.scan_iter(match=f"{ns}:*", count=1000)]
            for i in range(0, len(keys), 1000):
                await client.delete(*keys[i : i + 1000])
    finally:
        await client.aclose()


def _factory(name: str, tmp: Path, request: pytest.FixtureRequest) -> Callable[[str], Any]:
    if name == "file":
        return functools.partial(_file_store, str(tmp))
    if name == "sqlite":
        return functools.partial(_sqlite_store, str(tmp))
    if name == "postgres":
        return functools.partial(_pg_store, request.getfixturevalue("pg_dsn"))
    if name == "redis":
        return functools.partial(_redis_store, request.getfixturevalue("redis_url"))
    if name == "redis_cluster":
        return functools.partial(_redis_cluster_store, request.getfixturevalue("redis_cluster_url"))
    raise AssertionError(name)


# Module-level so that functools.partial of them pickles into worker processes.
def _file_store(root: str, ns: str) -> FileStore:
    Path(root).mkdir(parents=True, exist_ok=True)
    return FileStore(Path(root) / ns)


def _sqlite_store(root: str, ns: str) -> SQLiteStore:
    return SQLiteStore(Path(root) / f"{ns}.db")


def _pg_store(dsn: str, ns: str) -> PostgresStore:
    return PostgresStore(dsn, namespace=ns, max_size=4)


def _redis_store(url: str, ns: str) -> RedisStore:
    return RedisStore(url, namespace=ns)


def _redis_cluster_store(url: str, ns: str) -> RedisStore:
    return RedisStore(url, namespace=ns, cluster=True)


@pytest.fixture(
    params=[
        pytest.param(b, marks=[pytest.mark.redis] if b == "redis_cluster" else
                     [getattr(pytest.mark, b)] if b in ("postgres", "redis") else [])
        for b in BACKENDS
    ]
)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    name: str = request.param
    if name in LOCAL_BACKENDS:
        b = Backend(name, LOCAL_BACKENDS[name], shared=False)
    else:
        factory = _factory(name, tmp_path / "stores", request)
        b = Backend(name, factory, url=str(factory.args[0]))  # type: ignore[attr-defined]
    try:
        yield b
    finally:
        for store in b.stores:
            await store.aclose()
        if name == "postgres":
            await drop_postgres(b.namespaces)
        elif name == "redis":
            await drop_redis(b.namespaces)
        elif name == "redis_cluster":
            await drop_redis(b.namespaces, b.url, cluster=True)



def chain(n: int, parent: str | None = None) -> list[Any]:
    """``n`` user entries, each the parent of the next (a transcript's chain)."""
    out = []
    for i in range(n):
        e = {"type": "user", "uuid": str(uuid.uuid4()), "parentUuid": parent,
             "message": {"role": "user", "content": f"m{i}"}}
        parent = e["uuid"]
        out.append(e)
    return out
