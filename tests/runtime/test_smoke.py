from __future__ import annotations

from pathlib import Path

import pytest

from threadline._messages import AssistantMessage, ResultMessage, SystemMessage, TextBlock
from threadline._query import query
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._helpers import options, transcript

pytestmark = pytest.mark.anyio


async def test_one_turn(fake: FakeAnthropicServer, project: Path, config_dir: Path) -> None:
    fake.script([{"text": "hello there"}])
    msgs = [m async for m in query(prompt="hi", options=options())]
    assert isinstance(msgs[0], SystemMessage) and msgs[0].subtype == "init"
    assert isinstance(msgs[1], AssistantMessage)
    assert msgs[1].content == [TextBlock(text="hello there")]
    result = msgs[-1]
    assert isinstance(result, ResultMessage)
    assert result.result == "hello there" and not result.is_error
    entries = transcript(config_dir, result.session_id)
    assert [e["type"] for e in entries] == ["user", "assistant"]
