"""Assembling a run: everything the loop runs with, resolved before the first turn.

``AgentClient.connect()`` calls :func:`open_runtime`, which, in order, checks the options,
resolves the session (:func:`~threadline.runtime._resume.plan_session`, failing before any
model call), picks the provider, reads the system prompt and the MCP config (off the event
loop), opens the MCP servers, and builds the tool set (built-ins, MCP tools, the ``Agent``
tool with a :data:`~threadline.runtime._context.Spawn` for its children). The loop
(:class:`~threadline.runtime._loop.Runtime`) receives all of it; it creates nothing itself.

This module sits above both the loop and subagents: it is the one place that knows both,
which is what lets subagents create child loops without importing the loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

import anyio.to_thread

from .._exceptions import UserError
from ..providers import Provider
from ..providers._registry import (
    ProviderConfig,
    choose_provider,
    create_provider,
    model_for,
    resolve_model_alias,
)
from ..tools import (
    SkillTool,
    Tool,
    ToolState,
    check_tool_names,
    select_tools,
)
from ..transcript._entries import git_branch
from ._context import AgentParent, ChildSpec
from ._hook_model import model_evaluator
from ._loop import RunSetup, Runtime
from ._options import AgentOptions, check_run
from ._permissions import PermissionRules
from ._prompt import claude_code_preset
from ._resume import SessionPlan, plan_session
from ._settings import LoadedSettings, apply_settings, read_for
from ._settings_hooks import PromptEvaluator
from ._stderr import open_stderr
from ._structured import STRUCTURED_OUTPUT, StructuredOutputTool
from ._subagents import AgentTool, BackgroundTasks, Notification

if TYPE_CHECKING:
    from ..tools._shell_types import ShellNotice

__all__ = ["OpenRun", "open_runtime", "spawn_child", "system_blocks"]

Raw = dict[str, Any]
_IDENTITY = "You are a Claude agent, built on Anthropic's Claude Agent SDK."


@dataclass(frozen=True)
class OpenRun:
    """An opened run and, when it has the ``Agent`` tool, its background children."""

    runtime: Runtime
    background: BackgroundTasks | None


async def open_runtime(
    options: AgentOptions, stack: AsyncExitStack, *, on_report: Callable[[], None] | None = None
) -> OpenRun:
    """Resolve the session (failing before any model call), then provider and tools.

    Resources (the provider's connections, MCP servers) are closed by ``stack``;
    ``on_report`` is called whenever a background subagent finishes.
    """
    check_run(options)
    plan = await plan_session(options)
    loaded = await anyio.to_thread.run_sync(read_for, options, plan.cwd)
    provider = _select_provider(options)  # before the settings: their env is the tools'
    if provider is not options.provider:
        stack.push_async_callback(provider.aclose)
    if options.task_budget is not None and provider.name != "anthropic":
        raise UserError(
            "AgentOptions.task_budget is an Anthropic API feature (output_config.task_budget); "
            f"the {provider.name!r} provider cannot send it: drop task_budget or use Anthropic"
        )
    options = apply_settings(options, loaded, plan.cwd, evaluate=_evaluator(options, provider))
    system, servers = await anyio.to_thread.run_sync(_read_config, options, plan.cwd)
    if not options.strict_mcp_config:  # .mcp.json and plugins: "only mcp_servers" leaves them out
        servers = {**loaded.mcp_servers, **servers}
    _warn_unknown_tools(options, servers)
    state = await _tool_state(options, plan.cwd, stack)
    if not state.skills:
        state.skills = loaded.enabled_skills(options.skills)
    tools = _select_builtin(options, state)
    errlog = open_stderr(
        options.stderr, debug="debug-to-stderr" in options.extra_args, stack=stack
    )
    mcp_status = await _open_mcp(servers, stack, errlog, options.env, tools)
    hidden = PermissionRules(disallowed=options.disallowed_tools).hides("Agent")
    wants = (options.agents and not hidden) or "Bash" in tools
    background = BackgroundTasks(on_change=on_report) if wants else None
    if background is not None:
        _route_shell_reports(state, background)
    setup = RunSetup(
        options=options,
        plan=plan,
        provider=provider,
        model=_model_name(options, provider.name),
        system=system,
        mcp_names=list(servers),
        git_branch=await anyio.to_thread.run_sync(git_branch, plan.cwd),
        api_key_source="ANTHROPIC_API_KEY" if _api_key(options) else "none",
        tool_state=state,
        mcp_status=mcp_status,
        mcp_servers=servers,
        settings=loaded,
    )
    runtime = Runtime(setup, tools=_tool_set(options, tools, background))
    runtime.background = background
    await runtime.start()
    return OpenRun(runtime=runtime, background=background)


def _tool_set(
    options: AgentOptions, tools: dict[str, Tool], background: BackgroundTasks | None
) -> Callable[[AgentParent], Mapping[str, Tool]]:
    """The run's tools: ``tools`` plus the ``Agent`` tool, less those the rules hide."""
    rules = PermissionRules(disallowed=options.disallowed_tools)

    def for_run(parent: AgentParent) -> Mapping[str, Tool]:
        out = dict(tools)
        if options.agents:
            out["Agent"] = AgentTool(
                options.agents, parent=parent, spawn=spawn_child, background=background
            )
        if options.output_format is not None:
            out[STRUCTURED_OUTPUT] = StructuredOutputTool(options.output_format["schema"])
        return {name: t for name, t in out.items() if not rules.hides(name)}

    return for_run


def spawn_child(parent: AgentParent, spec: ChildSpec) -> Runtime:
    """A subagent's loop: the parent's provider, permissions, hooks and cwd; its own prompt,
    model, turn limit and tools; entries to ``spec.store`` (the parent's sidechain)."""
    options = replace(
        parent.options,
        system_prompt=spec.system_prompt,
        model=spec.model,
        agents=None,
        output_format=None,  # the main session's: a subagent answers in text
        max_turns=spec.max_turns,
        enable_file_checkpointing=False,
        provider=parent.provider,
        effort=parent.options.effort if spec.effort is None else cast(Any, spec.effort or None),
        permission_mode=cast(Any, spec.permission_mode) or parent.options.permission_mode,
    )
    plan = SessionPlan(
        session_id=parent.session_id, cwd=parent.plan.cwd, key=parent.plan.key, store=spec.store
    )
    setup = RunSetup(
        options=options,
        plan=plan,
        provider=parent.provider,
        model=_model_name(options, parent.provider.name),
        system=system_blocks(options, plan.cwd),
        git_branch=parent.entries.git_branch,
        api_key_source="ANTHROPIC_API_KEY" if _api_key(options) else "none",
        tool_state=parent.tool_state,
        settings=_child_settings(parent),
    )
    tools = dict(spec.tools)
    child = Runtime(setup, tools=lambda _parent: tools)
    child.runner.before_tool = parent.before_tool
    child.spend = parent.spend  # the budget covers the whole tree
    child.is_child = True
    return child


def _child_settings(parent: AgentParent) -> LoadedSettings | None:
    """A subagent keeps its parent's settings: rules, and ``CLAUDE.md`` in front of its
    first prompt (as the CLI gives a subagent the instructions)."""
    settings: LoadedSettings | None = getattr(parent, "settings", None)
    return settings


# ----------------------------------------------------------------------------- provider


def _api_key(options: AgentOptions) -> str | None:
    return options.api_key or options.env_value("ANTHROPIC_API_KEY")


def _provider_config(options: AgentOptions) -> ProviderConfig:
    return ProviderConfig(
        api_key=options.api_key,
        base_url=options.base_url,
        model=options.model,
        max_tokens=options.max_tokens,
        retry=options.retry_policy,
        env=options.env_value,
    )


def _select_provider(options: AgentOptions) -> Provider:
    """A ready provider as is; otherwise the registry's, by name or by the configuration."""
    if options.provider is not None and not isinstance(options.provider, str):
        return options.provider
    config = _provider_config(options)
    return create_provider(choose_provider(config, options.provider), config)


def _model_name(options: AgentOptions, provider_name: str) -> str:
    return model_for(provider_name, _provider_config(options))


# ----------------------------------------------------------------------------- tools and prompt


async def _open_mcp(
    servers: Mapping[str, Any],
    stack: AsyncExitStack,
    errlog: TextIO | None,
    env: Mapping[str, str],
    tools: dict[str, Tool],
) -> list[dict[str, Any]]:
    """Connect the MCP servers, add their tools to ``tools``; each server's status. The MCP
    client (and the SDK-tool decorator) load only for a run with servers."""
    if not servers:
        return []
    from ..tools._mcp import open_mcp_servers

    mcp = await open_mcp_servers(servers, stack, errlog=errlog, env=env)
    for tool in mcp.tools:
        tools[tool.name] = tool
    return mcp.status


def _warn_unknown_tools(options: AgentOptions, servers: Mapping[str, Any]) -> None:
    """A ``UserWarning`` for each name in ``tools``/``allowed_tools``/``disallowed_tools``
    that no tool of this run answers to (it would otherwise be dropped silently)."""
    fields: list[tuple[str, Any]] = [
        ("allowed_tools", options.allowed_tools),
        ("disallowed_tools", options.disallowed_tools),
    ]
    if options.tools is not None and not isinstance(options.tools, Mapping):
        fields.insert(0, ("tools", options.tools))
    known = {**servers, **_agents_inline_servers(options)}
    for field_name, names in fields:
        check_tool_names(field_name, names, mcp_servers=known, stacklevel=4)


def _evaluator(options: AgentOptions, provider: Provider) -> PromptEvaluator:
    """What answers settings ``prompt`` hooks: the run's provider and model."""
    anthropic = provider.name == "anthropic"
    return model_evaluator(
        provider,
        _model_name(options, provider.name),
        lambda name: resolve_model_alias(name, options.env_value) if anthropic else name,
    )


def _agents_inline_servers(options: AgentOptions) -> dict[str, Any]:
    """The inline ``mcpServers`` of the agent definitions: their tools are real too."""
    out: dict[str, Any] = {}
    for definition in (options.agents or {}).values():
        refs = (
            definition.get("mcpServers")
            if isinstance(definition, Mapping)
            else getattr(definition, "mcpServers", None)
        )
        for entry in refs or ():
            if isinstance(entry, Mapping):
                out.update(entry)
    return out


async def _tool_state(options: AgentOptions, cwd: str, stack: AsyncExitStack) -> ToolState:
    """The session's tool state: the sandbox (raises if enabled but unavailable), the
    search backend, the WebFetch address policy; closed (shells killed) with ``stack``."""
    sandbox = None
    if options.sandbox is not None:  # its module (bubblewrap, seccomp, proxies) only then
        from ..tools._sandbox import open_sandbox

        sandbox = await open_sandbox(
            options.sandbox, cwd=cwd, allowed_dirs=options.add_dirs, on_close=stack.callback
        )
    config = options.env_value("CLAUDE_CONFIG_DIR")
    state = ToolState(
        config_dir=Path(config) if config else None,
        sandbox=sandbox,
        search_backend=options.web_search,
        web_fetch_allow_private=options.web_fetch_allow_private,
    )
    stack.push_async_callback(state.aclose)
    return state


def _route_shell_reports(state: ToolState, background: BackgroundTasks) -> None:
    """Background shells report through the same queue as background subagents."""
    def finished(notice: ShellNotice) -> None:
        background.deliver(
            Notification(
                agent_id=notice.task_id,
                tool_use_id=notice.tool_use_id,
                status=notice.status,
                text=notice.text,
                summary=notice.summary,
            )
        )

    state.shells.on_finish = finished
    background.others_busy = lambda: bool(state.shells.running)


def _select_builtin(options: AgentOptions, state: ToolState) -> dict[str, Tool]:
    selected = options.tools
    names = None if selected is None or isinstance(selected, Mapping) else list(selected)
    tools = select_tools(
        names, web_search=state.search_backend is not None, skills=bool(state.skills)
    )
    if "Skill" in tools or (names is None and state.skills):
        tools["Skill"] = SkillTool(state.skills)
    return tools


def _read_config(options: AgentOptions, cwd: str) -> tuple[list[Raw], dict[str, Any]]:
    """The system prompt blocks and the MCP servers (both may read a file: in a thread)."""
    servers = _mcp_servers(options.mcp_servers)
    return system_blocks(options, cwd), servers


def _mcp_servers(value: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    text = str(value)
    inline = text.lstrip().startswith("{")
    if not inline:
        path = Path(text)
        if not path.is_file():
            raise UserError(
                f"AgentOptions.mcp_servers: no MCP config file at {text!r} (give a path to a "
                "JSON file, the JSON text itself, or a dict of server configs)"
            )
        text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        where = "JSON text" if inline else repr(str(value))
        raise UserError(f"AgentOptions.mcp_servers: {where} is not valid JSON: {exc}") from exc
    servers = data.get("mcpServers", data) if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        raise UserError(
            "AgentOptions.mcp_servers: the MCP config must be a JSON object "
            '({"mcpServers": {name: config}})'
        )
    return dict(servers)


def system_blocks(options: AgentOptions, cwd: str) -> list[Raw]:
    """The system prompt of a run (``options.system_prompt``; a file is read here)."""
    sp = options.system_prompt
    default = f"{_IDENTITY}\nWorking directory: {cwd}"
    if sp is None:
        text = default
    elif isinstance(sp, str):
        text = sp
    elif sp.get("type") == "preset":
        if sp.get("preset", "claude_code") != "claude_code":
            raise UserError(
                f"AgentOptions.system_prompt: unknown preset {sp.get('preset')!r} "
                "(the one preset is 'claude_code')"
            )
        text = claude_code_preset(cwd) + (f"\n\n{sp['append']}" if sp.get("append") else "")
    elif sp.get("type") == "file":
        try:
            text = Path(str(sp.get("path"))).read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(
                f"AgentOptions.system_prompt: cannot read the prompt file {sp.get('path')!r}: "
                f"{exc.strerror or exc}"
            ) from exc
    else:
        text = str(sp.get("prompt", ""))
    if not text:
        return []
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]
