"""Partial loads: a resume from a store reads only what it sends.

The conformance kit checks every store's partial loads against a full ``load``; these
tests check what they are for: a 100 000-entry session compacted at 98 % is resumed by
fetching at most 5 % of its bytes, and ``get_session_messages_from_store`` and the
runtime's resume give the same result as with a full load while reading less.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from threadline._client import AgentClient
from threadline._messages import ResultMessage
from threadline.providers import RetryPolicy
from threadline.runtime._options import AgentOptions
from threadline.sessions import get_session_messages_from_store
from threadline.sessions._paths import project_key_for_directory
from threadline.testing._fake_anthropic import FakeAnthropicServer

from .conftest import Backend

pytestmark = pytest.mark.anyio

DB = ["sqlite", "postgres", "redis", "redis_cluster"]


def _options(**kw: Any) -> AgentOptions:
    return AgentOptions(retry_policy=RetryPolicy(max_retries=3, base_delay_s=0.0, max_delay_s=0.0), **kw)


async def _turn(client: AgentClient, prompt: str) -> None:
    await client.query(prompt)
    out = [m async for m in client.receive_response()]
    assert isinstance(out[-1], ResultMessage) and not out[-1].is_error, out[-1]


def _sent(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of every block sent (a summary shortened to 'SUMMARY')."""
    out: list[tuple[str, str]] = []
    for m in body["messages"]:
        content = m["content"]
        for b in [{"type": "text", "text": content}] if isinstance(content, str) else content:
            text = b.get("text", b.get("type", ""))
            out.append((m["role"], "SUMMARY" if text.startswith("This session is being") else text))
    return out


def _chain(sid: str, n: int, parent: str | None = None, start: int = 0) -> list[dict[str, Any]]:
    out = []
    for i in range(start, start + n):
        kind = "user" if i % 2 == 0 else "assistant"
        e = {"type": kind, "uuid": str(uuid.uuid4()), "parentUuid": parent, "sessionId": sid,
             "message": {"role": kind, "content": f"m{i} " + "x" * 80}}
        parent = e["uuid"]
        out.append(e)
    return out


def _compaction(preserved: str) -> list[dict[str, Any]]:
    boundary = {"type": "system", "subtype": "compact_boundary", "uuid": str(uuid.uuid4()),
                "parentUuid": None, "logicalParentUuid": preserved, "content": "Conversation compacted",
                "compactMetadata": {"trigger": "auto", "preservedSegment": {
                    "headUuid": preserved, "anchorUuid": "", "tailUuid": preserved}}}
    summary = {"type": "user", "uuid": str(uuid.uuid4()), "parentUuid": boundary["uuid"],
               "isCompactSummary": True, "isVisibleInTranscriptOnly": True,
               "message": {"role": "user", "content": "This session is being continued... SUMMARY"}}
    boundary["compactMetadata"]["preservedSegment"]["anchorUuid"] = summary["uuid"]
    return [boundary, summary]


async def _compacted_session(
    store: Any, key: Any, total: int, at: float, batch: int = 1000
) -> list[Any]:
    """``total`` entries, compacted after ``at`` of them (the last one preserved), the
    history written ``batch`` entries per append (a partial load reads whole appends)."""
    cut = int(total * at)
    before = _chain(key["session_id"], cut)
    for i in range(0, cut, batch):
        await store.append(key, before[i : i + batch])
    marker = _compaction(before[-1]["uuid"])
    await store.append(key, marker)
    after = _chain(key["session_id"], total - cut - 2, marker[1]["uuid"], start=cut)
    for i in range(0, len(after), 100):
        await store.append(key, after[i : i + 100])
    return [*before, *marker, *after]


@pytest.mark.slow
@pytest.mark.parametrize("backend", DB, indirect=True)
async def test_resuming_100k_entries_compacted_at_98_percent_reads_at_most_5_percent(
    backend: Backend,
) -> None:
    store = backend.make()
    key = {"project_key": "-big", "session_id": str(uuid.uuid4())}
    written = await _compacted_session(store, key, 100_000, 0.98)
    store.bytes_read = 0
    full = await store.load(key)
    assert full is not None and len(full) == len(written)
    total, store.bytes_read = store.bytes_read, 0
    part = await store.load_since_compaction(key)
    assert part == full[98_000 - 1 :]  # from the preserved entry on
    assert store.bytes_read <= 0.05 * total, f"read {store.bytes_read / total:.1%} of the session"
    store.bytes_read = 0
    assert await store.load_tail(key, 20) == full[-20:]
    assert store.bytes_read <= 0.01 * total


class FullLoads:
    """A store offering only what the official protocol has: every read loads in full."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def append(self, key: Any, entries: list[Any]) -> None:
        await self._inner.append(key, entries)

    async def load(self, key: Any) -> Any:
        return await self._inner.load(key)

    async def list_sessions(self, project_key: str) -> Any:
        return await self._inner.list_sessions(project_key)

    async def find_session(self, session_id: str) -> Any:
        return await self._inner.find_session(session_id)


@pytest.mark.parametrize("backend", ["memory", "file", *DB], indirect=True)
async def test_session_messages_of_a_compacted_session_read_only_the_live_part(
    backend: Backend, project: Path
) -> None:
    store = backend.make()
    key = {"project_key": project_key_for_directory(str(project)), "session_id": str(uuid.uuid4())}
    await _compacted_session(store, key, 2_000, 0.9, batch=20)
    expected = await get_session_messages_from_store(FullLoads(store), key["session_id"])
    assert expected[0].message["content"].endswith("SUMMARY") and len(expected) == 1 + 198
    if hasattr(store, "bytes_read"):
        full = store.bytes_read
        store.bytes_read = 0
    got = await get_session_messages_from_store(store, key["session_id"])
    assert got == expected
    if hasattr(store, "bytes_read"):
        assert store.bytes_read < 0.15 * full


@pytest.mark.parametrize("backend", ["sqlite", "postgres", "redis"], indirect=True)
async def test_resume_from_a_store_reads_only_since_the_compaction(
    backend: Backend, fake: FakeAnthropicServer, project: Path
) -> None:
    store = backend.make()
    client = AgentClient(_options(session_store=store, cwd=str(project)))
    await client.connect()
    try:
        for i in range(12):
            await _turn(client, f"prompt {i} " + "y" * 2000)
        await client.compact()
        await _turn(client, "after the compaction")
        sid = client.session_id
    finally:
        await client.disconnect()
    assert sid is not None

    async def resume(through: Any) -> list[tuple[str, str]]:
        async with AgentClient(_options(session_store=through, cwd=str(project), resume=sid,
                                       fork_session=True)) as c:
            await _turn(c, "and now?")
        return _sent(fake.message_requests()[-1])

    expected = await resume(FullLoads(store))
    store.bytes_read = 0
    await store.load({"project_key": project_key_for_directory(str(project)), "session_id": sid})
    full, store.bytes_read = store.bytes_read, 0
    assert await resume(store) == expected
    assert expected[0] == ("user", "SUMMARY") and expected[-1] == ("user", "and now?")
    assert store.bytes_read < 0.5 * full, (store.bytes_read, full)
