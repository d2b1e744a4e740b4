"""``PostgresStore``'s single-entry lean append (``append_lean_one``) and the lone writer's
kept connection and cursor: every guarantee the general lean append (``_LEAN_APPEND``) kept,
probed on non-chain entries, subpaths, lost acknowledgements, summaries, odd uuids,
cancellation, killed backends, two hosts and deletes (written by the review of 701370a and
83649a3; they pass on the code before those commits too)."""

from __future__ import annotations

import random
import uuid
from typing import Any

import anyio
import anyio.lowlevel
import psycopg
import pytest

from threadline import ConcurrentModificationError
from threadline.sessions._summary import fold_session_summary
from threadline.sessions.postgres import PostgresStore

from .conftest import chain, drop_postgres, new_namespace

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _key(sub: str | None = None) -> Any:
    k = {"project_key": "-review", "session_id": str(uuid.uuid4())}
    if sub:
        k["subpath"] = sub
    return k


def _spy(store: PostgresStore) -> list[str]:
    used: list[str] = []
    orig = store._solo_row

    async def spy(name: str, params: Any) -> Any:
        used.append(name)
        return await orig(name, params)

    store._solo_row = spy  # type: ignore[method-assign]
    return used


async def _summary(store: PostgresStore, key: Any) -> dict[str, Any]:
    [s] = [s for s in await store.list_session_summaries(key["project_key"])
           if s["session_id"] == key["session_id"]]
    return dict(s["data"])


async def _raw(dsn: str, ns: str, key: Any) -> tuple[Any, ...]:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as c:
        q = psycopg.sql.SQL(
            "SELECT t.head, t.entries, (SELECT array_agg(seq ORDER BY id) FROM {s}.chunks "
            "WHERE transcript_id = t.id), (SELECT array_agg(n ORDER BY id) FROM {s}.chunks "
            "WHERE transcript_id = t.id), (SELECT count(*) FROM {s}.uuids "
            "WHERE transcript_id = t.id), (SELECT count(*) FROM {s}.uuids u WHERE "
            "transcript_id = t.id AND NOT EXISTS (SELECT 1 FROM {s}.chunks c WHERE "
            "c.id = u.chunk_id)) FROM {s}.transcripts t WHERE project_key = %s "
            "AND session_id = %s AND subpath = %s").format(s=psycopg.sql.Identifier(ns))
        cur = await c.execute(q, (key["project_key"], key["session_id"], key.get("subpath", "")))
        row = await cur.fetchone()
        assert row is not None
        return tuple(row)


async def test_non_chain_entries_keep_the_head_and_expected_none(pg_stores: Any, pg_dsn: str) -> None:
    s = pg_stores(max_size=4)
    used = _spy(s)
    key = _key()
    def title(t):
        return {"type": "custom-title", "customTitle": t, "uuid": str(uuid.uuid4()),
                           "sessionId": key["session_id"]}
    e = [title("a"), title("b"), title("c"), title("d")]
    await s.append(key, e[:1])
    await s.append(key, e[1:2])
    await s.append(key, e[2:3])  # lean one, head stays None
    assert await s.get_head(key) is None
    await s.append_conditional(key, e[3:4], expected_head=None)  # head None is expected
    with pytest.raises(ConcurrentModificationError):
        await s.append_conditional(key, [title("x")], expected_head="nope")
    c = chain(2)
    await s.append_conditional(key, c[:1], expected_head=None)
    await s.append(key, [title("e")])  # non-chain: head stays c[0]
    await s.append_conditional(key, c[1:], expected_head=c[0]["uuid"])
    assert await s.get_head(key) == c[1]["uuid"]
    loaded = await s.load(key)
    assert loaded is not None and len(loaded) == 7
    assert (await _summary(s, key)) == fold_session_summary(None, key, loaded)["data"]
    head, entries, seqs, ns, nu, orphan = await _raw(pg_dsn, s.namespace, key)
    assert (head, entries, seqs, ns, nu, orphan) == (c[1]["uuid"], 7, list(range(7)), [1] * 7, 7, 0)
    assert {"append_lean_one", "append_lean_one_if"} & set(used)  # the path under test


async def test_subpath_single_appends(pg_stores: Any, pg_dsn: str) -> None:
    s = pg_stores(max_size=4)
    used = _spy(s)
    key = _key("agents/one")
    c = chain(5)
    for e in c:
        await s.append(key, [e])
    await s.append(key, [c[2]])  # duplicate: dropped
    await s.append_conditional(key, [c[4]], expected_head=c[3]["uuid"])  # lost-ack retry
    assert await s.load(key) == c
    assert await s.load_tail(key, 2) == c[3:]
    assert await s.load_after(key, c[1]["uuid"]) == c[2:]
    head, entries, seqs, _ns, nu, orphan = await _raw(pg_dsn, s.namespace, key)
    assert (head, entries, seqs, nu, orphan) == (c[4]["uuid"], 5, list(range(5)), 5, 0)
    assert {"append_lean_one", "append_lean_one_if"} & set(used)  # the path under test


@pytest.mark.parametrize("size", [1, 4])
async def test_conditional_lost_ack_retry_and_conflict(pg_stores: Any, size: int) -> None:
    s = pg_stores(max_size=size)
    key = _key()
    c = chain(4)
    await s.append(key, c[:1])
    await s.append(key, c[1:2])
    await s.append_conditional(key, c[2:3], expected_head=c[1]["uuid"])
    # retried after a lost ack: head moved to c[2] but every uuid stored -> no-op
    await s.append_conditional(key, c[2:3], expected_head=c[1]["uuid"])
    with pytest.raises(ConcurrentModificationError):
        await s.append_conditional(key, c[3:4], expected_head=c[1]["uuid"])
    await s.append_conditional(key, c[3:4], expected_head=c[2]["uuid"])
    assert await s.load(key) == c


async def test_summary_fields_follow_single_appends(pg_stores: Any) -> None:
    s = pg_stores(max_size=4)
    key = _key()
    sid = key["session_id"]
    es: list[Any] = []
    parent = None
    for i in range(12):
        if i % 4 == 1:
            e = {"type": "tag", "tag": "" if i == 9 else f"t{i}", "uuid": str(uuid.uuid4()),
                 "sessionId": sid}
        elif i % 4 == 2:
            e = {"type": "custom-title", "customTitle": f"T{i}", "uuid": str(uuid.uuid4()),
                 "sessionId": sid}
        else:
            e = {"type": "user", "uuid": str(uuid.uuid4()), "parentUuid": parent,
                 "cwd": f"/c{i}", "gitBranch": f"b{i}", "timestamp": f"2026-01-0{1 + i % 9}T00:00:00Z",
                 "message": {"role": "user", "content": f"prompt {i}"}}
            parent = e["uuid"]
        es.append(e)
        await s.append(key, [e])
        assert await _summary(s, key) == fold_session_summary(None, key, es)["data"], i


@pytest.mark.parametrize("uid", ["a\x00b", "\ud800", "é" * 3, "x" * 5000, ""])
async def test_odd_uuids_behave_as_before(pg_stores: Any, uid: str) -> None:
    s = pg_stores(max_size=4)
    key = _key()
    c = chain(2)
    await s.append(key, c)
    await s.append(key, chain(1, c[1]["uuid"]))  # remembered
    e = {"type": "user", "uuid": uid, "parentUuid": None, "message": {"role": "user", "content": "z"}}
    try:
        await s.append(key, [e])
    except BaseException:  # refused (nothing written), as before: the store goes on
        loaded = await s.load(key)
        assert loaded is not None and len(loaded) == 3
        await s.append(key, chain(1))  # the store goes on
        return
    loaded = await s.load(key)
    assert loaded is not None and loaded[-1]["uuid"] == uid and len(loaded) == 4
    await s.append(key, [e])  # again: dropped
    assert len(await s.load(key) or []) == 4


async def _lock_row(dsn: str, ns: str, key: Any) -> psycopg.AsyncConnection[Any]:
    other = await psycopg.AsyncConnection.connect(dsn)
    await other.execute(psycopg.sql.SQL(
        "SELECT 1 FROM {}.transcripts WHERE project_key = %s AND session_id = %s "
        "FOR UPDATE").format(psycopg.sql.Identifier(ns)), (key["project_key"], key["session_id"]))
    return other


@pytest.mark.parametrize("conditional", [False, True])
async def test_cancelled_mid_statement_then_store_goes_on(
    pg_stores: Any, pg_dsn: str, conditional: bool
) -> None:
    s = pg_stores(max_size=3)
    used = _spy(s)
    key = _key()
    c = chain(6)
    await s.append(key, c[:1])
    await s.append(key, c[1:2])
    await s.append(key, c[2:3])  # solo cursor prepared
    solo_before = s._solo
    other = await _lock_row(pg_dsn, s.namespace, key)
    try:
        with anyio.move_on_after(0.5) as scope:
            if conditional:
                await s.append_conditional(key, c[3:4], expected_head=c[2]["uuid"])
            else:
                await s.append(key, c[3:4])
        assert scope.cancelled_caught
    finally:
        await other.rollback()
        await other.close()
    assert solo_before is not None and s._solo is None  # dropped back to the pool
    # the cancelled append may or may not have landed; retrying it lands it once
    await s.append(key, c[3:4])
    for e in c[4:]:
        await s.append(key, [e])
    assert await s.load(key) == c
    # the pool did not lose the connection
    for _ in range(3):
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(s.load, key)
    assert (await _raw(pg_dsn, s.namespace, key))[1:2] == (6,)
    assert {"append_lean_one", "append_lean_one_if"} & set(used)  # the path under test


async def test_solo_backend_killed_between_and_during(pg_stores: Any, pg_dsn: str) -> None:
    app = f"tl_rev_{uuid.uuid4().hex[:8]}"
    s = pg_stores(dsn=f"{pg_dsn}?application_name={app}", max_size=3)
    key = _key()
    c = chain(8)
    for e in c[:3]:
        await s.append(key, [e])
    solo = s._solo
    assert solo is not None
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s)", [solo.info.backend_pid])
        await anyio.sleep(0.2)
        await s.append(key, [c[3]])  # dead solo found, replaced
        assert s._solo is not None and s._solo is not solo
        await s.append(key, [c[4]])
        # kill during: block on the row lock, then terminate the solo backend
        other = await _lock_row(pg_dsn, s.namespace, key)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(s.append, key, [c[5]])
                await anyio.sleep(0.3)
                pid = s._solo.info.backend_pid  # type: ignore[union-attr]
                await admin.execute("SELECT pg_terminate_backend(%s)", [pid])
                await anyio.sleep(0.2)
                await other.rollback()
        finally:
            await other.close()
    for e in c[6:]:
        await s.append(key, [e])
    assert await s.load(key) == c


async def test_stress_one_solo_at_a_time(pg_stores: Any, pg_dsn: str) -> None:
    s = pg_stores(max_size=4)
    active = 0
    peak = 0
    orig = s._solo_row

    async def guard(name: str, params: Any) -> Any:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            await anyio.lowlevel.checkpoint()  # widen the window
            return await orig(name, params)
        finally:
            active -= 1

    s._solo_row = guard  # type: ignore[method-assign]
    rnd = random.Random(7)
    keys = [_key() for _ in range(6)]
    want: dict[str, list[Any]] = {k["session_id"]: [] for k in keys}
    locks = {k["session_id"]: anyio.Lock() for k in keys}

    async def writer(w: int) -> None:
        for i in range(40):
            k = rnd.choice(keys)
            sid = k["session_id"]
            async with locks[sid]:
                prev = want[sid][-1]["uuid"] if want[sid] else None
                es = chain(rnd.choice([1, 1, 1, 2]), prev)
                if rnd.random() < 0.3:
                    await s.append_conditional(k, es, expected_head=prev)
                else:
                    await s.append(k, es)
                want[sid].extend(es)
                if rnd.random() < 0.2:
                    await s.append(k, es[-1:])  # duplicate
            if rnd.random() < 0.3:
                await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        for w in range(8):
            tg.start_soon(writer, w)
    assert peak <= 1  # never two solo statements at once (under load, all may have grouped)
    last = keys[0]["session_id"]
    es = chain(1, want[last][-1]["uuid"] if want[last] else None)
    await s.append(keys[0], es)  # alone: the solo statement
    want[last].extend(es)
    assert peak == 1
    for k in keys:
        assert await s.load(k) == want[k["session_id"]]
        assert await s.get_head(k) == want[k["session_id"]][-1]["uuid"]
        _, entries, _seqs, _, nu, orphan = await _raw(pg_dsn, s.namespace, k)
        assert entries == len(want[k["session_id"]]) == nu and orphan == 0


async def test_two_hosts_interleaved_single_appends(pg_stores: Any, pg_dsn: str) -> None:
    ns = new_namespace()
    a = pg_stores(ns, max_size=4)
    b = pg_stores(ns, max_size=4)
    try:
        key = _key()
        c = chain(30)
        rnd = random.Random(3)
        for e in c:
            who = a if rnd.random() < 0.6 else b
            if rnd.random() < 0.5:
                await who.append_conditional(key, [e], expected_head=e["parentUuid"])
            else:
                await who.append(key, [e])
        assert await a.load(key) == c
        assert await _summary(b, key) == fold_session_summary(None, key, c)["data"]
    finally:
        await drop_postgres([ns])


async def test_delete_then_single_append(pg_stores: Any) -> None:
    ns = new_namespace()
    a, b = pg_stores(ns, max_size=4), pg_stores(ns, max_size=4)
    try:
        key = _key()
        c = chain(3)
        for e in c:
            await a.append(key, [e])
        await b.delete(key)
        d = chain(2)
        await a.append(key, d[:1])  # a's memory points at a deleted row
        await a.append(key, d[1:])
        assert await b.load(key) == d
    finally:
        await drop_postgres([ns])


async def test_random_cancellations_leave_store_and_pool_sound(pg_stores: Any, pg_dsn: str) -> None:
    s = pg_stores(max_size=3, connect_timeout=3)
    rnd = random.Random(11)
    key = _key()
    c = chain(120)
    await s.append(key, c[:2])
    cancelled = 0
    for i, e in enumerate(c[2:], 2):
        with anyio.move_on_after(rnd.choice([0, 0.0002, 0.0005, 0.001, 0.002, 1])) as scope:
            if rnd.random() < 0.5:
                await s.append_conditional(key, [e], expected_head=c[i - 1]["uuid"])
            else:
                await s.append(key, [e])
        if scope.cancelled_caught:
            cancelled += 1
            # finish it (it may have landed): idempotent by uuid
            await s.append(key, [e])
    assert await s.load(key) == c
    _, entries, seqs, _, nu, orphan = await _raw(pg_dsn, s.namespace, key)
    assert entries == len(c) == nu and orphan == 0 and seqs == sorted(seqs)
    # every pooled connection is usable: three loads at once, twice over
    for _ in range(2):
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(s.load, key)
