"""MCP tool results side by side: what the model reads and what ``tool_use_result`` holds,
official SDK (its bundled CLI) and threadline, for a stdio server's structured and plain
results and an in-process SDK server's."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import claude_agent_sdk as official
import pytest

import threadline

from .conftest import Duo

pytestmark = [pytest.mark.oracle, pytest.mark.anyio]

SDKS = (official, threadline)
SERVER = Path(__file__).parent.parent / "tools" / "mcp_env_server.py"
CALLS = [
    {"name": "mcp__srv__getenv", "input": {"names": "TL_X"}},
    {"name": "mcp__srv__getenv_text", "input": {"names": "TL_X"}},
    {"name": "mcp__srv__getenv_dict", "input": {"names": "TL_X,TL_UNSET"}},
    {"name": "mcp__inp__hello", "input": {"name": "bob"}},
]


def _in_process(sdk: Any) -> Any:
    @sdk.tool("hello", "Say hello", {"name": str})
    async def hello(args: Any) -> Any:
        return {"content": [{"type": "text", "text": "hi " + args["name"]}]}

    return sdk.create_sdk_mcp_server("inproc", tools=[hello])


async def test_structured_and_plain_results(duo: Duo) -> None:
    """A result with ``structuredContent`` is sent as its compact JSON (non-ASCII kept),
    a plain one as its blocks; ``tool_use_result`` is the CLI's record (content, the
    server's name under ``_meta``, structuredContent) for stdio servers, the blocks for
    in-process ones."""
    sent: dict[Any, list[Any]] = {}
    records: dict[Any, list[Any]] = {}
    for sdk in (official, threadline):
        servers = {
            "srv": {"command": sys.executable, "args": [str(SERVER)]},
            "inp": _in_process(sdk),
        }
        duo.script([{"tool_use": CALLS}, {"text": "done"}])
        duo.fake.clear_requests()
        kw: dict[str, Any] = {
            "mcp_servers": servers,
            "allowed_tools": [c["name"] for c in CALLS],
            "env": {"TL_X": "é ü"},
        }
        opts = duo.official(**kw) if sdk is official else duo.ours(**kw)
        messages = [m async for m in sdk.query(prompt="go", options=opts)]
        assert messages[-1].result == "done", sdk.__name__
        last = duo.fake.message_requests()[-1]["messages"][-1]["content"]
        sent[sdk] = [b["content"] for b in last if b.get("type") == "tool_result"]
        records[sdk] = [
            m.tool_use_result for m in messages if type(m).__name__ == "UserMessage"
        ]
    assert sent[threadline] == sent[official]
    assert sent[threadline][0] == '{"result":"TL_X=é ü"}'
    assert sent[threadline][2] == '{"TL_X":"é ü","TL_UNSET":"-"}'
    assert sent[threadline][1] == [{"type": "text", "text": "TL_X=é ü"}]
    assert records[threadline] == records[official]
    assert records[threadline][2]["structuredContent"] == {"TL_X": "é ü", "TL_UNSET": "-"}


@pytest.mark.parametrize(("tool", "allowed"), [("approve_text", True), ("approve", False)])
async def test_permission_prompt_tool_on_a_stdio_server(duo: Duo, tool: str, allowed: bool) -> None:
    """``permission_prompt_tool_name`` naming a stdio server's tool: a text answer decides;
    a structured one (``{"result": ...}``) is an invalid answer on both SDKs, same error."""
    results = {}
    for sdk in SDKS:
        target = duo.project / f"pp-{tool}-{sdk.__name__}"
        duo.script(
            [
                {"tool_use": {"name": "Bash", "input": {"command": f"touch {target}"}}},
                {"text": "done"},
            ]
        )
        kw: dict[str, Any] = {
            "mcp_servers": {"env": {"command": sys.executable, "args": [str(SERVER)]}},
            "permission_prompt_tool_name": f"mcp__env__{tool}",
        }
        opts = duo.official(**kw) if sdk is official else duo.ours(**kw)
        [m async for m in sdk.query(prompt="go", options=opts)]
        assert target.exists() is allowed, sdk.__name__
        last = duo.fake.message_requests()[-1]["messages"][-1]["content"]
        [result] = [b for b in last if b.get("type") == "tool_result"]
        results[sdk] = (result["content"], result.get("is_error"))
    if not allowed:
        assert results[threadline] == results[official]
