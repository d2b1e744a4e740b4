"""Route tests over stores: the same real CLI sessions, copied into SQLite and PostgreSQL
(and an encrypted SQLite store), served through the store protocol."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from threadline.sessions import FileStore, SessionStore
from threadline.sessions.postgres import PostgresStore
from threadline.sessions.sqlite import SQLiteStore
from threadline.web import StoreSource, create_app

from .conftest import BASE, WebData

pytestmark = pytest.mark.anyio

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


async def copy_into(config: Path, store: SessionStore) -> None:
    """Every session of a config dir (with its subagents) into ``store``."""
    files = FileStore(config)
    for pdir in sorted((config / "projects").iterdir()):
        for path in sorted(pdir.glob("*.jsonl")):
            key = {"project_key": pdir.name, "session_id": path.stem}
            entries = await files.load(key)  # type: ignore[arg-type]
            await store.append(key, entries or [])  # type: ignore[arg-type]
            for sub in await files.list_subkeys(key):  # type: ignore[arg-type]
                sk = {**key, "subpath": sub}
                await store.append(sk, await files.load(sk) or [])  # type: ignore[arg-type]


def _pg_or_skip() -> None:
    import os

    import psycopg

    try:
        psycopg.connect(PG_DSN, connect_timeout=3).close()
    except Exception as exc:  # pragma: no cover - depends on the machine
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL unreachable under CI: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")


async def _drop_schema(ns: str) -> None:
    import psycopg
    from psycopg import sql

    async with await psycopg.AsyncConnection.connect(PG_DSN, autocommit=True) as conn:
        await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(ns)))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "encrypted"])
async def store(request: pytest.FixtureRequest, tmp_path: Path, web_data: WebData) -> AsyncIterator[Any]:
    ns = f"tl_web_{uuid.uuid4().hex[:10]}"
    if request.param == "postgres":
        _pg_or_skip()
        s: Any = PostgresStore(PG_DSN, namespace=ns, max_size=4)
    elif request.param == "encrypted":
        from threadline.privacy import EncryptedStore, generate_key

        s = EncryptedStore(SQLiteStore(tmp_path / "enc.db"), key=generate_key())
    else:
        s = SQLiteStore(tmp_path / "s.db")
    await copy_into(web_data.config, s)
    try:
        yield s
    finally:
        await s.aclose()
        if request.param == "postgres":
            await _drop_schema(ns)


async def _client(store: Any, **kw: Any) -> httpx.AsyncClient:
    app = create_app(StoreSource(store), close_source=False, **kw)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


def _texts(items: list[dict[str, Any]]) -> list[str]:
    return [b["text"] for i in items for b in i.get("blocks", ()) if b.get("type") == "text"]


async def test_store_routes(store: Any, web_data: WebData) -> None:
    async with await _client(store) as c:
        info = (await c.get("/api/info")).json()
        assert info["source"]["kind"] == "store" and info["can_restore"] is False
        listing = (await c.get("/api/sessions", params={"limit": 500})).json()
        ids = {r["session_id"] for r in listing["items"]}
        assert set(web_data.ids.values()) <= ids
        tagged = (await c.get("/api/sessions", params={"tag": "oracle-tag"})).json()["items"]
        assert [r["title"] for r in tagged] == ["Renamed By SDK"]

        items = (await c.get(f"/api/sessions/{web_data.ids['compact']}/messages")).json()["items"]
        assert "compact_boundary" in [i["kind"] for i in items]

        sid = web_data.ids["subagent_fg"]
        [agent] = (await c.get(f"/api/sessions/{sid}/subagents")).json()["items"]
        assert agent["agent_type"] == "general-purpose"
        calls = [b for i in (await c.get(f"/api/sessions/{sid}/messages")).json()["items"]
                 for b in i.get("blocks", ()) if b.get("type") == "tool_use"]
        assert calls[0]["subagent"] == agent["agent_id"]
        sub = (await c.get(f"/api/sessions/{sid}/subagents/{agent['agent_id']}")).json()
        assert "subagent fg done" in _texts(sub["items"])

        tree = (await c.get(f"/api/sessions/{web_data.ids['branch']}/tree")).json()
        assert sum(s["leaf"] for s in tree["segments"]) == 2
        forks = [f["session_id"] for s in tree["segments"] for f in s["forks"]]
        assert forks == [web_data.ids["sdk_fork"]]
        cli = (await c.get(f"/api/sessions/{web_data.ids['resume']}/tree")).json()
        assert [f["session_id"] for s in cli["segments"] for f in s["forks"]] == [web_data.ids["cli_fork"]]

        d = (await c.get("/api/diff", params={"a": web_data.ids["resume"], "b": web_data.ids["cli_fork"]})).json()
        assert _texts(d["right"]) == ["forked turn", "echo: forked turn"]

        hits = (await c.get("/api/search", params={"q": "alternative"})).json()["hits"]
        assert web_data.ids["branch"] in {h["session_id"] for h in hits}
        assert any(seg == ["alternative", True] for h in hits for seg in h["snippet"])

        usage = (await c.get(f"/api/sessions/{web_data.ids['resume']}/usage")).json()
        assert usage["totals"]["requests"] == 2

        rich = web_data.ids["rich"]
        items = (await c.get(f"/api/sessions/{rich}/messages")).json()["items"]
        read = next(b for i in items for b in i.get("blocks", ()) if b.get("name") == "Read")
        img = await c.get(f"/api/sessions/{rich}/image/{read['result']['images'][0]['ref']}")
        assert img.status_code == 200 and img.content.startswith(b"\x89PNG")


async def test_store_writes(store: Any, web_data: WebData) -> None:
    async with await _client(store) as ro:
        r = await ro.post(f"/api/sessions/{web_data.ids['single']}/rename", json={"title": "x"})
        assert r.status_code == 403
    async with await _client(store, allow_writes=True) as c:
        c.headers["x-threadline-csrf"] = (await c.get("/api/info")).json()["csrf"]
        sid = web_data.ids["single"]
        assert (await c.post(f"/api/sessions/{sid}/rename", json={"title": "Renamed in the page"})).status_code == 200
        assert (await c.post(f"/api/sessions/{sid}/tag", json={"tag": "web"})).status_code == 200
        row = (await c.get("/api/sessions", params={"tag": "web"})).json()["items"]
        assert [(r["session_id"], r["title"]) for r in row] == [(sid, "Renamed in the page")]
        fork = (await c.post(f"/api/sessions/{sid}/fork", json={"title": "page fork"})).json()
        tree = (await c.get(f"/api/sessions/{sid}/tree")).json()
        assert [f["session_id"] for s in tree["segments"] for f in s["forks"]] == [fork["session_id"]]
        assert (await c.post(f"/api/sessions/{fork['session_id']}/delete", json={})).json()["restorable"] is False
        assert (await c.get(f"/api/sessions/{fork['session_id']}")).status_code == 404
        r = await c.post(f"/api/trash/{fork['session_id']}/restore", json={})
        assert r.status_code == 400 and "no trash" in r.json()["error"]


async def test_a_store_that_cannot_list_projects_needs_them_named(tmp_path: Path) -> None:
    from threadline.sessions import MemoryStore
    from threadline.web._source import UserError

    with pytest.raises(UserError, match="list_projects"):
        StoreSource(MemoryStore())
    src = StoreSource(MemoryStore(), projects=["p"])
    assert await src.rows() == []
