"""``check_session_store``: a conformance kit for :class:`~threadline.SessionStore` implementations.

Beyond the official SDK's 14 contracts (round trip, order, unknown keys,
subpath and project isolation, listing, cascade delete, subkeys, summaries),
it checks what breaks stores in production: retried batches (``uuid`` is an
idempotency key), concurrent appenders (tasks, and processes: see below),
conditional-append conflicts (exactly one of N racing writers wins), partial
loads (:class:`~threadline.sessions.PartialLoadStore`) against a full ``load``,
``find_session`` (:class:`~threadline.sessions.FindSessionStore`), unicode
and NUL, lookups by a uuid or session id holding a lone surrogate (not found, not a
driver's encoding error), 10 MB entries, 10 000-entry sessions, delete cascade and listing
thousands of sessions (with summaries that fold every append in order).

Usage::

    from . import check_session_store

    async def test_my_store():
        await check_session_store(lambda: MyStore(...))

``make_store`` may be sync or async and is called once per check, so each
check starts from an empty store (give each call its own namespace/dir).

Stores shared between processes (files, databases) should also pass
``make_store_in_process``: a *picklable* recipe (a module-level function or a
``functools.partial`` of the store class) that every call turns into a store
over the *same* storage. The process checks start worker processes (spawned,
not forked) that each build a store from it and write to one session at once::

    await check_session_store(
        lambda: PostgresStore(dsn, namespace=fresh()),
        make_store_in_process=functools.partial(PostgresStore, dsn, namespace="shared"),
    )
"""

from __future__ import annotations

import functools
import inspect
import math
import multiprocessing
import sys
import uuid as uuid_mod
from collections.abc import Awaitable, Callable
from typing import Any, cast

import anyio
import anyio.to_thread

from .._exceptions import ConcurrentModificationError
from ..sessions._protocol import (
    ConditionalAppendStore,
    FindSessionStore,
    PartialLoadStore,
    SessionKey,
    SessionStore,
    SessionStoreEntry,
    aclose_store,
    store_implements,
)
from ..sessions._summary import fold_session_summary
from ..transcript._lite import parse_iso_ms

__all__ = ["StoreFactory", "StoreRecipe", "check_session_store"]

StoreFactory = Callable[[], "SessionStore | Awaitable[SessionStore]"]
StoreRecipe = Callable[[], "SessionStore | Awaitable[SessionStore]"]
"""A picklable store factory for worker processes (module-level function or ``functools.partial``)."""

_PROJECT = "-tmp-threadline-kit"


def _sid() -> str:
    return str(uuid_mod.uuid4())


def _key(sid: str, project: str = _PROJECT, subpath: str | None = None) -> SessionKey:
    key: SessionKey = {"project_key": project, "session_id": sid}
    if subpath is not None:
        key["subpath"] = subpath
    return key


def _entry(i: int, **extra: Any) -> SessionStoreEntry:
    e: dict[str, Any] = {
        "type": "user",
        "uuid": str(uuid_mod.uuid4()),
        "parentUuid": None,
        "timestamp": f"2026-01-01T00:00:{i % 60:02d}.000Z",
        "message": {"role": "user", "content": f"message {i}"},
    }
    e.update(extra)
    return cast(SessionStoreEntry, e)


async def _make(factory: StoreFactory) -> SessionStore:
    store = factory()
    if inspect.isawaitable(store):
        store = await store
    return store


async def _close(store: SessionStore) -> None:
    await aclose_store(store)


async def _round_trip(store: SessionStore) -> None:
    key = _key(_sid())
    entries = [_entry(i) for i in range(3)] + [cast(SessionStoreEntry, {"type": "tag", "tag": "x"})]
    await store.append(key, entries[:1])
    await store.append(key, entries[1:3])
    await store.append(key, [])
    await store.append(key, entries[3:])
    assert await store.load(key) == entries, "load must return appended entries in call order"
    assert await store.load(_key(_sid())) is None, "load of an unknown key must be None"
    assert await store.load(_key(key["session_id"], subpath="subagents/agent-none")) is None


async def _idempotent_retry(store: SessionStore) -> None:
    key = _key(_sid())
    batch = [_entry(i) for i in range(5)]
    await store.append(key, batch)
    await store.append(key, batch)  # a retried batch
    await store.append(key, [*batch[3:], _entry(9)])  # overlapping retry
    loaded = await store.load(key) or []
    uuids = [e.get("uuid") for e in loaded]
    assert len(uuids) == len(set(uuids)) == 6, (
        f"retried batches must not duplicate (got {len(uuids)})"
    )


async def _isolation(store: SessionStore) -> None:
    sid = _sid()
    main, sub = _key(sid), _key(sid, subpath="subagents/agent-a1")
    other_project = _key(sid, project="-tmp-threadline-other")
    await store.append(main, [_entry(1)])
    await store.append(sub, [_entry(2, isSidechain=True)])
    await store.append(other_project, [_entry(3)])
    m, s, o = await store.load(main), await store.load(sub), await store.load(other_project)
    assert m is not None and s is not None and o is not None
    assert len(m) == len(s) == len(o) == 1 and m != s and m != o


async def _unicode_and_large(store: SessionStore) -> None:
    key = _key(_sid())
    weird = 'héllo 世界 🎉 \u2028 "quotes" \\ back\nslash\ttab \x00nul'
    big = "x" * (10 * 1024 * 1024)
    entries = [
        _entry(1, message={"role": "user", "content": weird}),
        _entry(2, message={"role": "user", "content": big}),
        _entry(3, nested={"a": [1, 2.5, None, True, {"b": "ü"}]}),
    ]
    await store.append(key, entries)
    assert await store.load(key) == entries, "unicode, NUL, 10 MB entries must round-trip exactly"


async def _long_session(store: SessionStore) -> None:
    key = _key(_sid())
    entries = [_entry(i) for i in range(10_000)]
    for i in range(0, len(entries), 500):
        await store.append(key, entries[i : i + 500])
    loaded = await store.load(key)
    assert loaded == entries, "a 10 000-entry session must load back whole and in order"


async def _concurrent_appenders(store: SessionStore) -> None:
    key = _key(_sid())
    per_task, tasks = 50, 8
    batches = [[_entry(t * 1000 + i) for i in range(per_task)] for t in range(tasks)]

    async def writer(batch: list[SessionStoreEntry]) -> None:
        for e in batch:
            await store.append(key, [e])

    async with anyio.create_task_group() as tg:
        for b in batches:
            tg.start_soon(writer, b)
    loaded = await store.load(key) or []
    assert len(loaded) == per_task * tasks, f"lost or duplicated concurrent appends: {len(loaded)}"
    positions = {e["uuid"]: i for i, e in enumerate(loaded)}
    for b in batches:
        order = [positions[e["uuid"]] for e in b]
        assert order == sorted(order), "each appender's entries must keep their order"


_LISTED_SESSIONS = 2500


async def _listing(store: SessionStore) -> None:
    if not store_implements(store, "list_sessions"):
        return
    project = f"-tmp-threadline-list-{uuid_mod.uuid4().hex[:8]}"
    assert await store.list_sessions(project) == []
    sids = sorted(_sid() for _ in range(_LISTED_SESSIONS))
    limiter = anyio.CapacityLimiter(16)

    async def create(sid: str) -> None:
        async with limiter:
            await store.append(_key(sid, project), [_entry(0)])

    async with anyio.create_task_group() as tg:
        for sid in sids:
            tg.start_soon(create, sid)
    await store.append(_key(sids[0], project, "subagents/agent-x"), [_entry(1)])
    listed = await store.list_sessions(project)
    assert sorted(e["session_id"] for e in listed) == sids, (
        "list_sessions must list every main transcript once"
    )
    for e in listed:
        assert math.isfinite(e["mtime"]) and e["mtime"] > 1e12, "mtime must be epoch milliseconds"
    if store_implements(store, "list_session_summaries"):
        summaries = await store.list_session_summaries(project)
        assert sorted(s["session_id"] for s in summaries) == sids
        by_id = {e["session_id"]: e["mtime"] for e in listed}
        for s in summaries:
            assert s["mtime"] >= by_id[s["session_id"]], "summary mtime must not lag list_sessions"
            assert isinstance(s["data"], dict)


async def _summaries(store: SessionStore) -> None:
    if not store_implements(store, "list_session_summaries"):
        return
    sid = _sid()
    key = _key(sid)
    await store.append(key, [_entry(1, message={"role": "user", "content": "first prompt"})])
    await store.append(
        key, [cast(SessionStoreEntry, {"type": "custom-title", "customTitle": "T1"})]
    )
    await store.append(
        key, [cast(SessionStoreEntry, {"type": "custom-title", "customTitle": "T2"})]
    )
    summaries = [s for s in await store.list_session_summaries(_PROJECT) if s["session_id"] == sid]
    assert len(summaries) == 1
    refolded = fold_session_summary(summaries[0], key, [])
    assert refolded["session_id"] == sid and refolded["mtime"] == summaries[0]["mtime"]


async def _delete(store: SessionStore) -> None:
    if not store_implements(store, "delete"):
        return
    sid, keep = _sid(), _sid()
    await store.delete(_key(_sid()))  # absent: no-op
    await store.append(_key(sid), [_entry(1)])
    await store.append(_key(sid, subpath="subagents/agent-1"), [_entry(2)])
    await store.append(_key(sid, subpath="subagents/deep/agent-2"), [_entry(3)])
    await store.append(_key(keep), [_entry(4)])
    await store.delete(_key(sid, subpath="subagents/agent-1"))
    assert await store.load(_key(sid, subpath="subagents/agent-1")) is None
    assert await store.load(_key(sid)) is not None
    if store_implements(store, "list_subkeys"):
        assert await store.list_subkeys({"project_key": _PROJECT, "session_id": sid}) == [
            "subagents/deep/agent-2"
        ]
    await store.delete(_key(sid))
    assert await store.load(_key(sid)) is None
    assert await store.load(_key(sid, subpath="subagents/deep/agent-2")) is None, (
        "delete must cascade"
    )
    assert await store.load(_key(keep)) is not None
    if store_implements(store, "list_subkeys"):
        assert await store.list_subkeys({"project_key": _PROJECT, "session_id": sid}) == []
    if store_implements(store, "list_sessions"):
        assert sid not in {e["session_id"] for e in await store.list_sessions(_PROJECT)}


async def _conditional_append(store: SessionStore) -> None:
    if not isinstance(store, ConditionalAppendStore):
        return
    key = _key(_sid())
    assert await store.get_head(key) is None
    first = _entry(1)
    await store.append_conditional(key, [first], expected_head=None)
    assert await store.get_head(key) == first["uuid"]
    # Metadata lines do not move the head.
    await store.append(
        key, [cast(SessionStoreEntry, {"type": "custom-title", "customTitle": "t", "uuid": _sid()})]
    )
    assert await store.get_head(key) == first["uuid"]
    # Two writers that both saw `first`: the second one must be refused.
    a, b = _entry(2, parentUuid=first["uuid"]), _entry(3, parentUuid=first["uuid"])
    await store.append_conditional(key, [a], expected_head=first["uuid"])
    try:
        await store.append_conditional(key, [b], expected_head=first["uuid"])
    except ConcurrentModificationError as exc:
        assert exc.actual == a["uuid"] and exc.expected == first["uuid"]
    else:
        raise AssertionError("a stale expected_head must raise ConcurrentModificationError")
    # A retry of a batch that already landed is a no-op, not a conflict.
    await store.append_conditional(key, [a], expected_head=first["uuid"])
    loaded = await store.load(key) or []
    assert [e.get("uuid") for e in loaded].count(a["uuid"]) == 1
    assert b["uuid"] not in {e.get("uuid") for e in loaded}

    # Racing writers: exactly one of N concurrent conditional appends wins.
    head = a["uuid"]
    wins: list[str] = []

    async def racer(i: int) -> None:
        e = _entry(100 + i, parentUuid=head)
        try:
            await store.append_conditional(key, [e], expected_head=head)
        except ConcurrentModificationError:
            return
        wins.append(e["uuid"])

    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(racer, i)
    assert len(wins) == 1, f"{len(wins)} concurrent writers won; exactly one may"


def _boundary(preserved: str | None, **extra: Any) -> SessionStoreEntry:
    """A compaction boundary (and, with ``preserved``, its preserved segment's head)."""
    meta: dict[str, Any] = {"trigger": "auto", "preTokens": 1}
    if preserved is not None:
        meta["preservedSegment"] = {"headUuid": preserved, "anchorUuid": "a", "tailUuid": preserved}
    return cast(SessionStoreEntry, {
        "type": "system", "subtype": "compact_boundary", "uuid": _sid(), "parentUuid": None,
        "compactMetadata": meta, **extra,
    })


async def _expect_suffix(
    store: PartialLoadStore, key: SessionKey, full: list[Any], start: int, what: str
) -> None:
    got = await store.load_since_compaction(key)
    assert got == full[start:], (
        f"load_since_compaction {what}: expected the last {len(full) - start} of {len(full)} "
        f"entries, got {None if got is None else len(got)}"
    )


async def _partial_loads(store: SessionStore) -> None:
    if not isinstance(store, PartialLoadStore):
        return
    key = _key(_sid())
    assert await store.load_since_compaction(key) is None
    assert await store.load_after(key, _sid()) is None and await store.load_tail(key, 3) is None
    plain = [_entry(i) for i in range(12)]
    for i in range(0, 12, 4):
        await store.append(key, plain[i : i + 4])
    await _expect_suffix(store, key, plain, 0, "without a compaction (everything)")
    # A compaction keeping entry 9 (stored two batches ago) as its preserved head.
    first = [_boundary(plain[9]["uuid"]), _entry(100, isCompactSummary=True), _entry(101)]
    await store.append(key, first[:2])
    await store.append(key, [*first[2:], _entry(102)])
    full = await store.load(key) or []
    await _expect_suffix(store, key, full, 9, "from a preserved head stored before")
    # One whose preserved head is in its own batch, then one with no preserved segment.
    batch = [_entry(200), _entry(201)]
    await store.append(key, [*batch, _boundary(batch[1]["uuid"]), _entry(202)])
    full = await store.load(key) or []
    await _expect_suffix(store, key, full, len(full) - 3, "from a head in the same batch")
    await store.append(key, [_entry(300), _boundary(None), _entry(301)])
    full = await store.load(key) or []
    await _expect_suffix(store, key, full, len(full) - 2, "from a boundary without segment")
    for i in (0, 5, 11, len(full) - 1):
        uid = cast(dict[str, Any], full[i]).get("uuid")
        if isinstance(uid, str):
            assert await store.load_after(key, uid) == full[i + 1 :], f"load_after entry {i}"
    assert await store.load_after(key, _sid()) is None, "load_after an unknown uuid is None"
    await _lone_surrogate_uuid(store, key)
    for n in (0, 1, 7, len(full), len(full) + 5):
        expected = full[max(0, len(full) - n) :] if n > 0 else []
        assert await store.load_tail(key, n) == expected, f"load_tail({n})"
    # A preserved head that was never stored: the load may start anywhere up to the boundary.
    other = _key(_sid())
    await store.append(other, [_entry(1), _boundary(_sid()), _entry(2)])
    got = await store.load_since_compaction(other) or []
    full = await store.load(other) or []
    assert 2 <= len(got) <= len(full) and got == full[len(full) - len(got) :]


async def _lone_surrogate_uuid(store: PartialLoadStore, key: SessionKey) -> None:
    """``load_after`` a uuid holding a lone surrogate (as text cut inside a surrogate pair
    does): unknown (``None``, not an encoding error from a driver) unless the store took an
    entry with it; a store that takes one (files, memory) finds it. Whether an append may
    refuse such a uuid, and with which error, is the store's choice (threadline's database
    stores raise ``UserError``: tests/stores/test_db_stores.py)."""
    half = _sid() + "\ud800"
    assert await store.load_after(key, half) is None, "load_after a uuid with a lone surrogate"
    assert await store.load_after(_key(_sid()), half) is None
    odd = _key(_sid())
    entries = [_entry(1, uuid=half), _entry(2)]
    try:
        await cast(SessionStore, store).append(odd, entries)
    except Exception:  # a store may refuse such a uuid, with an error of its own
        return  # (threadline's database stores: UserError, uuids are key columns there)
    assert await store.load_after(odd, half) == entries[1:], (
        "load_after a stored uuid with a lone surrogate must return the entries after it"
    )


async def _find_session(store: SessionStore) -> None:
    """:class:`~threadline.sessions.FindSessionStore`: a session is found by id alone, in
    whichever project holds it; its subagent transcripts are not sessions of their own."""
    if not isinstance(store, FindSessionStore):
        return
    assert await store.find_session(_sid()) is None, "find_session of an unknown id must be None"
    for odd in (_sid() + "\ud800", "\udc80"):  # never stored (and no database key can hold it)
        assert await store.find_session(odd) is None, f"find_session({odd!r}) must be None"
    sid, other = _sid(), "-tmp-threadline-kit-elsewhere"
    await store.append(_key(sid, project=other), [_entry(1)])
    await store.append(_key(sid, project=other, subpath="subagents/agent-f1"), [_entry(2)])
    found = await store.find_session(sid)
    assert found is not None, "find_session must find a session in any project"
    assert dict(found) == {"project_key": other, "session_id": sid}, (
        f"find_session must return the main transcript's key, got {found!r}"
    )
    assert await store.load(found), "the key find_session returns must load"


_CHECKS: dict[str, Callable[[SessionStore], Awaitable[None]]] = {
    "round_trip": _round_trip,
    "idempotent_retry": _idempotent_retry,
    "isolation": _isolation,
    "unicode_and_large": _unicode_and_large,
    "long_session": _long_session,
    "concurrent_appenders": _concurrent_appenders,
    "listing": _listing,
    "summaries": _summaries,
    "delete": _delete,
    "conditional_append": _conditional_append,
    "partial_loads": _partial_loads,
    "find_session": _find_session,
}


# -- across processes ------------------------------------------------------

_PROCESSES = 4
_PER_PROCESS = 40
_LOST = 3  # exit code of a worker whose conditional append was refused


def _process_main(
    recipe: StoreRecipe,
    key: SessionKey,
    entries: list[SessionStoreEntry],
    expected_head: str | None,
    conditional: bool,
    barrier: Any,
) -> None:
    """Worker process body (spawned): exit 0 on success, ``_LOST`` on a refused append."""
    sys.exit(anyio.run(_process_async, recipe, key, entries, expected_head, conditional, barrier))


async def _process_async(
    recipe: StoreRecipe,
    key: SessionKey,
    entries: list[SessionStoreEntry],
    expected_head: str | None,
    conditional: bool,
    barrier: Any,
) -> int:
    store = await _make(recipe)
    try:
        await store.load(key)  # connect (and migrate) before the start line
        await anyio.to_thread.run_sync(barrier.wait, 120)
        if conditional:
            assert isinstance(store, ConditionalAppendStore)
            try:
                await store.append_conditional(key, entries, expected_head=expected_head)
            except ConcurrentModificationError:
                return _LOST
            return 0
        for entry in entries:
            await store.append(key, [entry])
        await store.append(key, entries[-3:])  # a retried batch, from another process
        return 0
    finally:
        await _close(store)


async def _run_processes(
    recipe: StoreRecipe,
    key: SessionKey,
    batches: list[list[SessionStoreEntry]],
    *,
    expected_head: str | None = None,
    conditional: bool = False,
) -> list[int]:
    """Run one worker per batch, all released at once; return their exit codes."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(batches))
    procs = [
        ctx.Process(
            target=_process_main,
            args=(recipe, key, b, expected_head, conditional, barrier),
            daemon=True,
        )
        for b in batches
    ]
    for p in procs:
        p.start()
    try:
        for p in procs:
            await anyio.to_thread.run_sync(p.join, 300)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
    return [cast(int, p.exitcode) for p in procs]


async def _process_appenders(store: SessionStore, recipe: StoreRecipe) -> None:
    key = _key(_sid())
    batches = [
        [_entry(t * 7 + i, gitBranch=f"b{t}-{i}") for i in range(_PER_PROCESS)]
        for t in range(_PROCESSES)
    ]
    codes = await _run_processes(recipe, key, batches)
    assert codes == [0] * _PROCESSES, f"appender processes failed (exit codes {codes}; see stderr)"
    loaded = await store.load(key) or []
    assert len(loaded) == _PROCESSES * _PER_PROCESS, (
        f"lost or duplicated appends across processes: {len(loaded)}"
    )
    positions = {e["uuid"]: i for i, e in enumerate(loaded)}
    for b in batches:
        order = [positions[e["uuid"]] for e in b]
        assert order == sorted(order), "each process's entries must keep their order"
    if store_implements(store, "list_session_summaries"):
        summary = next(
            s
            for s in await store.list_session_summaries(_PROJECT)
            if s["session_id"] == key["session_id"]
        )
        first = parse_iso_ms(cast(str, loaded[0].get("timestamp")))
        assert summary["data"].get("created_at") == first, (
            "the summary must fold the first stored entry"
        )
        assert summary["data"].get("git_branch") == cast(dict[str, Any], loaded[-1])["gitBranch"], (
            "the summary must fold every append, in stored order"
        )


async def _process_conditional_race(store: SessionStore, recipe: StoreRecipe) -> None:
    if not isinstance(store, ConditionalAppendStore):
        return
    key = _key(_sid())
    first = _entry(0)
    await store.append(key, [first])
    batches = [[_entry(t + 1, parentUuid=first["uuid"])] for t in range(_PROCESSES)]
    codes = await _run_processes(
        recipe, key, batches, expected_head=first["uuid"], conditional=True
    )
    assert sorted(codes) == [0] + [_LOST] * (_PROCESSES - 1), (
        f"exactly one of {_PROCESSES} racing processes may win (exit codes {codes})"
    )
    loaded = await store.load(key) or []
    assert len(loaded) == 2 and await store.get_head(key) == loaded[1]["uuid"]


_PROCESS_CHECKS: dict[str, Callable[[SessionStore, StoreRecipe], Awaitable[None]]] = {
    "process_appenders": _process_appenders,
    "process_conditional_race": _process_conditional_race,
}


async def check_session_store(
    make_store: StoreFactory,
    *,
    skip: frozenset[str] = frozenset(),
    make_store_in_process: StoreRecipe | None = None,
) -> list[str]:
    """Run every check against fresh stores from ``make_store``; return the names that ran.

    Raises ``AssertionError`` naming the failed check. ``skip`` may name
    checks to leave out (for example ``"unicode_and_large"`` on a store with
    a documented entry-size limit). The process checks run only with
    ``make_store_in_process`` (see the module docstring).
    """
    unknown = skip - _CHECKS.keys() - _PROCESS_CHECKS.keys()
    if unknown:
        raise ValueError(f"unknown checks in skip: {sorted(unknown)}")
    ran: list[str] = []
    for name, check in _CHECKS.items():
        if name not in skip:
            await _run_check(name, check, make_store)
            ran.append(name)
    if make_store_in_process is not None:
        recipe = make_store_in_process
        for name, pcheck in _PROCESS_CHECKS.items():
            if name not in skip:
                await _run_check(name, functools.partial(_with_recipe, pcheck, recipe), recipe)
                ran.append(name)
    return ran


async def _with_recipe(
    check: Callable[[SessionStore, StoreRecipe], Awaitable[None]],
    recipe: StoreRecipe,
    store: SessionStore,
) -> None:
    await check(store, recipe)


async def _run_check(
    name: str, check: Callable[[SessionStore], Awaitable[None]], factory: StoreFactory
) -> None:
    store = await _make(factory)
    try:
        await check(store)
    except AssertionError as exc:
        raise AssertionError(f"check_session_store[{name}]: {exc}") from exc
    finally:
        await _close(store)
