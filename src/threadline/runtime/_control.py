"""What ``AgentClient`` changes or reads on an open run between (and during) turns.

The official client sends these as control requests to the CLI; here they act on the
:class:`~threadline.runtime._loop.Runtime` directly: the permission mode and the model of
the next request, MCP servers switched off and on (their tools leave and rejoin the tool
set) or reconnected, background tasks stopped, and the context-usage and server-info
reports.

Errors keep the CLI's wording, which programs may match on ("Server not found: x",
"Cannot set permission mode: must be one of ...").
"""

from __future__ import annotations

import json
import os
import time
from contextlib import AsyncExitStack
from typing import Any, get_args

from .._exceptions import UserError
from .._ids import new_uuid
from ..tools import Tool
from ..transcript._entries import threadline_version
from ._loop import Runtime
from ._options import DEFAULT_MODEL
from ._permissions import PermissionMode
from ._subagents import BackgroundTasks
from ._turn import context_window

__all__ = [
    "context_usage",
    "reconnect_mcp_server",
    "server_info",
    "set_model",
    "set_permission_mode",
    "stop_task",
    "toggle_mcp_server",
]

Raw = dict[str, Any]
_MODES: tuple[str, ...] = get_args(PermissionMode)

# -- permission mode and model ---------------------------------------------------------------


def set_permission_mode(rt: Runtime, mode: object) -> None:
    """Switch the mode the next permission decision uses (also inside a running turn)."""
    if mode not in _MODES:
        raise UserError("Cannot set permission mode: must be one of " + ", ".join(sorted(_MODES)))
    rt.mode = str(mode)  # type: ignore[assignment]
    rt.runner.mode = str(mode)
    rt.runner.hook_base["permission_mode"] = str(mode)


def set_model(rt: Runtime, model: str | None) -> None:
    """The model of the next request; None goes back to the default model."""
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise UserError(f"set_model() takes a model name or None, not {model!r}")
    if model is None:
        model = rt.options.env_value("ANTHROPIC_MODEL") or DEFAULT_MODEL
        if rt.provider.name == "openai":
            model = rt.options.model or rt.options.env_value("OPENAI_MODEL") or model
    rt.model = rt.base_model = rt.resolve_model(model)


# -- MCP servers -----------------------------------------------------------------------------


def _server(rt: Runtime, name: object) -> Raw:
    for entry in rt.mcp_status:
        if entry.get("name") == name:
            return entry
    raise UserError(f"Server not found: {name}")


def _server_tools(rt: Runtime, name: str) -> list[str]:
    prefix = f"mcp__{name}__"
    return [t for t in rt.tools if t.startswith(prefix)]


def _retool(rt: Runtime, name: str, tools: list[Tool]) -> None:
    """Replace the tools of server ``name`` (none when disabled) in the run's tool set."""
    table = rt.tools
    assert isinstance(table, dict)
    for old in _server_tools(rt, name):
        del table[old]
    for tool in tools:
        table[tool.name] = tool
    rt.refresh_tool_defs()


async def toggle_mcp_server(
    rt: Runtime, name: str, enabled: bool, *, stack: AsyncExitStack
) -> None:
    """Disable (its tools leave the tool set, status ``disabled``) or enable a server."""
    entry = _server(rt, name)
    if not enabled:
        if entry["status"] != "disabled":
            rt.disabled_tools[name] = [rt.tools[t] for t in _server_tools(rt, name)]
            _retool(rt, name, [])
            entry["status"] = "disabled"
            entry.pop("tools", None)
        return
    if entry["status"] != "disabled":
        return
    kept = rt.disabled_tools.pop(name, None)
    if kept and entry.get("transport") == "sdk":
        _retool(rt, name, kept)
        entry["status"] = "connected"
        entry["tools"] = [{"name": t.name.split("__", 2)[-1], "annotations": {}} for t in kept]
        return
    await reconnect_mcp_server(rt, name, stack=stack)


async def reconnect_mcp_server(rt: Runtime, name: str, *, stack: AsyncExitStack) -> None:
    """Connect server ``name`` again (a failed one may now start); raises if it fails."""
    entry = _server(rt, name)
    config = rt.mcp_servers.get(name)
    if config is None:
        raise UserError(f"Server not found: {name}")
    from ..tools._mcp import open_mcp_servers

    opened = await open_mcp_servers({name: config}, stack, env=rt.options.env)
    fresh = opened.status[0]
    if fresh["status"] == "failed":
        entry.clear()
        entry.update(fresh)
        _retool(rt, name, [])
        raise UserError(f"Failed to reconnect to {name}: {fresh.get('error', 'unknown error')}")
    rt.disabled_tools.pop(name, None)
    entry.clear()
    entry.update(fresh)
    _retool(rt, name, opened.tools)


# -- background tasks ------------------------------------------------------------------------


def stop_task(rt: Runtime, background: BackgroundTasks | None, task_id: str) -> bool:
    """Stop a background subagent or background shell; an unknown id is no error.

    True when a running task was stopped (the caller reports it, as the CLI does, with a
    ``task_updated`` message whose status is ``killed``).
    """
    if not isinstance(task_id, str):
        raise UserError(f"stop_task() takes a task id (str), not {task_id!r}")
    if background is not None and task_id in background.running:
        run, _ = background.running[task_id]
        run.stop()
        return True
    state = rt.tool_state
    shells = getattr(state, "shells", None)
    if shells is not None:
        return shells.stop(task_id) is not None
    return False


def task_killed(rt: Runtime, task_id: str) -> Raw:
    """The CLI's ``task_updated`` data for a task ``stop_task`` ended."""
    return {
        "type": "system",
        "subtype": "task_updated",
        "task_id": task_id,
        "patch": {"status": "killed", "end_time": int(time.time() * 1000)},
        "uuid": new_uuid(),
        "session_id": rt.session_id,
    }


# -- reports ---------------------------------------------------------------------------------


def _tokens(value: Any) -> int:
    """A rough token count (4 characters a token), as the CLI estimates before a call."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return (len(text) + 3) // 4


def context_usage(rt: Runtime) -> Raw:
    """The ``ContextUsageResponse`` of the run: what the next request would hold."""
    window = context_window(rt.model)
    mcp_tools = _mcp_tool_usage(rt)
    categories = _used_categories(rt, mcp_tools)
    total = sum(c["tokens"] for c in categories)
    threshold = rt.options.compact_threshold_tokens
    categories.append(
        {
            "id": "free_space",
            "name": "Free space",
            "tokens": max(0, window - total),
            "color": "promptBorder",
            "kind": "free",
        }
    )
    out: Raw = {
        "categories": categories,
        "totalTokens": total,
        "maxTokens": window,
        "rawMaxTokens": window,
        "percentage": round(100 * total / window, 2),
        "model": rt.model,
        "isAutoCompactEnabled": threshold is not None,
        "memoryFiles": [],
        "mcpTools": mcp_tools,
        "agents": [
            {"agentType": name, "source": "sdk", "tokens": _tokens(getattr(d, "description", ""))}
            for name, d in (rt.options.agents or {}).items()
        ],
        "gridRows": [],
        "apiUsage": dict(rt.last_usage) if rt.last_usage else None,
    }
    if threshold is not None:
        out["autoCompactThreshold"] = threshold
    return out


def _mcp_tool_usage(rt: Runtime) -> list[Raw]:
    """Each MCP tool's definition size, as the CLI lists it."""
    return [
        {
            "name": d["name"],
            "serverName": str(d["name"]).split("__", 2)[1],
            "tokens": _tokens(d),
            "isLoaded": True,
        }
        for d in rt.tool_defs
        if str(d["name"]).startswith("mcp__")
    ]


def _used_categories(rt: Runtime, mcp_tools: list[Raw]) -> list[Raw]:
    """System prompt, built-in tools, MCP tools and messages (the last request's measured
    size, when known, settles what the messages take)."""
    system = _tokens([b.get("text", "") for b in rt.system_blocks])
    builtin = [d for d in rt.tool_defs if not str(d["name"]).startswith("mcp__")]
    tools = _tokens(builtin) if builtin else 0
    mcp = sum(t["tokens"] for t in mcp_tools)
    messages = _tokens(rt.history) if rt.history else 0
    measured = rt.last_input_tokens
    if measured and measured > system + tools + mcp:  # the real size: the rest is messages
        messages = measured - (system + tools + mcp)
    categories: list[Raw] = []
    for key, label, tokens, color in (
        ("system_prompt", "System prompt", system, "promptBorder"),
        ("system_tools", "System tools", tools, "inactive"),
        ("mcp_tools", "MCP tools", mcp, "cyan_FOR_SUBAGENTS_ONLY"),
        ("messages", "Messages", messages, "purple_FOR_SUBAGENTS_ONLY"),
    ):
        if tokens or key == "messages":
            categories.append(
                {"id": key, "name": label, "tokens": tokens, "color": color, "kind": "used"}
            )
    return categories


def server_info(rt: Runtime, *, running: bool) -> Raw:
    """``get_server_info()``: the CLI's initialize keys that mean something in-process."""
    options = rt.options
    models = [rt.model] if rt.model == DEFAULT_MODEL else [DEFAULT_MODEL, rt.model]
    return {
        "commands": [],
        "agents": [
            {"name": name, "description": str(getattr(d, "description", ""))}
            for name, d in (options.agents or {}).items()
        ],
        "output_style": "default",
        "available_output_styles": ["default"],
        "models": [
            {
                "value": "default" if m == DEFAULT_MODEL else m,
                "resolvedModel": m,
                "displayName": "Default (recommended)" if m == DEFAULT_MODEL else m,
                "description": m,
            }
            for m in models
        ],
        "account": {
            "apiKeySource": rt.api_key_source,
            "apiProvider": "firstParty" if rt.provider.name == "anthropic" else rt.provider.name,
        },
        "pid": os.getpid(),
        "claude_code_version": threadline_version(),
        "current_permission_mode": rt.mode,
        "analytics_disabled": True,
        "fast_mode_state": "off",
        "session_state": "running" if running else "idle",
        # threadline's own (not in the CLI's answer)
        "session_id": rt.session_id,
        "model": rt.model,
        "tools": list(rt.tools),
    }
