"""threadline.tools: built-in tools (Claude Code's names and schemas), SDK and MCP tools.

The agent loop runs any :class:`Tool` through :func:`run_tool`, which never
raises for a tool failure (it returns an ``is_error`` :class:`ToolResult`)
but lets cancellation through.

Names load on first use (PEP 562): a run without a sandbox, MCP servers or skills does not
import their modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._base import (
        Tool as Tool,
        ToolContext as ToolContext,
        ToolResult as ToolResult,
        run_tool as run_tool,
    )
    from ._builtin import (
        BUILTIN_TOOLS as BUILTIN_TOOLS,
        CLI_ONLY_TOOL_NAMES as CLI_ONLY_TOOL_NAMES,
        DEFAULT_TOOL_NAMES as DEFAULT_TOOL_NAMES,
        READ_ONLY_TOOL_NAMES as READ_ONLY_TOOL_NAMES,
        builtin_tool as builtin_tool,
        check_tool_names as check_tool_names,
        select_tools as select_tools,
    )
    from ._decorator import (
        McpSdkServerConfig as McpSdkServerConfig,
        SdkMcpServer as SdkMcpServer,
        SdkMcpTool as SdkMcpTool,
        create_sdk_mcp_server as create_sdk_mcp_server,
        mcp_tool_name as mcp_tool_name,
        tool as tool,
    )
    from ._mcp import (
        McpConnections as McpConnections,
        open_mcp_servers as open_mcp_servers,
        open_mcp_tools as open_mcp_tools,
    )
    from ._sandbox import (
        Sandbox as Sandbox,
        open_sandbox as open_sandbox,
    )
    from ._search import (
        SearchBackend as SearchBackend,
        SearchHit as SearchHit,
    )
    from ._skills import (
        Skill as Skill,
        load_skills as load_skills,
    )
    from ._skilltool import (
        SkillTool as SkillTool,
    )
    from ._state import (
        ToolState as ToolState,
    )

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

_MODULES: dict[str, tuple[str, ...]] = {
    "._base": (
        "Tool",
        "ToolContext",
        "ToolResult",
        "run_tool",
    ),
    "._builtin": (
        "BUILTIN_TOOLS",
        "CLI_ONLY_TOOL_NAMES",
        "DEFAULT_TOOL_NAMES",
        "READ_ONLY_TOOL_NAMES",
        "builtin_tool",
        "check_tool_names",
        "select_tools",
    ),
    "._decorator": (
        "McpSdkServerConfig",
        "SdkMcpServer",
        "SdkMcpTool",
        "create_sdk_mcp_server",
        "mcp_tool_name",
        "tool",
    ),
    "._mcp": (
        "McpConnections",
        "open_mcp_servers",
        "open_mcp_tools",
    ),
    "._sandbox": (
        "Sandbox",
        "open_sandbox",
    ),
    "._search": (
        "SearchBackend",
        "SearchHit",
    ),
    "._skills": (
        "Skill",
        "load_skills",
    ),
    "._skilltool": (
        "SkillTool",
    ),
    "._state": (
        "ToolState",
    ),
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
