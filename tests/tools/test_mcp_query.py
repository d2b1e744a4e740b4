"""query() with a stdio MCP server: the run ends cleanly, read to the end or left early.

The server's transport is a task group on the client's exit stack; closing it inside a
cancel scope of its own (query() used to shield the whole disconnect) raised "Attempted
to exit a cancel scope that isn't the current task's current cancel scope".
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from threadline import AgentOptions, ResultMessage, query
from threadline.testing._fake_anthropic import FakeAnthropicServer

pytestmark = pytest.mark.anyio

SERVER = Path(__file__).with_name("mcp_echo_server.py")


def _options(project: Path) -> AgentOptions:
    return AgentOptions(
        cwd=str(project),
        setting_sources=[],
        permission_mode="bypassPermissions",
        mcp_servers={"echo": {"command": sys.executable, "args": [str(SERVER)]}},
    )


async def test_query_with_a_stdio_server_ends_cleanly(
    fake: FakeAnthropicServer, project: Path
) -> None:
    fake.script(
        [{"tool_use": {"name": "mcp__echo__echo", "input": {"text": "hi"}}}, {"text": "ok"}]
    )
    messages: list[Any] = [m async for m in query(prompt="go", options=_options(project))]
    assert isinstance(messages[-1], ResultMessage) and not messages[-1].is_error
    assert "echo: hi" in str(fake.message_requests()[-1]["messages"])


async def test_query_left_early_with_a_stdio_server(
    fake: FakeAnthropicServer, project: Path
) -> None:
    fake.script([{"text": "ok"}])
    run = query(prompt="go", options=_options(project))
    async for _message in run:
        break
    await run.aclose()  # type: ignore[attr-defined]
