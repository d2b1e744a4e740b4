"""threadline.tools: built-in tools (Claude Code's names and schemas), SDK and MCP tools.

The agent loop runs any :class:`Tool` through :func:`run_tool`, which never
raises for a tool failure (it returns an ``is_error`` :class:`ToolResult`)
but lets cancellation through.
"""

from __future__ import annotations

from ._base import Tool, ToolContext, ToolResult, run_tool
from ._builtin import (
    BUILTIN_TOOLS,
    CLI_ONLY_TOOL_NAMES,
    DEFAULT_TOOL_NAMES,
    READ_ONLY_TOOL_NAMES,
    builtin_tool,
    check_tool_names,
    select_tools,
)
from ._decorator import (
    McpSdkServerConfig,
    SdkMcpServer,
    SdkMcpTool,
    create_sdk_mcp_server,
    mcp_tool_name,
    tool,
)
from ._mcp import McpConnections, open_mcp_servers, open_mcp_tools
from ._sandbox import Sandbox, open_sandbox
from ._search import SearchBackend, SearchHit
from ._skills import Skill, load_skills
from ._skilltool import SkillTool
from ._state import ToolState

__all__ = [
    "BUILTIN_TOOLS",
    "CLI_ONLY_TOOL_NAMES",
    "DEFAULT_TOOL_NAMES",
    "READ_ONLY_TOOL_NAMES",
    "McpConnections",
    "McpSdkServerConfig",
    "SdkMcpServer",
    "Sandbox",
    "SdkMcpTool",
    "SearchBackend",
    "SearchHit",
    "Skill",
    "SkillTool",
    "Tool",
    "ToolContext",
    "ToolResult",
    "ToolState",
    "builtin_tool",
    "check_tool_names",
    "create_sdk_mcp_server",
    "load_skills",
    "mcp_tool_name",
    "open_mcp_servers",
    "open_mcp_tools",
    "open_sandbox",
    "run_tool",
    "select_tools",
    "tool",
]
