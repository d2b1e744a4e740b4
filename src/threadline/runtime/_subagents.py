"""Subagents: ``AgentOptions(agents={name: AgentDefinition(...)})`` and the ``Agent`` tool.

The model delegates with Claude Code's ``Agent`` tool (input ``description``, ``prompt``,
``subagent_type``, ``run_in_background``). Each call runs a child agent loop in-process:
its own system prompt (the definition's ``prompt``), model and tool subset, sharing the
parent's provider, permissions, hooks and working directory. Several calls of one reply
run in parallel (the tool batch is concurrent).

Transcripts are laid out as the CLI lays them out: the child's entries go to the store
under the subkey ``subagents/agent-<id>`` (``isSidechain: true``, ``agentId``), preceded
by an ``agent_metadata`` entry that :class:`~threadline.sessions.FileStore` turns into the
``agent-<id>.meta.json`` sidecar (``agentType``, ``toolUseId``, ``description``, ...).
``list_subagents`` / ``get_subagent_messages`` (ours and the official ones) read them.

The child's assistant and user messages are yielded to the caller after the tool batch,
with ``parent_tool_use_id`` set to the ``Agent`` call's id.

Background calls (``run_in_background: true``, or ``AgentDefinition.background``) answer
the call at once with the launch acknowledgement; the child then runs concurrently with
the parent (its next model calls and tools, and the time between turns) in a task owned by
:class:`BackgroundTasks`, which the client creates and stops. Its report comes back as a
``<task-notification>`` user message, as the CLI does: added to the parent's turn after
the next tool batch (or right after the prompt of the next turn) when a turn is running,
else it starts a turn of its own (see ``AgentClient``). Without a client (or outside
asyncio) the child runs inside the tool batch that launched it, as before.

A child that fails (model error, exception, turn limit) answers the call with an
``is_error`` tool result; the parent goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio

from .._ids import new_uuid
from .._messages import (
    AssistantMessage,
    Message,
    ResultMessage,
    SystemMessage,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    UserMessage,
    system_message,
)
from ..sessions import SessionKey, SessionStore
from ..sessions._protocol import local_transcripts
from ..tools import Tool, ToolContext, ToolResult
from ..tools._skills import preload_blocks
from ._agent_memory import memory_section
from ._context import AgentParent, ChildLoop, ChildSpec, Prompt, Spawn

__all__ = ["GENERAL_PURPOSE", "AgentDefinition", "AgentTool", "BackgroundTasks", "Notification"]

_log = logging.getLogger("threadline.subagents")

Raw = dict[str, Any]



@dataclass
class AgentDefinition:
    """A subagent, with the official SDK's field names (``claude_agent_sdk.AgentDefinition``).

    ``description``, ``prompt``, ``tools``, ``disallowedTools``, ``model``, ``maxTurns``,
    ``background``, ``effort`` (a level; a number is not sent, as in the CLI),
    ``permissionMode`` (see ``_agent_mode``), ``skills`` (preloaded into the first
    message), ``mcpServers`` (inline configs started for the run; a name refers to a
    parent's server) and ``memory`` (``_agent_memory``) are used; ``initialPrompt`` does
    nothing for a subagent, as in the official SDK (the CLI reads it for a main-thread agent).
    """

    description: str
    prompt: str
    tools: list[str] | None = None
    disallowedTools: list[str] | None = None
    model: str | None = None
    skills: list[str] | None = None
    memory: Literal["user", "project", "local"] | None = None
    mcpServers: list[str | dict[str, Any]] | None = None
    initialPrompt: str | None = None
    maxTurns: int | None = None
    background: bool | None = None
    effort: str | int | None = None
    permissionMode: str | None = None


GENERAL_PURPOSE = AgentDefinition(
    description=(
        "General-purpose agent for researching complex questions, searching for code, and "
        "executing multi-step tasks."
    ),
    prompt=(
        "You are an agent for Claude Code. Given the user's message, use the tools available "
        "to complete the task. Complete the task fully, then respond with a concise report."
    ),
)


_PARENT_ONLY = frozenset({"Agent", "StructuredOutput"})
"""Tools a subagent never inherits (no nesting; ``output_format`` is the main session's)."""


_AGENT_MODES = frozenset({"default", "acceptEdits", "plan", "dontAsk"})


def _agent_mode(parent: str, wanted: Any) -> str:
    """The mode a subagent runs in, as the CLI decides it: a parent in
    ``bypassPermissions`` keeps it for its children; otherwise the definition's
    ``permissionMode`` when it is ``default``, ``acceptEdits``, ``plan`` or ``dontAsk``. A
    definition never escalates to ``bypassPermissions`` (checked against the CLI: its
    subagent stays in the parent's mode), and ``auto`` is the parent's mode."""
    if parent == "bypassPermissions" or wanted not in _AGENT_MODES:
        return parent
    return str(wanted)


def _field(definition: Any, name: str) -> Any:
    if isinstance(definition, Mapping):
        return definition.get(name)
    return getattr(definition, name, None)


def _new_agent_id() -> str:
    import secrets  # loaded by the first subagent, not by every run

    return "a" + secrets.token_hex(8)


class _SidechainStore:
    """Writes a child loop's entries to the parent's subkey, marked as a sidechain."""

    def __init__(self, store: SessionStore, key: SessionKey, agent_id: str, meta: Raw) -> None:
        self._store = store
        self.key: SessionKey = {
            "project_key": key["project_key"],
            "session_id": key["session_id"],
            "subpath": f"subagents/agent-{agent_id}",
        }
        self._agent_id = agent_id
        self.meta = meta
        self._meta_written = False

    async def append(self, key: Any, entries: list[Any]) -> None:
        out: list[Any] = []
        if not self._meta_written:
            out.append({**self.meta, "type": "agent_metadata"})
            self._meta_written = True
        out.extend({**e, "isSidechain": True, "agentId": self._agent_id} for e in entries)
        await self._store.append(self.key, out)

    async def finish(self, **changes: Any) -> None:
        self.meta.update(changes)
        entry: Any = {**self.meta, "type": "agent_metadata"}
        await self._store.append(self.key, [entry])

    async def load(self, key: Any) -> Any:
        return await self._store.load(self.key)


class AgentTool:
    """Claude Code's ``Agent`` tool over the configured definitions.

    Built by the assembler with everything it needs: the run that owns it (``parent``),
    how to create a child loop (``spawn``) and where background children run
    (``background``; ``None``: inside the tool batch).
    """

    name = "Agent"
    read_only = True

    def __init__(
        self,
        agents: Mapping[str, Any],
        *,
        parent: AgentParent,
        spawn: Spawn,
        background: BackgroundTasks | None = None,
    ) -> None:
        self.agents: dict[str, Any] = dict(agents)
        self.agents.setdefault("general-purpose", GENERAL_PURPOSE)
        self.parent = parent
        self.spawn = spawn
        self.background = background

    @property
    def description(self) -> str:
        listing = "\n".join(
            f"- {name}: {_field(d, 'description')}" for name, d in self.agents.items()
        )
        return (
            "Launch a new agent to handle complex, multi-step tasks autonomously. "
            "Available agent types:\n" + listing
        )

    @property
    def input_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "description": {
                    "type": "string",
                    "description": "A short (3-5 word) description of the task",
                },
                "prompt": {"type": "string", "description": "The task for the agent to perform"},
                "subagent_type": {
                    "type": "string",
                    "description": "The type of specialized agent to use for this task",
                },
                "run_in_background": {
                    "type": "boolean",
                    "description": "Set to true to run this agent in the background.",
                },
            },
            "required": ["description", "prompt"],
            "additionalProperties": False,
        }

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> ToolResult:
        rt = self.parent
        agent_type = str(input.get("subagent_type") or "general-purpose")
        definition = self.agents.get(agent_type)
        if definition is None:
            return ToolResult(
                content=(
                    f"<tool_use_error>Agent type '{agent_type}' not found. Available agents: "
                    f"{', '.join(self.agents)}</tool_use_error>"
                ),
                is_error=True,
            )
        background = bool(input.get("run_in_background") or _field(definition, "background"))
        run = _ChildRun(
            rt,
            self.spawn,
            definition,
            agent_type=agent_type,
            description=str(input.get("description") or ""),
            prompt=str(input.get("prompt") or ""),
            tool_use_id=ctx.tool_use_id,
            background=background,
        )
        if not background:
            return await run.run()
        rt.side_messages.append(run.started_message())
        host = self.background
        if host is not None and host.available():
            host.launch(run)
        else:  # no task may outlive the batch: run the child here, report after the batch
            note = await run.run_background()
            rt.after_tools.append({"type": "text", "text": note.text})
        return ToolResult(
            content=(
                f"Async agent launched successfully.\nagentId: {run.agent_id}\n"
                "The agent is working in the background. You will be notified automatically "
                "when it completes."
            ),
            structured={
                "isAsync": True,
                "status": "async_launched",
                "agentId": run.agent_id,
                "description": run.description,
                "prompt": run.prompt,
            },
        )


@dataclass
class Notification:
    """The report of a finished background subagent, waiting to reach the parent."""

    agent_id: str
    tool_use_id: str
    status: Literal["completed", "failed", "killed"]
    text: str
    """The ``<task-notification>`` text, as the CLI writes it."""
    summary: str
    messages: list[Message] = field(default_factory=list)
    """The child's messages (``parent_tool_use_id`` set), delivered with the report."""
    output_file: str = ""
    """Where the task's output is (the subagent's transcript), as the CLI reports it."""
    usage: dict[str, int] | None = None
    """``total_tokens``, ``tool_uses``, ``duration_ms`` (the official ``TaskUsage``)."""

    def system_message(self, session_id: str) -> SystemMessage:
        """The CLI's ``system``/``task_notification`` stream message (a
        ``TaskNotificationMessage``, as the official SDK parses it)."""
        return system_message(
            {
                "type": "system",
                "subtype": "task_notification",
                "task_id": self.agent_id,
                "tool_use_id": self.tool_use_id,
                "status": self.status,
                "output_file": self.output_file,
                "summary": self.summary,
                **({"usage": dict(self.usage)} if self.usage is not None else {}),
                "uuid": new_uuid(),
                "session_id": session_id,
            }
        )


class BackgroundTasks:
    """The background subagents of one open session (owned by ``AgentClient``).

    Each child runs in its own task, so it overlaps whatever the parent does next. Finished
    children leave a :class:`Notification` in :attr:`ready` and call ``on_change``.
    :meth:`stop` interrupts the running children (their transcripts end with the usual
    interruption entries, their sidecars say ``status: "killed"``, no report is queued);
    :meth:`aclose` stops them and waits, cancelling the ones that do not end in time.
    A child never raises into the parent: any failure becomes a ``failed`` report.

    The tasks are plain asyncio tasks, not a task group entered by the caller, so no
    cancel scope spans the ``yield`` of any async generator and the client may be used and
    closed from any task. Under another event loop (trio) :meth:`available` is False and
    children run inside their tool batch.
    """

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self.on_change = on_change
        self.running: dict[str, tuple[_ChildRun, asyncio.Task[None]]] = {}
        self.ready: deque[Notification] = deque()
        self.stopped = False
        """Set by :meth:`stop` (an interrupt); cleared by the next launch."""
        self.others_busy: Callable[[], bool] | None = None
        """Other background work whose reports come through :meth:`deliver` (shells)."""

    @staticmethod
    def available() -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    @property
    def busy(self) -> bool:
        """Children still running (and not stopped): a report may still come."""
        others = self.others_busy is not None and self.others_busy()
        return (bool(self.running) or others) and not self.stopped

    def deliver(self, note: Notification) -> None:
        """Queue the report of other background work (a background shell that ended)."""
        self.ready.append(note)
        self._changed()

    def launch(self, run: _ChildRun) -> None:
        self.stopped = False
        task = asyncio.get_running_loop().create_task(self._run(run))
        self.running[run.agent_id] = (run, task)

    def take(self) -> list[Notification]:
        out = list(self.ready)
        self.ready.clear()
        return out

    async def _run(self, run: _ChildRun) -> None:
        note: Notification | None = None
        try:
            note = await run.run_background()
        finally:  # cancelled by aclose(): the run recorded itself as killed, no report
            self.running.pop(run.agent_id, None)
            if note is not None and not run.stop_requested:
                self.ready.append(note)
            self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            try:
                self.on_change()
            except Exception:  # pragma: no cover - a wake-up must not fail the child
                _log.exception("background subagent wake-up failed")

    def stop(self) -> None:
        """Interrupt every running child (from any task; returns at once)."""
        self.stopped = True
        for run, _ in list(self.running.values()):
            run.stop()

    async def aclose(self, grace_s: float = 5.0) -> None:
        """Stop the children and wait for them; cancel those still running after ``grace_s``."""
        self.stop()
        tasks = [t for _, t in self.running.values()]
        if not tasks:
            return
        with anyio.CancelScope(shield=True):
            _, pending = await asyncio.wait(tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
            for task in tasks:
                if not task.cancelled() and task.exception() is not None:  # pragma: no cover
                    _log.error("background subagent crashed", exc_info=task.exception())


class _ChildRun:
    """One subagent invocation."""

    def __init__(
        self,
        rt: AgentParent,
        spawn: Spawn,
        definition: Any,
        *,
        agent_type: str,
        description: str,
        prompt: str,
        tool_use_id: str,
        background: bool,
    ) -> None:
        self.rt = rt
        self.spawn = spawn
        self.definition = definition
        self.agent_type = agent_type
        self.description = description
        self.prompt = prompt
        self.tool_use_id = tool_use_id
        self.background = background
        self.agent_id = _new_agent_id()
        self.messages: list[Message] = rt.side_messages if not background else []
        """Where the child's messages go: after the batch (foreground) or with the report."""
        self.child: ChildLoop | None = None
        self.result: ResultMessage | None = None
        self.stop_requested = False
        self.report = ""
        self.tool_uses = 0
        self.inline_tools: dict[str, Tool] = {}
        """Tools of the definition's inline ``mcpServers``, while the child runs."""
        self.tokens = 0
        self.duration_ms = 0

    def stop(self) -> None:
        """Interrupt the child (its turn ends with the usual interruption entries)."""
        self.stop_requested = True
        if self.child is not None:
            self.child.interrupt()

    def started_message(self) -> SystemMessage:
        """The CLI's ``system``/``task_started`` stream message (a ``TaskStartedMessage``)."""
        return system_message(
            {
                "type": "system",
                "subtype": "task_started",
                "task_id": self.agent_id,
                "tool_use_id": self.tool_use_id,
                "description": self.description,
                "subagent_type": self.agent_type,
                "is_backgrounded": True,
                "task_type": "local_agent",
                "prompt": self.prompt,
                "uuid": new_uuid(),
                "session_id": self.rt.session_id,
            }
        )

    async def run_background(self) -> Notification:
        """Run to the end and build the report; never raises (but for cancellation)."""
        try:
            result = await self.run()
        except Exception as exc:  # e.g. a SubagentStop hook that raised
            result = ToolResult(
                content=f"Subagent failed: {type(exc).__name__}: {exc}", is_error=True
            )
        status: Literal["completed", "failed"] = "failed" if result.is_error else "completed"
        if result.is_error:
            report = result.content if isinstance(result.content, str) else str(result.content)
        else:
            report = self.report
        summary = f'Agent "{self.description}" {"finished" if status == "completed" else "failed"}'
        text = (
            f"<task-notification>\n<task-id>{self.agent_id}</task-id>\n"
            f"<tool-use-id>{self.tool_use_id}</tool-use-id>\n<status>{status}</status>\n"
            f"<summary>{summary}</summary>\n<result>{report}</result>\n"
            f"<usage><subagent_tokens>{self.tokens}</subagent_tokens>"
            f"<tool_uses>{self.tool_uses}</tool_uses>"
            f"<duration_ms>{self.duration_ms}</duration_ms></usage>\n</task-notification>"
        )
        return Notification(
            agent_id=self.agent_id,
            tool_use_id=self.tool_use_id,
            status=status,
            text=text,
            summary=report if status == "completed" else summary,
            messages=self.messages,
            usage={
                "total_tokens": self.tokens,
                "tool_uses": self.tool_uses,
                "duration_ms": self.duration_ms,
            },
        )

    def _forwarded(self, message: AssistantMessage | UserMessage) -> bool:
        """Whether the parent's stream gets this child message: ``tool_use`` and
        ``tool_result`` blocks always; text and thinking only with
        ``forward_subagent_text=True`` (the official default is False)."""
        if self.rt.options.forward_subagent_text or isinstance(message, UserMessage):
            return True
        return any(not isinstance(b, (TextBlock, ThinkingBlock)) for b in message.content)

    def _model(self) -> str:
        wanted = _field(self.definition, "model")
        if not wanted or wanted == "inherit":
            return self.rt.model
        return self.rt.resolve_model(str(wanted))

    def _tools(self) -> dict[str, Tool]:
        """The parent's tools the definition's ``tools``/``disallowedTools`` leave, plus
        its inline servers' tools. (A server named in ``mcpServers`` is the parent's: its
        tools come only through ``tools``, as in the CLI, which answers "No such tool
        available" for one outside that list.)"""
        allowed = _field(self.definition, "tools")
        denied = set(_field(self.definition, "disallowedTools") or ())
        out = {
            name: tool
            for name, tool in self.rt.tools.items()
            if name not in _PARENT_ONLY
            and name not in denied
            and (allowed is None or name in allowed)
        }
        out.update((n, t) for n, t in self.inline_tools.items() if n not in denied)
        return out

    async def _open_inline_servers(self, stack: contextlib.AsyncExitStack) -> None:
        """Start the definition's inline ``mcpServers`` (``{name: config}`` entries) for
        this run; they close when it ends. A server that fails is logged, as at connect."""
        configs: dict[str, Any] = {}
        for entry in _field(self.definition, "mcpServers") or ():
            if isinstance(entry, Mapping):
                configs.update(entry)
        if configs:
            from ..tools._mcp import open_mcp_servers  # the MCP client: only with servers

            opened = await open_mcp_servers(configs, stack, env=self.rt.options.env)
            self.inline_tools = {t.name: t for t in opened.tools}

    def _child(self, store: _SidechainStore | None) -> ChildLoop:
        spec = ChildSpec(
            system_prompt=self._system_prompt(),
            model=self._model(),
            max_turns=_field(self.definition, "maxTurns") or self.rt.options.max_turns,
            tools=self._tools(),
            store=store,  # type: ignore[arg-type]
            effort=self._effort(),
            permission_mode=_agent_mode(
                str(getattr(self.rt, "mode", None) or self.rt.options.permission_mode or "default"),
                _field(self.definition, "permissionMode"),
            ),
        )
        return self.spawn(self.rt, spec)

    def _system_prompt(self) -> str:
        """The definition's prompt, then its memory section (``_agent_memory``)."""
        prompt = str(_field(self.definition, "prompt") or "")
        scope = _field(self.definition, "memory")
        if not scope:
            return prompt
        config = self.rt.options.env_value("CLAUDE_CONFIG_DIR")
        section = memory_section(
            self.agent_type,
            str(scope),
            cwd=self.rt.plan.cwd,
            config_dir=Path(config).expanduser() if config else Path.home() / ".claude",
        )
        return f"{prompt}\n\n{section}" if section else prompt

    def _preloaded_skills(self) -> list[Raw]:
        """The definition's ``skills``, each as the CLI puts it after the task (a merged
        message: every skill's last block but the last one's ends with a newline); a name
        no loaded skill has is logged and passed over."""
        names = _field(self.definition, "skills") or []
        known = self.rt.tool_state.skills if self.rt.tool_state is not None else {}
        out: list[list[Raw]] = []
        for name in names:
            skill = known.get(str(name))
            if skill is None:
                _log.warning("agent %r: no skill named %r to preload", self.agent_type, name)
                continue
            out.append(preload_blocks(skill))
        for blocks in out[:-1]:
            blocks[-1]["text"] += "\n"
        return [b for blocks in out for b in blocks]

    def _effort(self) -> str | None:
        """The definition's effort level (``None``: the parent's); a number (a token
        budget) is ``""``: the child sends no effort at all, as the CLI's."""
        effort = _field(self.definition, "effort")
        if isinstance(effort, int) and not isinstance(effort, bool):
            return ""
        return effort if isinstance(effort, str) and effort else None

    async def run(self) -> ToolResult:
        """Run the child to the end of its turn: its sidechain transcript and sidecar, the
        run itself, then the outcome (stopped, failed, or completed with its report)."""
        started = time.monotonic()
        store = self._sidechain()
        self.result = None
        self.report = ""
        try:
            async with contextlib.AsyncExitStack() as servers:
                await self._open_inline_servers(servers)
                start = await self.rt.hook(
                    "SubagentStart", {"agent_id": self.agent_id, "agent_type": self.agent_type}
                )
                await self._drive(self._spawn_child(store), start.additional_context)
        except Exception as exc:
            error = f"Subagent failed: {type(exc).__name__}: {exc}"
            await self._finish(store, status="failed", error=error)
            return ToolResult(content=error, is_error=True)
        except BaseException:  # cancelled: the transcript stays as written so far
            with anyio.CancelScope(shield=True):
                await self._finish(store, status="killed")
            raise
        finally:
            self.duration_ms = int((time.monotonic() - started) * 1000)
            if self.result is not None:
                usage = self.result.usage or {}
                self.tokens = int(usage.get("input_tokens") or 0) + int(
                    usage.get("output_tokens") or 0
                )
        result = self.result
        if self.stop_requested:
            await self._finish(store, status="killed")
            return ToolResult(content="Subagent was stopped", is_error=True)
        if result is None or result.is_error:
            reason = (result.result or result.terminal_reason) if result else "no result"
            error = f"Subagent failed: {reason}"
            await self._finish(store, status="failed", error=error)
            return ToolResult(content=error, is_error=True)
        return await self._completed(result, store)

    def _sidechain(self) -> _SidechainStore | None:
        """Where the child's entries go (with its ``.meta.json`` sidecar), if anywhere."""
        if self.rt.plan.store is None:
            return None
        meta: Raw = {
            "agentType": self.agent_type,
            "isBuiltIn": self.agent_type == "general-purpose",
            "description": self.description,
            "toolUseId": self.tool_use_id,
            "spawnDepth": 1,
            "requestShape": "background" if self.background else "foreground",
            "model": self._model(),
            "finished": False,
        }
        return _SidechainStore(self.rt.plan.store, self.rt.plan.key, self.agent_id, meta)

    def _spawn_child(self, store: _SidechainStore | None) -> ChildLoop:
        child = self.child = self._child(store)
        return child

    async def _drive(self, child: ChildLoop, context: list[str]) -> None:
        """Run the child's turn: its messages tagged with the Agent call and collected,
        tool uses counted, its result kept; the turn is closed even when cancelled.

        SubagentStart hooks' ``additionalContext`` reaches the child with the CLI's
        wording (``SubagentStart hook additional context: ...``), as text blocks after the
        task (the CLI sends it in a system-role message with its environment block)."""
        content: str | list[Raw] = self.prompt
        preloaded = self._preloaded_skills()
        if context or preloaded:
            notes = [f"SubagentStart hook additional context: {c}" for c in context]
            task = self.prompt + "\n" if preloaded else self.prompt
            content = [
                {"type": "text", "text": task},
                *preloaded,
                *({"type": "text", "text": t} for t in notes),
            ]
        turn = child.run_turn(Prompt(content=content))
        try:
            async for message in turn:
                if self.stop_requested:
                    child.interrupt()  # again: run_turn clears the flag when it starts
                if isinstance(message, (AssistantMessage, UserMessage)):
                    message.parent_tool_use_id = self.tool_use_id
                    if self._forwarded(message):
                        self.messages.append(message)
                    if isinstance(message, AssistantMessage):
                        self.tool_uses += sum(
                            1 for b in message.content if isinstance(b, ToolUseBlock)
                        )
                elif isinstance(message, ResultMessage):
                    self.result = message
        finally:
            with anyio.CancelScope(shield=True):
                await turn.aclose()

    async def _completed(self, result: ResultMessage, store: _SidechainStore | None) -> ToolResult:
        """The sidecar marked completed, the SubagentStop hook, and the Agent tool's result."""
        text = self.report = result.result or ""
        await self._finish(store, status="completed")
        await self.rt.hook(
            "SubagentStop",
            {
                "stop_hook_active": False,
                "agent_id": self.agent_id,
                "agent_type": self.agent_type,
                "agent_transcript_path": self._transcript_path(store),
            },
        )
        usage = dict(result.usage or {})
        return ToolResult(
            content=f"{text}\nagentId: {self.agent_id}",
            structured={
                "status": "completed",
                "prompt": self.prompt,
                "agentId": self.agent_id,
                "agentType": self.agent_type,
                "content": [{"type": "text", "text": text}],
                "totalDurationMs": self.duration_ms,
                "totalTokens": self.tokens,
                "totalToolUseCount": self.tool_uses,
                "usage": usage,
            },
        )

    def _transcript_path(self, store: _SidechainStore | None) -> str:
        files = local_transcripts(self.rt.plan.store)
        if store is None or files is None:
            return ""
        return str(files.path_for(store.key))

    async def _finish(self, store: _SidechainStore | None, **changes: Any) -> None:
        if store is None:
            return
        try:
            await store.finish(finished=True, **changes)
        except Exception:  # the report matters more than the sidecar
            pass
