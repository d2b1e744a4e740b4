"""A tiny MCP server for the tests: ``echo``, ``add``, ``fail`` and ``image`` tools.

No argument: stdio. ``sse PORT`` or ``http PORT``: that transport on 127.0.0.1:PORT.
"""

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
    import sys

    if len(sys.argv) == 3:
        transport = {"sse": "sse", "http": "streamable-http"}[sys.argv[1]]
        server.run(transport, host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
