"""A tiny stdio MCP server for the tests: its environment, as structured and plain results.

``getenv`` (a string: structuredContent ``{"result": ...}``), ``getenv_text`` (text content
only) and ``getenv_dict`` (an object as structuredContent); ``approve`` answers permission prompts.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

try:  # mcp 2.x
    _Server: Any = importlib.import_module("mcp.server.mcpserver").MCPServer
except ImportError:  # mcp 1.x
    _Server = importlib.import_module("mcp.server.fastmcp").FastMCP

server: Any = _Server("envsrv")


@server.tool()
def getenv(names: str) -> str:
    """The values of the comma-separated environment variables (``-`` when unset)."""
    return ",".join(f"{n}={os.environ.get(n, '-')}" for n in names.split(","))


@server.tool(structured_output=False)
def getenv_text(names: str) -> str:
    """``getenv`` with text content only (no ``structuredContent``)."""
    return getenv(names)


@server.tool()
def getenv_dict(names: str) -> dict[str, str]:
    """``getenv`` as an object (``structuredContent`` is the object itself)."""
    return {n: os.environ.get(n, "-") for n in names.split(",")}


@server.tool()
def approve(tool_name: str, input: dict[str, Any], tool_use_id: str) -> str:
    """A permission prompt tool (structured: ``{"result": ...}``): allows every call."""
    import json

    return json.dumps({"behavior": "allow", "updatedInput": input})


@server.tool(structured_output=False)
def approve_text(tool_name: str, input: dict[str, Any], tool_use_id: str) -> str:
    """``approve`` with text content only."""
    return approve(tool_name, input, tool_use_id)


if __name__ == "__main__":
    server.run()
