"""``--store URL``: the CLI reaches sessions in any store (SQLite here; PostgreSQL, Redis)."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest

from threadline.testing._fake_anthropic import FakeAnthropicServer

from .conftest import invoke

PG_DSN = os.environ.get("THREADLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("THREADLINE_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _unreachable(what: str, exc: BaseException) -> None:
    msg = f"{what} is unreachable: {exc}"
    if os.environ.get("CI"):
        pytest.fail(f"{msg} (CI is set: these tests must run, not skip)", pytrace=False)
    pytest.skip(msg)


@pytest.fixture
def pg_dsn() -> str:
    try:
        import psycopg

        psycopg.connect(PG_DSN, connect_timeout=3).close()
    except Exception as exc:
        _unreachable(f"PostgreSQL at {PG_DSN}", exc)
    return PG_DSN


@pytest.fixture
def redis_url() -> str:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:
        _unreachable(f"Redis at {REDIS_URL}", exc)
    return REDIS_URL


def new_namespace() -> str:
    return f"tl_cli_{uuid.uuid4().hex[:12]}"


def drop_postgres(ns: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(ns)))


def drop_redis(ns: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{ns}:*", count=1000))
    if keys:
        client.delete(*keys)


def _walkthrough(url: str, fake: FakeAnthropicServer, config_dir: Path) -> None:
    first = invoke("run", "--store", url, "-o", "json", "remember the walrus")
    assert first.exit_code == 0, first.stderr
    sid = json.loads(first.stdout)["session_id"]
    again = invoke("run", "--store", url, "-r", sid[:8], "-o", "json", "what did I say?")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["session_id"] == sid, again.stderr
    assert "remember the walrus" in json.dumps(fake.message_requests()[-1]["messages"])
    assert (
        json.loads(invoke("run", "--store", url, "-c", "-o", "json", "3").stdout)["session_id"]
        == sid
    )

    listed = json.loads(invoke("sessions", "list", "--store", url, "--json").stdout)
    assert [r["session_id"] for r in listed] == [sid]
    assert [
        r["session_id"]
        for r in json.loads(invoke("sessions", "list", "-a", "--store", url, "--json").stdout)
    ] == [sid]
    shown = invoke("sessions", "show", sid[:6], "--store", url)
    assert "remember the walrus" in shown.stdout and "echo: what did I say?" in shown.stdout
    assert invoke("sessions", "rename", sid, "Walrus", "--store", url).exit_code == 0
    assert invoke("sessions", "tag", sid, "zoo", "--store", url).exit_code == 0
    info = json.loads(invoke("sessions", "list", "--store", url, "--json").stdout)[0]
    assert info["custom_title"] == "Walrus" and info["tag"] == "zoo"
    first_reply = json.loads(invoke("sessions", "show", sid, "--json", "--store", url).stdout)[1][
        "uuid"
    ]
    fork = invoke("sessions", "fork", sid, "--at", first_reply[:8], "--store", url).stdout.strip()
    forked = json.loads(invoke("sessions", "show", fork, "--json", "--store", url).stdout)
    assert len(forked) == 2
    tree = json.loads(invoke("sessions", "show", sid, "--tree", "--json", "--store", url).stdout)
    assert len(tree["leaves"]) == 1
    hits = json.loads(invoke("sessions", "search", "walrus", "--json", "--store", url).stdout)
    assert {h["session_id"] for h in hits} == {sid, fork}
    assert (
        json.loads(invoke("sessions", "stats", sid, "--json", "--store", url).stdout)["prompts"]
        == 3
    )
    assert invoke("sessions", "rm", "-y", fork, "--store", url).exit_code == 0
    assert invoke("sessions", "show", fork, "--store", url).exit_code == 3
    _bundles_and_cleanup(url, sid, config_dir)
    # nothing went to Claude Code's files
    assert not list(config_dir.glob("projects/*/*.jsonl"))


def _bundles_and_cleanup(url: str, sid: str, config_dir: Path) -> None:
    """Bundles to and from a store; retention refuses a store with what to do instead."""
    bundle = config_dir.parent / f"walk-{uuid.uuid4().hex[:8]}.tlbundle"
    exported = invoke("sessions", "export", sid[:8], "-o", str(bundle), "--store", url)
    assert exported.exit_code == 0, exported.stderr
    assert "Exported 1 session(s)" in exported.stderr
    back = invoke("sessions", "import", str(bundle), "--json", "--store", url)
    assert [r["status"] for r in json.loads(back.stdout)] == ["unchanged"], back.stderr
    other = f"sqlite://{bundle.with_suffix('.db')}"
    moved = json.loads(invoke("sessions", "import", str(bundle), "--json", "--store", other).stdout)
    assert [(r["session_id"], r["status"]) for r in moved] == [(sid, "imported")]
    assert "remember the walrus" in invoke("sessions", "show", sid, "--store", other).stdout
    every = config_dir.parent / f"all-{uuid.uuid4().hex[:8]}.tlbundle"
    assert invoke("sessions", "export", "--all", "-o", str(every), "--store", url).exit_code == 0
    no_history = invoke("sessions", "export", sid, "-o", str(every), "--file-history", "--store", url)
    assert no_history.exit_code == 2 and "file history" in no_history.stderr
    cleanup = invoke("sessions", "cleanup", "--dry-run", "--store", url)
    assert cleanup.exit_code == 2 and "sessions rm" in cleanup.stderr, cleanup.stderr


def test_sqlite_store(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, tmp_path: Path
) -> None:
    _walkthrough(f"sqlite://{tmp_path}/sessions.db", fake, config_dir)


def test_store_from_the_environment(
    fake: FakeAnthropicServer,
    project: Path,
    config_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THREADLINE_STORE", f"sqlite://{tmp_path}/env.db")
    sid = json.loads(invoke("run", "-o", "json", "hi").stdout)["session_id"]
    assert [r["session_id"] for r in json.loads(invoke("sessions", "list", "--json").stdout)] == [
        sid
    ]
    assert (tmp_path / "env.db").exists() and not list(config_dir.glob("projects/*/*.jsonl"))


def test_file_url_is_another_config_dir(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path
) -> None:
    url = f"file://{tmp_path}/other-config"
    sid = json.loads(invoke("run", "--store", url, "-o", "json", "hi").stdout)["session_id"]
    assert list((tmp_path / "other-config" / "projects").glob(f"*/{sid}.jsonl"))


@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        ("mysql://x/y", 2, "unknown scheme 'mysql'"),
        ("encrypted+memory:", 2, "THREADLINE_ENCRYPTION_KEY"),
        ("postgresql://u:hunter2@127.0.0.1:1/db", 6, "127.0.0.1"),
    ],
)
def test_bad_store_urls(project: Path, url: str, code: int, message: str) -> None:
    result = invoke("sessions", "list", "--store", url)
    assert result.exit_code == code, result.output
    assert message in result.stderr and "hunter2" not in result.stderr
    assert result.stderr.startswith("threadline: error: ") and result.stderr.count("\n") == 1


def test_missing_driver_exits_8(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    result = invoke("sessions", "list", "--store", "redis://127.0.0.1:6379")
    assert result.exit_code == 8 and "threadline[redis]" in result.stderr


@pytest.mark.postgres
def test_postgres_errors_say_the_cause_at_once(project: Path, pg_dsn: str) -> None:
    """Issue 19, item 4: it waited 10 s and said only "pool initialization incomplete"."""
    base = pg_dsn.rsplit("/", 1)[0]
    started = time.monotonic()
    result = invoke("sessions", "list", "--store", f"{base}/tl_no_such_database")
    assert result.exit_code == 6 and "does not exist" in result.stderr, result.stderr
    refused = invoke("sessions", "list", "--store", "postgresql://postgres@127.0.0.1:1/test")
    assert refused.exit_code == 6 and "refused" in refused.stderr.lower(), refused.stderr
    assert time.monotonic() - started < 8


@pytest.mark.postgres
def test_postgres_store(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, pg_dsn: str
) -> None:
    ns = new_namespace()
    try:
        _walkthrough(f"{pg_dsn}?namespace={ns}", fake, config_dir)
    finally:
        drop_postgres(ns)


@pytest.mark.redis
def test_encrypted_redis_store(
    fake: FakeAnthropicServer,
    project: Path,
    config_dir: Path,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from threadline.privacy import generate_key

    monkeypatch.setenv("THREADLINE_ENCRYPTION_KEY", generate_key())
    ns = new_namespace()
    try:
        _walkthrough(f"encrypted+{redis_url}?namespace={ns}", fake, config_dir)
    finally:
        drop_redis(ns)


@pytest.mark.postgres
def test_store_url_password_never_shown(project: Path, pg_dsn: str) -> None:
    """Security finding 12: 'not found in store postgresql://user:PASSWORD@...' printed it."""
    parts = pg_dsn.split("://", 1)[1]
    user, _, rest = parts.partition("@")
    url = f"postgresql://{user.split(':')[0]}:hunter2@{rest}?sslpassword=hunter3"
    missing = str(uuid.uuid4())
    for args in (("sessions", "show", missing), ("sessions", "export", missing)):
        result = invoke(*args, "--store", url)
        assert result.exit_code != 0, result.output
        assert "hunter2" not in result.output + result.stderr, result.stderr
        assert "hunter3" not in result.output + result.stderr, result.stderr


def test_mask_credentials() -> None:
    from threadline.sessions._url import display_url, mask_credentials

    text = (
        "failed: postgresql://me:s3cr%40t@db:5432/x?sslmode=require&sslpassword=p2 and "
        "https://tok:x-oauth@github.com/a.git, redis://:pw@cache:6379/0?token=t1"
    )
    masked = mask_credentials(text)
    for secret in ("s3cr%40t", "p2", "x-oauth", ":pw@", "t1"):
        assert secret not in masked, masked
    assert "postgresql://me:***@db:5432/x?sslmode=require&sslpassword=***" in masked
    assert display_url("redis://:pw@cache:6379/0") == "redis://:***@cache:6379/0"
    assert mask_credentials("no url here: a=b") == "no url here: a=b"
