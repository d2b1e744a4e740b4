"""The built-in tools, under Claude Code's names: Read, Write, Edit, Glob, Grep, Bash."""

from __future__ import annotations

from ._base import Tool
from ._bash import BashTool
from ._files import EditTool, ReadTool, WriteTool
from ._glob import GlobTool
from ._grep import GrepTool

__all__ = [
    "BUILTIN_TOOLS",
    "BashTool",
    "EditTool",
    "GlobTool",
    "GrepTool",
    "READ_ONLY_TOOL_NAMES",
    "ReadTool",
    "WriteTool",
    "builtin_tool",
]

BUILTIN_TOOLS: dict[str, Tool] = {
    t.name: t for t in (ReadTool(), WriteTool(), EditTool(), GlobTool(), GrepTool(), BashTool())
}
"""Name -> instance of every built-in tool (the instances are stateless and shareable)."""

READ_ONLY_TOOL_NAMES: frozenset[str] = frozenset(n for n, t in BUILTIN_TOOLS.items() if t.read_only)
"""Built-in tools allowed in permission mode ``"plan"``: Read, Glob, Grep."""


def builtin_tool(name: str) -> Tool:
    """The built-in tool called ``name`` (case-sensitive); ``KeyError`` lists the known names."""
    try:
        return BUILTIN_TOOLS[name]
    except KeyError:
        known = ", ".join(sorted(BUILTIN_TOOLS))
        raise KeyError(f"No built-in tool named {name!r} (known: {known})") from None
