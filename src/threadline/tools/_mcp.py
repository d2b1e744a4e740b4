"""MCP servers as tools: ``open_mcp_servers`` turns ``mcp_servers`` configs into Tools.

Accepted config shapes (those of ``claude_agent_sdk``), keyed by server name:

* ``{"type": "stdio" (optional), "command": str, "args": [...], "env": {...}}``:
  the server is spawned and spoken to over stdio with the ``mcp`` package.
* ``{"type": "http", "url": str, "headers": {...}}``: streamable HTTP.
* ``{"type": "sse", "url": str, "headers": {...}}``: the older HTTP + SSE transport.
* ``{"type": "sdk", "name": str, "instance": obj}``: ``obj`` is either a
  threadline :class:`~threadline.tools.SdkMcpServer` (tools run in-process,
  no transport, ``mcp`` not needed) or an ``mcp.server.Server`` (for example
  from ``claude_agent_sdk.create_sdk_mcp_server``), served in-process over an
  in-memory MCP transport.

Every tool is named ``mcp__<server>__<tool>``. As in Claude Code, a server that cannot be
started, reached or listed within :data:`CONNECT_TIMEOUT_S` does not stop the run: it is
reported ``failed`` (with the error) in the init message and ``get_mcp_status()``, and its
tools are simply absent. A malformed config is still a :class:`~threadline.UserError`.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import anyio
import anyio.lowlevel

from .._exceptions import ToolError, UserError
from ._base import Tool, ToolContext, ToolResult
from ._content import mcp_result_to_blocks
from ._decorator import SdkMcpServer, mcp_tool_name

__all__ = ["CONNECT_TIMEOUT_S", "McpConnections", "McpTool", "open_mcp_servers", "open_mcp_tools"]

CONNECT_TIMEOUT_S = 30.0
"""How long one server may take to start (or answer) and list its tools."""

_log = logging.getLogger("threadline.tools")
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

    def __init__(
        self,
        server_name: str,
        session: Any,
        wire_tool: Mapping[str, Any],
        *,
        server_info: str | None = None,
    ) -> None:
        self.session = session
        self.server_name = server_name
        self.server_info = server_info if server_info is not None else server_name
        self.mcp_name: str = wire_tool["name"]
        self.name = mcp_tool_name(server_name, self.mcp_name)
        self.description: str = wire_tool.get("description") or ""
        schema = wire_tool.get("inputSchema") or {"type": "object", "properties": {}}
        self.input_schema: dict[str, Any] = dict(schema)
        annotations = wire_tool.get("annotations") or {}
        self.read_only = bool(annotations.get("readOnlyHint", False))

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """``tools/call`` on the server, as the CLI turns the result into a tool_result.

        A successful result with ``structuredContent`` reaches the model as that object's
        compact JSON (the content blocks are not sent); otherwise the content becomes
        tool_result blocks. ``toolUseResult`` is the CLI's record: the content sent, the
        server's name under ``_meta``, and the ``structuredContent``."""
        result = _dump(await self.session.call_tool(self.mcp_name, input))
        structured = result.get("structuredContent")
        is_error = bool(result.get("isError", False))
        blocks = mcp_result_to_blocks(result.get("content"), structured)
        if is_error:
            return ToolResult(content=blocks, is_error=True, structured=blocks)
        content: str | list[dict[str, Any]] = blocks
        if structured is not None:
            content = json.dumps(structured, ensure_ascii=False, separators=(",", ":"))
        record: dict[str, Any] = {
            "content": content,
            "_meta": {
                "io.modelcontextprotocol/serverInfo": {"name": self.server_info, "version": ""}
            },
        }
        if structured is not None:
            record["structuredContent"] = structured
        return ToolResult(content=content, structured=record)


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


_HANDSHAKE_TIMEOUT_S: contextvars.ContextVar[float] = contextvars.ContextVar(
    "threadline_mcp_handshake_timeout", default=CONNECT_TIMEOUT_S
)


async def _open_session(mcp: Any, read: Any, write: Any, stack: contextlib.AsyncExitStack) -> Any:
    session = await stack.enter_async_context(mcp.ClientSession(read, write))
    # The timeout covers the handshake only: a cancel scope must not span the contexts
    # entered above, which stay open after this returns.
    with anyio.fail_after(_HANDSHAKE_TIMEOUT_S.get()):
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
        env={str(k): str(v) for k, v in config["env"].items()} if config.get("env") else None,
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


def _headers(name: str, config: Mapping[str, Any]) -> dict[str, str] | None:
    headers = config.get("headers")
    if headers is None:
        return None
    if not isinstance(headers, Mapping):
        raise UserError(f"MCP server {name!r}: headers must be a dict, not {headers!r}")
    return {str(k): str(v) for k, v in headers.items()}


async def _connect_http(
    name: str, config: Mapping[str, Any], stack: contextlib.AsyncExitStack
) -> Any:
    """Streamable HTTP (``mcp`` 2.x ``streamable_http_client``, 1.x ``streamablehttp_client``)."""
    mcp = _import_mcp()
    import mcp.client.streamable_http as http

    url, headers = str(config["url"]), _headers(name, config)
    if hasattr(http, "streamable_http_client"):
        from mcp.shared._httpx_utils import create_mcp_http_client

        client = await stack.enter_async_context(create_mcp_http_client(headers=headers))
        streams = await stack.enter_async_context(
            http.streamable_http_client(url, http_client=client)
        )
    else:  # pragma: no cover - mcp 1.x
        legacy = getattr(http, "streamablehttp_client")  # noqa: B009
        streams = await stack.enter_async_context(legacy(url, headers=headers))
    read, write = streams[0], streams[1]
    return await _open_session(mcp, read, write, stack)


async def _connect_sse(name: str, config: Mapping[str, Any], stack: contextlib.AsyncExitStack) -> Any:
    mcp = _import_mcp()
    from mcp.client.sse import sse_client

    read, write = await stack.enter_async_context(
        sse_client(str(config["url"]), headers=_headers(name, config))
    )
    return await _open_session(mcp, read, write, stack)


def _describe(exc: BaseException) -> str:
    """The innermost useful message of a (possibly grouped) connection error."""
    while isinstance(getattr(exc, "exceptions", None), tuple) and exc.exceptions:  # type: ignore[attr-defined]
        exc = exc.exceptions[0]  # type: ignore[attr-defined]
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text}: {cause}"
    return text


@dataclass
class McpConnections:
    """The outcome of :func:`open_mcp_servers`: the tools and each server's status."""

    tools: list[Tool] = field(default_factory=list)
    status: list[dict[str, Any]] = field(default_factory=list)
    """Per server, in config order: ``name``, ``status`` (``connected``/``failed``),
    ``source``, and ``error`` / ``serverInfo``, ``config``, ``transport``, ``tools`` as the
    official ``McpServerStatus`` has them."""

    def init_entries(self) -> list[dict[str, Any]]:
        """The init message's ``mcp_servers``: ``{name, status, source}``."""
        return [{"name": s["name"], "status": s["status"], "source": s["source"]} for s in self.status]


def _public_config(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    if kind == "stdio":
        return {"type": "stdio", "command": config.get("command"), "args": list(config.get("args") or [])}
    if kind in ("http", "sse"):
        return {"type": kind, "url": config.get("url")}
    return {"type": "sdk", "name": config.get("name")}


def _check_config(name: str, config: Any) -> str:
    if not isinstance(config, Mapping):
        raise UserError(f"MCP server {name!r}: config must be a mapping, not {config!r}")
    kind = str(config.get("type", "stdio"))
    if kind not in ("stdio", "http", "sse", "sdk"):
        raise UserError(
            f"MCP server {name!r}: transport type {kind!r} is not supported "
            "(stdio, http, sse or sdk)"
        )
    if kind == "stdio" and not config.get("command"):
        raise UserError(f"MCP server {name!r}: stdio config needs a 'command'")
    if kind == "stdio" and not isinstance(config.get("env") or {}, Mapping):
        raise UserError(f"MCP server {name!r}: env must be a dict, not {config['env']!r}")
    if kind in ("http", "sse") and not isinstance(config.get("url"), str):
        raise UserError(f"MCP server {name!r}: {kind} config needs a 'url'")
    if kind == "sdk":
        instance = config.get("instance")
        if not isinstance(instance, SdkMcpServer) and not hasattr(
            instance, "create_initialization_options"
        ):
            raise UserError(
                f"MCP server {name!r}: sdk config 'instance' must be a threadline "
                "SdkMcpServer or an mcp.server.Server"
            )
    return kind


async def _close_failed(stack: contextlib.AsyncExitStack, exc: BaseException) -> Exception:
    """Close a server's half-open contexts after ``exc``; the error to report.

    A transport whose background task fails cancels its task group, so the failure first
    shows up here as a cancellation; closing the group turns it back into the transport's
    own error. A cancellation of the caller, ``KeyboardInterrupt``, a malformed config and
    a missing ``mcp`` package propagate.
    """
    failure: BaseException = exc
    try:
        await stack.aclose()
    except Exception as inner:
        if isinstance(exc, anyio.get_cancelled_exc_class()):
            failure = inner
    if isinstance(failure, (ImportError, UserError)) or not isinstance(
        failure, (Exception, anyio.get_cancelled_exc_class())
    ):
        raise failure
    if isinstance(failure, anyio.get_cancelled_exc_class()):
        await anyio.lowlevel.checkpoint_if_cancelled()  # raises if we were cancelled
        return ConnectionError("the connection was closed during the handshake")
    assert isinstance(failure, Exception)
    return failure


async def _open_one(
    name: str,
    kind: str,
    config: Mapping[str, Any],
    stack: contextlib.AsyncExitStack,
    errlog: TextIO,
    timeout_s: float,
) -> tuple[Any, list[dict[str, Any]]]:
    _HANDSHAKE_TIMEOUT_S.set(timeout_s)
    if kind == "sdk":
        session = await _connect_in_memory(config["instance"], stack)
    elif kind == "stdio":
        session = await _connect_stdio(name, config, stack, errlog)
    elif kind == "http":
        session = await _connect_http(name, config, stack)
    else:
        session = await _connect_sse(name, config, stack)
    with anyio.fail_after(_HANDSHAKE_TIMEOUT_S.get()):
        return session, await _list_tools(session)


async def open_mcp_servers(
    servers: Mapping[str, Any],
    stack: contextlib.AsyncExitStack,
    *,
    errlog: TextIO | None = None,
    timeout_s: float = CONNECT_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
) -> McpConnections:
    """Connect to every server in ``servers``; a server that fails is reported, not raised.

    A stdio server starts with this process's environment, then ``env`` (the run's
    ``AgentOptions.env`` with the settings' ``env`` over it), then its config's own
    ``env``, later values winning: what the ``claude`` CLI gives the servers it starts.

    Connections (subprocesses, sessions, in-memory servers) are registered on ``stack``
    and closed when it closes, so keep the stack open for as long as the tools are used,
    and close it from the same task that opened it. ``errlog`` receives stdio servers'
    stderr (default ``sys.stderr``). Raises :class:`~threadline.UserError` for a malformed
    config and ``ImportError`` when a transport needs the missing ``mcp`` package.

    Long: one loop over the configured servers, each transport's connect and failure reporting side
    by side.
    """
    out = McpConnections()
    for name, config in servers.items():
        kind = _check_config(name, config)
        entry: dict[str, Any] = {
            "name": name,
            "status": "connected",
            "config": _public_config(kind, config),
            "transport": kind,
            "scope": "dynamic",
            "source": "dynamic",
        }
        out.status.append(entry)
        instance = config.get("instance")
        if kind == "sdk" and isinstance(instance, SdkMcpServer):
            tools = instance.as_tools(name)
            out.tools.extend(tools)
            entry["tools"] = [{"name": t.name.split("__", 2)[-1], "annotations": {}} for t in tools]
            continue
        if kind != "sdk":
            _import_mcp()  # a missing package is the user's to fix, not a server failure
        if kind == "stdio":
            config = {**config, "env": {**os.environ, **(env or {}), **(config.get("env") or {})}}
        server_stack = contextlib.AsyncExitStack()
        try:
            session, wire_tools = await _open_one(
                name, kind, config, server_stack, errlog or sys.stderr, timeout_s
            )
        except BaseException as exc:
            failure = await _close_failed(server_stack, exc)
            entry["status"] = "failed"
            entry["error"] = (
                f"timed out after {timeout_s:g}s"
                if isinstance(failure, TimeoutError)
                else _describe(failure)
            )
            _log.warning("MCP server %r failed to start: %s", name, entry["error"])
            continue
        stack.push_async_callback(server_stack.aclose)
        info = getattr(getattr(session, "server_info", None), "name", None)
        if info is None:
            init = getattr(session, "_server_info", None) or getattr(session, "initialize_result", None)
            info = getattr(getattr(init, "serverInfo", None), "name", None)
        if info:
            entry["serverInfo"] = {"name": info, "version": ""}
        entry["tools"] = [
            {"name": wt["name"], "annotations": dict(wt.get("annotations") or {})} for wt in wire_tools
        ]
        out.tools.extend(McpTool(name, session, wt, server_info=info) for wt in wire_tools)
    return out


async def open_mcp_tools(
    servers: Mapping[str, Any],
    stack: contextlib.AsyncExitStack,
    *,
    errlog: TextIO | None = None,
) -> list[Tool]:
    """Like :func:`open_mcp_servers`, but a server that fails raises.

    Raises :class:`~threadline.ToolError` (naming the server and the error) if a server
    cannot be started or listed, besides what :func:`open_mcp_servers` raises.
    """
    opened = await open_mcp_servers(servers, stack, errlog=errlog)
    for entry in opened.status:
        if entry["status"] == "failed":
            raise ToolError(f"MCP server {entry['name']!r} failed to start: {entry['error']}")
    return opened.tools
