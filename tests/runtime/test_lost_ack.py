"""A commit that lands but whose acknowledgement is lost (issue #15 item 8).

The store keeps the batch, the client hears an error. Before: every later turn of that
live client raised ``ConcurrentModificationError`` ("another process or host resumed it")
about its own write. Now the client reads the head again and adopts its own batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from threadline import (
    AgentClient,
    ConcurrentModificationError,
    FileStore,
    ResultMessage,
    StorageError,
)
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._helpers import options

pytestmark = pytest.mark.anyio


class LostAckStore(FileStore):
    """Commits the append, then fails as a connection cut after COMMIT would."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.drop_next_ack = False
        self.head_fails = False

    async def append_conditional(
        self, key: Any, entries: Any, *, expected_head: str | None
    ) -> None:
        await super().append_conditional(key, entries, expected_head=expected_head)
        if self.drop_next_ack:
            self.drop_next_ack = False
            raise StorageError("server closed the connection unexpectedly (after COMMIT)")

    async def get_head(self, key: Any) -> str | None:
        if self.head_fails:
            self.head_fails = False
            raise StorageError("still disconnected")
        return await super().get_head(key)


async def _turn(client: AgentClient, prompt: str) -> ResultMessage:
    await client.query(prompt)
    result = None
    async for m in client.receive_response():
        if isinstance(m, ResultMessage):
            result = m
    assert result is not None and not result.is_error
    return result


async def test_a_lost_ack_is_adopted_not_a_second_writer(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path
) -> None:
    store = LostAckStore(tmp_path / "store")
    async with AgentClient(options(session_store=store)) as client:
        await _turn(client, "one")
        store.drop_next_ack = True
        await _turn(client, "two")  # the append failed but had landed: adopted
        await _turn(client, "three")
        await _turn(client, "four")
    sent = str(fake.message_requests()[-1]["messages"])
    assert all(w in sent for w in ("one", "two", "three", "four"))


async def test_a_lost_ack_with_the_head_unreadable_recovers_on_the_next_turn(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path
) -> None:
    store = LostAckStore(tmp_path / "store")
    async with AgentClient(options(session_store=store)) as client:
        await _turn(client, "one")
        store.drop_next_ack = True
        store.head_fails = True
        await client.query("two")
        with pytest.raises(StorageError):  # not known whether it landed: said so
            async for _ in client.receive_response():
                pass
        await _turn(client, "three")  # its own write is recognised, not another writer's
        await _turn(client, "four")


async def test_a_real_second_writer_is_still_detected(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path
) -> None:
    store = LostAckStore(tmp_path / "store")
    async with AgentClient(options(session_store=store)) as a:
        result = await _turn(a, "one")
        async with AgentClient(options(session_store=store, resume=result.session_id)) as b:
            await _turn(b, "from b")
            await a.query("from a")
            with pytest.raises(ConcurrentModificationError, match="another writer"):
                async for _ in a.receive_response():
                    pass
