"""Group commit: appends to distinct keys that wait while others are written go together.

The queue itself (``GroupCommit``, no database) and ``PostgresStore``'s use of it: a group
is one statement and one transaction, and whatever the group cannot write (a new key, a
moved head, a retried batch, a broken connection) is written or refused per append, as
the single path would.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Hashable
from typing import Any

import anyio
import pytest

from threadline import ConcurrentModificationError, StorageError
from threadline.sessions._groupcommit import GroupCommit, Member, settle

from .conftest import Backend, chain

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the group commit and PostgresStore are asyncio-only (psycopg)


# ----------------------------------------------------------------------------- the queue


class Recorder:
    """A ``write_group`` that records groups and waits until released."""

    def __init__(self) -> None:
        self.groups: list[list[Hashable]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def write(self, members: list[Member]) -> None:
        self.groups.append([m.key for m in members])
        await self.release.wait()
        for m in members:
            if m.work == "boom":
                settle(m, error=ValueError(f"bad {m.key}"))
            else:
                settle(m, m.work)


async def test_appends_arriving_while_a_write_is_in_flight_go_as_one_group() -> None:
    rec = Recorder()
    gc = GroupCommit(rec.write)
    assert gc.begin("k0")  # a single write is in flight
    results: dict[str, Any] = {}

    async def submit(key: str) -> None:
        results[key] = await gc.submit(key, f"w{key}")

    async with anyio.create_task_group() as tg:
        for k in ("a", "b", "c"):
            tg.start_soon(submit, k)
    # one group, one flusher: a second one is not started while the first has not
    # taken what waits
    assert rec.groups == [["a", "b", "c"]]
    assert results == {"a": "wa", "b": "wb", "c": "wc"}
    assert (gc.groups, gc.grouped) == (1, 3)
    gc.end("k0")


async def test_a_key_is_never_in_two_groups_and_keeps_its_order() -> None:
    rec = Recorder()
    rec.release.clear()
    gc = GroupCommit(rec.write, max_groups=2)
    assert gc.begin("x")
    order: list[str] = []

    async def submit(key: str, work: str) -> None:
        await gc.submit(key, work)
        order.append(work)

    async with anyio.create_task_group() as tg:
        tg.start_soon(submit, "a", "a1")
        await anyio.wait_all_tasks_blocked()
        assert rec.groups == [["a"]]  # being written (not released)
        tg.start_soon(submit, "a", "a2")
        tg.start_soon(submit, "b", "b1")
        await anyio.wait_all_tasks_blocked()
        # a second group starts beside the first, without a2: its key is being written
        assert rec.groups == [["a"], ["b"]]
        gc.end("x")
        rec.release.set()
    assert rec.groups == [["a"], ["b"], ["a"]]
    assert order.index("a1") < order.index("a2")


async def test_a_single_write_runs_at_once_when_nothing_is_in_flight() -> None:
    gc = GroupCommit(Recorder().write)
    assert gc.begin("a")
    assert not gc.begin("b")  # busy: b must queue
    gc.end("a")
    assert gc.begin("b")
    gc.end("b")


async def test_an_error_goes_to_its_append_only() -> None:
    rec = Recorder()
    gc = GroupCommit(rec.write)
    assert gc.begin("x")
    outcome: dict[str, Any] = {}

    async def submit(key: str, work: str) -> None:
        try:
            outcome[key] = await gc.submit(key, work)
        except ValueError as exc:
            outcome[key] = exc

    async with anyio.create_task_group() as tg:
        tg.start_soon(submit, "a", "ok")
        tg.start_soon(submit, "b", "boom")
        await anyio.wait_all_tasks_blocked()
        gc.end("x")
    assert outcome["a"] == "ok"
    assert isinstance(outcome["b"], ValueError)


async def test_a_write_group_that_raises_settles_every_member() -> None:
    async def broken(members: list[Member]) -> None:
        raise RuntimeError("driver exploded")

    gc = GroupCommit(broken)
    assert gc.begin("x")
    errors: list[BaseException] = []

    async def submit(key: str) -> None:
        try:
            await gc.submit(key, None)
        except RuntimeError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(submit, "a")
        tg.start_soon(submit, "b")
        await anyio.wait_all_tasks_blocked()
        gc.end("x")
    assert len(errors) == 2


async def test_an_append_cancelled_while_queued_is_not_written() -> None:
    rec = Recorder()
    gc = GroupCommit(rec.write)
    assert gc.begin("x")
    rec.release.clear()
    scope = anyio.CancelScope()

    async def cancelled() -> None:
        with scope:
            await gc.submit("gone", "w")

    async with anyio.create_task_group() as tg:
        tg.start_soon(gc.submit, "first", "w")
        await anyio.wait_all_tasks_blocked()  # "first" is being written (2 flushers)...
        tg.start_soon(gc.submit, "second", "w")
        await anyio.wait_all_tasks_blocked()  # ...and "second": both flushers busy
        tg.start_soon(cancelled)
        tg.start_soon(gc.submit, "kept", "w")
        await anyio.wait_all_tasks_blocked()
        scope.cancel()  # "gone" is still queued
        await anyio.wait_all_tasks_blocked()
        rec.release.set()
        gc.end("x")
    assert rec.groups == [["first"], ["second"], ["kept"]]


async def test_drain_waits_for_queued_appends() -> None:
    rec = Recorder()
    rec.release.clear()
    gc = GroupCommit(rec.write)
    assert gc.begin("x")
    task = asyncio.ensure_future(gc.submit("a", "w"))
    await anyio.wait_all_tasks_blocked()
    gc.end("x")
    await anyio.wait_all_tasks_blocked()
    assert not task.done()
    rec.release.set()
    await gc.drain()
    assert task.done() and task.result() == "w"


# ----------------------------------------------------------------------------- PostgreSQL


def _key(sid: str | None = None) -> Any:
    return {"project_key": "-group", "session_id": sid or str(uuid.uuid4())}


_entries = chain


async def _grouped(store: Any, calls: list[Any]) -> list[BaseException | None]:
    """Run appends so that they form one group: hold the store busy, queue them all,
    release. Returns each call's error (``None``: it succeeded)."""
    await store.get_head(_key())  # open the pool
    hold = ("-hold", str(uuid.uuid4()), "")
    assert store._group.begin(hold)
    out: list[BaseException | None] = [None] * len(calls)

    async def run(i: int, fn: Any) -> None:
        try:
            await fn()
        except Exception as exc:
            out[i] = exc

    before = store._group.groups
    async with anyio.create_task_group() as tg:
        for i, fn in enumerate(calls):
            tg.start_soon(run, i, fn)
        await anyio.wait_all_tasks_blocked()
        store._group.end(hold)
    assert store._group.groups > before
    return out


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_sixteen_sessions_appending_at_once_share_statements(backend: Backend) -> None:
    store = backend.make()
    keys = [_key() for _ in range(16)]
    work = {k["session_id"]: _entries(20) for k in keys}
    for k in keys:  # the keys exist: their appends take the grouped path
        await store.append(k, work[k["session_id"]][:1])

    async def writer(k: Any) -> None:
        for e in work[k["session_id"]][1:]:
            await store.append(k, [e])

    groups = store._group.groups
    async with anyio.create_task_group() as tg:
        for k in keys:
            tg.start_soon(writer, k)
    assert store._group.groups > groups  # some appends went together...
    assert store._group.grouped > store._group.groups  # ...more than one per group
    for k in keys:  # ...and every session holds its entries once, in order
        assert await store.load(k) == work[k["session_id"]]
        assert await store.get_head(k) == work[k["session_id"]][-1]["uuid"]


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_group_writes_what_it_can_and_each_append_keeps_its_outcome(
    backend: Backend,
) -> None:
    store = backend.make()
    plain, retried, stale, fresh = _key(), _key(), _key(), _key()
    e = {k["session_id"]: _entries(3) for k in (plain, retried, stale, fresh)}
    for k in (plain, retried, stale):
        await store.append(k, e[k["session_id"]][:2])
    await store.append(retried, e[retried["session_id"]][2:])  # acknowledged, then retried

    def sid(k: Any) -> list[Any]:
        return e[k["session_id"]]

    errors = await _grouped(store, [
        lambda: store.append(plain, sid(plain)[2:]),
        lambda: store.append(retried, sid(retried)[2:]),  # a lost-ack retry: no duplicate
        lambda: store.append_conditional(stale, sid(stale)[2:], expected_head="moved-on"),
        lambda: store.append(fresh, sid(fresh)),  # a new key: created
    ])
    assert errors[0] is None and errors[1] is None and errors[3] is None
    assert isinstance(errors[2], ConcurrentModificationError)
    assert await store.load(plain) == sid(plain)
    assert await store.load(retried) == sid(retried)
    assert await store.load(stale) == sid(stale)[:2]
    assert await store.load(fresh) == sid(fresh)
    # the summary is folded for grouped appends as for single ones
    listed = {s["session_id"] for s in await store.list_session_summaries("-group")}
    assert {plain["session_id"], retried["session_id"], fresh["session_id"]} <= listed


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_grouped_batch_without_uuids_is_not_rewritten_after_a_broken_connection(
    backend: Backend,
) -> None:
    store = backend.make()
    key, other = _key(), _key()
    await store.append(key, _entries(1))
    await store.append(other, _entries(1))

    async def broken(name: str, params: Any) -> list[Any]:
        import psycopg

        try:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        except psycopg.OperationalError as exc:
            raise StorageError("append_group failed") from exc

    store._rows_once = broken
    tag = {"type": "tag", "tag": "x"}
    errors = await _grouped(store, [
        lambda: store.append(key, [tag]),  # not idempotent: unknown outcome, raised
        lambda: store.append(other, _entries(1)),  # idempotent: written on its own
    ])
    assert isinstance(errors[0], StorageError)
    assert errors[1] is None
    assert [x["type"] for x in await store.load(key) or []] == ["user"]
    assert len(await store.load(other) or []) == 2


# ----------------------------------------------------------------------------- lean appends


def _shared_pair(backend: Backend) -> tuple[Any, Any]:
    """Two stores over one namespace: two hosts sharing the database."""
    recipe = backend.recipe()
    assert recipe is not None
    a, b = recipe(), recipe()
    backend.stores.extend([a, b])
    return a, b


def _summary_entries(sid: str) -> list[Any]:
    out: list[Any] = []
    parent = None
    for i in range(6):
        e = {"type": "user" if i % 2 == 0 else "assistant", "uuid": str(uuid.uuid4()),
             "parentUuid": parent, "sessionId": sid, "cwd": f"/w{i}", "gitBranch": f"b{i}",
             "timestamp": f"2026-01-01T00:00:0{i}.000Z",
             "message": {"role": "user", "content": f"prompt {i}"}}
        parent = e["uuid"]
        out.append(e)
    out.insert(2, {"type": "custom-title", "customTitle": "First title", "sessionId": sid})
    out.insert(4, {"type": "tag", "tag": "red", "sessionId": sid})
    out.insert(5, {"type": "last-prompt", "lastPrompt": "later", "sessionId": sid})
    out.append({"type": "tag", "tag": "", "sessionId": sid})  # cleared
    out.append({"type": "custom-title", "customTitle": "Second title", "sessionId": sid})
    return out


async def _summary_of(store: Any, key: Any) -> dict[str, Any]:
    [summary] = [s for s in await store.list_session_summaries(key["project_key"])
                 if s["session_id"] == key["session_id"]]
    return dict(summary["data"])


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_two_hosts_appending_in_turn_keep_one_chain_and_the_folded_summary(
    backend: Backend,
) -> None:
    """Each store remembers what its last write left and appends leanly on top of it;
    the other host's writes in between must send it back to the full statement."""
    from threadline.sessions._summary import fold_session_summary

    a, b = _shared_pair(backend)
    key = _key()
    entries = _summary_entries(key["session_id"])
    for i, e in enumerate(entries):
        # a writes twice in a row (its second append takes the lean path), then b...
        await (a if i % 3 != 2 else b).append(key, [e])
    assert await a.load(key) == entries
    expected = fold_session_summary(None, key, entries)["data"]
    assert await _summary_of(a, key) == expected
    assert "tag" not in expected and expected["custom_title"] == "Second title"
    assert await b.get_head(key) == entries[-3]["uuid"]


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_key_deleted_and_made_again_elsewhere_is_not_appended_to_from_memory(
    backend: Backend,
) -> None:
    from threadline.sessions._summary import fold_session_summary

    a, b = _shared_pair(backend)
    key = _key()
    old = _entries(3)
    for e in old:
        await a.append(key, [e])  # a remembers the row it wrote
    await b.delete(key)
    new = [{**e, "cwd": "/new"} for e in _entries(2)]
    await b.append(key, new[:1])
    await a.append(key, new[1:])  # the remembered row is gone: a appends to the new one
    assert await a.load(key) == new
    assert await _summary_of(b, key) == fold_session_summary(None, key, new)["data"]
    # and a conditional append on a stale head is refused, not written from memory
    with pytest.raises(ConcurrentModificationError):
        await a.append_conditional(key, _entries(1), expected_head=old[-1]["uuid"])
    assert await b.load(key) == new


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_lone_append_cancelled_while_waiting_on_the_server_leaves_the_store_usable(
    backend: Backend, pg_dsn: str
) -> None:
    import psycopg

    store = backend.make()
    key = _key()
    entries = _entries(4)
    for e in entries[:2]:
        await store.append(key, [e])  # remembered: the next goes leanly, on its own connection
    async with await psycopg.AsyncConnection.connect(pg_dsn) as locker:
        # hold the session's row: the next append waits for it on the server
        await locker.execute(
            psycopg.sql.SQL("SELECT 1 FROM {}.transcripts WHERE session_id = %s FOR UPDATE")
            .format(psycopg.sql.Identifier(store.namespace)), [key["session_id"]])
        with anyio.move_on_after(0.3) as scope:
            await store.append(key, [entries[2]])
        assert scope.cancelled_caught
        await locker.rollback()
    await store.append(key, [entries[3]])  # the store goes on
    loaded = [e["uuid"] for e in await store.load(key) or []]
    assert loaded in ([e["uuid"] for e in entries], [e["uuid"] for e in entries[:2] + entries[3:]])
    assert store._group.busy is False


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_grouped_append_to_a_key_another_host_wrote_since_is_not_written_from_memory(
    backend: Backend,
) -> None:
    """A group writes the keys this store wrote last by row id with the summary folded in
    Python; a key another host wrote since must go to the full statement instead."""
    from threadline.sessions._summary import fold_session_summary

    a, b = _shared_pair(backend)
    moved, kept = _key(), _key()
    e = {k["session_id"]: _summary_entries(k["session_id"]) for k in (moved, kept)}
    for k in (moved, kept):
        for entry in e[k["session_id"]][:2]:
            await a.append(k, [entry])  # a remembers what it left
    titled = {"type": "ai-title", "aiTitle": "From b", "sessionId": moved["session_id"]}
    e[moved["session_id"]].insert(2, titled)
    await b.append(moved, [titled])  # b sets a title meanwhile (nothing later unsets it)
    plans: list[Any] = []
    plan = a._group_plan

    def spy(member: Any) -> Any:
        plans.append(plan(member))
        return plans[-1]

    a._group_plan = spy
    errors = await _grouped(a, [
        lambda: a.append(moved, e[moved["session_id"]][3:]),
        lambda: a.append(kept, e[kept["session_id"]][2:]),
    ])
    assert errors == [None, None]
    assert [p.lean for p in plans] == [True, True]  # both went by row id...
    for k in (moved, kept):  # ...and the key b wrote keeps b's title and one chain
        entries = e[k["session_id"]]
        assert await a.load(k) == entries
        assert await _summary_of(b, k) == fold_session_summary(None, k, entries)["data"]
    assert (await _summary_of(b, moved))["ai_title"] == "From b"


@pytest.mark.postgres
async def test_a_pool_of_one_connection_is_not_held_by_the_lone_writer(pg_dsn: str) -> None:
    """The lone writer's connection is kept out of the pool only when the pool has more
    than one: with ``max_size=1`` loads, grouped appends and the full statement an append
    falls back to would otherwise wait for it until they time out."""
    from threadline.sessions import PostgresStore

    ns = f"tl_one_{uuid.uuid4().hex[:8]}"
    store = PostgresStore(pg_dsn, namespace=ns, max_size=1, connect_timeout=2)
    try:
        key = _key()
        entries = _entries(4)
        for e in entries:  # the second on are lean appends of a lone writer
            await store.append(key, [e])
        with anyio.fail_after(1.5):
            assert await store.load(key) == entries
        others = {k["session_id"]: _entries(3) for k in (_key() for _ in range(4))}
        with anyio.fail_after(1.5):
            async with anyio.create_task_group() as tg:
                for sid, es in others.items():

                    async def write(sid: str = sid, es: list[Any] = es) -> None:
                        for e in es:
                            await store.append(_key(sid), [e])

                    tg.start_soon(write)
        for sid, es in others.items():
            assert await store.load(_key(sid)) == es
    finally:
        await store.aclose()
        import psycopg

        async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as c:
            await c.execute(f"DROP SCHEMA IF EXISTS {ns} CASCADE")


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_group_writes_keys_this_store_did_not_write_last_by_key(backend: Backend) -> None:
    """Members the store does not know (another host wrote them last, or this store never
    did) go into the group by key, with the summary delta merged there: written by the
    group's statement, not one by one afterwards."""
    from threadline.sessions._summary import fold_session_summary

    a, b = _shared_pair(backend)
    keys = [_key() for _ in range(3)]
    e = {k["session_id"]: _summary_entries(k["session_id"]) for k in keys}
    for k in keys:
        await b.append(k, e[k["session_id"]][:3])  # b wrote them: a knows nothing of them
    singles: list[Any] = []
    one = a._append_one

    async def spy(*args: Any, **kwargs: Any) -> None:
        singles.append(args[0]["session_id"])
        await one(*args, **kwargs)

    a._append_one = spy
    errors = await _grouped(a, [
        (lambda k=k: a.append(k, e[k["session_id"]][3:])) for k in keys
    ])
    assert errors == [None] * 3
    assert singles == []  # all three written by the group's statement
    for k in keys:
        entries = e[k["session_id"]]
        assert await b.load(k) == entries
        assert await _summary_of(b, k) == fold_session_summary(None, k, entries)["data"]


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_single_entry_lean_appends_keep_every_guarantee(backend: Backend) -> None:
    """One entry with a uuid, to a key the store wrote last, goes by the single-entry
    statement (a scalar uuid, no array): still idempotent by uuid, still checked against
    the head when conditional, still falling back when another host wrote meanwhile."""
    a, b = _shared_pair(backend)
    used: list[str] = []
    solo = a._solo_row

    async def spy(name: str, params: Any) -> Any:
        used.append(name)
        return await solo(name, params)

    a._solo_row = spy
    key = _key()
    entries = _entries(6)
    await a.append(key, entries[:1])  # creates the key
    await a.append(key, entries[1:2])  # the full statement: remembered
    await a.append(key, entries[2:3])
    await a.append_conditional(key, entries[3:4], expected_head=entries[2]["uuid"])
    assert used == ["append_lean_one", "append_lean_one_if"]
    # a uuid stored long ago, appended again (not a retry): dropped, nothing duplicated
    await a.append(key, entries[1:2])
    assert used[2:] == ["append_lean_one"]
    await a.append(key, entries[4:5])  # the full statement again: remembered
    # a conditional append on a stale head is refused by the single-entry statement too
    with pytest.raises(ConcurrentModificationError):
        await a.append_conditional(key, entries[5:6], expected_head=entries[3]["uuid"])
    assert used[3:] == ["append_lean_one_if"]
    await b.append(key, entries[5:6])  # another host writes: a's memory is stale
    last = _entries(1, entries[5]["uuid"])
    await a.append(key, last)  # a's lean try finds another writer came: the full statement
    assert await b.load(key) == entries + last
    assert await b.get_head(key) == last[0]["uuid"]


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_aclose_waits_for_a_lone_writers_append_in_flight(
    backend: Backend, pg_dsn: str
) -> None:
    """``aclose()`` while a lone writer's append waits on the server: the append finishes
    (landed once, reported as written) before the store gives its connection back; before,
    the pool took the connection from under it and the caller got psycopg_pool's
    ``ValueError`` about a connection returned twice, though the entry had landed."""
    import psycopg

    recipe = backend.recipe()
    assert recipe is not None
    store, again = recipe(), recipe()  # two stores over one namespace
    backend.stores.extend([store, again])
    key = _key()
    entries = _entries(4)
    for e in entries[:3]:
        await store.append(key, [e])  # remembered: the next goes on the lone writer's connection
    errors: list[BaseException] = []

    async def append() -> None:
        try:
            await store.append(key, entries[3:])
        except BaseException as exc:  # recorded for the assertion
            errors.append(exc)

    async with await psycopg.AsyncConnection.connect(pg_dsn) as locker:
        await locker.execute(
            psycopg.sql.SQL("SELECT 1 FROM {}.transcripts WHERE session_id = %s FOR UPDATE")
            .format(psycopg.sql.Identifier(store.namespace)), [key["session_id"]])
        async with anyio.create_task_group() as tg:
            tg.start_soon(append)
            await anyio.sleep(0.3)
            tg.start_soon(store.aclose)
            await anyio.sleep(0.3)
            await locker.rollback()  # the append goes on; aclose waited for it
    assert errors == []
    assert await again.load(key) == entries
