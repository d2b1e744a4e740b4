"""What the SQLite, PostgreSQL and Redis stores promise beyond the shared suites (with the
memory and file stores where every threadline store promises the same: OWN_STORES)."""

from __future__ import annotations

import json
import sqlite3
import sys
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest

from threadline import StorageError, UserError, fold_session_summary
from threadline.sessions.postgres import PostgresStore
from threadline.sessions.redis import RedisStore
from threadline.sessions.sqlite import SQLiteStore

from .conftest import Backend

pytestmark = pytest.mark.anyio
DB_BACKENDS = ["sqlite", "postgres", "redis", "redis_cluster"]


def _key(project: str = "-p", sid: str | None = None, **extra: Any) -> Any:
    return {"project_key": project, "session_id": sid or str(uuid.uuid4()), **extra}


def _entries(n: int, **extra: Any) -> list[Any]:
    return [{"type": "user", "uuid": str(uuid.uuid4()), "message": {"content": f"m{i}"}, **extra} for i in range(n)]


@pytest.mark.parametrize("backend", DB_BACKENDS, indirect=True)
async def test_lifecycle_aclose_idempotent_and_use_after_close(backend: Backend) -> None:
    async with backend.make() as store:
        await store.append(_key(), _entries(1))
    await store.aclose()  # second close: no-op
    with pytest.raises(StorageError, match="closed"):
        await store.load(_key())


@pytest.mark.parametrize("backend", DB_BACKENDS, indirect=True)
async def test_find_session_searches_every_project_newest_first(backend: Backend) -> None:
    store = backend.make()
    sid = str(uuid.uuid4())
    assert await store.find_session(sid) is None
    await store.append(_key("-old", sid), _entries(1))
    await anyio.sleep(0.005)  # mtimes are per key: two keys may share a millisecond
    await store.append(_key("-new", sid), _entries(1))
    await store.append(_key("-old", sid, subpath="subagents/agent-x"), _entries(1))
    assert await store.find_session(sid) == {"project_key": "-new", "session_id": sid}
    assert await store.list_projects() == ["-new", "-old"]


@pytest.mark.parametrize("backend", DB_BACKENDS, indirect=True)
async def test_summaries_are_folded_on_append_not_read_from_transcripts(backend: Backend) -> None:
    store = backend.make()
    key = _key()
    await store.append(key, [{"type": "user", "uuid": str(uuid.uuid4()), "cwd": "/w",
                              "timestamp": "2026-01-01T00:00:00.000Z",
                              "message": {"role": "user", "content": "hello there"}}])
    await store.append(key, [{"type": "custom-title", "customTitle": "Named"}])
    await _wipe_transcript_bodies(backend, store)
    [summary] = await store.list_session_summaries("-p")
    assert summary["data"]["first_prompt"] == "hello there"
    assert summary["data"]["custom_title"] == "Named" and summary["data"]["cwd"] == "/w"


async def _wipe_transcript_bodies(backend: Backend, store: Any) -> None:
    """Remove every stored entry body, keeping the per-session rows / hashes."""
    if backend.name == "sqlite":
        with sqlite3.connect(store.path) as conn:
            conn.execute("DELETE FROM chunks")
    elif backend.name == "postgres":
        async with store._checkout() as conn:
            await conn.execute(store._psycopg.sql.SQL("DELETE FROM {}.chunks").format(
                store._psycopg.sql.Identifier(store.namespace)))
    else:
        client = await store._ready()
        keys = [k async for k in client.scan_iter(match=f"{store.namespace}:{{*}}:c")]
        for k in keys:
            await client.delete(k)
    assert await store.load(_key()) is None


@pytest.mark.parametrize("backend", ["postgres", "redis", "redis_cluster"], indirect=True)
async def test_namespaces_isolate(backend: Backend) -> None:
    a, b = backend.make(), backend.make()
    key = _key()
    await a.append(key, _entries(2))
    assert await b.load(key) is None
    assert await b.list_sessions("-p") == []


@pytest.mark.parametrize("bad", ["", "Upper", "has-dash", "semi;colon", "a" * 49, "9lead", "pg_x", 'q"uote'])
def test_invalid_namespace_rejected(bad: str) -> None:
    with pytest.raises(UserError):
        PostgresStore("postgresql://nowhere", namespace=bad)
    with pytest.raises(UserError):
        RedisStore("redis://nowhere", namespace=bad)


@pytest.mark.parametrize("backend", DB_BACKENDS, indirect=True)
@pytest.mark.parametrize("sid", ["a/b", "nul\x00"])
async def test_unsafe_session_ids_rejected(backend: Backend, sid: str) -> None:
    with pytest.raises(UserError):
        await backend.make().append(_key(sid=sid), _entries(1))


# Text cut inside a surrogate pair (Claude Code truncates tool output and prompts by UTF-16
# units; JSON.stringify writes the half as a \udXXX escape, which Python reads back as a lone
# surrogate): stored and read back exactly, summaries included, on every append path.
_HALF = "cut \ud83d"


@pytest.mark.parametrize("backend", DB_BACKENDS, indirect=True)
async def test_lone_surrogates_in_entries_and_summaries(backend: Backend) -> None:
    store = backend.make()
    key = _key()
    first = {"type": "user", "uuid": str(uuid.uuid4()), "cwd": "/w\udc80",
             "timestamp": "2026-01-01T00:00:00.000Z", "message": {"role": "user", "content": _HALF}}
    later = [
        {"type": "assistant", "uuid": str(uuid.uuid4()), "parentUuid": first["uuid"],
         "message": {"role": "assistant", "content": [{"type": "text", "text": "\udfff"}]}},
        {"type": "custom-title", "customTitle": "title \ud800"},
        {"type": "user", "uuid": str(uuid.uuid4()), "message": {"role": "user", "content": "next \udbff"}},
    ]
    await store.append(key, [first])  # a new key: the full statement / script
    for e in later:  # a key this store wrote last: the lean paths
        await store.append(key, [e])
    await store.append(key, [{"type": "tag", "tag": "t\ud801"}, {"type": "user", "uuid": str(uuid.uuid4()),
                                                             "message": {"role": "user", "content": "x"}}])
    loaded = await store.load(key)
    assert loaded is not None and loaded[:4] == [first, *later]
    [summary] = await store.list_session_summaries("-p")
    data = summary["data"]
    assert data["first_prompt"] == _HALF and data["cwd"] == "/w\udc80"
    assert data["custom_title"] == "title \ud800" and data["tag"] == "t\ud801"
    assert data == fold_session_summary(None, key, loaded)["data"]
    [info] = await store.list_sessions("-p")
    assert info["session_id"] == key["session_id"]
    # appends to many keys at once (PostgresStore writes them as groups)
    keys = [_key("-q") for _ in range(6)]
    sent: dict[str, list[Any]] = {k["session_id"]: [] for k in keys}

    async def writer(k: Any) -> None:
        for i in range(4):
            e = {"type": "user", "uuid": str(uuid.uuid4()), "message": {"role": "user", "content": f"{i}\ud83d"}}
            sent[k["session_id"]].append(e)
            await store.append(k, [e])

    async with anyio.create_task_group() as tg:
        for k in keys:
            tg.start_soon(writer, k)
    for k in keys:
        assert await store.load(k) == sent[k["session_id"]]
    summaries = {s["session_id"]: s["data"] for s in await store.list_session_summaries("-q")}
    assert summaries == {k["session_id"]: fold_session_summary(None, k, sent[k["session_id"]])["data"]
                         for k in keys}


@pytest.mark.parametrize("backend", DB_BACKENDS, indirect=True)
async def test_lone_surrogate_in_a_uuid_or_key_is_a_clear_error(backend: Backend) -> None:
    store = backend.make()
    key = _key()
    bad = {"type": "user", "uuid": "a\ud800b", "message": {"role": "user", "content": "x"}}
    with pytest.raises(UserError, match="lone surrogate"):
        await store.append(key, [*_entries(1), bad])
    assert await store.load(key) is None  # nothing of the batch written
    for part in ({"project_key": "-p\udc80"}, {"session_id": "s\udc80"}, {"subpath": "subagents/a\udc80"}):
        with pytest.raises(UserError):
            await store.append({**key, **part}, _entries(1))


@pytest.mark.parametrize("backend", DB_BACKENDS, indirect=True)
async def test_lone_surrogate_in_a_head_or_preserved_segment(backend: Backend) -> None:
    """A conditional append with such an expected head is a UserError before anything is
    sent (in a PostgreSQL group it failed every other member); a compaction whose
    preserved segment names such a uuid (no stored uuid has one) is stored, not a raw
    UnicodeEncodeError."""
    store = backend.make()
    keys = [_key() for _ in range(5)]

    async def good(k: Any) -> None:
        await store.append(k, _entries(1))

    async def bad() -> None:
        with pytest.raises(UserError, match="expected_head"):
            await store.append_conditional(keys[0], _entries(1), expected_head="x\ud800")

    async with anyio.create_task_group() as tg:
        for k in keys[1:]:
            tg.start_soon(good, k)
        tg.start_soon(bad)
    for k in keys[1:]:
        assert len(await store.load(k) or []) == 1
    boundary = {"type": "system", "subtype": "compact_boundary", "uuid": str(uuid.uuid4()),
                "compactMetadata": {"preservedSegment": {"headUuid": "h\ud800", "tailUuid": "t"}}}
    after = _entries(1)
    await store.append(keys[0], [boundary, *after])
    assert await store.load(keys[0]) == [boundary, *after]


# Every threadline store checks keys alike (the example store of tests/stores is not one).
OWN_STORES = ["memory", "file", *DB_BACKENDS]


@pytest.mark.parametrize("backend", OWN_STORES, indirect=True)
async def test_partial_loads_keep_entries_with_a_lone_surrogate(backend: Backend) -> None:
    """Text cut inside a surrogate pair is stored and read back exactly by every store
    (docs/stores.md), by the partial loads too: FileStore's partial reads parsed lines with
    orjson alone and silently dropped such entries (a resumed compacted session lost its
    last reply, and load_after could return a list with entries missing)."""
    from threadline.sessions._offsets import load_for_resume, load_live

    store = backend.make()
    key = _key()
    boundary = {
        "type": "system", "subtype": "compact_boundary", "uuid": str(uuid.uuid4()),
        "compactMetadata": {}, "content": "Conversation compacted",
    }
    before = _entries(2)
    after = [
        {"type": "user", "uuid": "\u00e91", "message": {"role": "user", "content": "cut \ud83d"}},
        {"type": "user", "uuid": str(uuid.uuid4()), "message": {"content": "ok"}},
        {"type": "assistant", "uuid": str(uuid.uuid4()), "message": {"content": "answer cut \ud83d"}},
    ]
    await store.append(key, [*before, boundary])
    await store.append(key, after)
    full = await store.load(key)
    assert full == [*before, boundary, *after]
    assert await store.load_since_compaction(key) == [boundary, *after]
    assert await store.load_tail(key, 3) == after
    assert await store.load_after(key, boundary["uuid"]) == after
    assert await store.load_after(key, "\u00e91") == after[1:]
    assert await load_live(store, key) == [boundary, *after]
    assert (await load_for_resume(store, key))[-3:] == after


@pytest.mark.parametrize("backend", ["memory", "file"], indirect=True)
async def test_file_and_memory_stores_keep_a_uuid_with_a_lone_surrogate(backend: Backend) -> None:
    """The file and memory stores take an entry uuid holding a lone surrogate (text cut
    inside a surrogate pair; docs/stores.md) and find it again (the kit accepts a store
    refusing such a uuid, so it would not notice these two refusing or failing)."""
    store = backend.make()
    key = _key()
    half = key["session_id"] + "\ud800"
    entries = [{"type": "user", "uuid": half}, *_entries(1)]
    await store.append(key, entries)
    assert await store.load(key) == entries
    assert await store.load_after(key, half) == entries[1:]


@pytest.mark.parametrize("backend", OWN_STORES, indirect=True)
async def test_lone_surrogates_in_read_and_lookup_arguments(backend: Backend) -> None:
    """What appends refuse, reads refuse: a key (or a listing's project key) with a lone
    surrogate is a UserError on every method, never the driver's UnicodeEncodeError, and the
    file and memory stores refuse it too. A lookup by a value that is not a key
    (``load_after``'s uuid, ``find_session``'s id) finds nothing: ``None``, as the
    protocol says for an unknown one."""
    store = backend.make()
    key = _key()
    stored = _entries(2)
    await store.append(key, stored)
    sid = key["session_id"]
    for bad in ({**key, "project_key": "-p\ud800"}, {**key, "project_key": "-p\udc80"},
                {**key, "session_id": sid + "\ud800"}, {**key, "session_id": sid + "\udc80"}):
        main = {"project_key": bad["project_key"], "session_id": bad["session_id"]}
        calls: list[tuple[str, tuple[Any, ...]]] = [
            ("append", (bad, _entries(1))), ("load", (bad,)), ("get_head", (bad,)),
            ("load_since_compaction", (bad,)), ("load_after", (bad, "x")),
            ("load_tail", (bad, 1)), ("delete", (bad,)), ("list_subkeys", (main,)),
        ]
        for name, args in calls:
            with pytest.raises(UserError):
                await getattr(store, name)(*args)
        with pytest.raises(UserError):
            await store.append_conditional(bad, _entries(1), expected_head=None)
    for project in ("-p\ud800", "-p\udc80", "a/b", ""):
        with pytest.raises(UserError, match="project_key"):
            await store.list_sessions(project)
        with pytest.raises(UserError, match="project_key"):
            await store.list_session_summaries(project)
    for half in ("u\ud800", "\udc80"):
        assert await store.load_after(key, half) is None
        assert await store.load_after(_key(), half) is None
        assert await store.find_session(sid + half) is None
        assert await store.find_session(half) is None
    assert await store.find_session(sid) == {"project_key": "-p", "session_id": sid}
    assert await store.load(key) == stored
    assert [s["session_id"] for s in await store.list_sessions("-p")] == [sid]


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_postgres_lookups_by_values_with_nul(backend: Backend) -> None:
    """PostgreSQL text holds no NUL: a lookup by such a value finds nothing (was a
    StorageError naming the driver's DataError, as if the server had failed)."""
    store = backend.make()
    key = _key()
    await store.append(key, _entries(1))
    assert await store.load_after(key, "a\x00b") is None
    assert await store.find_session("a\x00b") is None
    with pytest.raises(UserError, match="project_key"):
        await store.list_sessions("a\x00b")
    with pytest.raises(UserError, match="session_id"):
        await store.list_subkeys({"project_key": "-p", "session_id": "a\x00b"})


async def test_unreachable_servers_raise_storage_error() -> None:
    pg = PostgresStore("postgresql://postgres@127.0.0.1:1/test", connect_timeout=1)
    with pytest.raises(StorageError) as info:
        await pg.load(_key())
    assert info.value.__cause__ is not None
    await pg.aclose()
    rd = RedisStore("redis://127.0.0.1:1/0")
    with pytest.raises(StorageError) as info:
        await rd.load(_key())
    assert type(info.value.__cause__).__module__.startswith("redis")
    await rd.aclose()


async def test_sqlite_driver_error_is_chained(tmp_path: Path) -> None:
    (tmp_path / "not-a-db").write_bytes(b"this is not sqlite" * 100)
    store = SQLiteStore(tmp_path / "not-a-db")
    with pytest.raises(StorageError) as info:
        await store.load(_key())
    assert isinstance(info.value.__cause__, sqlite3.Error)
    await store.aclose()


@pytest.mark.parametrize(("module", "cls", "extra"), [
    ("psycopg", PostgresStore, "postgres"), ("psycopg_pool", PostgresStore, "postgres"),
    ("redis.asyncio", RedisStore, "redis"),
])
def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch, module: str, cls: Any, extra: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=rf"pip install 'threadline\[{extra}\]'"):
        cls("x://y")


async def test_sqlite_migrations_recorded_once(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    for _ in range(2):
        async with SQLiteStore(path) as store:
            await store.append(_key(), _entries(1))
    with sqlite3.connect(path) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM _migrations")] == ["m001_initial", "m002_partial_loads"]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_postgres_schema_created_and_migrations_recorded(backend: Backend) -> None:
    first = backend.make()
    await first.append(_key(), _entries(1))
    again = PostgresStore(backend.url, namespace=first.namespace)
    backend.stores.append(again)
    assert await again.applied_migrations() == ["m001_initial", "m002_one_round_trip", "m003_lean_writes", "m004_fast_append"]
    assert len(await again.list_sessions("-p")) == 1


@pytest.mark.parametrize("backend", DB_BACKENDS, indirect=True)
async def test_empty_and_metadata_only_appends(backend: Backend) -> None:
    store = backend.make()
    key = _key()
    await store.append(key, [])
    assert await store.load(key) == []
    await store.append(key, [{"type": "tag", "tag": "x"}])
    await store.append(key, [{"type": "tag", "tag": "x"}])  # no uuid: not deduplicated
    assert await store.load(key) == [{"type": "tag", "tag": "x"}] * 2
    assert await store.get_head(key) is None


async def test_sqlite_database_is_created_private(tmp_path: Path) -> None:
    import os
    import stat

    old = os.umask(0o022)
    try:
        async with SQLiteStore(tmp_path / "s.db") as store:
            sid = str(uuid.uuid4())
            await store.append({"project_key": "p", "session_id": sid}, [{"type": "user", "uuid": sid}])
        for name in ("s.db", "s.db-wal", "s.db-shm"):
            if (tmp_path / name).exists():
                assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    finally:
        os.umask(old)


async def test_sqlite_in_memory_writes_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``SQLiteStore(":memory:")`` (sqlite3's name for a database in memory) keeps the store's
    sessions in memory: it created an empty file named ``:memory:`` in the working directory."""
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    key = {"project_key": "p", "session_id": str(uuid.uuid4())}
    async with SQLiteStore(":memory:") as store:
        await store.append(key, [{"type": "user", "uuid": "u1"}])
        await store.append(key, [{"type": "user", "uuid": "u2"}])
        assert await store.load(key) == [{"type": "user", "uuid": "u1"}, {"type": "user", "uuid": "u2"}]
    assert list((tmp_path / "cwd").iterdir()) == []


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
async def test_redis_layout_1_namespace_is_moved_on_open(backend: Backend) -> None:
    """Keys written before cluster support (t:/c:/u:/l:/s:/k:/f:) are moved, not lost."""
    import orjson
    import redis.asyncio

    store = backend.make()
    ns, sid, pk = store.namespace, str(uuid.uuid4()), "-legacy"
    first, second, sub = _entries(2), [{"type": "custom-title", "customTitle": "Old"}], _entries(1)
    raw = redis.asyncio.Redis.from_url(backend.url)
    name = f"{pk}/{sid}"
    await raw.hset(f"{ns}:t:{name}", mapping={"rev": 2, "head": first[-1]["uuid"], "mtime": 1})
    await raw.rpush(f"{ns}:c:{name}", b"".join(orjson.dumps(e) + b"\n" for e in first),
                    b"".join(orjson.dumps(e) + b"\n" for e in second))
    await raw.sadd(f"{ns}:u:{name}", *[e["uuid"] for e in first])
    await raw.rpush(f"{ns}:c:{name}/subagents/agent-a", orjson.dumps(sub[0]) + b"\n")
    await raw.sadd(f"{ns}:k:{name}", "subagents/agent-a")
    await raw.hset(f"{ns}:l:{pk}", sid, 1)
    await raw.hset(f"{ns}:s:{pk}", sid, b"{}")
    await raw.hset(f"{ns}:f:{sid}", pk, 1)
    await raw.sadd(f"{ns}:projects", pk)
    try:
        key = {"project_key": pk, "session_id": sid}
        assert await store.load(key) == first + second
        assert await store.load({**key, "subpath": "subagents/agent-a"}) == sub
        assert [s["session_id"] for s in await store.list_sessions(pk)] == [sid]
        [summary] = await store.list_session_summaries(pk)
        assert summary["data"]["custom_title"] == "Old"
        assert await store.get_head(key) == first[-1]["uuid"]
        assert await store.find_session(sid) == key
        assert await raw.get(f"{ns}:layout") == b"2"
        assert not [k async for k in raw.scan_iter(match=f"{ns}:[tcukfls]:*")]
    finally:
        await raw.aclose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres", "redis", "redis_cluster"], indirect=True)
async def test_a_session_deleted_by_another_host_and_written_again_is_listed(backend: Backend) -> None:
    writer = backend.make()
    other = type(writer)(*([writer.path] if backend.name == "sqlite" else [backend.url]),
                         **({} if backend.name == "sqlite" else {"namespace": writer.namespace}))
    backend.stores.append(other)
    key = _key()
    await writer.append(key, _entries(1))
    await other.delete(key)
    assert await writer.list_sessions("-p") == []
    await writer.append(key, _entries(1))
    assert [s["session_id"] for s in await writer.list_sessions("-p")] == [key["session_id"]]
    assert await other.find_session(key["session_id"]) == {"project_key": "-p", "session_id": key["session_id"]}


@pytest.mark.parametrize("backend", ["redis", "redis_cluster"], indirect=True)
async def test_redis_lists_sessions_whose_ids_hold_braces(backend: Backend) -> None:
    store = backend.make()
    odd, plain = "odd{x}id", str(uuid.uuid4())
    await store.append(_key("-p", odd), _entries(1))
    await store.append(_key("-p", plain), [{"type": "user", "uuid": str(uuid.uuid4()), "cwd": "/w",
                                            "message": {"role": "user", "content": "hi"}}])
    assert sorted(s["session_id"] for s in await store.list_sessions("-p")) == sorted([odd, plain])
    summaries = {s["session_id"]: s["data"] for s in await store.list_session_summaries("-p")}
    assert set(summaries) == {odd, plain} and summaries[plain]["cwd"] == "/w"
    assert await store.find_session(odd) == {"project_key": "-p", "session_id": odd}


@pytest.mark.parametrize("backend", OWN_STORES, indirect=True)
@pytest.mark.parametrize("sid", ["a/b", "nul\x00", "a/b/c"])
async def test_session_ids_with_a_slash_or_nul_are_refused_alike(backend: Backend, sid: str) -> None:
    """Every threadline store refuses a session id holding '/' or NUL, on every method that
    takes a key, with the same UserError (MemoryStore took them: such a session was not
    listed, and {"session_id": "a/b"} was the same entry as {"session_id": "a",
    "subpath": "b"})."""
    store = backend.make()
    bad = _key(sid=sid)
    calls: list[tuple[str, tuple[Any, ...]]] = [
        ("append", (bad, _entries(1))), ("load", (bad,)), ("get_head", (bad,)),
        ("load_since_compaction", (bad,)), ("load_after", (bad, "x")), ("load_tail", (bad, 1)),
        ("delete", (bad,)), ("list_subkeys", (bad,)),
        ("append", ({**bad, "subpath": "subagents/agent-1"}, _entries(1))),
    ]
    for name, args in calls:
        with pytest.raises(UserError, match=r"session_id.*must not contain '/' or NUL"):
            await getattr(store, name)(*args)
    with pytest.raises(UserError, match=r"must not contain '/' or NUL"):
        await store.append_conditional(bad, _entries(1), expected_head=None)
    # the subkey of a plain id is no session of its own
    await store.append(_key(sid="a", subpath="b"), _entries(1))
    assert await store.list_sessions("-p") == []


@pytest.mark.parametrize("backend", OWN_STORES, indirect=True)
async def test_list_subkeys_with_a_malformed_key_is_a_user_error(backend: Backend) -> None:
    """list_subkeys checks its key like every other method (the memory and file stores
    raised KeyError or TypeError for a missing part or a key that is not a dict)."""
    store = backend.make()
    for bad in ({"project_key": "-p"}, {"session_id": "s"}, {}, {"project_key": 1, "session_id": "s"},
                {"project_key": "-p", "session_id": 5}, {"project_key": "-p", "session_id": None},
                "-p/s", None, ["-p", "s"]):
        with pytest.raises(UserError):
            await store.list_subkeys(bad)
    key = _key()
    await store.append({**key, "subpath": "subagents/agent-1"}, _entries(1))
    assert await store.list_subkeys({**key, "subpath": "ignored"}) == ["subagents/agent-1"]


@pytest.mark.parametrize("backend", DB_BACKENDS, indirect=True)
async def test_entry_uuids_with_nul(backend: Backend) -> None:
    """PostgreSQL text holds no NUL: an entry uuid (a key column) or an expected_head with
    one is a UserError before anything is sent (was a StorageError from the server), and in
    a group of concurrent appends it fails that append only; a compaction whose preserved
    segment names such a uuid (it can name no stored entry) is stored. SQLite and Redis
    keep such uuids and find them again (on SQLite a retry failed: StorageError)."""
    store = backend.make()
    key = _key()
    nul = {"type": "user", "uuid": "a\x00b", "message": {"role": "user", "content": "x"}}
    if backend.name != "postgres":
        entries = [nul, *_entries(1)]
        await store.append(key, entries)
        assert await store.load(key) == entries
        assert await store.load_after(key, "a\x00b") == entries[1:]
        assert await store.get_head(key) == entries[1]["uuid"]
        await store.append(key, entries)  # a retry: no-op (SQLite raised a StorageError)
        await store.append_conditional(key, [nul], expected_head="a\x00b")  # likewise
        assert await store.load(key) == entries
        return
    with pytest.raises(UserError, match="NUL"):
        await store.append(key, [*_entries(1), nul])
    assert await store.load(key) is None  # nothing of the batch written
    first = _entries(1)
    await store.append(key, first)
    with pytest.raises(UserError, match="NUL"):
        await store.append(key, [nul])  # a key this store wrote last (the lean paths)
    with pytest.raises(UserError, match=r"expected_head.*NUL"):
        await store.append_conditional(key, _entries(1), expected_head="a\x00b")
    assert await store.load(key) == first
    keys = [_key() for _ in range(6)]
    for k in keys:
        await store.append(k, _entries(1))  # known keys: their next appends may be grouped
    sent: dict[str, list[Any]] = {k["session_id"]: [] for k in keys[1:]}

    async def good(k: Any) -> None:
        for _ in range(3):
            batch = _entries(1)
            sent[k["session_id"]] += batch
            await store.append(k, batch)

    async def bad() -> None:
        for i in range(3):
            with pytest.raises(UserError, match="NUL"):
                await store.append(keys[0], [{**nul, "uuid": f"{i}\x00"}])
            with pytest.raises(UserError, match="NUL"):
                await store.append_conditional(keys[0], _entries(1), expected_head=f"{i}\x00")

    async with anyio.create_task_group() as tg:
        for k in keys[1:]:
            tg.start_soon(good, k)
        tg.start_soon(bad)
    for k in keys[1:]:
        loaded = await store.load(k)
        assert loaded is not None and loaded[1:] == sent[k["session_id"]]
    assert len(await store.load(keys[0]) or []) == 1
    boundary = {"type": "system", "subtype": "compact_boundary", "uuid": str(uuid.uuid4()),
                "compactMetadata": {"preservedSegment": {"headUuid": "h\x00", "tailUuid": "t"}}}
    after = _entries(1)
    await store.append(keys[0], [boundary, *after])
    assert (await store.load(keys[0]) or [])[1:] == [boundary, *after]
    assert await store.load_since_compaction(keys[0]) == [boundary, *after]


@pytest.mark.parametrize("backend", ["file"], indirect=True)
@pytest.mark.parametrize("member", [',"x":NaN', ',"x":1e400', ',"x":"\\ud800"'])
async def test_file_load_after_a_torn_last_line_is_none_as_load_drops_it(
    backend: Backend, member: str
) -> None:
    """A last line without its line break that orjson refuses is a torn line to ``load``
    (read_complete's rule): ``load_after`` its uuid is ``None`` (the uuid is not in
    ``load``), where it returned ``[]``."""
    store = backend.make()
    key = _key()
    first = _entries(1)
    await store.append(key, first)
    path = store.path_for(key)
    with path.open("ab") as f:
        f.write(b'{"type":"user","uuid":"u2"' + member.encode() + b"}")
    assert await store.load(key) == first
    assert await store.load_after(key, "u2") is None
    assert await store.load_after(key, first[0]["uuid"]) == []


@pytest.mark.parametrize("backend", ["file"], indirect=True)
@pytest.mark.parametrize("subpath", [None, "subagents/agent-a1"])
async def test_file_load_after_a_uuid_on_two_lines_starts_after_the_last(
    backend: Backend, subpath: str | None
) -> None:
    """A transcript another program wrote may hold a uuid on two lines: load_after starts
    after the last copy (the one the readers keep), for a session and a subagent alike (the
    subagent's branch started after the first)."""
    store = backend.make()
    key = _key(**({"subpath": subpath} if subpath else {}))
    await store.append(key, _entries(1))
    path = store.path_for(key)
    lines = [{"type": "user", "uuid": u} for u in ("d", "b", "d", "c")]
    with path.open("ab") as f:
        f.write(b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in lines))
    assert await store.load_after(key, "d") == lines[3:]


@pytest.mark.parametrize("backend", ["file"], indirect=True)
async def test_file_retry_of_uuids_written_with_escapes_is_not_written_twice(
    backend: Backend,
) -> None:
    """A retried append (here through another FileStore, as from another process) drops
    the entries already stored, also those whose uuid is written with an escape: a NUL, a
    quote, a backslash, or a non-ASCII uuid on a line escaped whole. The uuids were found
    by a pattern that stopped at the first backslash, and such entries were written again."""
    key = _key()
    entries = [
        {"type": "user", "uuid": "a\x00b"},
        {"type": "user", "uuid": 'q"x'},
        {"type": "user", "uuid": "back\\slash"},
        {"type": "user", "uuid": "é1", "message": {"content": "cut \ud83d"}},
        {"type": "user", "uuid": "plain"},
    ]
    recipe = backend.recipe()
    assert recipe is not None
    await recipe().append(key, entries)
    await recipe().append(key, entries)  # the retry, by a store that never saw them
    assert await recipe().load(key) == entries


@pytest.mark.parametrize("backend", ["file"], indirect=True)
async def test_file_load_after_finds_a_non_ascii_uuid_on_an_escaped_line(backend: Backend) -> None:
    """A line holding a lone surrogate anywhere is written ASCII-escaped (as JSON.stringify
    may write too): load_after finds a non-ASCII uuid on it (returned None: a full load)."""
    store = backend.make()
    key = _key()
    entries = [{"type": "user", "uuid": "é1", "message": {"content": "cut \ud83d"}},
               {"type": "user", "uuid": "u2"}]
    await store.append(key, entries)
    assert b"\\u00e91" in store.path_for(key).read_bytes()
    assert await store.load_after(key, "é1") == entries[1:]
    # also when the raw form is there too, on a later line that is not the entry
    more = [{"type": "user", "uuid": "u3", "message": {"content": '"uuid":"é1"'}}, {"type": "user", "uuid": "u4"}]
    await store.append(key, more)
    assert await store.load_after(key, "é1") == [entries[1], *more]
    # and a plain (UTF-8) line found as before
    key2 = _key()
    plain = [{"type": "user", "uuid": "é2"}, {"type": "user", "uuid": "u5"}]
    await store.append(key2, plain)
    assert await store.load_after(key2, "é2") == plain[1:]
