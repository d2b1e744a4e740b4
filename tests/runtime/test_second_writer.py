"""Two writers resuming the same session: the second one is told, nothing interleaves."""

from __future__ import annotations

from pathlib import Path

import pytest

import threadline
from threadline import AgentClient, ConcurrentModificationError, ResultMessage
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._helpers import options

pytestmark = pytest.mark.anyio


async def _new_session(prompt: str) -> str:
    sid = ""
    async for m in threadline.query(prompt=prompt, options=options()):
        if isinstance(m, ResultMessage):
            sid = m.session_id
    return sid


async def test_second_writer_is_detected(fake: FakeAnthropicServer, project: Path, config_dir: Path) -> None:
    sid = await _new_session("first prompt")
    async with AgentClient(options(resume=sid)) as a, AgentClient(options(resume=sid)) as b:
        await a.query("from A")
        async for _ in a.receive_response():
            pass
        await b.query("from B")
        with pytest.raises(ConcurrentModificationError, match="another writer") as info:
            async for _ in b.receive_response():
                pass
        assert info.value.actual is not None
    texts = [
        m.message["content"] if isinstance(m.message["content"], str) else m.message["content"][0].get("text", "")
        for m in threadline.get_session_messages(sid)
    ]
    assert "from A" in texts and "from B" not in texts
    # The session is intact and resumes: B's owner resumes again and continues.
    async for m in threadline.query(prompt="after the conflict", options=options(resume=sid)):
        if isinstance(m, ResultMessage):
            assert not m.is_error
    sent = fake.message_requests()[-1]["messages"]
    flat = str(sent)
    assert "from A" in flat and "after the conflict" in flat and "from B" not in flat


async def test_metadata_writes_do_not_conflict(fake: FakeAnthropicServer, project: Path) -> None:
    sid = await _new_session("hello")
    async with AgentClient(options(resume=sid)) as client:
        threadline.rename_session(sid, "renamed while open")
        threadline.tag_session(sid, "live")
        await client.query("still fine")
        async for m in client.receive_response():
            if isinstance(m, ResultMessage):
                assert not m.is_error
    info = threadline.get_session_info(sid)
    assert info is not None and info.custom_title == "renamed while open" and info.tag == "live"
