"""Storage stays append-only: what a store keeps for a session grows with its transcript.

A 200-turn session written by the agent runtime (against the fake model server) is
replayed, append for append, into each store. What the store keeps for it (the entries'
bytes, the uuid index, the session's record) is at most 1.1x the transcript's JSONL
bytes, and 200 more turns add as much as the first 200 did (nothing is rewritten).
Engine overhead (row headers, index pages, free space, the allocator's slack) comes on
top; docs/benchmarks.md reports it.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest

from threadline import MemoryStore
from threadline._client import AgentClient
from threadline.runtime._options import AgentOptions
from threadline.testing._fake_anthropic import FakeAnthropicServer
from threadline.transcript._jsonl import dumps_line

from .conftest import Backend

pytestmark = pytest.mark.anyio


class _Recorder(MemoryStore):
    """Records every append the runtime makes (to replay them into other stores)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[Any]] = []

    async def append(self, key: Any, entries: list[Any]) -> None:
        self.calls.append([dict(e) for e in entries])
        await super().append(key, entries)

    async def append_conditional(self, key: Any, entries: list[Any], *, expected_head: Any) -> None:
        self.calls.append([dict(e) for e in entries])
        await super().append_conditional(key, entries, expected_head=expected_head)


@pytest.fixture(scope="module")
def runtime_appends(tmp_path_factory: pytest.TempPathFactory) -> list[list[Any]]:
    """The appends of 400 turns of one session (prompts of ~1 KB, echoed by the model)."""

    async def run() -> list[list[Any]]:
        store = _Recorder()
        with FakeAnthropicServer() as fake, pytest.MonkeyPatch.context() as env:
            env.setenv("ANTHROPIC_BASE_URL", fake.base_url)
            env.setenv("ANTHROPIC_API_KEY", "sk-ant-fake-test")
            env.setenv("CLAUDE_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))
            opts = AgentOptions(session_store=store, cwd=str(tmp_path_factory.mktemp("p")))
            async with AgentClient(opts) as client:
                for i in range(400):
                    await client.query(f"turn {i}: " + "please look at this part of the code " * 25)
                    async for _ in client.receive_response():
                        pass
        return store.calls

    return anyio.run(run)


def _jsonl(calls: list[list[Any]]) -> int:
    return sum(len(dumps_line(e)) for batch in calls for e in batch)


async def _kept(backend: Backend, store: Any, key: Any) -> int:
    """The bytes a store keeps for one session: stored values, not engine overhead."""
    if backend.name in ("postgres",):
        async with store._checkout() as conn:
            cur = await conn.execute(
                f"SELECT (SELECT coalesce(sum(octet_length(c.data) + 12), 0) FROM {store.namespace}.chunks c "
                f" WHERE c.transcript_id = t.id) + (SELECT coalesce(sum(octet_length(u.uuid) + 8), 0) "
                f" FROM {store.namespace}.uuids u WHERE u.transcript_id = t.id) "
                f" + pg_column_size(t.*) FROM {store.namespace}.transcripts t "
                "WHERE project_key = %s AND session_id = %s", (key["project_key"], key["session_id"]))
            row = await cur.fetchone()
            return int(row[0])
    if backend.name == "sqlite":
        def size(conn: Any) -> int:
            return int(conn.execute(
                "SELECT (SELECT coalesce(sum(length(c.data) + 12), 0) FROM chunks c "
                " WHERE c.transcript_id = t.id) + (SELECT coalesce(sum(length(u.uuid) + 8), 0) "
                " FROM uuids u WHERE u.transcript_id = t.id) + length(t.summary) + 64 "
                "FROM transcripts t WHERE project_key = ? AND session_id = ?",
                (key["project_key"], key["session_id"])).fetchone()[0])
        return await store._call(size)
    client = await store._ready()  # Redis: the values of the session's keys
    t, c, n, u, _ = store._keys(key)
    record = sum(len(f) + len(v) for f, v in (await client.hgetall(t)).items())
    chunks = sum(len(x) + 12 for x in await client.lrange(c, 0, -1))
    counts = sum(len(x) for x in await client.lrange(n, 0, -1))
    uuids = sum(len(f) + len(v) for f, v in (await client.hgetall(u)).items())
    return record + chunks + counts + uuids


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres", "redis"], indirect=True)
async def test_storage_is_append_only_and_at_most_1_1x_the_jsonl(
    backend: Backend, runtime_appends: list[list[Any]], tmp_path: Path
) -> None:
    store = backend.make()
    key = {"project_key": "-size", "session_id": str(uuid.uuid4())}
    half = len(runtime_appends) // 2
    first, second = runtime_appends[:half], runtime_appends[half:]
    for batch in first:
        await store.append(key, batch)
    after_first = await _kept(backend, store, key)
    for batch in second:
        await store.append(key, batch)
    after_all = await _kept(backend, store, key)
    jsonl_first, jsonl_all = _jsonl(first), _jsonl(runtime_appends)
    assert after_first <= 1.1 * jsonl_first, f"{after_first / jsonl_first:.3f}x after 200 turns"
    assert after_all <= 1.1 * jsonl_all, f"{after_all / jsonl_all:.3f}x after 400 turns"
    grown = (after_all - after_first) / (jsonl_all - jsonl_first)
    assert grown <= 1.1, f"the second 200 turns cost {grown:.3f}x their JSONL (a rewrite?)"
