"""The built-in tools, under Claude Code's names, and which of them a run gets by default.

:data:`BUILTIN_TOOLS` holds every built-in tool threadline has: Read, Write, Edit, Glob,
Grep, Bash, NotebookEdit, WebFetch, WebSearch, TaskCreate, TaskGet, TaskList, TaskUpdate,
TaskStop, TodoWrite and Skill (the instances are stateless and shareable; per-session
state lives in :class:`~threadline.tools._state.ToolState`). :data:`DEFAULT_TOOL_NAMES` is
the set a run gets when ``AgentOptions.tools`` is not given (see :func:`select_tools`).
:data:`CLI_ONLY_TOOL_NAMES` are the Claude Code 2.1.330 tools threadline does not have,
because they have no meaning in-process (the CLI's worktrees, cron jobs, teammates,
workflows, ...): naming one warns that it is not available, naming anything else that is
neither built in nor an MCP tool warns that it is unknown.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping

from ._base import Tool
from ._bash import BashTool
from ._files import EditTool, ReadTool, WriteTool
from ._glob import GlobTool
from ._grep import GrepTool
from ._notebook import NotebookEditTool
from ._skilltool import SkillTool
from ._tasks import TaskCreateTool, TaskGetTool, TaskListTool, TaskUpdateTool, TodoWriteTool
from ._taskstop import TaskStopTool
from ._web import WebFetchTool, WebSearchTool

__all__ = [
    "BUILTIN_TOOLS",
    "CLI_ONLY_TOOL_NAMES",
    "DEFAULT_TOOL_NAMES",
    "READ_ONLY_TOOL_NAMES",
    "TOOL_ALIASES",
    "builtin_tool",
    "check_tool_names",
    "select_tools",
]

BUILTIN_TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        ReadTool(),
        WriteTool(),
        EditTool(),
        GlobTool(),
        GrepTool(),
        BashTool(),
        NotebookEditTool(),
        WebFetchTool(),
        WebSearchTool(),
        TaskCreateTool(),
        TaskGetTool(),
        TaskListTool(),
        TaskUpdateTool(),
        TaskStopTool(),
        TodoWriteTool(),
        SkillTool(),
    )
}
"""Name -> instance of every built-in tool."""

DEFAULT_TOOL_NAMES: tuple[str, ...] = (
    "Read",
    "Write",
    "Edit",
    "Glob",
    "Grep",
    "Bash",
    "NotebookEdit",
    "WebFetch",
    "TaskCreate",
    "TaskGet",
    "TaskList",
    "TaskUpdate",
    "TaskStop",
)
"""The tools of a run without ``AgentOptions.tools``; ``WebSearch`` joins them when a
search backend is configured and ``Skill`` when there are skills (both are useless
without, so they are not sent). ``Agent`` joins when ``agents`` are defined."""

READ_ONLY_TOOL_NAMES: frozenset[str] = frozenset(n for n, t in BUILTIN_TOOLS.items() if t.read_only)
"""Built-in tools that change nothing (allowed in permission mode ``"plan"``)."""

TOOL_ALIASES: Mapping[str, str] = {"KillShell": "TaskStop", "KillBash": "TaskStop", "Task": "Agent"}
"""Older Claude Code names, mapped as the CLI maps them."""

CLI_ONLY_TOOL_NAMES: frozenset[str] = frozenset(
    {
        "AskUserQuestion",
        "BashOutput",
        "CronCreate",
        "CronDelete",
        "CronList",
        "EnterPlanMode",
        "EnterWorktree",
        "ExitPlanMode",
        "ExitWorktree",
        "ListAgents",
        "ListMcpResources",
        "LS",
        "Monitor",
        "MultiEdit",
        "NotebookRead",
        "ReadMcpResource",
        "ReportFindings",
        "ScheduleWakeup",
        "SendMessage",
        "SlashCommand",
        "TaskOutput",
        "ToolSearch",
        "Workflow",
    }
)
"""Claude Code tools threadline does not provide (no in-process meaning, or removed)."""

_OTHER_KNOWN = frozenset({"Agent", "StructuredOutput"})


def builtin_tool(name: str) -> Tool:
    """The built-in tool called ``name`` (case-sensitive); ``KeyError`` lists the known names."""
    try:
        return BUILTIN_TOOLS[TOOL_ALIASES.get(name, name)]
    except KeyError:
        known = ", ".join(sorted(BUILTIN_TOOLS))
        raise KeyError(f"No built-in tool named {name!r} (known: {known})") from None


def _base_name(entry: str) -> str:
    """``Bash(git status:*)`` -> ``Bash``; MCP names are kept whole."""
    return entry.split("(", 1)[0].strip()


def check_tool_names(
    field: str, entries: Iterable[str], *, mcp_servers: Iterable[str] = (), stacklevel: int = 2
) -> None:
    """Warn (``UserWarning``) about names in ``field`` that no tool of this run answers to.

    Permission-rule syntax (``Bash(git:*)``) is read as its tool name; ``mcp__<server>``
    and ``mcp__<server>__<tool>`` names are accepted for configured servers (their tools
    are only known once connected).
    """
    servers = set(mcp_servers)
    for entry in entries:
        name = _base_name(str(entry))
        if name in BUILTIN_TOOLS or name in TOOL_ALIASES or name in _OTHER_KNOWN:
            continue
        if name.startswith("mcp__"):
            server = name.split("__")[1] if name.count("__") >= 1 else ""
            if server in servers or any(server == s.replace(" ", "_") for s in servers):
                continue
            warnings.warn(
                f"AgentOptions.{field}: {entry!r} names a tool of MCP server {server!r}, "
                "which is not configured in mcp_servers",
                UserWarning,
                stacklevel=stacklevel + 1,
            )
            continue
        if name in CLI_ONLY_TOOL_NAMES:
            why = "is a Claude Code tool that threadline does not provide (no in-process meaning)"
        else:
            why = "is not a tool threadline knows"
        warnings.warn(
            f"AgentOptions.{field}: {entry!r} {why}; it has no effect. Known tools: "
            f"{', '.join(sorted(BUILTIN_TOOLS))}, Agent, mcp__<server>__<tool>",
            UserWarning,
            stacklevel=stacklevel + 1,
        )


def select_tools(
    tools: Iterable[str] | None, *, web_search: bool = False, skills: bool = False
) -> dict[str, Tool]:
    """The built-in tools of a run: ``tools`` by name (aliases mapped), else the defaults."""
    if tools is None:
        names = list(DEFAULT_TOOL_NAMES)
        if web_search:
            names.append("WebSearch")
        if skills:
            names.append("Skill")
    else:
        names = [TOOL_ALIASES.get(n, n) for n in tools]
    return {n: BUILTIN_TOOLS[n] for n in names if n in BUILTIN_TOOLS}
