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
        # structuredContent is sent as its compact JSON, as the CLI sends it
        assert result.content == '{"result":"echo: hi"}'
        assert result.structured["structuredContent"] == {"result": "echo: hi"}
        assert not result.is_error

        result = await run_tool(by_name["mcp__echo__add"], {"a": 2, "b": "3"}, ctx)
        assert result.content == '{"result":"5"}'

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
            await open_mcp_tools({"w": {"type": "websocket", "url": "ws://x"}}, stack)
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


# ----------------------------------------------------------------------------- http / sse


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=["http", "sse"])
def network_server(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A real MCP server over ``http`` (streamable HTTP) or ``sse`` on 127.0.0.1."""
    import socket
    import subprocess
    import time

    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), request.param, str(port)], stdout=log, stderr=log
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"MCP {request.param} server did not start", pytrace=False)
            time.sleep(0.05)
    path = "/mcp" if request.param == "http" else "/sse"
    yield request.param, f"http://127.0.0.1:{port}{path}"
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


async def test_network_transports(ctx: ToolContext, network_server: Any) -> None:
    from threadline.tools import open_mcp_servers

    kind, url = network_server
    async with contextlib.AsyncExitStack() as stack:
        opened = await open_mcp_servers(
            {"net": {"type": kind, "url": url, "headers": {"x-test": "1"}}}, stack
        )
        status = opened.status[0]
        assert status["status"] == "connected", status
        assert status["transport"] == kind and status["config"] == {"type": kind, "url": url}
        by_name = {t.name: t for t in opened.tools}
        assert set(by_name) == {"mcp__net__echo", "mcp__net__add", "mcp__net__fail"}
        result = await run_tool(by_name["mcp__net__echo"], {"text": "over " + kind}, ctx)
        assert result.content == f'{{"result":"echo: over {kind}"}}'


async def test_failed_servers_are_reported_not_raised(ctx: ToolContext, errlog: Any) -> None:
    from threadline.tools import open_mcp_servers

    dead = _free_port()
    servers = {
        "broken": {"command": "/nonexistent/server"},
        "deadhttp": {"type": "http", "url": f"http://127.0.0.1:{dead}/mcp"},
        "deadsse": {"type": "sse", "url": f"http://127.0.0.1:{dead}/sse"},
        "echo": {"command": sys.executable, "args": [str(SERVER)]},
    }
    async with contextlib.AsyncExitStack() as stack:
        opened = await open_mcp_servers(servers, stack, errlog=errlog, timeout_s=20)
        assert [(s["name"], s["status"]) for s in opened.status] == [
            ("broken", "failed"),
            ("deadhttp", "failed"),
            ("deadsse", "failed"),
            ("echo", "connected"),
        ]
        assert all(s["error"] for s in opened.status[:3])
        assert opened.init_entries()[0] == {
            "name": "broken", "status": "failed", "source": "dynamic"
        }
        assert {t.name for t in opened.tools} == {
            "mcp__echo__echo", "mcp__echo__add", "mcp__echo__fail"
        }
    with pytest.raises(UserError, match="needs a 'url'"):
        await open_mcp_servers({"x": {"type": "http"}}, contextlib.AsyncExitStack())
