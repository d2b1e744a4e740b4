"""``store_from_url``: every URL form reaches its store; bad URLs and missing extras say why."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from threadline import FileStore, MemoryStore, UserError
from threadline.privacy._store_url import display_url, parse_store_url, store_from_url
from threadline.sessions.postgres import PostgresStore
from threadline.sessions.redis import RedisStore
from threadline.sessions.sqlite import SQLiteStore

from .conftest import drop_postgres, drop_redis, new_namespace

KEY = "0" * 63 + "1"
SID = "11111111-2222-4333-8444-555555555555"
ENTRY = {
    "type": "user",
    "uuid": "aaaaaaaa-0000-4000-8000-000000000001",
    "message": {"content": "plain words"},
}


async def _roundtrip(store: Any) -> list[Any]:
    key = {"project_key": "-tmp-p", "session_id": SID}
    async with store:
        await store.append(key, [ENTRY])
        return list(await store.load(key))


@pytest.mark.anyio
async def test_local_forms(tmp_path: Path, config_dir: Path) -> None:
    default = store_from_url("file:")
    assert isinstance(default, FileStore) and default.config_dir == config_dir
    assert isinstance(store_from_url(""), FileStore)
    for url in (f"file://{tmp_path}/cfg", str(tmp_path / "cfg"), f"file:{tmp_path}/cfg"):
        store = store_from_url(url)
        assert isinstance(store, FileStore) and store.config_dir == tmp_path / "cfg", url
    assert await _roundtrip(store_from_url(f"file://{tmp_path}/cfg")) == [ENTRY]
    for url in (f"sqlite://{tmp_path}/a.db", f"sqlite:///{tmp_path}/a.db"):
        store = store_from_url(url)
        assert isinstance(store, SQLiteStore) and store.path == tmp_path / "a.db", url
    assert await _roundtrip(store_from_url(f"sqlite://{tmp_path}/a.db")) == [ENTRY]
    assert isinstance(store_from_url("memory:"), MemoryStore)


@pytest.mark.anyio
async def test_encrypted_file_store_holds_only_ciphertext(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THREADLINE_ENCRYPTION_KEY", KEY)
    assert await _roundtrip(store_from_url(f"encrypted+file://{tmp_path}")) == [ENTRY]
    (path,) = tmp_path.glob("projects/*/*.jsonl")
    assert b'"enc"' in path.read_bytes() and b"plain words" not in path.read_bytes()
    monkeypatch.delenv("THREADLINE_ENCRYPTION_KEY")
    monkeypatch.setenv("MY_KEY", KEY)
    again = store_from_url(f"encrypted+file://{tmp_path}?key_env=MY_KEY")
    async with again:
        assert list(await again.load({"project_key": "-tmp-p", "session_id": SID})) == [ENTRY]
    explicit = store_from_url(f"encrypted+file://{tmp_path}", key=KEY)
    async with explicit:
        assert list(await explicit.load({"project_key": "-tmp-p", "session_id": SID})) == [ENTRY]


def test_encrypted_without_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("THREADLINE_ENCRYPTION_KEY", raising=False)
    with pytest.raises(UserError, match=r"\$THREADLINE_ENCRYPTION_KEY"):
        store_from_url("encrypted+file:")
    with pytest.raises(UserError, match=r"\$OTHER"):
        store_from_url("encrypted+memory:?key_env=OTHER")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://h/db", "unknown scheme 'mysql'"),
        ("sqlite:", "needs a database file path"),
        ("sqlite://host/x.db", "names no host"),
        ("memory:x", "takes no path"),
        ("file:///x?fsync=1", "take no parameters"),
        ("postgresql://h/db?namespace=", "namespace= is empty"),
        ("encrypted+redis://h?key=s3cret", "never goes into a URL"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(UserError, match=message) as info:
        parse_store_url(url)
    assert "s3cret" not in str(info.value)


def test_passwords_are_masked_and_namespace_is_taken_out() -> None:
    spec = parse_store_url("encrypted+postgresql://me:pw@127.0.0.1/db?namespace=ns&sslmode=disable")
    assert spec.encrypted and spec.kind == "postgres" and spec.namespace == "ns"
    assert spec.target == "postgresql://me:pw@127.0.0.1/db?sslmode=disable"
    assert "pw" not in spec.display and "***" in spec.display
    assert display_url("redis://:secret@h:6379/0") == "redis://:***@h:6379/0"
    assert parse_store_url("postgres://h/db").target == "postgresql://h/db"


def test_sqlite_in_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        store_from_url(f"sqlite://{tmp_path}/nope/x.db")


def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ImportError, match=r"threadline\[postgres\]"):
        store_from_url("postgresql://127.0.0.1/test")
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(ImportError, match=r"threadline\[redis\]"):
        store_from_url("redis://127.0.0.1")


@pytest.mark.postgres
@pytest.mark.anyio
async def test_postgres_url(pg_dsn: str) -> None:
    ns = new_namespace()
    store = store_from_url(f"{pg_dsn}?namespace={ns}")
    assert isinstance(store, PostgresStore) and store.namespace == ns
    try:
        assert await _roundtrip(store) == [ENTRY]
    finally:
        await drop_postgres([ns])


@pytest.mark.redis
@pytest.mark.anyio
async def test_redis_url(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ns = new_namespace()
    monkeypatch.setenv("THREADLINE_ENCRYPTION_KEY", KEY)
    store = store_from_url(f"encrypted+{redis_url}?namespace={ns}")
    assert isinstance(store.inner, RedisStore) and store.inner.namespace == ns  # type: ignore[attr-defined]
    try:
        assert await _roundtrip(store) == [ENTRY]
    finally:
        await drop_redis([ns])
