"""A tiny stdio MCP server for the tests: ``echo``, ``add``, ``fail`` and ``image`` tools."""

from __future__ import annotations

import importlib
from typing import Any

try:  # mcp 2.x
    _Server: Any = importlib.import_module("mcp.server.mcpserver").MCPServer
except ImportError:  # mcp 1.x
    _Server = importlib.import_module("mcp.server.fastmcp").FastMCP

server: Any = _Server("echo")


@server.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return f"echo: {text}"


@server.tool()
def add(a: int, b: int) -> str:
    """Add two integers."""
    return str(a + b)


@server.tool()
def fail(reason: str) -> str:
    """Always fails."""
    raise ValueError(f"failed on purpose: {reason}")


if __name__ == "__main__":
    server.run()
