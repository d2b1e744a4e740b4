"""threadline.tools: built-in tools (Claude Code's names and schemas), SDK and MCP tools.

The agent loop runs any :class:`Tool` through :func:`run_tool`, which never
raises for a tool failure (it returns an ``is_error`` :class:`ToolResult`)
but lets cancellation through.
"""

from __future__ import annotations

from ._base import Tool, ToolContext, ToolResult, run_tool
from ._builtin import BUILTIN_TOOLS, READ_ONLY_TOOL_NAMES, builtin_tool
from ._decorator import (
    McpSdkServerConfig,
    SdkMcpServer,
    SdkMcpTool,
    create_sdk_mcp_server,
    mcp_tool_name,
    tool,
)
from ._mcp import open_mcp_tools

__all__ = [
    "BUILTIN_TOOLS",
    "READ_ONLY_TOOL_NAMES",
    "McpSdkServerConfig",
    "SdkMcpServer",
    "SdkMcpTool",
    "Tool",
    "ToolContext",
    "ToolResult",
    "builtin_tool",
    "create_sdk_mcp_server",
    "mcp_tool_name",
    "open_mcp_tools",
    "run_tool",
    "tool",
]
