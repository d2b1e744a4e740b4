"""Database connections that die under the stores: killed backends, idle connections the
server drops, an acknowledgement lost after COMMIT. The store reconnects (retrying what is
idempotent) or raises ``StorageError``; a retried append never loses nor duplicates."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest
from anyio.abc import SocketStream

from threadline import StorageError
from threadline.sessions.postgres import PostgresStore
from threadline.sessions.redis import RedisStore

from .conftest import chain, drop_redis, new_namespace

pytestmark = pytest.mark.anyio


def _key() -> Any:
    return {"project_key": "-faults", "session_id": str(uuid.uuid4())}


_entries = chain


def _with_params(dsn: str, **params: str) -> str:
    sep = "&" if "?" in dsn else "?"
    return dsn + sep + "&".join(f"{k}={v}" for k, v in params.items())


async def _terminate(pg_dsn: str, app: str) -> int:
    import psycopg

    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as admin:
        cur = await admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s", [app])
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


async def _assert_once(store: Any, key: Any, entries: list[Any]) -> None:
    loaded = await store.load(key) or []
    uuids = [e["uuid"] for e in loaded]
    assert uuids == [e["uuid"] for e in entries], "entries lost, duplicated or reordered"


@pytest.mark.postgres
async def test_postgres_survives_terminated_backends(pg_dsn: str, pg_stores: Any) -> None:
    app = f"tl_fault_{uuid.uuid4().hex[:8]}"
    store = pg_stores(dsn=_with_params(pg_dsn, application_name=app), max_size=3)
    key, entries = _key(), _entries(6)
    await store.append(key, entries[:2])
    assert await _terminate(pg_dsn, app) >= 1
    await anyio.sleep(0.05)  # the server has closed the sockets
    await store.append(key, entries[2:4])  # the pooled connection is dead: not handed out
    assert await _terminate(pg_dsn, app) >= 1
    await anyio.sleep(0.05)
    await store.append_conditional(key, entries[4:], expected_head=entries[3]["uuid"])
    await _assert_once(store, key, entries)


@pytest.mark.postgres
async def test_postgres_survives_idle_connections_dropped_by_the_server(
    pg_dsn: str, pg_stores: Any
) -> None:
    # The server closes any connection idle for 200 ms (as an idle timeout or a restart does).
    dsn = _with_params(pg_dsn, options="-c%20idle_session_timeout%3D200")
    store = pg_stores(dsn=dsn, max_size=2)
    key, entries = _key(), _entries(4)
    await store.append(key, entries[:2])
    await anyio.sleep(0.6)
    await store.append(key, entries[2:])
    await anyio.sleep(0.6)
    await _assert_once(store, key, entries)


class CutAfterCommit:
    """A TCP proxy to a database that, when armed, forwards the next request and then
    drops its reply and closes the connection: the server committed, the client never
    hears of it (a lost acknowledgement)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.armed = False
        self.cuts = 0

    async def serve(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        task_status.started(listener.extra(anyio.abc.SocketAttribute.local_port))
        async with listener:
            await listener.serve(self._handle)

    async def _handle(self, client: SocketStream) -> None:
        cut = {"pending": False}
        async with client, await anyio.connect_tcp(*self.target) as server, \
                anyio.create_task_group() as tg:

            async def up() -> None:
                async for data in client:
                    if self.armed:
                        self.armed, cut["pending"] = False, True
                    await server.send(data)

            async def down() -> None:
                async for data in server:
                    if cut["pending"]:
                        self.cuts += 1
                        tg.cancel_scope.cancel()
                        return
                    await client.send(data)

            tg.start_soon(up)
            tg.start_soon(down)


@pytest.fixture
async def proxy(pg_dsn: str) -> AsyncIterator[tuple[CutAfterCommit, str]]:
    parts = urlsplit(pg_dsn)
    cutter = CutAfterCommit(parts.hostname or "127.0.0.1", parts.port or 5432)
    async with anyio.create_task_group() as tg:
        port = await tg.start(cutter.serve)
        dsn = pg_dsn.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{port}")
        yield cutter, dsn
        tg.cancel_scope.cancel()


@pytest.mark.postgres
async def test_postgres_append_whose_ack_is_lost_is_retried_once(
    proxy: tuple[CutAfterCommit, str], pg_stores: Any
) -> None:
    cutter, dsn = proxy
    store = pg_stores(dsn=dsn, max_size=2)
    key, entries = _key(), _entries(6)
    await store.append(key, entries[:2])
    cutter.armed = True
    await store.append(key, entries[2:4])  # committed, reply lost: retried, not duplicated
    assert cutter.cuts == 1
    cutter.armed = True
    # A conditional append whose ack is lost finds its own batch on the retry: no conflict.
    await store.append_conditional(key, entries[4:], expected_head=entries[3]["uuid"])
    assert cutter.cuts == 2
    await _assert_once(store, key, entries)
    assert await store.get_head(key) == entries[-1]["uuid"]


@pytest.mark.postgres
async def test_postgres_lost_ack_of_a_batch_without_uuids_raises(
    proxy: tuple[CutAfterCommit, str], pg_stores: Any
) -> None:
    cutter, dsn = proxy
    store = pg_stores(dsn=dsn, max_size=2)
    key = _key()
    await store.append(key, _entries(1))
    cutter.armed = True
    with pytest.raises(StorageError) as info:
        await store.append(key, [{"type": "tag", "tag": "x"}])  # not idempotent: no retry
    assert info.value.__cause__ is not None
    loaded = await store.load(key) or []
    assert [e["type"] for e in loaded] == ["user", "tag"]  # it landed once


@pytest.mark.postgres
async def test_postgres_appends_while_backends_are_killed(pg_dsn: str, pg_stores: Any) -> None:
    app = f"tl_fault_{uuid.uuid4().hex[:8]}"
    store = pg_stores(dsn=_with_params(pg_dsn, application_name=app), max_size=4)
    keys = [_key() for _ in range(4)]
    batches = {k["session_id"]: [_entries(1) for _ in range(25)] for k in keys}
    done = anyio.Event()
    await store.append(keys[0], batches[keys[0]["session_id"]][0])  # connected and migrated

    async def writer(key: Any) -> None:
        for batch in batches[key["session_id"]]:
            for attempt in range(5):
                try:
                    await store.append(key, batch)
                    break
                except StorageError:
                    assert attempt < 4, "the store kept failing"

    async def killer() -> None:
        while not done.is_set():
            await _terminate(pg_dsn, app)
            await anyio.sleep(0.02)

    async with anyio.create_task_group() as tg:
        tg.start_soon(killer)
        async with anyio.create_task_group() as writers:
            for key in keys:
                writers.start_soon(writer, key)
        done.set()
    for key in keys:
        await _assert_once(store, key, [b[0] for b in batches[key["session_id"]]])


async def test_postgres_wrong_port_fails_at_once_naming_the_cause() -> None:
    store = PostgresStore("postgresql://postgres@127.0.0.1:1/test", connect_timeout=10)
    started = time.monotonic()
    with pytest.raises(StorageError, match=r"(?i)connection refused") as info:
        await store.load(_key())
    assert time.monotonic() - started < 3
    assert "pool initialization incomplete" not in str(info.value)
    await store.aclose()


@pytest.mark.postgres
async def test_postgres_unknown_database_fails_at_once_naming_it(pg_dsn: str) -> None:
    parts = urlsplit(pg_dsn)
    dsn = pg_dsn.replace(parts.path, "/tl_no_such_database")
    store = PostgresStore(dsn, connect_timeout=10)
    started = time.monotonic()
    with pytest.raises(StorageError, match='database "tl_no_such_database" does not exist'):
        await store.load(_key())
    assert time.monotonic() - started < 3
    await store.aclose()


# -- Redis -----------------------------------------------------------------------------


@pytest.fixture
async def redis_store(redis_url: str) -> AsyncIterator[tuple[RedisStore, str]]:
    ns = new_namespace()
    name = f"tl_fault_{uuid.uuid4().hex[:8]}"
    sep = "&" if "?" in redis_url else "?"
    store = RedisStore(f"{redis_url}{sep}client_name={name}", namespace=ns)
    yield store, name
    await store.aclose()
    await drop_redis([ns])


async def _client_kill(redis_url: str, name: str) -> int:
    import redis.asyncio

    admin = redis.asyncio.Redis.from_url(redis_url)
    try:
        clients = await admin.client_list()
        ids = [c["id"] for c in clients if c.get("name") == name]
        for cid in ids:
            await admin.client_kill_filter(_id=cid)
        return len(ids)
    finally:
        await admin.aclose()


@pytest.mark.redis
async def test_redis_survives_client_kill(redis_url: str, redis_store: tuple[RedisStore, str]) -> None:
    store, name = redis_store
    key, entries = _key(), _entries(6)
    await store.append(key, entries[:2])
    assert await _client_kill(redis_url, name) >= 1
    await store.append(key, entries[2:4])
    assert await _client_kill(redis_url, name) >= 1
    await store.append_conditional(key, entries[4:], expected_head=entries[3]["uuid"])
    await _assert_once(store, key, entries)


@pytest.mark.redis
async def test_redis_appends_while_clients_are_killed(
    redis_url: str, redis_store: tuple[RedisStore, str]
) -> None:
    store, name = redis_store
    keys = [_key() for _ in range(4)]
    batches = {k["session_id"]: [_entries(1) for _ in range(25)] for k in keys}
    done = anyio.Event()

    async def writer(key: Any) -> None:
        for batch in batches[key["session_id"]]:
            for attempt in range(5):
                try:
                    await store.append(key, batch)
                    break
                except StorageError:
                    assert attempt < 4, "the store kept failing"

    async def killer() -> None:
        while not done.is_set():
            await _client_kill(redis_url, name)
            await anyio.sleep(0.02)

    async with anyio.create_task_group() as tg:
        tg.start_soon(killer)
        async with anyio.create_task_group() as writers:
            for key in keys:
                writers.start_soon(writer, key)
        done.set()
    for key in keys:
        await _assert_once(store, key, [b[0] for b in batches[key["session_id"]]])


@pytest.mark.postgres
async def test_postgres_append_racing_the_same_uuid_writes_it_once(
    pg_dsn: str, pg_stores: Any
) -> None:
    """An append that waits for the key's row while another append of the same uuid commits
    passed its uuid check before that commit: the uuids key refuses its write, it is run
    again and finds the entry stored (the retry a lost acknowledgement makes can race its
    original this way). Neither lost nor duplicated, and no error."""
    import psycopg

    app = f"tl_race_{uuid.uuid4().hex[:8]}"
    store = pg_stores(dsn=_with_params(pg_dsn, application_name=app), max_size=2)
    key, entries = _key(), _entries(3)
    await store.append(key, entries[:2])
    params = {"project": key["project_key"], "session": key["session_id"]}
    schema = psycopg.sql.Identifier(store.namespace)
    async with await psycopg.AsyncConnection.connect(pg_dsn) as other:
        # The other writer holds the key's row, as an append does between its UPDATE and its
        # commit, and writes the same entry through the store's own statement.
        await other.execute(psycopg.sql.SQL(
            "SELECT 1 FROM {}.transcripts WHERE project_key = %(project)s "
            "AND session_id = %(session)s FOR UPDATE").format(schema), params)
        async with anyio.create_task_group() as tg:
            tg.start_soon(store.append, key, [entries[2]])
            async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as admin:
                with anyio.fail_after(20):
                    while True:  # until the store's append waits for the row lock
                        cur = await admin.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                            "AND wait_event_type = 'Lock'", [app])
                        row = await cur.fetchone()
                        if row is not None and row[0] > 0:
                            break
                        await anyio.sleep(0.02)
            from threadline.sessions._db import prepare_batch
            from threadline.sessions.postgres import _append_params

            await other.execute(store._q["append"],
                                _append_params(key, prepare_batch(key, [entries[2]]), None, False))
            await other.commit()
    await _assert_once(store, key, entries)
    assert await store.get_head(key) == entries[2]["uuid"]


@pytest.mark.postgres
async def test_postgres_lean_append_whose_ack_is_lost_is_not_duplicated(
    proxy: tuple[CutAfterCommit, str], pg_stores: Any
) -> None:
    """An append to a key the store wrote last goes leanly over its own connection; its
    acknowledgement lost, the append is finished by the full statement, which finds it
    stored; a batch without uuids is not written again and raises."""
    cutter, dsn = proxy
    store = pg_stores(dsn=dsn, max_size=3)
    key, entries = _key(), _entries(6)
    for e in entries[:3]:
        await store.append(key, [e])  # the key is created, then remembered
    assert store._known and store._solo is not None  # the lean path is what gets cut
    cutter.armed = True
    await store.append(key, entries[3:5])
    assert cutter.cuts == 1
    await _assert_once(store, key, entries[:5])
    await store.append(key, entries[5:])
    # (a batch without uuids has its own prepared statement: prepared before the cut)
    await store.append(key, [{"type": "tag", "tag": "x"}])
    cutter.armed = True
    with pytest.raises(StorageError):
        await store.append(key, [{"type": "tag", "tag": "y"}])
    assert cutter.cuts == 2
    loaded = await store.load(key) or []
    assert [e.get("uuid") for e in loaded[:6]] == [e["uuid"] for e in entries]
    assert [e["tag"] for e in loaded[6:]] == ["x", "y"]  # it landed once
    more = _entries(3)
    await store.append(key, more[:1])  # and the store goes on
    # the single-entry statement, on the connection and cursor the store keeps, likewise
    await store.append(key, more[1:2])  # (prepared on the store's connection before the cut)
    assert store._known and store._solo is not None
    cutter.armed = True
    await store.append(key, more[2:])
    assert cutter.cuts == 3
    loaded = await store.load(key) or []
    assert [e.get("uuid") for e in loaded[8:]] == [e["uuid"] for e in more]


@pytest.mark.postgres
async def test_postgres_group_after_its_connections_were_killed_is_written_once(
    pg_dsn: str, pg_stores: Any
) -> None:
    """Every backend of the store is killed just before a group of appends is sent: the
    dead pooled connection is replaced and the group written once."""
    app = f"tl_fault_{uuid.uuid4().hex[:8]}"
    store = pg_stores(dsn=_with_params(pg_dsn, application_name=app), max_size=4)
    keys = [_key() for _ in range(4)]
    work = {k["session_id"]: _entries(2) for k in keys}
    for k in keys:
        await store.append(k, work[k["session_id"]][:1])
    original = store._rows_once
    killed: list[int] = []

    async def kill_then_run(name: str, params: Any) -> list[Any]:
        if not killed:
            killed.append(await _terminate(pg_dsn, app))
        return await original(name, params)

    store._rows_once = kill_then_run
    hold = ("-hold", str(uuid.uuid4()), "")
    assert store._group.begin(hold)  # busy: the appends below queue and go as one group
    async with anyio.create_task_group() as tg:
        for k in keys:
            tg.start_soon(store.append, k, work[k["session_id"]][1:])
        await anyio.wait_all_tasks_blocked()
        store._group.end(hold)
    assert killed and killed[0] >= 1 and store._group.groups >= 1
    for k in keys:
        await _assert_once(store, k, work[k["session_id"]])
