"""open_mcp_tools with a real stdio MCP server (tests/tools/mcp_echo_server.py)."""

from __future__ import annotations

import builtins
import contextlib
import sys
from pathlib import Path
from typing import Any

import pytest

from threadline import ToolError, UserError
from threadline.tools import ToolContext, open_mcp_tools, run_tool

pytestmark = pytest.mark.anyio

SERVER = Path(__file__).with_name("mcp_echo_server.py")


@pytest.fixture
def errlog(tmp_path: Path) -> Any:
    with (tmp_path / "mcp-stderr.log").open("w") as fh:
        yield fh


async def test_stdio_server_tools(ctx: ToolContext, errlog: Any) -> None:
    config = {"command": sys.executable, "args": [str(SERVER)], "env": {"ECHO_TEST": "1"}}
    async with contextlib.AsyncExitStack() as stack:
        tools = await open_mcp_tools({"echo": config}, stack, errlog=errlog)
        by_name = {t.name: t for t in tools}
        assert set(by_name) == {"mcp__echo__echo", "mcp__echo__add", "mcp__echo__fail"}
        echo = by_name["mcp__echo__echo"]
        assert echo.description == "Echo the text back."
        assert echo.input_schema["required"] == ["text"]
        assert echo.read_only is False

        result = await run_tool(echo, {"text": "hi"}, ctx)
        assert result.content == [{"type": "text", "text": "echo: hi"}]
        assert not result.is_error

        result = await run_tool(by_name["mcp__echo__add"], {"a": 2, "b": "3"}, ctx)
        assert result.content == [{"type": "text", "text": "5"}]

        result = await run_tool(by_name["mcp__echo__fail"], {"reason": "x"}, ctx)
        assert result.is_error

        result = await run_tool(echo, {}, ctx)
        assert result.is_error and "InputValidationError" in str(result.content)


async def test_explicit_stdio_type_and_mixed_servers(ctx: ToolContext, errlog: Any) -> None:
    from threadline.tools import create_sdk_mcp_server, tool

    @tool("ping", "Ping", {})
    async def ping(args: dict[str, Any]) -> dict[str, Any]:
        return {"content": [{"type": "text", "text": "pong"}]}

    servers = {
        "a": {"type": "stdio", "command": sys.executable, "args": [str(SERVER)]},
        "b": create_sdk_mcp_server("b", tools=[ping]),
    }
    async with contextlib.AsyncExitStack() as stack:
        tools = await open_mcp_tools(servers, stack, errlog=errlog)
        names = [t.name for t in tools]
        assert "mcp__a__echo" in names and "mcp__b__ping" in names


async def test_bad_command_is_tool_error(errlog: Any) -> None:
    async with contextlib.AsyncExitStack() as stack:
        with pytest.raises(ToolError, match="'broken' failed to start"):
            await open_mcp_tools(
                {"broken": {"command": sys.executable, "args": ["-c", "import sys; sys.exit(3)"]}},
                stack,
                errlog=errlog,
            )


async def test_unsupported_and_malformed_configs() -> None:
    async with contextlib.AsyncExitStack() as stack:
        with pytest.raises(UserError, match="not supported"):
            await open_mcp_tools({"w": {"type": "http", "url": "http://x"}}, stack)
        with pytest.raises(UserError, match="needs a 'command'"):
            await open_mcp_tools({"w": {"type": "stdio"}}, stack)
        with pytest.raises(UserError, match="instance"):
            await open_mcp_tools({"w": {"type": "sdk", "name": "w", "instance": object()}}, stack)


async def test_missing_mcp_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "mcp" or name.startswith("mcp."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    async with contextlib.AsyncExitStack() as stack:
        with pytest.raises(ImportError, match=r"pip install 'threadline\[mcp\]'"):
            await open_mcp_tools({"x": {"command": "true"}}, stack)
