"""MCP servers as tools: ``open_mcp_tools`` turns ``mcp_servers`` configs into Tools.

Accepted config shapes (those of ``claude_agent_sdk``), keyed by server name:

* ``{"type": "stdio" (optional), "command": str, "args": [...], "env": {...}}``:
  the server is spawned and spoken to over stdio with the ``mcp`` package.
* ``{"type": "sdk", "name": str, "instance": obj}``: ``obj`` is either a
  threadline :class:`~threadline.tools.SdkMcpServer` (tools run in-process,
  no transport, ``mcp`` not needed) or an ``mcp.server.Server`` (for example
  from ``claude_agent_sdk.create_sdk_mcp_server``), served in-process over an
  in-memory MCP transport.

Every tool is named ``mcp__<server>__<tool>``. ``sse``/``http`` servers are not
supported yet and raise :class:`~threadline.UserError`.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import anyio

from .._exceptions import ToolError, UserError
from ._base import Tool, ToolContext, ToolResult
from ._content import mcp_result_to_blocks
from ._decorator import SdkMcpServer, mcp_tool_name

__all__ = ["McpTool", "open_mcp_tools"]

_MCP_EXTRA_HINT = "MCP servers need the 'mcp' package: pip install 'threadline[mcp]'"


def _import_mcp() -> Any:
    try:
        import mcp
        import mcp.client.stdio
    except ImportError as exc:
        raise ImportError(_MCP_EXTRA_HINT) from exc
    return mcp


def _dump(model: Any) -> dict[str, Any]:
    """A pydantic MCP model as its wire-shaped dict (camelCase keys, no nulls)."""
    if isinstance(model, dict):
        return model
    dumped: dict[str, Any] = model.model_dump(by_alias=True, mode="json", exclude_none=True)
    return dumped


class McpTool:
    """A tool served by a connected MCP ``ClientSession``."""

    def __init__(self, server_name: str, session: Any, wire_tool: Mapping[str, Any]) -> None:
        self.session = session
        self.server_name = server_name
        self.mcp_name: str = wire_tool["name"]
        self.name = mcp_tool_name(server_name, self.mcp_name)
        self.description: str = wire_tool.get("description") or ""
        schema = wire_tool.get("inputSchema") or {"type": "object", "properties": {}}
        self.input_schema: dict[str, Any] = dict(schema)
        annotations = wire_tool.get("annotations") or {}
        self.read_only = bool(annotations.get("readOnlyHint", False))

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """``tools/call`` on the server; MCP content becomes tool_result blocks."""
        result = _dump(await self.session.call_tool(self.mcp_name, input))
        blocks = mcp_result_to_blocks(result.get("content"), result.get("structuredContent"))
        return ToolResult(
            content=blocks, is_error=bool(result.get("isError", False)), structured=blocks
        )


async def _list_tools(session: Any) -> list[dict[str, Any]]:
    """Every tool of the session, following pagination (mcp 1.x and 2.x call styles)."""
    tools: list[dict[str, Any]] = []
    cursor: str | None = None
    params = inspect.signature(session.list_tools).parameters
    while True:
        if cursor is None:
            page = _dump(await session.list_tools())
        elif "params" in params:
            import mcp.types

            page_params = mcp.types.PaginatedRequestParams(cursor=cursor)
            page = _dump(await session.list_tools(params=page_params))
        else:
            page = _dump(await session.list_tools(cursor=cursor))
        tools.extend(page.get("tools", []))
        cursor = page.get("nextCursor")
        if not cursor:
            return tools


async def _open_session(mcp: Any, read: Any, write: Any, stack: contextlib.AsyncExitStack) -> Any:
    session = await stack.enter_async_context(mcp.ClientSession(read, write))
    await session.initialize()
    return session


async def _connect_stdio(
    name: str, config: Mapping[str, Any], stack: contextlib.AsyncExitStack, errlog: TextIO
) -> Any:
    mcp = _import_mcp()
    if not config.get("command"):
        raise UserError(f"MCP server {name!r}: stdio config needs a 'command'")
    params = mcp.client.stdio.StdioServerParameters(
        command=config["command"],
        args=list(config.get("args") or []),
        env=dict(config["env"]) if config.get("env") else None,
        **({"cwd": config["cwd"]} if config.get("cwd") else {}),
    )
    read, write = await stack.enter_async_context(
        mcp.client.stdio.stdio_client(params, errlog=errlog)
    )
    return await _open_session(mcp, read, write, stack)


async def _connect_in_memory(server: Any, stack: contextlib.AsyncExitStack) -> Any:
    """Serve an ``mcp.server.Server`` in a background task, over in-memory streams."""
    mcp = _import_mcp()
    from mcp.shared.memory import create_client_server_memory_streams

    client_streams, server_streams = await stack.enter_async_context(
        create_client_server_memory_streams()
    )
    tg = await stack.enter_async_context(anyio.create_task_group())
    stack.callback(tg.cancel_scope.cancel)  # runs before the task group exits
    tg.start_soon(server.run, *server_streams, server.create_initialization_options())
    return await _open_session(mcp, *client_streams, stack)


async def open_mcp_tools(
    servers: Mapping[str, Any],
    stack: contextlib.AsyncExitStack,
    *,
    errlog: TextIO | None = None,
) -> list[Tool]:
    """Connect to every server in ``servers`` and return their tools.

    Connections (subprocesses, sessions, in-memory servers) are registered on
    ``stack`` and closed when it closes, so keep the stack open for as long as
    the tools are used, and close it from the same task that opened it.
    ``errlog`` receives stdio servers' stderr (default ``sys.stderr``).

    Raises :class:`~threadline.UserError` for an unsupported or malformed
    config, ``ImportError`` if ``mcp`` is needed but missing, and
    :class:`~threadline.ToolError` (chaining the cause) if a server cannot be
    started or listed.
    """
    tools: list[Tool] = []
    for name, config in servers.items():
        if not isinstance(config, Mapping):
            raise UserError(f"MCP server {name!r}: config must be a mapping, not {config!r}")
        kind = config.get("type", "stdio")
        if kind == "sdk":
            instance = config.get("instance")
            if isinstance(instance, SdkMcpServer):
                tools.extend(instance.as_tools(name))
                continue
            if instance is None or not hasattr(instance, "create_initialization_options"):
                raise UserError(
                    f"MCP server {name!r}: sdk config 'instance' must be a threadline "
                    "SdkMcpServer or an mcp.server.Server"
                )
            connect = _connect_in_memory(instance, stack)
        elif kind == "stdio":
            connect = _connect_stdio(name, config, stack, errlog or sys.stderr)
        else:
            raise UserError(f"MCP server {name!r}: transport type {kind!r} is not supported")
        try:
            session = await connect
            wire_tools = await _list_tools(session)
        except (ImportError, UserError):
            raise
        except Exception as exc:
            raise ToolError(f"MCP server {name!r} failed to start: {exc}") from exc
        tools.extend(McpTool(name, session, wt) for wt in wire_tools)
    return tools
